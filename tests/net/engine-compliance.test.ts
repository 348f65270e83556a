// The engine compliance suite: the same assertions, through one scenario interface (engine-pair.ts),
// against the in-memory engine (ts/sim/memory-engine.ts) and the native one (real engines with TUN
// devices in network namespaces; root only, skipped elsewhere and failing under CI=true, see support.ts).
// Routing by allowed IPs, first-packet holds, the inbound source check, relaying by `via`, per-peer data
// counters and drops by the Rust codes must agree, so the simulator's results carry over to the daemon.
import test, { type ExecutionContext } from 'ava';
import type { EngineCommand } from '../../ts/node/io.js';
import { netTest } from './support.js';
import { applyAll, link, memoryScenario, nativeScenario, type MakeScenario, type Scenario, type ScenarioOptions } from './engine-pair.js';

const A = 0, B = 1, C = 2;
/** peer ids are the same in every engine: engine i is peer i + 1 */
const peer = (i: number): number => i + 1;
const markers = (d: { marker: string }[]): string[] => d.map((x) => x.marker);
const zero = { txData: 0, rxData: 0, txRelayed: 0, rxRelayed: 0 };

/** A transport-shaped frame (16-byte header, then `len - 16` bytes) that no session seals. */
function frame(kind: number, receiver: number, len = 48): Uint8Array {
  const b = new Uint8Array(len);
  b[0] = kind;
  new DataView(b.buffer).setUint32(4, receiver, true);
  for (let i = 16; i < len; i++) b[i] = i;
  return b;
}

type Body = (t: ExecutionContext, s: Scenario) => Promise<void>;

const inScenario = test.macro({
  async exec(t, make: MakeScenario, n: number, body: Body, opts?: ScenarioOptions) {
    const s = await make(n, opts);
    try {
      await body(t, s);
    } finally {
      await s.close();
    }
  },
  title: (provided = '', make: MakeScenario) => `${provided} [${make === memoryScenario ? 'memory' : 'native'}]`,
});

/** The same case twice: in memory, and native (in namespaces, serial, root only). */
function both(title: string, n: number, body: Body, opts?: ScenarioOptions): void {
  test(title, inScenario, memoryScenario, n, body, opts);
  netTest(title, inScenario, nativeScenario, n, body, opts);
}

// ---------------------------------------------------------------- 1. no route: miss, hold, release

both('no route: a miss event, the packets are held, and setPeer + setSession release them in order', 2, async (t, s) => {
  await s.send(A, { src: s.ip(A), dst: s.ip(B), marker: 'first' });
  await s.send(A, { src: s.ip(A), dst: s.ip(B), marker: 'second' });
  await s.settle();
  t.deepEqual(await s.events(A), [{ kind: 'miss', dst: s.ip(B) }], 'one miss for both packets');
  t.deepEqual(await s.delivered(B), []);
  let a = await s.stats(A);
  t.like(a, { pendingHeld: 2, pendingReleased: 0 });
  t.deepEqual(a.drops, {});

  const [peerAtA, peerAtB, sessionAtB, sessionAtA] = link(s, A, B);
  await applyAll(s, [peerAtB!, sessionAtB!, peerAtA!]);
  await s.settle();
  t.deepEqual(await s.events(A), [{ kind: 'need_session', peerId: peer(B) }], 'a route without a session asks for one');
  t.deepEqual(await s.delivered(B), [], 'still held without a session');
  await applyAll(s, [sessionAtA!]);
  t.deepEqual(await s.delivered(B, 2), [
    { src: s.ip(A), dst: s.ip(B), marker: 'first' },
    { src: s.ip(A), dst: s.ip(B), marker: 'second' },
  ]);
  await s.send(A, { src: s.ip(A), dst: s.ip(B), marker: 'third' });
  t.deepEqual(markers(await s.delivered(B, 3)), ['first', 'second', 'third']);
  a = await s.stats(A);
  t.like(a, { pendingHeld: 2, pendingReleased: 2 });
  t.deepEqual(a.peers[peer(B)], { ...zero, txData: 3 });
  t.deepEqual(a.drops, {});
  const b = await s.stats(B);
  t.deepEqual(b.peers[peer(A)], { ...zero, rxData: 3 });
  t.deepEqual(b.drops, {});
  t.deepEqual(await s.events(A), []);
  t.deepEqual(await s.events(B), []);
});

