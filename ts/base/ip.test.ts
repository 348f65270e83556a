// Tests the IP arithmetic floor: IPv4 and IPv6 text agree with node:net on what is an address, RFC 5952
// output, prefixes (mask, base, containment, text of either family) and endpoint text both ways.
import test from 'ava';
import { isIP } from 'node:net';
import {
  cidrContains, formatEndpoint, formatIpv4, formatIpv6, ipFamily, isCidr, isIpv4, isIpv6, maskOf, networkBase, parseCidr,
  parseEndpoint, parseIpv4, parseIpv6,
} from './ip.js';

const hex = (b: Uint8Array | null): string | null => (b ? Buffer.from(b).toString('hex') : null);

test('IPv4 text <-> u32, strict like node:net (no leading zeros)', (t) => {
  t.is(parseIpv4('10.128.0.1'), 0x0a800001);
  t.is(parseIpv4('0.0.0.0'), 0);
  t.is(parseIpv4('255.255.255.255'), 0xffffffff);
  for (const bad of ['256.0.0.1', '1.2.3', '1.2.3.4.5', ' 1.2.3.4', 'a.b.c.d', '', '01.2.3.4', '1.2.3.00', '1..2.3']) t.is(parseIpv4(bad), null, bad);
  t.is(formatIpv4(0xc0a80101), '192.168.1.1');
  t.is(formatIpv4(0xffffffff), '255.255.255.255');
  t.true(isIpv4('192.0.2.7'));
  t.false(isIpv4('::1'));
});

test('IPv6 text -> bytes', (t) => {
  t.is(hex(parseIpv6('::')), '00'.repeat(16));
  t.is(hex(parseIpv6('::1')), '00'.repeat(15) + '01');
  t.is(hex(parseIpv6('fd00::1:2')), 'fd000000000000000000000000010002');
  t.is(hex(parseIpv6('FD00:0:0:0:0:0:0:1')), 'fd000000000000000000000000000001');
  t.is(hex(parseIpv6('1:2:3:4:5:6:7::')), '00010002000300040005000600070000');
  t.is(hex(parseIpv6('::2:3:4:5:6:7:8')), '00000002000300040005000600070008');
  t.is(hex(parseIpv6('::ffff:1.2.3.4')), '00000000000000000000ffff01020304');
  t.is(hex(parseIpv6('1:2:3:4:5:6:1.2.3.4')), '00010002000300040005000601020304');
  for (const bad of ['', ':', ':::', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '12345::', 'g::', ':1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:', 'fe80::1%eth0', '::1.2.3', '::01.2.3.4', '1.2.3.4::', '1:2:3:4:5:6:7:1.2.3.4', '[::1]']) t.is(parseIpv6(bad), null, bad);
});

test('what is an address agrees with node:net (zone indexes aside)', (t) => {
  const samples = ['1.2.3.4', '0.0.0.0', '255.255.255.255', '256.1.1.1', '01.1.1.1', '1.2.3', '::', '::1', 'fd00::', '1::',
    '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', '1::8', '1:2::7:8', '1:2:3:4:5:6:7:8:9', '1::2::3', '::ffff:1.2.3.4',
    '::1.2.3.4', '1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5::1.2.3.4', '1:2:3:4:5:6:7:1.2.3.4', 'ABCD::EF', '12345::', 'x', '', ' ::1', '::1 ',
    '2001:db8:0:0:0:0:2:1', '2001:0db8::0001', '::ffff:01.2.3.4', ':1::', '1:::2'];
  for (const s of samples) t.is(ipFamily(s) as number, isIP(s), s);
  t.true(isIpv6('2001:db8::1'));
  t.false(isIpv6('10.0.0.1'));
  // random strings over the address alphabet (a fixed LCG, so a failure repeats)
  let x = 12345;
  const next = (n: number): number => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return (x >>> 16) % n; };
  let v4 = 0, v6 = 0;
  for (let i = 0; i < 50_000; i++) {
    const pick = (alphabet: string, n: number): string => Array.from({ length: n }, () => alphabet[next(alphabet.length)]).join('');
    const s = i % 2 ? pick('0123456789abcdefABx:.:::..', 1 + next(24)) : Array.from({ length: 3 + next(3) }, () => pick('0125', next(4))).join('.');
    const want = isIP(s);
    if (ipFamily(s) as number !== want) { t.fail(`${JSON.stringify(s)}: node says ${want}, ipFamily ${ipFamily(s)}`); return; }
    if (want === 4) v4++;
    if (want === 6) v6++;
  }
  t.true(v4 > 100 && v6 > 100, `${v4} IPv4 and ${v6} IPv6 samples`);
  t.log(`${v4} IPv4 and ${v6} IPv6 among 50000 random strings; all agree with node:net`);
});

