// Tests the handshake machine end to end between Handshakers over a lossy, scripted "network".
// It must not use real time or real randomness: every run is deterministic.
import test from 'ava';
import { createCipheriv, createDecipheriv } from 'node:crypto';
import {
  Handshaker,
  REJECT_AFTER_TIME,
  REKEY_AFTER_TIME,
  REKEY_ATTEMPT_TIME,
  REKEY_TIMEOUT,
  type Action,
  type SessionKeys,
} from './handshake.js';
import { encodeInitiation, encodeResponse, mac1Key } from './frames.js';
import { tai64n } from './tai64n.js';
import { x25519, x25519PublicKey, type DhFn } from './noise.js';
import { seededRandom } from './seeded-random.js';

const rng = seededRandom;

interface Node {
  hs: Handshaker;
  pub: Uint8Array;
  sessions: Map<number, SessionKeys>; // by local index
  current: SessionKeys | null;
  dhCalls: { n: number };
}

function node(name: string, opts: { random?: (n: number) => Uint8Array } = {}): Node {
  const random = opts.random ?? rng(name);
  const priv = rng(`${name}/static`)(32);
  const pub = x25519PublicKey(priv);
  const dhCalls = { n: 0 };
  const dh: DhFn = (a, b) => (dhCalls.n++, x25519(a, b));
  return { hs: new Handshaker({ staticPrivate: priv, staticPublic: pub, random, dh }), pub, sessions: new Map(), current: null, dhCalls };
}

/** Applies actions to the node's session table; returns the bytes it wants sent. */
function apply(n: Node, actions: Action[]): Uint8Array[] {
  const sends: Uint8Array[] = [];
  for (const a of actions) {
    if (a.kind === 'send') sends.push(a.bytes);
    if (a.kind === 'established') {
      for (const i of a.expiredLocalIndices) n.sessions.delete(i);
      n.sessions.set(a.session.localIndex, a.session);
      n.current = a.session;
    }
    if (a.kind === 'retired') {
      n.sessions.delete(a.localIndex);
      if (n.current?.localIndex === a.localIndex) n.current = null;
    }
  }
  return sends;
}

function pair() {
  const a = node('alice');
  const b = node('bob');
  a.hs.addPeer(2, b.pub);
  b.hs.addPeer(1, a.pub);
  return { a, b };
}

const nonce = (c: bigint) => {
  const n = Buffer.alloc(12);
  n.writeBigUInt64LE(c, 4);
  return n;
};
function seal(key: Uint8Array, counter: bigint, pt: string): Uint8Array {
  const c = createCipheriv('chacha20-poly1305', key, nonce(counter), { authTagLength: 16 });
  return Buffer.concat([c.update(pt, 'utf8'), c.final(), c.getAuthTag()]);
}
function open(key: Uint8Array, counter: bigint, ct: Uint8Array): string | null {
  try {
    const d = createDecipheriv('chacha20-poly1305', key, nonce(counter), { authTagLength: 16 });
    d.setAuthTag(ct.subarray(ct.length - 16));
    return Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()]).toString('utf8');
  } catch {
    return null;
  }
}

/** `from` sends with its current session; `to` finds the session by receiver index and decrypts. */
function talks(from: Node, to: Node, msg: string): boolean {
  const s = from.current;
  if (!s) return false;
  const r = to.sessions.get(s.remoteIndex);
  return r !== undefined && open(r.recvKey, 7n, seal(s.sendKey, 7n, msg)) === msg;
}

const kinds = (as: Action[]) => as.map((a) => (a.kind === 'rejected' ? `rejected:${a.code}` : a.kind));

