// The VpnNode as a state machine, quinn's `Pair` style: two static-mesh nodes over in-memory engines on
// a zero-latency wire, stepped by hand. Asserts the handshake, the data path, the keepalive order and
// that only the initiator rekeys on time.
import test from 'ava';
import { VpnNode } from './vpn-node.js';
import { gatewayPolicy } from './group.js';
import { keyPairFromPrivate } from '../handshake/primitives.js';
import { Xoshiro128 } from '../core/rng.js';
import { MemoryEngine, type Datagram, type SimPacket } from '../sim/memory-engine.js';
import type { EngineCommand } from './io.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const EPOCH = Date.UTC(2026, 0, 1);

class Pair {
  readonly nodes: VpnNode[] = [];
  readonly engines: MemoryEngine[] = [];
  readonly wire: { to: number; from: string; d: Datagram }[] = [];
  readonly log: { node: number; cmd: EngineCommand['cmd'] }[] = [];
  readonly delivered: { node: number; pkt: SimPacket; how: string }[] = [];
  now = 0;

  constructor(seed: number) {
    const rng = new Xoshiro128(seed);
    const random = (n: number): Uint8Array => { const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = rng.u32() & 0xff; return b; };
    const keys = [keyPairFromPrivate(random(32)), keyPairFromPrivate(random(32))];
    const ep = ['192.0.2.1:51820', '192.0.2.2:51820'];
    for (let i = 0; i < 2; i++) {
      const other = 1 - i;
      const node = new VpnNode({
        keys: keys[i]!, random, seed: i, wallOffsetMs: EPOCH, log: quiet,
        // node 1 knows no endpoint for node 0: only node 0 can start
        peers: [{ publicKey: keys[other]!.publicKey, endpoint: i === 0 ? ep[other]! : null, allowed: [`10.9.0.${other + 1}/32`] }],
      });
      const e = new MemoryEngine(ep[i]!, node.self, { send: (from, to, d) => this.wire.push({ to: ep.indexOf(to), from, d }) });
      e.onDevice = (pkt, how) => this.delivered.push({ node: i, pkt, how });
      this.nodes.push(node);
      this.engines.push(e);
    }
  }

  /** Move commands, engine events and datagrams until everything is quiet. */
  drive(): void {
    for (let round = 0; round < 100; round++) {
      let busy = false;
      for (let i = 0; i < 2; i++) {
        const n = this.nodes[i]!, e = this.engines[i]!.at(this.now);
        for (const c of n.pollCommands()) { busy = true; this.log.push({ node: i, cmd: c.cmd }); e.apply(c); }
        for (const x of e.events.splice(0)) { busy = true; n.handle(this.now, x); }
      }
      for (const w of this.wire.splice(0)) { busy = true; this.engines[w.to]!.at(this.now).receive(w.from, w.d); }
      if (!busy) return;
    }
  }

  tickTo(t: number): void {
    while (this.now < t) {
      this.now = Math.min(t, this.now + 500);
      for (const n of this.nodes) n.tick(this.now);
      for (const e of this.engines) e.tick(this.now);
      this.drive();
    }
  }
}

test('a static mesh handshakes, carries packets both ways; the initiator confirms with a keepalive, the responder sends only its response', (t) => {
  const p = new Pair(1);
  p.tickTo(500);
  t.true(p.nodes.every((n) => [...n.links.peers.values()].every((x) => x.established)), 'both sides hold a session');
  // node 1 answered: its session is installed before its response leaves (the initiator's keepalive may arrive at
  // once; the engine sends nothing on a responder's session before that), and it sends no keepalive
  const n1 = p.log.filter((x) => x.node === 1).map((x) => x.cmd);
  t.true(n1.indexOf('setSession') >= 0 && n1.indexOf('setSession') < n1.indexOf('sendFrame') && !n1.includes('sendKeepalive'), n1.join());
  const n0 = p.log.filter((x) => x.node === 0).map((x) => x.cmd);
  t.true(n0.indexOf('setSession') < n0.indexOf('sendKeepalive'), n0.join());
  t.deepEqual(p.engines.map((e) => e.drops), [{}, {}], 'no frame dropped');
  p.engines[0]!.fromDevice({ src: '10.9.0.1', dst: '10.9.0.2', id: 1, reply: false, bytes: 84 });
  p.engines[1]!.fromDevice({ src: '10.9.0.2', dst: '10.9.0.1', id: 2, reply: true, bytes: 84 });
  p.drive();
  t.deepEqual(p.delivered.map((d) => [d.node, d.pkt.id, d.how]), [[1, 1, 'direct'], [0, 2, 'direct']]);
});