test('IPv6 bytes -> RFC 5952 text', (t) => {
  const fmt = (s: string): string => formatIpv6(parseIpv6(s)!);
  t.is(fmt('::'), '::');
  t.is(fmt('::1'), '::1');
  t.is(fmt('FD00:0:0:0:0:0:0:1'), 'fd00::1');
  t.is(fmt('1:0:0:2:0:0:0:3'), '1:0:0:2::3'); // the longest run
  t.is(fmt('1:0:0:2:0:0:3:4'), '1::2:0:0:3:4'); // the first of equal runs
  t.is(fmt('1:0:2:3:4:5:6:7'), '1:0:2:3:4:5:6:7'); // a single zero group stays
  t.is(fmt('2001:0db8:0000:0000:0000:0000:0000:0000'), '2001:db8::');
  t.is(fmt('::ffff:1.2.3.4'), '::ffff:1.2.3.4');
  t.is(fmt('::ffff:0102:0304'), '::ffff:1.2.3.4');
});

test('IPv4 prefixes: mask, base, containment', (t) => {
  t.is(maskOf(0), 0);
  t.is(maskOf(8), 0xff000000);
  t.is(maskOf(16), 0xffff0000);
  t.is(maskOf(32), 0xffffffff);
  t.is(maskOf(40), 0xffffffff);
  t.deepEqual(parseCidr('10.128.0.0/16'), { address: '10.128.0.0', prefix: 16 });
  t.deepEqual(parseCidr('10.99.0.1/24'), { address: '10.99.0.1', prefix: 24 });
  for (const bad of ['10.0.0.0/33', '10.0.0.0', '10.0.0/8', 'fd00::/64', '10.0.0.0/', '10.0.0.0/8/8', '010.0.0.0/8']) t.is(parseCidr(bad), null, bad);
  const net = parseCidr('10.128.3.9/16')!;
  t.is(formatIpv4(networkBase(net)), '10.128.0.0');
  t.true(cidrContains(net, '10.128.255.255'));
  t.true(cidrContains(net, '10.128.0.0'));
  t.false(cidrContains(net, '10.129.0.1'));
  t.false(cidrContains(net, 'fd00::1'));
  t.false(cidrContains(net, 'nope'));
  t.true(cidrContains(parseCidr('0.0.0.0/0')!, '203.0.113.9'));
  t.true(cidrContains(parseCidr('192.0.2.7/32')!, '192.0.2.7'));
  t.false(cidrContains(parseCidr('192.0.2.7/32')!, '192.0.2.8'));
});

test('prefix text of either family', (t) => {
  for (const ok of ['10.1.0.0/16', '0.0.0.0/0', '1.2.3.4/32', 'fd00::/64', '::/0', '::1/128']) t.true(isCidr(ok), ok);
  for (const bad of ['10.1.0.0/33', 'fd00::/129', '10.1.0.0', '10.1.0.0/1/2', 'x/8', '10.1.0.0/-1', '10.1.0.0/0008', 'fe80::1%eth0/64']) t.false(isCidr(bad), bad);
});

test('endpoints: "a.b.c.d:port" and "[v6]:port" both ways', (t) => {
  t.deepEqual(parseEndpoint('192.0.2.7:51820'), { host: '192.0.2.7', port: 51820, family: 4, address: Uint8Array.of(192, 0, 2, 7) });
  const v6 = parseEndpoint('[2001:db8::1]:443');
  t.is(v6?.host, '2001:db8::1');
  t.is(v6?.port, 443);
  t.is(v6?.family, 6);
  t.is(hex(v6?.address ?? null), '20010db8000000000000000000000001');
  t.is(parseEndpoint('0.0.0.0:0')?.port, 0);
  t.is(parseEndpoint('1.2.3.4:65535')?.port, 65535);
  for (const bad of ['1.2.3.4:65536', '1.2.3.4', 'host:80', '[1::2::3]:1', '::1:80', '[::1]', '[::1]:', '256.1.1.1:1', '[fe80::1%eth0]:1',
    '1.2.3.4:123456', '[1.2.3.4]:1', '']) t.is(parseEndpoint(bad), null, bad);
  t.is(formatEndpoint(Uint8Array.of(10, 200, 0, 1), 51820), '10.200.0.1:51820');
  t.is(formatEndpoint(parseIpv6('FD00:0:0:0:0:0:1:2')!, 9), '[fd00::1:2]:9');
  for (const s of ['10.0.0.1:1', '[::1]:51820', '[2001:db8::]:80', '[::ffff:1.2.3.4]:7']) {
    const e = parseEndpoint(s)!;
    t.is(formatEndpoint(e.address, e.port), s);
  }
});
