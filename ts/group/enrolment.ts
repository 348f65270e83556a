// Owns what the group server signs: a group's CA (one per group, in <data>/groups/<name>/ca), enrolment
// with a join token (a certificate request checked, an address allocated, the certificate issued, the
// member recorded, the token used: all or nothing), renewal by a member's identity key, and revocation
// (CRL rewritten, the CA-signed record returned for the overlay). It must not speak HTTP.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatIpv4, networkBase, parseCidr, isCidr, parseEndpoint } from '../base/ip.js';
import { initCa, parseRequest, revoke, signRequest } from '../pki/index.js';
import { isGroupName } from '../pki/identity.js';
import { GroupStore, type Group, type Member } from './store.js';

/** A refusal the client is told about (HTTP status, stable code, what to do). */
export interface Refusal { ok: false; status: number; code: string; message: string }
const refuse = (status: number, code: string, message: string): Refusal => ({ ok: false, status, code, message });

/** What a newly enrolled (or renewed) member needs to run: its certificate and its group's network. */
export interface Enrolled {
  ok: true;
  nodeId: string; address: string; serial: string; notAfter: string;
  certificate: string; ca: string;
  group: { name: string; subnet: string; bootstrap: string[] };
}

export interface NewGroup { name: string; description: string; subnet: string; bootstrap: string[]; autoApprove: boolean; certDays: number }

export class Enrolment {
  constructor(readonly store: GroupStore, readonly dataDir: string) {}

  caDir(group: string): string { return join(this.dataDir, 'groups', group, 'ca'); }
  caPem(group: string): string { return readFileSync(join(this.caDir(group), 'ca.crt'), 'utf8'); }
  crlPem(group: string): string { return readFileSync(join(this.caDir(group), 'crl.pem'), 'utf8'); }

  /** A new group and its CA; a refusal says which field is wrong. */
  async createGroup(g: NewGroup, by: string, now: number): Promise<{ ok: true } | Refusal> {
    if (!isGroupName(g.name)) return refuse(400, 'bad_name', 'a group name is 1-64 letters, digits, . _ -');
    const net = parseCidr(g.subnet);
    if (!isCidr(g.subnet) || !net || net.prefix > 28 || net.prefix < 8) return refuse(400, 'bad_subnet', 'the subnet is an IPv4 prefix between /8 and /28, like 10.129.0.0/16');
    const bad = g.bootstrap.find((b) => parseEndpoint(b) === null);
    if (bad !== undefined) return refuse(400, 'bad_bootstrap', `bootstrap ${JSON.stringify(bad)} is not host:port (a member's public address and UDP port)`);
    if (!(g.certDays >= 1 && g.certDays <= 3650)) return refuse(400, 'bad_days', 'certificates last 1 to 3650 days');
    if (await this.store.group(g.name)) return refuse(409, 'exists', `group ${g.name} exists already`);
    const dir = this.caDir(g.name);
    if (!existsSync(join(dir, 'ca.crt'))) {
      mkdirSync(join(this.dataDir, 'groups', g.name), { recursive: true, mode: 0o700 });
      await initCa(dir, { name: `ringvpn group ${g.name}` });
    }
    const ok = await this.store.createGroup({ name: g.name, description: g.description, subnet: g.subnet, bootstrap: g.bootstrap.join(' '), auto_approve: g.autoApprove ? 1 : 0, cert_days: g.certDays, created_by: by }, now);
    return ok ? { ok: true } : refuse(409, 'exists', `group ${g.name} exists already`);
  }

