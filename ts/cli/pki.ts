// Owns the `ringvpn ca ...` and `ringvpn cert ...` commands: arguments in, files written, fields printed.
// It must not hold PKI logic; it calls ts/pki and ts/config and only formats for people.
import { type Command } from 'commander';
import { readFileSync, writeFileSync } from 'node:fs';
import { loadConfig } from '../config/schema.js';
import { TrustAnchor, type VerifyResult } from '../pki/anchor.js';
import { initCa, refreshCrl, revoke, signRequest } from '../pki/ca.js';
import { parseCertificate, type NodeCert } from '../pki/cert.js';
import { parseCrl, RevokedSet } from '../pki/crl.js';
import { createRequest, parseRequest } from '../pki/request.js';
import { decodeRevocation, REVOCATION_MAX_BYTES, verifyRevocation } from '../pki/revocation.js';
import { looksLikePem, pkiError, toDer } from '../pki/x509.js';

const collect = (v: string, acc: string[]): string[] => [...acc, v];
const say = (s: string): void => { process.stdout.write(s + '\n'); };
const note = (s: string): void => { process.stderr.write(s + '\n'); };

function num(v: string, what: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw pkiError(`--${what}: expected a positive number, got ${JSON.stringify(v)}`);
  return n;
}

function readInput(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw pkiError(`cannot read ${what} ${file}: ${(e as Error).message}`, e);
  }
}

function writeOut(file: string, data: string | Uint8Array, mode = 0o644): void {
  try {
    writeFileSync(file, data, { mode });
  } catch (e) {
    throw pkiError(`cannot write ${file}: ${(e as Error).message}`, e);
  }
}

