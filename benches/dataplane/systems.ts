// systems.ts — owns one entry per measured system: how to configure and start it between two namespaces, and its inner addresses.
// Must not create/delete namespaces or run measurement tools (netns.ts / tools.ts do), nor touch anything outside the given namespaces and temp dir.
// Every process a system starts is spawned through Netns.spawn, so destroying the namespaces stops it.

import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import type { Netns, NsProcess } from '../../ts/lab/netns.js';
import { ensurePeer, PEER_VERSIONS } from '../attack/peers.js';

/** Common settings, identical for every VPN where the tool allows. */
export const TUN_MTU = 1420;
export const SOCK_BUF = 7 * 1024 * 1024; // 7 MiB socket buffers (clamped by net.core.[rw]mem_max)

/** The two namespaces and the veth underlay, as handed to a system. */
export interface Pair {
  a: Netns; // client side (runs iperf3 -c / netperf)
  b: Netns; // server side (runs iperf3 -s / netserver)
  underA: string; // underlay address of a, e.g. 10.0.0.1
  underB: string;
  suffix: string; // random suffix, for names that must be unique host-wide
  dir: string; // temp dir for this system instance
}

export interface Running {
  /** Address of b inside the tunnel; the tools connect to it from a. */
  innerB: string;
  /** VPN processes per node (RSS is summed over these and their descendants). */
  procsA: NsProcess[];
  procsB: NsProcess[];
  /** What was actually configured/negotiated (cipher, MTU, buffers), for the report. */
  notes: string;
}

export interface System {
  id: string;
  label: string;
  /** null when the system can run here, else the reason it cannot. */
  available(): Promise<string | null>;
  start(p: Pair): Promise<Running>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function sh(cmd: string, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { cwd: opts.cwd, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 16 << 20 }, (err, out, errOut) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${String(errOut).trim().slice(-400) || err.message}`));
      else resolve(String(out));
    }),
  );
}

async function which(bin: string): Promise<string | null> {
  try {
    await sh('sh', ['-c', `command -v ${bin}`]);
    return null;
  } catch {
    return `${bin} not found in PATH`;
  }
}

/** Wait until `check()` is true, failing early (with the log tail) if any of `procs` exits. */
async function waitFor(what: string, check: () => boolean | Promise<boolean>, procs: NsProcess[], timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const p of procs) {
      if (p.hasExited()) throw new Error(`${what}: process exited early (${await p.exited}): ${p.tail(6).replace(/\s+/g, ' ').slice(-600)}`);
    }
    if (await check()) return;
    if (Date.now() > deadline) {
      const tails = procs.map((p) => p.tail(4).replace(/\s+/g, ' ')).join(' | ');
      throw new Error(`${what}: timed out after ${timeoutMs} ms; ${tails.slice(-600)}`);
    }
    await sleep(200);
  }
}

const logHas = (p: NsProcess, re: RegExp) => () => re.test(p.logFile ? safeRead(p.logFile) : '');
function safeRead(f: string): string {
  try {
    return readFileSync(f, 'utf8');
  } catch {
    return '';
  }
}

// ---------------------------------------------------------------------------------------------
// raw veth

export const raw: System = {
  id: 'raw',
  label: 'raw veth',
  available: async () => null,
  start: async (p) => ({ innerB: p.underB, procsA: [], procsB: [], notes: 'no VPN; veth MTU 1500, kernel offloads on' }),
};

// ---------------------------------------------------------------------------------------------
// OpenVPN 2.6, point-to-point TLS with a generated CA (EC P-256), userspace data channel (DCO off)

let pkiPromise: Promise<string> | null = null;
/** Generate a throwaway CA + server/client certs once per invocation, under `root`. */
export function ensurePki(root: string): Promise<string> {
  pkiPromise ??= (async () => {
    const d = join(root, 'openvpn-pki');
    mkdirSync(d, { recursive: true });
    const o = (args: string[]) => sh('openssl', args, { cwd: d });
    await o(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=rvb-ca']);
    for (const [n, usage] of [['server', 'serverAuth'], ['client', 'clientAuth']] as const) {
      writeFileSync(join(d, `${n}.ext`), `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyAgreement\nextendedKeyUsage=${usage}\n`);
      await o(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${n}.key`, '-out', `${n}.csr`, '-subj', `/CN=rvb-${n}`]);
      await o(['x509', '-req', '-in', `${n}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${n}.crt`, '-days', '2', '-extfile', `${n}.ext`]);
    }
    return d;
  })();
  return pkiPromise;
}

