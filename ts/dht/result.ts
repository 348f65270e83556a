// Owns what a DHT operation reports: the result shape, majority agreement over replica replies, the
// disagreement flag and the stable error codes. Pure: it must not send, time or keep state.
import { type NodeId } from '../base/nodeid.js';
import { type DhtStatus, type DhtValue } from '../wire/overlay-codec.js';
import { bytesEqual, hexOf } from './store.js';

export type DhtErrorCode = DhtStatus | 'timeout' | 'no-majority';
export interface ValueView { value: Uint8Array; owner: NodeId; ttlMs: number; replicas: number }
export interface OpResult {
  ok: boolean;
  code: DhtErrorCode;
  /** replicas that answered, and of those the ones that accepted (put) */
  replies: number;
  accepted: number;
  /** get: every value seen, with how many replicas returned it; agreed = those on a majority */
  values: ValueView[];
  agreed: ValueView[];
  disagreement: boolean;
  /** mean request hops over the replies; virtual ms from start to the result */
  hops: number;
  latencyMs: number;
}
export type OpCallback = (r: OpResult) => void;

export interface ReplicaReply { status: DhtStatus; values: DhtValue[]; hops: number }

/** Fold the replies of one operation into its result: values with their replica counts, agreed = on a majority. */
export function summarize(replies: Iterable<ReplicaReply>, code: DhtErrorCode, majority: number, isGet: boolean, latencyMs: number): OpResult {
  const counts = new Map<string, ValueView & { ttlSum: number }>();
  let n = 0, accepted = 0, hops = 0;
  for (const x of replies) {
    n++; hops += x.hops;
    if (x.status === 'ok') accepted++;
    for (const v of x.values) {
      const name = v.owner.toString(16) + ':' + hexOf(v.value);
      const c = counts.get(name);
      if (c) { c.replicas++; c.ttlSum += v.ttlMs; } else counts.set(name, { value: v.value, owner: v.owner, ttlMs: 0, replicas: 1, ttlSum: v.ttlMs });
    }
  }
  const values: ValueView[] = [...counts.values()].map((c) => ({ value: c.value, owner: c.owner, ttlMs: Math.round(c.ttlSum / c.replicas), replicas: c.replicas }));
  return {
    ok: code === 'ok', code, replies: n, accepted,
    values, agreed: values.filter((v) => v.replicas >= majority),
    // the returned TTL is the mean over the replicas (Brunet); a value missing from some ok reply is a disagreement
    disagreement: isGet && values.some((v) => v.replicas !== accepted),
    hops: n ? hops / n : 0, latencyMs,
  };
}

export function sameValues(a: readonly DhtValue[], b: readonly DhtValue[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((x) => b.some((y) => y.owner === x.owner && bytesEqual(y.value, x.value)));
}

export function emptyResult(code: DhtErrorCode): OpResult {
  return { ok: false, code, replies: 0, accepted: 0, values: [], agreed: [], disagreement: false, hops: 0, latencyMs: 0 };
}
