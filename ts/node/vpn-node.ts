// Owns one whole VPN node as a sans-IO state machine (quinn style): the overlay node, its DHT and range
// broadcast, the link table, the LAN resolver and the group's revocation, composed once. Inputs are
// `handle(now, input)` and `tick(now)`; outputs are polled as engine commands and embedder events. A
// static mesh is the same node with pinned peers and no ring. It must not do I/O, read a clock or draw
// entropy: time comes with every call, randomness through the options.
import { OverlayNode, type Output } from '../core/node.js';
import { greedyNextHopOrdered, nearestUsableOrdered } from '../core/routing.js';
import { Xoshiro128 } from '../core/rng.js';
import type { BroadcastService } from '../core/broadcast.js';
import { attachBroadcast, attachDht } from '../dht/attach.js';
import type { DhtCore } from '../dht/dht.js';
import { idFromBytes, idShort, idToHex, nodeIdOfKey, type NodeId } from '../base/nodeid.js';
import { decodeApp, encodeApp, type NeighbourSlots } from '../wire/app.js';
import { kindOf } from '../wire/overlay-codec.js';
import type { NodeDht } from './address-claim.js';
import { Counters, Outbox, type EchoResult, type EngineCommand, type NodeEvent, type NodeInput, type TrafficSample } from './io.js';
export type { EchoResult } from './io.js';
import { LanResolver, type LanHost } from './lan-resolver.js';
import { GatewayList } from './gateways.js';
import { TunnelClient } from './tunnel-client.js';
import { OperatorQueries } from './operator-queries.js';
import { LinkTable } from './link-table.js';
import type { LinkEvent } from './link-peer.js';
import { Revocations, gatewayPolicy, type GroupPolicy } from './group.js';
import { nodeStatus } from './node-status.js';
import { DEFAULT_RELAY, RelayLinks } from './relay-links.js';
import { AdvertisedEndpoints } from './advertised-endpoints.js';
import { CarriedPunch } from './carried-punch.js';
import type { StaticPeer, VpnNodeOptions } from './vpn-node-options.js';
export type { OverlayOptions, StaticPeer, VpnNodeOptions } from './vpn-node-options.js';
import { K_RELAY } from '../core/connections.js';

const QUERY_TIMEOUT_MS = 1_000;

const SETTLE_ROUNDS = 10_000;

export class VpnNode implements LanHost {
  readonly self: NodeId;
  readonly overlay: OverlayNode | null;
  readonly dht: DhtCore | null;
  readonly links: LinkTable;
  readonly lan: LanResolver | null;
  /** the network's gateway list in the DHT (this node's record, if it is a gateway) */
  readonly gateways: GatewayList | null;
  /** a full-tunnel client's gateway choice */
  readonly tunnel: TunnelClient | null;
  readonly group: GroupPolicy | undefined;
  readonly privateGroup: boolean;
  readonly counters = new Counters();
  readonly relays: RelayLinks | null;
  /** the endpoints this node advertises, and its NAT's reading (`nat`) */
  readonly advertised: AdvertisedEndpoints;
  private readonly bcast: BroadcastService | null;
  private readonly revocations: Revocations | null;
  /** a private overlay: punches of links on the public data plane */
  private readonly punches: CarriedPunch | null;
  private readonly out = new Outbox();
  private readonly queries = new OperatorQueries();
  private t = 0;
  private started = false;
  private trafficAt = 0;
  /** peers using this node as their relay hop, at the last heartbeat */
  relayUsers = 0;
  /** what our STATUS says about relay links through us (0 room, 1 full, 2 refuses) */
  private relayLevel: 0 | 1 | 2 = 0;
  /** relay-link pairs our data plane carries for others, and its hard limit (the last traffic sample) */
  relayPairs = { pairs: 0, max: Infinity };

