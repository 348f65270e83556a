// Tests the service-packet frame codec: captured frames parse and rebuild byte for byte (checksums
// included), round trips in TAP and TUN mode, corrupted checksums and hostile bytes -> typed codes.
import test from 'ava';
import { readFileSync } from 'node:fs';
import {
  BROADCAST_IP, DEFAULT_VIRTUAL_MAC, buildDhcpReply, buildReply, buildUdpFrame, formatMac, ipv4HeaderChecksum,
  parseMac, parseUdpFrame, udpChecksum, type DeviceMode, type UdpPacket,
} from './packet.js';
import { formatIpv4, parseIpv4 } from '../base/ip.js';
import { Xoshiro128, randInt } from '../core/rng.js';

const captures = JSON.parse(readFileSync(new URL('./vectors/dhcp-captures.json', import.meta.url), 'utf8')) as Record<string, string>;
const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const cap = (name: string): Uint8Array => hex(captures[name]!);

test('a captured udhcpc DISCOVER parses, and its checksums are the ones we compute', (t) => {
  const f = cap('udhcpc_discover');
  const r = parseUdpFrame(f, 'tap');
  if (!r.ok) { t.fail(r.code); return; }
  const p = r.value;
  t.is(formatMac(p.srcMac!), '02:00:00:aa:bb:cc');
  t.is(formatMac(p.dstMac!), 'ff:ff:ff:ff:ff:ff');
  t.is(formatIpv4(p.srcIp), '0.0.0.0');
  t.is(p.dstIp, BROADCAST_IP);
  t.is(p.srcPort, 68);
  t.is(p.dstPort, 67);
  t.is(p.payload.length, 300);
  t.is(ipv4HeaderChecksum(f.subarray(14), 20), 0x79a6); // as captured
  t.is(udpChecksum(p.srcIp, p.dstIp, f.subarray(34)), 0x3703);
  // rebuilding from the parsed fields gives the captured bytes (id 0, no DF, TTL 64, like udhcpc)
  t.deepEqual(buildUdpFrame(p, 'tap'), f);
});

test('captured udhcpd replies (another implementation) rebuild byte for byte', (t) => {
  for (const name of ['offer_udhcpd', 'ack_udhcpd_broadcast', 'ack_udhcpd_unicast']) {
    const f = cap(name);
    const r = parseUdpFrame(f, 'tap');
    if (!r.ok) { t.fail(`${name}: ${r.code}`); return; }
    t.is(formatIpv4(r.value.srcIp), '10.128.0.1');
    t.deepEqual(buildUdpFrame(r.value, 'tap'), f, name);
  }
});

test('checksum-offloaded captures are refused as bad_udp_checksum; the IP header is fine', (t) => {
  const f = cap('udhcpc_request_renewing_offloaded_csum');
  t.deepEqual(parseUdpFrame(f, 'tap'), { ok: false, code: 'bad_udp_checksum' });
  const fixed = f.slice();
  fixed[40] = 0; fixed[41] = 0; // UDP checksum 0 = not computed: accepted
  const r = parseUdpFrame(fixed, 'tap');
  t.true(r.ok);
  if (r.ok) t.is(formatIpv4(r.value.srcIp), '10.128.0.12');
});

test('TUN mode: the same packet without Ethernet', (t) => {
  const f = cap('udhcpc_discover').subarray(14);
  const r = parseUdpFrame(f, 'tun');
  if (!r.ok) { t.fail(r.code); return; }
  t.is(r.value.srcMac, null);
  t.is(r.value.dstMac, null);
  t.deepEqual(buildUdpFrame(r.value, 'tun'), f);
});

function randomPacket(rng: Xoshiro128, mode: DeviceMode): UdpPacket {
  const mac = (): Uint8Array => Uint8Array.from({ length: 6 }, () => randInt(rng, 256));
  return {
    srcMac: mode === 'tap' ? mac() : null, dstMac: mode === 'tap' ? mac() : null,
    srcIp: rng.u32(), dstIp: rng.u32(), srcPort: randInt(rng, 65536), dstPort: randInt(rng, 65536), ttl: randInt(rng, 256),
    payload: Uint8Array.from({ length: randInt(rng, 1500) }, () => randInt(rng, 256)),
  };
}

test('random packets round trip in both modes, with valid checksums', (t) => {
  const rng = new Xoshiro128(7);
  for (let i = 0; i < 500; i++) {
    for (const mode of ['tap', 'tun'] as const) {
      const p = randomPacket(rng, mode);
      const f = buildUdpFrame(p, mode);
      const r = parseUdpFrame(f, mode);
      if (!r.ok) { t.fail(`${mode} ${i}: ${r.code}`); return; }
      t.deepEqual(r.value, p);
      // Ethernet padding after the IP packet is ignored
      const padded = new Uint8Array(f.length + 18); padded.set(f);
      t.true(parseUdpFrame(padded, mode).ok);
    }
  }
});

test('every single-bit flip in the IP header or UDP part is detected', (t) => {
  const rng = new Xoshiro128(9);
  const p = randomPacket(rng, 'tun');
  p.payload = p.payload.subarray(0, 64);
  const f = buildUdpFrame(p, 'tun');
  for (let bit = 0; bit < f.length * 8; bit++) {
    const g = f.slice();
    g[bit >> 3]! ^= 1 << (bit & 7);
    const r = parseUdpFrame(g, 'tun');
    t.false(r.ok, `bit ${bit}`);
  }
});

