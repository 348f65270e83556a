// The group server's schema migrations on SQLite in a temporary directory: opening a database that is
// up to date applies nothing and keeps its data, and a database from a newer ringvpn (a schema version
// past the code's) is refused with E_GROUP_DB and a message that says to upgrade, its data untouched.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openGroupStore } from './store.js';
import { MIGRATIONS } from './migrations.js';
import { openDb } from './db.js';

test('migrations: a second open is a no-op that keeps the data; a newer schema is refused with E_GROUP_DB', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rvmig-'));
  const file = join(dir, 'group.db');
  try {
    const first = await openGroupStore(file);
    t.deepEqual(first.migrated, MIGRATIONS.map((_, i) => i + 1), 'a new database gets every version');
    t.truthy(await first.store.createUser('admin@example.org', 'admin', 'hash', 1));
    await first.store.db.close();

    const second = await openGroupStore(file);
    t.deepEqual(second.migrated, [], 'nothing applied the second time');
    t.is((await second.store.userByEmail('admin@example.org'))?.name, 'admin', 'the data is kept');
    t.deepEqual(await second.store.db.all('SELECT version FROM schema_version ORDER BY version'), MIGRATIONS.map((_, i) => ({ version: i + 1 })), 'each version recorded once');
    await second.store.db.run('INSERT INTO schema_version (version) VALUES (?)', [MIGRATIONS.length + 1]);
    await second.store.db.close();

    const e = await t.throwsAsync(openGroupStore(file));
    t.is((e as { code?: string }).code, 'E_GROUP_DB');
    t.regex(e!.message, new RegExp(`schema version ${MIGRATIONS.length + 1}, newer than this ringvpn knows \\(${MIGRATIONS.length}\\): upgrade ringvpn`));

    // the refusal closed its connection and changed nothing: the data is still there
    const raw = await openDb(file);
    t.is((await raw.all<{ n: number }>('SELECT COUNT(*) AS n FROM users'))[0]?.n, 1);
    await raw.close();
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
