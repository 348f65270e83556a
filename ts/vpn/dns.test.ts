// Tests the DNS responder with queries built by dns-packet: A, NXDOMAIN, NODATA (AAAA), PTR, forwarding,
// SERVFAIL, malformed and hostile queries, and the frame wrapper (reply addressed back to the asker).
import test from 'ava';
import dnsPacket from 'dns-packet';
import { DnsResponder, ptrToIpv4, type DnsResponderOptions } from './dns.js';
import { DEFAULT_VIRTUAL_MAC, buildUdpFrame, parseUdpFrame } from './packet.js';
import { formatIpv4, parseIpv4 } from '../base/ip.js';
import { Xoshiro128, randInt } from '../core/rng.js';

const NAMES: Record<string, string> = { alice: '10.128.0.12', bob: '10.128.0.13' };
const FORWARDED = Uint8Array.of(0xab, 0xcd, 0x81, 0x80, 0, 0, 0, 0, 0, 0, 0, 0); // an opaque upstream answer

function responder(o: Partial<DnsResponderOptions> = {}): { r: DnsResponder; forwarded: Uint8Array[] } {
  const forwarded: Uint8Array[] = [];
  const r = new DnsResponder({
    domain: 'vpn', ttlSeconds: 30,
    lookup: async (name) => NAMES[name] ?? null,
    reverse: async (ip) => Object.entries(NAMES).find(([, v]) => v === ip)?.[0] ?? null,
    forward: async (q) => { forwarded.push(q); return FORWARDED; },
    ...o,
  });
  return { r, forwarded };
}

const query = (name: string, type: dnsPacket.RecordType = 'A', id = 0x1234): Uint8Array =>
  new Uint8Array(dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type, class: 'IN' }] }));
const decode = (b: Uint8Array | null): dnsPacket.DecodedPacket & { rcode?: string } => {
  if (!b) throw new Error('no answer');
  return dnsPacket.decode(Buffer.from(b));
};

test('A for a member name, case-insensitive, with the question echoed', async (t) => {
  const { r, forwarded } = responder();
  for (const name of ['alice.vpn', 'Alice.VPN', 'bob.vpn.']) {
    const a = decode(await r.handle(query(name)));
    t.is(a.id, 0x1234);
    t.is(a.type, 'response');
    t.is(a.rcode, 'NOERROR');
    t.true(a.flag_aa);
    t.true(a.flag_rd);
    t.true(a.flag_ra);
    t.is(a.questions?.[0]?.name, name.replace(/\.$/, ''));
    t.is(a.answers?.length, 1);
    const ans = a.answers![0]!;
    t.like(ans, { type: 'A', name: name.replace(/\.$/, ''), ttl: 30 });
    t.is((ans as dnsPacket.StringAnswer).data as string | undefined, NAMES[name.toLowerCase().split('.')[0]!]);
  }
  t.is(forwarded.length, 0);
  t.like(r.stats(), { queries: 3, answered: 3 });
});

test('unknown names and the bare domain -> NXDOMAIN; AAAA/MX of a member -> NOERROR, no answers', async (t) => {
  const { r, forwarded } = responder();
  for (const name of ['carol.vpn', 'vpn', 'VPN.', 'x.alice.vpn']) {
    const a = decode(await r.handle(query(name)));
    t.is(a.rcode, 'NXDOMAIN', name);
    t.is(a.answers?.length, 0);
  }
  for (const type of ['AAAA', 'MX', 'TXT'] as const) {
    const a = decode(await r.handle(query('alice.vpn', type)));
    t.is(a.rcode, 'NOERROR');
    t.is(a.answers?.length, 0);
    t.is(a.questions?.[0]?.type, type);
  }
  t.is(decode(await r.handle(query('carol.vpn', 'AAAA'))).rcode, 'NXDOMAIN');
  t.is(forwarded.length, 0);
  t.like(r.stats(), { nxdomain: 5, nodata: 3 });
});

test('PTR for a member address; unknown addresses and other zones are forwarded', async (t) => {
  const { r, forwarded } = responder();
  const a = decode(await r.handle(query('12.0.128.10.in-addr.arpa', 'PTR')));
  t.is(a.rcode, 'NOERROR');
  t.like(a.answers?.[0], { type: 'PTR', name: '12.0.128.10.in-addr.arpa', data: 'alice.vpn', ttl: 30 });
  t.is(await r.handle(query('99.0.128.10.in-addr.arpa', 'PTR')), FORWARDED);
  t.is(await r.handle(query('0.128.10.in-addr.arpa', 'PTR')), FORWARDED);
  t.is(forwarded.length, 2);
  t.deepEqual(forwarded[0], query('99.0.128.10.in-addr.arpa', 'PTR')); // the raw query, untouched
  t.is(ptrToIpv4('4.3.2.1.IN-ADDR.ARPA'), '1.2.3.4');
  t.is(ptrToIpv4('4.3.2.256.in-addr.arpa'), null);
  t.is(ptrToIpv4('4.3.2.01.in-addr.arpa'), null);
  // a reverse that already returns a full name is not suffixed twice
  const { r: r2 } = responder({ reverse: async () => 'alice.vpn' });
  t.like(decode(await r2.handle(query('12.0.128.10.in-addr.arpa', 'PTR'))).answers?.[0], { data: 'alice.vpn' });
});

