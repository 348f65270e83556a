// Owns a daemon's private groups at run time (config `groups`, issue 17): a Membership per group
// (certificates, CRL, renewal), the group overlays' options for Realms (ts/node/realms.ts), each group's
// address on the shared device, names under each group's domain, revocation records sent to the group whose
// CA signed them, and a status section per group. It must not decide links or routes (the group VpnNodes do).
import type { Config } from '../config/schema.js';
import type { Logger } from '../base/log.js';
import { errors } from '../base/errors.js';
import { cidrContains, parseCidr } from '../base/ip.js';
import { idFromHex, nodeIdOfKey } from '../base/nodeid.js';
import { realmOf } from '../pki/realm.js';
import type { Membership } from './membership.js';
import type { GroupRealmOptions, Realms } from '../node/realms.js';
import type { RealmEvent } from '../node/realms.js';
import { runOs, type Run } from './os-journal.js';

export class DaemonGroups {
  private realms: Realms | null = null;
  /** the group addresses on the device, by group (1-based index) */
  private readonly addresses = new Map<number, string>();

  /** Read every group's CA and certificate (an unreadable or refused one is an E_PKI error naming the group). */
  static async create(cfg: Config, log: Logger, onRevoked: (group: number, node: string, serial: string, how: string) => void): Promise<DaemonGroups | null> {
    if (!cfg.groups.length) return null;
    const { Membership } = await import('./membership.js');
    const self = nodeIdOfKey(cfg.publicKeyBytes);
    const members = cfg.groups.map((g, i) => {
      try {
        return new Membership(g.pki, self, cfg.publicKeyBytes, log, (node, serial, how) => onRevoked(i + 1, node, serial, how));
      } catch (e) {
        throw errors.E_PKI(`groups[${i}] (${g.network.id}): ${(e as Error).message}`, { cause: e });
      }
    });
    members.forEach((m, i) => {
      const net = cfg.groups[i]!.network;
      if (!m.own.address || !cidrContains(parseCidr(net.subnet)!, m.own.address)) throw errors.E_PKI(`groups[${i}] (${net.id}): the certificate's address ${m.own.address || '(none)'} is not in the group's subnet ${net.subnet}`);
    });
    return new DaemonGroups(cfg, members, log);
  }

  private constructor(private readonly cfg: Config, readonly members: Membership[], private readonly log: Logger, private readonly run: Run = runOs) {}

  /** The group overlays, for Realms. */
  options(name: string | null): GroupRealmOptions[] {
    return this.cfg.groups.map((g, i) => {
      const m = this.members[i]!;
      return {
        realm: realmOf(m.anchor.der), group: m,
        lan: { net: g.network.id, subnet: g.network.subnet, domain: g.network.domain, name, fixed: m.own.address, routes: [], leaseMs: 600_000, dhcp: false },
      };
    });
  }

  bind(realms: Realms): void { this.realms = realms; }

  /** The domains answered on the device besides the public network's. */
  zones(): string[] { return this.cfg.groups.map((g) => g.network.domain); }

  tick(nowMs: number): void { for (const m of this.members) m.tick(nowMs); }

  /** A group overlay's event: its address goes on the device (after the public one, which the engine sets as the primary). */
  onEvent(ev: RealmEvent, device: string): void {
    if (ev.type === 'address' && ev.realm > 0) {
      this.addresses.set(ev.realm, `${ev.address}/${ev.prefix}`);
      this.assign(device);
    } else if (ev.type === 'address' && ev.realm === 0) {
      // the public address replaced the device's primary: the groups' are added again (a no-op when present)
      this.assign(device);
    } else if (ev.type === 'error') this.log.error({ group: ev.realm, code: ev.code }, ev.message);
  }

  private assign(device: string): void {
    if (!this.realms?.public.lan?.address) return;
    for (const [k, cidr] of this.addresses) {
      void this.run('ip', ['addr', 'replace', cidr, 'dev', device]).then((r) => {
        if (r.code !== 0) this.log.warn({ group: this.cfg.groups[k - 1]?.network.id, address: cidr, err: r.stderr.trim() }, 'adding the group address to the device failed');
        else this.log.info({ group: this.cfg.groups[k - 1]?.network.id, address: cidr, device }, 'group address on the device');
      });
    }
  }

  /** Name under a group's domain -> its address in that group (null: not a group domain, or unknown). */
  lookup(name: string, zone: string, now: number, flush: () => void): Promise<string | null> | null {
    const k = this.cfg.groups.findIndex((g) => g.network.domain === zone);
    const node = k < 0 ? null : this.realms?.groups[k]?.node;
    if (!node) return null;
    return new Promise((resolve) => { node.lookupName(now, name, resolve); flush(); });
  }

  /** Address in a group's subnet -> `<name>.<group domain>` (only our own, as the public network's), else undefined. */
  reverse(ip: string): string | null | undefined {
    const k = this.cfg.groups.findIndex((g) => cidrContains(parseCidr(g.network.subnet)!, ip));
    if (k < 0) return undefined;
    const name = this.realms?.groups[k]?.node.lan?.reverseName(ip) ?? null;
    return name ? `${name}.${this.cfg.groups[k]!.network.domain}` : null;
  }

  /** A CRL of group k revoked a certificate: that group's overlay cuts the holder off (and no other). */
  revoked(k: number, node: string, serial: string, how: string, now: number): void {
    const id = idFromHex(node);
    const n = this.realms?.groups[k - 1]?.node;
    if (id !== null && n) n.revoke(now, id, serial, how);
  }

  /** Which group a revocation record is for: the one whose CA signed it (-1: none of them). */
  groupOfRecord(record: Uint8Array): number {
    return this.members.findIndex((m) => m.signsRecord(record));
  }

  status(): Record<string, unknown>[] {
    const st = (this.realms?.status().groups ?? []) as Record<string, unknown>[];
    return this.cfg.groups.map((g, i) => ({
      id: g.network.id, subnet: g.network.subnet, domain: g.network.domain, address: this.realms?.groups[i]?.node.lan?.address ?? null,
      onDevice: this.addresses.has(i + 1), ...st[i], pki: this.members[i]!.status(),
    }));
  }
}
