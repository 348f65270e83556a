// Owns the human-readable rendering of `ringvpn status` for an overlay-mode node: ring neighbours,
// connections by kind, data peers, DHT entries, LAN services, counters and drops.
// It must not fetch anything; it formats the object the daemon returned.
import { defenceLine, memoryLine, type MemorySummary, type QuotaSummary } from './status.js';
import type { TunnelStatus } from '../node/tunnel-client.js';

interface DataplanePeer { rxBytes?: number; txBytes?: number; rxPackets?: number; txPackets?: number; txRelayedPackets?: number; rxRelayedPackets?: number; sessions?: number }
interface Conn { short: string; kinds: string[]; session: boolean; endpoint: string | null; path?: string; rttMs?: number | null; dataplane: DataplanePeer | null }
export interface NatSummary { type: string; endpoints: string[]; observers: number; predicted?: string[] }
export interface RelaySummary {
  policy: string; enabled: boolean; syncsSent: number; relaysUp: number; failovers: number; noOverlap: number; replacedByDirect: number; lost: number; punches: number;
  links: Array<{ peer: string; relay: string; reserve: number; sinceMs: number }>;
}
export interface RingStatus {
  mode: 'overlay'; nodeId: string; name: string | null; device: string; devMode: string; address: string | null; prefix: number;
  listen: string | null; endpoints: string[]; joined: boolean; sizeEstimate: number; uptimeMs: number;
  ring: Record<string, string | undefined>; connections: Conn[];
  dataPeers: Array<{ nodeId: string; allowed: string[]; session: boolean; dataplane: DataplanePeer | null }>;
  lan: { subnet: string; service: string; domain: string; routes: Array<{ cidr: string; router: string }>; routesAnnounced: string[] };
  services: { dhcp: { binding: unknown } | null };
  dht: { entries: number; leases: number; pending: number };
  pki?: { ca: string; serial: string; groups: string[]; notAfter: string; revoked: number; crl: string | null; counters: Record<string, number> } | null;
  links: Record<string, number>; counters: Record<string, unknown>; drops: Record<string, number>;
  nat?: NatSummary; relays?: RelaySummary | null;
  overlay?: { quotas?: QuotaSummary } | null; memory?: MemorySummary;
  gateway?: { uplink: string; allow: string[] } | null;
  gateways?: { announcing: boolean; lastPut: { at: number; ok: boolean } | null } | null;
  tunnel?: TunnelStatus | null;
  /** private groups beside the public overlay (config `groups`) */
  groups?: GroupSection[];
}

export interface GroupSection {
  id: string; subnet: string; domain: string; address: string | null; onDevice: boolean; tag?: string; joined?: boolean; sizeEstimate?: number;
  ring?: Record<string, string | undefined>; connections?: Conn[];
  discovery?: { registered: boolean; lastRead: { at: number; members: number; buckets: number } | null; linksAsked: number };
  pki?: { ca: string; serial: string; notAfter: string; revoked: number };
}

/** One group's lines: address, ring neighbours, its links by path, discovery and certificate. */
export function groupLines(g: GroupSection): string[] {
  const conns = g.connections ?? [];
  const by = (p: string): number => conns.filter((c) => (c.path ?? '').startsWith(p)).length;
  const r = g.ring ?? {};
  return [
    `group ${g.id} (realm ${g.tag ?? '?'}): address ${g.address ?? 'none yet'}${g.address && !g.onDevice ? ' (not on the device yet)' : ''}  subnet ${g.subnet}  domain ${g.domain}  ring size ~${g.sizeEstimate ?? 0}`,
    `  ring: left1 ${short(r.left1)}  right1 ${short(r.right1)}  links ${conns.length} (direct ${by('direct')}, carried by the public overlay ${by('carried')}, relayed ${by('relay')})`,
    `  discovery: ${g.discovery?.registered ? 'registered' : 'not registered yet'}  members seen ${g.discovery?.lastRead?.members ?? 0}  links asked ${g.discovery?.linksAsked ?? 0}` +
      (g.pki ? `  CA "${g.pki.ca}"  certificate ${g.pki.serial} until ${g.pki.notAfter}  revoked known ${g.pki.revoked}` : ''),
  ];
}

