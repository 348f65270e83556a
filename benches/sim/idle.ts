// Benchmark (not a test): where the bytes of an idle overlay go. N simulated nodes (the full protocol,
// with the DHT and the range broadcast attached as ts/runtime/overlay.ts does) join, keep the virtual
// LAN's DHT records (ip:, host:, name: with the daemon's lease, renewed by the DHT), form the
// on-demand links a reachability check leaves behind, and then sit idle. Over the idle window every
// CONTROL frame sent or received is decoded and counted by message type, with the real frame overhead
// (16 header + 16 tag + 28 UDP/IPv4 = 60 bytes). Afterwards a few nodes are killed one at a time and the
// time until each of their peers closes the connection is measured (near neighbours and the rest).
// Run: npx tsx benches/sim/idle.ts [--sizes 64,128] [--params real|daemon|brunet] [--seed 1] [--window 300]
//      [--ondemand 4] [--lease 600] [--endpoint-bytes 16] [--kills 8] [--dht-repair <s>] [--dht-repair-max <s>]
//      [--dht-renew-margin <s>] [--write]
import { Harness } from '../../ts/sim/harness.js';
import { runUntilConsistent, crawlNow } from '../../ts/sim/measure.js';
import { LatencyMatrix } from '../../ts/sim/network.js';
import { mdTable, writeResults, machineNote } from '../../ts/sim/sim-report.js';
import { type OverlayNode, type Output } from '../../ts/core/node.js';
import { type NodeId, idToHex } from '../../ts/base/nodeid.js';
import { randInt } from '../../ts/core/rng.js';
import * as P from '../../ts/core/params.js';
import { type Params } from '../../ts/core/params.js';
import { decode, type Msg } from '../../ts/wire/overlay-codec.js';
import { attachDht, attachBroadcast } from '../../ts/dht/attach.js';
import { type DhtCore, type DhtParams, DEFAULT_DHT_PARAMS, renewDelayMs } from '../../ts/dht/dht.js';

const FRAME_OVERHEAD = 16 + 16 + 28;

const args = process.argv.slice(2);
const opt = (n: string): string | undefined => { const i = args.indexOf(`--${n}`); return i >= 0 ? args[i + 1] : undefined; };
const sizes = (opt('sizes') ?? '64,128').split(',').map(Number);
const seed = Number(opt('seed') ?? 1);
const windowS = Number(opt('window') ?? 300);
const onDemandPeers = Number(opt('ondemand') ?? 4);
const leaseS = Number(opt('lease') ?? 600);        // config network.leaseSeconds default
const epBytes = Number(opt('endpoint-bytes') ?? 16); // a real endpoint string, e.g. "10.77.0.123:51820"
const kills = Number(opt('kills') ?? 8);
const paramSet = opt('params') ?? 'real';
const write = args.includes('--write');
/**
 * DHT parameters as the daemon attaches it (defaults); --dht-repair <s> overrides the periodic range repair's
 * first interval (0: off), --dht-repair-max <s> its longest, --dht-renew-margin <s> how early owners renew
 */
const dhtParams: Partial<DhtParams> = {
  ...(opt('dht-repair') !== undefined ? { repairMs: Number(opt('dht-repair')) * 1000 } : {}),
  ...(opt('dht-repair-max') !== undefined ? { repairMaxMs: Number(opt('dht-repair-max')) * 1000 } : {}),
  ...(opt('dht-renew-margin') !== undefined ? { renewMarginMs: Number(opt('dht-renew-margin')) * 1000 } : {}),
};
/** owners renew this long after a put: records put uniformly over one such period before the window renew at the steady rate in it */
const renewMs = renewDelayMs({ ...DEFAULT_DHT_PARAMS, ...dhtParams }, leaseS * 1000);
const repairMaxMs = Math.max(dhtParams.repairMs ?? DEFAULT_DHT_PARAMS.repairMs, dhtParams.repairMaxMs ?? DEFAULT_DHT_PARAMS.repairMaxMs);

/**
 * The daemon's parameters before REAL_NETWORK_PARAMS (DAEMON_OVERLAY_PARAMS: every link pinged after 3 s of
 * silence, RPC 500 ms x 3), as near as the current liveness code gets (it no longer lets both sides ping).
 */