test('IK round trip: sizes, indices, keys interoperate both ways', (t) => {
  const { a, b } = pair();
  const [init] = apply(a, a.hs.initiate(2, 1_000));
  t.is(init!.length, 148);
  const rb = b.hs.receive(init!, 1_010);
  t.deepEqual(kinds(rb), ['established', 'send']);
  const [resp] = apply(b, rb);
  t.is(resp!.length, 92);
  const ra = a.hs.receive(resp!, 1_020);
  t.deepEqual(kinds(ra), ['established']);
  apply(a, ra);
  t.deepEqual(kinds(a.hs.receive(resp!, 1_030)), ['rejected:unknown_index'], 'a replayed response is refused');
  const [a2, b2] = [a, b];
  const sa = a2.current!;
  const sb = b2.current!;
  t.true(sa.initiator);
  t.false(sb.initiator);
  t.is(sa.localIndex, sb.remoteIndex);
  t.is(sb.localIndex, sa.remoteIndex);
  t.deepEqual(sa.sendKey, sb.recvKey);
  t.deepEqual(sa.recvKey, sb.sendKey);
  t.notDeepEqual(sa.sendKey, sa.recvKey);
  t.true(talks(a2, b2, 'hello bob'));
  t.true(talks(b2, a2, 'hello alice'));
  const st = a2.hs.peerStatus(2)!;
  t.is(st.lastHandshakeAt, 1_020);
  t.is(st.current?.localIndex, sa.localIndex);
  t.false(st.handshakeInProgress);
});

for (const order of ['inits-first', 'a-completes-first', 'b-completes-first'] as const) {
  test(`both sides initiate at once (${order}): both hold working sessions`, (t) => {
    const { a, b } = pair();
    const [ia] = apply(a, a.hs.initiate(2, 1_000));
    const [ib] = apply(b, b.hs.initiate(1, 1_000));
    if (order === 'inits-first') {
      const [rb] = apply(b, b.hs.receive(ia!, 1_001));
      const [ra] = apply(a, a.hs.receive(ib!, 1_001));
      apply(a, a.hs.receive(rb!, 1_002));
      apply(b, b.hs.receive(ra!, 1_002));
    } else if (order === 'a-completes-first') {
      const [rb] = apply(b, b.hs.receive(ia!, 1_001));
      apply(a, a.hs.receive(rb!, 1_002));
      const [ra] = apply(a, a.hs.receive(ib!, 1_003));
      apply(b, b.hs.receive(ra!, 1_004));
    } else {
      const [ra] = apply(a, a.hs.receive(ib!, 1_001));
      apply(b, b.hs.receive(ra!, 1_002));
      const [rb] = apply(b, b.hs.receive(ia!, 1_003));
      apply(a, a.hs.receive(rb!, 1_004));
    }
    t.is(a.sessions.size, 2);
    t.is(b.sessions.size, 2);
    t.true(talks(a, b, 'a->b'));
    t.true(talks(b, a, 'b->a'));
    t.false(a.hs.peerStatus(2)!.handshakeInProgress);
    t.false(b.hs.peerStatus(1)!.handshakeInProgress);
  });
}

test('lost initiation is resent by tick with a fresh ephemeral, then succeeds', (t) => {
  const { a, b } = pair();
  const [lost] = apply(a, a.hs.initiate(2, 0));
  t.deepEqual(a.hs.tick(REKEY_TIMEOUT - 1), []);
  const next = a.hs.nextTimer()!;
  t.true(next >= REKEY_TIMEOUT && next <= REKEY_TIMEOUT + 333);
  t.deepEqual(a.hs.tick(next - 1), []);
  const [again] = apply(a, a.hs.tick(next));
  t.truthy(again);
  t.notDeepEqual(again!.subarray(8, 40), lost!.subarray(8, 40), 'new ephemeral');
  t.notDeepEqual(again!.subarray(4, 8), lost!.subarray(4, 8), 'new sender index');
  const [resp] = apply(b, b.hs.receive(again!, next + 5));
  apply(a, a.hs.receive(resp!, next + 10));
  t.true(talks(a, b, 'x') && talks(b, a, 'y'));
  t.deepEqual(kinds(b.hs.receive(lost!, next + 20)), ['rejected:replay'], 'the stale one is older than the accepted one');
});

