// Owns the group server's HTTP face (Fastify over HTTPS): accounts (Argon2id, sessions in secure
// cookies, CSRF tokens on every form, login throttling), the pages of people and administrators, and
// the client API (enrol with a join token, renew, CRL, CA). Decisions on certificates are
// enrolment.ts's, data is store.ts's; this file maps requests to them and must not sign or query SQL.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import cookie from '@fastify/cookie';
import csrf from '@fastify/csrf-protection';
import formbody from '@fastify/formbody';
import rateLimit from '@fastify/rate-limit';
import { randomBytes } from 'node:crypto';
import { GroupStore, type User } from './store.js';
import { Enrolment } from './enrolment.js';
import { checkPassword, hashPassword, passwordProblem } from './passwords.js';
import { adminPage, groupsPage, joinCodePage, layout, loginPage, requestPage, signupPage } from './pages.js';
import { encodeJoinCode } from './join-code.js';
import type { Logger } from '../base/log.js';

export const SESSION_COOKIE = 'rv_session';
const SESSION_MS = 12 * 3600_000;
const JOIN_CODE_MS = 24 * 3600_000;
/** failed logins per e-mail address before it is locked for LOCK_MS */
const MAX_FAILURES = 5;
const LOCK_MS = 60_000;

export interface GroupServerOptions {
  store: GroupStore;
  dataDir: string;
  /** the server's public base URL (https://host:port): join codes carry it */
  url: string;
  /** SHA-256 of the server's certificate (hex): join codes pin it */
  pin: string;
  https?: { key: string; cert: string };
  /** a revocation is handed to a member daemon of the group (its control socket), which spreads it */
  publish?: (group: string, record: Uint8Array) => Promise<string>;
  cookieSecret?: string;
  now?: () => number;
  log?: Logger;
}

type Body = Record<string, string | undefined>;

