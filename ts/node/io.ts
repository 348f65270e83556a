// Owns the vocabulary of the VPN node's seam: what a driver feeds a VpnNode (inputs), what the node
// asks of the data plane (engine commands) and what it tells its embedder (node events).
// It must not hold logic; the engine side mirrors the binding (bindings/index.d.ts) value for value.
import type { NodeId } from '../base/nodeid.js';

/** Session keys as the handshake produces them and Rust's setSession takes them (Uint8Array form). */
export type { SessionKeys } from '../handshake/handshake.js';
import type { SessionKeys } from '../handshake/handshake.js';

/** Data frames (not CONTROL, not keepalives) of one engine peer since the engine started, both ways and received. */
export interface TrafficSample { peerId: number; dataPackets: number; rxDataPackets?: number }

/** What the data plane reports (the engine's events, plus the per-peer data counters the driver samples). */
export type NodeInput =
  | { kind: 'handshake'; from: string; data: Uint8Array }
  | { kind: 'control'; peerId: number; data: Uint8Array }
  | { kind: 'need_session'; peerId: number }
  | { kind: 'rekey'; peerId: number; localIndex: number }
  | { kind: 'endpoint'; peerId: number; from: string }
  | { kind: 'miss'; dst: string }
  | { kind: 'source_unknown'; nodeId: Uint8Array; src: string }
  /**
   * data frames (not CONTROL, not keepalives) per engine peer since the engine started; `relay`: the
   * relay-link pairs the data plane carries for others and its limit (relayMaxSessions)
   */
  | { kind: 'traffic'; peers: TrafficSample[]; relay?: { pairs: number; max: number } }
  /** the engine failed to send a frame the node asked for (socket error) */
  | { kind: 'send_failed'; endpoint: string };

/** One command for the data plane; a driver applies them in order (the order matters on the wire). */
export type EngineCommand =
  | { cmd: 'setPeer'; peerId: number; endpoint: string | null; allowed: string[]; nodeId: Uint8Array | null; via: number | null; hop?: boolean; relayOnly?: boolean; gatewayClient?: boolean; forgetEndpoint?: boolean }
  | { cmd: 'removePeer'; peerId: number }
  | { cmd: 'setSession'; peerId: number; keys: SessionKeys }
  | { cmd: 'removeSession'; localIndex: number }
  | { cmd: 'sendFrame'; endpoint: string; bytes: Uint8Array }
  | { cmd: 'sendControl'; peerId: number; bytes: Uint8Array }
  | { cmd: 'sendKeepalive'; peerId: number }
  | { cmd: 'setAddress'; cidr: string | null; assign: boolean };

/** What the node tells whoever embeds it (the daemon, the simulator, a library user). */
export type NodeEvent =
  | { type: 'address'; address: string; prefix: number }
  | { type: 'routes'; routes: { cidr: string; gateway: string }[] }
  | { type: 'peer-up'; nodeId: NodeId; endpoint: string | null }
  | { type: 'peer-down'; nodeId: NodeId }
  | { type: 'session'; nodeId: NodeId; initiator: boolean; direct: boolean }
  | { type: 'revoked'; nodeId: NodeId; serial: string; how: string }
  | { type: 'refused'; code: string; from: string | null }
  | { type: 'endpoint'; endpoint: string }
  | { type: 'error'; code: string; message: string };

/** One echo's answer (`ringvpn ping`): the round trip and the overlay hops each way (1: a direct connection). */
export interface EchoResult { rttMs: number; hopsThere: number; hopsBack: number }

/** Sink for commands and events: the node's outbox. */
export class Outbox {
  readonly commands: EngineCommand[] = [];
  readonly events: NodeEvent[] = [];
  cmd(c: EngineCommand): void { this.commands.push(c); }
  event(e: NodeEvent): void { this.events.push(e); }
}

/** Counters per stable reason; every refusal and drop in the node is one of these. */
export class Counters {
  readonly values: Record<string, number> = {};
  add(k: string, n = 1): void { this.values[k] = (this.values[k] ?? 0) + n; }
}
