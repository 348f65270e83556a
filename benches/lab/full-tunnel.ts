// full-tunnel.ts — a full-tunnel client's path to an Internet server (issue 14), three ways in one run: the
// client's traffic routed by the gateway's host with no VPN (the direct path: the gateway namespace as a plain
// NAT router), ringvpn's full tunnel through a gateway member (found in the DHT, masquerade on its uplink), and
// an OpenVPN 2.6 client with --redirect-gateway def1 whose server runs on the same gateway host (userspace data
// channel, AES-256-GCM, the same masquerade). netperf TCP_STREAM and TCP_RR (1 byte) from the client to the
// server; rows interleaved run by run (the machine is shared and noisy), medians and min–max.
// Must not assert: it measures and writes benches/results/full-tunnel.{json,md}.
// Usage: node --import tsx benches/lab/full-tunnel.ts [--runs 3] [--seconds 10] [--out benches/results]
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { RingLab } from '../../ts/lab/ringlab.js';
import { Internet, INTERNET_SERVER as SERVER, UPLINK_DEV } from '../../ts/lab/internet.js';
import type { NsProcess } from '../../ts/lab/netns.js';
import { sleep } from '../../ts/lab/util.js';
import { netperfRR, netperfStream, startServers } from '../dataplane/tools.js';
import { ensurePki, SOCK_BUF, TUN_MTU } from '../dataplane/systems.js';

