// Owns the group's X.509 CRL: building it for the CA (async, @peculiar/x509) and reading it back
// with a synchronous CA-signature check, plus the in-memory set of revoked serials a node keeps.
// It must not fetch CRLs or decide when to poll; parseCrl never throws on hostile bytes.
import { AsnConvert } from '@peculiar/asn1-schema';
import { AuthorityKeyIdentifier, CertificateList, CRLNumber, id_ce_authorityKeyIdentifier, id_ce_cRLNumber } from '@peculiar/asn1-x509';
import type { TrustAnchor } from './anchor.js';
import { isEd25519 } from './cert.js';
import type { RevocationResult } from './revocation.js';
import { ED25519, parseAsn, serialHex, toDer, x509 } from './x509.js';

export interface CrlEntry {
  serial: string;
  /** ms since the epoch */
  revokedAt: number;
  reason?: string;
}

export type CrlCode = 'malformed' | 'unknown_ca' | 'bad_signature';
export type CrlResult =
  | { ok: true; serials: Set<string>; thisUpdate: number; nextUpdate: number | null; crlNumber: number | null }
  | { ok: false; code: CrlCode; why: string };

export const MAX_CRL_BYTES = 1 << 20;

/** Builds a DER CRL signed by the CA. `caCert` supplies the issuer name, `caKeyId` the AKI. */
export async function buildCrl(caCert: x509.X509Certificate, caKeyId: string, signingKey: CryptoKey, entries: readonly CrlEntry[],
  opts: { thisUpdate: Date; nextUpdate: Date; crlNumber: number }): Promise<Uint8Array> {
  const crl = await x509.X509CrlGenerator.create({
    issuer: caCert.subjectName,
    thisUpdate: opts.thisUpdate,
    nextUpdate: opts.nextUpdate,
    signingAlgorithm: ED25519,
    signingKey,
    entries: entries.map((e) => ({
      serialNumber: e.serial,
      revocationDate: new Date(e.revokedAt),
      ...(crlReasonOf(e.reason) !== undefined ? { reason: crlReasonOf(e.reason)! } : {}),
    })),
    extensions: [
      new x509.AuthorityKeyIdentifierExtension(caKeyId),
      new x509.Extension(id_ce_cRLNumber, false, AsnConvert.serialize(new CRLNumber(opts.crlNumber))),
    ],
  });
  return new Uint8Array(crl.rawData);
}

/** An X.509 reason code when the free text names one (e.g. "keyCompromise"), else undefined. */
export function crlReasonOf(text: string | undefined): x509.X509CrlReason | undefined {
  if (!text) return undefined;
  const key = Object.keys(x509.X509CrlReason).find((k) => k.toLowerCase() === text.replace(/[\s_-]/g, '').toLowerCase());
  return key === undefined || /^\d+$/.test(key) ? undefined : x509.X509CrlReason[key as keyof typeof x509.X509CrlReason];
}

/** Reads a CRL (PEM "X509 CRL" or DER) and checks that this CA signed it. Never throws. */
export function parseCrl(data: Uint8Array | string, anchor: TrustAnchor): CrlResult {
  const bad = (code: CrlCode, why: string): CrlResult => ({ ok: false, code, why });
  const der = toDer(data, ['X509 CRL', 'CRL']);
  if (!der || der.length > MAX_CRL_BYTES) return bad('malformed', 'not a PEM "X509 CRL" or DER CRL');
  const c = parseAsn(der, CertificateList);
  if (!c?.tbsCertListRaw) return bad('malformed', 'not a DER X.509 CRL');
  try {
    const t = c.tbsCertList;
    if (!isEd25519(c.signatureAlgorithm) || !isEd25519(t.signature)) return bad('malformed', 'not signed with Ed25519');
    let akid: string | null = null, crlNumber: number | null = null;
    for (const e of t.crlExtensions ?? []) {
      if (e.extnID === id_ce_authorityKeyIdentifier) {
        const k = AsnConvert.parse(e.extnValue.buffer, AuthorityKeyIdentifier).keyIdentifier;
        akid = k ? Buffer.from(k.buffer).toString('hex') : null;
      } else if (e.extnID === id_ce_cRLNumber) {
        crlNumber = AsnConvert.parse(e.extnValue.buffer, CRLNumber).value;
      } else if (e.critical) {
        return bad('malformed', `unknown critical CRL extension ${e.extnID}`);
      }
    }
    if (!anchor.issued(new Uint8Array(AsnConvert.serialize(t.issuer)), akid)) return bad('unknown_ca', 'the CRL was not issued by this CA');
    if (!anchor.verifySignature(new Uint8Array(c.tbsCertListRaw), new Uint8Array(c.signature))) return bad('bad_signature', 'the CA signature on the CRL does not verify');
    const serials = new Set<string>();
    for (const r of t.revokedCertificates ?? []) serials.add(serialHex(new Uint8Array(r.userCertificate)));
    const thisUpdate = t.thisUpdate.getTime().getTime();
    const nextUpdate = t.nextUpdate ? t.nextUpdate.getTime().getTime() : null;
    if (!Number.isFinite(thisUpdate) || (nextUpdate !== null && !Number.isFinite(nextUpdate))) return bad('malformed', 'bad CRL time');
    return { ok: true, serials, thisUpdate, nextUpdate, crlNumber };
  } catch (e) {
    return bad('malformed', `undecodable CRL field: ${(e as Error)?.message ?? 'error'}`.slice(0, 120));
  }
}

/**
 * The revoked serials a node knows, from CRLs and revocation records. `isRevoked` is shaped for
 * TrustAnchor.verify's option. A serial once revoked stays revoked (CRLs only add).
 */
export class RevokedSet {
  private readonly serials = new Set<string>();
  /** node id -> revoked serials, from records (for cutting links by node id) */
  readonly nodes = new Map<string, Set<string>>();

  get size(): number {
    return this.serials.size;
  }

  add(serial: string, nodeId?: string): boolean {
    const fresh = !this.serials.has(serial);
    this.serials.add(serial);
    if (nodeId !== undefined) {
      let s = this.nodes.get(nodeId);
      if (!s) this.nodes.set(nodeId, (s = new Set()));
      s.add(serial);
    }
    return fresh;
  }

  /** Adds the serials of a verified CRL; returns the ones that were new. */
  addCrl(r: CrlResult): string[] {
    if (!r.ok) return [];
    return [...r.serials].filter((s) => this.add(s));
  }

  /** Adds a verified revocation record; true if it was new. */
  addRecord(r: RevocationResult): boolean {
    return r.ok ? this.add(r.serial, r.nodeId) : false;
  }

  has(serial: string): boolean {
    return this.serials.has(serial);
  }

  readonly isRevoked = (serial: string, _nodeId: string): boolean => this.serials.has(serial);
}