// ---------------------------------------------------------------- 2. longest prefix

both('routes by allowed IPs: the longest prefix wins between two peers, a tie goes to the lower peer id', 3, async (t, s) => {
  // C is set up first at A, so insertion order is not what decides
  await applyAll(s, link(s, A, C, { allowedAtI: ['10.99.0.3/32', '10.99.0.0/16'] }));
  await applyAll(s, link(s, A, B, { allowedAtI: ['10.99.0.0/24'] }));
  await s.send(A, { src: s.ip(A), dst: s.ip(B), marker: 'to-b' }); // B's /24 beats C's /16
  await s.send(A, { src: s.ip(A), dst: s.ip(C), marker: 'to-c' }); // C's /32 beats B's /24
  t.deepEqual(await s.delivered(B, 1), [{ src: s.ip(A), dst: s.ip(B), marker: 'to-b' }]);
  t.deepEqual(await s.delivered(C, 1), [{ src: s.ip(A), dst: s.ip(C), marker: 'to-c' }]);

  // now B claims 10.99.0.3/32 too: equal prefixes, the lower peer id (B) wins; B's OS does not own the
  // address, so only B's engine counters see it
  await s.apply(A, { cmd: 'setPeer', peerId: peer(B), endpoint: s.endpoint(B), allowed: ['10.99.0.0/24', '10.99.0.3/32'], nodeId: s.nodeId(B), via: null });
  await s.send(A, { src: s.ip(A), dst: s.ip(C), marker: 'tie' });
  await s.settle();
  t.deepEqual(markers(await s.delivered(C)), ['to-c']);
  const a = await s.stats(A);
  t.deepEqual([a.peers[peer(B)]!.txData, a.peers[peer(C)]!.txData], [2, 1]);
  t.is((await s.stats(B)).peers[peer(A)]!.rxData, 2);
  for (const i of [A, B, C]) t.deepEqual((await s.stats(i)).drops, {}, `no drops at ${i}`);
});

// ---------------------------------------------------------------- 3. source check

both('source check: a packet from a source the sender may not use is held, raises source_unknown, and a setPeer allowing it delivers it', 2, async (t, s) => {
  await s.addAddress(A, '10.99.1.1/32');
  await applyAll(s, link(s, A, B));
  await s.send(A, { src: '10.99.1.1', dst: s.ip(B), marker: 'h1' });
  await s.send(A, { src: '10.99.1.1', dst: s.ip(B), marker: 'h2' });
  await s.settle();
  t.deepEqual(await s.delivered(B), []);
  t.deepEqual(await s.events(B), [{ kind: 'source_unknown', nodeId: s.nodeId(A), src: '10.99.1.1' }], 'one event for both');
  let b = await s.stats(B);
  t.deepEqual(b.drops, {}, 'held, not dropped');
  t.like(b, { rxPendingHeld: 2, rxPendingReleased: 0 });
  t.deepEqual(b.peers[peer(A)], zero);

  await s.apply(B, { cmd: 'setPeer', peerId: peer(A), endpoint: s.endpoint(A), allowed: [`${s.ip(A)}/32`, '10.99.1.1/32'], nodeId: s.nodeId(A), via: null });
  t.deepEqual(await s.delivered(B, 2), [
    { src: '10.99.1.1', dst: s.ip(B), marker: 'h1' },
    { src: '10.99.1.1', dst: s.ip(B), marker: 'h2' },
  ]);
  b = await s.stats(B);
  t.like(b, { rxPendingHeld: 2, rxPendingReleased: 2, pendingHeld: 0 });
  t.deepEqual(b.peers[peer(A)], { ...zero, rxData: 2 });
  t.deepEqual(b.drops, {});
});

