// Owns the handshake machine's public vocabulary (ts/handshake/handshake.ts): its options, the actions it
// returns, its reject codes and what it reports of a peer and its sessions. Types only: no behaviour.
import type { DhFn, Random } from './noise.js';
import type { DecodeErrorCode } from './frames.js';

export type RejectCode =
  | DecodeErrorCode
  | 'bad_mac1'
  | 'decrypt_failed'
  | 'short_message'
  | 'bad_dh'
  | 'unknown_peer'
  | 'unknown_index'
  /** an initiation for another realm (overlay) than this handshaker's */
  | 'unknown_realm'
  | 'bad_payload'
  | 'replay'
  | 'internal'
  /** under load, an initiation without a valid mac2: answered with a cookie reply, no DH */
  | 'mac2_required'
  | 'bad_cookie_reply'
  | `cert_${string}`;

/** What Rust's setSession needs (docs/interfaces.md). */
export interface SessionKeys {
  localIndex: number;
  remoteIndex: number;
  sendKey: Uint8Array;
  recvKey: Uint8Array;
  initiator: boolean;
}

export interface SessionInfo {
  localIndex: number;
  remoteIndex: number;
  initiator: boolean;
  establishedAt: number;
}

export type Action =
  | { kind: 'send'; peerId: number; bytes: Uint8Array }
  /** expiredLocalIndices: sessions of this peer pushed out of the three-session window by this one (remove them). */
  | { kind: 'established'; peerId: number; session: SessionKeys; expiredLocalIndices: number[] }
  | { kind: 'rejected'; code: RejectCode; peerId?: number }
  /** send `bytes` back to the source of the message just received (a cookie reply) */
  | { kind: 'reply'; bytes: Uint8Array }
  /** a cookie reply for our pending initiation was accepted (the initiation is resent with mac2) */
  | { kind: 'cookie'; peerId: number }
  | { kind: 'retired'; peerId: number; localIndex: number; reason: 'expired' | 'peer_removed' }
  | { kind: 'failed'; peerId: number; code: 'timeout' };

export type HandshakeAction = Action;

export interface PeerStatus {
  peerId: number;
  staticPublic: Uint8Array;
  lastHandshakeAt: number | null;
  current: SessionInfo | null;
  previous: SessionInfo | null;
  older: SessionInfo | null;
  handshakeInProgress: boolean;
}

export interface HandshakerOptions {
  staticPrivate: Uint8Array;
  staticPublic: Uint8Array;
  random: Random;
  /** Both sides must use the same prologue. */
  prologue?: Uint8Array;
  /** For tests: observe or replace X25519. */
  dh?: DhFn;
  /**
   * Open admission (overlay mode): an initiation from a static key we do not know asks this for a
   * peer id; return null to refuse (`unknown_peer`). The caller registers the id for its own tables;
   * the handshaker adds the peer itself.
   */
  admit?: (staticPublic: Uint8Array) => number | null;
  /**
   * Group PKI: our certificate (DER), sent after the timestamp in the initiation payload and as the
   * response payload. Read at every handshake, so a renewed certificate is used at once.
   */
  certificate?: () => Uint8Array | null;
  /**
   * Group PKI: decides on the peer's certificate before anything is installed (the responder: before
   * admission and before its timestamp counts; the initiator: before the session). A refusal is
   * reported as `cert_<code>`.
   */
  verifyPeer?: (c: PeerCertificateCheck) => { ok: true } | { ok: false; code: string };
  /** Initiations per second from addresses that put the responder under load (UNDER_LOAD_PER_SEC). */
  underLoadPerSec?: number;
  /** Keys whose greatest timestamp is kept after their peer is gone (MAX_TIMESTAMPS). */
  maxTimestamps?: number;
  /** The realm tag our initiations carry and received ones must carry (frames.ts; default 0, the public overlay). */
  realm?: number;
  /** Local indices another handshaker of the same data plane holds (one engine, several overlays): never allocated here. */
  indexTaken?: (index: number) => boolean;
}

export interface PeerCertificateCheck {
  /** known peer id (the initiator always knows it; a responder only for configured or admitted peers) */
  peerId: number | null;
  staticPublic: Uint8Array;
  certificate: Uint8Array | null;
  /** true when we initiated (the check of the node we meant to reach) */
  weInitiated: boolean;
}