const DAEMON_OVERLAY_PARAMS: Partial<Params> = { nearPingAfterMs: 3_000, keepaliveMs: 3_000, pingGraceMs: 0, rpcMinTimeoutMs: 500, rpcTries: 3 };
function paramsFor(name: string): Partial<Params> {
  if (name === 'daemon') return DAEMON_OVERLAY_PARAMS;
  if (name === 'brunet') return {};
  const real = (P as Record<string, unknown>).REAL_NETWORK_PARAMS as Partial<Params> | undefined;
  if (name === 'real' && real) return real;
  throw new Error(`unknown --params ${name} (real needs REAL_NETWORK_PARAMS in ts/core/params.ts)`);
}
const params = paramsFor(paramSet);

// ------------------------------------------------------------------ classification
function nEndpoints(m: Msg): { eps: number; chars: number } {
  let eps = 0, chars = 0;
  const add = (l: readonly string[]): void => { for (const e of l) { eps++; chars += e.length; } };
  const walk = (x: Msg): void => {
    switch (x.type) {
      case 'status': for (const n of x.neighbours) add(n.endpoints); return;
      case 'ctm': add(x.endpoints); return;
      case 'ctm-reply': add(x.endpoints); for (const n of x.neighbours) add(n.endpoints); return;
      case 'routed': walk(x.inner); return;
      default: return;
    }
  };
  walk(m);
  return { eps, chars };
}

function category(m: Msg, near: boolean): string {
  switch (m.type) {
    case 'ping': case 'pong': return `${m.type} (${near ? 'near' : 'other'})`;
    case 'routed': {
      const i = m.inner;
      if (i.type === 'dht') {
        if (i.op === 'put' || i.op === 'put-reply') return 'dht put';
        if (i.op === 'get' || i.op === 'get-reply') return 'dht get';
        if (i.op === 'remove' || i.op === 'remove-reply') return 'dht remove';
        if (i.op === 'sync-digest') return 'dht sync';
        return `dht ${i.op}`;
      }
      if (i.type === 'ctm') return `ctm (${['', 'leaf', 'near', '', 'shortcut', '', '', '', 'ondemand'][i.kind] ?? i.kind})`;
      return i.type;
    }
    default: return m.type;
  }
}

/** bytes a frame costs on the wire: encoded message, endpoint strings at a real length, frame overhead */
function wireBytes(bytes: Uint8Array, m: Msg): number {
  const e = nEndpoints(m);
  return bytes.length + (epBytes > 0 ? e.eps * epBytes - e.chars : 0) + FRAME_OVERHEAD;
}

interface Counter { frames: number; bytes: number }
interface RunResult {
  nodes: number; params: string; windowS: number; consistentAtS: number | null; consistentAfter: boolean;
  connsStart: number; connsEnd: number; nearLinks: number; linksMadePerNodeMin: number;
  perType: Record<string, { framesPerNodeS: number; bytesPerNodeS: number }>;
  totalBytesPerNodeS: number; totalFramesPerNodeS: number; sentBytesPerNodeS: number;
  detection: { near: number[]; other: number[]; missed: number };
}

function connKindsCount(h: Harness): number {
  let c = 0, n = 0;
  for (const i of h.liveIndices()) { c += (h.nodes[i] as OverlayNode).connectionCount(); n++; }
  return c / Math.max(1, n);
}

