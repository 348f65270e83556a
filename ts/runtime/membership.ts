// Owns this node's membership in a private group as the daemon runs it: loads the CA and our
// certificate from the config's files and polls the CRL (file or http(s) URL) on the node's heartbeat.
// The verdicts are CertificatePolicy's (ts/pki/group-policy.ts); it must not touch links or sessions:
// a revocation is reported through onRevoked and the node cuts the holder off.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Config } from '../config/schema.js';
import { errors } from '../base/errors.js';
import type { NodeId } from '../base/nodeid.js';
import type { Logger } from '../base/log.js';
import { TrustAnchor, parseCrl } from '../pki/index.js';
import { toDer } from '../pki/x509.js';
import { CertificatePolicy } from '../pki/group-policy.js';

export type { Verdict } from '../pki/group-policy.js';

/** the config's `pki` section, as parsed (ts/config/schema.ts) */
export type PkiConfig = NonNullable<Config['pki']>;

/** a failed renewal is tried again this much later */
const RENEW_RETRY_MS = 300_000;

export class Membership extends CertificatePolicy {
  private crlAt = 0;
  private crlBusy = false;
  crlLoadedAt: number | null = null;
  private renewAt = 0;
  private renewBusy = false;
  renewedAt: number | null = null;
  renewError: string | null = null;

  constructor(private readonly cfg: PkiConfig, selfId: NodeId, private readonly noisePublic: Uint8Array, log: Logger, private readonly onRevoked: (node: string, serial: string, how: string) => void) {
    const anchor = TrustAnchor.fromFile(cfg.ca);
    let text: Buffer;
    try { text = readFileSync(cfg.cert); } catch (e) { throw errors.E_PKI(`cannot read pki.cert ${cfg.cert}: ${(e as Error).message}`, { cause: e }); }
    const der = toDer(new Uint8Array(text), ['CERTIFICATE']);
    if (!der) throw errors.E_PKI(`pki.cert ${cfg.cert} is not a PEM or DER certificate`);
    super(anchor, der, selfId, noisePublic, Date.now(), log, `pki.cert ${cfg.cert}`);
  }

  /** Read the CRL at the next tick (a reload); false without one. */
  rereadCrl(): boolean {
    if (!this.cfg.crl) return false;
    this.crlAt = 0;
    return true;
  }

  /**
   * Read pki.cert again (a reload, or a renewal written to the file): a new certificate replaces ours if it
   * verifies and certifies the same address and subnets; an unreadable or refused one changes nothing.
   */
  rereadCert(): ReturnType<CertificatePolicy['replaceOwn']> {
    let text: Buffer;
    try { text = readFileSync(this.cfg.cert); } catch (e) { return { ok: false, code: 'E_PKI', message: `cannot read pki.cert ${this.cfg.cert}: ${(e as Error).message}; the old one stays` }; }
    const der = toDer(new Uint8Array(text), ['CERTIFICATE']);
    if (!der) return { ok: false, code: 'E_PKI', message: `pki.cert ${this.cfg.cert} is not a PEM or DER certificate; the old one stays` };
    return this.replaceOwn(der, Date.now(), `pki.cert ${this.cfg.cert}`);
  }

  /** Poll the CRL when due (file or http(s) URL). */
  tick(nowMs: number): void {
    this.renewIfDue();
    if (!this.cfg.crl || this.crlBusy || nowMs < this.crlAt) return;
    this.crlAt = nowMs + this.cfg.crlPollSeconds * 1000;
    this.crlBusy = true;
    void this.loadCrl().finally(() => { this.crlBusy = false; });
  }

  private async loadCrl(): Promise<void> {
    const src = this.cfg.crl!;
    let data: Uint8Array;
    try {
      const server = this.cfg.server;
      if (server && src.startsWith(server.url + '/')) {
        const { pinnedRequest } = await import('../group/pinned.js');
        const res = await pinnedRequest(server.url, server.pin, 'GET', src.slice(server.url.length));
        if (res.status !== 200) throw errors.E_PKI(`HTTP ${res.status}`);
        data = new Uint8Array(Buffer.from(res.text));
      } else if (/^https?:\/\//.test(src)) {
        const res = await fetch(src, { signal: AbortSignal.timeout(5_000) });
        if (!res.ok) throw errors.E_PKI(`HTTP ${res.status}`);
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
    for (const { node, serial } of this.applyCrl(r)) {
      this.log.warn({ serial, nodeId: node, how: 'crl' }, 'certificate revoked');
      this.onRevoked(node, serial, 'crl');
    }
  }

  /**
   * With a group server: renew our certificate when the configured share of its lifetime is left (a
   * request signed by our identity key, pinned HTTPS), write it to pki.cert and use it from then on.
   */
  private renewIfDue(): void {
    const server = this.cfg.server;
    const wall = Date.now();
    if (!server || this.renewBusy || wall < this.renewAt) return;
    const life = this.own.notAfter - this.own.notBefore;
    if (wall < this.own.notAfter - life * server.renewAt) return;
    this.renewBusy = true;
    void (async () => {
      const { createRequest } = await import('../pki/request.js');
      const { pinnedRequest } = await import('../group/pinned.js');
      const { csrPem } = await createRequest({ name: this.own.name, noisePublicKey: this.noisePublic, identityKeyFile: server.identityKey });
      const res = await pinnedRequest(server.url, server.pin, 'POST', '/api/v1/renew', { csr: csrPem });
      const body = res.json() as { ok: boolean; certificate?: string; code?: string; message?: string };
      if (res.status !== 200 || !body.certificate) throw errors.E_PKI(`the group server refused the renewal: ${body.code ?? res.status}: ${body.message ?? ''}`);
      writeFileSync(this.cfg.cert + '.new', body.certificate, { mode: 0o644 });
      renameSync(this.cfg.cert + '.new', this.cfg.cert);
      const r = this.rereadCert();
      if (!r.ok) throw errors.E_PKI(r.message);
      this.renewedAt = Date.now();
      this.renewError = null;
    })().catch((e: Error) => {
      this.count('renew_failed');
      this.renewError = e.message;
      this.renewAt = Date.now() + RENEW_RETRY_MS;
      this.log.warn({ err: e.message, retryInS: RENEW_RETRY_MS / 1000 }, 'certificate renewal failed');
    }).finally(() => { this.renewBusy = false; });
  }

  override status(): Record<string, unknown> {
    return {
      ...super.status(), crl: this.cfg.crl ?? null, crlLoadedAt: this.crlLoadedAt,
      ...(this.cfg.server ? { server: this.cfg.server.url, renewedAt: this.renewedAt, renewError: this.renewError } : {}),
    };
  }
}
