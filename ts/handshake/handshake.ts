// Owns the per-node handshake machine: peers by static key, Noise IK initiations and responses, replay
// protection (TAI64N timestamps), retransmission, rekey and session bookkeeping. It returns actions.
// It must not do I/O, read clocks, set timers or draw its own randomness: `now` and `random` are injected.
//
// Rules (documented here because callers rely on them):
// - Keys: initiator sendKey = k1, recvKey = k2 from Split(); the responder the reverse.
// - A session is installed as soon as it exists (responder: after sending the response; initiator: after
//   reading it). The newest session is the peer's "current" session; the two before it are kept as
//   "previous" and "older" for receiving (the data plane decides which one it sends on: a responder's
//   new session only once the initiator used it); a fourth is dropped and listed in the `established`
//   action's expiredLocalIndices. Sessions that time out or belong to a removed peer come as `retired`.
// - Both sides initiating at once: both handshakes complete independently (a pending initiation is not
//   cancelled by an incoming one), so each side ends up holding both sessions; whichever it installed last
//   is its send session, and the other side still holds that one in its window. When one side rekeys, the
//   other may still send on its own older session until the new one reaches it, so three sessions are kept.
// - Rekey is not on a timer here. The data plane owns the decision (WireGuard's keepKeyFresh rules): it
//   asks, with a `rekey` event, only for a session this side initiated and only when the session is used
//   past REKEY_AFTER_TIME; the node then calls initiate(). An idle session is never rekeyed and lapses at
//   REJECT_AFTER_TIME (a `retired` action); traffic after that asks for a new handshake.
// - An unanswered initiation is resent with a fresh ephemeral and a fresh index after REKEY_TIMEOUT plus
//   0..333 ms of jitter; the attempt is abandoned (action `failed`) after REKEY_ATTEMPT_TIME.
// - Incoming: framing, then mac1 (keyed by our public key) before any DH; a bad mac1 costs no DH.
// - Cookies (cookie.ts, WireGuard §5.4.7): initiations that arrive from an address (not through the
//   overlay) count towards load; past UNDER_LOAD_PER_SEC in one second the machine is under load for
//   UNDER_LOAD_MS, and then an initiation without a valid mac2 for its source address is answered
//   with a cookie reply (action `reply`, to the source) and costs no DH. An initiator that gets a
//   cookie reply for its pending initiation resends at once with mac2 (once per attempt), rather than
//   at the next retransmission as wireguard-go does, so a legitimate handshake under load costs one
//   round trip more, not five seconds.
// - Replay: an initiation whose timestamp is not greater than the greatest accepted from that static key
//   is rejected `replay`. The greatest timestamp survives removePeer/addPeer of the same key.
import { HandshakeState, PATTERN_IK, keyPairFromPrivate, x25519, type DhFn, type KeyPair, type Random } from './noise.js';
import {
  checkMac1,
  decodeHandshake,
  encodeInitiation,
  encodeResponse,
  mac1Key,
  MACS_LEN,
  MAC1_LEN,
  type Initiation,
  type Response,
} from './frames.js';
import { CookieChecker, CookieJar, decodeCookieReply } from './cookie.js';
import { ReplayTable, TIMESTAMP_LEN, compareBytes, incremented, tai64n } from './tai64n.js';
import { FRAME_TYPE_COOKIE } from '../wire/frame-types.js';
import { errors } from '../base/errors.js';
import type { Action, HandshakerOptions, PeerStatus, SessionInfo, SessionKeys } from './handshake-types.js';
export type { Action, HandshakeAction, HandshakerOptions, PeerCertificateCheck, PeerStatus, RejectCode, SessionInfo, SessionKeys } from './handshake-types.js';

import * as limits from '../native/binding.js'; // WireGuard's limits, defined once in Rust (crates/core/src/limits.rs), ms
export const REKEY_TIMEOUT = limits.LIMIT_REKEY_TIMEOUT_MS;
export const REKEY_TIMEOUT_JITTER_MAX = limits.LIMIT_REKEY_TIMEOUT_JITTER_MAX_MS;
export const REKEY_ATTEMPT_TIME = limits.LIMIT_REKEY_ATTEMPT_TIME_MS;
export const REKEY_AFTER_TIME = limits.LIMIT_REKEY_AFTER_TIME_MS;
export const REJECT_AFTER_TIME = limits.LIMIT_REJECT_AFTER_TIME_MS;
export const KEEPALIVE_TIMEOUT = limits.LIMIT_KEEPALIVE_TIMEOUT_MS;
export const RESPONDER_REKEY_AFTER_TIME = REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT; // wireguard-go keepKeyFreshReceiving
export const DEFAULT_PROLOGUE = new TextEncoder().encode('ringvpn handshake v1');
/** Initiations from addresses in one second past which the responder is under load. */
export const UNDER_LOAD_PER_SEC = 128;
/** Static keys whose greatest timestamp is remembered after their peer is gone. */
export const MAX_TIMESTAMPS = 8192;
/** How long the load state lasts after the last second over the mark (wireguard-go: 1 s). */
export const UNDER_LOAD_MS = 1000;