both('source check: a setPeer for another reason keeps what is held; a later one that allows the source delivers it', 2, async (t, s) => {
  await s.addAddress(A, '10.99.1.1/32');
  await applyAll(s, link(s, A, B));
  await s.send(A, { src: '10.99.1.1', dst: s.ip(B), marker: 'h1' });
  await s.send(A, { src: '10.99.1.1', dst: s.ip(B), marker: 'h2' });
  await s.settle();
  // an unrelated update of the peer (same prefixes: an endpoint or via change) while the DHT answers
  await s.apply(B, { cmd: 'setPeer', peerId: peer(A), endpoint: s.endpoint(A), allowed: [`${s.ip(A)}/32`], nodeId: s.nodeId(A), via: null });
  await s.settle();
  t.deepEqual((await s.stats(B)).drops, {}, 'still held');
  t.deepEqual(await s.delivered(B), []);
  await s.apply(B, { cmd: 'setPeer', peerId: peer(A), endpoint: s.endpoint(A), allowed: [`${s.ip(A)}/32`, '10.99.1.1/32'], nodeId: s.nodeId(A), via: null });
  t.deepEqual(markers(await s.delivered(B, 2)), ['h1', 'h2'], 'the source is allowed now: delivered in order');
  await s.send(A, { src: '10.99.1.1', dst: s.ip(B), marker: 'h3' });
  t.deepEqual(markers(await s.delivered(B, 3)), ['h1', 'h2', 'h3']);
  const b = await s.stats(B);
  t.deepEqual(b.peers[peer(A)], { ...zero, rxData: 3 });
  t.like(b, { rxPendingHeld: 2, rxPendingReleased: 2 });
  t.deepEqual(b.drops, {});
});

both('source check: a peer without a node id (static mesh) is not asked about: dropped at once, no event', 2, async (t, s) => {
  await s.addAddress(A, '10.99.1.1/32');
  const [peerAtA, , sessionAtB, sessionAtA] = link(s, A, B);
  await applyAll(s, [peerAtA!, [B, { cmd: 'setPeer', peerId: peer(A), endpoint: s.endpoint(A), allowed: [`${s.ip(A)}/32`], nodeId: null, via: null }], sessionAtB!, sessionAtA!]);
  await s.send(A, { src: '10.99.1.1', dst: s.ip(B), marker: 'x' });
  await s.settle();
  t.deepEqual(await s.events(B), []);
  const b = await s.stats(B);
  t.deepEqual(b.drops, { source_not_allowed: 1 });
  t.not(b.rxPendingHeld, 1, 'not held');
  await s.apply(B, { cmd: 'setPeer', peerId: peer(A), endpoint: s.endpoint(A), allowed: [`${s.ip(A)}/32`, '10.99.1.1/32'], nodeId: null, via: null });
  await s.settle();
  t.deepEqual(await s.delivered(B), []);
});

// ---------------------------------------------------------------- 3b. destinations