/** `full tunnel: …` for a full-tunnel client (the gateway in use, the warm one, the candidates), null otherwise. */
export function tunnelLines(t: TunnelStatus | null | undefined): string[] {
  if (!t) return [];
  const ms = (v: number | null): string => (v === null ? '? ms' : `${v} ms`);
  const u = t.inUse;
  const head = u
    ? `full tunnel: through ${u.nodeId.slice(0, 8)} (${u.address}, RTT ${ms(u.rttMs)}, for ${Math.round(u.sinceMs / 1000)} s)${t.warm ? `; ${t.warm.slice(0, 8)} warm` : '; no second gateway'}`
    : `full tunnel: NO GATEWAY (Internet traffic is dropped, not leaked; ${t.candidates.length ? 'none of the candidates answers or admits us' : t.lookups.ok ? 'none is listed in the DHT' : 'the DHT has not answered yet'})`;
  const out = [head];
  for (const c of t.candidates) out.push(`  ${c.short}  ${c.address}  RTT ${ms(c.rttMs)}  ${c.alive ? 'alive' : 'silent'}  ${c.admitted === null ? 'policy unknown' : c.admitted ? 'admits us' : 'REFUSES us'}${c.trusted === false ? '  NOT TRUSTED (fullTunnel.gateways)' : c.trusted === null ? '  trust unknown (no handshake yet)' : ''}`);
  const f = t.lastFailover;
  if (f) out.push(`  last failover: from ${f.from.slice(0, 8)} to ${f.to?.slice(0, 8) ?? 'nobody'} after ${f.silentMs} ms of silence (${t.switches} switches)`);
  return out;
}

/** `gateway: …` for a gateway (its uplink, who may use it, its DHT record), null for a member that is not one. */
export function gatewayLine(s: Pick<RingStatus, 'gateway' | 'gateways'>, nowMs: number): string | null {
  if (!s.gateway) return null;
  const put = s.gateways?.lastPut;
  const listed = !put ? 'not listed in the DHT yet' : put.ok ? `listed in the DHT (${Math.round((nowMs - put.at) / 1000)} s ago)` : 'the DHT refused its record (retrying)';
  return `gateway: on, out of ${s.gateway.uplink} with masquerade, for ${s.gateway.allow.includes('*') ? 'every member' : `groups ${s.gateway.allow.join(', ')}`}; ${listed}`;
}

const short = (h?: string): string => (h ? h.slice(0, 8) : '-');
const n = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0));

export function natLine(n: NatSummary): string {
  const seq = n.predicted?.length ? `; sequential ports, advertising the predicted ${n.predicted.join(', ')}` : '';
  return `${n.type} (${n.observers} peer report${n.observers === 1 ? '' : 's'}; seen as ${n.endpoints.join(', ') || '-'}${seq})`;
}

/** `ringvpn netcheck`: what NAT this node is behind and how its links reach their peers. */
export function renderNetcheck(s: RingStatus): string {
  const out: string[] = [];
  out.push(`node ${short(s.nodeId)}  ${s.joined ? 'joined' : 'NOT JOINED'}  listening ${s.listen ?? '-'}`);
  out.push(`nat: ${s.nat ? natLine(s.nat) : 'unknown'}`);
  out.push(`advertised endpoints: ${s.endpoints.join(', ') || '-'}`);
  const direct = s.connections.filter((c) => c.session && c.endpoint);
  const relayed = s.connections.filter((c) => c.session && !c.endpoint && c.path?.startsWith('relay'));
  const none = s.connections.length - direct.length - relayed.length;
  out.push(`links: ${direct.length} direct, ${relayed.length} through a relay${none ? `, ${none} without a session` : ''}`);
  const rtts = direct.map((c) => c.rttMs).filter((x): x is number => typeof x === 'number').sort((a, b) => a - b);
  if (rtts.length) out.push(`direct RTT: min ${rtts[0]} ms, median ${rtts[Math.floor(rtts.length / 2)]} ms, max ${rtts[rtts.length - 1]} ms`);
  for (const c of relayed) out.push(`  ${c.short} ${c.path} (${c.kinds.join('+') || '-'})`);
  const r = s.relays;
  if (r) {
    out.push(`relays: ${r.enabled ? `on, ${r.policy} policy` : 'off'}; made ${r.relaysUp}, fail-overs ${r.failovers}, replaced by direct ${r.replacedByDirect}, lost ${r.lost}, no common neighbour ${r.noOverlap}, punch retries ${r.punches}`);
  }
  const serving = Number(s.counters.relayForwarded ?? 0);
  const refused = { full: s.drops.relay_full ?? 0, rate: s.drops.relay_rate ?? 0 };
  if (serving || refused.full || refused.rate) {
    out.push(`relaying for others: ${serving} frames forwarded, ${Number(s.counters.relayPairs ?? 0)} of ${Number(s.counters.relayMaxPairs ?? 0)} relay-link pairs` +
      (refused.full || refused.rate ? `; refused ${refused.full} frames at the pair limit, ${refused.rate} over the rate` : ''));
  }
  if (s.nat?.type === 'symmetric') {
    out.push(s.nat.predicted?.length
      ? 'note: behind a symmetric NAT that hands out ports in sequence: the predicted ports are advertised, so peers behind port-restricted NATs can punch through; peers behind symmetric NATs are reached through relays'
      : 'note: behind a symmetric NAT, peers behind port-restricted or symmetric NATs are reached through relays');
  }
  return out.join('\n') + '\n';
}

