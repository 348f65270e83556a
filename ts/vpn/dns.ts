// Owns the DNS answers for the VPN's domain: A records of member names, PTR for their addresses, and
// the choice to forward everything else. DNS encoding is dns-packet's; this module must not hand-write
// DNS bytes, open sockets (forwarding is injected) or throw on hostile queries (malformed -> null).
import dnsPacket from 'dns-packet';
import { DNS_PORT, buildReply, parseUdpFrame, type DeviceMode } from './packet.js';
import { isIpv4 } from '../base/ip.js';

export interface DnsResponderOptions {
  /** The VPN's domain, e.g. "vpn"; names are `<name>.<domain>`. */
  domain: string;
  ttlSeconds: number;
  /** More domains answered here (a daemon's private groups, each its own names); the longest match wins. */
  zones?: readonly string[];
  /** IPv4 address of `<name>.<zone>` (name lower-cased, without the zone: `domain` or one of `zones`), or null when unknown. */
  lookup(name: string, zone: string): Promise<string | null>;
  /** Host name of an IPv4 address (the domain is appended unless present), or null (then forwarded). */
  reverse(ip: string): Promise<string | null>;
  /** Send a raw query upstream; the raw answer, or null when none (-> SERVFAIL). */
  forward(query: Uint8Array): Promise<Uint8Array | null>;
}

export interface DnsStats {
  queries: number;
  answered: number;
  nxdomain: number;
  nodata: number;
  ptr: number;
  forwarded: number;
  servfail: number;
  malformed: number;
  lookupErrors: number;
}

type Question = dnsPacket.Question;
const RCODE_NOERROR = 0, RCODE_SERVFAIL = 2, RCODE_NXDOMAIN = 3;
const RD = dnsPacket.RECURSION_DESIRED, RA = dnsPacket.RECURSION_AVAILABLE, AA = dnsPacket.AUTHORITATIVE_ANSWER;
const CD = dnsPacket.CHECKING_DISABLED;

/** "4.3.2.1.in-addr.arpa" -> "1.2.3.4"; null for anything else (partial zones included). */
export function ptrToIpv4(name: string): string | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.in-addr\.arpa$/i.exec(name);
  if (!m) return null;
  const ip = `${m[4]}.${m[3]}.${m[2]}.${m[1]}`;
  return isIpv4(ip) ? ip : null;
}

export class DnsResponder {
  private domain: string;
  private readonly zones: string[];
  private readonly st: DnsStats = { queries: 0, answered: 0, nxdomain: 0, nodata: 0, ptr: 0, forwarded: 0, servfail: 0, malformed: 0, lookupErrors: 0 };

  constructor(private readonly o: DnsResponderOptions) {
    this.domain = normalize(o.domain);
    this.zones = (o.zones ?? []).map(normalize);
  }

  setDomain(domain: string): void { this.domain = normalize(domain); }
  stats(): DnsStats { return { ...this.st }; }

  /** One raw DNS query -> the raw response, or null for a malformed query (counted). Never rejects. */
  async handle(query: Uint8Array): Promise<Uint8Array | null> {
    this.st.queries++;
    try {
      return await this.answer(query);
    } catch {
      this.st.malformed++; // defensive: encoding a decoded question is not known to fail
      return null;
    }
  }