test('typed error codes', (t) => {
  const p: UdpPacket = { srcMac: DEFAULT_VIRTUAL_MAC, dstMac: DEFAULT_VIRTUAL_MAC, srcIp: 1, dstIp: 2, srcPort: 3, dstPort: 4, ttl: 64, payload: new Uint8Array(4) };
  const f = buildUdpFrame(p, 'tap');
  const code = (g: Uint8Array, mode: DeviceMode = 'tap'): string => { const r = parseUdpFrame(g, mode); return r.ok ? 'ok' : r.code; };
  const edit = (fn: (g: Uint8Array) => void): Uint8Array => { const g = f.slice(); fn(g); return g; };
  const refix = (g: Uint8Array): Uint8Array => { g[24] = 0; g[25] = 0; const c = ipv4HeaderChecksum(g.subarray(14), 20); g[24] = c >> 8; g[25] = c & 255; return g; };
  t.is(code(f), 'ok');
  t.is(code(f.subarray(0, 10)), 'too_short');
  t.is(code(f.subarray(0, 30)), 'too_short');
  t.is(code(edit((g) => { g[12] = 0x86; g[13] = 0xdd; })), 'not_ipv4');
  t.is(code(edit((g) => { g[14] = 0x65; })), 'bad_version');
  t.is(code(edit((g) => { g[14] = 0x44; })), 'bad_ihl');
  t.is(code(edit((g) => { g[16] = 0xff; })), 'bad_total_length');
  t.is(code(refix(edit((g) => { g[20] = 0x20; }))), 'fragment');
  t.is(code(refix(edit((g) => { g[23] = 6; }))), 'not_udp');
  t.is(code(edit((g) => { g[22] = 1; })), 'bad_ip_checksum');
  t.is(code(edit((g) => { g[39] = 200; })), 'bad_udp_length');
  t.is(code(edit((g) => { g[39] = 4; })), 'bad_udp_length');
  t.is(code(edit((g) => { g[43] = 1; })), 'bad_udp_checksum');
});

test('hostile bytes never throw', (t) => {
  const rng = new Xoshiro128(11);
  const base = buildUdpFrame({ ...randomPacket(rng, 'tap'), payload: new Uint8Array(100) }, 'tap');
  let ok = 0;
  for (let i = 0; i < 20000; i++) {
    let g: Uint8Array;
    if (i % 2 === 0) g = Uint8Array.from({ length: randInt(rng, 120) }, () => randInt(rng, 256));
    else {
      g = base.slice(0, rng.next() < 0.5 ? base.length : randInt(rng, base.length + 1));
      for (let k = randInt(rng, 4); k >= 0 && g.length > 0; k--) g[randInt(rng, g.length)] = randInt(rng, 256);
    }
    for (const mode of ['tap', 'tun'] as const) {
      const r = parseUdpFrame(g, mode); // must not throw
      if (r.ok) ok++;
      else t.is(typeof r.code, 'string');
    }
  }
  t.log(`${ok} mutated frames still parsed`);
  t.true(ok > 0 && ok < 40_000, 'the inputs reach both the accepting and the refusing paths');
});

test('reply builders: DNS swaps; DHCP broadcasts or unicasts', (t) => {
  const client = parseMac('52:54:00:12:34:56')!;
  const req: UdpPacket = { srcMac: client, dstMac: DEFAULT_VIRTUAL_MAC, srcIp: parseIpv4('10.128.0.7')!, dstIp: parseIpv4('10.128.0.1')!, srcPort: 40000, dstPort: 53, ttl: 64, payload: new Uint8Array(12) };
  const r = parseUdpFrame(buildReply(req, Uint8Array.of(1, 2, 3), 'tap'), 'tap');
  if (!r.ok) { t.fail(r.code); return; }
  t.deepEqual(r.value, { srcMac: DEFAULT_VIRTUAL_MAC, dstMac: client, srcIp: req.dstIp, dstIp: req.srcIp, srcPort: 53, dstPort: 40000, ttl: 64, payload: Uint8Array.of(1, 2, 3) });

  const a = { serverIp: parseIpv4('10.128.0.1')!, serverMac: DEFAULT_VIRTUAL_MAC, clientMac: client, to: parseIpv4('10.128.0.7')! };
  const b = parseUdpFrame(buildDhcpReply({ ...a, broadcast: true }, new Uint8Array(300), 'tap'), 'tap');
  const u = parseUdpFrame(buildDhcpReply({ ...a, broadcast: false }, new Uint8Array(300), 'tap'), 'tap');
  if (!b.ok || !u.ok) { t.fail(); return; }
  t.is(formatMac(b.value.dstMac!), 'ff:ff:ff:ff:ff:ff');
  t.is(b.value.dstIp, BROADCAST_IP);
  t.is(formatMac(u.value.dstMac!), '52:54:00:12:34:56');
  t.is(formatIpv4(u.value.dstIp), '10.128.0.7');
  for (const x of [b.value, u.value]) { t.is(x.srcPort, 67); t.is(x.dstPort, 68); t.is(formatIpv4(x.srcIp), '10.128.0.1'); }
  const tun = parseUdpFrame(buildDhcpReply({ ...a, broadcast: true }, new Uint8Array(300), 'tun'), 'tun');
  t.true(tun.ok);
});

test('MAC helpers', (t) => {
  t.is(parseMac('02:52:56:00:00:01')?.join(','), '2,82,86,0,0,1');
  t.is(parseMac('02:52:56:00:00'), null);
  t.is(parseMac('02:52:56:00:00:zz'), null);
});
