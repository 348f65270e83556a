// Owns what a private group means to a running node, as a sans-IO piece: the policy interface the
// node asks (certificate verdicts, certified addresses, CA-signed revocation records) and revocation
// spreading (broadcast, DHT record, periodic pull). It must not read files, fetch CRLs or keep a
// clock: ts/runtime/membership.ts implements the policy with I/O, the simulator with virtual time.
import { idFromHex, type NodeId } from '../base/nodeid.js';
import { encodeApp } from '../wire/app.js';
import { bytes } from '../vpn/addressing.js';
import type { NodeDht } from './address-claim.js';
import type { Counters } from './io.js';

export interface CertifiedAddress { address: string; subnets: string[]; groups?: string[] }

/** The group policy: our certificate, verdicts on peers', and revocation records. */
export interface GroupPolicy {
  readonly ownDer: Uint8Array;
  readonly own: CertifiedAddress;
  /** May this key, with this certificate, be this node (at wall time `wallMs`)? */
  verify(noiseKey: Uint8Array, certificate: Uint8Array | null, expected: NodeId | undefined, wallMs: number): { ok: true } | { ok: false; code: string };
  /** what the certificate a node proved in its handshake allows it */
  certOf(node: NodeId): CertifiedAddress | undefined;
  /** check a CA-signed revocation record; `fresh` when it revokes something not known revoked */
  applyRecord(record: Uint8Array, how: string): { ok: boolean; fresh: boolean; code?: string; serial?: string; nodeId?: string };
  status(): Record<string, unknown>;
}

const PULL_MS = 60_000;
const RECORD_TTL_MS = 7 * 24 * 3600_000;

/** What revocation needs from the node. */
export interface RevocationHost {
  readonly self: NodeId;
  joined(): boolean;
  broadcast(payload: Uint8Array): number;
  /** close every session with the node and refuse it from now on */
  cutOff(node: NodeId, serial: string, how: string): void;
}

export class Revocations {
  private pullAt = 0;
  private pulling = false;

  constructor(private readonly net: string, private readonly policy: GroupPolicy, private readonly host: RevocationHost, private readonly dht: NodeDht, private readonly counters: Counters) {}

  private key(): Uint8Array { return bytes(`revoked:${this.net}`); }

  /** Apply a record from anywhere; a fresh revocation cuts the node off. */
  apply(record: Uint8Array, how: string): ReturnType<GroupPolicy['applyRecord']> {
    const r = this.policy.applyRecord(record, how);
    if (!r.ok) { this.counters.add('revocation_' + (r.code ?? 'refused')); return r; }
    if (r.fresh && r.nodeId) {
      const id = idFromHex(r.nodeId);
      if (id !== null) this.host.cutOff(id, r.serial ?? '', how);
    }
    return r;
  }

  /** A record from the control socket: apply it, broadcast it, store it in the DHT. */
  publish(record: Uint8Array, done: (r: Record<string, unknown>) => void): void {
    const r = this.apply(record, 'control');
    if (!r.ok) { done({ ok: false, code: r.code }); return; }
    const reached = this.host.broadcast(encodeApp({ app: 'revocation', record }));
    this.dht.put(this.key(), record, RECORD_TTL_MS, (x) => {
      done({ ok: true, serial: r.serial, nodeId: r.nodeId, fresh: r.fresh, broadcastTo: reached, storedInDht: x.ok });
    });
  }

  /** Heartbeat: read the group's records from the DHT every minute once joined. */
  tick(now: number): void {
    if (this.pulling || now < this.pullAt || !this.host.joined()) return;
    this.pullAt = now + PULL_MS;
    this.pulling = true;
    this.dht.get(this.key(), (r) => {
      this.pulling = false;
      for (const v of r.values) this.apply(v.value, 'dht');
    });
  }
}

/** A gateway's policy as a predicate: '*' admits every member, a group name the members whose certificate has it. */
export function gatewayPolicy(allow: readonly string[], group: GroupPolicy | undefined): (node: NodeId) => boolean {
  if (allow.includes('*')) return () => true;
  return (node) => (group?.certOf(node)?.groups ?? []).some((g) => allow.includes(g));
}
