// Owns the opt-in Prometheus endpoint (`metrics.listen`): at each scrape it turns the daemon's status into
// metrics (drops by reason, the node's counters, per-peer bytes and path, links by kind, DHT, LAN, the
// full tunnel) beside prom-client's process metrics (RSS, event-loop lag). It must not keep state of its
// own or change the daemon: everything is read from the status the daemon returns.
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { parseEndpoint } from '../base/ip.js';
import { errors } from '../base/errors.js';

type Status = Record<string, unknown>;
interface PeerLike { nodeId?: string | null; name?: string; address?: string; path?: string; kinds?: string[]; dataplane?: { rxBytes?: number; txBytes?: number } | null; rxBytes?: number; txBytes?: number }

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : Number(v ?? 0) || 0);

/** A counter whose value is a total read at scrape time (the daemon keeps the running sums). */
function totals(registry: Registry, name: string, help: string, labelNames: string[], read: () => Array<[Record<string, string>, number]>): void {
  new Counter({
    name, help, labelNames, registers: [registry],
    collect() { this.reset(); for (const [labels, v] of read()) this.inc(labels, Math.max(0, v)); },
  });
}

function gauge(registry: Registry, name: string, help: string, labelNames: string[], read: () => Array<[Record<string, string>, number]>): void {
  new Gauge({
    name, help, labelNames, registers: [registry],
    collect() { this.reset(); for (const [labels, v] of read()) this.set(labels, v); },
  });
}

/** The registry for a daemon whose status is `status()`. */
export function metricsRegistry(status: () => Status): Registry {
  const r = new Registry();
  collectDefaultMetrics({ register: r, prefix: 'ringvpn_' });
  let cached: { at: number; s: Status } | null = null;
  // one status per scrape: the collectors below all read it
  const s = (): Status => {
    const now = Date.now();
    if (!cached || now - cached.at > 200) cached = { at: now, s: status() };
    return cached.s;
  };
  const entries = (o: unknown): Array<[string, number]> => Object.entries((o ?? {}) as Record<string, unknown>).filter(([, v]) => typeof v === 'number').map(([k, v]) => [k, v as number]);
  totals(r, 'ringvpn_drops_total', 'packets and frames dropped, by stable reason (ringvpn status: drops)', ['reason'], () => entries(s().drops).map(([k, v]) => [{ reason: k }, v]));
  totals(r, 'ringvpn_node_events_total', 'the node\'s counters: refusals by code, link and resolver events (ringvpn status: links)', ['counter'], () => entries(s().links).map(([k, v]) => [{ counter: k }, v]));
  // a static mesh lists its configured peers by name; an overlay node its connections and data-only peers
  const peers = (): PeerLike[] => (s().peers as PeerLike[] | undefined) ?? [...((s().connections as PeerLike[] | undefined) ?? []), ...((s().dataPeers as PeerLike[] | undefined) ?? [])];
  totals(r, 'ringvpn_peer_bytes_total', 'bytes to and from each peer (frames), with its path', ['peer', 'direction', 'path'], () => peers().flatMap((p): Array<[Record<string, string>, number]> => {
    const peer = p.nodeId ?? p.name ?? p.address ?? '?';
    const path = p.path?.startsWith('relay') ? 'relay' : p.path === 'direct' ? 'direct' : p.path ?? 'direct';
    const d = p.dataplane ?? p;
    return [[{ peer, direction: 'rx', path }, num(d.rxBytes)], [{ peer, direction: 'tx', path }, num(d.txBytes)]];
  }));
  gauge(r, 'ringvpn_links', 'overlay connections by kind (one connection may have several)', ['kind'], () => {
    const by = new Map<string, number>();
    for (const c of (s().connections as PeerLike[] | undefined) ?? []) for (const k of c.kinds ?? []) by.set(k, (by.get(k) ?? 0) + 1);
    return [...by].map(([kind, v]) => [{ kind }, v]);
  });
  gauge(r, 'ringvpn_dht_entries', 'DHT entries this node holds', [], () => { const d = s().dht as { entries?: number } | null | undefined; return d ? [[{}, num(d.entries)]] : []; });
  gauge(r, 'ringvpn_lan_known_hosts', 'virtual addresses this node has resolved', [], () => { const l = s().lan as { known?: unknown[] } | null | undefined; return l ? [[{}, l.known?.length ?? 0]] : []; });
  gauge(r, 'ringvpn_full_tunnel_gateway_rtt_ms', 'round trip to the gateway in use (absent without one)', ['gateway'], () => {
    const u = (s().tunnel as { inUse?: { nodeId: string; rttMs: number | null } | null } | null | undefined)?.inUse;
    return u && u.rttMs !== null ? [[{ gateway: u.nodeId }, u.rttMs]] : [];
  });
  gauge(r, 'ringvpn_memory_budget_bytes', 'the RSS limit the daemon holds itself to', [], () => { const m = s().memory as { limitBytes?: number } | undefined; return m ? [[{}, num(m.limitBytes)]] : []; });
  return r;
}

/** Serve GET /metrics on `listen` (host:port); resolves with the server once it listens. */
export async function serveMetrics(listen: string, registry: Registry): Promise<Server> {
  const ep = parseEndpoint(listen);
  if (!ep) throw errors.E_CONFIG(`metrics.listen: expected host:port, got ${JSON.stringify(listen)}`);
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') { res.statusCode = 404; res.end('GET /metrics\n'); return; }
    registry.metrics().then((text) => { res.setHeader('content-type', registry.contentType); res.end(text); }, (e: Error) => { res.statusCode = 500; res.end(e.message); });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(errors.E_CONFIG(`metrics.listen ${listen}: ${e.message}`)));
    server.listen(ep.port, ep.host, () => resolve());
  });
  return server;
}
