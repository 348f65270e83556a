// Owns a running node's process side, for every mode: builds the sans-IO VpnNode from the config, runs
// its heartbeat on a real clock, pumps engine events into it and its commands into the native engine,
// serves the control socket and the device services (DHCP, DNS). It must not decide anything: every
// protocol decision is the VpnNode's; this file only moves time, events, commands and status.
import { randomBytes } from 'node:crypto';
import { hostname, networkInterfaces } from 'node:os';
import type { Server } from 'node:net';
import type { Config } from '../config/schema.js';
import { encodeKey } from '../config/keys.js';
import { REAL_NETWORK_PARAMS } from '../core/params.js';
import { idToHex, idFromHex, idToBytes, nodeIdOfKey } from '../base/nodeid.js';
import { errors } from '../base/errors.js';
import type { Logger } from '../base/log.js';
import { VpnNode, type VpnNodeOptions } from '../node/vpn-node.js';
import { Realms, REALM_PEER_SPAN, type RealmEvent } from '../node/realms.js';
import { DaemonGroups } from './groups.js';
import type { EngineCommand, NodeEvent, NodeInput } from '../node/io.js';
import type { Membership } from './membership.js';
import { DeviceServices } from '../vpn/service.js';
import { serviceAddress, servedDestinations } from '../vpn/addressing.js';
import { cidrContains, parseCidr } from '../base/ip.js';
import { serveControl, type ControlRequest } from './control.js';
import { startEngine, drainEngine, type DataPlane, type EngineConfig, type EngineEvent } from './engine.js';
import { crawlRing } from './crawler.js';
import { MemoryBudget } from './memory-budget.js';
import { defaultUplink, gatewayChanges } from './gateway-nat.js';
import { OsJournal, runOs } from './os-journal.js';
import { TUNNEL_MARK, tunnelChanges, tunnelRouteCommand } from './tunnel-routes.js';
import { DeviceRoutes, meshRoutes } from './device-routes.js';
import { applyReload, uncertifiedRoute } from './reload.js';
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const TICK_MS = REAL_NETWORK_PARAMS.heartbeatMs ?? 500;
/** A full tunnel's device route is installed again this often (a DHCP client may have reset the device's address). */
const TUNNEL_ROUTE_CHECK_MS = 5_000;
const TRAFFIC_SCAN_MS = 5_000;
export interface DaemonDeps {
  startEngine?: (config: EngineConfig, onEvents: () => void) => DataPlane;
  /** `ringvpn down` asked over the control socket (the owner stops the daemon; without it the request is refused) */
  onStopRequest?: () => void;
  /** `ringvpn reload` asked over the control socket: read the config file again and apply it (SIGHUP does the same) */
  onReloadRequest?: () => { applied: string[]; restartNeeded: string[] };
  /** every node event, after the daemon acted on it (the library's event emitter) */
  onNodeEvent?: (ev: NodeEvent) => void;
}

export class Daemon {
  /** the public overlay's node (or the static mesh's) */
  readonly node: VpnNode;
  /** what the heartbeat and the engine's events drive: the node, or the public overlay and the groups over one engine */
  private readonly driver: Pick<Realms, 'tick' | 'handle' | 'pollCommands'> & { pollEvents(): (NodeEvent | RealmEvent)[] };
  private readonly realms: Realms | null = null;
  private engine: DataPlane | undefined;
  private control: Server | undefined;
  private timer: NodeJS.Timeout | undefined;
  private services: DeviceServices | undefined;
  private readonly t0 = performance.now();
  private readonly drops: Record<string, number> = {};
  private scanAt = 0;
  private readonly memory: MemoryBudget;
  private stopping = false;
  /** a gateway's OS changes (forwarding, NAT) and the uplink they use, once made */
  private gateway: { journal: OsJournal; uplink: string } | undefined;
  /** the prefixes the OS routes through the device (site-to-site) */
  private readonly routes: DeviceRoutes;
  /** the Prometheus endpoint (metrics.listen) */
  private metrics: HttpServer | undefined;
  /** a full-tunnel client's policy routing, once made, and its device route (installed again when due) */
  private tunnel: { journal: OsJournal; route: string[]; at: number } | undefined;