export function registerPki(program: Command): void {
  const ca = program.command('ca').description('the group certificate authority: init, sign requests, revoke');

  ca.command('init')
    .description('create a CA (Ed25519 key ca.key, self-signed ca.crt, state.json, empty crl.pem) in a directory')
    .requiredOption('--dir <dir>', 'CA directory (created; must not hold a CA)')
    .requiredOption('--name <name>', 'CA name (certificate CN)')
    .option('--days <n>', 'validity of the CA certificate in days', '3650')
    .action(async (o: { dir: string; name: string; days: string }) => {
      const r = await initCa(o.dir, { name: o.name, days: num(o.days, 'days') });
      for (const f of r.files) say(`wrote ${f}`);
      say(`CA "${o.name}" sha256 fingerprint ${r.fingerprint}`);
      say('give ca.crt to every member; keep ca.key secret');
    });

  ca.command('sign')
    .description('check a node\'s certificate request and issue its certificate')
    .requiredOption('--dir <dir>', 'CA directory')
    .argument('<csr>', 'certificate request file (from `ringvpn cert request`)')
    .requiredOption('--address <ip>', 'the node\'s virtual IPv4 address')
    .option('--subnet <cidr>', 'a subnet routed through the node (repeatable)', collect, [])
    .option('--group <name>', 'a group the node belongs to (repeatable)', collect, [])
    .option('--days <n>', 'validity in days', '365')
    .option('-o, --out <file>', 'write the certificate here (default: stdout)')
    .action(async (csr: string, o: { dir: string; address: string; subnet: string[]; group: string[]; days: string; out?: string }) => {
      const r = await signRequest(o.dir, readInput(csr, 'certificate request'), {
        address: o.address, subnets: o.subnet, groups: o.group, days: num(o.days, 'days'),
      });
      const c = r.cert;
      const msg = `issued serial ${c.serial} to "${c.name}" node ${c.nodeId} address ${c.address}, valid to ${iso(c.notAfter)}; CA copy ${r.file}`;
      if (o.out) { writeOut(o.out, r.certPem); say(`wrote ${o.out}`); say(msg); } else { process.stdout.write(r.certPem); note(msg); }
    });

  ca.command('revoke')
    .description('revoke a certificate: record it, rewrite crl.pem, write a signed revocation record')
    .requiredOption('--dir <dir>', 'CA directory')
    .option('--serial <hex>', 'serial number (hex, as `ringvpn cert show` prints it)')
    .option('--cert <file>', 'the certificate file')
    .option('--reason <text>', 'reason (an X.509 reason name like keyCompromise also goes into the CRL)')
    .option('--crl-days <n>', 'CRL nextUpdate, days from now', '7')
    .option('-o, --out <file>', 'also write the revocation record here')
    .option('--publish <socket>', "hand the record to a running member's control socket: it broadcasts it over the overlay and stores it in the DHT")
    .action(async (o: { dir: string; serial?: string; cert?: string; reason?: string; crlDays: string; out?: string; publish?: string }) => {
      if ((o.serial === undefined) === (o.cert === undefined)) throw pkiError('give exactly one of --serial or --cert');
      const target = o.serial ?? readInput(o.cert!, 'certificate');
      const r = await revoke(o.dir, target, o.reason, { crlDays: num(o.crlDays, 'crl-days') });
      say(`${r.alreadyRevoked ? 'already revoked' : 'revoked'}: serial ${r.serial} node ${r.nodeId} at ${iso(r.revokedAt)}`);
      say(`wrote ${r.crlFile}`);
      say(`wrote ${r.recordFile} (${r.record.length}-byte signed revocation record)`);
      if (o.out) { writeOut(o.out, r.record); say(`wrote ${o.out}`); }
      if (o.publish) {
        const { requestControl } = await import('../runtime/control.js');
        const p = await requestControl(o.publish, { cmd: 'revoke', record: Buffer.from(r.record).toString('base64') }, 30_000) as { broadcastTo: number; storedInDht: boolean };
        say(`published through ${o.publish}: broadcast to ${p.broadcastTo} neighbour(s), ${p.storedInDht ? 'stored in the DHT' : 'NOT stored in the DHT (will be retried by nothing; publish again)'}`);
      }
    });

  ca.command('crl')
    .description('re-sign crl.pem with a fresh nextUpdate')
    .requiredOption('--dir <dir>', 'CA directory')
    .option('--crl-days <n>', 'nextUpdate, days from now', '7')
    .action(async (o: { dir: string; crlDays: string }) => {
      say(`wrote ${await refreshCrl(o.dir, { crlDays: num(o.crlDays, 'crl-days') })}`);
    });

  const cert = program.command('cert').description('a node\'s certificate: request one, show one');

  cert.command('request')
    .description('make a certificate request for this node (its Noise key and node id, signed by its identity key)')
    .requiredOption('-c, --config <file>', 'the node\'s JSON config (privateKey or privateKeyFile, name)')
    .option('--identity-key <file>', 'Ed25519 identity key (PKCS#8 PEM; created if missing)', undefined)
    .option('--name <name>', 'node name, when the config has none')
    .option('-o, --out <file>', 'write the request here (default: stdout)')
    .action(async (o: { config: string; identityKey?: string; name?: string; out?: string }) => {
      const cfg = loadConfig(o.config);
      const name = o.name ?? cfg.name;
      if (!name) throw pkiError(`${o.config} has no "name"; add one or give --name`);
      const r = await createRequest({ name, noisePublicKey: cfg.publicKeyBytes, identityKeyFile: o.identityKey ?? `${o.config}.identity.key` });
      const msgs = [
        `identity key ${r.identityKeyFile}${r.identityKeyCreated ? ' (created, mode 0600)' : ''}`,
        `request for "${name}" node ${r.nodeId}: send it to the CA (ringvpn ca sign)`,
      ];
      if (o.out) { writeOut(o.out, r.csrPem); say(`wrote ${o.out}`); msgs.forEach(say); } else { process.stdout.write(r.csrPem); msgs.forEach(note); }
    });

  cert.command('show')
    .description('print a certificate (or request, CRL, revocation record); with --ca, whether it verifies')
    .argument('<file>', 'PEM or DER file')
    .option('--ca <file>', 'CA certificate to verify against')
    .option('--crl <file>', 'CRL to check revocation against (with --ca)')
    .option('--json', 'print JSON')
    .action((file: string, o: { ca?: string; crl?: string; json?: boolean }) => { show(file, o); });
}