both('destinations: with a list (overlay mode), a packet for anything else is dropped dst_not_allowed, before the source check; a gateway client may send anywhere', 2, async (t, s) => {
  await s.addAddress(A, '10.99.1.1/32');
  await s.addAddress(B, '10.99.200.5/32'); // B's host LAN: would be seen if it were delivered
  await applyAll(s, link(s, A, B));
  // A routes the foreign prefix to B (a member trying to use B's host as its router)
  await s.apply(A, { cmd: 'setPeer', peerId: peer(B), endpoint: s.endpoint(B), allowed: [`${s.ip(B)}/32`, '10.99.200.0/24'], nodeId: s.nodeId(B), via: null });
  await s.send(A, { src: s.ip(A), dst: '10.99.200.5', marker: 'out' });
  await s.send(A, { src: '10.99.1.1', dst: '10.99.200.5', marker: 'out-unlearned' });
  await s.send(A, { src: s.ip(A), dst: s.ip(B), marker: 'in' });
  t.deepEqual(markers(await s.delivered(B, 1)), ['in']);
  await s.settle();
  t.deepEqual(markers(await s.delivered(B)), ['in'], 'nothing for the foreign prefix');
  t.deepEqual(await s.events(B), [], 'no source_unknown for a packet never served');
  const b = await s.stats(B);
  t.deepEqual(b.drops, { dst_not_allowed: 2 });
  t.deepEqual(b.peers[peer(A)], { ...zero, rxData: 1 });
  // B a gateway whose policy admits A: any destination, from A's own address only
  await s.apply(B, { cmd: 'setPeer', peerId: peer(A), endpoint: s.endpoint(A), allowed: [`${s.ip(A)}/32`], nodeId: s.nodeId(A), via: null, gatewayClient: true });
  await s.send(A, { src: s.ip(A), dst: '10.99.200.5', marker: 'via-gateway' });
  t.deepEqual(markers(await s.delivered(B, 2)), ['in', 'via-gateway']);
  t.deepEqual((await s.stats(B)).drops, { dst_not_allowed: 2 });
}, { destinations: ['10.99.0.0/24'] }); // (the engines' addresses are 10.99.0.x; the OS routes 10.99/16 to the device)

// ---------------------------------------------------------------- 4. relay by via

both('relay by via: A reaches C through B; B forwards, A and C count the relayed packet end to end', 3, async (t, s) => {
  await applyAll(s, link(s, A, B));
  await applyAll(s, link(s, B, C));
  // A and C: an end-to-end session, no endpoint, via B
  const k1 = new Uint8Array(32).fill(7), k2 = new Uint8Array(32).fill(9);
  await applyAll(s, [
    [A, { cmd: 'setPeer', peerId: peer(C), endpoint: null, allowed: [`${s.ip(C)}/32`], nodeId: s.nodeId(C), via: peer(B) }],
    [C, { cmd: 'setPeer', peerId: peer(A), endpoint: null, allowed: [`${s.ip(A)}/32`], nodeId: s.nodeId(A), via: peer(B) }],
    [C, { cmd: 'setSession', peerId: peer(A), keys: { localIndex: 132, remoteIndex: 131, sendKey: k2, recvKey: k1, initiator: false } }],
    [A, { cmd: 'setSession', peerId: peer(C), keys: { localIndex: 131, remoteIndex: 132, sendKey: k1, recvKey: k2, initiator: true } }],
  ] satisfies [number, EngineCommand][]);
  await s.send(A, { src: s.ip(A), dst: s.ip(C), marker: 'relayed' });
  t.deepEqual(await s.delivered(C, 1), [{ src: s.ip(A), dst: s.ip(C), marker: 'relayed' }]);
  await s.settle();
  const [a, b, c] = [await s.stats(A), await s.stats(B), await s.stats(C)];
  t.deepEqual(a.peers[peer(C)], { ...zero, txData: 1, txRelayed: 1 });
  t.deepEqual(a.peers[peer(B)], zero, 'the hop carries it but does not count it as its data');
  t.is(b.relayForwarded, 1);
  t.deepEqual([b.peers[peer(A)], b.peers[peer(C)]], [zero, zero]);
  t.deepEqual(c.peers[peer(A)], { ...zero, rxData: 1, rxRelayed: 1 });
  t.deepEqual(c.peers[peer(B)], zero);
  for (const [i, x] of [a, b, c].entries()) t.deepEqual(x.drops, {}, `no drops at ${i}`);
  for (const i of [A, B, C]) t.deepEqual(await s.events(i), [], `no events at ${i}`);
});

// ---------------------------------------------------------------- 5. data counters vs CONTROL / keepalives

