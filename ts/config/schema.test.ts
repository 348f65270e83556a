import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, loadConfig } from './schema.js';
import { generateKeyPair, encodeKey, publicFromPrivate } from './keys.js';

const a = generateKeyPair();
const b = generateKeyPair();
const good = () => ({
  privateKey: encodeKey(a.privateKey),
  address: '10.9.0.1/24',
  peers: [{ publicKey: encodeKey(b.publicKey), endpoint: '192.0.2.2:51820', address: '10.9.0.2' }],
});

function errorOf(fn: () => unknown): { code: string; message: string } {
  try { fn(); } catch (e) { return e as { code: string; message: string }; }
  throw new Error('expected an error');
}

test('defaults are filled in', (t) => {
  const c = parseConfig(good());
  t.deepEqual(c.device, { mode: 'tap', name: 'ringvpn0', mtu: 1420 });
  t.is(c.listenPort, 51820);
  t.is(c.controlSocket, '/run/ringvpn/ringvpn0.sock');
  t.deepEqual(c.publicKeyBytes, a.publicKey);
});

test('key pairs agree with X25519', (t) => {
  t.deepEqual(publicFromPrivate(a.privateKey), a.publicKey);
  t.is(a.publicKey.length, 32);
});

test('every bad key is named in the error', (t) => {
  const bad = { ...good(), listenPort: 70000, device: { mode: 'tapp', nam: 'x' }, peers: [{ publicKey: 'short', endpoint: 'nohost', address: '10.9.0.300' }] };
  const e = errorOf(() => parseConfig(bad, 'f.json'));
  t.is(e.code, 'E_CONFIG');
  for (const key of ['listenPort', 'device.mode', 'device.nam', 'peers[0].publicKey', 'peers[0].endpoint', 'peers[0].address']) {
    t.true(e.message.includes(`  ${key}:`), `${key} named in: ${e.message}`);
  }
});

