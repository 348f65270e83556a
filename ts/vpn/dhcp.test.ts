// Tests the DHCP codec against captured busybox udhcpc/udhcpd frames (byte for byte), RFC 3442 route
// encoding, long options and overload, and DhcpServer exchanges (OFFER, ACK, NAK, INFORM, RELEASE,
// no lease) with every option checked; hostile bytes never throw.
import test from 'ava';
import { readFileSync } from 'node:fs';
import {
  DhcpServer, FLAG_BROADCAST, MSG, OPT, decodeClasslessRoutes, decodeDhcp, encodeClasslessRoutes, encodeDhcp,
  getIpOption, getIpsOption, getOption, getStringOption, getU16Option, getU32Option, messageType, stringOption,
  u16Option, u8Option, type DhcpMessage, type DhcpServerOptions,
} from './dhcp.js';
import { buildUdpFrame, formatMac, parseUdpFrame, type DeviceMode } from './packet.js';
import { formatIpv4, parseIpv4 } from '../base/ip.js';
import { Xoshiro128, randInt } from '../core/rng.js';

const captures = JSON.parse(readFileSync(new URL('./vectors/dhcp-captures.json', import.meta.url), 'utf8')) as Record<string, string>;
const cap = (name: string): Uint8Array => Uint8Array.from(Buffer.from(captures[name]!, 'hex'));
const ip = (s: string): number => parseIpv4(s)!;
const CLIENT_MAC = Uint8Array.of(0x02, 0x00, 0x00, 0xaa, 0xbb, 0xcc);
const te = new TextEncoder();

/** The payload of a captured frame (checksums ignored: two captures carry offloaded partial sums). */
function payloadOf(frame: Uint8Array): Uint8Array {
  return frame.slice(42);
}
function decoded(bytes: Uint8Array): DhcpMessage {
  const r = decodeDhcp(bytes);
  if (!r.ok) throw new Error(r.code);
  return r.value;
}

/** A message the way busybox 1.35 udhcpc builds it (udhcp_init_header + add_client_options). */
function udhcpcMessage(type: number, xid: number, secs: number, extra: { code: number; data: Uint8Array }[], ciaddr = 0, withParams = true): DhcpMessage {
  const chaddr = new Uint8Array(16); chaddr.set(CLIENT_MAC);
  const params = [
    ...extra,
    ...(withParams ? [u16Option(OPT.MAX_MESSAGE_SIZE, 576), { code: OPT.PARAMETER_LIST, data: Uint8Array.of(1, 3, 6, 12, 15, 28, 42) },
      stringOption(OPT.HOST_NAME, 'rvtest'), stringOption(60, 'udhcp 1.35.0')] : []),
    { code: OPT.CLIENT_ID, data: Uint8Array.of(1, ...CLIENT_MAC) },
  ];
  return {
    op: 1, htype: 1, hlen: 6, hops: 0, xid, secs, flags: 0, ciaddr, yiaddr: 0, siaddr: 0, giaddr: 0,
    chaddr, sname: new Uint8Array(64), file: new Uint8Array(128), options: [u8Option(OPT.MESSAGE_TYPE, type), ...params],
  };
}
const broadcastFrame = (payload: Uint8Array, mode: DeviceMode = 'tap', srcIp = 0, dstIp = 0xffffffff): Uint8Array => buildUdpFrame({
  srcMac: CLIENT_MAC, dstMac: Uint8Array.of(255, 255, 255, 255, 255, 255), srcIp, dstIp, srcPort: 68, dstPort: 67, ttl: 64, payload,
}, mode);

test('DISCOVER built like udhcpc is byte for byte the captured frame, and decodes', (t) => {
  const m = udhcpcMessage(MSG.DISCOVER, 0x852ce11b, 0, []);
  t.deepEqual(broadcastFrame(encodeDhcp(m)), cap('udhcpc_discover'));
  const d = decoded(payloadOf(cap('udhcpc_discover')));
  t.deepEqual(d, m);
  t.is(messageType(d), MSG.DISCOVER);
  t.is(getU16Option(d, OPT.MAX_MESSAGE_SIZE), 576);
  t.is(getStringOption(d, OPT.HOST_NAME), 'rvtest');
  t.deepEqual([...getOption(d, OPT.PARAMETER_LIST)!], [1, 3, 6, 12, 15, 28, 42]);
});

