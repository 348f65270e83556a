// Owns the seam to the Rust data plane: loads the N-API addon and types what crosses it.
// It must not make decisions; the daemon does. Packets never cross this seam, only commands and events.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { repoRoot } from '../paths.js';
import { RingvpnError } from '../config/errors.js';

export interface EngineConfig {
  mode: 'tap' | 'tun';
  ifname: string;
  mtu?: number;
  listenPort: number;
  listenAddress?: string;
  address?: string;
  virtualMac?: string;
  threads?: number;
  /** This node's 20-byte overlay id; the engine relays (RELAY frames) only when it has one. */
  nodeId?: Buffer;
  /** IPv4 address whose UDP port 53 queries come up as `device` events (the ARP proxy answers
   * for it; other traffic to it is dropped as `service_unhandled`). */
  serviceAddress?: string;
  /** Hand DHCP requests (IPv4 UDP to port 67) up as `device` events. Default false. */
  interceptDhcp?: boolean;
}

/** Relay settings of `setPeer`; an omitted field keeps its current value. */
export interface PeerOptions {
  /** The peer's 20-byte overlay node id. */
  nodeId?: Buffer;
  /** Peer id of the overlay hop that carries this peer's end-to-end frames (sealed with this
   * peer's own session, inside RELAY frames) while it has no endpoint; null clears it. */
  via?: number | null;
  /** Send through `via` even when the peer has an endpoint (no working direct path). Default false. */
  relayOnly?: boolean;
}

export interface SessionKeys {
  localIndex: number;
  remoteIndex: number;
  sendKey: Buffer;
  recvKey: Buffer;
  initiator: boolean;
}

/**
 * One engine event. handshake: `from` (source), `data` (whole frame, types 1/2/3/7); control:
 * `peerId`, `data` (decrypted payload); need_session: `peerId`; rekey: `peerId`, `localIndex`;
 * endpoint: `peerId`, `from` (new address); device: `data` (intercepted DHCP/DNS frame as read:
 * TAP Ethernet frame, TUN IP packet); miss: `from` (destination IP without a route, at most 1/s
 * each); source_unknown: `data` (20-byte node id of the peer), `from` (inner source IP): an
 * authenticated packet (direct or relayed end to end) from that peer whose source is outside its
 * allowed prefixes (dropped `source_not_allowed`), at most 1/s per node id.
 */
export interface EngineEvent {
  kind: 'handshake' | 'control' | 'need_session' | 'rekey' | 'endpoint' | 'device' | 'miss' | 'source_unknown' | string;
  from?: string | null;
  peerId?: number | null;
  localIndex?: number | null;
  data?: Buffer | null;
}

/** The commands the control plane gives the data plane (the addon's Engine class has this shape). */
export interface DataPlane {
  setPeer(peerId: number, endpoint: string | null, allowedIps: string[], opts?: PeerOptions): void;
  removePeer(peerId: number): void;
  setSession(peerId: number, keys: SessionKeys): void;
  removeSession(localIndex: number): void;
  sendFrame(endpoint: string, data: Buffer): void;
  sendControl(peerId: number, data: Buffer): void;
  sendKeepalive(peerId: number): void;
  /** Replace the engine's own address and virtual prefix ("10.77.0.5/16", null clears); with
   * `assign` also set it on the OS interface (false when an OS DHCP client assigns it). */
  setAddress(cidr: string | null, assign: boolean): void;
  /** Write one frame to the device (TAP: Ethernet frame; TUN: IP packet). Throws E_FRAME on a bad length. */
  writeDevice(frame: Buffer): void;
  drainEvents(): EngineEvent[];
  stats(): EngineStats;
  localAddr(): string;
  close(): void;
}

/** Per-peer stats; the native engine always fills every field (optional here so fakes need not). */
export interface EnginePeerStats {
  [k: string]: unknown;
  peerId: number;
  /** Hex node id, or null. */
  nodeId?: string | null;
  /** The via hop's peer id, or null. */
  via?: number | null;
  /** Sent through the via hop even with an endpoint. */
  relayOnly?: boolean;
  /** This peer's end-to-end frames sent inside RELAY frames through its via hop (outer frame bytes;
   * the inner frames also count in txPackets/txBytes). */
  txRelayedPackets?: number;
  txRelayedBytes?: number;
  /** RELAY frames for us whose end-to-end frame from this peer opened (outer frame bytes; the inner
   * frames also count in rxPackets/rxBytes). */
  rxRelayedPackets?: number;
  rxRelayedBytes?: number;
}

export interface EngineStats {
  [k: string]: unknown;
  /** RELAY frames forwarded to a next hop (always present from the native engine). */
  relayForwarded?: number;
  /** Device frames handed up as `device` events (always present from the native engine). */
  deviceIntercepted?: number;
  drops: Record<string, number>;
  peers: EnginePeerStats[];
}

interface Binding {
  Engine: { start(config: EngineConfig, onEvents: (...args: unknown[]) => void): DataPlane };
  [k: string]: unknown;
}

let binding: Binding | undefined;

export function loadBinding(): Binding {
  if (binding) return binding;
  const require = createRequire(import.meta.url);
  const path = join(repoRoot, 'bindings/index.js');
  try {
    binding = require(path) as Binding;
  } catch (e) {
    throw new RingvpnError('E_ENGINE', `the native data plane is not built or does not load (${(e as Error).message.split('\n')[0]}); run \`npm install\` or \`npm run build\``);
  }
  return binding;
}

export function startEngine(config: EngineConfig, onEvents: () => void): DataPlane {
  const b = loadBinding();
  try {
    return b.Engine.start(config, () => onEvents());
  } catch (e) {
    const msg = (e as Error).message;
    throw new RingvpnError('E_ENGINE', `cannot start the data plane: ${msg}`);
  }
}

/** Drain every queued event (the addon signals once per batch); a failing handler is logged, never fatal. */
export function drainEngine(engine: DataPlane | undefined, onEvent: (ev: EngineEvent) => void, log: { error(o: object, msg: string): void }): void {
  if (!engine) return;
  for (const ev of engine.drainEvents()) {
    try {
      onEvent(ev);
    } catch (e) {
      log.error({ err: e, kind: ev.kind }, 'event handler failed');
    }
  }
}
