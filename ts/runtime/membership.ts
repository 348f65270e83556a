// Owns this node's membership in a private group: the CA (trust anchor), our own certificate, the
// verdict on every peer certificate presented in a handshake, and revocation from a CRL (file or URL,
// polled), CA-signed records (DHT, broadcast, control socket). It must not touch links or sessions
// itself: it tells the daemon which node was revoked, and the daemon cuts it off.
import { readFileSync } from 'node:fs';
import { RingvpnError } from '../config/errors.js';
import { idToHex, type NodeId } from '../core/nodeid.js';
import { TrustAnchor, RevokedSet, parseCrl, verifyRevocation, type NodeCert } from '../pki/index.js';
import { toDer } from '../pki/x509.js';
import type { Logger } from './log.js';

export interface PkiConfig {
  ca: string;
  cert: string;
  crl?: string | undefined;
  crlPollSeconds: number;
}

export type Verdict = { ok: true; cert: NodeCert } | { ok: false; code: string };

export class Membership {
  readonly anchor: TrustAnchor;
  readonly own: NodeCert;
  readonly ownDer: Uint8Array;
  readonly revoked = new RevokedSet();
  /** the certificate each node last proved in a handshake (hex node id -> cert) */
  readonly peers = new Map<string, NodeCert>();
  readonly counters: Record<string, number> = {};
  private crlAt = 0;
  private crlBusy = false;
  crlLoadedAt: number | null = null;

  constructor(private readonly cfg: PkiConfig, selfId: NodeId, noiseKey: Uint8Array, private readonly log: Logger, private readonly onRevoked: (node: string, serial: string, how: string) => void) {
    this.anchor = TrustAnchor.fromFile(cfg.ca);
    let text: Buffer;
    try { text = readFileSync(cfg.cert); } catch (e) { throw new RingvpnError('E_PKI', `cannot read pki.cert ${cfg.cert}: ${(e as Error).message}`); }
    const der = toDer(new Uint8Array(text), ['CERTIFICATE']);
    if (!der) throw new RingvpnError('E_PKI', `pki.cert ${cfg.cert} is not a PEM or DER certificate`);
    const v = this.anchor.verify(der, { now: Date.now(), noiseKey, nodeId: selfId });
    if (!v.ok) throw new RingvpnError('E_PKI', `pki.cert ${cfg.cert} is not valid for this node: ${v.code} (${v.why})`);
    this.own = v.cert;
    this.ownDer = der;
  }

  private count(k: string): void { this.counters[k] = (this.counters[k] ?? 0) + 1; }

  /** The handshake's question: may this key, with this certificate, be this node? */
  verify(noiseKey: Uint8Array, certificate: Uint8Array | null, expected?: NodeId): Verdict {
    if (!certificate) { this.count('refused_no_certificate'); return { ok: false, code: 'missing' }; }
    const v = this.anchor.verify(certificate, {
      now: Date.now(), noiseKey, ...(expected !== undefined ? { nodeId: expected } : {}),
      isRevoked: (serial, node) => this.revoked.has(serial) || this.revoked.nodes.has(node),
    });
    if (!v.ok) { this.count('refused_' + v.code); return { ok: false, code: v.code }; }
    this.peers.set(v.cert.nodeId, v.cert);
    this.count('accepted');
    return v;
  }

  certOf(node: NodeId): NodeCert | undefined { return this.peers.get(idToHex(node)); }

  /** A CA-signed revocation record (from the DHT, a broadcast or the control socket). */
  applyRecord(bytes: Uint8Array, how: string): { ok: boolean; fresh: boolean; code?: string; serial?: string; nodeId?: string } {
    const r = verifyRevocation(bytes, this.anchor);
    if (!r.ok) { this.count('record_' + r.code); return { ok: false, fresh: false, code: r.code }; }
    const fresh = this.revoked.addRecord(r);
    if (fresh) {
      this.log.warn({ serial: r.serial, nodeId: r.nodeId, how }, 'certificate revoked');
      this.onRevoked(r.nodeId, r.serial, how);
    }
    return { ok: true, fresh, serial: r.serial, nodeId: r.nodeId };
  }

  /** Poll the CRL when due (file or http(s) URL). */
  tick(nowMs: number): void {
    if (!this.cfg.crl || this.crlBusy || nowMs < this.crlAt) return;
    this.crlAt = nowMs + this.cfg.crlPollSeconds * 1000;
    this.crlBusy = true;
    void this.loadCrl().finally(() => { this.crlBusy = false; });
  }

  private async loadCrl(): Promise<void> {
    const src = this.cfg.crl!;
    let data: Uint8Array;
    try {
      if (/^https?:\/\//.test(src)) {
        const res = await fetch(src, { signal: AbortSignal.timeout(5_000) });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        data = new Uint8Array(await res.arrayBuffer());
      } else data = readFileSync(src);
    } catch (e) {
      this.count('crl_unreachable');
      this.log.warn({ crl: src, err: (e as Error).message }, 'CRL not loaded');
      return;
    }
    const r = parseCrl(data, this.anchor);
    if (!r.ok) { this.count('crl_' + r.code); this.log.warn({ crl: src, code: r.code }, 'CRL refused'); return; }
    this.crlLoadedAt = Date.now();
    for (const serial of this.revoked.addCrl(r)) {
      for (const [node, cert] of this.peers) {
        if (cert.serial !== serial) continue;
        this.log.warn({ serial, nodeId: node, how: 'crl' }, 'certificate revoked');
        this.onRevoked(node, serial, 'crl');
      }
    }
  }

  status(): Record<string, unknown> {
    return {
      ca: this.anchor.name, serial: this.own.serial, address: this.own.address, subnets: this.own.subnets, groups: this.own.groups,
      notAfter: new Date(this.own.notAfter).toISOString(), revoked: this.revoked.size, crl: this.cfg.crl ?? null,
      crlLoadedAt: this.crlLoadedAt, counters: this.counters,
    };
  }
}
