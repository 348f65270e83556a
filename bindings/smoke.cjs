// Smoke check for the native binding (not the ava test): constants, error codes, and, when
// run as root, a TUN engine start/stats/close cycle. The process must exit on its own
// (the event callback must not keep Node alive). Run: node bindings/smoke.cjs
'use strict';
const assert = require('node:assert');
const m = require('./index.js');

assert.strictEqual(m.FRAME_TYPE_DATA, 4);
assert.strictEqual(m.FRAME_TYPE_CONTROL, 5);
assert.strictEqual(m.FRAME_HEADER_LEN, 16);
assert.strictEqual(m.FRAME_TAG_LEN, 16);
assert.strictEqual(m.FRAME_TYPE_RELAY, 6);
assert.strictEqual(m.FRAME_TYPE_PROBE, 7);
assert.strictEqual(m.RELAY_HEADER_LEN, 44);
assert.ok(m.dropReasons().includes('source_not_allowed'));
assert.ok(m.dropReasons().includes('relay_no_route'));
assert.ok(m.dropReasons().includes('relay_src_mismatch'));
assert.ok(m.dropReasons().includes('relay_full') && m.dropReasons().includes('relay_rate'));

const cfg = (o) => Object.assign({ mode: 'tun', ifname: 'rvsmoke' + (process.pid % 10000), listenPort: 0, listenAddress: '127.0.0.1' }, o);
assert.throws(() => m.Engine.start(cfg({ mode: 'bridge' }), () => {}), /^Error: E_CONFIG: /);
assert.throws(() => m.Engine.start(cfg({ listenAddress: 'nope' }), () => {}), /^Error: E_ADDR: /);
assert.throws(() => m.Engine.start(cfg({ address: '10.0.0.1' }), () => {}), /^Error: E_ADDR: /);
assert.throws(() => m.Engine.start(cfg({ relayMaxSessions: 70000 }), () => {}), /^Error: E_CONFIG: /);
assert.throws(() => m.Engine.start(cfg({ relayRateBytes: -1 }), () => {}), /^Error: E_CONFIG: /);

if (process.getuid && process.getuid() === 0) {
  let wakeups = 0;
  const e = m.Engine.start(cfg({ nodeId: Buffer.alloc(20, 9), serviceAddress: '10.99.0.53', interceptDhcp: true, relayMaxSessions: 7 }), () => { wakeups++; });
  assert.deepStrictEqual([e.stats().relayPairs, e.stats().relayMaxPairs], [0, 7]);
  assert.match(e.localAddr(), /^127\.0\.0\.1:\d+$/);
  e.setPeer(1, null, ['10.99.0.2/32']);
  assert.throws(() => e.setPeer(1, 'bad', []), /^Error: E_ADDR: /);
  // Relay settings: node id and via (null clears; omitted keeps).
  e.setPeer(2, null, ['10.99.0.3/32'], { nodeId: Buffer.alloc(20, 3), via: 1 });
  e.setPeer(2, null, ['10.99.0.3/32']);
  assert.throws(() => e.setPeer(2, null, [], { nodeId: Buffer.alloc(3) }), /^Error: E_CONFIG: /);
  assert.throws(() => e.setPeer(2, null, [], { via: 2 }), /^Error: E_PEER: /);
  let p2 = e.stats().peers.find((p) => p.peerId === 2);
  assert.deepStrictEqual([p2.nodeId, p2.via, p2.txRelayedPackets, p2.rxRelayedBytes], ['03'.repeat(20), 1, 0, 0]);
  e.setPeer(2, null, ['10.99.0.3/32'], { via: null });
  p2 = e.stats().peers.find((p) => p.peerId === 2);
  assert.deepStrictEqual([p2.nodeId, p2.via ?? null], ['03'.repeat(20), null]);
  // relayOnly: default false, set, kept when omitted, cleared; must be a boolean.
  assert.strictEqual(p2.relayOnly, false);
  e.setPeer(2, null, ['10.99.0.3/32'], { relayOnly: true });
  e.setPeer(2, null, ['10.99.0.3/32'], { via: 1 });
  p2 = e.stats().peers.find((p) => p.peerId === 2);
  assert.deepStrictEqual([p2.relayOnly, p2.via], [true, 1]);
  e.setPeer(2, null, ['10.99.0.3/32'], { relayOnly: false });
  assert.strictEqual(e.stats().peers.find((p) => p.peerId === 2).relayOnly, false);
  assert.throws(() => e.setPeer(2, null, [], { relayOnly: 'yes' }), /^Error: E_CONFIG: /);
  // forgetEndpoint: a null endpoint with it drops the current one; a given endpoint wins.
  e.setPeer(2, '127.0.0.1:9', ['10.99.0.3/32'], { forgetEndpoint: true });
  assert.strictEqual(e.stats().peers.find((p) => p.peerId === 2).endpoint, '127.0.0.1:9');
  e.setPeer(2, null, ['10.99.0.3/32'], { forgetEndpoint: true });
  assert.strictEqual(e.stats().peers.find((p) => p.peerId === 2).endpoint ?? null, null);
  assert.throws(() => e.setPeer(2, null, [], { forgetEndpoint: 1 }), /^Error: E_CONFIG: /);
  // Runtime address (engine only: the smoke namespace's routes stay untouched) and device writes.
  e.setAddress('10.99.0.1/24', false);
  e.setAddress(null, false);
  assert.throws(() => e.setAddress('10.99.0.1', false), /^Error: E_ADDR: /);
  assert.throws(() => e.writeDevice(Buffer.alloc(3)), /^Error: E_FRAME: /);
  assert.strictEqual(e.stats().drops.device_write, 1);
  assert.strictEqual(e.stats().relayForwarded, 0);
  assert.strictEqual(e.stats().deviceIntercepted, 0);
  assert.throws(() => e.setSession(1, { localIndex: 1, remoteIndex: 2, sendKey: Buffer.alloc(31), recvKey: Buffer.alloc(32), initiator: true }), /^Error: E_CONFIG: /);
  e.setSession(1, { localIndex: 1, remoteIndex: 2, sendKey: Buffer.alloc(32, 1), recvKey: Buffer.alloc(32, 2), initiator: true });
  assert.throws(() => e.sendControl(1, Buffer.from('x')), /^Error: E_SESSION: /);
  assert.throws(() => e.sendControl(7, Buffer.from('x')), /^Error: E_PEER: /);
  // A handshake frame sent to ourselves comes back as an event.
  e.sendFrame(e.localAddr(), Buffer.from([1, 2, 3]));
  setTimeout(() => {
    const evs = e.drainEvents();
    assert.strictEqual(wakeups, 1);
    assert.deepStrictEqual(evs.map((x) => [x.kind, x.from, [...x.data]]), [['handshake', e.localAddr(), [1, 2, 3]]]);
    const s = e.stats();
    assert.strictEqual(s.peers[0].sessions, 1);
    assert.strictEqual(s.peers[0].nodeId ?? null, null);
    assert.strictEqual(typeof s.drops.replay, 'number');
    console.log('smoke ok (root):', JSON.stringify({ rx: s.rxPackets, tx: s.txPackets }));
    // Deliberately not calling close(): Node must still exit (weak TSFN); the OS closes the device.
  }, 200);
} else {
  console.log('smoke ok (not root: engine start skipped)');
}
