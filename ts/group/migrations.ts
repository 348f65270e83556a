// Owns the group server's schema: an ordered list of migrations, portable between SQLite and
// PostgreSQL (TEXT ids made by the server, BIGINT milliseconds, INTEGER flags), applied once each in a
// transaction. It must not hold queries of the model (store.ts does).
import type { SqlDb } from './db.js';
import { errors } from '../base/errors.js';

/** Each entry is one schema version; never edit one that shipped, add the next. */
export const MIGRATIONS: readonly string[][] = [
  [
    `CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
       password_hash TEXT NOT NULL, is_admin INTEGER NOT NULL DEFAULT 0, created_at BIGINT NOT NULL)`,
    `CREATE TABLE groups (name TEXT PRIMARY KEY, description TEXT NOT NULL, subnet TEXT NOT NULL,
       bootstrap TEXT NOT NULL, auto_approve INTEGER NOT NULL DEFAULT 0, cert_days INTEGER NOT NULL,
       created_by TEXT NOT NULL REFERENCES users(id), created_at BIGINT NOT NULL)`,
    `CREATE TABLE group_admins (group_name TEXT NOT NULL REFERENCES groups(name), user_id TEXT NOT NULL REFERENCES users(id),
       PRIMARY KEY (group_name, user_id))`,
    `CREATE TABLE requests (id TEXT PRIMARY KEY, group_name TEXT NOT NULL REFERENCES groups(name),
       user_id TEXT NOT NULL REFERENCES users(id), reason TEXT NOT NULL, state TEXT NOT NULL,
       decided_by TEXT, decided_at BIGINT, created_at BIGINT NOT NULL)`,
    `CREATE TABLE tokens (id TEXT PRIMARY KEY, group_name TEXT NOT NULL REFERENCES groups(name),
       secret_hash TEXT NOT NULL UNIQUE, user_id TEXT REFERENCES users(id), expires_at BIGINT NOT NULL,
       uses_left INTEGER NOT NULL, created_by TEXT NOT NULL, created_at BIGINT NOT NULL, revoked INTEGER NOT NULL DEFAULT 0)`,
    `CREATE TABLE members (node_id TEXT PRIMARY KEY, group_name TEXT NOT NULL REFERENCES groups(name),
       user_id TEXT REFERENCES users(id), token_id TEXT, name TEXT NOT NULL, address TEXT NOT NULL,
       serial TEXT NOT NULL, identity_key TEXT NOT NULL, noise_key TEXT NOT NULL, not_after BIGINT NOT NULL,
       enrolled_at BIGINT NOT NULL, renewed_at BIGINT NOT NULL, revoked_at BIGINT,
       UNIQUE (group_name, address))`,
    `CREATE TABLE sessions (id_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id),
       expires_at BIGINT NOT NULL, created_at BIGINT NOT NULL)`,
    `CREATE INDEX requests_by_group ON requests (group_name, state)`,
    `CREATE INDEX members_by_group ON members (group_name)`,
  ],
];

/** Bring the schema up to date; returns the versions applied now. */
export async function migrate(db: SqlDb): Promise<number[]> {
  await db.run('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
  const applied: number[] = [];
  await db.tx(async (t) => {
    const rows = await t.all<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_version');
    const have = Number(rows[0]?.v ?? 0);
    if (have > MIGRATIONS.length) throw errors.E_GROUP_DB(`the database is at schema version ${have}, newer than this ringvpn knows (${MIGRATIONS.length}): upgrade ringvpn`);
    for (let v = have + 1; v <= MIGRATIONS.length; v++) {
      for (const sql of MIGRATIONS[v - 1]!) await t.run(sql);
      await t.run('INSERT INTO schema_version (version) VALUES (?)', [v]);
      applied.push(v);
    }
  });
  return applied;
}