  constructor(readonly o: VpnNodeOptions) {
    this.self = nodeIdOfKey(o.keys.publicKey);
    this.group = o.group;
    this.privateGroup = !!o.group;
    const wallOffsetMs = o.wallOffsetMs;
    const group = o.group;
    this.links = new LinkTable({
      self: this.self, keys: o.keys, random: o.random, wallOffsetMs, openAdmission: !!o.overlay,
      ...(o.carrier ? { carrier: o.carrier } : {}),
      ...(o.indexTaken ? { indexTaken: o.indexTaken } : {}),
      ...(group ? { group: { get ownDer() { return group.ownDer; }, verify: (k, c, e) => group.verify(k, c, e, this.t + wallOffsetMs) } } : {}),
      ...(o.gateway ? { gatewayClient: gatewayPolicy(o.gateway.allow, group) } : {}),
      // a new destination moves a sequential NAT's next port: the advertised predictions move with it
      sentTo: (ep) => this.advertised.sent(ep),
    }, this.out, this.counters, o.log);
    if (o.overlay) {
      this.overlay = new OverlayNode({
        id: this.self, endpoints: [...o.overlay.endpoints], rng: new Xoshiro128(o.seed),
        bootstrap: o.overlay.bootstrap, params: o.overlay.params ?? {}, events: false,
      });
      this.overlay.endpointsToward = (peer) => this.advertised.toward(peer);
      this.dht = attachDht(this.overlay);
      this.bcast = attachBroadcast(this.overlay, (_now, m) => this.onBroadcast(m.payload), {}, (id) => this.links.canCarry(id));
    } else {
      this.overlay = null; this.dht = null; this.bcast = null;
    }
    const ov = this.overlay;
    this.advertised = new AdvertisedEndpoints(ov?.endpoints ?? null, o.overlay?.endpoints ?? []);
    this.relays = ov ? new RelayLinks({ ...DEFAULT_RELAY, ...o.overlay?.relay }, this.self, o.keys.publicKey, this.links, {
      send: (to, msg, via) => ov.send(this.t, to, encodeApp(msg), { onDemand: false, ...(via !== undefined ? { via } : {}) }),
      keep: (hop, on) => { ov.keep(this.t, hop, K_RELAY, on); },
      rtt: (id) => ov.table.get(id)?.rttMs ?? null,
      endpoints: (peer) => (peer ? this.advertised.toward(peer) : ov.endpoints),
      full: (id) => ov.table.get(id)?.remoteRelayFull ?? false,
      refuses: (id) => ov.table.get(id)?.remoteRelayRefuses ?? false,
      heardAt: (id) => ov.table.get(id)?.lastHeard ?? null,
    }, this.counters, o.log) : null;
    if (ov && this.relays) { const relays = this.relays; ov.pathFailed = (now, id, since) => relays.at(now).pathFailed(id, since); }
    const dht = this.nodeDht();
    this.lan = o.lan && dht ? new LanResolver({ ...o.lan, key: o.keys.publicKey, fixed: group?.own.address ?? o.lan.fixed }, this, dht, this.out, this.counters, o.log) : null;
    this.gateways = o.lan && dht ? new GatewayList(o.lan.net, this.self, !!o.gateway, dht, this.counters) : null;
    const gws = this.gateways, lan = this.lan;
    this.tunnel = o.fullTunnel && gws && lan && ov ? new TunnelClient({
      lookup: (cb) => gws.at(this.t).lookup(cb),
      reach: (_node, address) => lan.at(this.t).reach(address),
      ping: (node, reqId) => ov.send(this.t, node, encodeApp({ app: 'gateway-ping', reqId })),
      use: (node) => this.links.at(this.t).setTunnel(node),
      trusted: (node) => {
        const want = o.fullTunnel?.gateways;
        if (!want?.length) return true;
        const cert = group?.certOf(node);
        return cert ? (cert.groups ?? []).some((g) => want.includes(g)) : null;
      },
    }, this.counters, o.log) : null;
    this.revocations = group && dht && o.lan ? new Revocations(o.lan.net, group, this, dht, this.counters) : null;
    this.punches = o.carrier && ov ? new CarriedPunch({
      carried: () => [...this.links.peers.values()].filter((p) => p.established && p.linked && p.carrier !== null).map((p) => p.nodeId),
      punch: (id) => ov.send(this.t, id, encodeApp({ app: 'punch', endpoints: o.carrier!.endpoints() }), { onDemand: false }),
      probe: (id, eps) => this.links.at(this.t).probeDirect(id, [...eps]),
    }, this.counters) : null;
    for (const p of o.peers ?? []) this.links.pin(p.publicKey, p.endpoint, p.allowed);
  }

