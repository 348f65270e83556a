// Benchmark (not a test): where the underlay bytes of idle whole VPN nodes go. N VpnNodes (the daemon's
// code over in-memory engines) join, a reachability check pings 4 random members from every node (as
// `ringvpn lab check` does), and over the idle window that follows every datagram put on the underlay
// is classified (handshake, probe, keepalive, overlay message by type, DHT op, relay) with its wire size.
// Run: npm run bench:vpn-idle -- [--sizes 64,128] [--seed 1] [--window 600] [--settle 60] [--write]
import { VpnHarness } from '../../ts/sim/vpn-harness.js';
import type { Datagram } from '../../ts/sim/memory-engine.js';
import { LatencyMatrix } from '../../ts/sim/network.js';
import { mdTable, machineNote, writeResults } from '../../ts/sim/sim-report.js';
import { decode, type Msg } from '../../ts/wire/overlay-codec.js';
import { FRAME_TYPE_HANDSHAKE_INIT, FRAME_TYPE_HANDSHAKE_RESP, FRAME_TYPE_COOKIE, FRAME_TYPE_PROBE } from '../../ts/wire/frame-types.js';

const args = process.argv.slice(2);
const opt = (n: string, d: string): string => { const i = args.indexOf(`--${n}`); return i >= 0 ? args[i + 1]! : d; };
const sizes = opt('sizes', '64,128').split(',').map(Number);
const seed = Number(opt('seed', '1')), windowS = Number(opt('window', '600')), settleS = Number(opt('settle', '60'));
/** UDP/IPv4 + Ethernet per datagram: eth0 in the lab counts the Ethernet header too */
const ETH = 14;

function msgClass(m: Msg): string {
  if (m.type === 'routed') return `routed ${m.inner.type === 'dht' ? `dht ${m.inner.op}` : m.inner.type}`;
  if (m.type === 'dht') return `dht ${m.op}`;
  return m.type;
}

function classify(d: Datagram): string {
  switch (d.t) {
    case 'raw': {
      const t = d.bytes[0];
      return t === FRAME_TYPE_HANDSHAKE_INIT ? 'handshake init' : t === FRAME_TYPE_HANDSHAKE_RESP ? 'handshake resp'
        : t === FRAME_TYPE_COOKIE ? 'cookie' : t === FRAME_TYPE_PROBE ? 'probe' : `raw ${t}`;
    }
    case 'control': { const r = decode(d.bytes); return r.ok ? msgClass(r.msg) : `control (${r.code})`; }
    case 'keepalive': return 'keepalive';
    case 'data': return 'data';
    case 'relay': return d.inner.pkt ? 'relay data' : 'relay keepalive';
  }
}

const BUCKET_MS = 60_000;
const results: { n: number; rows: Map<string, { frames: number; bytes: number }>; conns: number; minutes: Map<string, number>[] }[] = [];
for (const n of sizes) {
  const h = new VpnHarness({ capacity: n, seed, matrix: LatencyMatrix.load(), leaseMs: 600_000 });
  for (let i = 0; i < n; i++) h.addNode(i * 100);
  h.run(n * 100 + settleS * 1000);
  // a reachability check: every node pings 4 random others
  for (let i = 0; i < n; i++) for (let k = 0; k < 4; k++) { let j = Math.floor(Math.random() * n); if (j === i) j = (j + 1) % n; h.ping(i, j, 3); }
  h.run(h.now + 10_000);
  const rows = new Map<string, { frames: number; bytes: number }>();
  const minutes: Map<string, number>[] = [];
  const t0 = h.now;
  h.onSend = (_i, d, bytes) => {
    const k = classify(d); const r = rows.get(k) ?? { frames: 0, bytes: 0 }; r.frames++; r.bytes += bytes + ETH; rows.set(k, r);
    const m = Math.floor((h.now - t0) / BUCKET_MS);
    const b = minutes[m] ?? (minutes[m] = new Map());
    b.set(k, (b.get(k) ?? 0) + bytes + ETH);
  };
  h.run(t0 + windowS * 1000, (now) => { if ((now - t0) % 60_000 < 500) process.stderr.write(`N=${n} idle ${Math.round((now - t0) / 1000)} s\n`); });
  h.onSend = null;
  const conns = h.liveIndices().reduce((s, i) => s + (h.nodes[i]!.overlay?.connectionCount() ?? 0), 0) / n;
  results.push({ n, rows, conns, minutes });
}
const keys = [...new Set(results.flatMap((r) => [...r.rows.keys()]))];
const per = (r: (typeof results)[number], k: string): { frames: number; bytes: number } => r.rows.get(k) ?? { frames: 0, bytes: 0 };
keys.sort((a, b) => per(results.at(-1)!, b).bytes - per(results.at(-1)!, a).bytes);
// sent by one node + received by another: each datagram counts twice in "rx + tx per node"
const cell = (r: (typeof results)[number], k: string): string[] => { const x = per(r, k); return [(2 * x.bytes / r.n / windowS).toFixed(1), (2 * x.frames / r.n / windowS).toFixed(3)]; };
const total = (r: (typeof results)[number]): { frames: number; bytes: number } => [...r.rows.values()].reduce((a, x) => ({ frames: a.frames + x.frames, bytes: a.bytes + x.bytes }), { frames: 0, bytes: 0 });
const md = `# Idle underlay cost of whole VPN nodes by datagram type (seed ${seed}, window ${windowS} s)\n\n` + mdTable(['datagram', ...results.flatMap((r) => [`N=${r.n} rx+tx B/s per node`, `N=${r.n} datagrams/s`])], [
  ...keys.map((k) => [k, ...results.flatMap((r) => cell(r, k))]),
  ['**total**', ...results.flatMap((r) => { const t = total(r); return [`**${(2 * t.bytes / r.n / windowS).toFixed(1)}**`, (2 * t.frames / r.n / windowS).toFixed(3)]; })],
]) + `\n\nNodes join 100 ms apart and settle ${settleS} s; a reachability check pings 4 random members from every node; ` +
  `the window starts 10 s later (so it holds the check's on-demand links expiring at 450 s, session rekeys every 120 s while ` +
  `links carry pings, DHT lease renewals at 480 s and the range repair). rx + tx per node = 2 × datagrams sent / N / window; ` +
  `bytes include UDP/IPv4 and Ethernet headers (what eth0 counts in the lab). Mean connections per node at the end: ` +
  `${results.map((r) => `N=${r.n} ${r.conns.toFixed(1)}`).join(', ')}. ${machineNote()}\n`;
const series = results.map((r) => `\nPer minute, N=${r.n} (rx + tx B/s per node; the three largest kinds):\n\n` + mdTable(['minute', 'B/s', 'largest'],
  r.minutes.map((m, i) => {
    const tot = [...(m ?? new Map<string, number>()).values()].reduce((a, x) => a + x, 0);
    const top = [...(m ?? new Map<string, number>())].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([k, v]) => `${k} ${(2 * v / r.n / 60).toFixed(0)}`).join(', ');
    return [`${i}`, (2 * tot / r.n / 60).toFixed(0), top];
  }))).join('\n');
const out = md + series + '\n';
console.log(out);
if (args.includes('--write')) {
  const w = writeResults('benches/results', `sim-vpn-idle-s${seed}`, results.map((r) => ({ n: r.n, windowS, conns: r.conns, rows: Object.fromEntries(r.rows), minutes: r.minutes.map((m) => Object.fromEntries(m ?? [])) })), out);
  console.log(`wrote ${w.md}`);
}
