// Owns password hashing for group server accounts: Argon2id (@node-rs/argon2) with OWASP's minimum
// parameters (19 MiB, 2 passes), and the rules a new password must meet. It must not log or keep a
// password: only the PHC string (salt and parameters inside) reaches the database.
import { hash, verify } from '@node-rs/argon2';

const OPTIONS = { algorithm: 2 /* Argon2id */, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;
/** a hash to verify against when the account does not exist (the same time either way) */
let dummy: string | null = null;

export const MIN_PASSWORD = 10;

/** Why a new password is refused, or null. */
export function passwordProblem(pw: string, email: string): string | null {
  if (pw.length < MIN_PASSWORD) return `use at least ${MIN_PASSWORD} characters`;
  if (pw.length > 512) return 'use at most 512 characters';
  if (pw.toLowerCase() === email.toLowerCase()) return 'do not use your e-mail address as the password';
  return null;
}

export function hashPassword(pw: string): Promise<string> { return hash(pw, OPTIONS); }

/** Check a password against a stored hash (or against nothing, taking as long: no account probing by timing). */
export async function checkPassword(stored: string | null, pw: string): Promise<boolean> {
  if (stored === null) {
    dummy ??= await hash('not a password of anyone', OPTIONS);
    await verify(dummy, pw).catch(() => false);
    return false;
  }
  return verify(stored, pw).catch(() => false);
}