interface Pending {
  localIndex: number;
  hs: HandshakeState;
  retryAt: number;
  /** mac1 of the initiation sent (a cookie reply's AAD) */
  mac1: Uint8Array;
  /** this initiation was the resend a cookie reply asked for */
  cookieRetry: boolean;
}

interface Peer {
  id: number;
  staticPublic: Uint8Array;
  keyHex: string;
  macKeyTo: Uint8Array;
  jar: CookieJar;
  lastSentTs: Uint8Array | null;
  pending: Pending | null;
  attemptStart: number | null;
  current: SessionInfo | null;
  previous: SessionInfo | null;
  older: SessionInfo | null;
  lastHandshakeAt: number | null;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

export class Handshaker {
  private readonly s: KeyPair;
  private readonly random: Random;
  private readonly prologue: Uint8Array;
  private readonly dh: DhFn;
  private readonly admit: ((staticPublic: Uint8Array) => number | null) | undefined;
  private readonly certificate: (() => Uint8Array | null) | undefined;
  private readonly verifyPeer: HandshakerOptions['verifyPeer'];
  private readonly macKeyMine: Uint8Array;
  private readonly cookies: CookieChecker;
  private readonly underLoadPerSec: number;
  private loadWindowAt = -Infinity;
  private loadCount = 0;
  private underLoadUntil = -Infinity;
  private readonly peers = new Map<number, Peer>();
  private readonly byKey = new Map<string, number>();
  private readonly timestamps: ReplayTable;
  /** Live local indices: pending initiations and installed sessions. */
  private readonly indices = new Map<number, { peerId: number; pending: boolean }>();
  private readonly realm: number;
  private readonly indexTaken: (index: number) => boolean;

  constructor(o: HandshakerOptions) {
    if (o.staticPrivate.length !== 32 || o.staticPublic.length !== 32) throw errors.E_ARGUMENT('handshake: keys must be 32 bytes');
    const derived = keyPairFromPrivate(o.staticPrivate);
    if (hex(derived.publicKey) !== hex(o.staticPublic)) throw errors.E_ARGUMENT('handshake: staticPublic does not match staticPrivate');
    this.s = derived;
    this.random = o.random;
    this.prologue = new Uint8Array(o.prologue ?? DEFAULT_PROLOGUE);
    this.dh = o.dh ?? x25519;
    this.admit = o.admit;
    this.certificate = o.certificate;
    this.verifyPeer = o.verifyPeer;
    this.macKeyMine = mac1Key(this.s.publicKey);
    this.cookies = new CookieChecker(this.s.publicKey, this.random, 0);
    this.underLoadPerSec = o.underLoadPerSec ?? UNDER_LOAD_PER_SEC;
    this.realm = o.realm ?? 0;
    this.indexTaken = o.indexTaken ?? (() => false);
    this.timestamps = new ReplayTable(o.maxTimestamps ?? MAX_TIMESTAMPS, (k) => this.byKey.has(k));
  }

  /** Whether a local index is ours (a pending initiation or a session): a response or cookie reply for it is ours. */
  ownsIndex(index: number): boolean { return this.indices.has(index); }

  get publicKey(): Uint8Array {
    return new Uint8Array(this.s.publicKey);
  }

  addPeer(peerId: number, staticPublic: Uint8Array): void {
    if (staticPublic.length !== 32) throw errors.E_ARGUMENT('handshake: peer static key must be 32 bytes');
    const keyHex = hex(staticPublic);
    if (this.peers.has(peerId)) throw errors.E_ARGUMENT(`handshake: peer ${peerId} already present (removePeer first)`);
    if (this.byKey.has(keyHex)) throw errors.E_ARGUMENT('handshake: static key already belongs to another peer');
    if (keyHex === hex(this.s.publicKey)) throw errors.E_ARGUMENT('handshake: a peer cannot use our own static key');
    this.peers.set(peerId, {
      id: peerId,
      staticPublic: new Uint8Array(staticPublic),
      keyHex,
      macKeyTo: mac1Key(staticPublic),
      jar: new CookieJar(staticPublic),
      lastSentTs: null,
      pending: null,
      attemptStart: null,
      current: null,
      previous: null,
      older: null,
      lastHandshakeAt: null,
    });
    this.byKey.set(keyHex, peerId);
  }

