// Passive liveness with REAL_NETWORK_PARAMS on the simulator: a killed near neighbour is closed within
// 10 s of virtual time, a link carrying traffic is not pinged, idle links are pinged once per interval
// (near: nearPingAfterMs, others: keepaliveMs) by one side, and every idle link carries a frame each way
// well inside a NAT mapping's 30 s. Deterministic: a fixed seed and a uniform latency matrix.
import test from 'ava';
import { RpcManager } from './rpc.js';
import { REAL_NETWORK_PARAMS } from './params.js';
import { type OverlayNode } from './node.js';
import { type NodeId } from '../base/nodeid.js';
import { Harness } from '../sim/harness.js';
import { LatencyMatrix } from '../sim/network.js';
import { crawlNow, runUntilConsistent } from '../sim/measure.js';
import { decode } from '../wire/overlay-codec.js';

const P = REAL_NETWORK_PARAMS;

function ring(nodes: number, seed: number, rttMs = 60): Harness {
  const h = new Harness({ capacity: nodes, seed, params: P, matrix: LatencyMatrix.uniform(nodes, rttMs) });
  for (let i = 0; i < nodes; i++) h.addNode(i * 50);
  h.run(nodes * 50 + 1_000);
  return h;
}

const node = (h: Harness, i: number): OverlayNode => h.nodes[i] as OverlayNode;
const isNear = (h: Harness, i: number, peer: NodeId): boolean => node(h, i).table.rank(peer) <= P.pingNearPerSide;

/** Every frame sent, as (time, from index, to index, message type). */
function recordFrames(h: Harness): { at: number; from: number; to: number; type: string }[] {
  const log: { at: number; from: number; to: number; type: string }[] = [];
  const drain = h.drain.bind(h);
  h.drain = (i: number): void => {
    const n = h.nodes[i];
    if (n) {
      for (const o of n.out) {
        if (o.type !== 'send') continue;
        const r = decode(o.bytes);
        const to = h.idToIdx.get(o.to);
        if (r.ok && to !== undefined) log.push({ at: h.now, from: i, to, type: r.msg.type });
      }
    }
    drain(i);
  };
  return log;
}

test('REAL_NETWORK_PARAMS: a dead near neighbour is closed within 10 s; every other holder within the keepalive bound', (t) => {
  const h = ring(40, 21);
  t.not(runUntilConsistent(h, 60_000), null);
  h.run(h.now + 60_000);
  const nearTimes: number[] = [], otherTimes: number[] = [];
  for (const victim of [5, 17, 29, 33]) {
    const vid = node(h, victim).id;
    const holders = h.liveIndices().filter((i) => i !== victim && node(h, i).table.has(vid)).map((i) => ({ i, near: isNear(h, i, vid) }));
    t.true(holders.filter((x) => x.near).length >= 4, 'the victim has 2 near neighbours per side');
    h.crash(victim);
    const t0 = h.now;
    const open = new Set(holders);
    for (let s = 100; s <= 40_000 && open.size; s += 100) {
      h.run(t0 + s);
      for (const x of [...open]) if (!node(h, x.i).table.has(vid)) { (x.near ? nearTimes : otherTimes).push(s); open.delete(x); }
    }
    t.is(open.size, 0, 'every holder closed the dead link');
    t.not(runUntilConsistent(h, 30_000), null, 'the ring repairs itself');
    h.run(h.now + 20_000);
  }
  t.log(`near: closed after ${nearTimes.sort((a, b) => a - b).join(', ')} ms; other: max ${Math.max(...otherTimes)} ms`);
  t.true(nearTimes.length >= 16);
  t.true(nearTimes.every((d) => d <= 10_000), 'near neighbours notice within 10 s');
  // the other links: silent for keepalive (+ grace on the passive side), then 3 failed tries, + a heartbeat
  const otherBound = P.keepaliveMs + P.pingGraceMs + P.rpcTries * P.rpcMaxTimeoutMs + P.heartbeatMs + 200;
  t.true(otherTimes.every((d) => d <= otherBound), `others notice within ${otherBound} ms`);
  t.true(crawlNow(h).ok);
});

test('REAL_NETWORK_PARAMS: a link carrying traffic both ways is never pinged; idle again, it is', (t) => {
  const h = ring(30, 22);
  t.not(runUntilConsistent(h, 60_000), null);
  h.run(h.now + 40_000);
  // two nodes with a direct link that is near for both: the fastest ping interval
  let pair: [number, number] | null = null;
  for (const a of h.liveIndices()) {
    for (const c of node(h, a).table.values()) {
      const b = h.idToIdx.get(c.id) as number;
      if (isNear(h, a, c.id) && isNear(h, b, node(h, a).id)) { pair = [a, b]; break; }
    }
    if (pair) break;
  }
  t.truthy(pair);
  const [a, b] = pair!;
  const ca = node(h, a).table.get(node(h, b).id)!, cb = node(h, b).table.get(node(h, a).id)!;
  const before = ca.pingsSent + cb.pingsSent;
  // 60 s of application traffic each way, one message every 2 s (well inside the 4 s near interval)
  const t0 = h.now;
  for (let k = 0; k < 30; k++) {
    h.at(t0 + k * 2_000, () => h.send(a, b, Uint8Array.of(1)));
    h.at(t0 + k * 2_000 + 1_000, () => h.send(b, a, Uint8Array.of(2)));
  }
  h.run(t0 + 60_000);
  t.is(ca.pingsSent + cb.pingsSent, before, 'no pings while traffic flows');
  t.is(node(h, a).table.get(node(h, b).id), ca, 'the link stayed up');
  // traffic stops: the link is pinged again, by one side, about every nearPingAfterMs
  const idleFrom = ca.pingsSent + cb.pingsSent;
  h.run(h.now + 40_000);
  const pings = ca.pingsSent + cb.pingsSent - idleFrom;
  t.true(pings >= 40_000 / (P.nearPingAfterMs + P.pingGraceMs + P.heartbeatMs) - 1 && pings <= 40_000 / P.nearPingAfterMs + 1, `${pings} pings in 40 s idle`);
});