test('semantic checks: own key, duplicates, own address, key source', (t) => {
  const own = { ...good(), peers: [{ publicKey: encodeKey(a.publicKey), address: '10.9.0.2' }] };
  t.regex(errorOf(() => parseConfig(own)).message, /peers\[0\]\.publicKey: is this node's own public key/);
  const dup = { ...good(), peers: [...good().peers, { publicKey: encodeKey(b.publicKey), address: '10.9.0.3' }] };
  t.regex(errorOf(() => parseConfig(dup)).message, /peers\[1\]\.publicKey: same key as peers\[0\]/);
  const addr = { ...good(), peers: [{ publicKey: encodeKey(b.publicKey), address: '10.9.0.1' }] };
  t.regex(errorOf(() => parseConfig(addr)).message, /peers\[0\]\.address: is this node's own address/);
  const none = { address: '10.9.0.1/24' };
  t.regex(errorOf(() => parseConfig(none)).message, /privateKey: give exactly one/);
});

test('files: unreadable, not JSON, key file', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rvcfg-'));
  t.is(errorOf(() => loadConfig(join(dir, 'missing.json'))).code, 'E_CONFIG_READ');
  writeFileSync(join(dir, 'bad.json'), '{ "address": ');
  t.regex(errorOf(() => loadConfig(join(dir, 'bad.json'))).message, /not valid JSON/);
  writeFileSync(join(dir, 'key'), encodeKey(a.privateKey) + '\n');
  const { privateKey: _drop, ...rest } = good();
  writeFileSync(join(dir, 'ok.json'), JSON.stringify({ ...rest, privateKeyFile: join(dir, 'key') }));
  t.deepEqual(loadConfig(join(dir, 'ok.json')).publicKeyBytes, a.publicKey);
  // what `ringvpn keygen -o` writes is a key file too
  writeFileSync(join(dir, 'key'), JSON.stringify({ privateKey: encodeKey(a.privateKey), publicKey: encodeKey(a.publicKey) }, null, 2));
  t.deepEqual(loadConfig(join(dir, 'ok.json')).publicKeyBytes, a.publicKey);
  writeFileSync(join(dir, 'key'), '{"publicKey": "x"}');
  t.regex(errorOf(() => loadConfig(join(dir, 'ok.json'))).message, /privateKeyFile: .* is JSON without a "privateKey" string/);
  writeFileSync(join(dir, 'key'), '{"privateKey": ');
  t.regex(errorOf(() => loadConfig(join(dir, 'ok.json'))).message, /privateKeyFile: .* looks like JSON but does not parse/);
});

test('gateway: off by default, overlay mode only, groups only with a pki section', (t) => {
  t.deepEqual(parseConfig(good()).gateway, { enable: false, allow: ['*'] });
  const err = (raw: unknown): string => (t.throws(() => parseConfig(raw)) as Error).message;
  t.regex(err({ ...good(), gateway: { enable: true } }), /gateway\.enable: a gateway needs overlay mode/);
  const overlay = { privateKey: encodeKey(a.privateKey), network: {} };
  t.is(parseConfig({ ...overlay, gateway: { enable: true } }).gateway.enable, true);
  t.regex(err({ ...overlay, gateway: { enable: true, allow: ['eng'] } }), /gateway\.allow: groups come from certificates/);
  t.regex(err({ ...overlay, gateway: { enable: true, allow: [] } }), /gateway\.allow/);
  t.regex(err({ ...overlay, gateway: { enable: true, uplink: 'bad name!' } }), /gateway\.uplink/);
});

test('fullTunnel: off by default, overlay mode only, not on a gateway', (t) => {
  t.deepEqual(parseConfig(good()).fullTunnel, { enable: false });
  const err = (raw: unknown): string => (t.throws(() => parseConfig(raw)) as Error).message;
  t.regex(err({ ...good(), fullTunnel: { enable: true } }), /fullTunnel\.enable: a full tunnel needs overlay mode/);
  const overlay = { privateKey: encodeKey(a.privateKey), network: {} };
  t.is(parseConfig({ ...overlay, fullTunnel: { enable: true } }).fullTunnel.enable, true);
  t.regex(err({ ...overlay, fullTunnel: { enable: true }, gateway: { enable: true } }), /fullTunnel\.enable: a gateway sends its own traffic/);
  t.regex(err({ ...overlay, fullTunnel: { enable: 'yes' } }), /fullTunnel\.enable/);
  t.regex(err({ ...overlay, fullTunnel: { enable: true, dns: true } }), /fullTunnel\.dns/);
  t.regex(err({ ...overlay, fullTunnel: { enable: true, dns: ['2001:db8::1'] } }), /fullTunnel\.dns\[0\]: expected an IPv4 address/);
  t.deepEqual(parseConfig({ ...overlay, fullTunnel: { enable: true, dns: ['198.51.100.1'] } }).fullTunnel.dns, ['198.51.100.1']);
  t.regex(err({ ...overlay, fullTunnel: { enable: true, gateways: ['gw'] } }), /fullTunnel\.gateways: groups come from certificates/);
  t.regex(err({ ...overlay, fullTunnel: { enable: true, gateways: [] } }), /fullTunnel\.gateways/);
});

test('groups: beside the public overlay only, subnets, domains and ids distinct from the network\'s and each other\'s', (t) => {
  const base = { privateKey: encodeKey(a.privateKey), network: { subnet: '10.128.0.0/16', domain: 'ringvpn' }, device: { mode: 'tun' }, overlay: {} };
  const grp = (subnet: string, domain: string, id = domain) => ({ pki: { ca: '/etc/ringvpn/a/ca.crt', cert: '/etc/ringvpn/a/node.crt' }, network: { id, subnet, domain } });
  const netFix = { ...base, network: { ...base.network, dhcp: false } };
  const c = parseConfig({ ...netFix, groups: [grp('10.201.0.0/16', 'team-a'), grp('10.202.0.0/16', 'team-b')] });
  t.is(c.groups.length, 2);
  t.deepEqual(parseConfig(netFix).groups, [], 'none by default');
  t.regex(errorOf(() => parseConfig({ ...good(), groups: [grp('10.201.0.0/16', 'team-a')] })).message, /groups: private groups are found through the public overlay/);
  t.regex(errorOf(() => parseConfig({ ...netFix, groups: [grp('10.128.64.0/18', 'team-a')] })).message, /groups\[0\]\.network\.subnet: 10\.128\.64\.0\/18 overlaps network\.subnet/);
  t.regex(errorOf(() => parseConfig({ ...netFix, groups: [grp('10.201.0.0/16', 'team-a'), grp('10.200.0.0/15', 'team-b')] })).message, /groups\[1\]\.network\.subnet: .* overlaps groups\[0\]\.network\.subnet/);
  t.regex(errorOf(() => parseConfig({ ...netFix, groups: [grp('10.201.0.0/16', 'ringvpn', 'a')] })).message, /groups\[0\]\.network\.domain: ringvpn is also network\.domain/);
  t.regex(errorOf(() => parseConfig({ ...netFix, groups: [grp('10.201.0.0/16', 'x', 'team'), grp('10.202.0.0/16', 'y', 'team')] })).message, /groups\[1\]\.network\.id: team is also groups\[0\]\.network\.id/);
  t.regex(errorOf(() => parseConfig({ ...netFix, groups: [{ network: { id: 'a', subnet: '10.201.0.0/16', domain: 'a' } }] })).message, /groups\[0\]\.pki/);
  t.regex(errorOf(() => parseConfig({ ...netFix, device: { mode: 'tap' }, network: { ...netFix.network, dhcp: true }, groups: [grp('10.201.0.0/16', 'team-a')] })).message, /device\.mode: private groups share the device in TUN mode/);
});
