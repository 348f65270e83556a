// HTTP contract tests of the group server (Fastify's inject, SQLite in a temporary file): the paper's
// flow (apply -> pending -> approve -> join code -> enrol -> certificate), denial, tokens that are used,
// expired or withdrawn, certificate requests for another node or key, renewal, revocation from the page
// (which withdraws the person's approval and join codes), re-enrolment refused, nothing signed on any
// refusal, and the security checks (CSRF missing or wrong, cookie flags, no clear password stored or
// logged, login throttling, admin pages). The same suite runs against SQLite and against a private
// PostgreSQL server (ts/group/pg-instance.ts).
import test from 'ava';
import { mkdtempSync, rmSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { openGroupStore, type GroupStore } from './store.js';
import { buildGroupServer, SESSION_COOKIE } from './server.js';
import { decodeJoinCode } from './join-code.js';
import { createRequest, parseCrl, TrustAnchor } from '../pki/index.js';
import { generateKeyPair } from '../config/keys.js';
import { forgeRequest } from './testkit.js';
import { pgUnavailable, startPg, type PgInstance } from './pg-instance.js';
import { pino } from 'pino';
import type { Logger } from '../base/log.js';

interface Env { app: FastifyInstance; store: GroupStore; dir: string; clock: { t: number }; close: () => Promise<void> }

let pg: PgInstance | null = null;
const pgWhy = pgUnavailable();
test.before(async () => { if (!pgWhy) pg = await startPg(); });
test.after.always(() => { pg?.stop(); });

type Backend = 'sqlite' | 'postgres';
async function env(backend: Backend, o: { log?: Logger } = {}): Promise<Env> {
  const dir = mkdtempSync(join(tmpdir(), 'rvgs-'));
  const { store } = await openGroupStore(backend === 'postgres' ? await pg!.createDb() : join(dir, 'group.db'));
  const clock = { t: Date.now() };
  const app = await buildGroupServer({ store, dataDir: dir, url: 'https://groups.example:8443', pin: 'ab'.repeat(32), now: () => clock.t, ...(o.log ? { log: o.log } : {}) });
  return { app, store, dir, clock, close: async () => { await app.close(); await store.db.close(); rmSync(dir, { recursive: true, force: true }); } };
}

/** A browser: keeps cookies, reads the CSRF token from the last page, posts forms. */
class Browser {
  cookies = new Map<string, string>();
  csrf = '';
  last = '';
  constructor(private readonly app: FastifyInstance) {}
  private keep(setCookie: string | string[] | undefined): void {
    for (const c of [setCookie ?? []].flat()) {
      const [kv] = c.split(';');
      const i = kv!.indexOf('=');
      const k = kv!.slice(0, i), v = kv!.slice(i + 1);
      if (v === '') this.cookies.delete(k); else this.cookies.set(k, v);
    }
  }
  private get cookieHeader(): string { return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '); }
  async get(url: string): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
    const r = await this.app.inject({ method: 'GET', url, headers: { cookie: this.cookieHeader } });
    this.keep(r.headers['set-cookie']);
    this.last = r.body;
    const m = /name="_csrf" value="([^"]+)"/.exec(r.body);
    if (m) this.csrf = m[1]!;
    return { status: r.statusCode, body: r.body, headers: r.headers };
  }
  async post(url: string, fields: Record<string, string>, o: { csrf?: boolean } = {}): Promise<{ status: number; body: string; location?: string; setCookie: string[] }> {
    const form = new URLSearchParams({ ...(o.csrf === false ? {} : { _csrf: this.csrf }), ...fields }).toString();
    const r = await this.app.inject({ method: 'POST', url, payload: form, headers: { cookie: this.cookieHeader, 'content-type': 'application/x-www-form-urlencoded' } });
    const setCookie = [r.headers['set-cookie'] ?? []].flat();
    this.keep(setCookie);
    this.last = r.body;
    const m = /name="_csrf" value="([^"]+)"/.exec(r.body);
    if (m) this.csrf = m[1]!;
    return { status: r.statusCode, body: r.body, ...(r.headers.location ? { location: String(r.headers.location) } : {}), setCookie };
  }
  async signup(email: string, password = 'correct horse battery'): Promise<void> {
    await this.get('/signup');
    const r = await this.post('/signup', { email, name: email.split('@')[0]!, password });
    if (r.status !== 303) throw new Error(`signup ${email}: ${r.status} ${r.body.slice(0, 300)}`);
    await this.get('/groups');
  }
}