  /** Build a daemon; the PKI code (X.509 parsing) is loaded only for a private group. */
  static async create(cfg: Config, log: Logger, deps: DaemonDeps = {}): Promise<Daemon> {
    let group: Membership | undefined;
    let self: Daemon | undefined;
    const groups = await DaemonGroups.create(cfg, log, (k, node, serial, how) => { self?.groups?.revoked(k, node, serial, how, self.now()); self?.flush(); });
    if (cfg.pki) {
      const { Membership } = await import('./membership.js');
      group = new Membership(cfg.pki, nodeIdOfKey(cfg.publicKeyBytes), cfg.publicKeyBytes, log, (node, serial, how) => self?.revoked(node, serial, how));
    }
    self = new Daemon(cfg, log, group, groups, deps);
    return self;
  }

  private constructor(private cfg: Config, private readonly log: Logger, private readonly membership: Membership | undefined, private readonly groups: DaemonGroups | null, private readonly deps: DaemonDeps) {
    this.memory = new MemoryBudget(() => this.now(), log);
    const net = cfg.network;
    if (membership && net?.address && net.address !== membership.own.address) {
      throw errors.E_PKI(`network.address ${net.address} differs from the address in pki.cert (${membership.own.address})`);
    }
    const badRoute = net ? uncertifiedRoute(net.routes, membership) : undefined;
    if (badRoute) throw errors.E_PKI(`network.routes ${badRoute} is not among the subnets of pki.cert (${membership!.own.subnets.join(', ') || 'none'})`);
    const endpoints = [...cfg.overlay.advertise];
    if (cfg.listenAddress !== '0.0.0.0' && cfg.listenAddress !== '::') endpoints.push(`${cfg.listenAddress}:${cfg.listenPort}`);
    else if (cfg.overlay.localCandidates) endpoints.push(...localCandidates(cfg.listenPort, net?.subnet ?? null).filter((e) => !endpoints.includes(e)));
    const name = cfg.name ?? (hostname().toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 63) || null);
    const o: VpnNodeOptions = {
      keys: { privateKey: cfg.privateKeyBytes, publicKey: cfg.publicKeyBytes },
      random: (n) => new Uint8Array(randomBytes(n)),
      seed: randomBytes(4).readUInt32LE(0),
      // handshake timestamps need a wall clock that survives restarts (peers refuse older ones)
      wallOffsetMs: Date.now() - (performance.now() - this.t0),
      log,
      ...(net ? {
        overlay: { bootstrap: cfg.overlay.bootstrap, endpoints, params: REAL_NETWORK_PARAMS, relay: cfg.overlay.relay },
        lan: { net: net.id, subnet: net.subnet, domain: net.domain, name, fixed: net.address, routes: net.routes, leaseMs: net.leaseSeconds * 1000, dhcp: net.dhcp },
      } : {
        peers: cfg.peers.map((p) => ({ publicKey: p.publicKeyBytes, endpoint: p.endpoint ?? null, allowed: [`${p.address}/32`, ...p.allowedIps] })),
      }),
      ...(membership ? { group: membership } : {}),
      ...(net && cfg.gateway.enable ? { gateway: { allow: cfg.gateway.allow } } : {}),
      ...(net && cfg.fullTunnel.enable ? { fullTunnel: { ...(cfg.fullTunnel.gateways ? { gateways: cfg.fullTunnel.gateways } : {}) } } : {}),
    };
    if (groups) {
      // the public overlay and every group over one engine (one socket, one device): ts/node/realms.ts
      this.realms = new Realms(o, groups.options(name));
      groups.bind(this.realms);
      this.node = this.realms.public;
    } else this.node = new VpnNode(o);
    this.driver = this.realms ?? this.node;
    this.routes = new DeviceRoutes((cidrs) => this.engine?.setRoutes(cidrs) ?? [0, 0, 0], log, (k) => this.drop(k));
  }

  now(): number { return performance.now() - this.t0; }

  async start(): Promise<void> {
    const c = this.cfg;
    const net = c.network;
    const service = net ? serviceAddress(parseCidr(net.subnet)!) : undefined;
    this.engine = (this.deps.startEngine ?? startEngine)({
      mode: c.device.mode, ifname: c.device.name, mtu: c.device.mtu, listenPort: c.listenPort, listenAddress: c.listenAddress,
      threads: c.dataplane.threads, offload: c.dataplane.offload,
      ...(net ? {
        nodeId: Buffer.from(idToBytes(this.node.self)), serviceAddress: service, interceptDhcp: net.dhcp,
        destinations: [...servedDestinations(net.subnet, net.routes), ...c.groups.map((g) => g.network.subnet)],
        relayMaxSessions: c.overlay.relay.maxSessions, relayRateBytes: Math.round(c.overlay.relay.maxRateMbps * 125_000),
        // a full tunnel: the engine's own UDP is marked, so policy routing keeps it out of the tunnel
        ...(c.fullTunnel.enable ? { fwmark: TUNNEL_MARK } : {}),
      } : { address: c.address }),
    }, () => this.pump());
    if (net && service) {
      this.services = new DeviceServices({ mode: c.device.mode, mtu: c.device.mtu, domain: net.domain, zones: this.groups?.zones() ?? [], dhcp: net.dhcp, dns: net.dns, leaseSeconds: net.leaseSeconds, ...(c.fullTunnel.dns ? { upstream: c.fullTunnel.dns } : {}) }, {
        service,
        lookupName: (name, zone) => this.groups?.lookup(name, zone, this.now(), () => this.flush()) ?? new Promise((resolve) => { this.node.lookupName(this.now(), name, resolve); this.flush(); }),
        reverseName: (ip) => { const g = this.groups?.reverse(ip); return g !== undefined ? g : this.node.lan?.reverseName(ip) ?? null; },
      }, (frame) => this.engine?.writeDevice(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength)), this.log);
    }
    try {
      if (net && c.gateway.enable) {
        // forwarding and masquerade for the virtual subnet, journaled beside the control socket (undone on stop,
        // or on the next start after a kill)
        const journal = new OsJournal(runOs, `${c.controlSocket}.gateway.json`, 'gateway');
        const uplink = c.gateway.uplink ?? await defaultUplink(runOs);
        // a failed apply undoes what it made itself
        await journal.apply((run) => gatewayChanges(run, { dev: c.device.name, subnet: net.subnet, uplink }));
        this.gateway = { journal, uplink };
        this.log.info({ uplink, subnet: net.subnet, allow: c.gateway.allow }, 'gateway on: forwarding and masquerade');
      }
      if (net && service && c.fullTunnel.enable) {
        // everything unmarked (all but the engine's UDP) goes to the device; until a gateway answers it is dropped there
        const journal = new OsJournal(runOs, `${c.controlSocket}.tunnel.json`, 'full tunnel');
        const routes = { dev: c.device.name, gateway: service };
        await journal.apply((run) => tunnelChanges(run, routes));
        this.tunnel = { journal, route: tunnelRouteCommand(routes), at: 0 };
        this.log.info({ device: c.device.name, via: service, mark: `0x${TUNNEL_MARK.toString(16)}` }, 'full tunnel on: policy routing installed; waiting for a gateway');
      }
      this.control = await serveControl(c.controlSocket, (req) => this.onControl(req));
      if (c.metrics.listen) {
        // prom-client is loaded only when metrics are asked for
        const { metricsRegistry, serveMetrics } = await import('./metrics.js');
        this.metrics = await serveMetrics(c.metrics.listen, metricsRegistry(() => this.status()));
        this.log.info({ metrics: this.metricsAddress() }, 'Prometheus metrics at GET /metrics');
      }
    } catch (e) {
      await new Promise<void>((r) => (this.control ? this.control.close(() => r()) : r()));
      await this.undoOs();
      this.engine.close();
      this.engine = undefined;
      throw e;
    }
    this.log.info({
      nodeId: idToHex(this.node.self), device: c.device.name, mode: c.device.mode, listen: this.engine.localAddr(), publicKey: encodeKey(c.publicKeyBytes), control: c.controlSocket,
      ...(net ? { network: net.id, subnet: net.subnet, bootstrap: c.overlay.bootstrap } : { address: c.address, peers: c.peers.length }),
    }, net ? 'ringvpn up (overlay)' : 'ringvpn up');
    if (c.dataplane.offload) {
      // what the kernel refused runs on the fallback path (one packet per read, one datagram per buffer)
      const st = this.engine.stats();
      const refused = [...(st.offloads === 0 ? ['device offloads (TUNSETOFFLOAD)'] : []), ...(st.udpGro === false ? ['UDP GRO'] : [])];
      if (refused.length) this.log.warn({ refused }, `the kernel refused ${refused.join(' and ')}: those paths fall back to one packet at a time (status: counters.offloads, counters.udpGro)`);
    }
    this.timer = setInterval(() => this.onTick(), TICK_MS);
    if (!net) this.routes.set(this.now(), meshRoutes(c));
    this.onTick();
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    this.services?.close();
    this.metrics?.close();
    this.metrics?.closeAllConnections();
    this.engine?.close();
    this.engine = undefined;
    await this.undoOs();
    // the control socket goes last (Node removes its file): `ringvpn down` waits for that, so the OS is restored by then
    await new Promise<void>((r) => (this.control ? this.control.close(() => r()) : r()));
    this.log.info('ringvpn down');
  }

  /** Remove a full tunnel's routing and a gateway's forwarding and NAT (a failure is logged; the state file stays for the next start). */
  private async undoOs(): Promise<void> {
    const jobs = [this.tunnel?.journal, this.gateway?.journal];
    this.tunnel = undefined;
    this.gateway = undefined;
    for (const j of jobs) {
      try {
        await j?.undo();
      } catch (e) {
        this.log.error({ err: (e as Error).message }, 'undoing OS changes failed (the next start tries again)');
      }
    }
  }

  /**
   * Install the full tunnel's device route again (`replace`: a no-op when present). The kernel deletes it when
   * the device loses its address; until it is back the tunnel table's blackhole holds the traffic.
   */
  private tunnelRoute(now: number): void {
    const tun = this.tunnel;
    if (!tun) return;
    tun.at = now + TUNNEL_ROUTE_CHECK_MS;
    void runOs('ip', tun.route).then((r) => {
      if (r.code !== 0) { this.drop('tunnel_route_failed'); this.log.warn({ err: r.stderr.trim() }, 'full tunnel: installing the device route failed (traffic is blackholed meanwhile)'); }
    });
  }

  /** The config in force (as started, with what reloads applied). */
  get config(): Config { return this.cfg; }

  /** A reload (SIGHUP): ts/runtime/reload.ts says what is applied and what needs a restart. */
  reload(next: Config): { applied: string[]; restartNeeded: string[] } {
    const r = applyReload({ node: this.node, membership: this.membership, log: this.log, now: () => this.now(), flush: () => this.flush(), setOsRoutes: (c) => this.routes.set(this.now(), c) }, this.cfg, next);
    this.cfg = r.config;
    return { applied: r.applied, restartNeeded: r.restartNeeded };
  }

  /** Where the Prometheus endpoint listens (host:port), or null. */
  metricsAddress(): string | null {
    const a = this.metrics?.address() as AddressInfo | null | undefined;
    return a ? `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : null;
  }

  private drop(k: string): void { this.drops[k] = (this.drops[k] ?? 0) + 1; }

  private onTick(): void {
    if (!this.engine) return;
    try {
      const now = this.now();
      if (now >= this.scanAt) {
        this.scanAt = now + TRAFFIC_SCAN_MS;
        const st = this.engine.stats();
        const peers = st.peers.map((p) => ({ peerId: p.peerId, dataPackets: Number(p.txDataPackets ?? 0) + Number(p.rxDataPackets ?? 0), rxDataPackets: Number(p.rxDataPackets ?? 0) }));
        this.driver.handle(now, { kind: 'traffic', peers, relay: { pairs: Number(st.relayPairs ?? 0), max: Number(st.relayMaxPairs ?? 0) } });
        this.node.links.overBudget = this.memory.check(this.node.links.overBudget);
      }
      this.driver.tick(now);
      if (this.tunnel && now >= this.tunnel.at) this.tunnelRoute(now);
      this.routes.tick(now);
      this.membership?.tick(now);
      this.groups?.tick(now);
    } catch (e) {
      this.drop('tick_failed');
      this.log.error({ err: e }, 'heartbeat failed');
    }
    this.flush();
  }

  private pump(): void {
    drainEngine(this.engine, (ev) => this.onEvent(ev), this.log);
    this.flush();
  }

  private onEvent(ev: EngineEvent): void {
    if (ev.kind === 'device') { this.services?.onFrame(new Uint8Array(ev.data)); return; }
    const input = toInput(ev);
    if (input) this.driver.handle(this.now(), input);
    else this.drop('event_unknown');
  }

  /** Apply the node's commands in order, then log its events. */
  private flush(): void {
    const e = this.engine;
    if (!e) return;
    for (let round = 0; round < 100; round++) {
      const cmds = this.driver.pollCommands();
      if (!cmds.length) break;
      for (const c of cmds) this.apply(e, c);
    }
    for (const ev of this.driver.pollEvents()) this.onNodeEvent(ev);
  }

  private apply(e: DataPlane, c: EngineCommand): void {
    try {
      switch (c.cmd) {
        case 'setPeer': e.setPeer(c.peerId, c.endpoint, c.allowed, { nodeId: c.nodeId ? Buffer.from(c.nodeId) : undefined, via: c.via, ...(c.hop === undefined ? {} : { hop: c.hop }), ...(c.relayOnly === undefined ? {} : { relayOnly: c.relayOnly }), ...(c.gatewayClient === undefined ? {} : { gatewayClient: c.gatewayClient }), ...(c.forgetEndpoint ? { forgetEndpoint: true } : {}) }); return;
        case 'removePeer': e.removePeer(c.peerId); return;
        case 'setSession': {
          const k = c.keys;
          e.setSession(c.peerId, { localIndex: k.localIndex, remoteIndex: k.remoteIndex, sendKey: Buffer.from(k.sendKey), recvKey: Buffer.from(k.recvKey), initiator: k.initiator });
          return;
        }
        case 'removeSession': e.removeSession(c.localIndex); return;
        case 'sendFrame': e.sendFrame(c.endpoint, Buffer.from(c.bytes.buffer, c.bytes.byteOffset, c.bytes.byteLength)); return;
        case 'sendControl': e.sendControl(c.peerId, Buffer.from(c.bytes.buffer, c.bytes.byteOffset, c.bytes.byteLength)); return;
        case 'sendKeepalive': e.sendKeepalive(c.peerId); return;
        case 'setAddress': e.setAddress(c.cidr, c.assign); return;
      }
    } catch (err) {
      // a socket error (no route, blackholed endpoint) or a refused command: counted, never fatal
      this.drop(c.cmd === 'sendFrame' || c.cmd === 'sendControl' || c.cmd === 'sendKeepalive' ? 'send_failed' : `${c.cmd}_failed`);
      this.log.debug({ cmd: c.cmd, err: (err as Error).message }, 'engine command failed');
    }
  }

  private onNodeEvent(ev: NodeEvent | RealmEvent): void {
    if (this.groups && 'realm' in ev) {
      this.groups.onEvent(ev, this.cfg.device.name);
      if (ev.realm > 0) return;
    }
    this.ownNodeEvent(ev);
    this.deps.onNodeEvent?.(ev);
  }

  private ownNodeEvent(ev: NodeEvent): void {
    switch (ev.type) {
      case 'address': {
        const lan = this.node.lan;
        // the engine assigned the address (or the OS will, by DHCP): the device route may have gone with the old one
        if (this.tunnel) this.tunnel.at = this.now() + 200;
        this.services?.setLease(ev.address, ev.prefix, lan?.dhcpRoutes() ?? []);
        return;
      }
      case 'routes': this.services?.setRoutes(ev.routes); this.routes.set(this.now(), ev.routes.map((r) => r.cidr)); return;
      case 'error': this.log.error({ code: ev.code }, ev.message); return;
      case 'session': this.log.debug({ peer: idToHex(ev.nodeId).slice(0, 8), initiator: ev.initiator, direct: ev.direct }, 'session established'); return;
      default: return;
    }
  }

  /** A polled CRL revoked a certificate: the node cuts the holder off. */
  private revoked(node: string, serial: string, how: string): void {
    const id = idFromHex(node);
    if (id === null) return;
    this.node.revoke(this.now(), id, serial, how);
    this.flush();
  }

  private onControl(req: ControlRequest): unknown {
    if (req.cmd === 'status') return this.status();
    if (req.cmd === 'ping') return 'pong';
    if (req.cmd === 'stop') {
      if (!this.deps.onStopRequest) throw errors.E_BAD_REQUEST('this daemon is embedded: its owner stops it');
      setImmediate(this.deps.onStopRequest);
      return { stopping: true };
    }
    if (req.cmd === 'reload') {
      if (!this.deps.onReloadRequest) throw errors.E_BAD_REQUEST('this daemon is embedded: its owner reloads it');
      return this.deps.onReloadRequest();
    }
    if (req.cmd === 'neighbours') {
      const nb = this.node.overlay?.ringNeighbours() ?? {};
      const h = (x?: bigint) => (x === undefined ? undefined : idToHex(x));
      return { nodeId: idToHex(this.node.self), left1: h(nb.left1), left2: h(nb.left2), right1: h(nb.right1), right2: h(nb.right2) };
    }
    if (req.cmd === 'revoke') {
      if (typeof req.record !== 'string') throw errors.E_BAD_REQUEST('revoke needs record (base64)');
      const record = new Uint8Array(Buffer.from(req.record, 'base64'));
      // a daemon in private groups: the group whose CA signed the record (else the public overlay's own pki)
      const k = this.groups?.groupOfRecord(record) ?? -1;
      const node = k >= 0 ? this.realms!.groups[k]!.node : this.node;
      return new Promise((resolve, reject) => {
        node.publishRevocation(this.now(), record, (r) => (r.ok === false ? reject(errors.E_PKI(`revocation record refused: ${String(r.code)}${r.message ? ` (${String(r.message)})` : ''}`)) : resolve(r)));
        this.flush();
      });
    }
    if (req.cmd === 'echo') {
      if (typeof req.target !== 'string') throw errors.E_BAD_REQUEST('echo needs target (a name, an address or a node id)');
      const count = typeof req.count === 'number' ? Math.max(1, Math.min(100, Math.floor(req.count))) : 4;
      return import('./ping.js').then(({ pingTarget }) => pingTarget(this.node, () => this.now(), () => this.flush(), req.target as string, count, 500));
    }
    if (req.cmd === 'crawl') return crawlRing(this.node, () => this.now(), () => this.flush(), typeof req.max === 'number' ? req.max : undefined);
    throw errors.E_BAD_REQUEST(`unknown command ${JSON.stringify(req.cmd)}`);
  }

  status(): Record<string, unknown> {
    const c = this.cfg;
    const stats = this.engine?.stats();
    // the public overlay's engine peers only (a group's are in its own section)
    const s = this.node.status(this.realms && stats ? { peers: stats.peers.filter((p) => p.peerId < REALM_PEER_SPAN) } : stats);
    const counters = stats ? Object.fromEntries(Object.entries(stats).filter(([k]) => k !== 'peers' && k !== 'drops')) : {};
    const nodeCounters = this.node.counters.values;
    const drops = { ...(stats?.drops ?? {}), ...prefixKeys('control_', this.drops) };
    const memory = this.memory.status(this.node.links.overBudget);
    const common = { ...(this.groups ? { groups: this.groups.status() } : {}), device: c.device.name, devMode: c.device.mode, listen: this.engine?.localAddr() ?? null, publicKey: encodeKey(c.publicKeyBytes), links: nodeCounters, counters, drops, memory, metrics: this.metricsAddress() };
    if (this.node.overlay) {
      const lan = this.node.lan;
      return { ...s, ...common, name: lan?.status().name ?? null, address: lan?.address ?? null, prefix: lan?.subnet.prefix ?? null, services: this.services?.status() ?? null,
        gateway: this.gateway ? { uplink: this.gateway.uplink, allow: c.gateway.allow } : null };
    }
    // static mesh: the configured peers by name, as `ringvpn status` prints them
    const enginePeers = new Map((stats?.peers ?? []).map((p) => [p.peerId, p]));
    const peers = c.peers.map((cp, i) => {
      const lp = this.node.links.peerOf(nodeIdOfKey(cp.publicKeyBytes));
      return {
        id: i + 1, name: cp.name ?? cp.address, publicKey: cp.publicKey, address: cp.address, endpoint: lp?.endpoint ?? null,
        allowed: lp?.allowed ?? [], lastHandshakeAgoMs: lp?.lastHandshake == null ? null : Math.round(this.now() - lp.lastHandshake),
        handshakes: lp?.handshakes ?? 0, dataplane: lp ? enginePeers.get(lp.peerId) ?? null : null,
      };
    });
    const handshakeRejected = Object.fromEntries(Object.entries(nodeCounters).filter(([k]) => k.startsWith('handshake_') && k !== 'handshake_failed' && k !== 'handshake_via_overlay').map(([k, v]) => [k.slice('handshake_'.length), v]));
    return { ...s, ...common, mode: c.device.mode, address: c.address, peers, handshakeRejected };
  }
}

/** The engine's event as the node's input (device frames go to the services instead). */
export function toInput(ev: EngineEvent): NodeInput | null {
  switch (ev.kind) {
    case 'handshake': return { kind: 'handshake', from: ev.from, data: new Uint8Array(ev.data) };
    case 'control': return { kind: 'control', peerId: ev.peerId, data: new Uint8Array(ev.data) };
    case 'need_session': return { kind: 'need_session', peerId: ev.peerId };
    case 'rekey': return { kind: 'rekey', peerId: ev.peerId, localIndex: ev.localIndex };
    case 'endpoint': return { kind: 'endpoint', peerId: ev.peerId, from: ev.from };
    case 'miss': return { kind: 'miss', dst: ev.dst };
    case 'source_unknown': return { kind: 'source_unknown', nodeId: new Uint8Array(ev.nodeId), src: ev.src };
    default: return null;
  }
}

function prefixKeys(p: string, o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k.startsWith(p) ? k : p + k, v]));
}

/**
 * This host's own IPv4 addresses with the listen port: candidates for members behind the same NAT
 * (they reach each other over the LAN where the NAT does not hairpin). Loopback, link-local and
 * addresses inside the virtual subnet are left out; at most 3.
 */
export function localCandidates(port: number, subnet: string | null): string[] {
  const vnet = subnet ? parseCidr(subnet) : null;
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family !== 'IPv4' || a.internal || a.address.startsWith('169.254.')) continue;
      if (vnet && cidrContains(vnet, a.address)) continue;
      out.push(`${a.address}:${port}`);
    }
  }
  return out.slice(0, 3);
}