  /** Forgets the peer; returns `retired` actions for its sessions so the caller can remove them. */
  removePeer(peerId: number): Action[] {
    const peer = this.peers.get(peerId);
    if (!peer) return [];
    const out: Action[] = [];
    this.dropPending(peer);
    for (const s of [peer.current, peer.previous, peer.older]) {
      if (s) out.push(this.retire(peer, s, 'peer_removed'));
    }
    this.peers.delete(peerId);
    this.byKey.delete(peer.keyHex);
    return out;
  }

  /** Starts (or restarts with a fresh ephemeral) a handshake with the peer. */
  initiate(peerId: number, now: number): Action[] {
    const peer = this.peers.get(peerId);
    if (!peer) return [{ kind: 'rejected', code: 'unknown_peer', peerId }];
    if (peer.attemptStart === null) peer.attemptStart = now;
    return this.sendInitiation(peer, now);
  }

  /**
   * A handshake message. `source`: the "ip:port" it came from, for the cookie mechanism; absent for
   * messages carried by the overlay (an authenticated member forwarded them) and in tests of the rest.
   */
  receive(bytes: Uint8Array, now: number, source?: string): Action[] {
    if (bytes[0] === FRAME_TYPE_COOKIE) return this.onCookieReply(bytes, now);
    const d = decodeHandshake(bytes);
    if (!d.ok) return [{ kind: 'rejected', code: d.code }];
    if (d.value.kind === 'initiation' && d.value.realm !== this.realm) return [{ kind: 'rejected', code: 'unknown_realm' }];
    if (!checkMac1(this.macKeyMine, bytes)) return [{ kind: 'rejected', code: 'bad_mac1' }];
    if (d.value.kind === 'initiation' && source !== undefined && this.loaded(now) && !this.cookies.checkMac2(bytes, source, now)) {
      return [{ kind: 'rejected', code: 'mac2_required' }, { kind: 'reply', bytes: this.cookies.reply(d.value.sender, d.value.mac1, source, now) }];
    }
    return d.value.kind === 'initiation' ? this.onInitiation(d.value, now) : this.onResponse(d.value, now);
  }

  /** Under load at `now` (for status and tests); does not count anything. */
  underLoad(now: number): boolean {
    return now < this.underLoadUntil;
  }

  /** Count an initiation from an address; true while under load. */
  private loaded(now: number): boolean {
    if (now - this.loadWindowAt >= 1000 || now < this.loadWindowAt) { this.loadWindowAt = now; this.loadCount = 0; }
    if (++this.loadCount > this.underLoadPerSec) this.underLoadUntil = now + UNDER_LOAD_MS;
    return now < this.underLoadUntil;
  }

  /** Retransmissions, give-ups and expiries due at `now` (never a rekey: see the rules above). */
  tick(now: number): Action[] {
    const out: Action[] = [];
    for (const peer of this.peers.values()) {
      if (peer.pending && now >= peer.pending.retryAt) {
        if (now - (peer.attemptStart ?? now) >= REKEY_ATTEMPT_TIME) {
          this.dropPending(peer);
          peer.attemptStart = null;
          out.push({ kind: 'failed', peerId: peer.id, code: 'timeout' });
        } else {
          out.push(...this.sendInitiation(peer, now));
        }
      }
      for (const s of [peer.older, peer.previous, peer.current]) {
        if (s && now - s.establishedAt >= REJECT_AFTER_TIME) out.push(this.retire(peer, s, 'expired'));
      }
    }
    return out;
  }

  /** The earliest time at which tick() has something to do, or null. */
  nextTimer(): number | null {
    let next: number | null = null;
    const at = (t: number) => (next = next === null ? t : Math.min(next, t));
    for (const peer of this.peers.values()) {
      if (peer.pending) at(peer.pending.retryAt);
      for (const s of [peer.older, peer.previous, peer.current]) if (s) at(s.establishedAt + REJECT_AFTER_TIME);
    }
    return next;
  }

  status(): PeerStatus[] {
    return [...this.peers.values()].map(statusOf);
  }

  /** One peer's status: a map lookup (the link table asks on every heartbeat and route). */
  peerStatus(peerId: number): PeerStatus | null {
    const p = this.peers.get(peerId);
    return p ? statusOf(p) : null;
  }

  // ------------------------------------------------------------ internals

  private withCert(head: Uint8Array): Uint8Array {
    const cert = this.certificate?.();
    if (!cert?.length) return head;
    const out = new Uint8Array(head.length + cert.length);
    out.set(head); out.set(cert, head.length);
    return out;
  }

