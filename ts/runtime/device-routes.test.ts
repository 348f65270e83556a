// Which prefixes the OS routes through the device, and when the list goes to the engine again.
import test from 'ava';
import { DeviceRoutes, meshRoutes, RESYNC_MS } from './device-routes.js';
import { parseConfig } from '../config/schema.js';
import { encodeKey, generateKeyPair } from '../config/keys.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

test('a mesh routes its peers\' allowedIps beyond its own subnet, never /0 or IPv6', (t) => {
  const c = parseConfig({
    privateKey: encodeKey(generateKeyPair().privateKey), address: '10.99.0.1/24',
    peers: [{ publicKey: encodeKey(generateKeyPair().publicKey), address: '10.99.0.2', allowedIps: ['192.168.20.0/24', '10.99.0.128/25', '0.0.0.0/0', '2001:db8::/64', '10.0.0.0/8'] }],
  });
  t.deepEqual(meshRoutes(c), ['192.168.20.0/24', '10.0.0.0/8']);
});

test('the list goes to the engine when it changes and again every RESYNC_MS; a failure is counted and retried', (t) => {
  const calls: string[][] = [];
  const drops: string[] = [];
  let fail = false;
  const r = new DeviceRoutes((c) => { if (fail) throw new Error('netlink: boom'); calls.push(c); return [c.length, 0, 0]; }, quiet, (k) => drops.push(k));
  r.set(0, ['192.168.2.0/24', '192.168.1.0/24', '192.168.2.0/24']);
  t.deepEqual(calls, [['192.168.1.0/24', '192.168.2.0/24']], 'sorted, once each');
  r.tick(RESYNC_MS - 1);
  t.is(calls.length, 1);
  r.tick(RESYNC_MS);
  t.is(calls.length, 2, 'applied again');
  fail = true;
  r.set(RESYNC_MS + 1, []);
  t.deepEqual(drops, ['set_routes_failed']);
  fail = false;
  r.tick(2 * RESYNC_MS + 1);
  t.deepEqual(calls.at(-1), [], 'the failed list is retried');
});
