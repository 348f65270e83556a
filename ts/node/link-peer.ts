// Owns the link table's records: one peer as the link table keeps it (node id, engine peer id, key,
// path: endpoint, relay or overlay hop), the table's options and the events it raises for the VpnNode.
// Types only; the logic is in link-table.ts (and relay-links.ts for relays).
import type { NodeId } from '../base/nodeid.js';

export interface LinkPeer {
  peerId: number;
  nodeId: NodeId;
  key: Uint8Array | null;
  endpoint: string | null;
  /** a session is installed in the data plane */
  established: boolean;
  /** the overlay core holds a connection over it (or, in a static mesh, the peer is reachable) */
  linked: boolean;
  /** a configured peer of a static mesh: never forgotten, its routes come from the config */
  pinned: boolean;
  /** data routes (virtual address, announced subnets) and the overlay hop used until a session exists */
  allowed: string[];
  via: number | null;
  /** a relay link: the peer id of the common neighbour that carries this link (overrides via) */
  relay: number | null;
  /** a private overlay's peer without a path of its own: the public overlay's engine peer that carries its frames (Carrier) */
  carrier: number | null;
  /** when the overlay link came up, and the round trip a probe measured on the direct path */
  linkedAt: number | null;
  rttMs: number | null;
  lastHandshake: number | null;
  /** when a frame from the peer last arrived (a probe answer, a direct handshake, CONTROL, data in a traffic sample) */
  lastRx: number | null;
  handshakes: number;
  /** our last handshake response carried through the overlay, and when: see onProbe */
  overlayResponse: { bytes: Uint8Array; at: number } | null;
  /** data frames counted by the engine at the last traffic sample (both ways, and received) */
  dataPackets: number;
  rxDataPackets: number;
}

/** What the link table tells the node; drained by the VpnNode after every call. */
export type LinkEvent =
  | { ev: 'up'; nodeId: NodeId; endpoints: string[] }
  | { ev: 'session'; nodeId: NodeId; initiator: boolean; direct: boolean }
  | { ev: 'overlay-send'; nodeId: NodeId; bytes: Uint8Array; via?: NodeId }
  | { ev: 'failed'; to: NodeId | null; endpoints: string[] }
  | { ev: 'down'; nodeId: NodeId }
  | { ev: 'observed'; endpoint: string; by: string }
  /** a link attempt got no direct answer for DIRECT_SLOW_MS: time to look for a relay */
  | { ev: 'direct-slow'; nodeId: NodeId; endpoints: string[]; via?: NodeId; startedAt: number }
  /** a relay link's peer answered on a direct path: the relay (hop peer id) is no longer used for it */
  | { ev: 'direct'; nodeId: NodeId; hop: number };

export interface GroupVerifier {
  /** our certificate now (read at every handshake: a renewed one is presented from then on) */
  readonly ownDer: Uint8Array;
  verify(noiseKey: Uint8Array, certificate: Uint8Array | null, expected?: NodeId): { ok: true } | { ok: false; code: string };
}

/**
 * What a private overlay's link table borrows from the public overlay of the same daemon (one socket, one
 * engine; docs/private-overlays.md): its realm tag and peer id range, the static keys discovery read, a path
 * to a member, and the public overlay to carry handshakes. The public overlay sees only ciphertext.
 */
export interface Carrier {
  /** the realm tag of our initiations (frames.ts) */
  realm: number;
  /** our engine peer ids start above this (the public overlay's are below 2^24) */
  peerIdBase: number;
  /** a member's static key, from its discovery record (null: unknown) */
  keyOf(node: NodeId): Uint8Array | null;
  /** the public overlay's path to a node: its fresh direct endpoint, else the engine peer id of its greedy next hop */
  path(node: NodeId): { endpoint: string | null; hop: number | null };
  /** the endpoints we advertise (the public overlay's reading of the shared socket: learned ones, NAT predictions) */
  endpoints(): string[];
  /** carry a handshake frame to a node through the public overlay (routed exactly to its public id) */
  send(node: NodeId, bytes: Uint8Array): void;
}

export interface LinkTableOptions {
  self: NodeId;
  keys: { privateKey: Uint8Array; publicKey: Uint8Array };
  random: (n: number) => Uint8Array;
  /** wall-clock offset added to `now` for the handshake's TAI64N timestamps (peers refuse older ones) */
  wallOffsetMs: number;
  /** anyone whose node id is the hash of its key may handshake (overlay); false: configured peers only */
  openAdmission: boolean;
  group?: GroupVerifier;
  /** MAX_PEERS unless a test says otherwise */
  maxPeers?: number;
  /** a gateway's policy: may this member send to any destination through us (the data plane's gatewayClient)? */
  gatewayClient?: (node: NodeId) => boolean;
  /** every endpoint a frame is sent to from here (a new one is a new mapping on a symmetric NAT) */
  sentTo?: (endpoint: string) => void;
  /** a private overlay: what it borrows from the public one */
  carrier?: Carrier;
  /** a local index another overlay of the same engine holds: never allocated here */
  indexTaken?: (index: number) => boolean;
}