  private sendInitiation(peer: Peer, now: number): Action[] {
    this.dropPending(peer);
    const hs = new HandshakeState({ pattern: PATTERN_IK, initiator: true, prologue: this.prologue, s: this.s, rs: peer.staticPublic, random: this.random, dh: this.dh });
    let ts = tai64n(now);
    if (peer.lastSentTs && compareBytes(ts, peer.lastSentTs) <= 0) ts = incremented(peer.lastSentTs);
    const msg = hs.writeMessage(this.withCert(ts));
    if (!msg.ok) return [{ kind: 'rejected', code: msg.code === 'bad_dh' ? 'bad_dh' : 'internal', peerId: peer.id }];
    peer.lastSentTs = ts;
    const localIndex = this.allocIndex(peer.id, true);
    const bytes = encodeInitiation({ sender: localIndex, noise: msg.value, realm: this.realm }, peer.macKeyTo, (c) => peer.jar.mac2(c, now));
    const mac1 = bytes.slice(bytes.length - MACS_LEN, bytes.length - MACS_LEN + MAC1_LEN);
    peer.pending = { localIndex, hs, retryAt: now + REKEY_TIMEOUT + this.jitter(), mac1, cookieRetry: false };
    return [{ kind: 'send', peerId: peer.id, bytes }];
  }

  private onCookieReply(bytes: Uint8Array, now: number): Action[] {
    const r = decodeCookieReply(bytes);
    if (!r.ok) return [{ kind: 'rejected', code: r.code }];
    const entry = this.indices.get(r.receiver);
    const peer = entry?.pending ? this.peers.get(entry.peerId) : undefined;
    const pending = peer?.pending;
    if (!peer || !pending || pending.localIndex !== r.receiver) return [{ kind: 'rejected', code: 'unknown_index' }];
    if (!peer.jar.accept(r.nonce, r.sealed, pending.mac1, now)) return [{ kind: 'rejected', code: 'bad_cookie_reply', peerId: peer.id }];
    const out: Action[] = [{ kind: 'cookie', peerId: peer.id }];
    if (pending.cookieRetry) return out;
    out.push(...this.sendInitiation(peer, now));
    if (peer.pending) peer.pending.cookieRetry = true;
    return out;
  }

  private onInitiation(m: Initiation, now: number): Action[] {
    const hs = new HandshakeState({ pattern: PATTERN_IK, initiator: false, prologue: this.prologue, s: this.s, random: this.random, dh: this.dh });
    const r = hs.readMessage(m.noise);
    if (!r.ok) return [{ kind: 'rejected', code: r.code === 'wrong_turn' || r.code === 'nonce_exhausted' ? 'internal' : r.code }];
    const rs = hs.remoteStatic();
    if (r.value.length < TIMESTAMP_LEN) return [{ kind: 'rejected', code: 'bad_payload' }];
    if (rs && this.verifyPeer) {
      const known = this.byKey.get(hex(rs));
      const v = this.verifyPeer({ peerId: known ?? null, staticPublic: rs, certificate: r.value.length > TIMESTAMP_LEN ? r.value.slice(TIMESTAMP_LEN) : null, weInitiated: false });
      if (!v.ok) return [{ kind: 'rejected', code: `cert_${v.code}`, ...(known !== undefined ? { peerId: known } : {}) }];
    }
    let peerId = rs ? this.byKey.get(hex(rs)) : undefined;
    if (peerId === undefined && rs && this.admit && hex(rs) !== hex(this.s.publicKey)) {
      const id = this.admit(rs);
      if (id !== null && !this.peers.has(id)) { this.addPeer(id, rs); peerId = id; }
    }
    const peer = peerId === undefined ? undefined : this.peers.get(peerId);
    if (!peer) return [{ kind: 'rejected', code: 'unknown_peer' }];
    if (!this.verifyPeer && r.value.length !== TIMESTAMP_LEN) return [{ kind: 'rejected', code: 'bad_payload', peerId: peer.id }];
    const ts = r.value.slice(0, TIMESTAMP_LEN);
    if (this.timestamps.isReplay(peer.keyHex, ts)) return [{ kind: 'rejected', code: 'replay', peerId: peer.id }];
    const w = hs.writeMessage(this.withCert(new Uint8Array(0)));
    const split = w.ok ? hs.split() : null;
    if (!w.ok || !split) return [{ kind: 'rejected', code: w.ok ? 'internal' : w.code === 'bad_dh' ? 'bad_dh' : 'internal', peerId: peer.id }];
    this.timestamps.remember(peer.keyHex, ts);
    const localIndex = this.allocIndex(peer.id, false);
    const session: SessionKeys = { localIndex, remoteIndex: m.sender, sendKey: split.c2.key()!, recvKey: split.c1.key()!, initiator: false };
    const out = this.install(peer, session, now);
    out.push({ kind: 'send', peerId: peer.id, bytes: encodeResponse({ sender: localIndex, receiver: m.sender, noise: w.value }, peer.macKeyTo, (c) => peer.jar.mac2(c, now)) });
    return out;
  }