  /**
   * Enrol with a join token: the request must be well formed and signed, its node id the hash of its
   * Noise key, and the node neither enrolled nor revoked; nothing is signed otherwise and the token's
   * use is kept. A token names a group (and, when issued after an approval, the user).
   */
  async enrol(token: string, csr: string, now: number): Promise<Enrolled | Refusal> {
    const parsed = parseRequest(csr);
    if (!parsed.ok) return refuse(400, `csr_${parsed.code}`, `the certificate request is refused: ${parsed.why}`);
    const req = parsed.req;
    const r = await this.store.withToken(token, now, async (tok, st): Promise<Enrolled | Refusal> => {
      const group = (await st.group(tok.group_name))!;
      const old = await st.member(req.nodeId);
      if (old?.revoked_at != null) return refuse(403, 'revoked', 'this node was revoked from the group; enrol a new node (new keys)');
      if (old) return refuse(409, 'enrolled', 'this node is enrolled already: its daemon renews its certificate on its own');
      const address = await this.allocate(st, group);
      if (!address) return refuse(409, 'subnet_full', `the group's subnet ${group.subnet} has no free address`);
      const signed = await signRequest(this.caDir(group.name), req.der, { address, groups: [group.name], days: group.cert_days, now });
      const m: Member = {
        node_id: req.nodeId, group_name: group.name, user_id: tok.user_id, token_id: tok.id, name: req.name, address, serial: signed.cert.serial,
        identity_key: Buffer.from(req.identityKey).toString('base64'), noise_key: Buffer.from(req.noiseKey).toString('base64'),
        not_after: signed.cert.notAfter, enrolled_at: now, renewed_at: now, revoked_at: null,
      };
      await st.addMember(m);
      return this.enrolled(group, m, signed.certPem);
    }, (x) => x.ok);
    if ('refused' in r) {
      const why = { unknown: 'this join token is not known here (mistyped, or for another server)', expired: 'this join token has expired: ask the group administrator for a new one', used: 'this join token was used already: ask the group administrator for a new one', revoked: 'this join token was withdrawn by the group administrator' }[r.refused];
      return refuse(403, `token_${r.refused}`, why);
    }
    return r;
  }

  /** Renew: a request signed by the identity key the member enrolled with, for the same Noise key. */
  async renew(csr: string, now: number): Promise<Enrolled | Refusal> {
    const parsed = parseRequest(csr);
    if (!parsed.ok) return refuse(400, `csr_${parsed.code}`, `the certificate request is refused: ${parsed.why}`);
    const req = parsed.req;
    const m = await this.store.member(req.nodeId);
    if (!m) return refuse(404, 'not_member', 'this node is not enrolled here: join with a token first');
    if (m.revoked_at != null) return refuse(403, 'revoked', 'this node was revoked from the group');
    if (m.identity_key !== Buffer.from(req.identityKey).toString('base64')) return refuse(403, 'identity_mismatch', 'the request is not signed by the identity key this node enrolled with');
    const group = (await this.store.group(m.group_name))!;
    const signed = await signRequest(this.caDir(group.name), req.der, { address: m.address, groups: [group.name], days: group.cert_days, now });
    await this.store.renewed(m.node_id, signed.cert.serial, signed.cert.notAfter, now);
    return this.enrolled(group, { ...m, serial: signed.cert.serial, not_after: signed.cert.notAfter }, signed.certPem);
  }

  /**
   * Revoke a member: the CRL is rewritten; the CA-signed record is for the overlay (broadcast and DHT).
   * `withdrawn` counts what was taken from the person who enrolled it (store.revokeMember).
   */
  async revoke(nodeId: string, now: number): Promise<{ ok: true; record: Uint8Array; serial: string; group: string; withdrawn: { approvals: number; tokens: number } } | Refusal> {
    const m = await this.store.member(nodeId);
    if (!m) return refuse(404, 'not_member', 'no such member');
    const certFile = join(this.caDir(m.group_name), 'certs', `${m.serial}.crt`);
    const r = await revoke(this.caDir(m.group_name), readFileSync(certFile, 'utf8'), 'group server', { now });
    const w = await this.store.revokeMember(nodeId, now);
    return { ok: true, record: r.record, serial: r.serial, group: m.group_name, withdrawn: { approvals: w.approvals, tokens: w.tokens } };
  }

  /** The lowest free host address of the group's subnet (the first is the service address). */
  private async allocate(st: GroupStore, g: Group): Promise<string | null> {
    const net = parseCidr(g.subnet)!;
    const used = await st.addressesInUse(g.name);
    const base = networkBase(net), size = 2 ** (32 - net.prefix);
    for (let i = 2; i < size - 1; i++) {
      const a = formatIpv4((base + i) >>> 0);
      if (!used.has(a)) return a;
    }
    return null;
  }

  private enrolled(g: Group, m: Member, certPem: string): Enrolled {
    return {
      ok: true, nodeId: m.node_id, address: m.address, serial: m.serial, notAfter: new Date(m.not_after).toISOString(),
      certificate: certPem, ca: this.caPem(g.name),
      group: { name: g.name, subnet: g.subnet, bootstrap: g.bootstrap.split(' ').filter(Boolean) },
    };
  }
}