function run(nodes: number): RunResult {
  const h = new Harness({ capacity: nodes, seed, params, matrix: LatencyMatrix.load() });
  const dhts: (DhtCore | null)[] = [];
  for (let i = 0; i < nodes; i++) {
    const idx = h.addNode(i * 100);
    const n = h.nodes[idx] as OverlayNode;
    dhts.push(attachDht(n, dhtParams));
    attachBroadcast(n, () => {});
  }
  h.run((nodes - 1) * 100 + 1_000);
  const at = runUntilConsistent(h, 300_000);
  const t0 = h.now;
  const W0 = t0 + renewMs; // records put uniformly over one renewal period before the window renew at the steady rate in it

  // the virtual LAN's records, put at random times in [t0, W0) like staggered address claims
  const enc = new TextEncoder();
  for (let i = 0; i < nodes; i++) {
    const n = h.nodes[i] as OverlayNode;
    const ip = `10.77.${i >> 8}.${(i & 255) + 2}`;
    const records: { key: Uint8Array; value: Uint8Array; create: boolean }[] = [
      { key: enc.encode(`ip:lab:${ip}`), value: new Uint8Array(32).fill(i & 255), create: true },
      { key: enc.encode(`host:lab:${idToHex(n.id)}`), value: enc.encode(ip), create: false },
      { key: enc.encode(`name:lab:node-${i}`), value: enc.encode(ip), create: true },
    ];
    for (const r of records) {
      h.at(t0 + h.rng.next() * (W0 - t0), () => {
        const d = dhts[i];
        if (!d) return;
        if (r.create) d.create(h.now, r.key, r.value, leaseS * 1000, () => {});
        else d.put(h.now, r.key, r.value, leaseS * 1000, () => {});
        h.drain(i);
      });
    }
  }
  // the reachability check before the idle window: every node exchanges traffic with a few random others
  h.at(W0 - 60_000, () => {
    for (let i = 0; i < nodes; i++) {
      for (let k = 0; k < onDemandPeers; k++) {
        let j = randInt(h.rng, nodes);
        if (j === i) j = (j + 1) % nodes;
        const a = h.nodes[i] as OverlayNode, b = h.nodes[j] as OverlayNode;
        a.noteTraffic(h.now, b.id); b.noteTraffic(h.now, a.id);
        h.drain(i); h.drain(j);
      }
    }
  });
  h.run(W0);

  // ---------------------------------------------------------------- measure the idle window
  const perType = new Map<string, Counter>();
  let measuring = true, linksMade = 0, sentBytes = 0;
  const count = (cat: string, b: number): void => {
    let c = perType.get(cat);
    if (!c) { c = { frames: 0, bytes: 0 }; perType.set(cat, c); }
    c.frames++; c.bytes += b;
  };
  const nearOf = (n: OverlayNode, peer: NodeId): boolean => n.table.rank(peer) <= n.params.nearPerSide;
  const drain = h.drain.bind(h);
  h.drain = (i: number): void => {
    const n = h.nodes[i];
    if (measuring && n) {
      for (const o of n.out as Output[]) {
        if (o.type === 'link' && o.to !== null) linksMade++;
        if (o.type !== 'send') continue;
        const r = decode(o.bytes);
        if (!r.ok) continue;
        const b = wireBytes(o.bytes, r.msg);
        sentBytes += b;
        count(category(r.msg, nearOf(n, o.to)), b);
      }
    }
    drain(i);
  };
  for (let i = 0; i < nodes; i++) {
    const n = h.nodes[i] as OverlayNode;
    const recv = n.receive.bind(n);
    n.receive = (now: number, from: NodeId, bytes: Uint8Array): void => {
      if (measuring) {
        const r = decode(bytes);
        if (r.ok) count(category(r.msg, nearOf(n, from)), wireBytes(bytes, r.msg));
      }
      recv(now, from, bytes);
    };
  }
  const connsStart = connKindsCount(h);
  let nearLinks = 0;
  for (const i of h.liveIndices()) for (const c of (h.nodes[i] as OverlayNode).connections()) if (c.kinds.includes('near')) nearLinks++;
  h.run(W0 + windowS * 1000);
  measuring = false;
  const connsEnd = connKindsCount(h);
  const consistentAfter = crawlNow(h).ok;

  // ---------------------------------------------------------------- dead-neighbour detection
  const detection = { near: [] as number[], other: [] as number[], missed: 0 };
  for (let k = 0; k < kills; k++) {
    const live = h.liveIndices();
    const victim = live[randInt(h.rng, live.length)] as number;
    const vid = (h.nodes[victim] as OverlayNode).id;
    const watchers: { i: number; near: boolean }[] = [];
    for (const i of live) {
      const n = h.nodes[i] as OverlayNode;
      if (i !== victim && n.table.has(vid)) watchers.push({ i, near: n.table.rank(vid) <= n.params.nearPerSide });
    }
    const tk = h.now;
    h.crash(victim);
    dhts[victim] = null;
    const pending = new Set(watchers);
    for (let t = 100; t <= 60_000 && pending.size; t += 100) {
      h.run(tk + t);
      for (const w of [...pending]) {
        const n = h.nodes[w.i];
        if (!n || n.table.has(vid)) continue;
        (w.near ? detection.near : detection.other).push(t);
        pending.delete(w);
      }
    }
    detection.missed += pending.size;
    h.run(h.now + 20_000);
  }

  const span = nodes * windowS;
  const out: RunResult['perType'] = {};
  let totalB = 0, totalF = 0;
  for (const [k, c] of [...perType].sort((a, b) => b[1].bytes - a[1].bytes)) {
    out[k] = { framesPerNodeS: c.frames / span, bytesPerNodeS: c.bytes / span };
    totalB += c.bytes; totalF += c.frames;
  }
  return {
    nodes, params: paramSet, windowS, consistentAtS: at === null ? null : at / 1000, consistentAfter, connsStart, connsEnd, nearLinks: nearLinks / nodes,
    linksMadePerNodeMin: linksMade / nodes / (windowS / 60), perType: out, totalBytesPerNodeS: totalB / span, totalFramesPerNodeS: totalF / span,
    sentBytesPerNodeS: sentBytes / span, detection,
  };
}