  // ================================================================== inputs
  /** Heartbeat (the overlay's heartbeatMs, 500 ms by default; a static mesh is happy with the same). */
  tick(now: number): void {
    this.t = now;
    if (!this.started) this.start();
    this.overlay?.tick(now);
    this.links.at(now).tick();
    this.relays?.at(now).tick();
    this.punches?.tick(now);
    this.relayLoad(now);
    this.lan?.at(now).tick();
    this.gateways?.at(now).tick(this.joined(), this.lan?.address ?? null);
    this.tunnel?.at(now).tick(this.joined() && this.lan?.address != null);
    this.revocations?.tick(now);
    this.queries.tick(now);
    this.settle();
  }

  /** One input from the data plane (or the driver's traffic sample). */
  handle(now: number, i: NodeInput): void {
    this.t = now;
    this.links.at(now);
    this.relays?.at(now);
    this.lan?.at(now);
    switch (i.kind) {
      case 'handshake': this.links.onFrame(i.data, i.from); break;
      case 'control': {
        const p = this.links.peers.get(i.peerId);
        if (p) p.lastRx = now;
        // a peer that linked to us over a session we already held: its STATUS makes the link ours too
        if (p && !p.linked && this.overlay && kindOf(i.data) === 'status' && this.links.at(now).adopt(p.nodeId)) this.settle();
        if (p && this.overlay) this.overlay.receive(now, p.nodeId, i.data);
        else this.counters.add('control_unknown_peer');
        break;
      }
      case 'need_session': {
        const p = this.links.peers.get(i.peerId);
        if (!p) break;
        // no usable session (none yet, expired, or stale: data unanswered for 15 s): handshake when
        // the peer can be reached; traffic to a peer we are not linked with also asks for a link
        // a data route without an endpoint or a usable overlay hop (none was usable when it was installed,
        // or its hop died: the engine holds its packets): look for a hop again now, which also starts the
        // handshake through the overlay when there is no session
        const via = p.via !== null ? this.links.peers.get(p.via) : undefined;
        const pathless = !p.endpoint && p.relay === null && p.carrier === null && !(via?.established && via.endpoint);
        if (pathless && this.lan?.rehopNode(p.nodeId)) this.counters.add('need_session_rehop');
        else if (!this.links.needSession(i.peerId) && this.lan?.rehopNode(p.nodeId)) this.counters.add('need_session_rehop');
        if (!p.linked && !p.pinned) this.overlay?.noteTraffic(now, p.nodeId);
        break;
      }
      case 'rekey': this.links.needSession(i.peerId); break;
      case 'endpoint': this.links.roamed(i.peerId, i.from); break;
      case 'miss': if (this.lan) this.lan.onMiss(i.dst); else this.counters.add('miss_no_lan'); break;
      case 'source_unknown': if (this.lan && i.nodeId.length === 20) this.lan.onSourceUnknown(idFromBytes(i.nodeId), i.src); break;
      case 'traffic': this.onTraffic(now, i.peers); if (i.relay) this.relayPairs = i.relay; break;
      case 'send_failed': this.counters.add('send_failed'); break;
    }
    this.settle();
  }

  /** Commands for the data plane since the last call, in order. */
  pollCommands(): EngineCommand[] { return this.out.commands.splice(0); }
  /** Events for the embedder since the last call. */
  pollEvents(): NodeEvent[] { return this.out.events.splice(0); }

  // ================================================================== operator actions
  /** Ask a node for its ring neighbours (the crawl); `cb(null)` after a timeout. */
  queryNeighbours(now: number, id: NodeId, cb: (v: NeighbourSlots | null) => void): void {
    this.t = now;
    if (!this.overlay) { cb(null); return; }
    if (id === this.self) { cb(this.overlay.ringNeighbours()); return; }
    const reqId = this.queries.neighbours(now, id, QUERY_TIMEOUT_MS, cb);
    this.overlay.send(now, id, encodeApp({ app: 'neighbours-req', reqId }), { onDemand: false });
    this.settle();
  }

