// Owns a running node: wires the config, the handshake machine and the native data plane together,
// serves the control socket, and keeps sessions fresh. It must not parse frames or touch packets.
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:net';
import type { Config } from '../config/schema.js';
import { encodeKey } from '../config/keys.js';
import { Handshaker, type HandshakeAction } from '../handshake/handshake.js';
import { serveControl, type ControlRequest } from './control.js';
import { startEngine, drainEngine, type DataPlane, type EngineEvent } from './engine.js';
import type { Logger } from './log.js';

const TICK_MS = 250;

interface PeerState {
  id: number;
  name: string;
  publicKey: string;
  address: string;
  endpoint: string | null;
  /** Prefixes the peer may send from and we route to it: its address plus allowedIps. */
  allowed: string[];
  lastHandshake: number | null;
  handshakes: number;
}

export interface DaemonDeps {
  now?: () => number;
  random?: (n: number) => Uint8Array;
  startEngine?: typeof startEngine;
}

export class Daemon {
  private engine: DataPlane | undefined;
  private control: Server | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly handshaker: Handshaker;
  private readonly peers = new Map<number, PeerState>();
  private readonly rejected = new Map<string, number>();
  private readonly now: () => number;
  private readonly startedAt: number;
  private stopping = false;

  constructor(private readonly cfg: Config, private readonly log: Logger, private readonly deps: DaemonDeps = {}) {
    this.now = deps.now ?? Date.now;
    this.startedAt = this.now();
    this.handshaker = new Handshaker({
      staticPrivate: cfg.privateKeyBytes,
      staticPublic: cfg.publicKeyBytes,
      random: deps.random ?? ((n) => new Uint8Array(randomBytes(n))),
    });
    cfg.peers.forEach((p, i) => {
      const id = i + 1;
      this.peers.set(id, {
        id, name: p.name ?? p.address, publicKey: p.publicKey, address: p.address,
        endpoint: p.endpoint ?? null, allowed: [`${p.address}/32`, ...p.allowedIps],
        lastHandshake: null, handshakes: 0,
      });
      this.handshaker.addPeer(id, p.publicKeyBytes);
    });
  }

  /** Brings the device up, opens the socket and the control socket, and starts handshakes. */
  async start(): Promise<void> {
    const c = this.cfg;
    this.engine = (this.deps.startEngine ?? startEngine)({
      mode: c.device.mode, ifname: c.device.name, mtu: c.device.mtu,
      listenPort: c.listenPort, listenAddress: c.listenAddress, address: c.address,
      threads: c.dataplane.threads,
    }, () => this.pump());
    try {
      for (const p of this.peers.values()) this.engine.setPeer(p.id, p.endpoint, p.allowed);
      this.control = await serveControl(c.controlSocket, (req) => this.onControl(req));
    } catch (e) {
      this.engine.close();
      this.engine = undefined;
      throw e;
    }
    this.log.info({ device: c.device.name, mode: c.device.mode, address: c.address, listen: this.engine.localAddr(), publicKey: encodeKey(c.publicKeyBytes), peers: this.peers.size, control: c.controlSocket }, 'ringvpn up');
    for (const p of this.peers.values()) if (p.endpoint) this.initiate(p.id, 'start');
    this.timer = setInterval(() => this.onTick(), TICK_MS);
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    await new Promise<void>((r) => (this.control ? this.control.close(() => r()) : r()));
    this.engine?.close();
    this.engine = undefined;
    this.log.info('ringvpn down');
  }

  private initiate(peerId: number, why: string): void {
    const p = this.peers.get(peerId);
    if (!p || !this.engine) return;
    if (!p.endpoint) {
      this.log.debug({ peer: p.name, why }, 'no endpoint known; waiting for the peer to reach us');
      return;
    }
    this.log.debug({ peer: p.name, why }, 'handshake initiation');
    this.apply(this.handshaker.initiate(peerId, this.now()), null);
  }

  /** Drains every queued event from the data plane (the addon signals once per batch). */
  private pump(): void {
    drainEngine(this.engine, (ev) => this.onEvent(ev), this.log);
  }

