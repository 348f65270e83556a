// Tests upstream forwarding against local UDP servers: resolv.conf parsing (our own address skipped),
// the first answer wins, silent servers time out, spoofed/stray datagrams are ignored, close() stops.
import test from 'ava';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dnsPacket from 'dns-packet';
import { Upstream, parseResolvConf } from './upstream.js';

type Behaviour = (msg: Buffer, reply: (b: Buffer) => void) => void;

async function fakeServer(behave: Behaviour): Promise<{ port: number; sock: Socket; seen: Buffer[] }> {
  const sock = createSocket('udp4');
  const seen: Buffer[] = [];
  sock.on('message', (msg, rinfo) => { seen.push(msg); behave(msg, (b) => sock.send(b, rinfo.port, rinfo.address)); });
  await new Promise<void>((res) => sock.bind(0, '127.0.0.1', () => res()));
  return { port: sock.address().port, sock, seen };
}

const query = (id: number): Uint8Array => new Uint8Array(dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name: 'example.com', type: 'A' }] }));
const answer = (q: Buffer, ip: string, rcode = 0): Buffer => {
  const d = dnsPacket.decode(q);
  return dnsPacket.encode({ type: 'response', id: d.id, flags: dnsPacket.RECURSION_AVAILABLE | rcode, questions: d.questions, answers: rcode ? [] : [{ type: 'A', name: 'example.com', ttl: 5, data: ip }] });
};
const ipOf = (b: Uint8Array | null): string | undefined => (b ? (dnsPacket.decode(Buffer.from(b)).answers?.[0] as dnsPacket.StringAnswer | undefined)?.data : undefined);

test('parseResolvConf: nameservers in order, comments and junk skipped', (t) => {
  const text = '# generated\nsearch example.org\nnameserver 10.128.0.1\nnameserver 192.0.2.53 # upstream\n;nameserver 1.1.1.1\nnameserver fe80::1%eth0\nnameserver bogus\noptions edns0\n  nameserver 2001:db8::53\n';
  t.deepEqual(parseResolvConf(text), ['10.128.0.1', '192.0.2.53', 'fe80::1%eth0', '2001:db8::53']);
  const dir = mkdtempSync(join(tmpdir(), 'ringvpn-upstream-'));
  writeFileSync(join(dir, 'resolv.conf'), text);
  const u = new Upstream({ resolvConf: join(dir, 'resolv.conf'), exclude: ['10.128.0.1'] });
  t.deepEqual(u.list().map((s) => s.address), ['192.0.2.53', 'fe80::1%eth0', '2001:db8::53']);
  t.deepEqual(u.list()[0], { address: '192.0.2.53', port: 53 });
  t.deepEqual(new Upstream({ resolvConf: join(dir, 'missing') }).list(), []);
});

test('forward: a silent server times out, the next one answers', async (t) => {
  const silent = await fakeServer(() => {});
  const good = await fakeServer((m, reply) => reply(answer(m, '192.0.2.1')));
  try {
    const u = new Upstream({ servers: [{ address: '127.0.0.1', port: silent.port }, { address: '127.0.0.1', port: good.port }], timeoutMs: 150 });
    const t0 = Date.now();
    const r = await u.forward(query(4242));
    t.true(Date.now() - t0 >= 140);
    t.is(ipOf(r), '192.0.2.1');
    t.is(dnsPacket.decode(Buffer.from(r!)).id, 4242);
    t.is(silent.seen.length, 1);
    t.like(u.stats(), { queries: 1, answered: 1, timeouts: 1 });
  } finally { silent.sock.close(); good.sock.close(); }
});

test('forward: stray datagrams (wrong id, not a response) are ignored; none answering -> null', async (t) => {
  const liar = await fakeServer((m, reply) => {
    const wrong = answer(m, '6.6.6.6'); wrong.writeUInt16BE((m.readUInt16BE(0) + 1) & 0xffff, 0);
    reply(wrong);
    reply(Buffer.from(m)); // an echo of the query (QR clear)
    setTimeout(() => reply(answer(m, '192.0.2.9')), 20);
  });
  const silent = await fakeServer(() => {});
  try {
    const u = new Upstream({ servers: [{ address: '127.0.0.1', port: liar.port }], timeoutMs: 500 });
    t.is(ipOf(await u.forward(query(7))), '192.0.2.9');
    t.is(u.stats().mismatched, 2);
    const none = new Upstream({ servers: [{ address: '127.0.0.1', port: silent.port }], timeoutMs: 50 });
    t.is(await none.forward(query(8)), null);
    t.like(none.stats(), { unanswered: 1, timeouts: 1 });
    t.is(await new Upstream({ servers: [] }).forward(query(9)), null);
  } finally { liar.sock.close(); silent.sock.close(); }
});

test('forward: SERVFAIL/REFUSED moves on to the next server, but is returned when nothing better comes', async (t) => {
  const refusing = await fakeServer((m, reply) => reply(answer(m, '', 5)));
  const good = await fakeServer((m, reply) => reply(answer(m, '192.0.2.3')));
  try {
    const both = new Upstream({ servers: [{ address: '127.0.0.1', port: refusing.port }, { address: '127.0.0.1', port: good.port }], timeoutMs: 500 });
    t.is(ipOf(await both.forward(query(1))), '192.0.2.3');
    const only = new Upstream({ servers: [{ address: '127.0.0.1', port: refusing.port }], timeoutMs: 500 });
    const r = await only.forward(query(2));
    t.is((dnsPacket.decode(Buffer.from(r!)) as { rcode?: string }).rcode, 'REFUSED');
  } finally { refusing.sock.close(); good.sock.close(); }
});

test('close() ends pending forwards with null', async (t) => {
  const silent = await fakeServer(() => {});
  try {
    const u = new Upstream({ servers: [{ address: '127.0.0.1', port: silent.port }, { address: '127.0.0.1', port: silent.port }], timeoutMs: 10_000 });
    const p = u.forward(query(3));
    setTimeout(() => u.close(), 30);
    t.is(await p, null);
    t.is(await u.forward(query(4)), null);
  } finally { silent.sock.close(); }
});
