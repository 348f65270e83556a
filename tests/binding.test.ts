// Binding smoke test: the addon loads, agrees with the TypeScript side on frame constants, reports
// errors with stable codes, and (as root, inside a throwaway namespace) runs an engine whose
// event callback does not keep Node alive.
import test from 'ava';
import { fileURLToPath } from 'node:url';
import * as engine from '../ts/runtime/engine.js';
import { loadBinding, startEngine } from '../ts/runtime/engine.js';
import * as handshake from '../ts/handshake/handshake.js';
import { Netns, randomSuffix } from '../ts/lab/netns.js';
import { netTest } from './net/support.js';

test('constants agree across the seam', (t) => {
  const b = loadBinding() as unknown as Record<string, unknown> & { dropReasons(): string[] };
  t.is(b.FRAME_TYPE_HANDSHAKE_INIT, 1); // TS reads these through ts/wire/frame-types.ts; docs/interfaces.md publishes them
  t.is(b.FRAME_TYPE_HANDSHAKE_RESP, 2);
  t.is(b.FRAME_TYPE_COOKIE, 3);
  t.is(b.FRAME_TYPE_DATA, 4);
  t.is(b.FRAME_TYPE_CONTROL, 5);
  t.is(b.FRAME_TYPE_RELAY, 6);
  t.is(b.FRAME_TYPE_PROBE, 7);
  t.is(b.FRAME_HEADER_LEN, 16);
  t.is(b.FRAME_TAG_LEN, 16);
  t.is(b.RELAY_HEADER_LEN, 44);
  t.is(b.RELAY_DEFAULT_TTL, 16);
  t.is(b.NODE_ID_LEN, 20);
  for (const r of ['replay', 'auth_failed', 'unknown_index', 'source_not_allowed', 'short_frame', 'unknown_type',
    'relay_malformed', 'relay_unknown_source', 'relay_ttl', 'relay_no_route', 'service_unhandled',
    'relay_src_mismatch', 'pending_overflow', 'pending_expired']) {
    t.true(b.dropReasons().includes(r), r);
  }
  t.deepEqual(engine.DROP_REASONS, b.dropReasons());
  t.is(engine.FRAME_TYPE_RELAY, 6);
});

test('WireGuard limits and hold-queue sizes come from Rust, and the handshake uses them', (t) => {
  const want = {
    LIMIT_REKEY_AFTER_TIME_MS: 120_000, LIMIT_REJECT_AFTER_TIME_MS: 180_000, LIMIT_REKEY_TIMEOUT_MS: 5_000,
    LIMIT_REKEY_TIMEOUT_JITTER_MAX_MS: 333, LIMIT_REKEY_ATTEMPT_TIME_MS: 90_000, LIMIT_KEEPALIVE_TIMEOUT_MS: 10_000,
    LIMIT_COOKIE_REFRESH_TIME_MS: 120_000, LIMIT_REPLAY_WINDOW_SIZE: 4032,
    PENDING_PER_DESTINATION: 4, PENDING_DESTINATIONS: 64, PENDING_HOLD_MS: 5_000,
  } as const;
  const b = loadBinding();
  for (const [k, v] of Object.entries(want)) {
    t.is(b[k], v, k);
    t.is((engine as Record<string, unknown>)[k], v, k);
  }
  t.is(handshake.REKEY_AFTER_TIME, engine.LIMIT_REKEY_AFTER_TIME_MS);
  t.is(handshake.REJECT_AFTER_TIME, engine.LIMIT_REJECT_AFTER_TIME_MS);
  t.is(handshake.REKEY_TIMEOUT, engine.LIMIT_REKEY_TIMEOUT_MS);
  t.is(handshake.REKEY_TIMEOUT_JITTER_MAX, engine.LIMIT_REKEY_TIMEOUT_JITTER_MAX_MS);
  t.is(handshake.REKEY_ATTEMPT_TIME, engine.LIMIT_REKEY_ATTEMPT_TIME_MS);
  t.is(handshake.KEEPALIVE_TIMEOUT, engine.LIMIT_KEEPALIVE_TIMEOUT_MS);
  t.is(handshake.RESPONDER_REKEY_AFTER_TIME, 165_000);
});

