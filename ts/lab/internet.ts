// Owns a lab's "Internet" for full-tunnel labs, tests and benchmarks: a namespace with a bridge holding the
// server's addresses (IPv4 and IPv6) and one uplink per gateway member (a veth whose end in the gateway's
// namespace is `up0`), optionally the servers of ts/lab/internet-origin.ts. It has no route back to the
// virtual subnet, so what reaches it from members was masqueraded by a gateway. It must not start daemons.
import { join } from 'node:path';
import { Netns, type NsProcess } from './netns.js';
import { sleep } from './util.js';
import { repoRoot } from '../paths.js';

export const INTERNET_SERVER = '198.51.100.1';
export const INTERNET_SERVER6 = '2001:db8:2::1';
/** The uplink interface a gateway member gets (its config's gateway.uplink). */
export const UPLINK_DEV = 'up0';
/** The address of gateway k's uplink. */
export const uplinkAddress = (k: number): string => `198.51.100.${k + 2}`;

export class Internet {
  private origin: NsProcess | null = null;
  /** what the origin servers printed (one JSON line per request) */
  originLog = '';

  private constructor(readonly ns: Netns) {}

  /** The Internet namespace `rvinet-<name>`, with an uplink into each gateway's namespace (gateway k: uplinkAddress(k)). */
  static async up(name: string, gateways: Netns[]): Promise<Internet> {
    const ns = await Netns.create(`rvinet-${name}`);
    try {
      await ns.ip(['link', 'add', 'ibr', 'type', 'bridge']);
      await ns.exec('sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=0']);
      await ns.ip(['addr', 'add', `${INTERNET_SERVER}/24`, 'dev', 'ibr']);
      await ns.ip(['-6', 'addr', 'add', `${INTERNET_SERVER6}/64`, 'dev', 'ibr', 'nodad']);
      await ns.ip(['link', 'set', 'ibr', 'up']);
      for (const [k, g] of gateways.entries()) {
        await g.ip(['link', 'add', UPLINK_DEV, 'type', 'veth', 'peer', 'name', `u${k}`, 'netns', ns.name]);
        await g.ip(['addr', 'add', `${uplinkAddress(k)}/24`, 'dev', UPLINK_DEV]);
        await g.ip(['link', 'set', UPLINK_DEV, 'up']);
        await ns.ip(['link', 'set', `u${k}`, 'master', 'ibr', 'up']);
      }
    } catch (e) {
      await ns.destroy();
      throw e;
    }
    return new Internet(ns);
  }

  /** Start the HTTP (port 8080) and DNS (53) servers of ts/lab/internet-origin.ts; resolves once they listen. */
  async serve(): Promise<void> {
    const tsx = join(repoRoot, 'node_modules/tsx/dist/esm/index.mjs');
    const p = this.ns.spawn(process.execPath, ['--import', tsx, join(repoRoot, 'ts/lab/internet-origin.ts'), '0.0.0.0', '8080'], { pipe: true, cwd: repoRoot });
    this.origin = p;
    p.child.stdout?.on('data', (b: Buffer) => { this.originLog += b.toString(); });
    for (let i = 0; i < 150 && !this.originLog.includes('listening'); i++) {
      if (p.hasExited()) break;
      await sleep(100);
    }
    if (!this.originLog.includes('listening')) throw new Error('the Internet servers did not start (ts/lab/internet-origin.ts)');
  }

  async down(): Promise<void> {
    await this.origin?.kill();
    await this.ns.destroy();
  }
}