export function renderRingStatus(s: RingStatus): string {
  const out: string[] = [];
  out.push(`node ${s.nodeId} (${s.name ?? 'no name'})  ${s.joined ? 'joined' : 'joining'}  ring size ~${s.sizeEstimate}  up ${Math.round(s.uptimeMs / 1000)} s`);
  out.push(`device ${s.device} (${s.devMode})  address ${s.address ? `${s.address}/${s.prefix}` : 'not yet claimed'}  subnet ${s.lan.subnet}  service ${s.lan.service}  domain ${s.lan.domain}`);
  out.push(`listening ${s.listen ?? '-'}  endpoints ${s.endpoints.join(', ') || '-'}`);
  if (s.nat) out.push(`nat: ${natLine(s.nat)}`);
  const gw = gatewayLine(s, s.uptimeMs);
  if (gw) out.push(gw);
  out.push(...tunnelLines(s.tunnel));
  out.push(`ring: left2 ${short(s.ring.left2)}  left1 ${short(s.ring.left1)}  [self ${short(s.nodeId)}]  right1 ${short(s.ring.right1)}  right2 ${short(s.ring.right2)}`);
  out.push('');
  out.push(`connections (${s.connections.length}):`);
  for (const c of s.connections) {
    const d = c.dataplane ?? {};
    out.push(`  ${c.short}  ${c.kinds.join('+') || '-'}  ${c.session ? 'session' : 'NO SESSION'}  ${c.endpoint ?? c.path ?? '-'}  tx ${n(d.txPackets)} rx ${n(d.rxPackets)} pkts` +
      (n(d.txRelayedPackets) + n(d.rxRelayedPackets) ? `  relayed tx ${n(d.txRelayedPackets)} rx ${n(d.rxRelayedPackets)}` : ''));
  }
  if (s.dataPeers.length) {
    out.push(`data peers without an overlay connection (${s.dataPeers.length}):`);
    for (const p of s.dataPeers) out.push(`  ${short(p.nodeId)}  ${p.allowed.join(' ')}  ${p.session ? 'session' : 'via overlay'}  relayed tx ${n(p.dataplane?.txRelayedPackets)}`);
  }
  out.push('');
  out.push(`DHT: ${s.dht.entries} entries held, ${s.dht.leases} own values renewed, ${s.dht.pending} operations pending`);
  out.push(`routes: announced ${s.lan.routesAnnounced.join(', ') || 'none'}; learned ${s.lan.routes.map((r) => `${r.cidr} via ${r.router}`).join(', ') || 'none'}`);
  if (s.pki) out.push(`group: CA "${s.pki.ca}"  certificate ${s.pki.serial} until ${s.pki.notAfter}  groups ${s.pki.groups.join(',') || '-'}  revoked known ${s.pki.revoked}  crl ${s.pki.crl ?? 'none'}  ${Object.entries(s.pki.counters).map(([k, v]) => `${k}=${v}`).join('  ')}`);
  else out.push('group: open overlay (no pki)');
  for (const g of s.groups ?? []) out.push(...groupLines(g));
  // the node's counters: the LAN resolver's carry a lan_ prefix
  const lan = Object.entries(s.links).filter(([k]) => k.startsWith('lan_'));
  out.push(`lan: ${lan.map(([k, v]) => `${k.slice(4)}=${v}`).join('  ') || '-'}`);
  out.push(`links: ${Object.entries(s.links).filter(([k]) => !k.startsWith('lan_')).map(([k, v]) => `${k}=${v}`).join('  ') || '-'}`);
  if (s.relays) out.push(`relays: ${s.relays.enabled ? s.relays.policy : 'off'}  links ${s.relays.links.length}  made ${s.relays.relaysUp}  fail-overs ${s.relays.failovers}  replaced by direct ${s.relays.replacedByDirect}  lost ${s.relays.lost}`);
  out.push('counters: ' + Object.entries(s.counters).map(([k, v]) => `${k}=${String(v)}`).join('  '));
  const drops = Object.entries(s.drops).filter(([, v]) => v > 0);
  out.push('drops: ' + (drops.length ? drops.map(([k, v]) => `${k}=${v}`).join('  ') : 'none'));
  out.push(defenceLine(s.drops, s.links, s.overlay?.quotas));
  const mem = memoryLine(s.memory);
  if (mem) out.push(mem);
  return out.join('\n') + '\n';
}