  private onEvent(ev: EngineEvent): void {
    switch (ev.kind) {
      case 'handshake':
        if (ev.data && ev.from) this.apply(this.handshaker.receive(new Uint8Array(ev.data), this.now()), ev.from);
        break;
      case 'need_session':
        if (ev.peerId != null) this.initiate(ev.peerId, 'traffic waiting');
        break;
      case 'rekey':
        if (ev.peerId != null) this.initiate(ev.peerId, 'rekey');
        break;
      case 'endpoint': {
        const p = ev.peerId != null ? this.peers.get(ev.peerId) : undefined;
        if (p && ev.from) { p.endpoint = ev.from; this.log.info({ peer: p.name, endpoint: ev.from }, 'peer roamed'); }
        break;
      }
      case 'control':
        this.log.debug({ peer: ev.peerId, bytes: ev.data?.length }, 'control message (no overlay yet; ignored)');
        break;
      default:
        this.log.debug({ kind: ev.kind }, 'unknown engine event');
    }
  }

  private apply(actions: HandshakeAction[], from: string | null): void {
    const engine = this.engine;
    if (!engine) return;
    for (const a of actions) {
      if (a.kind === 'send') {
        // A reply goes back where the message came from; our own initiations go to the known endpoint.
        const to = from ?? this.peers.get(a.peerId)?.endpoint ?? null;
        if (to) engine.sendFrame(to, Buffer.from(a.bytes));
      } else if (a.kind === 'established') {
        const p = this.peers.get(a.peerId);
        if (!p) continue;
        if (from && from !== p.endpoint) {
          p.endpoint = from;
          engine.setPeer(p.id, from, p.allowed);
        }
        const s = a.session;
        engine.setSession(p.id, {
          localIndex: s.localIndex, remoteIndex: s.remoteIndex,
          sendKey: Buffer.from(s.sendKey), recvKey: Buffer.from(s.recvKey), initiator: s.initiator,
        });
        if (!s.initiator) {
          // A responder's session is confirmed to the initiator only by traffic; send a keepalive now.
          engine.sendKeepalive(p.id);
        }
        for (const old of a.expiredLocalIndices ?? []) engine.removeSession(old);
        p.lastHandshake = this.now();
        p.handshakes += 1;
        this.log.info({ peer: p.name, endpoint: p.endpoint, initiator: s.initiator }, 'session established');
      } else if (a.kind === 'retired') {
        engine.removeSession(a.localIndex);
      } else if (a.kind === 'failed') {
        const p = this.peers.get(a.peerId);
        this.log.warn({ peer: p?.name, endpoint: p?.endpoint, code: a.code }, 'handshake gave up after 90 s; will retry when traffic needs it');
      } else if (a.kind === 'rejected') {
        this.rejected.set(a.code, (this.rejected.get(a.code) ?? 0) + 1);
        this.log.warn({ from, code: a.code }, 'handshake rejected');
      }
    }
  }

  private onTick(): void {
    if (!this.engine) return;
    this.apply(this.handshaker.tick(this.now()), null);
  }

  private onControl(req: ControlRequest): unknown {
    if (req.cmd === 'status') return this.status();
    if (req.cmd === 'ping') return 'pong';
    throw Object.assign(new Error(`unknown command ${JSON.stringify(req.cmd)}`), { code: 'E_BAD_REQUEST' });
  }

  status(): unknown {
    const c = this.cfg;
    const stats = this.engine?.stats();
    const enginePeers = new Map((stats?.peers ?? []).map((p) => [p.peerId, p]));
    return {
      device: c.device.name, mode: c.device.mode, address: c.address, publicKey: encodeKey(c.publicKeyBytes),
      listen: this.engine?.localAddr() ?? null, uptimeMs: this.now() - this.startedAt,
      peers: [...this.peers.values()].map((p) => ({
        ...p, lastHandshakeAgoMs: p.lastHandshake === null ? null : this.now() - p.lastHandshake,
        dataplane: enginePeers.get(p.id) ?? null,
      })),
      handshakeRejected: Object.fromEntries(this.rejected),
      counters: stats ? Object.fromEntries(Object.entries(stats).filter(([k]) => k !== 'peers' && k !== 'drops')) : {},
      drops: stats?.drops ?? {},
    };
  }
}
