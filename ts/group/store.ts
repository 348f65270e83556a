// Owns the group server's model in its database: accounts, sessions, groups and their administrators,
// join requests, join tokens and enrolled members, with the checks that must be atomic (a token's
// uses, a member's address). It must not sign anything (enrolment.ts) or speak HTTP (server.ts).
import { createHash, randomBytes } from 'node:crypto';
import { openDb, type SqlDb } from './db.js';
import { migrate } from './migrations.js';

export interface User { id: string; email: string; name: string; password_hash: string; is_admin: number; created_at: number }
export interface Group { name: string; description: string; subnet: string; bootstrap: string; auto_approve: number; cert_days: number; created_by: string; created_at: number }
export interface JoinRequest { id: string; group_name: string; user_id: string; reason: string; state: 'pending' | 'approved' | 'denied' | 'revoked'; decided_by: string | null; decided_at: number | null; created_at: number }
export interface Token { id: string; group_name: string; user_id: string | null; expires_at: number; uses_left: number; created_by: string; created_at: number; revoked: number }
export interface Member {
  node_id: string; group_name: string; user_id: string | null; token_id: string | null; name: string; address: string; serial: string;
  identity_key: string; noise_key: string; not_after: number; enrolled_at: number; renewed_at: number; revoked_at: number | null;
}

export type TokenRefusal = 'unknown' | 'expired' | 'used' | 'revoked';

const newId = (): string => randomBytes(12).toString('hex');
/** Secrets (tokens, session ids) are random 32 bytes; the database keeps only their SHA-256. */
export const hashSecret = (s: string): string => createHash('sha256').update(s).digest('hex');
export const newSecret = (): string => randomBytes(32).toString('base64url');

/** Open the database at `url` (sqlite:<file>, a path, or postgres://…) with its schema up to date. */
export async function openGroupStore(url: string): Promise<{ store: GroupStore; migrated: number[] }> {
  const db = await openDb(url);
  try {
    return { store: new GroupStore(db), migrated: await migrate(db) };
  } catch (e) {
    await db.close();
    throw e;
  }
}

export class GroupStore {
  constructor(readonly db: SqlDb) {}

  // ---- accounts and sessions
  async createUser(email: string, name: string, passwordHash: string, now: number): Promise<User | null> {
    const id = newId();
    if ((await this.userByEmail(email)) !== null) return null;
    const first = (await this.db.all('SELECT id FROM users LIMIT 1')).length === 0;
    await this.db.run('INSERT INTO users (id, email, name, password_hash, is_admin, created_at) VALUES (?, ?, ?, ?, ?, ?)', [id, email.toLowerCase(), name, passwordHash, first ? 1 : 0, now]);
    return this.userById(id);
  }
  async userByEmail(email: string): Promise<User | null> { return (await this.db.all<User & Record<string, never>>('SELECT * FROM users WHERE email = ?', [email.toLowerCase()]))[0] ?? null; }
  async userById(id: string): Promise<User | null> { return (await this.db.all<User & Record<string, never>>('SELECT * FROM users WHERE id = ?', [id]))[0] ?? null; }
  async setAdmin(email: string, on: boolean): Promise<boolean> { return (await this.db.run('UPDATE users SET is_admin = ? WHERE email = ?', [on ? 1 : 0, email.toLowerCase()])).changes === 1; }

  async createSession(userId: string, now: number, ttlMs: number): Promise<string> {
    const secret = newSecret();
    await this.db.run('DELETE FROM sessions WHERE expires_at < ?', [now]);
    await this.db.run('INSERT INTO sessions (id_hash, user_id, expires_at, created_at) VALUES (?, ?, ?, ?)', [hashSecret(secret), userId, now + ttlMs, now]);
    return secret;
  }
  async sessionUser(secret: string, now: number): Promise<User | null> {
    const r = await this.db.all<User & Record<string, never>>('SELECT u.* FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = ? AND s.expires_at > ?', [hashSecret(secret), now]);
    return r[0] ?? null;
  }
  async deleteSession(secret: string): Promise<void> { await this.db.run('DELETE FROM sessions WHERE id_hash = ?', [hashSecret(secret)]); }

