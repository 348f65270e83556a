// Owns what a VpnNode is built from (ts/node/vpn-node.ts): the overlay, LAN, group, gateway and static
// mesh options a driver (the daemon, the simulator, a realm) passes in. Types only: no behaviour here.
import type { Params } from '../core/params.js';
import type { Logger } from '../base/log.js';
import type { NodeId } from '../base/nodeid.js';
import type { LanOptions } from './lan-resolver.js';
import type { Carrier } from './link-peer.js';
import type { GroupPolicy } from './group.js';
import type { RelayOptions } from './relay-links.js';

export interface OverlayOptions {
  bootstrap: string[];
  /** endpoints we advertise (more are learned from what peers see) */
  endpoints: string[];
  params?: Partial<Params>;
  /** relay links for pairs without a direct path (default: on, latency policy) */
  relay?: Partial<RelayOptions>;
}

export interface StaticPeer { publicKey: Uint8Array; endpoint: string | null; allowed: string[] }

export interface VpnNodeOptions {
  keys: { privateKey: Uint8Array; publicKey: Uint8Array };
  /** entropy: handshake ephemerals, indices, probe tokens */
  random: (n: number) => Uint8Array;
  /** seed of the overlay's PRNG (shortcut distances, DHT request ids) */
  seed: number;
  /** added to `now` for wall-clock uses (handshake timestamps, certificate windows) */
  wallOffsetMs: number;
  log: Logger;
  /** overlay mode: join a ring */
  overlay?: OverlayOptions;
  /** the virtual LAN (overlay mode) */
  lan?: Omit<LanOptions, 'key'>;
  /** a private group: certificates in every handshake, revocation */
  group?: GroupPolicy;
  /** a gateway (issue 14): members whose certificate has one of these groups ('*': every member) may send to any destination through us */
  gateway?: { allow: string[] };
  /** a full-tunnel client (issue 14): route the Internet through the fastest live gateway of the DHT's list; `gateways`: certificate groups a gateway must hold */
  fullTunnel?: { gateways?: string[] };
  /** static mesh: configured peers, no ring */
  peers?: StaticPeer[];
  /** a private overlay over the daemon's public one (ts/node/realms.ts): what it borrows from it */
  carrier?: Carrier;
  /**
   * a private overlay over a public one starts as a ring of its own: it counts as joined (claims its address,
   * reads revocations) only once this says its ring has formed (ts/node/realms.ts: discovery read the members)
   */
  ringReady?: () => boolean;
  /** a local index another overlay of the same engine holds (ts/node/realms.ts) */
  indexTaken?: (index: number) => boolean;
  /** the public overlay of a daemon with private overlays: a handshake frame carried to us is offered here first (true: another realm took it) */
  realmFrame?: (bytes: Uint8Array, src: NodeId) => boolean;
}
