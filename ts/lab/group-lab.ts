// Owns a private group enrolled through the group server, in namespaces (the demo's last part): the
// server runs in its own namespace on a switch; an administrator signs up on its pages, creates the
// group and a join token for the machines there (over pinned HTTPS, from member1's namespace through a
// relay); each member namespace runs `ringvpn join` with the join code the page showed and
// `ringvpn up` with the config it wrote. It must talk to the server and the daemons only as an operator
// would (HTTPS, the command line, control sockets), and remove everything it made.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errors } from '../base/errors.js';
import { Lan } from './bridge.js';
import type { Netns, NsProcess } from './netns.js';
import { ringvpnArgv } from '../paths.js';
import { requestControl } from '../runtime/control.js';
import { pinnedRequest, type PinnedOptions } from '../group/pinned.js';
import { decodeJoinCode } from '../group/join-code.js';
import { sleep } from './util.js';

export const GROUP_SERVER_URL = 'https://10.200.0.1:8443';

export interface GroupLabMember { index: number; name: string; address: string; socket: string }

/**
 * `ringvpn join <code>` in `ns` into `dir`, then the lab's two edits of the config it wrote: a control
 * socket of its own (the namespaces share one file system) and, for the group's bootstrap member, no
 * bootstrap (the group lists the member itself). Returns the config file and join's output.
 */
export async function joinMember(ns: Netns, code: string, dir: string, name: string, socket: string, isBootstrap: boolean): Promise<{ configFile: string; code: number; stdout: string; stderr: string }> {
  const [cmd, ...args] = ringvpnArgv;
  const r = await ns.exec(cmd!, [...args, 'join', code, '--dir', dir, '--name', name], { allowFail: true });
  const configFile = join(dir, 'config.json');
  if (r.code === 0) {
    const cfg = JSON.parse(readFileSync(configFile, 'utf8')) as { controlSocket?: string; overlay: { bootstrap: string[] } };
    cfg.controlSocket = socket;
    if (isBootstrap) cfg.overlay.bootstrap = [];
    writeFileSync(configFile, JSON.stringify(cfg, null, 2));
  }
  return { configFile, code: r.code, stdout: r.stdout, stderr: r.stderr };
}

const unescape = (t: string): string => t.replace(/&(amp|lt|gt|quot|#39);/g, (_m, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e]!);

/**
 * An operator's browser, reduced to what the group server's pages need: pinned HTTPS, a cookie jar,
 * and forms posted with the CSRF token of the form as the page showed it. Every failure is
 * E_GROUP_REFUSED naming the step and quoting the page's error box (or E_GROUP_PIN / E_GROUP_UNREACHABLE).
 */
export class WebSession {
  private readonly cookies = new Map<string, string>();
  constructor(readonly url: string, readonly pin: string, private readonly via: PinnedOptions = {}) {}

  /** GET `path`, following redirects: the page's HTML. */
  get(path: string, step: string): Promise<string> { return this.load('GET', path, undefined, step); }

  /** Fill in the form that page `page` shows posting to `action`, submit it: the HTML of the answer. */
  async submit(page: string, action: string, fields: Record<string, string>, step: string): Promise<string> {
    const html = await this.get(page, step);
    const at = html.indexOf(`<form method="post" action="${action}"`);
    const csrf = at < 0 ? undefined : /name="_csrf" value="([^"]+)"/.exec(html.slice(at, html.indexOf('</form>', at)))?.[1];
    if (!csrf) throw errors.E_GROUP_REFUSED(`${step}: the page ${page} ("${WebSession.title(html)}") shows no form posting to ${action}${WebSession.alert(html) ? `; it says: ${WebSession.alert(html)}` : ''}`);
    return this.load('POST', action, new URLSearchParams({ ...fields, _csrf: unescape(csrf) }), step);
  }

  private async load(method: 'GET' | 'POST', path: string, form: URLSearchParams | undefined, step: string): Promise<string> {
    for (let hops = 0; hops < 5; hops++) {
      const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
      const r = await pinnedRequest(this.url, this.pin, method, path, form, { ...this.via, headers: cookie ? { cookie } : {} });
      for (const c of r.headers['set-cookie'] ?? []) {
        const kv = c.split(';')[0]!, i = kv.indexOf('=');
        if (kv.slice(i + 1)) this.cookies.set(kv.slice(0, i), kv.slice(i + 1)); else this.cookies.delete(kv.slice(0, i));
      }
      const where = r.headers.location;
      if (r.status >= 300 && r.status < 400 && where) { method = 'GET'; path = where; form = undefined; continue; }
      const said = WebSession.alert(r.text);
      if (r.status !== 200 || said) throw errors.E_GROUP_REFUSED(`${step}: ${method} ${path} answered HTTP ${r.status}${said ? `: ${said}` : ''}`);
      return r.text;
    }
    throw errors.E_GROUP_REFUSED(`${step}: too many redirects (last to ${path})`);
  }

  /** the text of the page's error box, or '' */
  static alert(html: string): string { return unescape(/<div role="alert">([\s\S]*?)<\/div>/.exec(html)?.[1]?.trim() ?? ''); }
  static title(html: string): string { return unescape(/<h1>([\s\S]*?)<\/h1>/.exec(html)?.[1]?.trim() ?? ''); }
}

