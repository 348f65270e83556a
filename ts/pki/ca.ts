// Owns the group CA's directory (ca.key, ca.crt, state.json, crl.pem, certs/, revocations/) and its
// operations: init, sign a node's request, revoke (CRL + signed record), refresh the CRL.
// It must not run on a node's handshake path; everything here is operator-driven and may be async.
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { caKeyId, TrustAnchor } from './anchor.js';
import { parseCertParts, type NodeCert } from './cert.js';
import { buildCrl } from './crl.js';
import { isGroupName, sanUris } from './identity.js';
import { isCidr, isIpv4 } from '../base/ip.js';
import { parseRequest } from './request.js';
import { signRevocation } from './revocation.js';
import { arrayBufferOf, cryptoKeysOf, ED25519, ed25519PrivateFromPem, looksLikePem, normalizeSerial, pkiError, rawEd25519Public, toDer, toPem, x509 } from './x509.js';

const DAY_MS = 86_400_000;
/** issued certificates start this long before "now", for clocks that run a little behind */
const BACKDATE_MS = 5 * 60_000;

export interface IssuedEntry {
  serial: string; nodeId: string; name: string; address: string; subnets: string[]; groups: string[];
  notBefore: string; notAfter: string; issuedAt: string;
}
export interface RevokedEntry { serial: string; nodeId: string; revokedAt: number; reason?: string }
export interface CaState { version: 1; nextSerial: number; crlNumber: number; issued: IssuedEntry[]; revoked: RevokedEntry[] }

export function caPaths(dir: string) {
  return {
    key: join(dir, 'ca.key'), cert: join(dir, 'ca.crt'), state: join(dir, 'state.json'), crl: join(dir, 'crl.pem'),
    certs: join(dir, 'certs'), revocations: join(dir, 'revocations'), lock: join(dir, '.lock'),
  };
}

/** A loaded CA: its key, its certificate (as anchor and as an @peculiar/x509 object) and state. */
export interface Ca {
  dir: string;
  paths: ReturnType<typeof caPaths>;
  key: KeyObject;
  anchor: TrustAnchor;
  cert: x509.X509Certificate;
  state: CaState;
}

export interface InitCaResult { certPem: string; fingerprint: string; files: string[] }

/** Creates a CA in `dir` (made if missing); refuses to overwrite an existing one. */
export async function initCa(dir: string, opts: { name: string; days?: number; now?: number; crlDays?: number }): Promise<InitCaResult> {
  const name = opts.name.trim();
  if (!/^[\x20-\x7e]{1,64}$/.test(name)) throw pkiError('CA name must be 1-64 printable ASCII characters');
  const days = checkDays(opts.days ?? 3650, 'days');
  const p = caPaths(dir);
  if (existsSync(p.key) || existsSync(p.cert)) throw pkiError(`${dir} already holds a CA (ca.key or ca.crt); refusing to overwrite it`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const now = opts.now ?? Date.now();
  const { privateKey } = generateKeyPairSync('ed25519');
  const keys = await cryptoKeysOf(privateKey);
  const serial = randomBytes(16);
  serial[0]! &= 0x7f;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial.toString('hex'),
    name: [{ CN: [name] }],
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + days * DAY_MS),
    signingAlgorithm: ED25519,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      new x509.SubjectKeyIdentifierExtension(caKeyId(rawEd25519Public(privateKey))),
    ],
  });
  const certPem = cert.toString('pem') + '\n';
  try {
    writeFileSync(p.key, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
  } catch (e) {
    throw pkiError(`cannot write ${p.key}: ${(e as Error).message}`, e);
  }
  writeAtomic(p.cert, certPem, 0o644);
  const state: CaState = { version: 1, nextSerial: 1, crlNumber: 0, issued: [], revoked: [] };
  const ca: Ca = { dir, paths: p, key: privateKey, anchor: new TrustAnchor(certPem, p.cert), cert, state };
  await writeCrl(ca, now, opts.crlDays ?? 7);
  saveState(ca);
  return { certPem, fingerprint: ca.anchor.fingerprint, files: [p.key, p.cert, p.state, p.crl] };
}

/** Loads the CA in `dir`, checking that ca.key belongs to ca.crt. */
export function loadCa(dir: string): Ca {
  const p = caPaths(dir);
  const read = (f: string): string => {
    try {
      return readFileSync(f, 'utf8');
    } catch (e) {
      throw pkiError(`${dir} is not a ringvpn CA directory: cannot read ${f} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); create one with \`ringvpn ca init\``, e);
    }
  };
  const key = ed25519PrivateFromPem(read(p.key), p.key);
  const certPem = read(p.cert);
  const anchor = new TrustAnchor(certPem, p.cert);
  if (!Buffer.from(rawEd25519Public(key)).equals(anchor.publicKeyRaw)) throw pkiError(`${p.key} is not the key of ${p.cert}`);
  let state: CaState;
  try {
    state = JSON.parse(read(p.state)) as CaState;
  } catch (e) {
    if ((e as { code?: string }).code === 'E_PKI') throw e;
    throw pkiError(`${p.state} is not valid JSON: ${(e as Error).message}`, e);
  }
  if (state?.version !== 1 || !Number.isSafeInteger(state.nextSerial) || !Array.isArray(state.issued) || !Array.isArray(state.revoked)) {
    throw pkiError(`${p.state} is not a ringvpn CA state file (version 1)`);
  }
  return { dir, paths: p, key, anchor, cert: new x509.X509Certificate(arrayBufferOf(anchor.der)), state };
}

