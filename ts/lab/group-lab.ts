// Owns a private group enrolled through the group server, in namespaces (the demo's last part): the
// server runs in its own namespace on a switch with an administrator, a group and a machine token made
// in its database; each member namespace runs `ringvpn join` with the token and `ringvpn up` with the
// config it wrote. It must talk to the server and the daemons only as an operator would (HTTPS, the
// command line, control sockets), and remove everything it made.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errors } from '../base/errors.js';
import { Lan } from './bridge.js';
import type { Netns, NsProcess } from './netns.js';
import { ringvpnArgv } from '../paths.js';
import { requestControl } from '../runtime/control.js';
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
      // the server's database, as its first administrator would leave it: an account, a group, a token for the machines
      const { openGroupStore } = await import('../group/store.js');
      const { Enrolment } = await import('../group/enrolment.js');
      const { hashPassword } = await import('../group/passwords.js');
      const { loadOrCreateWebCert } = await import('../group/web-cert.js');
      const { encodeJoinCode } = await import('../group/join-code.js');
      const srvDir = join(dir, 'srv');
      const { store } = await openGroupStore(`sqlite:${srvDir}.db`);
      const admin = (await store.createUser(lab.admin.email, 'Demo admin', await hashPassword(lab.admin.password), Date.now()))!;
      const made = await new Enrolment(store, srvDir).createGroup({ name: 'demo', description: 'a private group enrolled through the group server', subnet: '10.132.0.0/24', bootstrap: ['10.200.0.2:51820'], autoApprove: false, certDays: 30 }, admin.id, Date.now());
      if (!made.ok) throw errors.E_LAB_START(`group server: ${made.message}`);
      const tok = await store.createToken({ group: 'demo', userId: null, expiresAt: Date.now() + 3600_000, uses: n, createdBy: admin.id }, Date.now());
      await store.db.close();
      const web = await loadOrCreateWebCert(srvDir, '10.200.0.1');
      const code = encodeJoinCode({ url: GROUP_SERVER_URL, pin: web.pin, group: 'demo', token: tok.secret });
      const sock = (i: number): string => join(dir, `member${i}.sock`);
      const srv = lan.host(0).spawn(cmd!, [...args, 'group-server', '--dir', srvDir, '--db', `sqlite:${srvDir}.db`, '--listen', '10.200.0.1:8443', '--url', GROUP_SERVER_URL, '--publish', `demo=${sock(1)}`], { logFile: join(dir, 'server.log') });
      procs.push(srv);
      for (let k = 0; k < 100 && !readFileSync(join(dir, 'server.log'), 'utf8').includes('group server at'); k++) await sleep(100);
      say(`group server at ${GROUP_SERVER_URL} in namespace ${lan.host(0).name} (administrator ${lab.admin.email}, password ${lab.admin.password}); certificate SHA-256 ${web.pin.slice(0, 16)}…`);
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