test('REAL_NETWORK_PARAMS: idle links are pinged once per interval by one side, and carry a frame each way every < 30 s', (t) => {
  const h = ring(48, 23, 80);
  t.not(runUntilConsistent(h, 60_000), null);
  h.run(h.now + 60_000);
  const frames = recordFrames(h);
  const t0 = h.now, window = 200_000;
  // links by kind at the start (both ends agree in a consistent ring)
  const links = new Map<string, { a: number; b: number; near: boolean }>();
  for (const a of h.liveIndices()) {
    for (const c of node(h, a).table.values()) {
      const b = h.idToIdx.get(c.id) as number;
      if (a < b) links.set(`${a}-${b}`, { a, b, near: isNear(h, a, c.id) && isNear(h, b, node(h, a).id) });
    }
  }
  h.run(t0 + window);
  // keep the links that lasted the whole window
  const lasting = [...links.entries()].filter(([, l]) => node(h, l.a).table.has(node(h, l.b).id));
  const other = lasting.filter(([, l]) => !l.near), near = lasting.filter(([, l]) => l.near);
  t.true(other.length >= 48 && near.length >= 48, `${other.length} other and ${near.length} near links`);
  const perLink = new Map<string, { pings: number; byPassive: number; last: [number, number]; maxGap: number }>();
  for (const [k] of lasting) perLink.set(k, { pings: 0, byPassive: 0, last: [t0, t0], maxGap: 0 });
  for (const f of frames) {
    const k = f.from < f.to ? `${f.from}-${f.to}` : `${f.to}-${f.from}`;
    const s = perLink.get(k);
    if (!s) continue;
    const dir = f.from < f.to ? 0 : 1;
    s.maxGap = Math.max(s.maxGap, f.at - s.last[dir]!);
    s.last[dir] = f.at;
    if (f.type === 'ping') { s.pings++; if (node(h, f.from).id > node(h, f.to).id) s.byPassive++; }
  }
  for (const s of perLink.values()) s.maxGap = Math.max(s.maxGap, t0 + window - s.last[0]!, t0 + window - s.last[1]!);
  const sum = (ls: typeof lasting, f: (x: { pings: number; byPassive: number; maxGap: number }) => number): number => ls.reduce((acc, [k]) => acc + f(perLink.get(k)!), 0);
  const otherPings = sum(other, (x) => x.pings) / other.length, nearPings = sum(near, (x) => x.pings) / near.length;
  const passive = (sum(other, (x) => x.byPassive) + sum(near, (x) => x.byPassive)) / (sum(other, (x) => x.pings) + sum(near, (x) => x.pings));
  const maxGapOther = Math.max(...other.map(([k]) => perLink.get(k)!.maxGap));
  t.log(`per link in ${window / 1000} s: ${otherPings.toFixed(2)} pings (other), ${nearPings.toFixed(2)} (near); by the passive side ${(passive * 100).toFixed(1)} %; max silence on an other link ${maxGapOther} ms`);
  // keepalive: one ping per keepaliveMs (+ RTT + a heartbeat), not more
  t.true(otherPings >= window / (P.keepaliveMs + 1_000) - 1 && otherPings <= window / P.keepaliveMs + 0.5, 'other links: one ping per keepalive interval');
  t.true(nearPings >= window / (P.nearPingAfterMs + 1_000) - 1 && nearPings <= window / P.nearPingAfterMs + 0.5, 'near links: one ping per near interval');
  t.true(passive < 0.05, 'the passive side rarely pings');
  t.true(maxGapOther < 30_000, 'each direction of an idle link carries a frame every < 30 s (NAT mappings)');
});

test('rpc: the retransmission timeout is capped by maxTimeoutMs', (t) => {
  const sent: number[] = [];
  let now = 0;
  const rpc = new RpcManager({ minTimeoutMs: 1000, maxTimeoutMs: 1000, tries: 3 }, () => sent.push(now));
  // a wide RTT spread would push mean + 6σ far above the cap
  for (let i = 0; i < 20; i++) { const id = rpc.call(0, 2n, () => new Uint8Array(1), () => {}); rpc.reply(i % 2 ? 50 : 900, 2n, id); }
  t.is(rpc.timeoutMs(), 1000);
  sent.length = 0;
  let result = null as boolean | null;
  rpc.call(0, 1n, () => new Uint8Array(1), (ok) => { result = ok; });
  for (now = 0; now <= 5_000; now += 500) rpc.tick(now);
  t.deepEqual(sent, [0, 1000, 2000]);
  t.is(result, false);
});

test('a frame from the data plane counts as heard (ConnectionTable.heard)', (t) => {
  const h = ring(12, 24);
  t.not(runUntilConsistent(h, 30_000), null);
  const a = node(h, 0), c = [...a.table.values()][0]!;
  t.true(a.table.heard(c.id, h.now + 5_000));
  t.is(c.lastHeard, h.now + 5_000);
  t.false(a.table.heard(a.id, h.now), 'not linked to itself');
});
