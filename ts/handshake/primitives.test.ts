// Tests the X25519 primitive's JWK key import against RFC 7748 §6.1 and against node:crypto's DER
// import (an independent path through OpenSSL), and that hostile public keys give null, not a throw.
import test from 'ava';
import { createPrivateKey, createPublicKey, diffieHellman, randomBytes } from 'node:crypto';
import { keyPairFromPrivate, x25519 } from './primitives.js';

const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const alice = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
const bob = hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');

function derDh(priv: Uint8Array, pub: Uint8Array): Buffer {
  const privateKey = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), priv]), format: 'der', type: 'pkcs8' });
  const publicKey = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), pub]), format: 'der', type: 'spki' });
  return diffieHellman({ privateKey, publicKey });
}

test('RFC 7748 6.1: public keys and the shared secret', (t) => {
  const a = keyPairFromPrivate(alice), b = keyPairFromPrivate(bob);
  t.is(Buffer.from(a.publicKey).toString('hex'), '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
  t.is(Buffer.from(b.publicKey).toString('hex'), 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
  const ab = x25519(a.privateKey, b.publicKey), ba = x25519(b.privateKey, a.publicKey);
  t.truthy(ab);
  t.deepEqual(Buffer.from(ab!), Buffer.from(ba!));
  t.deepEqual(Buffer.from(ab!), derDh(alice, b.publicKey));
});

test('random keys agree with the DER import', (t) => {
  for (let i = 0; i < 50; i++) {
    const p = keyPairFromPrivate(new Uint8Array(randomBytes(32))), q = new Uint8Array(randomBytes(32));
    t.deepEqual(Buffer.from(x25519(p.privateKey, q)!), derDh(p.privateKey, q));
  }
});

test('a low-order or wrong-length public key gives null', (t) => {
  const a = keyPairFromPrivate(alice);
  t.is(x25519(a.privateKey, new Uint8Array(32)), null);
  t.is(x25519(a.privateKey, new Uint8Array(31)), null);
  t.is(x25519(new Uint8Array(33), a.publicKey), null);
});
