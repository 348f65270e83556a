// SHA-1 against the FIPS 180-4 / RFC 3174 vectors, padding edge lengths cross-checked with node:crypto.
import test from 'ava';
import { createHash } from 'node:crypto';
import { sha1, keyPosition } from './sha1.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const te = new TextEncoder();

test('sha1: known vectors', (t) => {
  t.is(hex(sha1(te.encode(''))), 'da39a3ee5e6b4b0d3255bfef95601890afd80709');
  t.is(hex(sha1(te.encode('abc'))), 'a9993e364706816aba3e25717850c26c9cd0d89d');
  t.is(hex(sha1(te.encode('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'))), '84983e441c3bd26ebaae4aa1f95129e5e54670f1');
  t.is(hex(sha1(new Uint8Array(1_000_000).fill(0x61))), '34aa973cd4c4daa4f61eeb2bdbad27316534016f');
});

test('sha1: every length around the block and padding boundaries matches node:crypto', (t) => {
  for (let n = 0; n <= 200; n++) {
    const b = new Uint8Array(n).map((_, i) => (i * 31 + n) & 0xff);
    t.is(hex(sha1(b)), createHash('sha1').update(b).digest('hex'), `length ${n}`);
  }
  t.is(keyPosition(te.encode('abc')), 0xa9993e364706816aba3e25717850c26c9cd0d89dn);
});