  /** `ringvpn ping`: an echo through the overlay to a node (an on-demand link follows the traffic); `cb(null)` after `timeoutMs`. */
  echo(now: number, id: NodeId, timeoutMs: number, cb: (r: EchoResult | null) => void): void {
    this.t = now;
    if (!this.overlay) { cb(null); return; }
    if (id === this.self) { cb({ rttMs: 0, hopsThere: 0, hopsBack: 0 }); return; }
    const reqId = this.queries.echo(now, id, timeoutMs, cb);
    this.overlay.send(now, id, encodeApp({ app: 'echo-request', reqId }));
    this.settle();
  }

  /** The public overlay carries a private overlay's handshake frame to a node (routed exactly to its id). */
  carryFrame(now: number, to: NodeId, bytes: Uint8Array): void {
    this.t = now;
    if (!this.overlay) { this.counters.add('carrier_no_overlay'); return; }
    this.counters.add('carrier_frames');
    this.overlay.send(now, to, encodeApp({ app: 'handshake', bytes }), { onDemand: false });
    this.settle();
  }

  /** A handshake frame for this (private) overlay that the public overlay carried from `src`. */
  overlayFrame(now: number, bytes: Uint8Array, src: NodeId): void {
    this.t = now;
    this.links.at(now).onOverlayFrame(bytes, src);
    this.settle();
  }

  /** A private overlay: a link to a member that discovery found (its key from its record). */
  linkMember(now: number, member: NodeId): void {
    this.t = now;
    this.links.at(now).link(member, []);
    this.settle();
  }

  /** A static mesh's configured peers changed (a reload); sessions of peers that stay are kept. */
  setPeers(now: number, peers: StaticPeer[]): { added: number; removed: number; changed: number } {
    this.t = now;
    const r = this.links.at(now).repin(peers.map((p) => ({ key: p.publicKey, endpoint: p.endpoint, allowed: p.allowed })));
    this.settle();
    return r;
  }

  /** The subnets this router announces changed (a reload); members learn the change by broadcast. */
  setRoutes(now: number, routes: string[]): { added: string[]; removed: string[] } {
    this.t = now;
    const r = this.lan ? this.lan.at(now).setRoutes(routes) : { added: [], removed: [] };
    this.settle();
    return r;
  }

  /** A CA-signed revocation record from the operator: apply, broadcast, store in the DHT. */
  publishRevocation(now: number, record: Uint8Array, done: (r: Record<string, unknown>) => void): void {
    this.t = now;
    if (!this.revocations) { done({ ok: false, code: 'E_PKI', message: 'this node is not in a private group (no pki section)' }); return; }
    this.revocations.publish(record, done);
    this.settle();
  }

  /** A revocation learned outside the overlay (a polled CRL): cut the node off. */
  revoke(now: number, node: NodeId, serial: string, how: string): void {
    this.t = now;
    this.cutOff(node, serial, how);
    this.settle();
  }

  /** Name -> address (DNS), from the DHT. */
  lookupName(now: number, name: string, cb: (ip: string | null) => void): void {
    this.t = now;
    if (!this.lan) { cb(null); return; }
    this.lan.at(now).lookupName(name, cb);
    this.settle();
  }

  status(engine?: { peers: { peerId: number }[] }): Record<string, unknown> { return nodeStatus(this, this.t, engine); }