export async function buildGroupServer(o: GroupServerOptions): Promise<FastifyInstance> {
  const now = o.now ?? Date.now;
  const store = o.store, enrol = new Enrolment(store, o.dataDir);
  const app = Fastify({ ...(o.https ? { https: o.https } : {}), logger: false, trustProxy: false, bodyLimit: 64 * 1024 });
  await app.register(cookie, { secret: o.cookieSecret ?? randomBytes(32).toString('hex') });
  await app.register(csrf, { cookieOpts: { signed: true, httpOnly: true, sameSite: 'strict', secure: true, path: '/' } });
  await app.register(formbody);
  await app.register(rateLimit, { global: false });
  const failures = new Map<string, { n: number; until: number }>();

  const userOf = async (req: FastifyRequest): Promise<User | null> => {
    const raw = req.cookies[SESSION_COOKIE];
    const c = raw ? req.unsignCookie(raw) : null;
    return c?.valid && c.value ? store.sessionUser(c.value, now()) : null;
  };
  const setSession = async (reply: FastifyReply, user: User): Promise<void> => {
    const secret = await store.createSession(user.id, now(), SESSION_MS);
    reply.setCookie(SESSION_COOKIE, secret, { signed: true, httpOnly: true, secure: true, sameSite: 'strict', path: '/', maxAge: SESSION_MS / 1000 });
  };
  /** pages that need a signed-in user: the user, or a redirect to the login page */
  const need = async (req: FastifyRequest, reply: FastifyReply): Promise<User | null> => {
    const u = await userOf(req);
    if (!u) { void reply.redirect('/login', 303); return null; }
    return u;
  };
  const html = (reply: FastifyReply, page: string, status = 200): FastifyReply => reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(page);
  const forbidden = (reply: FastifyReply, user: User, csrfToken: string): FastifyReply => html(reply, layout('Not allowed', '<p>This page is for the administrators of the group.</p>', { user, csrf: csrfToken, error: 'You are not an administrator of this group.' }), 403);
  const form = { preHandler: app.csrfProtection };
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('x-frame-options', 'DENY').header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer')
      .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'");
    return payload;
  });
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    const status = err.statusCode ?? 500;
    o.log?.warn({ url: req.url, status, code: err.code, err: err.message }, 'group server: request failed');
    if (req.url.startsWith('/api/')) return reply.code(status).send({ ok: false, code: err.code ?? 'error', message: status === 500 ? 'internal error' : err.message });
    const msg = err.code === 'FST_CSRF_INVALID_TOKEN' || err.code === 'FST_CSRF_MISSING_SECRET' ? 'The form expired or came from another site: reload the page and try again.'
      : status === 429 ? 'Too many attempts: wait a minute and try again.' : status === 500 ? 'Something went wrong on the server.' : err.message;
    return html(reply, layout('Error', `<p><a href="/">Back</a></p>`, { error: msg }), status);
  });

  // ---- accounts
  app.get('/', async (req, reply) => reply.redirect((await userOf(req)) ? '/groups' : '/login', 303));
  app.get('/signup', async (_req, reply) => html(reply, signupPage(reply.generateCsrf(), null)));
  app.post('/signup', { ...form, config: { rateLimit: { max: 10, timeWindow: 60_000 } } }, async (req, reply) => {
    const b = req.body as Body, email = (b.email ?? '').trim(), name = (b.name ?? '').trim(), pw = b.password ?? '';
    const redo = (e: string): FastifyReply => html(reply, signupPage(reply.generateCsrf(), e, email, name), 400);
    if (!/^[^\s@]+@[^\s@]+$/.test(email) || email.length > 254) return redo('Enter an e-mail address like name@example.org.');
    if (!name || name.length > 100) return redo('Enter your name (up to 100 characters).');
    const p = passwordProblem(pw, email);
    if (p) return redo(`Choose another password: ${p}.`);
    const user = await store.createUser(email, name, await hashPassword(pw), now());
    if (!user) return redo('An account with this e-mail address exists: log in instead.');
    await setSession(reply, user);
    return reply.redirect('/groups', 303);
  });
  app.get('/login', async (_req, reply) => html(reply, loginPage(reply.generateCsrf(), null)));
  app.post('/login', { ...form, config: { rateLimit: { max: 20, timeWindow: 60_000 } } }, async (req, reply) => {
    const b = req.body as Body, email = (b.email ?? '').trim().toLowerCase(), pw = b.password ?? '';
    const f = failures.get(email);
    if (f && f.n >= MAX_FAILURES && f.until > now()) return html(reply, loginPage(reply.generateCsrf(), 'Too many failed attempts for this account: wait a minute and try again.', email), 429);
    const user = await store.userByEmail(email);
    if (!(await checkPassword(user?.password_hash ?? null, pw)) || !user) {
      const n = (f && f.until > now() ? f.n : 0) + 1;
      failures.set(email, { n, until: now() + LOCK_MS });
      o.log?.info({ email, failures: n }, 'group server: failed login');
      return html(reply, loginPage(reply.generateCsrf(), 'Wrong e-mail address or password.', email), 401);
    }
    failures.delete(email);
    await setSession(reply, user);
    return reply.redirect('/groups', 303);
  });
  app.post('/logout', form, async (req, reply) => {
    const raw = req.cookies[SESSION_COOKIE];
    const c = raw ? req.unsignCookie(raw) : null;
    if (c?.valid && c.value) await store.deleteSession(c.value);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.redirect('/login', 303);
  });

  // ---- groups, requests, join codes
  const groupsView = async (reply: FastifyReply, user: User, extra: { error?: string | null; notice?: string | null } = {}, status = 200): Promise<FastifyReply> => {
    const mine = await store.requestsOf(user.id);
    const rows = await Promise.all((await store.groups()).map(async (g) => ({
      group: g, request: mine.filter((r) => r.group_name === g.name).at(-1) ?? null, admin: await store.isGroupAdmin(g.name, user),
    })));
    return html(reply, groupsPage(user, reply.generateCsrf(), rows, extra), status);
  };
  app.get('/groups', async (req, reply) => { const u = await need(req, reply); return u ? groupsView(reply, u) : reply; });
  app.post('/groups', form, async (req, reply) => {
    const u = await need(req, reply); if (!u) return reply;
    if (!u.is_admin) return forbidden(reply, u, reply.generateCsrf());
    const b = req.body as Body;
    const r = await enrol.createGroup({
      name: (b.name ?? '').trim(), description: (b.description ?? '').trim(), subnet: (b.subnet ?? '').trim(),
      bootstrap: (b.bootstrap ?? '').split(/[\s,]+/).filter(Boolean), autoApprove: b.auto === '1', certDays: Number(b.days ?? 30),
    }, u.id, now());
    return r.ok ? groupsView(reply, u, { notice: `Group ${b.name} created, with its own CA.` }) : groupsView(reply, u, { error: r.message }, r.status);
  });
  app.get<{ Params: { name: string } }>('/groups/:name/request', async (req, reply) => {
    const u = await need(req, reply); if (!u) return reply;
    const g = await store.group(req.params.name);
    return g ? html(reply, requestPage(u, reply.generateCsrf(), g)) : groupsView(reply, u, { error: 'No such group.' }, 404);
  });
  app.post<{ Params: { name: string } }>('/groups/:name/request', form, async (req, reply) => {
    const u = await need(req, reply); if (!u) return reply;
    const g = await store.group(req.params.name);
    if (!g) return groupsView(reply, u, { error: 'No such group.' }, 404);
    const reason = ((req.body as Body).reason ?? '').trim();
    if (!reason) return html(reply, requestPage(u, reply.generateCsrf(), g, 'Say why you want to join: the administrators decide on it.'), 400);
    const r = await store.createRequest(g.name, u.id, reason.slice(0, 1000), now());
    if ('refused' in r) return groupsView(reply, u, { error: r.refused === 'pending' ? 'Your request is pending already.' : 'You are a member already: get a join code.' }, 409);
    if (g.auto_approve) { await store.decide(r.id, true, 'auto', now()); return groupsView(reply, u, { notice: `You are a member of ${g.name} (approved automatically): get a join code.` }); }
    return groupsView(reply, u, { notice: `Request sent: an administrator of ${g.name} will decide.` });
  });
  app.post<{ Params: { name: string } }>('/groups/:name/join-code', form, async (req, reply) => {
    const u = await need(req, reply); if (!u) return reply;
    const g = await store.group(req.params.name);
    if (!g || !(await store.approved(g.name, u.id))) {
      const last = g ? (await store.requestsOf(u.id)).filter((r) => r.group_name === g.name).at(-1) : undefined;
      return groupsView(reply, u, { error: last?.state === 'revoked'
        ? `Your membership of ${last.group_name} was withdrawn when an administrator revoked your node: request to join again.`
        : 'Only approved members get a join code: request to join first.' }, 403);
    }
    const expires = now() + JOIN_CODE_MS;
    const t = await store.createToken({ group: g.name, userId: u.id, expiresAt: expires, uses: 1, createdBy: u.id }, now());
    return html(reply, joinCodePage(u, reply.generateCsrf(), g, encodeJoinCode({ url: o.url, pin: o.pin, group: g.name, token: t.secret }), expires));
  });

  // ---- administration (a group's administrators and the server's)
  const adminView = async (reply: FastifyReply, user: User, group: string, extra: { error?: string | null; notice?: string | null; newToken?: string | null } = {}, status = 200): Promise<FastifyReply> => {
    const g = (await store.group(group))!;
    const v = { group: g, admins: await store.groupAdmins(group), pending: await store.pendingRequests(group), members: await store.members(group), tokens: await store.tokens(group) };
    return html(reply, adminPage(user, reply.generateCsrf(), v, extra), status);
  };
  /** the user if they administer `group`, else a 403 page (or 404) has been sent */
  const admin = async (req: FastifyRequest, reply: FastifyReply, group: string | undefined): Promise<User | null> => {
    const u = await need(req, reply); if (!u) return null;
    if (!group || !(await store.group(group))) { void groupsView(reply, u, { error: 'No such group.' }, 404); return null; }
    if (!(await store.isGroupAdmin(group, u))) { void forbidden(reply, u, reply.generateCsrf()); return null; }
    return u;
  };
  app.get<{ Params: { name: string } }>('/groups/:name/admin', async (req, reply) => {
    const u = await admin(req, reply, req.params.name);
    return u ? adminView(reply, u, req.params.name) : reply;
  });
  for (const verdict of ['approve', 'deny'] as const) {
    app.post<{ Params: { id: string } }>(`/requests/:id/${verdict}`, form, async (req, reply) => {
      const r = await store.request(req.params.id);
      const u = await admin(req, reply, r?.group_name); if (!u || !r) return reply;
      const ok = await store.decide(r.id, verdict === 'approve', u.id, now());
      return adminView(reply, u, r.group_name, ok ? { notice: `Request ${verdict === 'approve' ? 'approved' : 'denied'}.` } : { error: 'This request was decided already.' });
    });
  }
  app.post<{ Params: { name: string } }>('/groups/:name/tokens', form, async (req, reply) => {
    const u = await admin(req, reply, req.params.name); if (!u) return reply;
    const b = req.body as Body, uses = Number(b.uses ?? 1), hours = Number(b.hours ?? 24);
    if (!(Number.isInteger(uses) && uses >= 1 && uses <= 1000) || !(hours >= 1 && hours <= 8760)) return adminView(reply, u, req.params.name, { error: 'A token has 1 to 1000 uses and lasts 1 to 8760 hours.' }, 400);
    const t = await store.createToken({ group: req.params.name, userId: null, expiresAt: now() + hours * 3600_000, uses, createdBy: u.id }, now());
    return adminView(reply, u, req.params.name, { newToken: encodeJoinCode({ url: o.url, pin: o.pin, group: req.params.name, token: t.secret }) });
  });
  app.post<{ Params: { id: string } }>('/tokens/:id/revoke', form, async (req, reply) => {
    const group = await store.tokenGroup(req.params.id);
    const u = await admin(req, reply, group ?? undefined); if (!u || !group) return reply;
    await store.revokeToken(req.params.id);
    return adminView(reply, u, group, { notice: 'Token withdrawn.' });
  });
  app.post<{ Params: { name: string } }>('/groups/:name/admins', form, async (req, reply) => {
    const u = await admin(req, reply, req.params.name); if (!u) return reply;
    const who = await store.userByEmail(((req.body as Body).email ?? '').trim());
    if (!who) return adminView(reply, u, req.params.name, { error: 'No account has this e-mail address: ask them to sign up first.' }, 404);
    await store.addGroupAdmin(req.params.name, who.id);
    return adminView(reply, u, req.params.name, { notice: `${who.email} administers ${req.params.name} now.` });
  });
  app.post<{ Params: { name: string } }>('/groups/:name/auto-approve', form, async (req, reply) => {
    const u = await admin(req, reply, req.params.name); if (!u) return reply;
    await store.setAutoApprove(req.params.name, (req.body as Body).auto === '1');
    return adminView(reply, u, req.params.name, { notice: 'Saved.' });
  });
  app.post<{ Params: { node: string } }>('/members/:node/revoke', form, async (req, reply) => {
    const m = await store.member(req.params.node);
    const u = await admin(req, reply, m?.group_name); if (!u || !m) return reply;
    const r = await enrol.revoke(m.node_id, now());
    if (!r.ok) return adminView(reply, u, m.group_name, { error: r.message }, r.status);
    let spread = 'the CRL is updated (members poll it)';
    if (o.publish) {
      try { spread += `; ${await o.publish(m.group_name, r.record)}`; } catch (e) { spread += `; publishing into the overlay failed: ${(e as Error).message}`; }
    }
    const taken = [r.withdrawn.approvals ? 'their approval' : '', r.withdrawn.tokens ? `${r.withdrawn.tokens} unused join code(s)` : ''].filter(Boolean);
    const person = taken.length ? `; withdrawn from the person who enrolled it: ${taken.join(' and ')} (they must ask to join again)` : '';
    return adminView(reply, u, m.group_name, { notice: `${m.name} (${m.address}) revoked: ${spread}${person}.` });
  });

  // ---- the client API (JSON; a join token or the member's identity key is the credential)
  app.post('/api/v1/enrol', { config: { rateLimit: { max: 30, timeWindow: 60_000 } } }, async (req, reply) => {
    const b = (req.body ?? {}) as Body;
    if (typeof b.token !== 'string' || typeof b.csr !== 'string') return reply.code(400).send({ ok: false, code: 'bad_request', message: 'expected {"token", "csr"}' });
    const r = await enrol.enrol(b.token, b.csr, now());
    return reply.code(r.ok ? 200 : r.status).send(r);
  });
  app.post('/api/v1/renew', { config: { rateLimit: { max: 30, timeWindow: 60_000 } } }, async (req, reply) => {
    const b = (req.body ?? {}) as Body;
    if (typeof b.csr !== 'string') return reply.code(400).send({ ok: false, code: 'bad_request', message: 'expected {"csr"}' });
    const r = await enrol.renew(b.csr, now());
    return reply.code(r.ok ? 200 : r.status).send(r);
  });
  app.get<{ Params: { name: string } }>('/api/v1/groups/:name/crl', async (req, reply) => {
    if (!(await store.group(req.params.name))) return reply.code(404).send({ ok: false, code: 'no_group', message: 'no such group' });
    return reply.type('application/pkix-crl').header('cache-control', 'no-cache').send(enrol.crlPem(req.params.name));
  });
  app.get<{ Params: { name: string } }>('/api/v1/groups/:name/ca', async (req, reply) => {
    if (!(await store.group(req.params.name))) return reply.code(404).send({ ok: false, code: 'no_group', message: 'no such group' });
    return reply.type('application/x-pem-file').send(enrol.caPem(req.params.name));
  });
  return app;
}
