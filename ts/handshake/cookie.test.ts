// Tests the cookie mechanism in the sans-IO handshake machine: the under-load state, mac2, cookie
// replies, the 2-minute secret and cookies bound to a source address. Time and randomness are inputs.
import test from 'ava';
import { Handshaker, UNDER_LOAD_MS, type Action } from './handshake.js';
import { COOKIE_REPLY_LEN, COOKIE_SECRET_MS, CookieChecker, CookieJar, decodeCookieReply } from './cookie.js';
import { MAC2_LEN, encodeInitiation, mac1Key } from './frames.js';
import { x25519, x25519PublicKey, type DhFn } from './noise.js';
import { seededRandom } from './seeded-random.js';

const rng = seededRandom;

function node(name: string, underLoadPerSec?: number) {
  const priv = rng(`${name}/static`)(32);
  const pub = x25519PublicKey(priv);
  const dhCalls = { n: 0 };
  const dh: DhFn = (a, b) => (dhCalls.n++, x25519(a, b));
  const hs = new Handshaker({ staticPrivate: priv, staticPublic: pub, random: rng(name), dh, ...(underLoadPerSec !== undefined ? { underLoadPerSec } : {}) });
  return { hs, pub, dhCalls };
}

const kinds = (as: Action[]) => as.map((a) => (a.kind === 'rejected' ? `rejected:${a.code}` : a.kind));
const sent = (as: Action[]) => as.flatMap((a) => (a.kind === 'send' || a.kind === 'reply' ? [a.bytes] : []));
const T0 = 1_800_000_000_000;
const A = '10.0.0.1:51820';

/** Alice (initiator) and Bob (responder, under load after `limit` initiations in a second). */
function setup(limit = 2) {
  const a = node('alice');
  const b = node('bob', limit);
  a.hs.addPeer(2, b.pub);
  b.hs.addPeer(1, a.pub);
  return { a, b };
}

/** Junk initiations with a valid mac1 (anyone who knows Bob's key can make them) from other sources. */
function load(b: ReturnType<typeof node>, n: number, now: number): void {
  for (let i = 0; i < n; i++) {
    const junk = encodeInitiation({ sender: i, noise: rng(`junk${i}`)(108) }, mac1Key(b.pub));
    b.hs.receive(junk, now, `10.9.9.${i % 250}:4000`);
  }
}

test('not under load: no mac2 needed, the initiation is answered', (t) => {
  const { a, b } = setup();
  const [init] = sent(a.hs.initiate(2, T0));
  t.false(b.hs.underLoad(T0));
  t.deepEqual(kinds(b.hs.receive(init!, T0, A)), ['established', 'send']);
});

test('under load: an initiation without mac2 gets a cookie reply and costs no DH; the resend with mac2 is answered', (t) => {
  const { a, b } = setup();
  load(b, 3, T0);
  t.true(b.hs.underLoad(T0), 'three initiations in a second with a limit of two');
  const [init] = sent(a.hs.initiate(2, T0 + 10));
  t.deepEqual([...init!.subarray(init!.length - MAC2_LEN)], new Array(MAC2_LEN).fill(0), 'no cookie yet: mac2 is zero');
  b.dhCalls.n = 0;
  const r = b.hs.receive(init!, T0 + 11, A);
  t.deepEqual(kinds(r), ['rejected:mac2_required', 'reply']);
  t.is(b.dhCalls.n, 0, 'no Diffie-Hellman for an initiation without mac2 under load');
  const [reply] = sent(r);
  t.is(reply!.length, COOKIE_REPLY_LEN);
  const d = decodeCookieReply(reply!);
  t.true(d.ok && d.receiver === new DataView(init!.buffer, init!.byteOffset).getUint32(4, true), 'the reply names the initiation it answers');

  // Alice accepts the cookie and resends at once with mac2
  const ra = a.hs.receive(reply!, T0 + 12);
  t.deepEqual(kinds(ra), ['cookie', 'send']);
  const [again] = sent(ra);
  t.notDeepEqual([...again!.subarray(again!.length - MAC2_LEN)], new Array(MAC2_LEN).fill(0));
  load(b, 3, T0 + 13);
  const rb = b.hs.receive(again!, T0 + 13, A);
  t.deepEqual(kinds(rb), ['established', 'send'], 'a valid mac2 passes under load');
  t.true(b.dhCalls.n > 0);
  const [resp] = sent(rb);
  t.deepEqual(kinds(a.hs.receive(resp!, T0 + 14)), ['established']);
});

test('the load state ends UNDER_LOAD_MS after the last busy second', (t) => {
  const { a, b } = setup();
  load(b, 3, T0);
  t.true(b.hs.underLoad(T0 + UNDER_LOAD_MS - 1));
  t.false(b.hs.underLoad(T0 + UNDER_LOAD_MS));
  const [init] = sent(a.hs.initiate(2, T0 + UNDER_LOAD_MS + 5));
  t.deepEqual(kinds(b.hs.receive(init!, T0 + UNDER_LOAD_MS + 5, A)), ['established', 'send']);
});