test('lost response: initiator resends, responder accepts the newer initiation', (t) => {
  const { a, b } = pair();
  const [i1] = apply(a, a.hs.initiate(2, 0));
  apply(b, b.hs.receive(i1!, 5)); // response lost
  const [i2] = apply(a, a.hs.tick(a.hs.nextTimer()!));
  const r2 = b.hs.receive(i2!, 5_500);
  t.deepEqual(kinds(r2), ['established', 'send']);
  const [resp] = apply(b, r2);
  apply(a, a.hs.receive(resp!, 5_510));
  t.true(talks(a, b, 'x') && talks(b, a, 'y'));
});

test('an attempt gives up after REKEY_ATTEMPT_TIME and stops resending', (t) => {
  const { a } = pair();
  apply(a, a.hs.initiate(2, 0));
  let sends = 1;
  let failed = 0;
  for (let now = 0; now <= REKEY_ATTEMPT_TIME + 20_000; now += 100) {
    for (const x of a.hs.tick(now)) {
      if (x.kind === 'send') sends++;
      if (x.kind === 'failed') failed++;
    }
  }
  t.is(failed, 1);
  t.true(sends >= 17 && sends <= 19, `sent ${sends}`);
  t.false(a.hs.peerStatus(2)!.handshakeInProgress);
  t.is(a.hs.nextTimer(), null);
});

test('wrong static key configured: never established, rejected with a code', (t) => {
  const a = node('alice');
  const b = node('bob');
  const impostor = node('mallory');
  a.hs.addPeer(2, impostor.pub); // alice believes bob's key is mallory's
  b.hs.addPeer(1, a.pub);
  const rejected: string[] = [];
  let established = 0;
  let toB = apply(a, a.hs.initiate(2, 0));
  let toA = apply(b, b.hs.initiate(1, 0));
  for (let now = 0; now < 100_000; now += 250) {
    for (const m of toB) for (const x of b.hs.receive(m, now)) x.kind === 'rejected' ? rejected.push(x.code) : x.kind === 'established' && established++;
    for (const m of toA) for (const x of a.hs.receive(m, now)) x.kind === 'rejected' ? rejected.push(x.code) : x.kind === 'established' && established++;
    toB = apply(a, a.hs.tick(now));
    toA = apply(b, b.hs.tick(now));
  }
  t.is(established, 0);
  t.true(rejected.includes('bad_mac1'), 'bob cannot check alice→"bob" initiations: mac1 keyed to another key');
  t.true(rejected.includes('unknown_peer'), "alice does not know bob's real key");
});

test('replayed initiation: same bytes twice, and an older one after a newer one', (t) => {
  const { a, b } = pair();
  const [i1] = apply(a, a.hs.initiate(2, 10_000));
  t.deepEqual(kinds(b.hs.receive(i1!, 10_001)), ['established', 'send']);
  t.deepEqual(kinds(b.hs.receive(i1!, 10_002)), ['rejected:replay']);
  const [old] = apply(a, a.hs.initiate(2, 20_000));
  const [newer] = apply(a, a.hs.initiate(2, 30_000));
  t.deepEqual(kinds(b.hs.receive(newer!, 30_001)), ['established', 'send']);
  t.deepEqual(kinds(b.hs.receive(old!, 30_002)), ['rejected:replay']);
  // The replay memory survives removing and re-adding the peer.
  b.hs.removePeer(1);
  b.hs.addPeer(1, a.pub);
  t.deepEqual(kinds(b.hs.receive(newer!, 30_003)), ['rejected:replay']);
});

test('initiations in the same millisecond still carry increasing timestamps', (t) => {
  const { a, b } = pair();
  const [x] = apply(a, a.hs.initiate(2, 5_000));
  const [y] = apply(a, a.hs.initiate(2, 5_000));
  t.deepEqual(kinds(b.hs.receive(x!, 5_000)), ['established', 'send']);
  t.deepEqual(kinds(b.hs.receive(y!, 5_000)), ['established', 'send']);
  t.true(Buffer.compare(tai64n(1_001), tai64n(1_000)) > 0);
  t.true(Buffer.compare(tai64n(2_000), tai64n(1_999)) > 0);
});