  private async answer(query: Uint8Array): Promise<Uint8Array | null> {
    const parsed = decodeQuery(query);
    if (!parsed) { this.st.malformed++; return null; }
    const { packet, question: q } = parsed;
    const name = normalize(q.name);
    const forward = async (): Promise<Uint8Array> => {
      let r: Uint8Array | null = null;
      try { r = await this.o.forward(query); } catch { r = null; }
      if (r) { this.st.forwarded++; return r; }
      return this.respond(packet, q, RCODE_SERVFAIL, []);
    };
    if (packet.opcode !== 'QUERY' || (q.class !== 'IN' && q.class !== 'ANY')) return forward();
    try {
      const zone = [this.domain, ...this.zones].filter((z) => z !== '' && (name === z || name.endsWith(`.${z}`))).sort((a, b) => b.length - a.length)[0];
      if (zone !== undefined && name === zone) { this.st.nxdomain++; return this.respond(packet, q, RCODE_NXDOMAIN, [], true); }
      if (zone !== undefined) {
        const rel = name.slice(0, -(zone.length + 1));
        const ip = await this.o.lookup(rel, zone);
        if (ip === null || !isIpv4(ip)) { this.st.nxdomain++; return this.respond(packet, q, RCODE_NXDOMAIN, [], true); }
        if (q.type !== 'A' && (q.type as string) !== 'ANY') { this.st.nodata++; return this.respond(packet, q, RCODE_NOERROR, [], true); }
        this.st.answered++;
        return this.respond(packet, q, RCODE_NOERROR, [{ type: 'A', name: q.name, ttl: this.o.ttlSeconds, data: ip }], true);
      }
      const rev = q.type === 'PTR' ? ptrToIpv4(name) : null;
      if (rev !== null) {
        const host = await this.o.reverse(rev);
        if (host !== null && host !== '') {
          const h = normalize(host);
          const fqdn = this.domain === '' || h === this.domain || h.endsWith(`.${this.domain}`) || this.zones.some((z) => h.endsWith(`.${z}`)) ? h : `${h}.${this.domain}`;
          this.st.ptr++;
          return this.respond(packet, q, RCODE_NOERROR, [{ type: 'PTR', name: q.name, ttl: this.o.ttlSeconds, data: fqdn }], true);
        }
      }
    } catch {
      this.st.lookupErrors++;
      return this.respond(packet, q, RCODE_SERVFAIL, []);
    }
    return forward();
  }

  /**
   * One frame from the device (UDP to the service address, port 53): the reply frame (addresses and
   * ports swapped), or null when the frame or the query is malformed.
   */
  async handleFrame(frame: Uint8Array, mode: DeviceMode): Promise<Uint8Array | null> {
    const p = parseUdpFrame(frame, mode);
    if (!p.ok || p.value.dstPort !== DNS_PORT) { this.st.malformed++; return null; }
    const answer = await this.handle(p.value.payload);
    return answer ? buildReply(p.value, answer, mode) : null;
  }

  private respond(q: dnsPacket.DecodedPacket, question: Question, rcode: number, answers: dnsPacket.Answer[], authoritative = false): Uint8Array {
    if (rcode === RCODE_SERVFAIL) this.st.servfail++;
    const flags = (q.flags ?? 0) & (RD | CD);
    return dnsPacket.encode({
      type: 'response', id: q.id ?? 0, flags: flags | RA | (authoritative ? AA : 0) | rcode,
      questions: [question], answers,
    });
  }
}

/** Lower case, without a trailing dot. */
function normalize(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

type Query = { packet: dnsPacket.DecodedPacket & { opcode?: string }; question: Question };

/**
 * Decode a query with dns-packet; null when it throws, is a response, has not exactly one question, or
 * the question's name does not re-encode to the same bytes (labels with dots or non-UTF-8 bytes, which
 * dns-packet's string names cannot represent).
 */
function decodeQuery(query: Uint8Array): Query | null {
  const buf = Buffer.from(query.buffer, query.byteOffset, query.byteLength);
  let packet: Query['packet'];
  try { packet = dnsPacket.decode(buf); } catch { return null; }
  if (packet.type !== 'query' || packet.questions?.length !== 1) return null;
  const question = packet.questions[0]!;
  let reencoded: Buffer;
  try { reencoded = dnsPacket.encode({ id: 0, questions: [{ name: question.name, type: 'A' }] }); } catch { return null; }
  const nameBytes = reencoded.subarray(12, reencoded.length - 4);
  if (!buf.subarray(12, 12 + nameBytes.length).equals(nameBytes)) return null;
  return { packet, question };
}
