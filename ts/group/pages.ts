// Owns the group server's HTML: plain server-rendered pages (no script), every field labelled, errors
// in a role=alert box that says what to do, every form carrying the CSRF token. It must not read the
// database or decide anything: server.ts passes in what to show.
import type { Group, JoinRequest, Member, Token, User } from './store.js';

/** HTML-escape text. */
export const esc = (s: unknown): string => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const when = (ms: number | null): string => (ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 16) + ' UTC' : '—');

export function layout(title: string, body: string, o: { user?: User | null; csrf?: string; error?: string | null; notice?: string | null } = {}): string {
  const nav = o.user
    ? `<nav aria-label="main"><a href="/groups">Groups</a> · signed in as ${esc(o.user.email)}${o.user.is_admin ? ' (server administrator)' : ''}
       <form method="post" action="/logout" class="inline">${csrfField(o.csrf)}<button type="submit">Log out</button></form></nav>`
    : '<nav aria-label="main"><a href="/login">Log in</a> · <a href="/signup">Sign up</a></nav>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} — ringvpn group server</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.4}
label{display:block;margin-top:.6rem}input,textarea,select{font:inherit;padding:.3rem;min-width:20rem}input[type=checkbox]{min-width:0;margin-right:.4rem}button{font:inherit;margin-top:.6rem;padding:.3rem .8rem}
.inline{display:inline}.inline button{margin:0 0 0 .5rem}table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #ccc;padding:.3rem;text-align:left;vertical-align:top}
[role=alert]{border:2px solid #b00;background:#fee;padding:.6rem}.notice{border:2px solid #070;background:#efe;padding:.6rem}code,pre{background:#f4f4f4;padding:.1rem .3rem;overflow-wrap:anywhere;white-space:pre-wrap}</style>
</head><body><header><strong>ringvpn group server</strong> ${nav}</header><main>
<h1>${esc(title)}</h1>
${o.error ? `<div role="alert">${esc(o.error)}</div>` : ''}${o.notice ? `<div class="notice" role="status">${esc(o.notice)}</div>` : ''}
${body}
</main></body></html>`;
}

export const csrfField = (token?: string): string => (token ? `<input type="hidden" name="_csrf" value="${esc(token)}">` : '');

export function signupPage(csrf: string, error: string | null, email = '', name = ''): string {
  return layout('Sign up', `<form method="post" action="/signup">${csrfField(csrf)}
<label for="email">E-mail</label><input id="email" name="email" type="email" autocomplete="email" required value="${esc(email)}">
<label for="name">Your name</label><input id="name" name="name" autocomplete="name" required value="${esc(name)}">
<label for="password">Password (at least 10 characters)</label><input id="password" name="password" type="password" autocomplete="new-password" required minlength="10">
<button type="submit">Create account</button></form><p>Have an account? <a href="/login">Log in</a>.</p>`, { csrf, error });
}

export function loginPage(csrf: string, error: string | null, email = ''): string {
  return layout('Log in', `<form method="post" action="/login">${csrfField(csrf)}
<label for="email">E-mail</label><input id="email" name="email" type="email" autocomplete="username" required value="${esc(email)}">
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Log in</button></form><p>No account? <a href="/signup">Sign up</a>.</p>`, { csrf, error });
}

export interface GroupRow { group: Group; request: JoinRequest | null; admin: boolean }

export function groupsPage(user: User, csrf: string, rows: GroupRow[], o: { error?: string | null; notice?: string | null } = {}): string {
  const list = rows.length ? `<table><caption>Groups on this server</caption><thead><tr><th scope="col">Group</th><th scope="col">About</th><th scope="col">You</th><th scope="col">Actions</th></tr></thead><tbody>
${rows.map(({ group: g, request: r, admin }) => `<tr><td>${esc(g.name)}</td><td>${esc(g.description)}<br><small>subnet ${esc(g.subnet)}${g.auto_approve ? '; requests approved automatically' : ''}</small></td>
<td>${r ? esc(r.state === 'approved' ? 'member' : r.state === 'pending' ? 'request pending' : r.state === 'revoked' ? 'membership withdrawn (your node was revoked)' : 'request denied') : 'not a member'}</td>
<td>${r?.state === 'approved' ? `<form method="post" action="/groups/${esc(g.name)}/join-code" class="inline">${csrfField(csrf)}<button type="submit">Get a join code</button></form>` : r?.state === 'pending' ? '' : `<a href="/groups/${esc(g.name)}/request">Request to join</a>`}
${admin ? ` <a href="/groups/${esc(g.name)}/admin">Administer</a>` : ''}</td></tr>`).join('\n')}</tbody></table>` : '<p>No groups yet.</p>';
  const create = user.is_admin ? `<h2>Create a group</h2><form method="post" action="/groups">${csrfField(csrf)}
<label for="g-name">Name (letters, digits, . _ -)</label><input id="g-name" name="name" required pattern="[A-Za-z0-9._-]{1,64}">
<label for="g-desc">Description</label><input id="g-desc" name="description">
<label for="g-subnet">Subnet</label><input id="g-subnet" name="subnet" value="10.129.0.0/16" required>
<label for="g-boot">Bootstrap members (host:port, space-separated)</label><input id="g-boot" name="bootstrap">
<label for="g-days">Certificates last (days)</label><input id="g-days" name="days" type="number" min="1" max="3650" value="30">
<label><input type="checkbox" name="auto" value="1"> Approve requests automatically (weakens revocation by broadcast: off unless you need it)</label>
<button type="submit">Create group</button></form>` : '';
  return layout('Groups', list + create, { user, csrf, ...o });
}

export function requestPage(user: User, csrf: string, g: Group, error: string | null = null): string {
  return layout(`Request to join ${g.name}`, `<p>${esc(g.description)}</p><form method="post" action="/groups/${esc(g.name)}/request">${csrfField(csrf)}
<label for="reason">Why do you want to join? (the administrators read this)</label><textarea id="reason" name="reason" rows="4" required maxlength="1000"></textarea>
<button type="submit">Send request</button></form>`, { user, csrf, error });
}

export function joinCodePage(user: User, csrf: string, g: Group, code: string, expires: number): string {
  return layout(`Join code for ${g.name}`, `<p>On the machine that joins, as root, run:</p>
<pre id="join-command">ringvpn join ${esc(code)}</pre>
<p>It makes the node's keys, enrols it and writes its config. The code works once, until ${esc(when(expires))}; it pins this server's certificate, so keep it to yourself.</p>`, { user, csrf });
}

export interface AdminView { group: Group; admins: string[]; pending: (JoinRequest & { email: string; user_name: string })[]; members: (Member & { email: string | null })[]; tokens: Token[] }

export function adminPage(user: User, csrf: string, v: AdminView, o: { error?: string | null; notice?: string | null; newToken?: string | null } = {}): string {
  const g = v.group;
  const pending = v.pending.length ? `<table><caption>Pending requests</caption><thead><tr><th scope="col">Who</th><th scope="col">Reason</th><th scope="col">Asked</th><th scope="col">Decision</th></tr></thead><tbody>
${v.pending.map((r) => `<tr><td>${esc(r.user_name)} &lt;${esc(r.email)}&gt;</td><td>${esc(r.reason)}</td><td>${esc(when(r.created_at))}</td>
<td><form method="post" action="/requests/${esc(r.id)}/approve" class="inline">${csrfField(csrf)}<button type="submit" aria-label="Approve ${esc(r.email)}">Approve</button></form>
<form method="post" action="/requests/${esc(r.id)}/deny" class="inline">${csrfField(csrf)}<button type="submit" aria-label="Deny ${esc(r.email)}">Deny</button></form></td></tr>`).join('\n')}</tbody></table>` : '<p>No pending requests.</p>';
  const members = v.members.length ? `<table><caption>Members</caption><thead><tr><th scope="col">Node</th><th scope="col">Address</th><th scope="col">Node id</th><th scope="col">Who</th><th scope="col">Last renewal</th><th scope="col">Certificate until</th><th scope="col"></th></tr></thead><tbody>
${v.members.map((m) => `<tr><td>${esc(m.name)}</td><td>${esc(m.address)}</td><td><code>${esc(m.node_id)}</code></td><td>${esc(m.email ?? 'join token')}</td><td>${esc(when(m.renewed_at))}</td><td>${esc(when(m.not_after))}</td>
<td>${m.revoked_at ? `revoked ${esc(when(m.revoked_at))}` : `<form method="post" action="/members/${esc(m.node_id)}/revoke" class="inline">${csrfField(csrf)}<button type="submit" aria-label="Revoke ${esc(m.name)} (${esc(m.address)})">Revoke</button></form>`}</td></tr>`).join('\n')}</tbody></table>` : '<p>No members yet.</p>';
  const tokens = `<h2>Join tokens</h2>${o.newToken ? `<div class="notice" role="status">New join code (shown once): <pre id="new-token">ringvpn join ${esc(o.newToken)}</pre></div>` : ''}
${v.tokens.length ? `<table><caption>Tokens</caption><thead><tr><th scope="col">Id</th><th scope="col">For</th><th scope="col">Uses left</th><th scope="col">Expires</th><th scope="col"></th></tr></thead><tbody>
${v.tokens.map((t) => `<tr><td>${esc(t.id.slice(0, 8))}</td><td>${t.user_id ? 'an approved member' : 'anyone holding it'}</td><td>${esc(t.uses_left)}</td><td>${esc(when(t.expires_at))}</td>
<td>${t.revoked ? 'withdrawn' : t.uses_left <= 0 ? 'used up' : `<form method="post" action="/tokens/${esc(t.id)}/revoke" class="inline">${csrfField(csrf)}<button type="submit">Withdraw</button></form>`}</td></tr>`).join('\n')}</tbody></table>` : ''}
<form method="post" action="/groups/${esc(g.name)}/tokens">${csrfField(csrf)}
<label for="t-uses">Uses</label><input id="t-uses" name="uses" type="number" min="1" max="1000" value="1">
<label for="t-hours">Valid for (hours)</label><input id="t-hours" name="hours" type="number" min="1" max="8760" value="24">
<button type="submit">Create a join token</button></form>`;
  const admins = `<h2>Administrators</h2><p>${v.admins.map(esc).join(', ')} (and the server's administrators)</p>
<form method="post" action="/groups/${esc(g.name)}/admins">${csrfField(csrf)}
<label for="a-email">Add an administrator (the e-mail address of an account)</label><input id="a-email" name="email" type="email" required>
<button type="submit">Add administrator</button></form>`;
  const auto = `<h2>Settings</h2><form method="post" action="/groups/${esc(g.name)}/auto-approve">${csrfField(csrf)}
<label><input type="checkbox" name="auto" value="1"${g.auto_approve ? ' checked' : ''}> Approve requests automatically</label><button type="submit">Save</button></form>`;
  return layout(`Administer ${g.name}`, `<p>${esc(g.description)} — subnet ${esc(g.subnet)}; CRL at <a href="/api/v1/groups/${esc(g.name)}/crl">/api/v1/groups/${esc(g.name)}/crl</a></p>${pending}${members}${tokens}${admins}${auto}`, { user, csrf, ...o });
}
