// Owns a virtual network's gateway list in the DHT (paper §4.2: "a config flag appends it to the group's
// gateway list in the DHT"): a gateway puts its record (owner: its node id, value: its virtual address) with
// a lease and re-puts it at half the lease; any member reads the list. Sans-IO: time comes with each call,
// DHT answers as callbacks. It must not choose a gateway for a client or touch the OS.
import type { NodeId } from '../base/nodeid.js';
import { idShort } from '../base/nodeid.js';
import { bytes, dhtKeys, text } from '../vpn/addressing.js';
import type { NodeDht } from './address-claim.js';
import type { Counters } from './io.js';

/** A gateway record lives this long without a re-put (so a dead gateway leaves the list within it). */
export const GATEWAY_LEASE_MS = 60_000;
/** A failed put is tried again after this long. */
const RETRY_MS = 5_000;

export interface GatewayRecord { node: NodeId; address: string }

export class GatewayList {
  private t = 0;
  private putAt = 0;
  private busy = false;
  private lastPut: { at: number; ok: boolean } | null = null;

  /** `announce`: this node is a gateway (gateway.enable) */
  constructor(private readonly net: string, private readonly self: NodeId, private readonly announce: boolean, private readonly dht: NodeDht, private readonly counters: Counters) {}

  at(now: number): this { this.t = now; return this; }

  /** Heartbeat: a gateway with an address in a joined ring (re-)puts its record when due. */
  tick(joined: boolean, address: string | null): void {
    if (!this.announce || !joined || !address || this.busy || this.t < this.putAt) return;
    this.busy = true;
    this.dht.put(dhtKeys.gateways(this.net), bytes(address), GATEWAY_LEASE_MS, (r) => {
      this.busy = false;
      this.lastPut = { at: this.t, ok: r.ok };
      this.putAt = this.t + (r.ok ? GATEWAY_LEASE_MS / 2 : RETRY_MS);
      this.counters.add(r.ok ? 'gateway_put' : 'gateway_put_failed');
    });
  }

  /** The gateways listed now (not this node), or null when the DHT did not answer. */
  lookup(cb: (gateways: GatewayRecord[] | null) => void): void {
    this.dht.get(dhtKeys.gateways(this.net), (r) => {
      if (!r.ok) { cb(null); return; }
      const seen = new Set<NodeId>();
      const out: GatewayRecord[] = [];
      for (const v of r.values) {
        if (v.owner === this.self || seen.has(v.owner)) continue;
        seen.add(v.owner);
        out.push({ node: v.owner, address: text(v.value) });
      }
      cb(out);
    });
  }

  status(): { announcing: boolean; lastPut: { at: number; ok: boolean } | null } {
    return { announcing: this.announce, lastPut: this.lastPut };
  }

  /** For logs: a record as short text. */
  static show(g: GatewayRecord): string { return `${idShort(g.node)} ${g.address}`; }
}