test('REQUEST (selecting) built like udhcpc is byte for byte the captured frame', (t) => {
  const m = udhcpcMessage(MSG.REQUEST, 0x852ce11b, 2, [
    { code: OPT.REQUESTED_ADDRESS, data: Uint8Array.of(10, 128, 0, 12) }, { code: OPT.SERVER_ID, data: Uint8Array.of(10, 128, 0, 1) },
  ]);
  t.deepEqual(broadcastFrame(encodeDhcp(m)), cap('udhcpc_request_selecting'));
  const d = decoded(payloadOf(cap('udhcpc_request_selecting')));
  t.is(formatIpv4(getIpOption(d, OPT.REQUESTED_ADDRESS)!), '10.128.0.12');
  t.is(formatIpv4(getIpOption(d, OPT.SERVER_ID)!), '10.128.0.1');
  // renewing (ciaddr set, no 50/54) and release decode too
  const renew = decoded(payloadOf(cap('udhcpc_request_renewing_offloaded_csum')));
  t.is(formatIpv4(renew.ciaddr), '10.128.0.12');
  t.is(getIpOption(renew, OPT.REQUESTED_ADDRESS), null);
  t.is(messageType(decoded(payloadOf(cap('udhcpc_release_offloaded_csum')))), MSG.RELEASE);
});

test('udhcpd OFFER/ACK decode and re-encode byte for byte', (t) => {
  for (const name of ['offer_udhcpd', 'ack_udhcpd_broadcast', 'ack_udhcpd_unicast']) {
    const p = payloadOf(cap(name));
    const d = decoded(p);
    t.is(formatIpv4(d.yiaddr), '10.128.0.12');
    t.is(getU32Option(d, OPT.LEASE_TIME), 3600);
    t.is(formatIpv4(getIpOption(d, OPT.SUBNET_MASK)!), '255.255.0.0');
    t.deepEqual(encodeDhcp(d), p, name);
  }
});

test('RFC 3442 examples: destination descriptors', (t) => {
  const router = ip('10.0.0.1');
  const cases: [string, number, number[]][] = [
    ['0.0.0.0', 0, [0]], ['10.0.0.0', 8, [8, 10]], ['10.0.0.0', 24, [24, 10, 0, 0]], ['10.17.0.0', 16, [16, 10, 17]],
    ['10.27.129.0', 24, [24, 10, 27, 129]], ['10.229.0.128', 25, [25, 10, 229, 0, 128]], ['10.198.122.47', 32, [32, 10, 198, 122, 47]],
  ];
  for (const [dest, prefix, desc] of cases) {
    const enc = encodeClasslessRoutes([{ dest: ip(dest), prefix, gateway: router }]);
    t.deepEqual([...enc], [...desc, 10, 0, 0, 1], `${dest}/${prefix}`);
    t.deepEqual(decodeClasslessRoutes(enc), { ok: true, value: [{ dest: ip(dest), prefix, gateway: router }] });
  }
  const all = cases.map(([d, p]) => ({ dest: ip(d), prefix: p, gateway: router }));
  t.deepEqual(decodeClasslessRoutes(encodeClasslessRoutes(all)), { ok: true, value: all });
  t.deepEqual([...encodeClasslessRoutes([{ dest: ip('10.1.2.3'), prefix: 16, gateway: 0 }])], [16, 10, 1, 0, 0, 0, 0]); // host bits dropped
  for (const bad of [[33, 0, 0, 0, 0, 0, 0, 0, 0], [8, 10, 0, 0, 0], [24, 10, 0]]) t.deepEqual(decodeClasslessRoutes(Uint8Array.from(bad)), { ok: false, code: 'bad_routes' });
});

test('long options are split and concatenated (RFC 3396); option 52 overload is read', (t) => {
  const m = udhcpcMessage(MSG.ACK, 1, 0, [], 0, false);
  const long = Uint8Array.from({ length: 600 }, (_, i) => i & 255);
  m.options.push({ code: 121, data: long });
  const enc = encodeDhcp(m);
  const d = decoded(enc);
  t.is(d.options.filter((o) => o.code === 121).length, 3);
  t.deepEqual(getOption(d, 121), long);
  // overload: option 15 stored in `file`
  const o = udhcpcMessage(MSG.ACK, 1, 0, [u8Option(OPT.OVERLOAD, 1)], 0, false);
  const bytes = encodeDhcp(o);
  bytes.set([15, 3, ...te.encode('vpn'), 255], 108);
  t.is(getStringOption(decoded(bytes), OPT.DOMAIN_NAME), 'vpn');
  const bad = encodeDhcp(udhcpcMessage(MSG.ACK, 1, 0, [u8Option(OPT.OVERLOAD, 9)], 0, false));
  t.deepEqual(decodeDhcp(bad), { ok: false, code: 'bad_overload' });
});