test('bad engine config is refused with a stable code before any device exists', (t) => {
  const base = { mode: 'tun' as const, ifname: 'rvbad0', listenPort: 0, listenAddress: '127.0.0.1' };
  t.throws(() => startEngine({ ...base, mode: 'bridge' as never }, () => {}), { code: 'E_ENGINE', message: /E_CONFIG/ } as never);
  t.throws(() => startEngine({ ...base, listenAddress: 'nope' }, () => {}), { message: /E_ADDR/ });
  t.throws(() => startEngine({ ...base, address: '10.0.0.1' }, () => {}), { message: /E_ADDR/ });
  t.throws(() => startEngine({ ...base, nodeId: Buffer.alloc(19) }, () => {}), { message: /E_CONFIG: nodeId must be 20 bytes/ });
  t.throws(() => startEngine({ ...base, serviceAddress: 'fd00::53' }, () => {}), { message: /E_ADDR/ });
  t.throws(() => startEngine({ ...base, serviceAddress: '255.255.255.255' }, () => {}), { message: /E_CONFIG/ });
});

netTest('an engine runs in a namespace and its callback does not keep Node alive', async (t) => {
  const ns = await Netns.create(`rvsmoke-${randomSuffix()}`);
  try {
    const smoke = fileURLToPath(new URL('../bindings/smoke.cjs', import.meta.url));
    const r = await ns.exec(process.execPath, [smoke], { allowFail: true, timeoutMs: 20_000 });
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /smoke ok \(root\)/);
  } finally {
    await ns.destroy();
  }
});

// Runs inside the namespace: a TUN engine holds the first packets to an unrouted address, tells with a
// `miss` event, sends them as DATA frames once setPeer + setSession make a route and a session, and
// expires what nobody routes (the io loop's timer). Prints one JSON line.
const HOLD_SCRIPT = `
const dgram = require('node:dgram');
const m = require(process.argv[1]);
const events = [];
const e = m.Engine.start({ mode: 'tun', ifname: 'rvhold' + (process.pid % 10000), listenPort: 0, listenAddress: '127.0.0.1', address: '10.99.0.1/24' },
  () => setImmediate(() => events.push(...e.drainEvents())));
const rx = dgram.createSocket('udp4');
const frames = [];
rx.on('message', (b) => frames.push(b[0]));
const tx = dgram.createSocket('udp4');
const wait = (ms) => new Promise((r) => setTimeout(r, ms));
const send = (ip) => new Promise((r) => tx.send(Buffer.from('x'), 9, ip, r));
rx.bind(0, '127.0.0.1', async () => {
  await send('10.99.0.7'); await send('10.99.0.7');
  await wait(300);
  const held = e.stats().pendingHeld;
  e.setPeer(1, '127.0.0.1:' + rx.address().port, ['10.99.0.7/32']);
  await wait(100);
  e.setSession(1, { localIndex: 1, remoteIndex: 2, sendKey: Buffer.alloc(32, 1), recvKey: Buffer.alloc(32, 2), initiator: true });
  await wait(300);
  await send('10.99.0.8');
  await wait(m.PENDING_HOLD_MS + 1000);
  const s = e.stats();
  const p = s.peers[0];
  console.log(JSON.stringify({ held, frames, events: events.filter((x) => x.kind !== 'handshake').map((x) => ({ kind: x.kind, dst: x.dst, peerId: x.peerId })),
    pendingHeld: s.pendingHeld, pendingReleased: s.pendingReleased, expired: s.drops.pending_expired,
    peer: { pendingHeld: p.pendingHeld, pendingReleased: p.pendingReleased, txDataPackets: p.txDataPackets, rxDataPackets: p.rxDataPackets, nodeId: p.nodeId } }));
  e.close(); rx.close(); tx.close();
});
`;

netTest('first packets are held, released by setPeer + setSession, and expire on the io timer', async (t) => {
  const ns = await Netns.create(`rvhold-${randomSuffix()}`);
  try {
    const addon = fileURLToPath(new URL('../bindings/index.js', import.meta.url));
    const r = await ns.exec(process.execPath, ['-e', HOLD_SCRIPT, addon], { allowFail: true, timeoutMs: 20_000 });
    t.is(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    t.is(out.held, 2);
    t.deepEqual(out.frames, [4, 4], 'two DATA frames, sent once the session exists');
    t.deepEqual(out.events, [
      { kind: 'miss', dst: '10.99.0.7' },
      { kind: 'need_session', peerId: 1 },
      { kind: 'miss', dst: '10.99.0.8' },
    ]);
    t.like(out, { pendingHeld: 3, pendingReleased: 2, expired: 1 });
    t.deepEqual(out.peer, { pendingHeld: 0, pendingReleased: 2, txDataPackets: 2, rxDataPackets: 0, nodeId: null });
  } finally {
    await ns.destroy();
  }
});