export interface SignOptions {
  address: string;
  subnets?: string[];
  groups?: string[];
  days?: number;
  now?: number;
  /** start of the window (default: now less 5 minutes) */
  notBefore?: number;
}

export interface SignResult { certPem: string; cert: NodeCert; file: string }

/** Checks a node's request and issues its certificate; records it in state.json and certs/. */
export async function signRequest(dir: string, csr: string | Uint8Array, o: SignOptions): Promise<SignResult> {
  return withCa(dir, async (ca) => {
    const r = parseRequest(csr);
    if (!r.ok) throw pkiError(`refusing the request: ${r.code}: ${r.why}`);
    const req = r.req;
    const subnets = o.subnets ?? [], groups = o.groups ?? [];
    if (!isIpv4(o.address)) throw pkiError(`--address ${JSON.stringify(o.address)} is not an IPv4 address`);
    for (const s of subnets) if (!isCidr(s)) throw pkiError(`subnet ${JSON.stringify(s)} is not a prefix like 10.1.0.0/16`);
    for (const g of groups) if (!isGroupName(g)) throw pkiError(`group ${JSON.stringify(g)}: expected 1-64 letters, digits, . _ -`);
    if (new Set(subnets).size !== subnets.length || new Set(groups).size !== groups.length) throw pkiError('a subnet or group is repeated');
    const days = checkDays(o.days ?? 365, 'days');
    const now = o.now ?? Date.now();
    const revoked = new Set(ca.state.revoked.map((x) => x.serial));
    const clash = ca.state.issued.find((e) => e.address === o.address && e.nodeId !== req.nodeId && !revoked.has(e.serial) && Date.parse(e.notAfter) > now);
    if (clash) throw pkiError(`address ${o.address} is held by live certificate ${clash.serial} of node "${clash.name}" (${clash.nodeId.slice(0, 12)}…); revoke it first or choose another address`);
    const notBefore = o.notBefore ?? now - BACKDATE_MS;
    const notAfter = Math.min(now + days * DAY_MS, ca.anchor.notAfter);
    if (notAfter <= notBefore) throw pkiError('the CA certificate expires before this certificate would start');
    let serialHexText = ca.state.nextSerial.toString(16);
    if (serialHexText.length % 2) serialHexText = '0' + serialHexText;
    const serial = normalizeSerial(serialHexText)!;
    const uris = sanUris({ nodeId: req.nodeId, noiseKey: req.noiseKey, subnets, groups });
    const signed = await x509.X509CertificateGenerator.create({
      serialNumber: serialHexText,
      subject: [{ CN: [req.name] }],
      issuer: ca.cert.subjectName,
      notBefore: new Date(notBefore),
      notAfter: new Date(notAfter),
      publicKey: new x509.Pkcs10CertificateRequest(arrayBufferOf(req.der)).publicKey,
      signingKey: (await cryptoKeysOf(ca.key)).privateKey,
      signingAlgorithm: ED25519,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.SubjectAlternativeNameExtension([{ type: 'ip', value: o.address }, ...uris.map((value) => ({ type: 'url' as const, value }))]),
        new x509.AuthorityKeyIdentifierExtension(ca.anchor.keyId),
      ],
    });
    const der = new Uint8Array(signed.rawData);
    const check = ca.anchor.verify(der, { now: Math.max(now, notBefore), noiseKey: req.noiseKey, nodeId: req.nodeId });
    if (!check.ok) throw pkiError(`internal: the issued certificate does not verify (${check.code}: ${check.why})`);
    const certPem = signed.toString('pem') + '\n';
    mkdirSync(ca.paths.certs, { recursive: true, mode: 0o700 });
    const file = join(ca.paths.certs, `${serial}.crt`);
    writeAtomic(file, certPem, 0o644);
    ca.state.issued.push({
      serial, nodeId: req.nodeId, name: req.name, address: o.address, subnets, groups,
      notBefore: new Date(notBefore).toISOString(), notAfter: new Date(notAfter).toISOString(), issuedAt: new Date(now).toISOString(),
    });
    ca.state.nextSerial++;
    saveState(ca);
    return { certPem, cert: check.cert, file };
  });
}