test('decode errors are typed', (t) => {
  const good = payloadOf(cap('udhcpc_discover'));
  const edit = (fn: (b: Uint8Array) => void): Uint8Array => { const b = good.slice(); fn(b); return b; };
  t.deepEqual(decodeDhcp(good.subarray(0, 239)), { ok: false, code: 'too_short' });
  t.deepEqual(decodeDhcp(edit((b) => { b[236] = 0; })), { ok: false, code: 'bad_cookie' });
  t.deepEqual(decodeDhcp(edit((b) => { b[0] = 3; })), { ok: false, code: 'bad_op' });
  t.deepEqual(decodeDhcp(edit((b) => { b[2] = 17; })), { ok: false, code: 'bad_hlen' });
  t.deepEqual(decodeDhcp(good.subarray(0, 245)), { ok: false, code: 'truncated_option' });
});

const LEASE = { address: '10.128.0.12', prefix: 16 };
const OPTS: DhcpServerOptions = {
  serverIp: '10.128.0.1', mtu: 1400, domain: 'vpn', dnsServers: [], leaseSeconds: 3600,
  routes: [{ cidr: '10.200.0.0/16', gateway: '10.128.0.1' }, { cidr: '192.168.7.0/24', gateway: '10.128.0.1' }],
};
function server(opts: Partial<DhcpServerOptions> = {}, lease: typeof LEASE | null = LEASE): DhcpServer {
  const s = new DhcpServer({ ...OPTS, ...opts });
  s.setLease(lease);
  return s;
}
function replyOf(frame: Uint8Array | null, mode: DeviceMode = 'tap'): { udp: ReturnType<typeof parseUdpFrame> & { ok: true }; msg: DhcpMessage } {
  if (!frame) throw new Error('no reply');
  const udp = parseUdpFrame(frame, mode);
  if (!udp.ok) throw new Error(udp.code);
  return { udp, msg: decoded(udp.value.payload) };
}

test('DISCOVER -> OFFER, broadcast, with every option present and correct', (t) => {
  const s = server();
  const r = s.handle(cap('udhcpc_discover'), 'tap', 0);
  t.is(r.event, 'offer');
  const { udp, msg } = replyOf(r.reply);
  t.is(formatMac(udp.value.dstMac!), 'ff:ff:ff:ff:ff:ff');
  t.is(formatMac(udp.value.srcMac!), '02:52:56:00:00:01');
  t.is(formatIpv4(udp.value.srcIp), '10.128.0.1');
  t.is(formatIpv4(udp.value.dstIp), '255.255.255.255');
  t.deepEqual([udp.value.srcPort, udp.value.dstPort], [67, 68]);
  t.is(msg.op, 2);
  t.is(msg.xid, 0x852ce11b);
  t.is(formatIpv4(msg.yiaddr), '10.128.0.12');
  t.is(msg.ciaddr, 0);
  t.deepEqual(msg.chaddr.subarray(0, 6), CLIENT_MAC);
  t.is(messageType(msg), MSG.OFFER);
  t.deepEqual(msg.options.map((o) => o.code), [53, 54, 51, 58, 59, 1, 6, 15, 26, 121]);
  t.is(formatIpv4(getIpOption(msg, OPT.SERVER_ID)!), '10.128.0.1');
  t.is(getU32Option(msg, OPT.LEASE_TIME), 3600);
  t.is(getU32Option(msg, OPT.RENEWAL_TIME), 1800);
  t.is(getU32Option(msg, OPT.REBINDING_TIME), 3150);
  t.is(formatIpv4(getIpOption(msg, OPT.SUBNET_MASK)!), '255.255.0.0');
  t.deepEqual(getIpsOption(msg, OPT.DNS_SERVERS)!.map(formatIpv4), ['10.128.0.1']);
  t.is(getStringOption(msg, OPT.DOMAIN_NAME), 'vpn');
  t.is(getU16Option(msg, OPT.INTERFACE_MTU), 1400);
  t.is(getOption(msg, OPT.ROUTER), null); // no default route configured
  t.deepEqual(decodeClasslessRoutes(getOption(msg, OPT.CLASSLESS_ROUTES)!), { ok: true, value: [
    { dest: ip('10.200.0.0'), prefix: 16, gateway: ip('10.128.0.1') }, { dest: ip('192.168.7.0'), prefix: 24, gateway: ip('10.128.0.1') },
  ] });
  t.is(s.stats().received.discover, 1);
  t.is(s.stats().sent.offer, 1);
});