  private onResponse(m: Response, now: number): Action[] {
    const entry = this.indices.get(m.receiver);
    const peer = entry?.pending ? this.peers.get(entry.peerId) : undefined;
    const pending = peer?.pending;
    if (!peer || !pending || pending.localIndex !== m.receiver) return [{ kind: 'rejected', code: 'unknown_index' }];
    // Read on a copy: a forged response must not destroy the genuine pending handshake.
    const hs = pending.hs.clone();
    const r = hs.readMessage(m.noise);
    if (!r.ok) return [{ kind: 'rejected', code: r.code === 'wrong_turn' || r.code === 'nonce_exhausted' ? 'internal' : r.code, peerId: peer.id }];
    if (this.verifyPeer) {
      const v = this.verifyPeer({ peerId: peer.id, staticPublic: peer.staticPublic, certificate: r.value.length ? r.value : null, weInitiated: true });
      if (!v.ok) return [{ kind: 'rejected', code: `cert_${v.code}`, peerId: peer.id }];
    } else if (r.value.length !== 0) return [{ kind: 'rejected', code: 'bad_payload', peerId: peer.id }];
    const split = hs.split();
    if (!split) return [{ kind: 'rejected', code: 'internal', peerId: peer.id }];
    peer.pending = null;
    peer.attemptStart = null;
    this.indices.set(pending.localIndex, { peerId: peer.id, pending: false });
    const session: SessionKeys = { localIndex: pending.localIndex, remoteIndex: m.sender, sendKey: split.c1.key()!, recvKey: split.c2.key()!, initiator: true };
    return this.install(peer, session, now);
  }

  private install(peer: Peer, session: SessionKeys, now: number): Action[] {
    const expiredLocalIndices: number[] = [];
    if (peer.older) {
      this.indices.delete(peer.older.localIndex);
      expiredLocalIndices.push(peer.older.localIndex);
    }
    const out: Action[] = [{ kind: 'established', peerId: peer.id, session, expiredLocalIndices }];
    peer.older = peer.previous;
    peer.previous = peer.current;
    peer.current = { localIndex: session.localIndex, remoteIndex: session.remoteIndex, initiator: session.initiator, establishedAt: now };
    peer.lastHandshakeAt = now;
    return out;
  }

  private retire(peer: Peer, s: SessionInfo, reason: 'expired' | 'peer_removed'): Action {
    this.indices.delete(s.localIndex);
    if (peer.current === s) peer.current = null;
    if (peer.previous === s) peer.previous = null;
    if (peer.older === s) peer.older = null;
    return { kind: 'retired', peerId: peer.id, localIndex: s.localIndex, reason };
  }

  private dropPending(peer: Peer): void {
    if (peer.pending) this.indices.delete(peer.pending.localIndex);
    peer.pending = null;
  }

  private allocIndex(peerId: number, pending: boolean): number {
    let idx = 0;
    for (let i = 0; i < 64; i++) {
      const b = this.random(4);
      idx = ((b[0] ?? 0) | ((b[1] ?? 0) << 8) | ((b[2] ?? 0) << 16) | ((b[3] ?? 0) << 24)) >>> 0;
      if (!this.indices.has(idx) && !this.indexTaken(idx)) break;
    }
    while (this.indices.has(idx) || this.indexTaken(idx)) idx = (idx + 1) >>> 0; // a degenerate random source must not loop forever
    this.indices.set(idx, { peerId, pending });
    return idx;
  }

  private jitter(): number {
    const b = this.random(2);
    return (((b[0] ?? 0) | ((b[1] ?? 0) << 8)) % (REKEY_TIMEOUT_JITTER_MAX + 1)) >>> 0;
  }
}

function statusOf(p: Peer): PeerStatus {
  return {
    peerId: p.id,
    staticPublic: new Uint8Array(p.staticPublic),
    lastHandshakeAt: p.lastHandshakeAt,
    current: p.current ? { ...p.current } : null,
    previous: p.previous ? { ...p.previous } : null,
    older: p.older ? { ...p.older } : null,
    handshakeInProgress: p.pending !== null,
  };
}