  // ---- groups
  async createGroup(g: Omit<Group, 'created_at'>, now: number): Promise<boolean> {
    if (await this.group(g.name)) return false;
    await this.db.tx(async (t) => {
      await t.run('INSERT INTO groups (name, description, subnet, bootstrap, auto_approve, cert_days, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        [g.name, g.description, g.subnet, g.bootstrap, g.auto_approve, g.cert_days, g.created_by, now]);
      await t.run('INSERT INTO group_admins (group_name, user_id) VALUES (?, ?)', [g.name, g.created_by]);
    });
    return true;
  }
  async group(name: string): Promise<Group | null> { return (await this.db.all<Group & Record<string, never>>('SELECT * FROM groups WHERE name = ?', [name]))[0] ?? null; }
  async groups(): Promise<Group[]> { return this.db.all<Group & Record<string, never>>('SELECT * FROM groups ORDER BY name'); }
  async addGroupAdmin(group: string, userId: string): Promise<void> {
    if ((await this.db.all('SELECT 1 AS x FROM group_admins WHERE group_name = ? AND user_id = ?', [group, userId])).length) return;
    await this.db.run('INSERT INTO group_admins (group_name, user_id) VALUES (?, ?)', [group, userId]);
  }
  async groupAdmins(group: string): Promise<string[]> {
    return (await this.db.all<{ email: string }>('SELECT u.email FROM group_admins a JOIN users u ON u.id = a.user_id WHERE a.group_name = ? ORDER BY u.email', [group])).map((r) => r.email);
  }
  async setAutoApprove(name: string, on: boolean): Promise<void> { await this.db.run('UPDATE groups SET auto_approve = ? WHERE name = ?', [on ? 1 : 0, name]); }
  async isGroupAdmin(group: string, user: User): Promise<boolean> {
    if (user.is_admin) return true;
    return (await this.db.all('SELECT 1 AS x FROM group_admins WHERE group_name = ? AND user_id = ?', [group, user.id])).length > 0;
  }

  // ---- join requests
  async createRequest(group: string, userId: string, reason: string, now: number): Promise<JoinRequest | { refused: 'pending' | 'member' }> {
    const open = await this.db.all<JoinRequest & Record<string, never>>("SELECT * FROM requests WHERE group_name = ? AND user_id = ? AND state != 'denied'", [group, userId]);
    if (open.some((r) => r.state === 'pending')) return { refused: 'pending' };
    if (open.some((r) => r.state === 'approved')) return { refused: 'member' };
    const id = newId();
    await this.db.run("INSERT INTO requests (id, group_name, user_id, reason, state, created_at) VALUES (?, ?, ?, ?, 'pending', ?)", [id, group, userId, reason, now]);
    return (await this.request(id))!;
  }
  async request(id: string): Promise<JoinRequest | null> { return (await this.db.all<JoinRequest & Record<string, never>>('SELECT * FROM requests WHERE id = ?', [id]))[0] ?? null; }
  async pendingRequests(group: string): Promise<(JoinRequest & { email: string; user_name: string })[]> {
    return this.db.all("SELECT r.*, u.email, u.name AS user_name FROM requests r JOIN users u ON u.id = r.user_id WHERE r.group_name = ? AND r.state = 'pending' ORDER BY r.created_at", [group]) as never;
  }
  async requestsOf(userId: string): Promise<JoinRequest[]> { return this.db.all<JoinRequest & Record<string, never>>('SELECT * FROM requests WHERE user_id = ? ORDER BY created_at', [userId]); }
  /** Approve or deny a pending request; false when it is not pending (decided already, or unknown). */
  async decide(id: string, approve: boolean, by: string, now: number): Promise<boolean> {
    return (await this.db.run("UPDATE requests SET state = ?, decided_by = ?, decided_at = ? WHERE id = ? AND state = 'pending'", [approve ? 'approved' : 'denied', by, now, id])).changes === 1;
  }
  async approved(group: string, userId: string): Promise<boolean> {
    return (await this.db.all("SELECT 1 AS x FROM requests WHERE group_name = ? AND user_id = ? AND state = 'approved'", [group, userId])).length > 0;
  }

  // ---- join tokens
  async createToken(t: { group: string; userId: string | null; expiresAt: number; uses: number; createdBy: string }, now: number): Promise<{ id: string; secret: string }> {
    const id = newId(), secret = newSecret();
    await this.db.run('INSERT INTO tokens (id, group_name, secret_hash, user_id, expires_at, uses_left, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      [id, t.group, hashSecret(secret), t.userId, t.expiresAt, t.uses, t.createdBy, now]);
    return { id, secret };
  }
  async tokens(group: string): Promise<Token[]> { return this.db.all<Token & Record<string, never>>('SELECT * FROM tokens WHERE group_name = ? ORDER BY created_at', [group]); }
  async revokeToken(id: string): Promise<void> { await this.db.run('UPDATE tokens SET revoked = 1 WHERE id = ?', [id]); }

  /** The group a token is for (null: no such token). */
  async tokenGroup(id: string): Promise<string | null> {
    return (await this.db.all<{ group_name: string }>('SELECT group_name FROM tokens WHERE id = ?', [id]))[0]?.group_name ?? null;
  }

  /**
   * Use a token once, inside `fn` (one transaction): the use counts only when `spent(result)` says so (a
   * refused certificate request does not burn it), and two enrolments racing for its last use cannot both pass.
   */
  async withToken<T>(secret: string, now: number, fn: (t: Token, db: GroupStore) => Promise<T>, spent: (r: T) => boolean): Promise<T | { refused: TokenRefusal }> {
    return this.db.tx(async (db) => {
      const tok = (await db.all<Token & Record<string, never>>('SELECT * FROM tokens WHERE secret_hash = ?', [hashSecret(secret)]))[0];
      if (!tok) return { refused: 'unknown' as const };
      if (tok.revoked) return { refused: 'revoked' as const };
      if (tok.expires_at <= now) return { refused: 'expired' as const };
      if (tok.uses_left <= 0) return { refused: 'used' as const };
      const r = await fn(tok, new GroupStore(db));
      if (spent(r)) await db.run('UPDATE tokens SET uses_left = uses_left - 1 WHERE id = ? AND uses_left > 0', [tok.id]);
      return r;
    });
  }

  // ---- members
  async addMember(m: Member): Promise<void> {
    await this.db.run(`INSERT INTO members (node_id, group_name, user_id, token_id, name, address, serial, identity_key, noise_key, not_after, enrolled_at, renewed_at, revoked_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
    [m.node_id, m.group_name, m.user_id, m.token_id, m.name, m.address, m.serial, m.identity_key, m.noise_key, m.not_after, m.enrolled_at, m.renewed_at]);
  }
  async member(nodeId: string): Promise<Member | null> { return (await this.db.all<Member & Record<string, never>>('SELECT * FROM members WHERE node_id = ?', [nodeId]))[0] ?? null; }
  async members(group: string): Promise<(Member & { email: string | null })[]> {
    return this.db.all('SELECT m.*, u.email FROM members m LEFT JOIN users u ON u.id = m.user_id WHERE m.group_name = ? ORDER BY m.address', [group]) as never;
  }
  async addressesInUse(group: string): Promise<Set<string>> {
    return new Set((await this.db.all<{ address: string }>('SELECT address FROM members WHERE group_name = ?', [group])).map((r) => r.address));
  }
  async renewed(nodeId: string, serial: string, notAfter: number, now: number): Promise<void> {
    await this.db.run('UPDATE members SET serial = ?, not_after = ?, renewed_at = ? WHERE node_id = ?', [serial, notAfter, now, nodeId]);
  }
  /**
   * Revoke a node, in one transaction. When this revokes it (it was not revoked already) and a person
   * enrolled it, the person's approval for the group is withdrawn (state 'revoked': they must ask and
   * be approved again) and so is every join token issued to them for the group. Tokens an administrator
   * made for anyone holding them (no person) are not touched: the administrator withdraws those.
   */
  async revokeMember(nodeId: string, now: number): Promise<{ revoked: boolean; approvals: number; tokens: number }> {
    return this.db.tx(async (t) => {
      const none = { revoked: false, approvals: 0, tokens: 0 };
      const m = (await t.all<{ group_name: string; user_id: string | null }>('SELECT group_name, user_id FROM members WHERE node_id = ?', [nodeId]))[0];
      if (!m || (await t.run('UPDATE members SET revoked_at = ? WHERE node_id = ? AND revoked_at IS NULL', [now, nodeId])).changes !== 1) return none;
      if (m.user_id === null) return { ...none, revoked: true };
      const approvals = (await t.run("UPDATE requests SET state = 'revoked' WHERE group_name = ? AND user_id = ? AND state = 'approved'", [m.group_name, m.user_id])).changes;
      const tokens = (await t.run('UPDATE tokens SET revoked = 1 WHERE group_name = ? AND user_id = ? AND revoked = 0 AND uses_left > 0 AND expires_at > ?', [m.group_name, m.user_id, now])).changes;
      return { revoked: true, approvals, tokens };
    });
  }
}