function show(file: string, o: { ca?: string; crl?: string; json?: boolean }): void {
  const data = readInput(file, 'file');
  const anchor = o.ca ? TrustAnchor.fromFile(o.ca) : null;
  const out = (obj: Record<string, unknown>, lines: string[]): void => {
    if (o.json) say(JSON.stringify(obj, null, 2)); else lines.forEach(say);
  };
  const text = looksLikePem(data) ? data.toString('latin1') : '';
  if (text.includes('CERTIFICATE REQUEST')) {
    const r = parseRequest(data);
    if (!r.ok) throw pkiError(`${file}: not a valid ringvpn certificate request: ${r.code}: ${r.why}`);
    const q = r.req;
    out({ type: 'request', name: q.name, nodeId: q.nodeId, noiseKey: b64(q.noiseKey), identityKey: b64(q.identityKey), bytes: q.der.length, signature: 'ok' }, [
      `certificate request (${q.der.length} bytes DER), signature ok`, `  name       ${q.name}`, `  node id    ${q.nodeId}`,
      `  noise key  ${b64(q.noiseKey)}`, `  identity   ${b64(q.identityKey)} (Ed25519)`,
    ]);
    return;
  }
  if (/-----BEGIN (X509 )?CRL-----/.test(text)) {
    if (!anchor) throw pkiError('a CRL is shown only with --ca (its signature is checked)');
    const c = parseCrl(data, anchor);
    if (!c.ok) throw pkiError(`${file}: ${c.code}: ${c.why}`);
    out({ type: 'crl', issuer: anchor.subject, crlNumber: c.crlNumber, thisUpdate: iso(c.thisUpdate), nextUpdate: c.nextUpdate === null ? null : iso(c.nextUpdate), serials: [...c.serials] }, [
      `CRL #${c.crlNumber ?? '?'} of ${anchor.subject}, signature ok`, `  this update ${iso(c.thisUpdate)}`,
      `  next update ${c.nextUpdate === null ? '-' : iso(c.nextUpdate)}${c.nextUpdate !== null && c.nextUpdate < Date.now() ? ' (STALE)' : ''}`,
      `  revoked     ${c.serials.size ? [...c.serials].join(', ') : '-'}`,
    ]);
    return;
  }
  if (!text && data.length <= REVOCATION_MAX_BYTES && data[0] === 1) {
    const d = decodeRevocation(data);
    if (d.ok) {
      const v = anchor ? verifyRevocation(data, anchor) : null;
      const status = v === null ? 'signature not checked (give --ca)' : v.ok ? 'signature ok' : `signature FAILED: ${v.code}`;
      out({ type: 'revocation', serial: d.serial, nodeId: d.nodeId, revokedAt: iso(d.revokedAt), bytes: data.length, verified: v?.ok ?? null }, [
        `revocation record (${data.length} bytes), ${status}`, `  serial     ${d.serial}`, `  node id    ${d.nodeId}`, `  revoked at ${iso(d.revokedAt)}`,
      ]);
      if (v && !v.ok) process.exitCode = 1;
      return;
    }
  }
  const der = toDer(data, ['CERTIFICATE']);
  const p = der ? parseCertificate(der) : null;
  if (!p?.ok) {
    if (anchor && der && Buffer.from(der).equals(Buffer.from(anchor.der))) throw pkiError(`${file} is the CA certificate itself, not a node certificate`);
    throw pkiError(`${file} is not a ringvpn node certificate, request, CRL or revocation record${p && !p.ok ? ` (${p.why})` : ''}`);
  }
  const c = p.cert;
  let v: VerifyResult | null = null;
  if (anchor) {
    const revoked = new RevokedSet();
    if (o.crl) {
      const crl = parseCrl(readInput(o.crl, 'CRL'), anchor);
      if (!crl.ok) throw pkiError(`${o.crl}: ${crl.code}: ${crl.why}`);
      revoked.addCrl(crl);
    }
    v = anchor.verify(c.der, { now: Date.now(), isRevoked: revoked.isRevoked });
  }
  const now = Date.now();
  const window = now < c.notBefore ? 'NOT YET VALID' : now > c.notAfter ? 'EXPIRED' : 'valid now';
  const verifyLine = v === null ? null : v.ok ? `verifies against ${anchor!.subject} (${o.ca})${o.crl ? ', not revoked' : ''}` : `DOES NOT VERIFY against ${anchor!.subject}: ${v.code}: ${v.why}`;
  out({ type: 'certificate', ...certJson(c), window, verify: v === null ? null : v.ok ? { ok: true } : { ok: false, code: v.code, why: v.why } }, [
    `certificate serial ${c.serial} (${c.der.length} bytes DER)`,
    `  name       ${c.name}`, `  node id    ${c.nodeId}`, `  noise key  ${b64(c.noiseKey)}`, `  identity   ${b64(c.identityKey)} (Ed25519)`,
    `  address    ${c.address}`, `  subnets    ${c.subnets.join(', ') || '-'}`, `  groups     ${c.groups.join(', ') || '-'}`,
    `  valid      ${iso(c.notBefore)} to ${iso(c.notAfter)} (${window})`,
    `  issuer     ${c.issuer}${c.issuerKeyId ? ` (key id ${c.issuerKeyId})` : ''}`,
    ...(verifyLine ? [`  verify     ${verifyLine}`] : []),
  ]);
  if (v && !v.ok) process.exitCode = 1;
}

function certJson(c: NodeCert): Record<string, unknown> {
  return {
    serial: c.serial, name: c.name, nodeId: c.nodeId, noiseKey: b64(c.noiseKey), identityKey: b64(c.identityKey),
    address: c.address, subnets: c.subnets, groups: c.groups, notBefore: iso(c.notBefore), notAfter: iso(c.notAfter),
    issuer: c.issuer, issuerKeyId: c.issuerKeyId, bytes: c.der.length,
  };
}

const b64 = (u: Uint8Array): string => Buffer.from(u).toString('base64');
const iso = (ms: number): string => new Date(ms).toISOString();