export interface PageSetup { admin: { email: string; name: string; password: string }; group: { name: string; description: string; subnet: string; bootstrap: string[]; days: number }; machines: number; hours: number }

/**
 * What the first administrator does on a new group server's pages: sign up (the first account is the
 * server's administrator), create the group, create a join token for `machines` machines on the
 * group's page. Returns the join code the page shows (checked to pin the same certificate).
 */
export async function setUpThroughPages(web: WebSession, o: PageSetup): Promise<string> {
  const g = o.group;
  const groups = await web.submit('/signup', '/signup', { email: o.admin.email, name: o.admin.name, password: o.admin.password }, 'signing up the first account');
  if (!groups.includes('(server administrator)')) throw errors.E_GROUP_REFUSED(`signing up the first account: ${o.admin.email} is not the server administrator (the server had accounts already)`);
  await web.submit('/groups', '/groups', { name: g.name, description: g.description, subnet: g.subnet, bootstrap: g.bootstrap.join(' '), days: String(g.days) }, `creating group ${g.name}`);
  const page = await web.submit(`/groups/${g.name}/admin`, `/groups/${g.name}/tokens`, { uses: String(o.machines), hours: String(o.hours) }, `creating a join token on ${g.name}'s page`);
  const code = /<pre id="new-token">ringvpn join ([^<\s]+)<\/pre>/.exec(page)?.[1];
  const d = code ? decodeJoinCode(unescape(code)) : null;
  if (!d?.ok || d.code.pin !== web.pin || d.code.group !== g.name) {
    throw errors.E_GROUP_REFUSED(`creating a join token on ${g.name}'s page: ${!d ? 'the page shows no join code' : !d.ok ? `the code it shows is not a join code: ${d.why}` : 'the code it shows is for another certificate or group'}`);
  }
  return unescape(code!);
}

/** A relay in `ns`: connections to the Unix socket `sock` (a file, seen from every namespace) go on to host:port. */
function relay(ns: Netns, sock: string, host: string, port: number, logFile: string): NsProcess {
  const js = `const net = require('node:net'); const [sock, host, port] = process.argv.slice(1);
net.createServer((c) => { const s = net.connect(Number(port), host); c.pipe(s).pipe(c); s.on('error', () => c.destroy()); c.on('error', () => s.destroy()); }).listen(sock);`;
  return ns.spawn(process.execPath, ['-e', js, sock, host, String(port)], { logFile });
}

/** Wait for `test` (true, or the value it finds), up to `ms`; null if it never came or `gone` says the process died. */
async function until<T>(test: () => T | null | false, ms: number, gone: () => boolean): Promise<T | null> {
  for (const end = Date.now() + ms; Date.now() < end && !gone(); await sleep(100)) {
    const v = test();
    if (v) return v;
  }
  return test() || null;
}

export class GroupLab {
  private constructor(readonly lan: Lan, readonly dir: string, private readonly procs: NsProcess[], readonly members: GroupLabMember[], readonly admin: { email: string; password: string }) {}

