// Owns a running overlay-mode node: the sans-IO OverlayNode, its DHT and the virtual LAN driven against
// the native engine. Every overlay message travels as a CONTROL frame over a handshaked link; the
// clock, timers and I/O live here, never in ts/core. It must not parse packets or decide topology.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Server } from 'node:net';
import type { Config } from '../config/schema.js';
import { encodeKey } from '../config/keys.js';
import { OverlayNode, type Output } from '../core/node.js';
import { idFromBytes, idFromHex, idToHex, idShort, type NodeId } from '../core/nodeid.js';
import { ringDist } from '../core/ring.js';
import { Xoshiro128 } from '../core/rng.js';
import { attachDht, attachBroadcast } from '../dht/overlay.js';
import type { BroadcastService } from '../core/broadcast.js';
import { encodeApp, decodeApp } from '../wire/app.js';
import type { Membership } from './membership.js';
import { bytes as utf8 } from '../vpn/addressing.js';
import { RingvpnError } from '../config/errors.js';
import { AsyncDht } from '../dht/async.js';
import type { DhtCore } from '../dht/dht.js';
import { VirtualLan } from '../vpn/lan.js';
import { DeviceServices } from '../vpn/service.js';
import { serveControl, type ControlRequest } from './control.js';
import { startEngine, drainEngine, type DataPlane, type EngineEvent } from './engine.js';
import { LinkManager, nodeIdOfKey } from './links.js';
import { Crawler } from './crawler.js';
import type { Logger } from './log.js';

const TICK_MS = 500;
const TRAFFIC_SCAN_MS = 5_000;
/** data packets per scan (either way) beyond which a peer counts as in use: any data keeps its on-demand link (a ping every 15 s does, as in the paper) */
const DATA_PACKETS_TO_KEEP = 0;
/** Real-network liveness: a dead peer is noticed in about 3 s + 3 x 0.5 s instead of Brunet's WAN 15 s + 5 x 2 s. */
export const DAEMON_OVERLAY_PARAMS = { pingAfterMs: 3_000, rpcMinTimeoutMs: 500, rpcTries: 3 };

export class OverlayDaemon {
  readonly id: NodeId;
  readonly node: OverlayNode;
  readonly dht: DhtCore;
  readonly lan: VirtualLan;
  private engine: DataPlane | undefined;
  private control: Server | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly links: LinkManager;
  private readonly adht: AsyncDht;
  private readonly services: DeviceServices;
  private readonly crawler: Crawler;
  readonly membership: Membership | undefined;
  private readonly bcast: BroadcastService;
  private revokedAt = 0;
  private readonly t0 = performance.now();
  private readonly drops: Record<string, number> = {};
  private flushing = false;
  private scanAt = 0;
  private readonly lastTraffic = new Map<number, number>();
  private stopping = false;

  /** Build a node; the PKI code (X.509 parsing) is loaded only for a private group. */
  static async create(cfg: Config, log: Logger): Promise<OverlayDaemon> {
    if (!cfg.pki) return new OverlayDaemon(cfg, log, undefined);
    const { Membership } = await import('./membership.js');
    let self: OverlayDaemon | undefined;
    const m = new Membership(cfg.pki, nodeIdOfKey(cfg.publicKeyBytes), cfg.publicKeyBytes, log, (node, serial, how) => self?.cutOff(node, serial, how));
    self = new OverlayDaemon(cfg, log, m);
    return self;
  }

