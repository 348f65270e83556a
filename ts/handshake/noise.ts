// Owns the Noise Protocol Framework core (revision 34): CipherState, SymmetricState, HandshakeState,
// generic over message patterns, for 25519 / ChaChaPoly / BLAKE2s, with patterns IK and XX.
// It must not do I/O, read clocks or draw its own randomness: ephemeral keys come from an injected source.
import { DHLEN, HASHLEN, TAGLEN, aeadDecrypt, aeadEncrypt, blake2s, generateKeyPair, hkdf, x25519, type DhFn, type KeyPair, type Random } from './primitives.js';
import { errors } from '../base/errors.js';

export * from './primitives.js';

const MAX_NONCE = (1n << 64n) - 1n; // reserved by the spec, never used

export type NoiseErrorCode =
  | 'short_message' // fewer bytes than the pattern needs
  | 'decrypt_failed' // AEAD tag did not verify
  | 'bad_dh' // DH produced no usable output
  | 'wrong_turn' // write/read called out of order, or after completion
  | 'nonce_exhausted';

export type NoiseResult<T> = { ok: true; value: T } | { ok: false; code: NoiseErrorCode };

// ---------------------------------------------------------------- CipherState

export class CipherState {
  private k: Uint8Array | null = null;
  private n = 0n;

  constructor(key?: Uint8Array) {
    if (key) this.initializeKey(key);
  }
  initializeKey(key: Uint8Array | null): void {
    this.k = key ? new Uint8Array(key) : null;
    this.n = 0n;
  }
  hasKey(): boolean {
    return this.k !== null;
  }
  setNonce(n: bigint): void {
    this.n = n;
  }
  get nonce(): bigint {
    return this.n;
  }
  encryptWithAd(ad: Uint8Array, plaintext: Uint8Array): NoiseResult<Uint8Array> {
    if (!this.k) return { ok: true, value: new Uint8Array(plaintext) };
    if (this.n >= MAX_NONCE) return { ok: false, code: 'nonce_exhausted' };
    const out = aeadEncrypt(this.k, this.n, ad, plaintext);
    this.n++;
    return { ok: true, value: out };
  }
  /** On failure the nonce is not advanced (spec 5.1). */
  decryptWithAd(ad: Uint8Array, ciphertext: Uint8Array): NoiseResult<Uint8Array> {
    if (!this.k) return { ok: true, value: new Uint8Array(ciphertext) };
    if (this.n >= MAX_NONCE) return { ok: false, code: 'nonce_exhausted' };
    const out = aeadDecrypt(this.k, this.n, ad, ciphertext);
    if (!out) return { ok: false, code: 'decrypt_failed' };
    this.n++;
    return { ok: true, value: out };
  }
  /** The raw key, for handing transport keys to the data plane after Split(). */
  key(): Uint8Array | null {
    return this.k ? new Uint8Array(this.k) : null;
  }
  clone(): CipherState {
    const c = new CipherState();
    c.k = this.k ? new Uint8Array(this.k) : null;
    c.n = this.n;
    return c;
  }
}

// ---------------------------------------------------------------- SymmetricState

export class SymmetricState {
  private ck: Uint8Array;
  private h: Uint8Array;
  private cs = new CipherState();

  constructor(protocolName: string) {
    const name = new TextEncoder().encode(protocolName);
    if (name.length <= HASHLEN) {
      this.h = new Uint8Array(HASHLEN);
      this.h.set(name);
    } else {
      this.h = blake2s(name);
    }
    this.ck = new Uint8Array(this.h);
  }
  mixKey(ikm: Uint8Array): void {
    const [ck, tempK] = hkdf(this.ck, ikm, 2) as [Uint8Array, Uint8Array];
    this.ck = ck;
    this.cs.initializeKey(tempK);
  }
  mixHash(data: Uint8Array): void {
    this.h = blake2s(this.h, data);
  }
  mixKeyAndHash(ikm: Uint8Array): void {
    const [ck, tempH, tempK] = hkdf(this.ck, ikm, 3) as [Uint8Array, Uint8Array, Uint8Array];
    this.ck = ck;
    this.mixHash(tempH);
    this.cs.initializeKey(tempK);
  }
  getHandshakeHash(): Uint8Array {
    return new Uint8Array(this.h);
  }
  hasKey(): boolean {
    return this.cs.hasKey();
  }
  encryptAndHash(plaintext: Uint8Array): NoiseResult<Uint8Array> {
    const r = this.cs.encryptWithAd(this.h, plaintext);
    if (r.ok) this.mixHash(r.value);
    return r;
  }
  decryptAndHash(ciphertext: Uint8Array): NoiseResult<Uint8Array> {
    const r = this.cs.decryptWithAd(this.h, ciphertext);
    if (r.ok) this.mixHash(ciphertext);
    return r;
  }
  split(): [CipherState, CipherState] {
    const [k1, k2] = hkdf(this.ck, new Uint8Array(0), 2) as [Uint8Array, Uint8Array];
    return [new CipherState(k1), new CipherState(k2)];
  }
  clone(): SymmetricState {
    const s = Object.create(SymmetricState.prototype) as SymmetricState;
    s.ck = new Uint8Array(this.ck);
    s.h = new Uint8Array(this.h);
    s.cs = this.cs.clone();
    return s;
  }
}

