// Owns the group server's connection to its database: one small SQL interface (`?` placeholders, rows
// as plain objects, transactions) with two drivers, SQLite in a file (node-sqlite3-wasm: nothing to
// build or run) and PostgreSQL (pg). It must not know the schema (migrations.ts) or the model (store.ts).
import { errors } from '../base/errors.js';

export type SqlValue = string | number | null;
export type Row = Record<string, SqlValue>;

/** A database: `all` reads rows, `run` changes them; `tx` runs `fn` in one transaction. */
export interface SqlDb {
  readonly kind: 'sqlite' | 'postgres';
  all<T extends Row = Row>(sql: string, params?: SqlValue[]): Promise<T[]>;
  run(sql: string, params?: SqlValue[]): Promise<{ changes: number }>;
  tx<T>(fn: (db: SqlDb) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** `sqlite:<file>` (or a bare path), `postgres://…`. */
export async function openDb(url: string): Promise<SqlDb> {
  if (/^postgres(ql)?:\/\//.test(url)) return openPostgres(url);
  return openSqlite(url.replace(/^sqlite:/, ''));
}

/** A lock: SQLite's calls are synchronous, but a transaction's function awaits between them. */
class Lock {
  private tail: Promise<void> = Promise.resolve();
  async with<T>(fn: () => Promise<T>): Promise<T> {
    const prev = this.tail;
    let release!: () => void;
    this.tail = new Promise((r) => { release = r; });
    await prev;
    try { return await fn(); } finally { release(); }
  }
}

async function openSqlite(file: string): Promise<SqlDb> {
  const { Database } = (await import('node-sqlite3-wasm')).default as typeof import('node-sqlite3-wasm');
  let db: InstanceType<typeof Database>;
  try {
    db = new Database(file);
    db.exec('PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON');
  } catch (e) {
    throw errors.E_GROUP_DB(`cannot open the SQLite database ${file}: ${(e as Error).message}`, { cause: e });
  }
  const lock = new Lock();
  const wrap = <T>(sql: string, fn: () => T): T => {
    try { return fn(); } catch (e) { throw errors.E_GROUP_DB(`SQLite: ${(e as Error).message} (in: ${sql.slice(0, 80)})`, { cause: e }); }
  };
  const direct: SqlDb = {
    kind: 'sqlite',
    all: async <T extends Row>(sql: string, params: SqlValue[] = []) => wrap(sql, () => db.all(sql, params) as T[]),
    run: async (sql, params = []) => wrap(sql, () => ({ changes: db.run(sql, params).changes })),
    tx: (fn) => fn(direct),
    close: async () => { db.close(); },
  };
  return {
    kind: 'sqlite',
    all: (sql, params) => lock.with(() => direct.all(sql, params)),
    run: (sql, params) => lock.with(() => direct.run(sql, params)),
    tx: (fn) => lock.with(async () => {
      db.exec('BEGIN IMMEDIATE');
      try { const r = await fn(direct); db.exec('COMMIT'); return r; } catch (e) { db.exec('ROLLBACK'); throw e; }
    }),
    close: () => lock.with(async () => { db.close(); }),
  };
}

async function openPostgres(url: string): Promise<SqlDb> {
  const pg = (await import('pg')).default;
  pg.types.setTypeParser(20, (v: string) => Number(v)); // BIGINT: our values are times in ms and counts
  const pool = new pg.Pool({ connectionString: url, max: 8 });
  const numbered = (sql: string): string => { let n = 0; return sql.replace(/\?/g, () => `$${++n}`); };
  type Q = { query: (sql: string, params: SqlValue[]) => Promise<{ rows: Row[]; rowCount: number | null }> };
  const on = (c: Q): Omit<SqlDb, 'tx' | 'close'> => ({
    kind: 'postgres',
    all: async <T extends Row>(sql: string, params: SqlValue[] = []) => {
      try { return (await c.query(numbered(sql), params)).rows as T[]; } catch (e) { throw errors.E_GROUP_DB(`PostgreSQL: ${(e as Error).message}`, { cause: e }); }
    },
    run: async (sql, params = []) => {
      try { return { changes: (await c.query(numbered(sql), params)).rowCount ?? 0 }; } catch (e) { throw errors.E_GROUP_DB(`PostgreSQL: ${(e as Error).message}`, { cause: e }); }
    },
  });
  try { await pool.query('SELECT 1'); } catch (e) {
    await pool.end().catch(() => {});
    throw errors.E_GROUP_DB(`cannot reach PostgreSQL at ${url.replace(/:[^:@/]*@/, ':***@')}: ${(e as Error).message}`, { cause: e });
  }
  return {
    ...on(pool as unknown as Q),
    tx: async (fn) => {
      const client = await pool.connect();
      const inner: SqlDb = { ...on(client as unknown as Q), tx: (f) => f(inner), close: async () => {} };
      try {
        await client.query('BEGIN');
        const r = await fn(inner);
        await client.query('COMMIT');
        return r;
      } catch (e) {
        await client.query('ROLLBACK').catch(() => {});
        throw e;
      } finally { client.release(); }
    },
    close: () => pool.end(),
  };
}