type Row = 'direct (no VPN)' | 'ringvpn full tunnel' | 'OpenVPN full tunnel';
const ROWS: Row[] = ['direct (no VPN)', 'ringvpn full tunnel', 'OpenVPN full tunnel'];
const arg = (k: string, d: number): number => { const i = process.argv.indexOf(`--${k}`); return i > 0 ? Number(process.argv[i + 1]) : d; };
const RUNS = arg('runs', 3), SECONDS = arg('seconds', 10);
const outDir = (() => { const i = process.argv.indexOf('--out'); return i > 0 ? process.argv[i + 1]! : 'benches/results'; })();
const say = (s: string): void => { process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`); };
const median = (xs: number[]): number | null => { if (!xs.length) return null; const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]!; };
const spread = (xs: number[]): [number, number] | null => (xs.length ? [Math.min(...xs), Math.max(...xs)] : null);
const GW = 0, CLIENT = 2, OVPN_NET = '10.99.0.0';

interface Sample { streamMbps: number[]; rrTps: number[]; rrP50Us: number[]; failed: string[] }

async function main(): Promise<void> {
  const name = 'b' + randomBytes(3).toString('hex');
  const work = mkdtempSync(join(tmpdir(), 'rvb-fulltunnel-'));
  const lab = await RingLab.up({
    nodes: 3, reserve: 1, name, mode: 'tun', static: true, onProgress: say,
    edit: (cfg, i) => {
      if (i === GW) cfg.gateway = { enable: true, uplink: UPLINK_DEV };
      if (i === CLIENT) cfg.fullTunnel = { enable: true };
    },
  });
  const gw = lab.node(GW), client = lab.node(CLIENT);
  const inet = await Internet.up(name, [gw.ns]);
  const results: Record<Row, Sample> = Object.fromEntries(ROWS.map((r) => [r, { streamMbps: [], rrTps: [], rrP50Us: [], failed: [] }])) as unknown as Record<Row, Sample>;
  const notes: string[] = [];
  try {
    await startServers(inet.ns, work);
    // the client's home router is the gateway's host: the direct path, and the route OpenVPN keeps to its server
    await client.ns.ip(['route', 'add', 'default', 'via', gw.underlay]);
    await gw.ns.exec('iptables', ['-t', 'nat', '-A', 'POSTROUTING', '-s', '10.200.0.0/16', '-o', UPLINK_DEV, '-j', 'MASQUERADE']);
    await gw.ns.exec('iptables', ['-t', 'nat', '-A', 'POSTROUTING', '-s', `${OVPN_NET}/24`, '-o', UPLINK_DEV, '-j', 'MASQUERADE']);
    const pki = await ensurePki(work);
    const ovpnCommon = ['--dev', 'ovpn0', '--dev-type', 'tun', '--proto', 'udp', '--tun-mtu', String(TUN_MTU), '--data-ciphers', 'AES-256-GCM', '--sndbuf', String(SOCK_BUF), '--rcvbuf', String(SOCK_BUF), '--disable-dco', '--ca', join(pki, 'ca.crt'), '--verb', '3'];
    const server = gw.ns.spawn('openvpn', [...ovpnCommon, '--local', gw.underlay, '--port', '1194', '--server', OVPN_NET, '255.255.255.0', '--topology', 'subnet', '--dh', 'none',
      '--cert', join(pki, 'server.crt'), '--key', join(pki, 'server.key'), '--keepalive', '5', '60'], { logFile: join(work, 'openvpn-server.log') });

    const up: Record<Row, () => Promise<() => Promise<void>>> = {
      'direct (no VPN)': async () => async () => {},
      'ringvpn full tunnel': async () => {
        await lab.start(CLIENT);
        const t0 = Date.now();
        for (;;) {
          const st = await lab.status(CLIENT) as unknown as { tunnel?: { inUse: unknown } | null };
          if (st.tunnel?.inUse) break;
          if (Date.now() - t0 > 60_000) throw new Error('the ringvpn client found no gateway in 60 s');
          await sleep(300);
        }
        return async () => { await lab.kill(CLIENT, 'SIGTERM'); };
      },
      'OpenVPN full tunnel': async () => {
        const log = join(work, `openvpn-client-${Date.now()}.log`);
        const c: NsProcess = client.ns.spawn('openvpn', [...ovpnCommon, '--client', '--nobind', '--remote', gw.underlay, '1194', '--cert', join(pki, 'client.crt'), '--key', join(pki, 'client.key'),
          '--remote-cert-tls', 'server', '--redirect-gateway', 'def1'], { logFile: log });
        const t0 = Date.now();
        while (!/Initialization Sequence Completed/.test(readLog(log))) {
          if (c.hasExited() || server.hasExited() || Date.now() - t0 > 30_000) throw new Error(`openvpn did not come up: ${readLog(log).slice(-400)}`);
          await sleep(200);
        }
        if (!notes.some((n) => n.startsWith('OpenVPN'))) notes.push(`OpenVPN: ${/Data Channel: [Cc]ipher '([^']+)'/.exec(readLog(log))?.[1] ?? '?'} data channel, userspace (--disable-dco), tun-mtu ${TUN_MTU}, redirect-gateway def1`);
        return async () => { await c.kill(); await sleep(300); };
      },
    };
    for (let r = 0; r < RUNS; r++) {
      // rotate the order each run so that no row always goes first
      const order = ROWS.map((_, i) => ROWS[(i + r) % ROWS.length]!);
      for (const row of order) {
        const s = results[row];
        let down: (() => Promise<void>) | null = null;
        try {
          down = await up[row]();
          const st = await netperfStream(client.ns, SERVER, SECONDS);
          const rr = await netperfRR(client.ns, SERVER, SECONDS, 1);
          s.streamMbps.push(st.bps / 1e6); s.rrTps.push(rr.tps); if (rr.p50Us !== null) s.rrP50Us.push(rr.p50Us);
          say(`run ${r + 1}/${RUNS} ${row}: TCP_STREAM ${(st.bps / 1e6).toFixed(0)} Mbit/s, TCP_RR ${rr.tps.toFixed(0)} tps (p50 ${rr.p50Us ?? '-'} µs)`);
        } catch (e) {
          s.failed.push((e as Error).message.split('\n')[0]!.slice(0, 200));
          say(`run ${r + 1}/${RUNS} ${row}: FAILED ${s.failed.at(-1)}`);
        } finally {
          await down?.();
        }
      }
    }
    await server.kill();
  } finally {
    await inet.down();
    await lab.down();
  }
  const table = ROWS.map((row) => {
    const s = results[row];
    return { row, streamMbps: median(s.streamMbps), streamSpread: spread(s.streamMbps), rrTps: median(s.rrTps), rrSpread: spread(s.rrTps), rrP50Us: median(s.rrP50Us), samples: s.rrTps.length, failed: s.failed };
  });
  const direct = table[0]!, ring = table[1]!;
  const commit = process.env.RINGVPN_BENCH_COMMIT ?? 'working tree';
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'full-tunnel.json'), JSON.stringify({ commit, runs: RUNS, seconds: SECONDS, notes, table, results }, null, 2) + '\n');
  const f = (x: number | null, d = 0): string => (x === null ? '-' : x.toFixed(d));
  const sp = (x: [number, number] | null): string => (x ? `${x[0].toFixed(0)}–${x[1].toFixed(0)}` : '-');
  const ratio = (a: number | null, b: number | null): string => (a && b ? (a / b).toFixed(2) : '-');
  const md = [
    '# Full tunnel: a client\'s path to an Internet server',
    '',
    `\`node --import tsx benches/lab/full-tunnel.ts --runs ${RUNS} --seconds ${SECONDS}\` (root), code at ${commit}. A lab of 3 daemons (TUN), the gateway member with an uplink into an "Internet" namespace (netserver there); the client runs each row in turn, ${RUNS} runs of netperf TCP_STREAM and TCP_RR (1 byte) of ${SECONDS} s, rows rotated run by run; medians, min–max in brackets. Direct: the gateway's host forwards and masquerades the client's traffic with no VPN. ringvpn: the client's full tunnel (policy routing, gateway found in the DHT). ${notes.join('; ')}; its server runs on the gateway's host with the same masquerade.`,
    '',
    '| path | TCP_STREAM (Mbit/s) | TCP_RR (transactions/s) | TCP_RR p50 (µs) | STREAM vs direct | RR vs direct | STREAM vs ringvpn | runs | failed |',
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|',
    ...table.map((t) => `| ${t.row} | ${f(t.streamMbps)} [${sp(t.streamSpread)}] | ${f(t.rrTps)} [${sp(t.rrSpread)}] | ${f(t.rrP50Us)} | ${ratio(t.streamMbps, direct.streamMbps)} | ${ratio(t.rrTps, direct.rrTps)} | ${ratio(t.streamMbps, ring.streamMbps)} | ${t.samples} | ${t.failed.length} |`),
    '',
  ].join('\n');
  writeFileSync(join(outDir, 'full-tunnel.md'), md);
  process.stdout.write(md);
  rmSync(work, { recursive: true, force: true });
}

function readLog(f: string): string { try { return readFileSync(f, 'utf8'); } catch { return ''; } }

main().catch((e) => { process.stderr.write(`${(e as Error).stack ?? e}\n`); process.exit(1); });