// ---------------------------------------------------------------- patterns

export type Token = 'e' | 's' | 'ee' | 'es' | 'se' | 'ss';

export interface HandshakePattern {
  name: string;
  /** Pre-message keys: what the responder knows of the initiator, and the initiator of the responder. */
  preInitiator: ('e' | 's')[];
  preResponder: ('e' | 's')[];
  /** messages[0] goes initiator -> responder, then alternating. */
  messages: Token[][];
}

export const PATTERN_IK: HandshakePattern = {
  name: 'IK',
  preInitiator: [],
  preResponder: ['s'],
  messages: [
    ['e', 'es', 's', 'ss'],
    ['e', 'ee', 'se'],
  ],
};

export const PATTERN_XX: HandshakePattern = {
  name: 'XX',
  preInitiator: [],
  preResponder: [],
  messages: [['e'], ['e', 'ee', 's', 'es'], ['s', 'se']],
};

export function protocolName(pattern: HandshakePattern): string {
  return `Noise_${pattern.name}_25519_ChaChaPoly_BLAKE2s`;
}

// ---------------------------------------------------------------- HandshakeState

export interface HandshakeOptions {
  pattern: HandshakePattern;
  initiator: boolean;
  prologue?: Uint8Array;
  /** Local static key pair (required when the pattern uses `s` on our side). */
  s?: KeyPair;
  /** Local ephemeral; normally generated from `random` when the `e` token is written. */
  e?: KeyPair;
  /** Remote static public key, when known in advance (IK initiator). */
  rs?: Uint8Array;
  re?: Uint8Array;
  random?: Random;
  dh?: DhFn;
}

export interface SplitResult {
  /** initiator -> responder */
  c1: CipherState;
  /** responder -> initiator */
  c2: CipherState;
  handshakeHash: Uint8Array;
}

export class HandshakeState {
  private ss: SymmetricState;
  private s: KeyPair | null;
  private e: KeyPair | null;
  private rs: Uint8Array | null;
  private re: Uint8Array | null;
  private readonly initiator: boolean;
  private readonly pattern: HandshakePattern;
  private readonly random: Random | null;
  private readonly dh: DhFn;
  private index = 0;
  private failed = false;

  constructor(o: HandshakeOptions) {
    this.pattern = o.pattern;
    this.initiator = o.initiator;
    this.s = o.s ?? null;
    this.e = o.e ?? null;
    this.rs = o.rs ? new Uint8Array(o.rs) : null;
    this.re = o.re ? new Uint8Array(o.re) : null;
    this.random = o.random ?? null;
    this.dh = o.dh ?? x25519;
    this.ss = new SymmetricState(protocolName(o.pattern));
    this.ss.mixHash(o.prologue ?? new Uint8Array(0));
    for (const [keys, mine] of [
      [o.pattern.preInitiator, this.initiator],
      [o.pattern.preResponder, !this.initiator],
    ] as const) {
      for (const t of keys) {
        const key = t === 's' ? (mine ? this.s?.publicKey : this.rs) : mine ? this.e?.publicKey : this.re;
        if (!key) throw errors.E_ARGUMENT(`noise: pre-message key '${t}' missing`);
        this.ss.mixHash(key);
      }
    }
  }