const results: RunResult[] = [];
for (const n of sizes) {
  const t = performance.now();
  const r = run(n);
  results.push(r);
  process.stderr.write(`N=${n}: ${((performance.now() - t) / 1000).toFixed(1)} s wall\n`);
}

const types = [...new Set(results.flatMap((r) => Object.keys(r.perType)))]
  .sort((a, b) => (results[results.length - 1]!.perType[b]?.bytesPerNodeS ?? 0) - (results[results.length - 1]!.perType[a]?.bytesPerNodeS ?? 0));
const fmt = (x: number | undefined): string => (x === undefined ? '–' : x.toFixed(1));
const head = ['message type', ...results.flatMap((r) => [`N=${r.nodes} B/s`, `N=${r.nodes} frames/s`])];
const rows = types.map((k) => [k, ...results.flatMap((r) => [fmt(r.perType[k]?.bytesPerNodeS), r.perType[k] ? r.perType[k]!.framesPerNodeS.toFixed(3) : '–'])]);
rows.push(['**total**', ...results.flatMap((r) => [`**${r.totalBytesPerNodeS.toFixed(1)}**`, r.totalFramesPerNodeS.toFixed(3)])]);
const stat = (a: number[]): string => (a.length ? `${(Math.max(...a) / 1000).toFixed(1)} / ${(a.reduce((s, x) => s + x, 0) / a.length / 1000).toFixed(1)} (${a.length})` : '–');
const md = `# Idle overlay cost per node by message type (params: ${paramSet}, seed ${seed})\n\n` +
  mdTable(head, rows) + '\n' +
  mdTable(['N', 'crawl consistent at (s)', 'consistent after idle', 'connections per node (start → end)', 'links kept as near (nearKeep) per node', 'links made per node per min', 'sent B/s per node',
    'detection near: max / mean s (n)', 'detection other: max / mean s (n)', 'not detected in 60 s'],
  results.map((r) => [r.nodes, r.consistentAtS ?? 'never', r.consistentAfter ? 'yes' : 'NO', `${r.connsStart.toFixed(1)} → ${r.connsEnd.toFixed(1)}`, r.nearLinks,
    r.linksMadePerNodeMin, r.sentBytesPerNodeS, stat(r.detection.near), stat(r.detection.other), r.detection.missed])) +
  `\nBytes per node per second = (every CONTROL frame sent + received) / N / window, each frame counted as encoded message + ` +
  `${FRAME_OVERHEAD} bytes (16 frame header + 16 tag + 28 UDP/IPv4)${epBytes > 0 ? ` with every endpoint string counted at ${epBytes} bytes (a real "a.b.c.d:port")` : ''}. ` +
  `Idle window ${windowS} virtual s after the ring is consistent; every node keeps 3 DHT records (ip:, host:, name:) with a ${leaseS} s lease ` +
  `(renewed by the DHT ${(renewMs / 1000).toFixed(0)} s after each put; counted under "dht put") and ${onDemandPeers} on-demand exchanges made 60 s before the window (a reachability check). ` +
  `Not modelled: handshakes of new links (counted as links made), session rekeys and data-plane keepalives. ` +
  `Detection: ${kills} nodes killed one at a time after the window; time until each peer holding a link to it closed it (near = within nearPerSide positions). ` +
  `Params: ${JSON.stringify(params)}; DHT: ${JSON.stringify(dhtParams)} over the defaults. PlanetLab-490 latencies. ` +
  (windowS * 1000 < 2 * repairMaxMs ? `The DHT's periodic range repair runs every ${repairMaxMs / 1000} s on a stable ring (after ${(dhtParams.repairMs ?? DEFAULT_DHT_PARAMS.repairMs) / 1000} s, doubling, after a ring change): a ${windowS} s window samples it by phase ("dht sync"); --window ${4 * repairMaxMs / 1000} gives the steady state. ` : '') +
  `${machineNote()}\n`;
process.stdout.write(md);
if (write) {
  const w = writeResults('benches/results', `sim-idle-${paramSet}-s${seed}`, { seed, params, dhtParams, results }, md);
  process.stderr.write(`wrote ${w.md}\n`);
}
