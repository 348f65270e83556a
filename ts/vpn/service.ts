// Owns the services answering on the device at the service address: hands the frames the data plane
// intercepted to the DHCP server or the DNS responder and writes their replies back. It must not
// allocate addresses (the node's LAN resolver does) nor see any packet other than DHCP and DNS.
import { DhcpServer, type DhcpRoute } from './dhcp.js';
import { DnsResponder } from './dns.js';
import { Upstream } from './upstream.js';
import { parseUdpFrame, buildReply, DHCP_SERVER_PORT, DNS_PORT, type DeviceMode } from './packet.js';
import type { Logger } from '../base/log.js';

export interface ServiceOptions {
  mode: DeviceMode;
  mtu: number;
  domain: string;
  /** more DNS domains answered here: a daemon's private groups */
  zones?: string[];
  dhcp: boolean;
  dns: boolean;
  /** the servers the DNS responder forwards other names to (default: the host's /etc/resolv.conf) */
  upstream?: string[];
  leaseSeconds: number;
}

/** What the services ask of the node's LAN: the service address and name lookups. */
export interface LanNames {
  readonly service: string;
  /** `zone`: the domain the name was asked under (the network's, or a group's) */
  lookupName(name: string, zone: string): Promise<string | null>;
  reverseName(ip: string): string | null;
}

export class DeviceServices {
  private readonly dhcp: DhcpServer | null;
  private readonly dns: DnsResponder | null;
  private readonly upstream: Upstream | null;
  private readonly t0 = performance.now();
  readonly drops: Record<string, number> = {};

  constructor(private readonly o: ServiceOptions, private readonly lan: LanNames, private readonly write: (frame: Uint8Array) => void, private readonly log: Logger) {
    this.dhcp = o.dhcp ? new DhcpServer({ serverIp: lan.service, mtu: o.mtu, domain: o.domain, leaseSeconds: o.leaseSeconds }) : null;
    this.upstream = o.dns ? new Upstream({ exclude: [lan.service], ...(o.upstream?.length ? { servers: o.upstream.map((address) => ({ address, port: 53 })) } : {}) }) : null;
    this.dns = o.dns ? new DnsResponder({
      domain: o.domain, ttlSeconds: 30, ...(o.zones?.length ? { zones: o.zones } : {}),
      lookup: (name, zone) => lan.lookupName(name, zone),
      reverse: async (ip) => lan.reverseName(ip),
      forward: (q) => this.upstream!.forward(q),
    }) : null;
  }

  private drop(k: string): void { this.drops[k] = (this.drops[k] ?? 0) + 1; }

  /** Our address is known: the DHCP server may now offer it (with routes to announced subnets). */
  setLease(address: string, prefix: number, routes: DhcpRoute[]): void {
    this.dhcp?.setLease({ address, prefix });
    this.dhcp?.setRoutes(routes);
  }

  setRoutes(routes: DhcpRoute[]): void { this.dhcp?.setRoutes(routes); }

  onFrame(frame: Uint8Array): void {
    const p = parseUdpFrame(frame, this.o.mode);
    if (!p.ok) { this.drop('packet_' + p.code); return; }
    if (p.value.dstPort === DHCP_SERVER_PORT) {
      if (!this.dhcp) { this.drop('dhcp_off'); return; }
      const r = this.dhcp.handle(frame, this.o.mode, Math.round(performance.now() - this.t0));
      if (r.reply) this.safeWrite(r.reply);
      if (r.event === 'ack') this.log.info({ binding: this.dhcp.binding() }, 'DHCP: the OS took its address');
      return;
    }
    if (p.value.dstPort === DNS_PORT) {
      if (!this.dns) { this.drop('dns_off'); return; }
      const req = p.value;
      void this.dns.handle(req.payload).then((reply) => {
        if (reply) this.safeWrite(buildReply(req, reply, this.o.mode));
      }, (e: Error) => { this.drop('dns_error'); this.log.debug({ err: e.message }, 'DNS answer failed'); });
      return;
    }
    this.drop('other_port');
  }

  private safeWrite(frame: Uint8Array): void {
    try {
      this.write(frame);
    } catch (e) {
      this.drop('write_failed');
      this.log.debug({ err: (e as Error).message }, 'device write failed');
    }
  }

  close(): void { this.upstream?.close(); }

  status(): Record<string, unknown> {
    return { dhcp: this.dhcp ? { ...this.dhcp.stats(), binding: this.dhcp.binding() } : null, dns: this.dns?.stats() ?? null, upstream: this.upstream?.stats() ?? null, drops: this.drops };
  }
}
