// Owns a private PostgreSQL server for tests (the group server's PostgreSQL store): initdb in a temporary
// directory as the `postgres` user, listening on a Unix socket there only (no TCP port, nothing shared),
// a fresh database per caller, stopped and removed at the end. It must not touch a cluster of the host.
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface PgInstance { url: (db: string) => string; createDb: () => Promise<string>; stop: () => void }

/** Why a private PostgreSQL cannot run here, or null. */
export function pgUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (initdb runs as the postgres user)';
  if (!pgBin()) return 'PostgreSQL is not installed (apt-get install postgresql-15; .ci/install-system-packages does)';
  try { execFileSync('id', ['-u', 'postgres'], { stdio: 'ignore' }); } catch { return 'there is no postgres user'; }
  return null;
}

function pgBin(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const v = readdirSync(root).filter((x) => existsSync(join(root, x, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a))[0];
  return v ? join(root, v, 'bin') : null;
}

export async function startPg(): Promise<PgInstance> {
  const bin = pgBin()!;
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const dir = mkdtempSync(join(tmpdir(), 'rvpg-'));
  chownSync(dir, uid, uid);
  const as = (cmd: string, args: string[]): string => execFileSync('runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  as('initdb', ['-D', join(dir, 'data'), '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  as('pg_ctl', ['-D', join(dir, 'data'), '-l', join(dir, 'log'), '-w', '-o', `-c listen_addresses='' -k ${dir} -c fsync=off -c full_page_writes=off`, 'start']);
  const url = (db: string): string => `postgres://postgres@localhost/${db}?host=${encodeURIComponent(dir)}`;
  const pg = (await import('pg')).default;
  return {
    url,
    createDb: async () => {
      const name = 't' + randomBytes(6).toString('hex');
      const c = new pg.Client({ connectionString: url('postgres') });
      await c.connect();
      try { await c.query(`CREATE DATABASE ${name}`); } finally { await c.end(); }
      return url(name);
    },
    stop: () => {
      try { as('pg_ctl', ['-D', join(dir, 'data'), '-m', 'immediate', 'stop']); } catch { /* already down */ }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