test('REQUEST (selecting) -> ACK and a binding; renewing -> unicast ACK', (t) => {
  const s = server();
  const r = s.handle(cap('udhcpc_request_selecting'), 'tap', 5000);
  t.is(r.event, 'ack');
  const { udp, msg } = replyOf(r.reply);
  t.is(messageType(msg), MSG.ACK);
  t.is(formatIpv4(udp.value.dstIp), '255.255.255.255');
  t.is(formatIpv4(msg.yiaddr), '10.128.0.12');
  t.deepEqual(msg.options.map((o) => o.code), [53, 54, 51, 58, 59, 1, 6, 15, 26, 121]);
  t.deepEqual(s.binding(), { mac: '02:00:00:aa:bb:cc', address: '10.128.0.12', hostName: 'rvtest', expiresAt: 5000 + 3600_000 });
  // the captured renew went through checksum offload: rebuild it with a real checksum, unicast to us
  const renewFrame = buildUdpFrame({ ...parseUdpFrameLoose(cap('udhcpc_request_renewing_offloaded_csum')), ttl: 64 }, 'tap');
  const rr = s.handle(renewFrame, 'tap', 6000);
  t.is(rr.event, 'ack');
  const renew = replyOf(rr.reply);
  t.is(formatMac(renew.udp.value.dstMac!), '02:00:00:aa:bb:cc');
  t.is(formatIpv4(renew.udp.value.dstIp), '10.128.0.12');
  t.is(formatIpv4(renew.msg.ciaddr), '10.128.0.12');
  t.is(formatIpv4(renew.msg.yiaddr), '10.128.0.12');
  // the broadcast flag forces a broadcast even when renewing
  const m = decoded(payloadOf(cap('udhcpc_request_renewing_offloaded_csum')));
  m.flags = FLAG_BROADCAST;
  const rb = replyOf(s.handle(broadcastFrame(encodeDhcp(m), 'tap', ip('10.128.0.12'), ip('10.128.0.1')), 'tap', 7000).reply);
  t.is(formatIpv4(rb.udp.value.dstIp), '255.255.255.255');
});

/** Fields of a captured frame whose UDP checksum is the offloaded partial sum. */
function parseUdpFrameLoose(f: Uint8Array): Parameters<typeof buildUdpFrame>[0] {
  const g = f.slice(); g[40] = 0; g[41] = 0;
  const r = parseUdpFrame(g, 'tap');
  if (!r.ok) throw new Error(r.code);
  return r.value;
}

test('ISC dhclient (captured on a TAP): DISCOVER -> OFFER, REQUEST -> ACK, renewing -> unicast ACK', (t) => {
  const s = server();
  const d = decoded(payloadOf(cap('dhclient_discover')));
  t.is(getStringOption(d, OPT.HOST_NAME), 'rvtest');
  t.deepEqual([...getOption(d, OPT.PARAMETER_LIST)!], [1, 28, 2, 3, 15, 6, 119, 12, 44, 47, 26, 121, 42]);
  const offer = replyOf(s.handle(cap('dhclient_discover'), 'tap', 0).reply);
  t.is(messageType(offer.msg), MSG.OFFER);
  t.is(offer.msg.xid, d.xid);
  const ack = replyOf(s.handle(cap('dhclient_request_selecting'), 'tap', 0).reply);
  t.is(messageType(ack.msg), MSG.ACK);
  t.is(formatIpv4(ack.udp.value.dstIp), '255.255.255.255');
  // the renew came from the kernel's UDP socket through the TAP device: its checksum is complete
  const renew = s.handle(cap('dhclient_request_renewing'), 'tap', 0);
  const r = replyOf(renew.reply);
  t.is(messageType(r.msg), MSG.ACK);
  t.is(formatIpv4(r.udp.value.dstIp), '10.128.0.12');
  t.is(formatMac(r.udp.value.dstMac!), '02:00:00:aa:bb:cc');
  t.deepEqual(s.stats().drops, {});
});