test('a packet from a source the peer may not use is refused; the peer never learns it (static mesh)', (t) => {
  const p = new Pair(2);
  p.tickTo(500);
  p.engines[0]!.fromDevice({ src: '10.9.0.77', dst: '10.9.0.2', id: 9, reply: false, bytes: 84 });
  p.tickTo(8_000);
  t.deepEqual(p.delivered, []);
  t.is(p.engines[1]!.drops.source_not_allowed, 1);
});

test('only the initiator rekeys, and only a session in use (WireGuard rule); an idle session lapses', (t) => {
  const p = new Pair(3);
  p.tickTo(500);
  const hs = () => p.nodes.map((n) => [...n.links.peers.values()][0]!.handshakes);
  t.deepEqual(hs(), [1, 1]);
  const initiations = () => p.log.filter((x) => x.cmd === 'sendFrame').length;
  const frames = (node: number) => p.log.filter((x) => x.node === node && x.cmd === 'sendFrame').length;
  let before = initiations();
  const f0 = frames(0), f1 = frames(1);
  // the responder uses its session past 120 s: it starts nothing itself; the initiator, receiving on
  // its own session past 120 s, rekeys (WireGuard's keepKeyFresh on receive)
  p.tickTo(121_000);
  p.engines[1]!.fromDevice({ src: '10.9.0.2', dst: '10.9.0.1', id: 3, reply: false, bytes: 84 });
  p.drive();
  t.deepEqual(hs(), [2, 2], 'one rekey');
  t.deepEqual([frames(0) - f0, frames(1) - f1], [1, 1], 'node 0 initiated, node 1 only responded');
  p.engines[0]!.fromDevice({ src: '10.9.0.1', dst: '10.9.0.2', id: 4, reply: false, bytes: 84 });
  p.drive();
  t.deepEqual(hs(), [2, 2], 'no second rekey');
  t.is(initiations() - before, 2);
  t.deepEqual(p.delivered.map((d) => d.pkt.id), [3, 4]);
  // nothing more while idle: the sessions lapse at 180 s after the rekey, with no handshake
  before = initiations();
  p.tickTo(310_000);
  t.is(initiations() - before, 0);
  t.true(p.nodes.every((n) => ![...n.links.peers.values()][0]!.established), 'the idle session lapsed');
  t.deepEqual(p.engines.map((e) => e.drops), [{}, {}]);
});

test('a gateway policy: every member with *, else members whose certificate has an allowed group', (t) => {
  const id = (n: number): bigint => BigInt(n);
  const certs = new Map([[id(1), { address: '10.128.0.1', subnets: [], groups: ['eng', 'ops'] }], [id(2), { address: '10.128.0.2', subnets: [], groups: ['sales'] }]]);
  const group = { certOf: (n: bigint) => certs.get(n) } as unknown as Parameters<typeof gatewayPolicy>[1];
  t.true(gatewayPolicy(['*'], undefined)(id(3)));
  const ops = gatewayPolicy(['ops'], group);
  t.true(ops(id(1)));
  t.false(ops(id(2)));
  t.false(ops(id(3)), 'no certificate known: refused');
  t.false(gatewayPolicy(['ops'], undefined)(id(1)), 'groups without a private group: nobody');
});