test('bad mac1 costs no DH; a good initiation costs four', (t) => {
  const { a, b } = pair();
  const [init] = apply(a, a.hs.initiate(2, 0));
  const bad = new Uint8Array(init!);
  bad[bad.length - 17]! ^= 1; // the last byte of mac1 (mac2 follows it)
  b.dhCalls.n = 0;
  t.deepEqual(kinds(b.hs.receive(bad, 1)), ['rejected:bad_mac1']);
  const garbage = new Uint8Array(init!);
  garbage[50]! ^= 1; // inside the noise message: mac1 no longer matches either
  t.deepEqual(kinds(b.hs.receive(garbage, 1)), ['rejected:bad_mac1']);
  t.is(b.dhCalls.n, 0);
  t.deepEqual(kinds(b.hs.receive(init!, 2)), ['established', 'send']);
  t.is(b.dhCalls.n, 4);
});

test('hostile bytes: random input, truncations, bit flips and forged-mac1 garbage never throw', (t) => {
  const { a, b } = pair();
  const [init] = apply(a, a.hs.initiate(2, 0));
  const [resp] = apply(b, b.hs.receive(init!, 1));
  const r = rng('fuzz');
  const inputs: Uint8Array[] = [];
  for (let i = 0; i < 400; i++) {
    const len = r(1)[0]! + (i % 3 === 0 ? 0 : 60);
    const x = r(len);
    if (x.length > 0) x[0] = (i % 3) + 1;
    if (x.length > 3) x.fill(0, 1, 4);
    inputs.push(x);
  }
  for (const m of [init!, resp!]) {
    for (let n = 0; n < m.length; n++) inputs.push(m.subarray(0, n));
    // (mac2 is checked only under load: its own flips are in the cookie tests)
    for (let i = 0; i < m.length - 16; i++) {
      const f = new Uint8Array(m);
      f[i]! ^= 0x01;
      inputs.push(f);
    }
  }
  // Attacker knows our public key, so mac1 is valid but the Noise message is junk.
  inputs.push(encodeInitiation({ sender: 1, noise: r(108) }, mac1Key(b.pub)));
  inputs.push(encodeInitiation({ sender: 1, noise: new Uint8Array(108) }, mac1Key(b.pub)));
  inputs.push(encodeResponse({ sender: 1, receiver: 2, noise: r(48) }, mac1Key(b.pub)));
  for (const x of inputs) {
    for (const who of [a, b]) {
      let out: Action[] = [];
      t.notThrows(() => (out = who.hs.receive(x, 10)));
      t.true(out.every((o) => o.kind === 'rejected'), `accepted hostile input ${Buffer.from(x).toString('hex').slice(0, 40)}`);
    }
  }
});

test('a forged response with a valid mac1 and index does not spoil the pending handshake', (t) => {
  const { a, b } = pair();
  const [init] = apply(a, a.hs.initiate(2, 0));
  const sender = new DataView(init!.buffer, init!.byteOffset).getUint32(4, true);
  const forged = encodeResponse({ sender: 99, receiver: sender, noise: rng('junk')(48) }, mac1Key(a.pub));
  t.deepEqual(kinds(a.hs.receive(forged, 1)), ['rejected:decrypt_failed']);
  const [resp] = apply(b, b.hs.receive(init!, 2));
  t.deepEqual(kinds(a.hs.receive(resp!, 3)), ['established']);
});

test('unknown initiator static key is rejected unknown_peer', (t) => {
  const a = node('alice');
  const b = node('bob');
  a.hs.addPeer(2, b.pub); // bob does not know alice
  const [init] = apply(a, a.hs.initiate(2, 0));
  t.deepEqual(kinds(b.hs.receive(init!, 1)), ['rejected:unknown_peer']);
  t.deepEqual(kinds(a.hs.initiate(77, 0)), ['rejected:unknown_peer']);
});

