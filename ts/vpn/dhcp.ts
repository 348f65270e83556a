// Owns the DHCP server on the device: it answers the local OS's DHCP client with the one address this
// node got from the overlay, plus MTU, DNS, domain and routes. Sans-IO: no clock, timers or sockets (the
// caller passes `now` and writes the reply); it must not allocate addresses or decide the lease itself.
import {
  BOOTREPLY, BOOTREQUEST, FLAG_BROADCAST, MSG, OPT, decodeDhcp, encodeDhcp, encodeClasslessRoutes, getIpOption,
  getStringOption, ipsOption, messageType, messageTypeName, stringOption, u16Option, u32Option, u8Option,
  type ClasslessRoute, type DhcpErrorCode, type DhcpMessage, type DhcpOption, type MessageTypeName,
} from './dhcp-wire.js';
import {
  DEFAULT_VIRTUAL_MAC, DHCP_SERVER_PORT, buildDhcpReply, formatMac, parseMac, parseUdpFrame,
  type DeviceMode, type PacketErrorCode,
} from './packet.js';
import { errors } from '../base/errors.js';
import { formatIpv4, maskOf, parseIpv4 } from '../base/ip.js';

export * from './dhcp-wire.js';

export interface DhcpRoute { cidr: string; gateway: string }
export interface DhcpLease { address: string; prefix: number }

export interface DhcpServerOptions {
  /** The service address: DHCP server id, and the DNS server unless dnsServers is given. */
  serverIp: string;
  /** TAP: the MAC replies come from; default the data plane's virtual MAC 02:52:56:00:00:01. */
  serverMac?: string;
  /** Option 26, always sent (68..65535). */
  mtu: number;
  /** Option 15, sent when set. */
  domain?: string;
  /** Option 6; empty or absent = [serverIp]. */
  dnsServers?: string[];
  /** Option 51; T1 = 1/2 and T2 = 7/8 of it (options 58, 59). */
  leaseSeconds: number;
  /** Option 121 (RFC 3442) when non-empty; a 0.0.0.0/0 route is also sent as option 3 (router). */
  routes?: DhcpRoute[];
}

export type DhcpEvent = 'offer' | 'ack' | 'nak' | 'inform' | 'release' | 'decline';
export interface DhcpHandleResult { reply: Uint8Array | null; event?: DhcpEvent }

export type DhcpDropCode =
  | PacketErrorCode | DhcpErrorCode
  | 'not_dhcp_port' | 'not_request' | 'no_message_type' | 'unexpected_type' | 'other_server' | 'bad_request' | 'no_lease';

export interface DhcpStats {
  received: Record<MessageTypeName, number>;
  sent: { offer: number; ack: number; nak: number };
  drops: Partial<Record<DhcpDropCode, number>>;
}

/** What the local client holds after our last ACK (cleared by RELEASE/DECLINE). */
export interface DhcpBinding { mac: string; address: string; hostName: string | null; expiresAt: number }

interface Config {
  serverIp: number; serverMac: Uint8Array; mtu: number; domain: string | null; dns: number[];
  leaseSeconds: number; routes: ClasslessRoute[];
}

function ip(s: string, what: string): number {
  const v = parseIpv4(s);
  if (v === null) throw errors.E_ARGUMENT(`dhcp: ${what} is not an IPv4 address: ${JSON.stringify(s)}`);
  return v;
}

/** Parse routes ("10.0.0.0/8" via "10.128.0.1"); host bits of the destination are dropped. Throws on bad config. */
export function parseRoutes(routes: readonly DhcpRoute[]): ClasslessRoute[] {
  return routes.map((r) => {
    const m = /^([^/]+)\/(\d{1,2})$/.exec(r.cidr);
    const prefix = m ? Number(m[2]) : -1;
    if (!m || prefix > 32) throw errors.E_ARGUMENT(`dhcp: bad route cidr ${JSON.stringify(r.cidr)}`);
    return { dest: (ip(m[1]!, 'route destination') & maskOf(prefix)) >>> 0, prefix, gateway: ip(r.gateway, 'route gateway') };
  });
}