export interface RevokeResult {
  serial: string; nodeId: string; revokedAt: number;
  /** the CA-signed revocation record (see revocation.ts) */
  record: Uint8Array;
  recordFile: string;
  crlFile: string;
  alreadyRevoked: boolean;
}

/** Revokes a certificate by serial (hex) or by its PEM/DER; rewrites crl.pem and returns the signed record. */
export async function revoke(dir: string, target: string | Uint8Array, reason?: string,
  opts: { now?: number; crlDays?: number } = {}): Promise<RevokeResult> {
  return withCa(dir, async (ca) => {
    const now = opts.now ?? Date.now();
    let serial: string, nodeId: string;
    const isCertData = typeof target !== 'string' || looksLikePem(target);
    if (isCertData) {
      const der = toDer(target, ['CERTIFICATE']);
      const p = der ? parseCertParts(der) : null;
      if (!p?.ok) throw pkiError(`not a ringvpn node certificate${p && !p.ok ? `: ${p.why}` : ''}`);
      const { cert, tbs, signature, issuerDer } = p.parts;
      if (!ca.anchor.issued(issuerDer, cert.issuerKeyId) || !ca.anchor.verifySignature(tbs, signature)) {
        throw pkiError(`certificate ${cert.serial} ("${cert.name}") was not issued by this CA (${ca.anchor.subject})`);
      }
      serial = cert.serial; nodeId = cert.nodeId;
    } else {
      const s = normalizeSerial(target);
      if (s === null) throw pkiError(`serial ${JSON.stringify(target)} is not hexadecimal (as printed by \`ringvpn cert show\`)`);
      const e = ca.state.issued.find((x) => x.serial === s);
      if (!e) throw pkiError(`serial ${s} was not issued by the CA in ${dir} (see state.json); give --cert to revoke by file`);
      serial = s; nodeId = e.nodeId;
    }
    let entry = ca.state.revoked.find((x) => x.serial === serial);
    const alreadyRevoked = entry !== undefined;
    if (!entry) {
      entry = { serial, nodeId, revokedAt: now, ...(reason ? { reason } : {}) };
      ca.state.revoked.push(entry);
    }
    const crlFile = await writeCrl(ca, now, opts.crlDays ?? 7);
    saveState(ca);
    const record = signRevocation(ca.key, { serial, nodeId, revokedAt: entry.revokedAt });
    mkdirSync(ca.paths.revocations, { recursive: true, mode: 0o700 });
    const recordFile = join(ca.paths.revocations, `${serial}.bin`);
    writeAtomic(recordFile, record, 0o644);
    return { serial, nodeId, revokedAt: entry.revokedAt, record, recordFile, crlFile, alreadyRevoked };
  });
}

/** Re-signs crl.pem with a new thisUpdate/nextUpdate (run before nextUpdate passes). */
export async function refreshCrl(dir: string, opts: { now?: number; crlDays?: number } = {}): Promise<string> {
  return withCa(dir, async (ca) => {
    const f = await writeCrl(ca, opts.now ?? Date.now(), opts.crlDays ?? 7);
    saveState(ca);
    return f;
  });
}

async function writeCrl(ca: Ca, now: number, crlDays: number): Promise<string> {
  const days = checkDays(crlDays, 'CRL days');
  ca.state.crlNumber++;
  const der = await buildCrl(ca.cert, ca.anchor.keyId, (await cryptoKeysOf(ca.key)).privateKey,
    ca.state.revoked.map((r) => ({ serial: r.serial, revokedAt: r.revokedAt, ...(r.reason ? { reason: r.reason } : {}) })),
    { thisUpdate: new Date(now), nextUpdate: new Date(now + days * DAY_MS), crlNumber: ca.state.crlNumber });
  writeAtomic(ca.paths.crl, toPem(der, 'X509 CRL'), 0o644);
  return ca.paths.crl;
}

/** Runs `fn` on the loaded CA holding dir/.lock, so two operators cannot hand out one serial twice. */
async function withCa<T>(dir: string, fn: (ca: Ca) => Promise<T>): Promise<T> {
  const ca = loadCa(dir);
  try {
    writeFileSync(ca.paths.lock, String(process.pid), { flag: 'wx', mode: 0o600 });
  } catch {
    throw pkiError(`${ca.paths.lock} exists: another CA operation is running (remove the file if it is stale)`);
  }
  try {
    return await fn(loadCa(dir));
  } finally {
    try { unlinkSync(ca.paths.lock); } catch { /* already gone */ }
  }
}

function saveState(ca: Ca): void {
  writeAtomic(ca.paths.state, JSON.stringify(ca.state, null, 2) + '\n', 0o600);
}

function writeAtomic(file: string, data: string | Uint8Array, mode: number): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode });
  renameSync(tmp, file);
}

function checkDays(days: number, what: string): number {
  if (!Number.isFinite(days) || days <= 0 || days > 36_500) throw pkiError(`${what} must be a number of days in (0, 36500], got ${days}`);
  return days;
}