  private constructor(private readonly cfg: Config, private readonly log: Logger, membership: Membership | undefined) {
    const net = cfg.network!;
    this.id = nodeIdOfKey(cfg.publicKeyBytes);
    const seed = randomBytes(16);
    const endpoints = [...cfg.overlay.advertise];
    if (cfg.listenAddress !== '0.0.0.0' && cfg.listenAddress !== '::') endpoints.push(`${cfg.listenAddress}:${cfg.listenPort}`);
    this.node = new OverlayNode({
      id: this.id, endpoints, rng: new Xoshiro128(seed.readUInt32LE(0) ^ seed.readUInt32LE(4)),
      bootstrap: cfg.overlay.bootstrap, params: DAEMON_OVERLAY_PARAMS, events: true,
    });
    this.dht = attachDht(this.node);
    this.bcast = attachBroadcast(this.node, (_now, m) => this.onBroadcast(m.payload));
    this.membership = membership;
    if (this.membership && net.address && net.address !== this.membership.own.address) {
      throw new RingvpnError('E_PKI', `network.address ${net.address} differs from the address in pki.cert (${this.membership.own.address})`);
    }
    const certSubnets = this.membership?.own.subnets;
    const badRoute = certSubnets ? net.routes.find((r) => !certSubnets.includes(r)) : undefined;
    if (badRoute) throw new RingvpnError('E_PKI', `network.routes ${badRoute} is not among the subnets of pki.cert (${certSubnets!.join(', ') || 'none'})`);
    this.crawler = new Crawler(this.node, () => this.now(), () => this.flush());
    this.adht = new AsyncDht(this.dht, { now: () => this.now(), flush: () => this.flush() });
    // the handshaker's TAI64N timestamps need a wall clock that survives restarts (peers refuse older ones)
    this.links = new LinkManager(() => this.engine, this.id, { privateKey: cfg.privateKeyBytes, publicKey: cfg.publicKeyBytes }, () => Date.now(), {
      up: (id, eps) => { this.node.linkUp(this.now(), id, eps); this.lan.rehop(); this.flush(); },
      session: (id) => this.lan.onSession(id),
      overlaySend: (id, b) => { this.node.send(this.now(), id, encodeApp({ app: 'handshake', bytes: b }), { onDemand: false }); this.flush(); },
      failed: (to, eps) => { this.node.linkFailed(this.now(), to, eps); this.flush(); },
      down: (id) => { this.node.linkDown(this.now(), id); this.lan.rehop(); this.flush(); },
      observed: (ep) => this.observed(ep),
    }, log, this.membership);
    const name = cfg.name ?? (hostname().toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 63) || null);
    this.lan = new VirtualLan({
      net: net.id, subnet: net.subnet, domain: net.domain, name, fixed: this.membership?.own.address ?? net.address,
      routes: net.routes, leaseMs: net.leaseSeconds * 1000, key: cfg.publicKeyBytes,
    }, {
      now: () => this.now(), dht: this.adht, self: this.id, joined: () => this.node.joined,
      route: (id, allowed, via, key) => { this.links.route(id, allowed, via, key); },
      ...(this.membership ? { certified: (id: NodeId) => { const c = this.membership!.certOf(id); return c ? { address: c.address, subnets: c.subnets } : null; } } : {}),
      unroute: (id) => this.links.unroute(id),
      noteTraffic: (id) => { this.node.noteTraffic(this.now(), id); },
      nextHop: (id) => this.nextHop(id),
      addressReady: (ip, prefix) => this.addressReady(ip, prefix),
      routesChanged: (routes) => this.services.setRoutes(routes),
    }, log);
    this.services = new DeviceServices({
      mode: cfg.device.mode, mtu: cfg.device.mtu, domain: net.domain, dhcp: net.dhcp, dns: net.dns, leaseSeconds: net.leaseSeconds,
    }, this.lan, (frame) => this.engine?.writeDevice(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength)), log);
  }

  now(): number { return performance.now() - this.t0; }

  async start(): Promise<void> {
    const c = this.cfg;
    const net = c.network!;
    this.engine = startEngine({
      mode: c.device.mode, ifname: c.device.name, mtu: c.device.mtu, listenPort: c.listenPort, listenAddress: c.listenAddress,
      threads: c.dataplane.threads, nodeId: Buffer.from(idToHex(this.id), 'hex'), serviceAddress: this.lan.service,
      interceptDhcp: net.dhcp,
    }, () => this.pump());
    try {
      this.control = await serveControl(c.controlSocket, (req) => this.onControl(req));
    } catch (e) {
      this.engine.close();
      this.engine = undefined;
      throw e;
    }
    this.log.info({ nodeId: idToHex(this.id), device: c.device.name, listen: this.engine.localAddr(), network: net.id, subnet: net.subnet, bootstrap: c.overlay.bootstrap, publicKey: encodeKey(c.publicKeyBytes), control: c.controlSocket }, 'ringvpn up (overlay)');
    this.timer = setInterval(() => this.onTick(), TICK_MS);
    this.onTick();
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    this.lan.stop();
    this.services.close();
    await new Promise<void>((r) => (this.control ? this.control.close(() => r()) : r()));
    this.engine?.close();
    this.engine = undefined;
    this.log.info('ringvpn down');
  }

  private drop(k: string): void { this.drops[k] = (this.drops[k] ?? 0) + 1; }

  private onTick(): void {
    try {
      this.tickOnce();
    } catch (e) {
      this.drop('tick_failed');
      this.log.error({ err: e }, 'heartbeat failed');
    }
  }

  private tickOnce(): void {
    if (!this.engine) return;
    const now = this.now();
    this.node.tick(now);
    this.links.tick();
    this.lan.tick();
    if (this.membership) {
      this.membership.tick(now);
      if (now >= this.revokedAt && this.node.joined) { this.revokedAt = now + 60_000; void this.pullRevocations(); }
    }
    if (now >= this.scanAt) { this.scanAt = now + TRAFFIC_SCAN_MS; this.scanTraffic(); }
    this.flush();
  }

  /**
   * Data flowing to or from a peer keeps its on-demand link (the core never sees data packets). The
   * engine counts every frame, so the overlay's own CONTROL frames and keepalives are subtracted:
   * pings alone must not keep a link for traffic.
   */
  private scanTraffic(): void {
    const stats = this.engine?.stats();
    if (!stats) return;
    for (const p of stats.peers) {
      const lp = this.links.peers.get(p.peerId);
      if (!lp) continue;
      const total = Number(p.txPackets ?? 0) + Number(p.rxPackets ?? 0) - lp.controlFrames;
      const before = this.lastTraffic.get(p.peerId);
      this.lastTraffic.set(p.peerId, total);
      if (lp.allowed.length && before !== undefined && total > before + DATA_PACKETS_TO_KEEP) this.node.noteTraffic(this.now(), lp.nodeId);
    }
  }

  /** Carry out the core's outputs (sends, link requests) until it has none left. */
  private flush(): void {
    if (this.flushing) return;
    this.flushing = true;
    try {
      for (let i = 0; i < 10_000 && this.node.out.length; i++) {
        const outs = this.node.out.splice(0, this.node.out.length);
        for (const o of outs) {
          try {
            this.output(o);
          } catch (e) {
            this.drop('output_failed');
            this.log.error({ err: e, type: o.type }, 'overlay output failed');
          }
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private output(o: Output): void {
    switch (o.type) {
      case 'send': if (!this.links.sendControl(o.to, o.bytes)) this.drop('send_no_session'); return;
      case 'link': this.links.link(o.to, o.endpoints); return;
      case 'unlink': this.links.unlink(o.to, o.reason); this.lan.rehop(); return;
      case 'deliver': {
        const d = decodeApp(o.payload);
        if (!d.ok) { this.drop('app_' + d.code); return; }
        if (d.msg.app === 'handshake') this.links.onOverlayFrame(d.msg.bytes, o.src);
        else if (!this.crawler.onDeliver(o.src, d.msg)) this.drop('overlay_data_unknown');
        return;
      }
      case 'event': this.log.debug(o.detail, o.name); return;
    }
  }

  private pump(): void {
    drainEngine(this.engine, (ev) => this.onEvent(ev), this.log);
    this.flush();
  }

  private onEvent(ev: EngineEvent): void {
    switch (ev.kind) {
      case 'handshake': if (ev.data && ev.from) this.links.onFrame(new Uint8Array(ev.data), ev.from); return;
      case 'control': {
        const p = ev.peerId != null ? this.links.peers.get(ev.peerId) : undefined;
        if (p && ev.data) { p.controlFrames++; this.node.receive(this.now(), p.nodeId, new Uint8Array(ev.data)); }
        else this.drop('control_unknown_peer');
        return;
      }
      case 'need_session': case 'rekey': {
        if (ev.peerId == null) return;
        const p = this.links.peers.get(ev.peerId);
        if (!p) return;
        if (p.linked || ev.kind === 'rekey') this.links.needSession(ev.peerId);
        else this.node.noteTraffic(this.now(), p.nodeId);
        return;
      }
      case 'endpoint': if (ev.peerId != null && ev.from) this.links.roamed(ev.peerId, ev.from); return;
      case 'miss': if (ev.from) this.lan.onMiss(ev.from); return;
      case 'source_unknown': case 'relay_source': if (ev.data?.length === 20 && ev.from) this.lan.onSourceUnknown(idFromBytes(new Uint8Array(ev.data)), ev.from); return;
      case 'device': if (ev.data) this.services.onFrame(new Uint8Array(ev.data)); return;
      default: this.log.debug({ kind: ev.kind }, 'unknown engine event');
    }
  }

  // ---------------------------------------------------------------- revocation
  private revocationKey(): Uint8Array { return utf8(`revoked:${this.cfg.network!.id}`); }

  /** A revocation record from the control socket: check it, apply it, store it in the DHT, broadcast it. */
  private async publishRevocation(record: Uint8Array): Promise<Record<string, unknown>> {
    if (!this.membership) throw Object.assign(new Error('this node is not in a private group (no pki section)'), { code: 'E_PKI' });
    const r = this.membership.applyRecord(record, 'control');
    if (!r.ok) throw Object.assign(new Error(`revocation record refused: ${r.code}`), { code: 'E_PKI' });
    const before = this.bcast.stats.forwarded;
    this.bcast.broadcast(this.now(), encodeApp({ app: 'revocation', record }));
    const reached = this.bcast.stats.forwarded - before;
    this.flush();
    const stored = await this.adht.put(this.revocationKey(), record, 7 * 24 * 3600_000).then(() => true, () => false);
    return { serial: r.serial, nodeId: r.nodeId, fresh: r.fresh, broadcastTo: reached, storedInDht: stored };
  }

  private onBroadcast(payload: Uint8Array): void {
    const d = decodeApp(payload);
    if (!d.ok || d.msg.app !== 'revocation') { this.drop('broadcast_unknown'); return; }
    if (!this.membership) { this.drop('broadcast_revocation_ignored'); return; }
    this.membership.applyRecord(d.msg.record, 'broadcast');
  }

  private async pullRevocations(): Promise<void> {
    const r = await this.adht.get(this.revocationKey()).catch(() => null);
    for (const v of r?.values ?? []) this.membership?.applyRecord(v.value, 'dht');
  }

  /** A revoked node: close every session with it and refuse it from now on. */
  private cutOff(node: string, serial: string, how: string): void {
    const id = idFromHex(node);
    if (id === null) return;
    if (id === this.id) { this.log.error({ serial, how }, 'our own certificate was revoked'); return; }
    this.lan.forget(id);
    const had = this.links.ban(id);
    this.flush();
    this.log.warn({ nodeId: node, serial, how, hadSession: had }, 'revoked node cut off');
  }

  private observed(ep: string): void {
    const eps = this.node.endpoints;
    if (eps.includes(ep)) return;
    if (eps.length >= 4) eps.shift();
    eps.push(ep);
    this.log.info({ endpoint: ep }, 'learned our endpoint from a peer');
  }

  private addressReady(ip: string, prefix: number): void {
    const net = this.cfg.network!;
    this.engine?.setAddress(`${ip}/${prefix}`, !net.dhcp);
    this.services.setLease(ip, prefix, this.lan.dhcpRoutes());
  }

  /** Greedy next hop toward `id` among joined connections (null when linked directly or none is closer). */
  private nextHop(id: NodeId): NodeId | null {
    const self = this.links.peerOf(id);
    if (self?.established && self.endpoint) return null;
    let best: NodeId | null = null, bestD = ringDist(this.id, id);
    for (const p of this.node.ringPeers()) {
      const d = ringDist(p, id);
      if (d < bestD && this.links.peerOf(p)?.established) { best = p; bestD = d; }
    }
    return best;
  }

  private onControl(req: ControlRequest): unknown {
    if (req.cmd === 'status') return this.status();
    if (req.cmd === 'ping') return 'pong';
    if (req.cmd === 'neighbours') return { nodeId: idToHex(this.id), ...this.ringView() };
    if (req.cmd === 'revoke') {
      if (typeof req.record !== 'string') throw Object.assign(new Error('revoke needs record (base64)'), { code: 'E_BAD_REQUEST' });
      return this.publishRevocation(new Uint8Array(Buffer.from(req.record, 'base64')));
    }
    if (req.cmd === 'crawl') return this.crawler.crawl(typeof req.max === 'number' ? req.max : undefined);
    throw Object.assign(new Error(`unknown command ${JSON.stringify(req.cmd)}`), { code: 'E_BAD_REQUEST' });
  }

  private ringView(): Record<string, string | undefined> {
    const nb = this.node.ringNeighbours();
    const h = (x?: NodeId) => (x === undefined ? undefined : idToHex(x));
    return { left1: h(nb.left1), left2: h(nb.left2), right1: h(nb.right1), right2: h(nb.right2) };
  }

  status(): Record<string, unknown> {
    const c = this.cfg;
    const stats = this.engine?.stats();
    const enginePeers = new Map((stats?.peers ?? []).map((p) => [p.peerId, p]));
    const conns = this.node.connections();
    const connected = new Set(conns.map((x) => x.id));
    return {
      mode: 'overlay', nodeId: idToHex(this.id), name: this.lan.status().name, device: c.device.name, devMode: c.device.mode,
      address: this.lan.address, prefix: this.lan.subnet.prefix, listen: this.engine?.localAddr() ?? null,
      endpoints: this.node.endpoints, joined: this.node.joined, sizeEstimate: Math.round(this.node.sizeEstimate()),
      uptimeMs: Math.round(this.now()), ring: this.ringView(),
      connections: conns.map((x) => {
        const p = this.links.peerOf(x.id);
        return { nodeId: idToHex(x.id), short: idShort(x.id), kinds: x.kinds, session: !!p?.established, endpoint: p?.endpoint ?? null, dataplane: p ? enginePeers.get(p.peerId) ?? null : null };
      }),
      dataPeers: [...this.links.peers.values()].filter((p) => p.allowed.length && !connected.has(p.nodeId)).map((p) => ({
        nodeId: idToHex(p.nodeId), allowed: p.allowed, session: p.established, via: p.via, dataplane: enginePeers.get(p.peerId) ?? null,
      })),
      lan: this.lan.status(),
      pki: this.membership?.status() ?? null,
      services: this.services.status(),
      dht: { entries: this.dht.store.size, leases: this.dht.leaseCount, pending: this.dht.pendingOps, drops: this.dht.stats.drops },
      overlay: { ...this.node.stats },
      links: this.links.counters,
      counters: stats ? Object.fromEntries(Object.entries(stats).filter(([k]) => k !== 'peers' && k !== 'drops')) : {},
      drops: { ...(stats?.drops ?? {}), ...prefixKeys('control_', this.drops) },
    };
  }
}

function prefixKeys(p: string, o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k.startsWith(p) ? k : p + k, v]));
}