test('no rekey on a timer: tick only expires sessions; initiate() on a live session rekeys, the old one kept for receiving', (t) => {
  const { a, b } = pair();
  const [i] = apply(a, a.hs.initiate(2, 0));
  const [r] = apply(b, b.hs.receive(i!, 0));
  apply(a, a.hs.receive(r!, 0));
  const first = a.current!;
  t.is(a.hs.nextTimer(), REJECT_AFTER_TIME, 'the only timer of a live session is its expiry');
  t.is(b.hs.nextTimer(), REJECT_AFTER_TIME);
  t.deepEqual(a.hs.tick(REKEY_AFTER_TIME), [], 'the data plane, not the clock, asks for a rekey');
  t.deepEqual(b.hs.tick(REKEY_AFTER_TIME + 45_000), []);
  // the data plane saw the initiator's session used past REKEY_AFTER_TIME: the node initiates
  const [ri] = apply(a, a.hs.initiate(2, REKEY_AFTER_TIME));
  t.truthy(ri);
  const [rr] = apply(b, b.hs.receive(ri!, REKEY_AFTER_TIME + 1));
  apply(a, a.hs.receive(rr!, REKEY_AFTER_TIME + 2));
  t.not(a.current!.localIndex, first.localIndex);
  t.true(a.sessions.has(first.localIndex), 'previous session still decrypts');
  t.true(talks(a, b, 'new') && talks(b, a, 'new'));
  // The old session expires at REJECT_AFTER_TIME.
  const ex = a.hs.tick(REJECT_AFTER_TIME);
  t.deepEqual(ex, [{ kind: 'retired', peerId: 2, localIndex: first.localIndex, reason: 'expired' }]);
});

test('an idle session lapses at REJECT_AFTER_TIME without any handshake', (t) => {
  const { a, b } = pair();
  const [i] = apply(a, a.hs.initiate(2, 0));
  apply(b, b.hs.receive(i!, 0));
  t.deepEqual(kinds(b.hs.tick(REJECT_AFTER_TIME - 1)), []);
  t.deepEqual(kinds(b.hs.tick(REJECT_AFTER_TIME)), ['retired']);
  t.is(b.hs.peerStatus(1)!.current, null);
});

test('a fourth session pushes the oldest out through expiredLocalIndices; removePeer retires the rest', (t) => {
  const { a, b } = pair();
  const seen: number[] = [];
  for (let k = 0; k < 4; k++) {
    const [i] = apply(a, a.hs.initiate(2, k * 1000));
    const [r] = apply(b, b.hs.receive(i!, k * 1000));
    const acts = a.hs.receive(r!, k * 1000);
    apply(a, acts);
    const est = acts.find((x) => x.kind === 'established');
    if (est?.kind === 'established') seen.push(est.session.localIndex, ...est.expiredLocalIndices.map((x) => -x - 1));
  }
  t.is(seen.length, 5, 'four sessions, one expired');
  t.is(a.sessions.size, 3);
  const removed = a.hs.removePeer(2);
  t.deepEqual(kinds(removed), ['retired', 'retired', 'retired']);
  t.is(a.hs.status().length, 0);
});

test('local indices stay unique even with a degenerate random source', (t) => {
  const zeros = (n: number) => new Uint8Array(n);
  const a = node('alice', { random: zeros });
  const idx = new Set<number>();
  for (let p = 0; p < 5; p++) {
    a.hs.addPeer(p, node(`peer${p}`).pub);
    const [m] = apply(a, a.hs.initiate(p, 0));
    idx.add(new DataView(m!.buffer, m!.byteOffset).getUint32(4, true));
  }
  t.is(idx.size, 5);
});

test('configuration errors throw (programmer errors, not network input)', (t) => {
  const a = node('alice');
  const b = node('bob');
  a.hs.addPeer(2, b.pub);
  t.throws(() => a.hs.addPeer(2, node('carol').pub));
  t.throws(() => a.hs.addPeer(3, b.pub));
  t.throws(() => a.hs.addPeer(4, a.pub));
  t.throws(() => a.hs.addPeer(5, new Uint8Array(31)));
  t.throws(() => new Handshaker({ staticPrivate: new Uint8Array(32), staticPublic: b.pub, random: rng('x') }));
});