test('REQUEST for another address -> NAK (broadcast); init-reboot; renewing a stale address', (t) => {
  const s = server();
  const wrong = udhcpcMessage(MSG.REQUEST, 9, 0, [{ code: OPT.REQUESTED_ADDRESS, data: Uint8Array.of(10, 128, 0, 99) }, { code: OPT.SERVER_ID, data: Uint8Array.of(10, 128, 0, 1) }]);
  const r = s.handle(broadcastFrame(encodeDhcp(wrong)), 'tap', 0);
  t.is(r.event, 'nak');
  const { udp, msg } = replyOf(r.reply);
  t.is(messageType(msg), MSG.NAK);
  t.is(msg.yiaddr, 0);
  t.is(formatIpv4(udp.value.dstIp), '255.255.255.255');
  t.deepEqual(msg.options.map((o) => o.code), [53, 54, 56]);
  // init-reboot (requested address, no server id): ACK for ours, NAK otherwise
  const reboot = (a: number[]): string | undefined => s.handle(broadcastFrame(encodeDhcp(udhcpcMessage(MSG.REQUEST, 10, 0, [{ code: OPT.REQUESTED_ADDRESS, data: Uint8Array.from(a) }]))), 'tap', 0).event;
  t.is(reboot([10, 128, 0, 12]), 'ack');
  t.is(reboot([10, 128, 0, 13]), 'nak');
  // renewing with a ciaddr that is no longer ours (the overlay moved us)
  const stale = udhcpcMessage(MSG.REQUEST, 11, 0, [], ip('10.128.0.50'));
  const nak = replyOf(s.handle(broadcastFrame(encodeDhcp(stale), 'tap', ip('10.128.0.50'), ip('10.128.0.1')), 'tap', 0).reply);
  t.is(messageType(nak.msg), MSG.NAK);
  t.is(formatIpv4(nak.udp.value.dstIp), '255.255.255.255');
  t.is(s.stats().sent.nak, 3);
});

test('no lease yet -> no reply (no_lease); another server chosen -> ignored', (t) => {
  const s = server({}, null);
  t.deepEqual(s.handle(cap('udhcpc_discover'), 'tap', 0), { reply: null });
  t.deepEqual(s.handle(cap('udhcpc_request_selecting'), 'tap', 0), { reply: null });
  t.is(s.stats().drops.no_lease, 2);
  s.setLease(LEASE);
  t.is(s.handle(cap('udhcpc_discover'), 'tap', 0).event, 'offer');
  const other = udhcpcMessage(MSG.REQUEST, 9, 0, [{ code: OPT.REQUESTED_ADDRESS, data: Uint8Array.of(10, 128, 0, 12) }, { code: OPT.SERVER_ID, data: Uint8Array.of(10, 128, 0, 2) }]);
  t.is(s.handle(broadcastFrame(encodeDhcp(other)), 'tap', 0).reply, null);
  t.is(s.stats().drops.other_server, 1);
  t.is(s.handle(broadcastFrame(encodeDhcp(udhcpcMessage(MSG.REQUEST, 9, 0, []))), 'tap', 0).reply, null);
  t.is(s.stats().drops.bad_request, 1);
});

test('INFORM -> ACK without lease; RELEASE/DECLINE counted and clear the binding', (t) => {
  const s = server({ routes: [{ cidr: '0.0.0.0/0', gateway: '10.128.0.1' }], dnsServers: ['10.128.0.1', '10.128.0.2'] });
  const inform = udhcpcMessage(MSG.INFORM, 3, 0, [], ip('10.128.0.12'));
  const r = s.handle(broadcastFrame(encodeDhcp(inform), 'tap', ip('10.128.0.12'), ip('10.128.0.1')), 'tap', 0);
  t.is(r.event, 'inform');
  const { udp, msg } = replyOf(r.reply);
  t.is(messageType(msg), MSG.ACK);
  t.is(msg.yiaddr, 0);
  t.is(formatIpv4(udp.value.dstIp), '10.128.0.12'); // unicast to ciaddr
  t.deepEqual(msg.options.map((o) => o.code), [53, 54, 3, 6, 15, 26, 121]);
  t.is(formatIpv4(getIpOption(msg, OPT.ROUTER)!), '10.128.0.1');
  t.deepEqual(getIpsOption(msg, OPT.DNS_SERVERS)!.map(formatIpv4), ['10.128.0.1', '10.128.0.2']);
  s.handle(cap('udhcpc_request_selecting'), 'tap', 0);
  t.truthy(s.binding());
  const release = buildUdpFrame(parseUdpFrameLoose(cap('udhcpc_release_offloaded_csum')), 'tap');
  t.deepEqual(s.handle(release, 'tap', 0), { reply: null, event: 'release' });
  t.is(s.binding(), null);
  const decline = udhcpcMessage(MSG.DECLINE, 4, 0, [{ code: OPT.REQUESTED_ADDRESS, data: Uint8Array.of(10, 128, 0, 12) }]);
  t.deepEqual(s.handle(broadcastFrame(encodeDhcp(decline)), 'tap', 0), { reply: null, event: 'decline' });
  t.like(s.stats().received, { inform: 1, request: 1, release: 1, decline: 1 });
});

