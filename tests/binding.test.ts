// Binding smoke test: the addon loads, agrees with the TypeScript side on frame constants, reports
// errors with stable codes, and (as root, inside a throwaway namespace) runs an engine whose
// event callback does not keep Node alive.
import test from 'ava';
import { fileURLToPath } from 'node:url';
import { loadBinding, startEngine } from '../ts/runtime/engine.js';
import { MSG_INITIATION, MSG_RESPONSE } from '../ts/handshake/messages.js';
import { Netns, randomSuffix } from '../ts/lab/netns.js';
import { netTest } from './net/support.js';

test('constants agree across the seam', (t) => {
  const b = loadBinding() as unknown as Record<string, unknown> & { dropReasons(): string[] };
  t.is(b.FRAME_TYPE_HANDSHAKE_INIT, MSG_INITIATION);
  t.is(b.FRAME_TYPE_HANDSHAKE_RESP, MSG_RESPONSE);
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
    'relay_src_mismatch']) {
    t.true(b.dropReasons().includes(r), r);
  }
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