  isComplete(): boolean {
    return this.index >= this.pattern.messages.length;
  }
  /** True when the next message is ours to write. */
  isMyTurn(): boolean {
    return !this.isComplete() && this.index % 2 === (this.initiator ? 0 : 1);
  }
  getHandshakeHash(): Uint8Array {
    return this.ss.getHandshakeHash();
  }
  remoteStatic(): Uint8Array | null {
    return this.rs ? new Uint8Array(this.rs) : null;
  }
  localEphemeral(): KeyPair | null {
    return this.e;
  }

  writeMessage(payload: Uint8Array): NoiseResult<Uint8Array> {
    if (this.failed || !this.isMyTurn()) return { ok: false, code: 'wrong_turn' };
    const out: Uint8Array[] = [];
    const fail = (code: NoiseErrorCode): NoiseResult<Uint8Array> => ((this.failed = true), { ok: false, code });
    for (const t of this.pattern.messages[this.index] ?? []) {
      if (t === 'e') {
        if (!this.e) {
          if (!this.random) throw errors.E_ARGUMENT('noise: no random source for the ephemeral key');
          this.e = generateKeyPair(this.random);
        }
        out.push(this.e.publicKey);
        this.ss.mixHash(this.e.publicKey);
      } else if (t === 's') {
        if (!this.s) throw errors.E_ARGUMENT('noise: local static key missing');
        const r = this.ss.encryptAndHash(this.s.publicKey);
        if (!r.ok) return fail(r.code);
        out.push(r.value);
      } else if (!this.mixDh(t)) {
        return fail('bad_dh');
      }
    }
    const r = this.ss.encryptAndHash(payload);
    if (!r.ok) return fail(r.code);
    out.push(r.value);
    this.index++;
    return { ok: true, value: concat(out) };
  }

  /** On failure the state is poisoned; callers that must survive forged messages read on a clone(). */
  readMessage(message: Uint8Array): NoiseResult<Uint8Array> {
    if (this.failed || this.isComplete() || this.isMyTurn()) return { ok: false, code: 'wrong_turn' };
    const fail = (code: NoiseErrorCode): NoiseResult<Uint8Array> => ((this.failed = true), { ok: false, code });
    let off = 0;
    for (const t of this.pattern.messages[this.index] ?? []) {
      if (t === 'e') {
        if (message.length - off < DHLEN) return fail('short_message');
        this.re = message.slice(off, off + DHLEN);
        off += DHLEN;
        this.ss.mixHash(this.re);
      } else if (t === 's') {
        const len = DHLEN + (this.ss.hasKey() ? TAGLEN : 0);
        if (message.length - off < len) return fail('short_message');
        const r = this.ss.decryptAndHash(message.subarray(off, off + len));
        if (!r.ok) return fail(r.code);
        this.rs = r.value;
        off += len;
      } else if (!this.mixDh(t)) {
        return fail('bad_dh');
      }
    }
    const rest = message.subarray(off);
    if (this.ss.hasKey() && rest.length < TAGLEN) return fail('short_message');
    const r = this.ss.decryptAndHash(rest);
    if (!r.ok) return fail(r.code);
    this.index++;
    return { ok: true, value: r.value };
  }

  /** Split() after the last message: c1 encrypts initiator -> responder, c2 the reverse. */
  split(): SplitResult | null {
    if (!this.isComplete() || this.failed) return null;
    const [c1, c2] = this.ss.split();
    return { c1, c2, handshakeHash: this.ss.getHandshakeHash() };
  }

  clone(): HandshakeState {
    const c = Object.create(HandshakeState.prototype) as HandshakeState;
    Object.assign(c, this);
    c.ss = this.ss.clone();
    c.rs = this.rs ? new Uint8Array(this.rs) : null;
    c.re = this.re ? new Uint8Array(this.re) : null;
    return c;
  }

  private mixDh(t: 'ee' | 'es' | 'se' | 'ss'): boolean {
    // First letter is the initiator's key, second the responder's.
    const mineFirst = this.initiator;
    const [a, b] = [t[0] as 'e' | 's', t[1] as 'e' | 's'];
    const localTok = mineFirst ? a : b;
    const remoteTok = mineFirst ? b : a;
    const local = localTok === 'e' ? this.e : this.s;
    const remote = remoteTok === 'e' ? this.re : this.rs;
    if (!local || !remote) return false;
    const shared = this.dh(local.privateKey, remote);
    if (!shared) return false;
    this.ss.mixKey(shared);
    return true;
  }
}

export function concat(parts: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
