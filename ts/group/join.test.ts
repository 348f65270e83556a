// `ringvpn join` against a real group server over HTTPS on loopback: the pinned certificate is checked
// before anything is sent (a wrong pin stops with E_GROUP_PIN and the server sees no request), a good
// code enrols the node and writes keys, certificate and a config the daemon accepts, and the node's
// membership renews its certificate from the server and reads the CRL through the same pin.
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { openGroupStore } from './store.js';
import { buildGroupServer } from './server.js';
import { Enrolment } from './enrolment.js';
import { encodeJoinCode } from './join-code.js';
import { joinGroup } from './join.js';
import { loadOrCreateWebCert } from './web-cert.js';
import { loadConfig } from '../config/schema.js';
import { Membership } from '../runtime/membership.js';
import { nodeIdOfKey } from '../base/nodeid.js';
import { silentLogger } from '../base/log.js';

test('join: a wrong pin sends nothing; a right one enrols and writes a config the daemon accepts; renewal and CRL go through the pin', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rvjoin-'));
  const { store } = await openGroupStore(join(dir, 'group.db'));
  let close = async (): Promise<void> => {};
  try {
    const admin = (await store.createUser('admin@example.org', 'admin', 'x', Date.now()))!;
    t.true((await new Enrolment(store, dir).createGroup({ name: 'lab', description: '', subnet: '10.129.0.0/24', bootstrap: ['192.0.2.1:51820'], autoApprove: false, certDays: 3 }, admin.id, Date.now())).ok);
    const web = await loadOrCreateWebCert(dir, '127.0.0.1');
    let requests = 0;
    const app = await buildGroupServer({ store, dataDir: dir, url: 'https://127.0.0.1', pin: web.pin, https: { key: web.key, cert: web.cert } });
    app.addHook('onRequest', async () => { requests++; });
    close = () => app.close();
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `https://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const tok = await store.createToken({ group: 'lab', userId: null, expiresAt: Date.now() + 3600_000, uses: 2, createdBy: admin.id }, Date.now());
    const bad = encodeJoinCode({ url, pin: 'cd'.repeat(32), group: 'lab', token: tok.secret });
    const e = await t.throwsAsync(joinGroup(bad, { dir: join(dir, 'n0'), name: 'n0' }));
    t.is((e as { code?: string }).code, 'E_GROUP_PIN');
    t.regex(e!.message, /nothing was sent/);
    t.is(requests, 0, 'the server saw no request');
    t.false(existsSync(join(dir, 'n0', 'identity.key')), 'and the directory is left empty');
    const lines: string[] = [];
    const r = await joinGroup(encodeJoinCode({ url, pin: web.pin, group: 'lab', token: tok.secret }), { dir: join(dir, 'n1'), name: 'n1', say: (l) => lines.push(l) });
    t.is(r.address, '10.129.0.2');
    t.regex(lines[0]!, /certificate pinned/);
    const cfg = loadConfig(r.configFile);
    t.is(cfg.network?.address, '10.129.0.2');
    t.is(cfg.pki?.server?.pin, web.pin);
    t.deepEqual(cfg.overlay.bootstrap, ['192.0.2.1:51820']);
    const again = await t.throwsAsync(joinGroup(encodeJoinCode({ url, pin: web.pin, group: 'lab', token: tok.secret }), { dir: join(dir, 'n1'), name: 'n1' }));
    t.regex(again!.message, /holds a node already/, 'an existing node is never overwritten');
    // the node's membership: renew now (renewAt 0.999: almost the whole life is "left"), read the CRL through the pin
    const m = new Membership({ ...cfg.pki!, server: { ...cfg.pki!.server!, renewAt: 0.999 } }, nodeIdOfKey(cfg.publicKeyBytes), cfg.publicKeyBytes, silentLogger, () => {});
    const serial = m.own.serial;
    m.tick(0);
    for (let i = 0; i < 100 && m.renewedAt === null && m.renewError === null; i++) await new Promise((res) => setTimeout(res, 50));
    t.is(m.renewError, null);
    t.not(m.own.serial, serial, 'the certificate was renewed');
    t.regex(readFileSync(cfg.pki!.cert, 'utf8'), /BEGIN CERTIFICATE/);
    for (let i = 0; i < 100 && m.crlLoadedAt === null; i++) await new Promise((res) => setTimeout(res, 50));
    t.truthy(m.crlLoadedAt, 'the CRL was read from the server through the pin');
  } finally {
    await close();
    await store.db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