test('a cookie is bound to the source address: the same mac2 from another address is refused', (t) => {
  const { a, b } = setup();
  load(b, 3, T0);
  const [init] = sent(a.hs.initiate(2, T0 + 1));
  const [reply] = sent(b.hs.receive(init!, T0 + 1, A));
  const [again] = sent(a.hs.receive(reply!, T0 + 2));
  b.dhCalls.n = 0;
  t.deepEqual(kinds(b.hs.receive(again!, T0 + 3, '10.0.0.66:51820')), ['rejected:mac2_required', 'reply']);
  t.deepEqual(kinds(b.hs.receive(again!, T0 + 3, '10.0.0.1:51821')), ['rejected:mac2_required', 'reply'], 'the port is part of the address');
  t.is(b.dhCalls.n, 0);
});

test('a stale cookie (made before the 2-minute secret rotated) is refused', (t) => {
  const { a, b } = setup();
  load(b, 3, T0);
  const [init] = sent(a.hs.initiate(2, T0 + 1));
  const [reply] = sent(b.hs.receive(init!, T0 + 1, A));
  sent(a.hs.receive(reply!, T0 + 2)); // alice holds a cookie now
  // two minutes later bob's secret has changed; alice still uses the cookie (her use window is shorter
  // than the secret's life only by a margin, and the secret may rotate right after she got it)
  const later = T0 + COOKIE_SECRET_MS + 10;
  load(b, 3, later);
  const checker = new CookieChecker(b.pub, rng('x'), T0);
  const cookieThen = checker.cookieFor(A, T0);
  t.deepEqual(cookieThen, checker.cookieFor(A, T0 + COOKIE_SECRET_MS - 1), 'the secret holds for COOKIE_SECRET_MS');
  t.notDeepEqual(cookieThen, checker.cookieFor(A, T0 + COOKIE_SECRET_MS), 'and then rotates');
  // a message with mac2 from the old cookie
  const jar = new CookieJar(b.pub);
  const c2 = new CookieChecker(b.pub, rng('y'), T0);
  const [i2] = sent(a.hs.initiate(2, T0 + 3));
  const r2 = c2.reply(new DataView(i2!.buffer, i2!.byteOffset).getUint32(4, true), i2!.slice(i2!.length - 32, i2!.length - 16), A, T0 + 3);
  const d = decodeCookieReply(r2);
  t.true(d.ok && jar.accept(d.nonce, d.sealed, i2!.slice(i2!.length - 32, i2!.length - 16), T0 + 3));
  const msg = encodeInitiation({ sender: 9, noise: rng('m')(108) }, mac1Key(b.pub), (c) => jar.mac2(c, T0 + 4));
  t.true(c2.checkMac2(msg, A, T0 + 4), 'valid under the secret it was made with');
  t.false(c2.checkMac2(msg, A, T0 + COOKIE_SECRET_MS + 4), 'refused once the secret rotated');
  // and end to end: bob asks again for a cookie rather than doing DH
  const [i3] = sent(a.hs.initiate(2, later + 1));
  b.dhCalls.n = 0;
  t.deepEqual(kinds(b.hs.receive(i3!, later + 1, A)), ['rejected:mac2_required', 'reply']);
  t.is(b.dhCalls.n, 0);
});

test('cookie replies: a forged or misaddressed reply is refused; a second reply does not resend again', (t) => {
  const { a, b } = setup();
  load(b, 3, T0);
  const [init] = sent(a.hs.initiate(2, T0 + 1));
  const [reply] = sent(b.hs.receive(init!, T0 + 1, A));
  const forged = new Uint8Array(reply!); forged[40]! ^= 1;
  t.deepEqual(kinds(a.hs.receive(forged, T0 + 2)), ['rejected:bad_cookie_reply']);
  const wrongIndex = new Uint8Array(reply!); wrongIndex[4]! ^= 1;
  t.deepEqual(kinds(a.hs.receive(wrongIndex, T0 + 2)), ['rejected:unknown_index']);
  t.deepEqual(kinds(a.hs.receive(reply!.subarray(0, 63), T0 + 2)), ['rejected:bad_cookie_reply']);
  const ra = a.hs.receive(reply!, T0 + 2);
  t.deepEqual(kinds(ra), ['cookie', 'send']);
  const [again] = sent(ra);
  // bob, still under load and with a new cookie secret? no: the same secret, so the resend passes;
  // but a second cookie reply for the resend (e.g. a replay of one) does not trigger another resend
  const c = new CookieChecker(b.pub, rng('z'), T0);
  const second = c.reply(new DataView(again!.buffer, again!.byteOffset).getUint32(4, true), again!.slice(again!.length - 32, again!.length - 16), A, T0 + 3);
  t.deepEqual(kinds(a.hs.receive(second, T0 + 3)), ['cookie'], 'one cookie-driven resend per attempt');
});

test('handshakes carried by the overlay (no source address) never need a cookie', (t) => {
  const { a, b } = setup();
  load(b, 10, T0);
  t.true(b.hs.underLoad(T0));
  const [init] = sent(a.hs.initiate(2, T0 + 1));
  t.deepEqual(kinds(b.hs.receive(init!, T0 + 1)), ['established', 'send']);
});

test('hostile cookie replies never throw', (t) => {
  const { a } = setup();
  sent(a.hs.initiate(2, T0));
  const r = rng('hostile');
  for (let i = 0; i < 300; i++) {
    const x = r(i % 2 ? COOKIE_REPLY_LEN : r(1)[0]!);
    if (x.length) x[0] = 3;
    t.notThrows(() => t.true(a.hs.receive(x, T0 + 1).every((o) => o.kind === 'rejected')));
  }
});
