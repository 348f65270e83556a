// The group lab's administrator, against a real group server over HTTPS on loopback (no namespaces):
// signing up, creating a group and a join token on the pages give a join code that enrols a machine,
// also through a Unix-socket relay as the demo uses; a second sign-up, a non-administrator and a wrong
// pin fail with a stable code naming the step and quoting the page.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openGroupStore } from '../group/store.js';
import { buildGroupServer } from '../group/server.js';
import { loadOrCreateWebCert } from '../group/web-cert.js';
import { decodeJoinCode } from '../group/join-code.js';
import { joinGroup } from '../group/join.js';
import { setUpThroughPages, WebSession, type PageSetup } from './group-lab.js';

const setup = (email: string): PageSetup => ({
  admin: { email, name: 'Admin', password: 'a long enough password' },
  group: { name: 'demo', description: 'test group', subnet: '10.132.0.0/24', bootstrap: ['192.0.2.1:51820'], days: 30 },
  machines: 2, hours: 1,
});

const listening = (s: Server, ...args: unknown[]): Promise<void> => new Promise((res) => s.listen(...(args as []), res));

test('group lab: the pages give a join code that enrols; through a relay; refusals name the step and the page', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rvglt-'));
  const { store } = await openGroupStore(join(dir, 'group.db'));
  const free = createServer();
  await listening(free, 0, '127.0.0.1');
  const port = (free.address() as AddressInfo).port;
  free.close();
  const url = `https://127.0.0.1:${port}`;
  const web = await loadOrCreateWebCert(dir, '127.0.0.1');
  const app = await buildGroupServer({ store, dataDir: dir, url, pin: web.pin, https: { key: web.key, cert: web.cert } });
  const relay = createServer((c) => { const s = connect(port, '127.0.0.1'); c.pipe(s).pipe(c); });
  try {
    await app.listen({ host: '127.0.0.1', port });
    const sock = join(dir, 'web.sock');
    await listening(relay, sock);

    const code = await setUpThroughPages(new WebSession(url, web.pin, { socketPath: sock }), setup('admin@example.org'));
    const d = decodeJoinCode(code);
    t.true(d.ok && d.code.url === url && d.code.pin === web.pin && d.code.group === 'demo');
    const r = await joinGroup(code, { dir: join(dir, 'n1'), name: 'n1' });
    t.is(r.address, '10.132.0.2');
    t.is((await store.group('demo'))?.subnet, '10.132.0.0/24');

    // the same account again: the sign-up page's error, quoted
    const again = await t.throwsAsync(setUpThroughPages(new WebSession(url, web.pin), setup('admin@example.org')));
    t.is((again as { code?: string }).code, 'E_GROUP_REFUSED');
    t.regex(again!.message, /^signing up the first account: POST \/signup answered HTTP 400: An account with this e-mail address exists/);
    // a second account is no server administrator
    const second = await t.throwsAsync(setUpThroughPages(new WebSession(url, web.pin), setup('other@example.org')));
    t.regex(second!.message, /is not the server administrator/);
    // the group exists already: its creation is refused with the page's words
    const s = new WebSession(url, web.pin);
    await s.submit('/login', '/login', { email: 'admin@example.org', password: 'a long enough password' }, 'log in');
    const dup = await t.throwsAsync(s.submit('/groups', '/groups', { name: 'demo', subnet: '10.133.0.0/24', days: '30' }, 'creating group demo'));
    t.regex(dup!.message, /^creating group demo: POST \/groups answered HTTP \d+: ./);
    // a wrong pin: nothing is sent
    const pin = await t.throwsAsync(new WebSession(url, 'cd'.repeat(32)).get('/signup', 'opening the sign-up page'));
    t.is((pin as { code?: string }).code, 'E_GROUP_PIN');
  } finally {
    relay.close();
    await app.close();
    await store.db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