test('replay memory is bounded: past maxTimestamps keys, the oldest former peer is forgotten; live peers never', (t) => {
  const b = node('bob');
  const admitted: number[] = [];
  let next = 10;
  const hs = new Handshaker({ staticPrivate: rng('bob/static')(32), staticPublic: b.pub, random: rng('bob2'), admit: () => { admitted.push(next); return next++; }, maxTimestamps: 3 });
  const inits: Uint8Array[] = [];
  for (let i = 0; i < 5; i++) {
    const s = node(`stranger${i}`);
    s.hs.addPeer(1, b.pub);
    const [init] = apply(s, s.hs.initiate(1, 1_000 + i));
    inits.push(init!);
    t.deepEqual(kinds(hs.receive(init!, 1_000 + i)), ['established', 'send']);
    if (i < 4) hs.removePeer(admitted[i]!); // strangers 0-3 leave; stranger 4 stays a peer
  }
  const seen = (hs as unknown as { timestamps: { size: number } }).timestamps;
  t.true(seen.size <= 3, `${seen.size} keys remembered`);
  // the last three keys are remembered: a replay of stranger 3's initiation is still refused
  t.deepEqual(kinds(hs.receive(inits[3]!, 2_000)), ['rejected:replay']);
  t.deepEqual(kinds(hs.receive(inits[4]!, 2_000)), ['rejected:replay'], 'a live peer keeps its timestamp');
});

test('realm tag: a private overlay\'s initiation carries its tag and only a handshaker of that realm answers it; indices stay clear of the other overlays\'', (t) => {
  const bob = node('bob');
  const mk = (realm: number, name: string) => new Handshaker({ staticPrivate: rng('bob/static')(32), staticPublic: bob.pub, random: rng(name), realm, indexTaken: (i) => taken.has(i) });
  const taken = new Set<number>();
  const bobPublic = mk(0, 'bob-public'), bobGroup = mk(0x1234ab, 'bob-group');
  const alice = new Handshaker({ staticPrivate: rng('alice/static')(32), staticPublic: node('alice').pub, random: rng('alice-group'), realm: 0x1234ab });
  alice.addPeer(1, bob.pub);
  bobPublic.addPeer(7, node('alice').pub);
  bobGroup.addPeer(7, node('alice').pub);
  const [init] = alice.initiate(1, 1_000).filter((a) => a.kind === 'send').map((a) => (a as { bytes: Uint8Array }).bytes);
  t.deepEqual([...init!.subarray(1, 4)], [0x12, 0x34, 0xab]);
  t.deepEqual(kinds(bobPublic.receive(init!, 1_000)), ['rejected:unknown_realm'], 'the public overlay refuses it before any DH');
  const answered = bobGroup.receive(init!, 1_000);
  t.deepEqual(kinds(answered), ['established', 'send']);
  const local = (answered.find((a) => a.kind === 'established') as { session: { localIndex: number } }).session.localIndex;
  t.true(bobGroup.ownsIndex(local));
  t.false(bobPublic.ownsIndex(local));
  // an index one handshaker holds is never handed out by another of the same engine
  for (let i = 0; i < 200; i++) taken.add(0x01010101 + i); // what a source of all-ones bytes draws, and the 199 after it
  const degenerate = new Handshaker({ staticPrivate: rng('bob/static')(32), staticPublic: bob.pub, random: (n) => new Uint8Array(n).fill(1), indexTaken: (i) => taken.has(i) });
  degenerate.addPeer(1, node('alice').pub);
  const sent = degenerate.initiate(1, 1_000).find((a) => a.kind === 'send') as { bytes: Uint8Array };
  t.is(new DataView(sent.bytes.buffer, sent.bytes.byteOffset).getUint32(4, true), 0x01010101 + 200);
});