test('other names are forwarded; no upstream answer -> SERVFAIL', async (t) => {
  const { r, forwarded } = responder();
  t.is(await r.handle(query('example.com')), FORWARDED);
  t.is(await r.handle(query('example.com', 'AAAA')), FORWARDED);
  t.is(forwarded.length, 2);
  for (const forward of [async () => null, async () => { throw new Error('boom'); }]) {
    const { r: dead } = responder({ forward });
    const a = decode(await dead.handle(query('example.com', 'A', 77)));
    t.is(a.id, 77);
    t.is(a.rcode, 'SERVFAIL');
    t.is(a.questions?.[0]?.name, 'example.com');
    t.like(dead.stats(), { servfail: 1, forwarded: 0 });
  }
  // a failing lookup is a SERVFAIL too, never a rejection
  const { r: broken } = responder({ lookup: async () => { throw new Error('dht down'); } });
  t.is(decode(await broken.handle(query('alice.vpn'))).rcode, 'SERVFAIL');
  t.like(broken.stats(), { lookupErrors: 1, servfail: 1 });
});

test('malformed queries -> null and counted', async (t) => {
  const { r, forwarded } = responder();
  const cases: Uint8Array[] = [
    new Uint8Array(0), new Uint8Array(5), query('alice.vpn').subarray(0, 20),
    new Uint8Array(dnsPacket.encode({ type: 'response', id: 1, questions: [{ name: 'alice.vpn', type: 'A' }] })),
    new Uint8Array(dnsPacket.encode({ type: 'query', id: 1, questions: [] })),
    new Uint8Array(dnsPacket.encode({ type: 'query', id: 1, questions: [{ name: 'a.vpn', type: 'A' }, { name: 'b.vpn', type: 'A' }] })),
    // one label "alice.vpn" (a dot inside a label) under the root: not the name alice.vpn
    Uint8Array.of(0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 9, ...new TextEncoder().encode('alice.vpn'), 0, 0, 1, 0, 1),
    // a label that is not UTF-8
    Uint8Array.of(0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 2, 0xff, 0xfe, 3, 0x76, 0x70, 0x6e, 0, 0, 1, 0, 1),
  ];
  for (const c of cases) t.is(await r.handle(c), null);
  t.is(forwarded.length, 0);
  t.like(r.stats(), { malformed: cases.length, queries: cases.length });
});

test('hostile bytes never reject', async (t) => {
  const rng = new Xoshiro128(5);
  const { r } = responder();
  const base = query('alice.vpn', 'A');
  for (let i = 0; i < 5000; i++) {
    const b = i % 2 ? Uint8Array.from({ length: randInt(rng, 60) }, () => randInt(rng, 256)) : base.slice(0, randInt(rng, base.length + 1));
    if (i % 2 === 0) for (let k = randInt(rng, 4); k >= 0 && b.length > 0; k--) b[randInt(rng, b.length)] = randInt(rng, 256);
    const a = await r.handle(b);
    if (a) t.notThrows(() => dnsPacket.decode(Buffer.from(a)));
  }
  t.true(r.stats().malformed > 0, 'hostile queries are counted as malformed');
});

test('handleFrame answers the asker from the service address', async (t) => {
  const { r } = responder();
  const client = Uint8Array.of(0x52, 0x54, 0, 1, 2, 3);
  const req = { srcMac: client, dstMac: DEFAULT_VIRTUAL_MAC, srcIp: parseIpv4('10.128.0.12')!, dstIp: parseIpv4('10.128.0.1')!, srcPort: 41000, dstPort: 53, ttl: 64, payload: query('bob.vpn') };
  for (const mode of ['tap', 'tun'] as const) {
    const out = await r.handleFrame(buildUdpFrame(req, mode), mode);
    const p = parseUdpFrame(out!, mode);
    if (!p.ok) { t.fail(p.code); return; }
    t.is(formatIpv4(p.value.srcIp), '10.128.0.1');
    t.is(formatIpv4(p.value.dstIp), '10.128.0.12');
    t.deepEqual([p.value.srcPort, p.value.dstPort], [53, 41000]);
    if (mode === 'tap') t.deepEqual(p.value.dstMac, client);
    t.is((decode(p.value.payload).answers?.[0] as dnsPacket.StringAnswer).data, '10.128.0.13');
  }
  t.is(await r.handleFrame(buildUdpFrame({ ...req, dstPort: 54 }, 'tap'), 'tap'), null);
});

test('zones: a private group\'s domain answered beside the network\'s, each name looked up in its own zone; the longest zone wins', async (t) => {
  const asked: string[] = [];
  const { r, forwarded } = responder({
    zones: ['team-a', 'x.vpn'],
    lookup: async (name, zone) => { asked.push(`${name}@${zone}`); return zone === 'team-a' && name === 'carol' ? '10.201.0.11' : zone === 'vpn' ? NAMES[name] ?? null : null; },
  });
  const a = decode(await r.handle(query('carol.team-a')));
  t.is((a.answers?.[0] as dnsPacket.StringAnswer | undefined)?.data as string | undefined, '10.201.0.11');
  t.is(decode(await r.handle(query('alice.team-a'))).rcode, 'NXDOMAIN', 'a name of the network is not a name of the group');
  t.is(decode(await r.handle(query('alice.vpn'))).answers?.length, 1);
  t.is(decode(await r.handle(query('bob.x.vpn'))).rcode, 'NXDOMAIN');
  t.deepEqual(asked, ['carol@team-a', 'alice@team-a', 'alice@vpn', 'bob@x.vpn']);
  t.is(forwarded.length, 0);
});
