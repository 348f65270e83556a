// Owns the join code (the paper's "blob", as a token): base64url of {v, url, pin, group, token}, what
// `ringvpn join` needs to reach the group server safely (its URL and the SHA-256 of its certificate)
// and to prove the right to enrol (the token). Parsing returns a value or a reason, never throws.
export interface JoinCode { url: string; pin: string; group: string; token: string }

const PREFIX = 'rvj1.';

export function encodeJoinCode(c: JoinCode): string {
  return PREFIX + Buffer.from(JSON.stringify({ v: 1, ...c })).toString('base64url');
}

export function decodeJoinCode(text: string): { ok: true; code: JoinCode } | { ok: false; why: string } {
  const t = text.trim();
  if (!t.startsWith(PREFIX)) return { ok: false, why: `a join code starts with ${PREFIX} (copy it whole from the group server's page)` };
  let v: unknown;
  try { v = JSON.parse(Buffer.from(t.slice(PREFIX.length), 'base64url').toString('utf8')); } catch { return { ok: false, why: 'the join code is damaged (copy it whole)' }; }
  const o = v as Partial<JoinCode> & { v?: number };
  if (o.v !== 1) return { ok: false, why: 'this join code is from a newer ringvpn: upgrade' };
  if (typeof o.url !== 'string' || !/^https:\/\/[^/]+$/.test(o.url)) return { ok: false, why: 'the join code has no https server address' };
  if (typeof o.pin !== 'string' || !/^[0-9a-f]{64}$/.test(o.pin)) return { ok: false, why: "the join code has no server certificate pin" };
  if (typeof o.group !== 'string' || typeof o.token !== 'string' || !o.group || !o.token) return { ok: false, why: 'the join code names no group or token' };
  return { ok: true, code: { url: o.url, pin: o.pin, group: o.group, token: o.token } };
}
