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
assert.ok(m.dropReasons().includes('source_not_allowed'));

const cfg = (o) => Object.assign({ mode: 'tun', ifname: 'rvsmoke' + (process.pid % 10000), listenPort: 0, listenAddress: '127.0.0.1' }, o);
assert.throws(() => m.Engine.start(cfg({ mode: 'bridge' }), () => {}), /^Error: E_CONFIG: /);
assert.throws(() => m.Engine.start(cfg({ listenAddress: 'nope' }), () => {}), /^Error: E_ADDR: /);
assert.throws(() => m.Engine.start(cfg({ address: '10.0.0.1' }), () => {}), /^Error: E_ADDR: /);

if (process.getuid && process.getuid() === 0) {
  let wakeups = 0;
  const e = m.Engine.start(cfg({}), () => { wakeups++; });
  assert.match(e.localAddr(), /^127\.0\.0\.1:\d+$/);
  e.setPeer(1, null, ['10.99.0.2/32']);
  assert.throws(() => e.setPeer(1, 'bad', []), /^Error: E_ADDR: /);
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
    assert.strictEqual(typeof s.drops.replay, 'number');
    console.log('smoke ok (root):', JSON.stringify({ rx: s.rxPackets, tx: s.txPackets }));
    // Deliberately not calling close(): Node must still exit (weak TSFN); the OS closes the device.
  }, 200);
} else {
  console.log('smoke ok (not root: engine start skipped)');
}