both('per-peer data counters count data only: CONTROL frames (a control event with the payload) and keepalives do not', 2, async (t, s) => {
  await applyAll(s, link(s, A, B));
  await s.apply(A, { cmd: 'sendControl', peerId: peer(B), bytes: new Uint8Array([1, 2, 3, 4, 5]) });
  await s.apply(A, { cmd: 'sendKeepalive', peerId: peer(B) });
  await s.apply(B, { cmd: 'sendKeepalive', peerId: peer(A) });
  await s.apply(B, { cmd: 'sendControl', peerId: peer(A), bytes: new Uint8Array([9]) });
  await s.settle();
  t.deepEqual(await s.events(B), [{ kind: 'control', peerId: peer(A), data: new Uint8Array([1, 2, 3, 4, 5]) }]);
  t.deepEqual(await s.events(A), [{ kind: 'control', peerId: peer(B), data: new Uint8Array([9]) }]);
  t.deepEqual((await s.stats(A)).peers[peer(B)], zero);
  t.deepEqual((await s.stats(B)).peers[peer(A)], zero);
  await s.send(A, { src: s.ip(A), dst: s.ip(B), marker: 'data' });
  t.deepEqual(markers(await s.delivered(B, 1)), ['data']);
  t.deepEqual((await s.stats(A)).peers[peer(B)], { ...zero, txData: 1 });
  t.deepEqual((await s.stats(B)).peers[peer(A)], { ...zero, rxData: 1 });
  for (const i of [A, B]) t.deepEqual((await s.stats(i)).drops, {});
});

// ---------------------------------------------------------------- 5b. a responder waits for its initiator

both('a responder sends on a new session only after a frame arrived on it: held without asking for a handshake, then released', 2, async (t, s) => {
  await applyAll(s, link(s, A, B)); // B is the responder
  await s.send(B, { src: s.ip(B), dst: s.ip(A), marker: 'early' });
  await s.settle();
  t.deepEqual(await s.delivered(A), [], 'nothing sent on the unconfirmed session');
  t.deepEqual(await s.events(B), [], 'no need_session: the initiator\'s handshake is the one under way');
  t.like(await s.stats(B), { pendingHeld: 1, pendingReleased: 0 });
  await s.apply(A, { cmd: 'sendKeepalive', peerId: peer(B) });
  t.deepEqual(markers(await s.delivered(A, 1)), ['early'], 'the initiator\'s keepalive confirms it and releases what was held');
  t.like(await s.stats(B), { pendingHeld: 1, pendingReleased: 1 });
  for (const i of [A, B]) t.deepEqual((await s.stats(i)).drops, {});
});

// ---------------------------------------------------------------- 6. drops by the same codes

both('frames are dropped by the same codes: unknown_index, short_frame, unknown_type, auth_failed; handshake types go up', 2, async (t, s) => {
  const send = (bytes: Uint8Array): Promise<void> => s.apply(A, { cmd: 'sendFrame', endpoint: s.endpoint(B), bytes });
  await send(frame(4, 0xdeadbeef)); // DATA, nobody's index
  await send(frame(6, 0xdeadbeef)); // RELAY, nobody's index
  await send(frame(5, 0xdeadbeef, 20)); // CONTROL shorter than header + tag
  await send(frame(9, 0)); // no such type
  const init = frame(1, 0, 40);
  await send(init);
  await s.settle();
  t.deepEqual((await s.stats(B)).drops, { unknown_index: 2, short_frame: 1, unknown_type: 1 });
  t.deepEqual(await s.events(B), [{ kind: 'handshake', from: s.endpoint(A), data: init }]);
  // a frame with B's index that no session sealed
  const l = link(s, A, B);
  await applyAll(s, l);
  const idx = (l[2]![1] as Extract<EngineCommand, { cmd: 'setSession' }>).keys.localIndex;
  await send(frame(4, idx));
  await s.settle();
  t.deepEqual((await s.stats(B)).drops, { unknown_index: 2, short_frame: 1, unknown_type: 1, auth_failed: 1 });
  t.deepEqual((await s.stats(B)).peers[peer(A)], zero);
  t.deepEqual(await s.events(B), []);
});