const nodeKeys = (dir: string, name: string) => {
  const noise = generateKeyPair();
  return { noise, csr: () => createRequest({ name, noisePublicKey: noise.publicKey, identityKeyFile: join(dir, `${name}.identity.key`) }) };
};
const api = (app: FastifyInstance, url: string, body: unknown) => app.inject({ method: 'POST', url, payload: body as object });
/** the join token inside the join code a page shows */
const tokenIn = (body: string): string => { const c = decodeJoinCode(/ringvpn join (rvj1\.[A-Za-z0-9_-]+)/.exec(body)![1]!); if (!c.ok) throw new Error(c.why); return c.code.token; };
const issuedCount = (e: Env, group: string): number => (JSON.parse(readFileSync(join(e.dir, 'groups', group, 'ca', 'state.json'), 'utf8')) as { issued: unknown[] }).issued.length;

async function groupWithAdmin(e: Env): Promise<Browser> {
  const admin = new Browser(e.app);
  await admin.signup('admin@example.org');
  const r = await admin.post('/groups', { name: 'lab', description: 'the lab', subnet: '10.129.0.0/24', bootstrap: '192.0.2.1:51820', days: '30' });
  if (!/Group lab created/.test(r.body)) throw new Error(r.body);
  return admin;
}

function suite(backend: Backend): void {
  test(`${backend}: apply -> pending -> approve -> join code -> enrol -> a certificate for the node, its address and the group`, async (t) => {
    const e = await env(backend);
    try {
      const admin = await groupWithAdmin(e);
      // the group's CA key is the server's alone: its directory 0700, the key 0600
      const caDir = join(e.dir, 'groups', 'lab', 'ca');
      t.is(statSync(caDir).mode & 0o777, 0o700, 'the CA directory is 0700');
      t.is(statSync(join(caDir, 'ca.key')).mode & 0o777, 0o600, 'the CA key is 0600');
      const alice = new Browser(e.app);
      await alice.signup('alice@example.org');
      await alice.get('/groups/lab/request');
      t.regex((await alice.post('/groups/lab/request', { reason: 'I run the build farm' })).body, /Request sent/);
      t.regex((await alice.get('/groups')).body, /request pending/);
      t.is((await alice.post('/groups/lab/join-code', {})).status, 403, 'no join code before approval');
      const page = await admin.get('/groups/lab/admin');
      t.regex(page.body, /I run the build farm/, 'the administrator sees the reason');
      const id = /\/requests\/([0-9a-f]+)\/approve/.exec(page.body)![1]!;
      t.regex((await admin.post(`/requests/${id}/approve`, {})).body, /Request approved/);
      await alice.get('/groups');
      const code = /ringvpn join (rvj1\.[A-Za-z0-9_-]+)/.exec((await alice.post('/groups/lab/join-code', {})).body)![1]!;
      const jc = decodeJoinCode(code);
      t.true(jc.ok && jc.code.url === 'https://groups.example:8443' && jc.code.pin === 'ab'.repeat(32) && jc.code.group === 'lab');
      const k = nodeKeys(e.dir, 'alice-laptop');
      const { csrPem, nodeId } = await k.csr();
      const r = await api(e.app, '/api/v1/enrol', { token: jc.ok ? jc.code.token : '', csr: csrPem });
      t.is(r.statusCode, 200, r.body);
      const got = r.json<{ certificate: string; ca: string; address: string; nodeId: string; group: { subnet: string; bootstrap: string[] } }>();
      t.is(got.address, '10.129.0.2', 'the first free address (the first is the service address)');
      t.deepEqual(got.group, { name: 'lab', subnet: '10.129.0.0/24', bootstrap: ['192.0.2.1:51820'] } as never);
      const v = new TrustAnchor(got.ca).verify(new Uint8Array(Buffer.from(got.certificate.replace(/-----[^-]+-----|\s/g, ''), 'base64')), { now: e.clock.t, noiseKey: k.noise.publicKey, nodeId: BigInt('0x' + nodeId) });
      t.true(v.ok, 'the certificate verifies for the node\'s Noise key and id');
      if (v.ok) { t.is(v.cert.address, '10.129.0.2'); t.deepEqual(v.cert.groups, ['lab']); }
      const members = (await admin.get('/groups/lab/admin')).body;
      t.regex(members, new RegExp(nodeId), 'the members list shows the node id');
      t.regex(members, /alice@example\.org/);
      // the same enrolment again (a replay): the token was used; nothing more is signed
      const before = issuedCount(e, 'lab');
      const again = await api(e.app, '/api/v1/enrol', { token: jc.ok ? jc.code.token : '', csr: csrPem });
      t.is(again.statusCode, 403);
      t.is(again.json<{ code: string }>().code, 'token_used');
      t.is(issuedCount(e, 'lab'), before, 'nothing signed');
    } finally { await e.close(); }
  });

  test(`${backend}: automatic approval (off by default) makes a request a membership at once`, async (t) => {
    const e = await env(backend);
    try {
      const admin = await groupWithAdmin(e);
      t.is((await e.store.group('lab'))!.auto_approve, 0, 'off by default');
      await admin.get('/groups/lab/admin');
      t.regex((await admin.post('/groups/lab/auto-approve', { auto: '1' })).body, /Saved/);
      const carol = new Browser(e.app);
      await carol.signup('carol@example.org');
      await carol.get('/groups/lab/request');
      t.regex((await carol.post('/groups/lab/request', { reason: 'on call' })).body, /approved automatically/);
      t.regex((await carol.post('/groups/lab/join-code', {})).body, /ringvpn join rvj1\./, 'a join code at once');
    } finally { await e.close(); }
  });

  test(`${backend}: a denied request gets no join code; admin pages refuse members; requests need a reason`, async (t) => {
    const e = await env(backend);
    try {
      const admin = await groupWithAdmin(e);
      const bob = new Browser(e.app);
      await bob.signup('bob@example.org');
      await bob.get('/groups/lab/request');
      t.is((await bob.post('/groups/lab/request', { reason: ' ' })).status, 400);
      await bob.post('/groups/lab/request', { reason: 'curious' });
      const id = /\/requests\/([0-9a-f]+)\/deny/.exec((await admin.get('/groups/lab/admin')).body)![1]!;
      t.regex((await admin.post(`/requests/${id}/deny`, {})).body, /Request denied/);
      t.regex((await admin.post(`/requests/${id}/approve`, {})).body, /decided already/, 'a decision is final');
      await bob.get('/groups');
      t.is((await bob.post('/groups/lab/join-code', {})).status, 403);
      t.is((await bob.get('/groups/lab/admin')).status, 403, 'a member is refused the admin page');
      t.is((await bob.post(`/requests/${id}/approve`, {})).status, 403, 'and its actions');
      t.is((await bob.post('/groups', { name: 'mine', subnet: '10.130.0.0/24', days: '30' })).status, 403, 'only the server administrator creates groups');
      t.is((await new Browser(e.app).get('/groups/lab/admin')).status, 303, 'no session: to the login page');
      // an administrator makes bob one of the group's: now he may decide
      await admin.get('/groups/lab/admin');
      t.regex((await admin.post('/groups/lab/admins', { email: 'nobody@example.org' })).body, /ask them to sign up first/);
      t.regex((await admin.post('/groups/lab/admins', { email: 'bob@example.org' })).body, /bob@example\.org administers lab now/);
      t.is((await bob.get('/groups/lab/admin')).status, 200, 'a group administrator sees the page');
    } finally { await e.close(); }
  });

  test(`${backend}: join tokens: use limits, expiry and withdrawal; bad certificate requests are refused without using the token`, async (t) => {
    const e = await env(backend);
    try {
      const admin = await groupWithAdmin(e);
      await admin.get('/groups/lab/admin');
      const two = tokenIn((await admin.post('/groups/lab/tokens', { uses: '2', hours: '1' })).body);
      const enrolWith = async (token: string, name: string) => api(e.app, '/api/v1/enrol', { token, csr: (await nodeKeys(e.dir, name).csr()).csrPem });
      // another node id than the key's, and a request signed by no one: refused, the token kept
      const wrongId = await forgeRequest({ name: 'mallory', nodeIdFromOtherKey: true });
      const r1 = await api(e.app, '/api/v1/enrol', { token: two, csr: wrongId });
      t.is(r1.statusCode, 400); t.is(r1.json<{ code: string }>().code, 'csr_node_id_mismatch');
      const badSig = await forgeRequest({ name: 'mallory', breakSignature: true });
      t.is((await api(e.app, '/api/v1/enrol', { token: two, csr: badSig })).json<{ code: string }>().code, 'csr_bad_signature');
      t.is((await api(e.app, '/api/v1/enrol', { token: two, csr: 'not a request' })).statusCode, 400);
      t.is(issuedCount(e, 'lab'), 0, 'nothing signed on bad input');
      t.is((await enrolWith(two, 'n1')).statusCode, 200);
      t.is((await enrolWith(two, 'n2')).statusCode, 200, 'two uses');
      t.is((await enrolWith(two, 'n3')).json<{ code: string }>().code, 'token_used');
      const soon = tokenIn((await admin.post('/groups/lab/tokens', { uses: '5', hours: '1' })).body);
      e.clock.t += 3600_001;
      t.is((await enrolWith(soon, 'n4')).json<{ code: string }>().code, 'token_expired');
      const w = tokenIn((await admin.post('/groups/lab/tokens', { uses: '5', hours: '2' })).body);
      const tid = [...(await admin.get('/groups/lab/admin')).body.matchAll(/\/tokens\/([0-9a-f]+)\/revoke/g)].at(-1)![1]!;
      await admin.post(`/tokens/${tid}/revoke`, {});
      t.is((await enrolWith(w, 'n5')).json<{ code: string }>().code, 'token_revoked');
      t.is((await enrolWith('made-up', 'n6')).json<{ code: string }>().code, 'token_unknown');
      t.is(issuedCount(e, 'lab'), 2);
    } finally { await e.close(); }
  });

  test(`${backend}: renewal needs the identity key the node enrolled with; revocation from the page reaches the CRL`, async (t) => {
    const e = await env(backend);
    try {
      const admin = await groupWithAdmin(e);
      await admin.get('/groups/lab/admin');
      const code = /ringvpn join (rvj1\.[A-Za-z0-9_-]+)/.exec((await admin.post('/groups/lab/tokens', { uses: '1', hours: '1' })).body)![1]!;
      const jc = decodeJoinCode(code);
      const k = nodeKeys(e.dir, 'web1');
      const first = await k.csr();
      const r = (await api(e.app, '/api/v1/enrol', { token: jc.ok ? jc.code.token : '', csr: first.csrPem })).json<{ serial: string; address: string }>();
      e.clock.t += 86_400_000;
      t.is(issuedCount(e, 'lab'), 1);
      const ren = await api(e.app, '/api/v1/renew', { csr: (await k.csr()).csrPem });
      t.is(ren.statusCode, 200, ren.body);
      const renewed = ren.json<{ serial: string; address: string }>();
      t.not(renewed.serial, r.serial, 'a new certificate');
      t.is(renewed.address, r.address, 'for the same address');
      // the same Noise key, another identity key (someone who saw the node id): refused
      const thief = await createRequest({ name: 'web1', noisePublicKey: k.noise.publicKey, identityKeyFile: join(e.dir, 'thief.identity.key') });
      const stolen = await api(e.app, '/api/v1/renew', { csr: thief.csrPem });
      t.is(stolen.statusCode, 403); t.is(stolen.json<{ code: string }>().code, 'identity_mismatch');
      t.is(issuedCount(e, 'lab'), 2, 'the enrolment and the renewal: nothing signed for the thief');
      const unknown = await api(e.app, '/api/v1/renew', { csr: (await nodeKeys(e.dir, 'stranger').csr()).csrPem });
      t.is(unknown.json<{ code: string }>().code, 'not_member');
      t.is(issuedCount(e, 'lab'), 2, 'nothing signed for a stranger');
      // revoke from the page
      t.is((await admin.get('/groups/lab/admin')).status, 303, 'the session lasted 12 hours: log in again');
      await admin.get('/login');
      t.is((await admin.post('/login', { email: 'admin@example.org', password: 'correct horse battery' })).status, 303);
      const page = (await admin.get('/groups/lab/admin')).body;
      t.regex(page, /Last renewal/);
      t.regex((await admin.post(`/members/${first.nodeId}/revoke`, {})).body, /web1 \(10\.129\.0\.2\) revoked/);
      const crl = await e.app.inject({ method: 'GET', url: '/api/v1/groups/lab/crl' });
      const ca = (await e.app.inject({ method: 'GET', url: '/api/v1/groups/lab/ca' })).body;
      const parsed = parseCrl(crl.body, new TrustAnchor(ca));
      t.true(parsed.ok && parsed.serials.has(renewed.serial), 'the CRL lists the member\'s certificate');
      t.is((await api(e.app, '/api/v1/renew', { csr: (await k.csr()).csrPem })).json<{ code: string }>().code, 'revoked', 'a revoked node cannot renew');
      t.is(issuedCount(e, 'lab'), 2, 'nothing signed for a revoked node');
    } finally { await e.close(); }
  });

  test(`${backend}: revoking a person's node withdraws their approval and the join codes issued to them: nothing more is signed until they are approved again`, async (t) => {
    const e = await env(backend);
    try {
      const admin = await groupWithAdmin(e);
      const approvePending = async (): Promise<void> => {
        const id = /\/requests\/([0-9a-f]+)\/approve/.exec((await admin.get('/groups/lab/admin')).body)![1]!;
        t.regex((await admin.post(`/requests/${id}/approve`, {})).body, /Request approved/);
      };
      const alice = new Browser(e.app);
      await alice.signup('alice@example.org');
      await alice.get('/groups/lab/request');
      await alice.post('/groups/lab/request', { reason: 'I run the build farm' });
      await approvePending();
      await alice.get('/groups');
      const used = tokenIn((await alice.post('/groups/lab/join-code', {})).body);
      const held = tokenIn((await alice.post('/groups/lab/join-code', {})).body);
      const node = await nodeKeys(e.dir, 'alice-laptop').csr();
      t.is((await api(e.app, '/api/v1/enrol', { token: used, csr: node.csrPem })).statusCode, 200);
      const forAnyone = tokenIn((await admin.post('/groups/lab/tokens', { uses: '1', hours: '1' })).body);
      await admin.get('/groups/lab/admin');
      const notice = (await admin.post(`/members/${node.nodeId}/revoke`, {})).body;
      t.regex(notice, /alice-laptop \(10\.129\.0\.2\) revoked/);
      t.regex(notice, /withdrawn from the person who enrolled it: their approval and 1 unused join code\(s\) \(they must ask to join again\)/);
      const signed = issuedCount(e, 'lab');
      t.regex((await alice.get('/groups')).body, /membership withdrawn/);
      const refused = await alice.post('/groups/lab/join-code', {});
      t.is(refused.status, 403, 'no new join code after the revocation');
      t.regex(refused.body, /Your membership of lab was withdrawn when an administrator revoked your node: request to join again\./);
      t.notRegex(refused.body, /ringvpn join rvj1\./);
      const late = await api(e.app, '/api/v1/enrol', { token: held, csr: (await nodeKeys(e.dir, 'alice-desktop').csr()).csrPem });
      t.is(late.statusCode, 403, 'the join code she still held is withdrawn');
      t.is(late.json<{ code: string }>().code, 'token_revoked');
      t.is(issuedCount(e, 'lab'), signed, 'nothing signed');
      // a token the administrator made for anyone holding it is no person's: it stays until withdrawn by hand
      t.is((await api(e.app, '/api/v1/enrol', { token: forAnyone, csr: (await nodeKeys(e.dir, 'kiosk').csr()).csrPem })).statusCode, 200);
      // the way back: ask again, be approved again
      e.clock.t += 1000;
      await alice.get('/groups/lab/request');
      t.regex((await alice.post('/groups/lab/request', { reason: 'a new laptop' })).body, /Request sent/);
      t.is((await alice.post('/groups/lab/join-code', {})).status, 403, 'not before the new approval');
      await approvePending();
      await alice.get('/groups');
      t.regex((await alice.post('/groups/lab/join-code', {})).body, /ringvpn join rvj1\./, 'approved again: a join code');
    } finally { await e.close(); }
  });

  test(`${backend}: re-enrolment of an enrolled node or a revoked one is refused with a multi-use token: nothing signed, the token's use kept`, async (t) => {
    const e = await env(backend);
    try {
      const admin = await groupWithAdmin(e);
      await admin.get('/groups/lab/admin');
      const many = tokenIn((await admin.post('/groups/lab/tokens', { uses: '5', hours: '1' })).body);
      const usesLeft = async (): Promise<number> => (await e.store.tokens('lab'))[0]!.uses_left;
      const k = nodeKeys(e.dir, 'web1');
      const first = await k.csr();
      t.is((await api(e.app, '/api/v1/enrol', { token: many, csr: first.csrPem })).statusCode, 200);
      t.is(await usesLeft(), 4);
      for (const csr of [first.csrPem, (await k.csr()).csrPem]) {
        const again = await api(e.app, '/api/v1/enrol', { token: many, csr });
        t.is(again.statusCode, 409, 'the same request, or a new one from the same keys');
        t.is(again.json<{ code: string }>().code, 'enrolled');
      }
      t.is(issuedCount(e, 'lab'), 1, 'nothing signed');
      t.is(await usesLeft(), 4, 'the refusals did not use the token');
      await admin.get('/groups/lab/admin');
      t.regex((await admin.post(`/members/${first.nodeId}/revoke`, {})).body, /web1 \(10\.129\.0\.2\) revoked/);
      const back = await api(e.app, '/api/v1/enrol', { token: many, csr: (await k.csr()).csrPem });
      t.is(back.statusCode, 403, 'a revoked node cannot come back with a token');
      t.is(back.json<{ code: string }>().code, 'revoked');
      t.is(issuedCount(e, 'lab'), 1, 'nothing signed');
      t.is(await usesLeft(), 4);
    } finally { await e.close(); }
  });

  test(`${backend}: the clear password is never logged (sign-up, failed login, forged form, login)`, async (t) => {
    const lines: string[] = [];
    const log = pino({ level: 'debug' }, { write: (l: string) => { lines.push(l); } });
    const e = await env(backend, { log });
    try {
      const pw = 'Tr0ub4dor-and-3-more';
      await new Browser(e.app).signup('pat@example.org', pw);
      const m = new Browser(e.app);
      await m.get('/login');
      t.is((await m.post('/login', { email: 'pat@example.org', password: `${pw}-typo` })).status, 401);
      t.is((await m.post('/login', { email: 'pat@example.org', password: pw, _csrf: 'forged' })).status, 403);
      t.is((await m.post('/login', { email: 'pat@example.org', password: pw })).status, 303);
      t.true(lines.some((l) => /failed login/.test(l)) && lines.some((l) => /request failed/.test(l)), `the log was captured: ${lines.join('')}`);
      for (const form of [pw, encodeURIComponent(pw), Buffer.from(pw).toString('base64')]) t.false(lines.some((l) => l.includes(form)), `${form} is in the log`);
    } finally { await e.close(); }
  });

  test(`${backend}: security: CSRF token required, session cookie flags, no clear password, login throttled`, async (t) => {
    const e = await env(backend);
    try {
      const b = new Browser(e.app);
      await b.get('/signup');
      const noToken = await b.post('/signup', { email: 'eve@example.org', name: 'eve', password: 'a long password here' }, { csrf: false });
      t.is(noToken.status, 403, 'a form without the CSRF token is refused');
      t.regex(noToken.body, /reload the page/);
      t.is(await e.store.userByEmail('eve@example.org'), null, 'and changes nothing');
      const wrong = await b.post('/signup', { _csrf: 'x'.repeat(52), email: 'eve@example.org', name: 'eve', password: 'a long password here' });
      t.is(wrong.status, 403, 'a made-up CSRF token is refused');
      const other = new Browser(e.app);
      await other.get('/signup');
      const foreign = await b.post('/signup', { _csrf: other.csrf, email: 'eve@example.org', name: 'eve', password: 'a long password here' });
      t.is(foreign.status, 403, 'a real token from another browser\'s session is refused');
      t.regex(foreign.body, /reload the page/);
      t.is(await e.store.userByEmail('eve@example.org'), null, 'and neither changes anything');
      await b.get('/signup');
      const ok = await b.post('/signup', { email: 'eve@example.org', name: 'eve', password: 'a long password here' });
      const sc = ok.setCookie.find((c) => c.startsWith(`${SESSION_COOKIE}=`))!;
      t.regex(sc, /HttpOnly/); t.regex(sc, /Secure/); t.regex(sc, /SameSite=Strict/);
      const rows = await e.store.db.all<{ password_hash: string }>('SELECT password_hash FROM users');
      t.true(rows.every((r) => r.password_hash.startsWith('$argon2id$') && !r.password_hash.includes('a long password here')), 'only an Argon2id hash is stored');
      t.is((await b.post('/signup', { email: 'x@example.org', name: 'x', password: 'short' })).status, 400, 'a short password is refused');
      const m = new Browser(e.app);
      await m.get('/login');
      for (let i = 0; i < 5; i++) t.is((await m.post('/login', { email: 'eve@example.org', password: 'wrong password ' + i })).status, 401);
      const locked = await m.post('/login', { email: 'eve@example.org', password: 'a long password here' });
      t.is(locked.status, 429, 'after 5 failures even the right password waits');
      e.clock.t += 61_000;
      t.is((await m.post('/login', { email: 'eve@example.org', password: 'a long password here' })).status, 303, 'a minute later it works');
      const h = await b.get('/groups');
      t.regex(String(h.headers['content-security-policy']), /default-src 'none'/);
      t.is(h.headers['x-frame-options'], 'DENY');
    } finally { await e.close(); }
  });
}

suite('sqlite');
if (!pgWhy) suite('postgres');
else if (process.env.CI === 'true') test('postgres: the contract suite', (t) => { t.fail(`cannot run under CI: ${pgWhy}`); });
else console.warn(`skipping the PostgreSQL run of the group server's contract suite: ${pgWhy}`);