function checkMtu(mtu: number): number {
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 0xffff) throw errors.E_ARGUMENT(`dhcp: bad mtu ${mtu}`);
  return mtu;
}

function checkLeaseSeconds(s: number): number {
  if (!Number.isInteger(s) || s < 1 || s > 0xfffffffe) throw errors.E_ARGUMENT(`dhcp: bad leaseSeconds ${s}`);
  return s;
}

const counters = (): Record<MessageTypeName, number> =>
  ({ discover: 0, offer: 0, request: 0, decline: 0, ack: 0, nak: 0, release: 0, inform: 0 });

export class DhcpServer {
  private cfg: Config;
  private lease: { address: number; prefix: number } | null = null;
  private bound: DhcpBinding | null = null;
  private readonly st: DhcpStats = { received: counters(), sent: { offer: 0, ack: 0, nak: 0 }, drops: {} };

  constructor(opts: DhcpServerOptions) {
    const serverIp = ip(opts.serverIp, 'serverIp');
    const serverMac = opts.serverMac === undefined ? DEFAULT_VIRTUAL_MAC : parseMac(opts.serverMac);
    if (!serverMac) throw errors.E_ARGUMENT(`dhcp: bad serverMac ${JSON.stringify(opts.serverMac)}`);
    this.cfg = {
      serverIp, serverMac, mtu: checkMtu(opts.mtu), domain: opts.domain || null,
      dns: (opts.dnsServers ?? []).map((s) => ip(s, 'dns server')), leaseSeconds: checkLeaseSeconds(opts.leaseSeconds),
      routes: parseRoutes(opts.routes ?? []),
    };
  }

  /** The address the OS may have (from the overlay), or null: then DISCOVER/REQUEST get no answer. */
  setLease(lease: DhcpLease | null): void {
    if (lease && (!Number.isInteger(lease.prefix) || lease.prefix < 1 || lease.prefix > 32)) throw errors.E_ARGUMENT(`dhcp: bad prefix ${lease.prefix}`);
    this.lease = lease ? { address: ip(lease.address, 'lease address'), prefix: lease.prefix } : null;
  }
  setRoutes(routes: readonly DhcpRoute[]): void { this.cfg.routes = parseRoutes(routes); }
  setDomain(domain: string | null): void { this.cfg.domain = domain || null; }
  setMtu(mtu: number): void { this.cfg.mtu = checkMtu(mtu); }
  setDnsServers(servers: readonly string[]): void { this.cfg.dns = servers.map((s) => ip(s, 'dns server')); }
  setLeaseSeconds(s: number): void { this.cfg.leaseSeconds = checkLeaseSeconds(s); }

  /** The local client's binding after our last ACK, or null. */
  binding(): DhcpBinding | null { return this.bound ? { ...this.bound } : null; }

  stats(): DhcpStats {
    return { received: { ...this.st.received }, sent: { ...this.st.sent }, drops: { ...this.st.drops } };
  }

  private drop(code: DhcpDropCode): DhcpHandleResult {
    this.st.drops[code] = (this.st.drops[code] ?? 0) + 1;
    return { reply: null };
  }

