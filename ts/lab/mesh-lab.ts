// Owns a lab of real `ringvpn up` processes, one per namespace on a switched LAN, fully meshed by config.
// It must not reach into a daemon's memory: it talks to each node only through files, signals and
// the control socket, exactly as an operator would.
import { chownSync, mkdtempSync, statSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, encodeKey, type KeyPair } from '../config/keys.js';
import type { ConfigInput } from '../config/schema.js';
import { requestControl } from '../runtime/control.js';
import type { Netns, NsProcess } from './netns.js';
import { Lan } from './bridge.js';
import { ringvpnArgv } from '../paths.js';
import { errors } from '../base/errors.js';
import { sleep } from './util.js';
import { setprivArgs } from './systemd-unit.js';


export interface LabNode {
  index: number;
  ns: Netns;
  underlay: string;
  vip: string;
  keys: KeyPair;
  configPath: string;
  socket: string;
  proc: NsProcess | undefined;
  log: string[];
}

export interface MeshLabOptions {
  mode?: 'tap' | 'tun';
  prefix?: string;
  /** Edit each node's config before it is written (e.g. to give a peer a wrong key). */
  edit?: (cfg: ConfigInput, index: number) => void;
  /** The underlay's MTU (default 1500). */
  underlayMtu?: number;
}

export class MeshLab {
  private constructor(readonly lan: Lan, readonly nodes: LabNode[], readonly dir: string) {}

  static async create(n: number, opts: MeshLabOptions = {}): Promise<MeshLab> {
    const underlays = Array.from({ length: n }, (_, i) => `10.200.0.${i + 1}/24`);
    const lan = await Lan.create(opts.prefix ?? 'rvt', underlays, opts.underlayMtu);
    const dir = mkdtempSync(join(tmpdir(), 'ringvpn-lab-'));
    const keys = underlays.map(() => generateKeyPair());
    const nodes: LabNode[] = underlays.map((u, i) => {
      const vip = `10.99.0.${i + 1}`;
      const cfg: ConfigInput = {
        privateKey: encodeKey(keys[i]!.privateKey),
        address: `${vip}/24`,
        device: { mode: opts.mode ?? 'tap', name: 'rv0', mtu: 1420 },
        listenPort: 51820,
        controlSocket: join(dir, `node${i}.sock`),
        peers: underlays.flatMap((pu, j) => j === i ? [] : [{
          name: `node${j}`, publicKey: encodeKey(keys[j]!.publicKey),
          endpoint: `${pu.split('/')[0]}:51820`, address: `10.99.0.${j + 1}`,
        }]),
        log: { level: 'info' },
      };
      opts.edit?.(cfg, i);
      const configPath = join(dir, `node${i}.json`);
      writeFileSync(configPath, JSON.stringify(cfg, null, 2), { mode: 0o600 });
      return { index: i, ns: lan.host(i), underlay: u.split('/')[0]!, vip, keys: keys[i]!, configPath, socket: cfg.controlSocket!, proc: undefined, log: [] };
    });
    return new MeshLab(lan, nodes, dir);
  }

  node(i: number): LabNode {
    const n = this.nodes[i];
    if (!n) throw errors.E_LAB_ARGS(`no node ${i}`);
    return n;
  }

  /**
   * Starts `ringvpn up` in node i's namespace and waits until its control socket answers. With `asUser`,
   * the daemon runs as that uid (and gid) holding only CAP_NET_ADMIN (setpriv, ambient), as a systemd
   * unit with AmbientCapabilities would: the lab's directory becomes that user's. `wrap` is a command
   * prefix that runs the daemon (e.g. `ringvpn-refuse --tun-offload --`).
   */
  async start(i: number, timeoutMs = 20000, o: { asUser?: number; wrap?: string[] } = {}): Promise<void> {
    const n = this.node(i);
    const [cmd, ...args] = ringvpnArgv;
    let argv = [...(o.wrap ?? []), cmd!, ...args, 'up', '--config', n.configPath];
    if (o.asUser !== undefined) {
      chownSync(this.dir, o.asUser, o.asUser);
      chownSync(n.configPath, o.asUser, o.asUser);
      argv = [...setprivArgs({ user: String(o.asUser), bounding: ['net_admin'], ambient: ['net_admin'], noNewPrivileges: false }), ...argv];
      // a distribution's /dev/net/tun is 0666 (the kernel checks CAP_NET_ADMIN); a container's may be 0600:
      // then the daemon gets a 0666 node of its own, in the private mount namespace `ip netns exec` made
      if ((statSync('/dev/net/tun').mode & 0o006) !== 0o006) {
        argv = ['sh', '-c', 'mount -t tmpfs -o mode=0755 tmpfs /dev/net && mknod -m 0666 /dev/net/tun c 10 200 && exec "$@"', 'sh', ...argv];
      }
    }
    const proc = n.ns.spawn(argv[0]!, argv.slice(1), { pipe: true });
    n.proc = proc;
    const keep = (b: Buffer): void => { n.log.push(...b.toString().split('\n').filter(Boolean)); if (n.log.length > 2000) n.log.splice(0, 1000); };
    proc.child.stdout?.on('data', keep);
    proc.child.stderr?.on('data', keep);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (proc.hasExited()) throw errors.E_LAB_START(`node${i} exited with ${await proc.exited}:\n${n.log.slice(-20).join('\n')}`);
      try {
        await requestControl(n.socket, { cmd: 'ping' }, 1000);
        return;
      } catch {
        if (Date.now() > deadline) throw errors.E_LAB_START(`node${i} did not come up within ${timeoutMs} ms:\n${n.log.slice(-20).join('\n')}`);
        await sleep(100);
      }
    }
  }

  /** Signals node i's daemon (SIGTERM escalates to SIGKILL after 2 s) and waits until it exits. */
  async stop(i: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const n = this.node(i);
    await n.proc?.kill(signal);
    n.proc = undefined;
  }

  status(i: number): Promise<LabStatus> {
    return requestControl(this.node(i).socket, { cmd: 'status' }) as Promise<LabStatus>;
  }

  /** Waits until node i has a session with every peer (or with the listed peers). */
  async waitForSessions(i: number, timeoutMs = 15000, peers?: string[]): Promise<LabStatus> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.status(i);
      const want = s.peers.filter((p) => !peers || peers.includes(p.name));
      if (want.every((p) => p.lastHandshakeAgoMs !== null)) return s;
      if (Date.now() > deadline) throw errors.E_LAB_TIMEOUT(`node${i}: no session with ${want.filter((p) => p.lastHandshakeAgoMs === null).map((p) => p.name).join(', ')} after ${timeoutMs} ms`);
      await sleep(100);
    }
  }

  async destroy(): Promise<void> {
    for (const n of this.nodes) await this.stop(n.index).catch(() => undefined);
    await this.lan.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface LabStatus {
  peers: Array<{ name: string; endpoint: string | null; lastHandshakeAgoMs: number | null; handshakes: number; dataplane: Record<string, number> | null }>;
  drops: Record<string, number>;
  /** the data plane's counters (numbers) and what the kernel accepted (`offloads` flags, `udpGro`) */
  counters: Record<string, number | boolean>;
  handshakeRejected: Record<string, number>;
}