test('TUN mode exchange and runtime reconfiguration', (t) => {
  const s = server();
  s.setMtu(1280);
  s.setDomain(null);
  s.setRoutes([]);
  const r = s.handle(cap('udhcpc_discover').subarray(14), 'tun', 0);
  const { udp, msg } = replyOf(r.reply, 'tun');
  t.is(udp.value.srcMac, null);
  t.is(formatIpv4(udp.value.dstIp), '255.255.255.255');
  t.deepEqual(msg.options.map((o) => o.code), [53, 54, 51, 58, 59, 1, 6, 26]);
  t.is(getU16Option(msg, OPT.INTERFACE_MTU), 1280);
  s.setLease({ address: '10.128.3.4', prefix: 24 });
  const r2 = replyOf(s.handle(cap('udhcpc_discover').subarray(14), 'tun', 0).reply, 'tun');
  t.is(formatIpv4(r2.msg.yiaddr), '10.128.3.4');
  t.is(formatIpv4(getIpOption(r2.msg, OPT.SUBNET_MASK)!), '255.255.255.0');
  t.throws(() => s.setRoutes([{ cidr: '10.0.0.0/33', gateway: '10.128.0.1' }]));
  t.throws(() => new DhcpServer({ ...OPTS, serverIp: 'x' }));
});

test('dropped frames are counted by reason', (t) => {
  const s = server();
  const f = cap('udhcpc_discover');
  const bad = f.slice(); bad[30]! ^= 1;
  s.handle(bad, 'tap', 0);
  const offer = cap('offer_udhcpd');
  s.handle(buildUdpFrame({ ...parseUdpFrameLoose(offer), dstPort: 67 }, 'tap'), 'tap', 0); // a BOOTREPLY sent to us
  const noType = udhcpcMessage(MSG.DISCOVER, 1, 0, []); noType.options = noType.options.slice(1);
  s.handle(broadcastFrame(encodeDhcp(noType)), 'tap', 0);
  s.handle(broadcastFrame(encodeDhcp(udhcpcMessage(MSG.OFFER, 1, 0, []))), 'tap', 0);
  s.handle(buildUdpFrame({ ...parseUdpFrameLoose(f), dstPort: 53 }, 'tap'), 'tap', 0);
  s.handle(broadcastFrame(new Uint8Array(100)), 'tap', 0);
  t.deepEqual(s.stats().drops, { bad_ip_checksum: 1, not_request: 1, no_message_type: 1, unexpected_type: 1, not_dhcp_port: 1, too_short: 1 });
});

test('hostile bytes never throw (codec and server)', (t) => {
  const rng = new Xoshiro128(21);
  const s = server();
  const base = payloadOf(cap('udhcpc_request_selecting'));
  for (let i = 0; i < 20000; i++) {
    const b = base.slice(0, rng.next() < 0.7 ? base.length : randInt(rng, base.length + 1));
    for (let k = randInt(rng, 6); k >= 0 && b.length > 0; k--) b[236 + randInt(rng, Math.max(1, b.length - 236))] = randInt(rng, 256);
    if (i % 3 === 0) for (let k = 0; k < b.length; k++) b[k] = randInt(rng, 256);
    const d = decodeDhcp(b);
    if (d.ok) encodeDhcp(d.value);
    const r = s.handle(broadcastFrame(b), 'tap', i);
    if (r.reply) t.true(parseUdpFrame(r.reply, 'tap').ok);
  }
  const total = Object.values(s.stats().drops).reduce((a, b) => a + (b ?? 0), 0);
  t.log(`drops ${JSON.stringify(s.stats().drops)}, sent ${JSON.stringify(s.stats().sent)}`);
  t.true(total > 0);
});