  // ================================================================== LanHost / RevocationHost
  joined(): boolean { return (this.overlay?.joined ?? false) && (this.o.ringReady?.() ?? true); }
  route(node: NodeId, allowed: string[], via: NodeId | null, key: Uint8Array | undefined, initiate: boolean): void {
    const p = this.links.route(node, allowed, via, key, initiate);
    // a packet waits for this node: ask for the on-demand link now rather than at the next traffic
    // sample, since the overlay path of the first packets may end at a node without a direct link
    // (behind NATs, ring neighbours are often relay links, which the data plane cannot relay through)
    if (initiate && p && !p.linked) this.overlay?.noteTraffic(this.t, node);
  }
  unroute(node: NodeId): void { this.links.unroute(node); }
  noteTraffic(node: NodeId): void { this.overlay?.noteTraffic(this.t, node); }
  certified(node: NodeId): { address: string; subnets: string[] } | null {
    return this.group ? this.group.certOf(node) ?? null : null;
  }

  /**
   * Greedy next hop toward `id` among ring peers we reach directly with a session (null when linked to
   * `id` or none is usable; the nearest usable one when none is closer). A data-only peer (no overlay link) gets one even with an endpoint: the
   * data plane sends through it once the peer has been silent long enough for its NAT mapping to go.
   */
  nextHop(id: NodeId): NodeId | null {
    const direct = this.links.peerOf(id);
    if (direct?.established && ((direct.linked && direct.endpoint) || direct.relay !== null)) return null;
    if (!this.overlay) return null;
    // the data plane relays only through peers it reaches directly (a relay link's peer cannot carry RELAY frames)
    const usable = (p: NodeId): boolean => { const x = this.links.peerOf(p); return !!x?.established && !!x.endpoint; };
    const ring = this.overlay.ringPeers();
    const hop = greedyNextHopOrdered(this.self, id, ring, usable);
    // no closer hop (id is our ring neighbour and we cannot reach it directly): a neighbour linked to it,
    // as the overlay routes its own messages; else (behind a symmetric NAT the peers closer to id are often
    // relay links, which cannot carry RELAY frames) the direct peer nearest to id, from where greedy
    // forwarding goes on (it never hands the frame back: relay.rs next_hop skips the peer it came from)
    return hop ?? this.overlay.listedBy(id, usable) ?? nearestUsableOrdered(this.self, id, ring, usable);
  }

  announceRoutes(): void { this.broadcast(encodeApp({ app: 'routes' })); }

  broadcast(payload: Uint8Array): number {
    if (!this.bcast) return 0;
    const before = this.bcast.stats.forwarded;
    this.bcast.broadcast(this.t, payload);
    return this.bcast.stats.forwarded - before;
  }

  cutOff(node: NodeId, serial: string, how: string): void {
    if (node === this.self) { this.o.log.error({ serial, how }, 'our own certificate was revoked'); return; }
    this.lan?.forget(node);
    const had = this.links.at(this.t).ban(node);
    // the overlay drops the node now, before the caller broadcasts or stores anything: a DHT request
    // routed to it would be lost and wait for its retry
    this.settle();
    this.out.event({ type: 'revoked', nodeId: node, serial, how });
    this.o.log.warn({ nodeId: idToHex(node), serial, how, hadSession: had }, 'revoked node cut off');
  }

  // ================================================================== internals
  private start(): void {
    this.started = true;
    // a static mesh handshakes with every configured peer it has an endpoint for
    for (const p of this.links.peers.values()) if (p.pinned && p.endpoint) this.links.needSession(p.peerId);
  }

  /** The overlay's DHT as callbacks, stamped with `clock` (default: the time of the input being handled); null without an overlay. */
  nodeDht(clock: () => number = () => this.t): NodeDht | null {
    const d = this.dht;
    if (!d) return null;
    return {
      put: (k, v, ttl, cb) => d.put(clock(), k, v, ttl, cb),
      create: (k, v, ttl, cb) => d.create(clock(), k, v, ttl, cb),
      get: (k, cb) => d.get(clock(), k, cb),
      remove: (k, v, cb) => d.remove(clock(), k, v, cb),
    };
  }