  /** One frame from the device (UDP to port 67); `now` in ms. Never throws on hostile bytes. */
  handle(frame: Uint8Array, mode: DeviceMode, now: number): DhcpHandleResult {
    const p = parseUdpFrame(frame, mode);
    if (!p.ok) return this.drop(p.code);
    if (p.value.dstPort !== DHCP_SERVER_PORT) return this.drop('not_dhcp_port');
    const d = decodeDhcp(p.value.payload);
    if (!d.ok) return this.drop(d.code);
    const req = d.value;
    if (req.op !== BOOTREQUEST) return this.drop('not_request');
    const type = messageType(req);
    if (type === null) return this.drop('no_message_type');
    this.st.received[messageTypeName(type)!]++;
    const serverId = getIpOption(req, OPT.SERVER_ID);
    if (serverId !== null && serverId !== this.cfg.serverIp) return this.drop('other_server');
    // TAP: answer the MAC that sent the request (it is chaddr for any sane client)
    const clientMac = p.value.srcMac ?? req.chaddr.slice(0, 6);
    const lease = this.lease;
    const send = (kind: 'offer' | 'ack' | 'nak', msg: DhcpMessage): DhcpHandleResult => {
      this.st.sent[kind]++;
      const broadcast = kind === 'nak' || (req.flags & FLAG_BROADCAST) !== 0 || req.ciaddr === 0;
      const reply = buildDhcpReply({ serverIp: this.cfg.serverIp, serverMac: this.cfg.serverMac, clientMac, broadcast, to: req.ciaddr }, encodeDhcp(msg), mode);
      return { reply, event: kind };
    };
    switch (type) {
      case MSG.DISCOVER:
        if (!lease) return this.drop('no_lease');
        return send('offer', this.reply(req, MSG.OFFER, lease.address, this.leaseOptions(lease.prefix)));
      case MSG.REQUEST: {
        const wanted = getIpOption(req, OPT.REQUESTED_ADDRESS) ?? (req.ciaddr !== 0 ? req.ciaddr : null);
        if (wanted === null) return this.drop('bad_request');
        if (!lease) return this.drop('no_lease');
        if (wanted !== lease.address) {
          return send('nak', this.reply(req, MSG.NAK, 0, [stringOption(OPT.MESSAGE, 'address not offered by this node')]));
        }
        this.bound = {
          mac: formatMac(clientMac), address: formatIpv4(lease.address),
          hostName: getStringOption(req, OPT.HOST_NAME), expiresAt: now + this.cfg.leaseSeconds * 1000,
        };
        return send('ack', this.reply(req, MSG.ACK, lease.address, this.leaseOptions(lease.prefix)));
      }
      case MSG.INFORM: {
        const r = send('ack', this.reply(req, MSG.ACK, 0, this.configOptions()));
        return { reply: r.reply, event: 'inform' };
      }
      case MSG.RELEASE:
      case MSG.DECLINE:
        this.bound = null;
        return { reply: null, event: type === MSG.RELEASE ? 'release' : 'decline' };
      default:
        return this.drop('unexpected_type');
    }
  }

  private reply(req: DhcpMessage, type: number, yiaddr: number, options: DhcpOption[]): DhcpMessage {
    return {
      op: BOOTREPLY, htype: req.htype, hlen: req.hlen, hops: 0, xid: req.xid, secs: 0, flags: req.flags,
      ciaddr: type === MSG.NAK ? 0 : req.ciaddr, yiaddr, siaddr: 0, giaddr: req.giaddr, chaddr: req.chaddr,
      sname: new Uint8Array(64), file: new Uint8Array(128),
      options: [u8Option(OPT.MESSAGE_TYPE, type), u32Option(OPT.SERVER_ID, this.cfg.serverIp), ...options],
    };
  }

  private leaseOptions(prefix: number): DhcpOption[] {
    const s = this.cfg.leaseSeconds;
    return [
      u32Option(OPT.LEASE_TIME, s),
      u32Option(OPT.RENEWAL_TIME, Math.floor(s / 2)),
      u32Option(OPT.REBINDING_TIME, Math.floor((s * 7) / 8)),
      u32Option(OPT.SUBNET_MASK, maskOf(prefix)),
      ...this.configOptions(),
    ];
  }

  /** Options sent in OFFER/ACK and in the ACK to INFORM (which carries no lease or mask). */
  private configOptions(): DhcpOption[] {
    const c = this.cfg;
    const out: DhcpOption[] = [];
    const def = c.routes.find((r) => r.prefix === 0);
    if (def) out.push(ipsOption(OPT.ROUTER, [def.gateway]));
    out.push(ipsOption(OPT.DNS_SERVERS, c.dns.length > 0 ? c.dns : [c.serverIp]));
    if (c.domain) out.push(stringOption(OPT.DOMAIN_NAME, c.domain));
    out.push(u16Option(OPT.INTERFACE_MTU, c.mtu));
    if (c.routes.length > 0) out.push({ code: OPT.CLASSLESS_ROUTES, data: encodeClasslessRoutes(c.routes) });
    return out;
  }
}
