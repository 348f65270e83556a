// Owns the lab's certificates: how a node's certificate is made (a good one by default, or the bad
// ones the tests ask for) and where the node's config points for it. It must not start daemons or
// touch namespaces; ts/lab/ringlab.ts does.
import { existsSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { SignOptions } from '../pki/index.js';
import { idToHex, nodeIdOfKey } from '../base/nodeid.js';
import { pkiAddress, type LabNodeConfig, type LabState } from './labstate.js';

export interface LabPkiOptions {
  /** pki.crlPollSeconds in every config (default 60, the daemon's default) */
  crlPollSeconds?: number;
  /** the CA's name (default `ringvpn lab <name>`) */
  caName?: string;
  /** Per node: how its certificate differs from the default (a good one). */
  cert?: (i: number) => LabCertSpec | undefined;
}

/** How a node's certificate is made (RingLab.up's pki.cert, RingLab.enrol). Default: signed by the lab CA for the node's key and address. */
export interface LabCertSpec {
  /** an uncertified node: no certificate and no pki section */
  none?: boolean;
  /** sign with this CA directory instead (created by initCa when it holds none; a lab subdirectory `ca-<name>` is removed with the lab); the node trusts that CA */
  caDir?: string;
  /** signRequest options over the defaults (address: the node's, subnets: its network.routes): days, now, notBefore, address */
  sign?: Partial<SignOptions>;
  /** revoke the certificate right after issuing it (crl.pem lists it before the node starts) */
  revoke?: boolean;
  /** the certificate to install instead of a signed one (PEM), e.g. another node's or one forged with the CA key */
  certPem?: string | ((ctx: CertContext) => string | Promise<string>);
}

export interface CertContext {
  index: number; name: string; nodeId: string; noisePublicKey: Uint8Array; address: string; subnets: string[];
  /** the lab CA (or spec.caDir) */
  caDir: string;
}

/** A node's certificate as issued by the lab. */
export interface IssuedCert { file: string; pem: string; serial: string | null; caCert: string; revoked: boolean }

/**
 * Issues node i's certificate as `spec` says and points cfg.pki at it (removes cfg.pki for an uncertified
 * node); records the file in the state. Writes <dir>/node<i>.{crt,csr,identity.key}.
 */
export async function issueCert(state: LabState, i: number, publicKey: Uint8Array, cfg: LabNodeConfig, spec: LabCertSpec): Promise<IssuedCert | null> {
  const lp = state.pki!;
  const s = state.nodes[i]!;
  if (spec.none) { s.cert = null; delete cfg.pki; return null; }
  const pki = await import('../pki/index.js');
  const caDir = spec.caDir ?? lp.caDir;
  if (!existsSync(join(caDir, 'ca.crt'))) await pki.initCa(caDir, { name: `ringvpn lab ${state.name} ${basename(caDir)}` });
  const address = pkiAddress(i);
  const subnets = cfg.network.routes ?? [];
  const nodeId = idToHex(nodeIdOfKey(publicKey));
  let pem: string;
  if (spec.certPem !== undefined) {
    pem = typeof spec.certPem === 'string' ? spec.certPem : await spec.certPem({ index: i, name: s.name, nodeId, noisePublicKey: publicKey, address, subnets, caDir });
  } else {
    const { csrPem } = await pki.createRequest({ name: s.name, noisePublicKey: publicKey, identityKeyFile: join(state.dir, `${s.name}.identity.key`) });
    writeFileSync(join(state.dir, `${s.name}.csr`), csrPem, { mode: 0o644 });
    pem = (await pki.signRequest(caDir, csrPem, { address, subnets, ...spec.sign })).certPem;
  }
  if (spec.revoke) await pki.revoke(caDir, pem, 'lab');
  const file = join(state.dir, `${s.name}.crt`);
  writeFileSync(file, pem, { mode: 0o644 });
  s.cert = file;
  const caCert = join(caDir, 'ca.crt');
  cfg.pki = { ca: spec.caDir ? caCert : (cfg.pki?.ca ?? lp.caCert), cert: file, crl: cfg.pki?.crl ?? lp.crl, crlPollSeconds: cfg.pki?.crlPollSeconds ?? lp.crlPollSeconds };
  const der = pki.parseCertificate(new Uint8Array(Buffer.from(pem.replace(/-----[^-]+-----|\s+/g, ''), 'base64')));
  return { file, pem, serial: der.ok ? der.cert.serial : null, caCert, revoked: !!spec.revoke };
}