  /**
   * Data flowing to or from a peer keeps its on-demand link (the engine counts data frames only), and
   * data received proves the link alive (passive liveness: no ping needed). The sample does not say
   * when in its window the data came, so the link counts as heard at the window's start.
   */
  private onTraffic(now: number, peers: TrafficSample[]): void {
    const windowStart = this.trafficAt;
    this.trafficAt = now;
    for (const s of peers) {
      const p = this.links.peers.get(s.peerId);
      if (!p) continue;
      const before = p.dataPackets, rxBefore = p.rxDataPackets;
      p.dataPackets = s.dataPackets;
      p.rxDataPackets = s.rxDataPackets ?? 0;
      if (p.allowed.length && s.dataPackets > before) this.overlay?.noteTraffic(now, p.nodeId);
      if (p.rxDataPackets > rxBefore) p.lastRx = now;
      if (p.rxDataPackets > rxBefore && p.linked) this.overlay?.table.heard(p.nodeId, windowStart);
      if (p.rxDataPackets > rxBefore) this.tunnel?.at(now).heard(p.nodeId, windowStart);
    }
  }

  /**
   * Relay load: peers that keep their link to us as a relay hop (their STATUS needs carry K_RELAY), and
   * the pairs our data plane carries (it refuses more than its limit). At maxUsers users, or at the
   * data plane's limit, we tell every peer we are full (no new relay links through us); below 3/4 of
   * both, open again.
   */
  private relayLoad(now: number): void {
    const ov = this.overlay;
    if (!ov || !this.relays) return;
    let users = 0;
    for (const c of ov.table.values()) if (c.remoteNeeds > 0 && (c.remoteNeeds & K_RELAY)) users++;
    this.relayUsers = users;
    const max = this.relays.o.maxUsers, dp = this.relayPairs;
    const soft = users >= max ? true : users < 0.75 * max ? false : this.relayLevel >= 1;
    const hard = dp.pairs >= dp.max ? true : dp.pairs < 0.75 * dp.max ? false : this.relayLevel === 2;
    this.relayLevel = hard ? 2 : soft ? 1 : 0;
    ov.setRelayFull(now, this.relayLevel);
  }

  /** Carry out the overlay's outputs and the link table's events until neither has any left. */
  private settle(): void {
    const ov = this.overlay;
    for (let i = 0; i < SETTLE_ROUNDS; i++) {
      if (ov?.out.length) { for (const o of ov.out.splice(0)) this.output(o); continue; }
      if (this.links.events.length) { for (const e of this.links.events.splice(0)) this.onLink(e); continue; }
      return;
    }
    this.counters.add('settle_overrun');
  }

  private output(o: Output): void {
    const ov = this.overlay!;
    switch (o.type) {
      case 'send': {
        if (!this.links.at(this.t).sendControl(o.to, o.bytes)) { this.counters.add('control_send_no_session'); return; }
        // what the overlay's own traffic is made of (ringvpn status: sent frames and bytes per message type)
        const k = 'tx_' + kindOf(o.bytes);
        this.counters.add(k); this.counters.add(k + '_bytes', o.bytes.length);
        return;
      }
      case 'link': this.links.at(this.t).link(o.to, o.endpoints, o.via); return;
      case 'unlink':
        // relay links through it move to a reserve first: unlinking a dead hop forgets it, and the link
        // table then loses every link still relayed through it (sessions reset, the overlay link down),
        // even one its reserve would have carried on (the far end, told of the move, kept the link)
        this.relays?.at(this.t).down(o.to);
        this.links.at(this.t).unlink(o.to, o.reason);
        this.lan?.at(this.t).rehop();
        return;
      case 'deliver': {
        const d = decodeApp(o.payload);
        if (!d.ok) { this.counters.add('app_' + d.code); return; }
        const m = d.msg;
        if (m.app === 'handshake') { if (!this.o.realmFrame?.(m.bytes, o.src)) this.links.at(this.t).onOverlayFrame(m.bytes, o.src); }
        else if (m.app === 'relay-sync') this.relays?.at(this.t).onSync(o.src, m);
        else if (m.app === 'punch') { if (!this.punches?.onPunch(this.t, o.src, m.endpoints ?? [])) this.relays?.at(this.t).onPunch(o.src, m.endpoints); }
        else if (m.app === 'echo-request') ov.send(this.t, o.src, encodeApp({ app: 'echo-reply', reqId: m.reqId, hops: o.hops }), { onDemand: false });
        else if (m.app === 'echo-reply') { if (!this.queries.echoReply(this.t, m.reqId, o.src, m.hops, o.hops)) this.counters.add('app_reply_unknown'); }
        else if (m.app === 'gateway-ping') {
          // only a gateway answers; whether its policy admits the member is in the answer
          if (this.o.gateway) ov.send(this.t, o.src, encodeApp({ app: 'gateway-pong', reqId: m.reqId, admitted: gatewayPolicy(this.o.gateway.allow, this.group)(o.src) }), { onDemand: false });
          else this.counters.add('app_gateway_ping_not_gateway');
        } else if (m.app === 'gateway-pong') {
          if (this.tunnel) this.tunnel.at(this.t).onPong(o.src, m.reqId, m.admitted); else this.counters.add('app_gateway_pong_unexpected');
        }
        else if (m.app === 'neighbours-req') ov.send(this.t, o.src, encodeApp({ app: 'neighbours-reply', reqId: m.reqId, view: ov.ringNeighbours() }), { onDemand: false });
        else if (m.app === 'neighbours-reply') { if (!this.queries.neighboursReply(m.reqId, m.view)) this.counters.add('app_reply_unknown'); }
        else this.counters.add('app_unexpected_' + m.app);
        return;
      }
      case 'event': return;
    }
  }

