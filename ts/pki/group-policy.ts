// Owns a member's verdicts in a private group, without I/O: the trust anchor, our own certificate, the
// verdict on every certificate presented in a handshake, what each verified node may use, and the
// revocations known (CA-signed records, CRL entries). It must not read files, fetch or keep a clock:
// the caller gives the wall time; ts/runtime/membership.ts adds the files and CRL polling.
import { errors } from '../base/errors.js';
import { idToHex, type NodeId } from '../base/nodeid.js';
import type { Logger } from '../base/log.js';
import { TrustAnchor } from './anchor.js';
import type { NodeCert } from './cert.js';
import { RevokedSet, type CrlResult } from './crl.js';
import { verifyRevocation } from './revocation.js';

export type Verdict = { ok: true; cert: NodeCert } | { ok: false; code: string };

export class CertificatePolicy {
  private ownCert: NodeCert;
  private ownBytes: Uint8Array;
  readonly revoked = new RevokedSet();
  /** the certificate each node last proved in a handshake (hex node id -> cert) */
  readonly peers = new Map<string, NodeCert>();
  readonly counters: Record<string, number> = {};

  /** Our own certificate must verify for our key and id at `wallMs`, else E_PKI says why. */
  constructor(readonly anchor: TrustAnchor, ownDer: Uint8Array, private readonly selfId: NodeId, private readonly noiseKey: Uint8Array, wallMs: number, protected readonly log: Logger, source = 'our certificate') {
    const v = anchor.verify(ownDer, { now: wallMs, noiseKey, nodeId: selfId });
    if (!v.ok) throw errors.E_PKI(`${source} is not valid for this node: ${v.code} (${v.why})`);
    this.ownCert = v.cert;
    this.ownBytes = ownDer;
  }

  /** our certificate, as verified (the one every handshake from now on presents) */
  get own(): NodeCert { return this.ownCert; }
  get ownDer(): Uint8Array { return this.ownBytes; }

  /**
   * A new certificate of ours (renewed, or reloaded from its file): from now on every handshake presents
   * it; sessions made with the old one stay. It must verify for our key and id at `wallMs` and certify the
   * same address and subnets (the LAN and the routes announced were built on them: that takes a restart).
   */
  replaceOwn(der: Uint8Array, wallMs: number, source = 'the new certificate'): { ok: true; changed: boolean } | { ok: false; code: 'E_PKI' | 'E_RESTART_NEEDED'; message: string } {
    if (Buffer.from(der).equals(Buffer.from(this.ownBytes))) return { ok: true, changed: false };
    const v = this.anchor.verify(der, { now: wallMs, noiseKey: this.noiseKey, nodeId: this.selfId });
    if (!v.ok) return { ok: false, code: 'E_PKI', message: `${source} is not valid for this node: ${v.code} (${v.why}); the old one stays` };
    const old = this.ownCert;
    if (v.cert.address !== old.address || v.cert.subnets.join() !== old.subnets.join()) {
      return { ok: false, code: 'E_RESTART_NEEDED', message: `${source} certifies ${v.cert.address} [${v.cert.subnets.join(', ')}] instead of ${old.address} [${old.subnets.join(', ')}]: restart to use it` };
    }
    this.ownCert = v.cert;
    this.ownBytes = der;
    this.count('own_certificate_replaced');
    this.log.info({ serial: v.cert.serial, notAfter: new Date(v.cert.notAfter).toISOString(), groups: v.cert.groups }, 'our certificate replaced');
    return { ok: true, changed: true };
  }

  protected count(k: string): void { this.counters[k] = (this.counters[k] ?? 0) + 1; }

  /** The handshake's question: may this key, with this certificate, be this node (at wall time `wallMs`)? */
  verify(noiseKey: Uint8Array, certificate: Uint8Array | null, expected: NodeId | undefined, wallMs: number): Verdict {
    if (!certificate) { this.count('refused_no_certificate'); return { ok: false, code: 'missing' }; }
    const v = this.anchor.verify(certificate, {
      now: wallMs, noiseKey, ...(expected !== undefined ? { nodeId: expected } : {}),
      isRevoked: (serial, node) => this.revoked.has(serial) || this.revoked.nodes.has(node),
    });
    if (!v.ok) { this.count('refused_' + v.code); return { ok: false, code: v.code }; }
    this.peers.set(v.cert.nodeId, v.cert);
    this.count('accepted');
    return v;
  }

  certOf(node: NodeId): NodeCert | undefined { return this.peers.get(idToHex(node)); }

  /** Whether a revocation record is signed by our CA (nothing is applied or counted). */
  signsRecord(bytes: Uint8Array): boolean { return verifyRevocation(bytes, this.anchor).ok; }

  /** A CA-signed revocation record (DHT, broadcast, control socket); `fresh` when it revokes something new. */
  applyRecord(bytes: Uint8Array, how: string): { ok: boolean; fresh: boolean; code?: string; serial?: string; nodeId?: string } {
    const r = verifyRevocation(bytes, this.anchor);
    if (!r.ok) { this.count('record_' + r.code); return { ok: false, fresh: false, code: r.code }; }
    const fresh = this.revoked.addRecord(r);
    if (fresh) this.log.warn({ serial: r.serial, nodeId: r.nodeId, how }, 'certificate revoked');
    return { ok: true, fresh, serial: r.serial, nodeId: r.nodeId };
  }

  /** A verified CRL: the verified peers it newly revokes, as (hex node id, serial). */
  applyCrl(r: Extract<CrlResult, { ok: true }>): { node: string; serial: string }[] {
    const out: { node: string; serial: string }[] = [];
    for (const serial of this.revoked.addCrl(r)) {
      for (const [node, cert] of this.peers) if (cert.serial === serial) out.push({ node, serial });
    }
    return out;
  }

  status(): Record<string, unknown> {
    return {
      ca: this.anchor.name, serial: this.own.serial, address: this.own.address, subnets: this.own.subnets, groups: this.own.groups,
      notAfter: new Date(this.own.notAfter).toISOString(), revoked: this.revoked.size, counters: this.counters,
    };
  }
}