  /** Server, group and `n` members that joined with a machine token; resolves once every member has its address. */
  static async up(n: number, say: (line: string) => void): Promise<GroupLab> {
    const lan = await Lan.create('rvgl', Array.from({ length: n + 1 }, (_, i) => `10.200.0.${i + 1}/24`));
    const dir = mkdtempSync(join(tmpdir(), 'rvgl-'));
    const procs: NsProcess[] = [];
    const [cmd, ...args] = ringvpnArgv;
    const lab = new GroupLab(lan, dir, procs, [], { email: 'admin@demo.example', password: randomBytes(9).toString('base64url') });
    try {
      const srvDir = join(dir, 'srv'), log = join(dir, 'server.log');
      const sock = (i: number): string => join(dir, `member${i}.sock`);
      // a new, empty server; its certificate is made on this first start and its pin printed in the log, as an operator sees it
      const srv = lan.host(0).spawn(cmd!, [...args, 'group-server', '--dir', srvDir, '--listen', '10.200.0.1:8443', '--url', GROUP_SERVER_URL, '--publish', `demo=${sock(1)}`], { logFile: log });
      procs.push(srv);
      const pin = await until(() => existsSync(log) && /certificate SHA-256 ([0-9a-f]{64})/.exec(readFileSync(log, 'utf8'))?.[1], 30_000, () => srv.hasExited());
      if (!pin) throw errors.E_LAB_START(`group server did not start (log ${log}): ${srv.tail(5)}`);
      say(`group server at ${GROUP_SERVER_URL} in namespace ${lan.host(0).name}; its log: certificate SHA-256 ${pin.slice(0, 16)}…`);
      // the administrator's browser on member1's machine: this process reaches the server's address through a relay in that namespace
      const web = relay(lan.host(1), join(dir, 'web.sock'), '10.200.0.1', 8443, join(dir, 'relay.log'));
      procs.push(web);
      if (!(await until(() => existsSync(join(dir, 'web.sock')), 10_000, () => web.hasExited()))) throw errors.E_LAB_START(`the relay into ${lan.host(1).name} did not start: ${web.tail(5)}`);
      const code = await setUpThroughPages(new WebSession(GROUP_SERVER_URL, pin, { socketPath: join(dir, 'web.sock') }), {
        admin: { ...lab.admin, name: 'Demo admin' },
        group: { name: 'demo', description: 'a private group enrolled through the group server', subnet: '10.132.0.0/24', bootstrap: ['10.200.0.2:51820'], days: 30 },
        machines: n, hours: 1,
      });
      await web.kill();
      say(`on its pages (from ${lan.host(1).name}): signed up ${lab.admin.email} (the server administrator, password ${lab.admin.password}), created group demo (10.132.0.0/24), made a join token for ${n} machines`);
      for (let i = 1; i <= n; i++) {
        const r = await joinMember(lan.host(i), code, join(dir, `member${i}`), `member${i}`, sock(i), i === 1);
        if (r.code !== 0) throw errors.E_LAB_START(`member${i}: ringvpn join failed: ${r.stderr.trim() || r.stdout.trim()}`);
        say(`member${i}: ringvpn join -> ${r.stdout.split('\n').find((l) => l.startsWith('enrolled')) ?? r.stdout.trim()}`);
        procs.push(lan.host(i).spawn(cmd!, [...args, 'up', '--config', r.configFile], { logFile: join(dir, `member${i}.log`) }));
      }
      for (let i = 1; i <= n; i++) {
        let address: string | null = null;
        for (let k = 0; k < 150 && !address; k++) {
          try { address = (await requestControl(sock(i), { cmd: 'status' }, 2000) as { address: string | null }).address; } catch { /* starting */ }
          if (!address) await sleep(200);
        }
        if (!address) throw errors.E_LAB_START(`member${i} did not take its certified address (log: ${join(dir, `member${i}.log`)})`);
        lab.members.push({ index: i, name: `member${i}`, address, socket: sock(i) });
      }
      return lab;
    } catch (e) {
      await lab.down();
      throw e;
    }
  }

  /** Stop the daemons and the server, remove the namespaces and files. */
  async down(): Promise<void> {
    for (const p of this.procs.reverse()) await p.kill().catch(() => undefined);
    await this.lan.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