function openvpn(id: string, label: string, cipher: 'AES-256-GCM' | 'CHACHA20-POLY1305', pkiRoot: () => string): System {
  return {
    id,
    label,
    available: () => which('openvpn'),
    start: async (p) => {
      const pki = await ensurePki(pkiRoot());
      const inA = '10.98.0.1';
      const inB = '10.98.0.2';
      const common = (dev: string, local: string, remote: string, lIn: string, rIn: string) => [
        '--dev', dev, '--dev-type', 'tun', '--proto', 'udp', '--local', local, '--lport', '1194', '--remote', remote, '1194',
        '--ifconfig', lIn, rIn, '--tun-mtu', String(TUN_MTU),
        '--data-ciphers', cipher, '--data-ciphers-fallback', cipher,
        '--sndbuf', String(SOCK_BUF), '--rcvbuf', String(SOCK_BUF),
        '--disable-dco', '--ca', join(pki, 'ca.crt'), '--dh', 'none', '--verb', '3', '--mute-replay-warnings',
        '--ping', '5', '--ping-exit', '60',
      ];
      const la = join(p.dir, 'openvpn-a.log');
      const lb = join(p.dir, 'openvpn-b.log');
      const pb = p.b.spawn('openvpn', [
        ...common('ovpn0', p.underB, p.underA, inB, inA),
        '--tls-server', '--cert', join(pki, 'server.crt'), '--key', join(pki, 'server.key'), '--remote-cert-tls', 'client',
      ], { logFile: lb });
      const pa = p.a.spawn('openvpn', [
        ...common('ovpn0', p.underA, p.underB, inA, inB),
        '--tls-client', '--cert', join(pki, 'client.crt'), '--key', join(pki, 'client.key'), '--remote-cert-tls', 'server',
      ], { logFile: la });
      const done = /Initialization Sequence Completed/;
      await waitFor('openvpn handshake', () => logHas(pa, done)() && logHas(pb, done)(), [pa, pb], 30_000);
      const log = safeRead(la);
      const neg = /Data Channel: [Cc]ipher '([^']+)'/.exec(log)?.[1] ?? /NCP negotiation result: .*cipher=([\w-]+)/.exec(log)?.[1] ?? '?';
      if (neg !== cipher) throw new Error(`openvpn negotiated data cipher ${neg}, wanted ${cipher}`);
      const bufs = /Socket Buffers: R=\[[^\]]*->(\d+)\] S=\[[^\]]*->(\d+)\]/.exec(log);
      const bufNote = bufs ? `socket buffers requested ${SOCK_BUF} B, kernel reports R=${bufs[1]} S=${bufs[2]}` : `socket buffers requested ${SOCK_BUF} B`;
      return {
        innerB: inB,
        procsA: [pa],
        procsB: [pb],
        notes: `p2p TLS (EC P-256 CA, TLS 1.3 control channel), UDP, data cipher ${neg}, userspace (--disable-dco), tun-mtu ${TUN_MTU}, ${bufNote}`,
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// wireguard-go (userspace) configured with wg(8)

/** A WireGuard implementation run as `bin -f IFNAME` (plus `extra` arguments), configured with wg(8). */
function wireguardSystem(id: string, label: string, bin: () => Promise<string | null>, extra: string[], notes: string): System {
  let path = '';
  return {
    id,
    label,
    available: async () => {
      try { path = (await bin()) ?? ''; } catch (e) { return `${id}: ${(e as Error).message.split('\n')[0]}`; }
      return path ? (await which('wg')) : `${id} not available`;
    },
    start: async (p) => {
      // UAPI sockets live in /var/run/wireguard/<ifname>.sock on the shared filesystem: names must be unique
      // host-wide, and unlike the underlay veth (rvb<suffix>a/b, run.ts)
      const tag = id === 'wireguard-go' ? 'w' : id === 'boringtun' ? 't' : 'c';
      const ifA = `rv${tag}${p.suffix}a`;
      const ifB = `rv${tag}${p.suffix}b`;
      const inA = '10.96.0.1';
      const inB = '10.96.0.2';
      for (const [ns, ifn] of [[p.a, ifA], [p.b, ifB]] as const) {
        ns.onDestroy(() => rmSync(`/var/run/wireguard/${ifn}.sock`, { force: true }));
      }
      const env = { ...process.env, WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1', LOG_LEVEL: 'error', WG_SUDO: '1' };
      const pa = p.a.spawn(path, [...extra, '-f', ifA], { env, logFile: join(p.dir, `${id}-a.log`) });
      const pb = p.b.spawn(path, [...extra, '-f', ifB], { env, logFile: join(p.dir, `${id}-b.log`) });
      await waitFor(`${id} UAPI socket`, () => existsSync(`/var/run/wireguard/${ifA}.sock`) && existsSync(`/var/run/wireguard/${ifB}.sock`), [pa, pb]);
      const key = async (ns: Netns) => {
        const priv = (await ns.exec('wg', ['genkey'])).stdout.trim();
        const pub = (await ns.exec('sh', ['-c', `printf '%s\\n' '${priv}' | wg pubkey`])).stdout.trim();
        return { priv, pub };
      };
      const ka = await key(p.a);
      const kb = await key(p.b);
      const setup = async (ns: Netns, ifn: string, me: { priv: string }, peer: { pub: string }, inMe: string, inPeer: string, peerUnder: string, who: string) => {
        const kf = join(p.dir, `${id}-${who}.key`);
        writeFileSync(kf, me.priv + '\n', { mode: 0o600 });
        await ns.exec('wg', ['set', ifn, 'listen-port', '51820', 'private-key', kf, 'peer', peer.pub, 'endpoint', `${peerUnder}:51820`, 'allowed-ips', `${inPeer}/32`]);
        await ns.ip(['addr', 'add', `${inMe}/24`, 'dev', ifn]);
        await ns.ip(['link', 'set', ifn, 'mtu', String(TUN_MTU), 'up']);
      };
      await setup(p.a, ifA, ka, kb, inA, inB, p.underB, 'a');
      await setup(p.b, ifB, kb, ka, inB, inA, p.underA, 'b');
      return { innerB: inB, procsA: [pa], procsB: [pb], notes: `${notes}, MTU ${TUN_MTU}` };
    },
  };
}

/** Debian's wireguard-go package (2022, no GSO/GRO). */
export const wireguardGo: System = wireguardSystem('wireguard-go', 'wireguard-go (Debian, 2022)', async () => ((await which('wireguard-go')) === null ? 'wireguard-go' : null), [],
  'userspace Go, ChaCha20-Poly1305 (protocol-fixed), socket buffers not configurable (wireguard-go\'s own defaults)');
/** A Go pseudo-version as its commit's date and hash (v0.0.0-20260522210424-ecfc5a8d5446 -> 2026-05-22 ecfc5a8); a tag as it is. */
const goVersionLabel = (v: string): string => {
  const m = /^v\d+\.\d+\.\d+-(\d{4})(\d{2})(\d{2})\d{6}-([0-9a-f]{7})[0-9a-f]*$/.exec(v);
  return m ? `${m[1]}-${m[2]}-${m[3]} ${m[4]}` : v;
};
/** The current wireguard-go module, built at a pinned version: TUN offloads (TSO/GRO) and UDP GSO/GRO on. */
export const wireguardGoCurrent: System = wireguardSystem('wireguard-go-current', `wireguard-go ${goVersionLabel(PEER_VERSIONS['wireguard-go'])}`, async () => ensurePeer('wireguard-go'), [],
  `golang.zx2c4.com/wireguard@${PEER_VERSIONS['wireguard-go']} built with go install; its offloads on by default`);
/** boringtun's published CLI crate at a pinned version. */
export const boringtun: System = wireguardSystem('boringtun', `boringtun-cli ${PEER_VERSIONS.boringtun}`, async () => ensurePeer('boringtun'), ['--disable-drop-privileges'],
  `boringtun-cli ${PEER_VERSIONS.boringtun} (cargo install), one thread per device`);

// ---------------------------------------------------------------------------------------------
// tinc 1.0, router mode, RSA keys generated with tincd -K

export const tinc: System = {
  id: 'tinc',
  label: 'tinc 1.0',
  available: () => which('tincd'),
  start: async (p) => {
    const nodes = [
      { ns: p.a, name: 'rvba', under: p.underA, inner: '10.97.0.1', dir: join(p.dir, 'tinc-a'), connectTo: 'rvbb' },
      { ns: p.b, name: 'rvbb', under: p.underB, inner: '10.97.0.2', dir: join(p.dir, 'tinc-b'), connectTo: null as string | null },
    ];
    const cipher = 'aes-256-cbc';
    const digest = 'sha256';
    for (const n of nodes) {
      mkdirSync(join(n.dir, 'hosts'), { recursive: true });
      writeFileSync(
        join(n.dir, 'tinc.conf'),
        [
          `Name = ${n.name}`, 'Mode = router', 'DeviceType = tun', 'Device = /dev/net/tun', `Interface = tinc${p.suffix}`,
          'AddressFamily = ipv4', `BindToAddress = ${n.under}`, 'Port = 655',
          `UDPRcvBuf = ${SOCK_BUF}`, `UDPSndBuf = ${SOCK_BUF}`,
          ...(n.connectTo ? [`ConnectTo = ${n.connectTo}`] : []),
        ].join('\n') + '\n',
      );
      writeFileSync(
        join(n.dir, 'hosts', n.name),
        [`Address = ${n.under} 655`, `Subnet = ${n.inner}/32`, `Cipher = ${cipher}`, `Digest = ${digest}`, 'MACLength = 16', 'Compression = 0'].join('\n') + '\n',
      );
      const up = join(n.dir, 'tinc-up');
      writeFileSync(up, `#!/bin/sh\nip addr add ${n.inner}/24 dev "$INTERFACE"\nip link set "$INTERFACE" mtu ${TUN_MTU} up\n`);
      chmodSync(up, 0o755);
      // -K appends the public key to hosts/<Name>; stdin is not a tty so it takes the default file names.
      await sh('sh', ['-c', `tincd -c '${n.dir}' -K 2048 </dev/null`]);
    }
    for (const n of nodes) for (const m of nodes) if (n !== m) writeFileSync(join(n.dir, 'hosts', m.name), readFileSync(join(m.dir, 'hosts', m.name)));
    const start = (n: (typeof nodes)[number]) =>
      n.ns.spawn('tincd', ['-c', n.dir, '-D', '-d', '1', '--pidfile', join(n.dir, 'tinc.pid')], { logFile: join(n.dir, 'tincd.log') });
    // b first: if a's first connect is refused, tinc waits 5 s before retrying.
    const pb = start(nodes[1]!);
    await waitFor('tincd (b) ready', logHas(pb, /^Ready$/m), [pb]);
    const pa = start(nodes[0]!);
    const procs = [pa, pb];
    await waitFor('tinc connection', () => logHas(pa, /Connection with rvbb .* activated/)(), procs, 20_000);
    return {
      innerB: '10.97.0.2',
      procsA: [pa],
      procsB: [pb],
      notes: `router mode, RSA-2048 keys, UDP data ${cipher} + HMAC-${digest} (MAC 16 B), no compression, MTU ${TUN_MTU}, UDPRcvBuf/UDPSndBuf ${SOCK_BUF} B (clamped by rmem_max/wmem_max)`,
    };
  },
};

// ---------------------------------------------------------------------------------------------
// ringvpn (pluggable command; default: bin/ringvpn)

/** One way to run ringvpn: its device mode and whether the device offloads (TSO/GRO, UDP GSO) are on. */
export interface RingvpnVariant { id: string; label: string; mode: 'tap' | 'tun'; offload: boolean; threads?: 1 | 2 }
export const RINGVPN_VARIANTS: readonly RingvpnVariant[] = [
  { id: 'ringvpn', label: 'ringvpn (TAP, default)', mode: 'tap', offload: true },
  { id: 'ringvpn-tun', label: 'ringvpn (TUN)', mode: 'tun', offload: true },
  { id: 'ringvpn-nooffload', label: 'ringvpn (TAP, offloads off)', mode: 'tap', offload: false },
  { id: 'ringvpn-2t', label: 'ringvpn (TAP, 2 threads)', mode: 'tap', offload: true, threads: 2 },
];

export function ringvpn(cmdline: string, repoRoot: string, v: RingvpnVariant = RINGVPN_VARIANTS[0]!): System {
  const argv = cmdline.split(/\s+/).filter(Boolean);
  const cli = argv.find((a) => a.endsWith('.ts') || a.endsWith('.js'));
  return {
    id: v.id,
    label: v.label,
    available: async () => {
      if (!argv.length) return 'empty --ringvpn-cmd';
      if (cli && !existsSync(cli)) return `${cli} does not exist yet`;
      return which(argv[0]!);
    },
    start: async (p) => {
      const keygen = async (ns: Netns) => {
        const r = await ns.exec(argv[0]!, [...argv.slice(1), 'keygen'], { cwd: repoRoot, timeoutMs: 60_000 });
        const j = JSON.parse(r.stdout) as { privateKey: string; publicKey: string };
        if (!j.privateKey || !j.publicKey) throw new Error(`ringvpn keygen printed no keys: ${r.stdout.slice(0, 200)}`);
        return j;
      };
      const ka = await keygen(p.a);
      const kb = await keygen(p.b);
      const inA = '10.99.0.1';
      const inB = '10.99.0.2';
      const mk = (who: string, me: typeof ka, peer: typeof kb, inMe: string, inPeer: string, peerUnder: string) => {
        const f = join(p.dir, `ringvpn-${who}.json`);
        const cfg = {
          privateKey: me.privateKey,
          address: `${inMe}/24`,
          device: { mode: v.mode, name: `rv${p.suffix}${who}`, mtu: TUN_MTU },
          dataplane: { offload: v.offload, threads: v.threads ?? 1 },
          listenPort: 51820,
          // default control socket is /run/ringvpn/<dev>.sock (shared filesystem): keep ours in the temp dir
          controlSocket: join(p.dir, `ringvpn-${who}.sock`),
          peers: [{ publicKey: peer.publicKey, endpoint: `${peerUnder}:51820`, address: inPeer }],
        };
        writeFileSync(f, JSON.stringify(cfg, null, 2), { mode: 0o600 });
        return f;
      };
      const fa = mk('a', ka, kb, inA, inB, p.underB);
      const fb = mk('b', kb, ka, inB, inA, p.underA);
      const pb = p.b.spawn(argv[0]!, [...argv.slice(1), 'up', '--config', fb], { cwd: repoRoot, logFile: join(p.dir, 'ringvpn-b.log') });
      const pa = p.a.spawn(argv[0]!, [...argv.slice(1), 'up', '--config', fa], { cwd: repoRoot, logFile: join(p.dir, 'ringvpn-a.log') });
      // No readiness signal is defined: wait until both devices exist (the ping check in run.ts does the rest).
      const hasDev = (ns: Netns, dev: string) => async () => (await ns.ip(['link', 'show', dev], { allowFail: true })).code === 0;
      await waitFor('ringvpn devices', async () => (await hasDev(p.a, `rv${p.suffix}a`)()) && (await hasDev(p.b, `rv${p.suffix}b`)()), [pa, pb], 30_000);
      return { innerB: inB, procsA: [pa], procsB: [pb], notes: `${cmdline}; ${v.mode}, MTU ${TUN_MTU}, offloads ${v.offload ? 'on' : 'off'}, ${v.threads ?? 1} hot-path thread(s)` };
    },
  };
}

/** All systems in table order. `tmpRoot` is where shared material (the OpenVPN PKI) goes. */
export function allSystems(opts: { tmpRoot: () => string; ringvpnCmd: string; repoRoot: string }): System[] {
  return [
    raw,
    openvpn('openvpn-aes', 'OpenVPN AES-256-GCM', 'AES-256-GCM', opts.tmpRoot),
    openvpn('openvpn-chacha', 'OpenVPN CHACHA20-POLY1305', 'CHACHA20-POLY1305', opts.tmpRoot),
    wireguardGo,
    wireguardGoCurrent,
    boringtun,
    tinc,
    ...RINGVPN_VARIANTS.map((v) => ringvpn(opts.ringvpnCmd, opts.repoRoot, v)),
  ];
}