  private onLink(e: LinkEvent): void {
    const now = this.t;
    const ov = this.overlay;
    switch (e.ev) {
      case 'up':
        ov?.linkUp(now, e.nodeId, e.endpoints);
        this.relays?.at(now).linkedUp(e.nodeId);
        this.lan?.at(now).rehop();
        this.out.event({ type: 'peer-up', nodeId: e.nodeId, endpoint: this.links.peerOf(e.nodeId)?.endpoint ?? null });
        return;
      case 'down':
        ov?.linkDown(now, e.nodeId);
        this.relays?.at(now).down(e.nodeId);
        this.lan?.at(now).rehop();
        this.out.event({ type: 'peer-down', nodeId: e.nodeId });
        return;
      case 'session':
        this.relays?.at(now).up(e.nodeId);
        this.lan?.at(now).onSession(e.nodeId, !this.links.peerOf(e.nodeId)?.linked);
        this.out.event({ type: 'session', nodeId: e.nodeId, initiator: e.initiator, direct: e.direct });
        return;
      case 'overlay-send':
        // a private overlay's handshakes ride the public overlay, routed exactly to the member's public id
        if (this.o.carrier) { this.counters.add('handshake_via_carrier'); this.o.carrier.send(e.nodeId, e.bytes); }
        else if (ov) ov.send(now, e.nodeId, encodeApp({ app: 'handshake', bytes: e.bytes }), { onDemand: false, ...(e.via !== undefined ? { via: e.via } : {}) });
        else this.counters.add('handshake_no_overlay');
        return;
      case 'failed':
        if (e.to !== null) this.relays?.at(now).failed(e.to);
        ov?.linkFailed(now, e.to, e.endpoints);
        return;
      case 'observed':
        if (this.advertised.observed(now, e.endpoint, e.by, () => this.counters.add('nat_prediction_seen'))) {
          this.out.event({ type: 'endpoint', endpoint: e.endpoint });
          this.o.log.info({ endpoint: e.endpoint, node: idShort(this.self) }, 'learned our endpoint from a peer');
        }
        return;
      case 'direct-slow': this.relays?.at(now).wanted(e.nodeId, e.startedAt, e.via); return;
      case 'direct': this.relays?.at(now).direct(e.nodeId); return;
    }
  }

  private onBroadcast(payload: Uint8Array): void {
    const d = decodeApp(payload);
    if (d.ok && d.msg.app === 'routes') { this.lan?.at(this.t).routesChanged(); return; }
    if (!d.ok || d.msg.app !== 'revocation') { this.counters.add('broadcast_unknown'); return; }
    if (!this.revocations) { this.counters.add('broadcast_revocation_ignored'); return; }
    this.revocations.apply(d.msg.record, 'broadcast');
  }
}
