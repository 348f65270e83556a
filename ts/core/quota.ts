// Owns the per-member quotas of the overlay: a token bucket per (kind, node id) for what an
// authenticated member may make us do (CONTROL messages over its link, connect-to-me requests and
// DHT puts it originates, broadcasts it originates), in a bounded table, and the throttle counts
// `ringvpn status` shows. Sans-IO (time is an input); it must not decide anything but yes or no.
import { type NodeId, idToHex } from '../base/nodeid.js';

export type QuotaKind = 'control' | 'ctm' | 'bcast' | 'dht-put';

export interface QuotaRule { perSec: number; burst: number }
export type QuotaRules = Record<QuotaKind, QuotaRule>;

/**
 * Generous for members, tight for floods: a ring member forwards routed messages for many others
 * (control), links a handful of times a minute (ctm), rarely broadcasts (revocations, routes) and
 * stores a few records (addresses, names, revocations).
 */
export const DEFAULT_QUOTAS: QuotaRules = {
  control: { perSec: 1000, burst: 4000 },
  ctm: { perSec: 2, burst: 30 },
  bcast: { perSec: 1, burst: 10 },
  'dht-put': { perSec: 10, burst: 100 },
};

/** Buckets remembered (ids are chosen by peers: a flood of fresh ids evicts the oldest buckets). */
export const QUOTA_TABLE_MAX = 4096;
/** Throttled members listed in status (the most throttled). */
const OFFENDERS_SHOWN = 8;

interface Bucket { tokens: number; at: number }

export class Quotas {
  private readonly buckets = new Map<string, Bucket>();
  private readonly byMember = new Map<NodeId, number>();
  /** throttled messages per kind */
  readonly throttled: Record<QuotaKind, number> = { control: 0, ctm: 0, bcast: 0, 'dht-put': 0 };

  constructor(private readonly rules: QuotaRules = DEFAULT_QUOTAS) {}

  /** True when `id` may do one more `kind` at `now` (ms); a refusal is counted against it. */
  allow(kind: QuotaKind, id: NodeId, now: number): boolean {
    const rule = this.rules[kind];
    const key = kind + id.toString(36);
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= QUOTA_TABLE_MAX) this.buckets.delete(this.buckets.keys().next().value!);
      b = { tokens: rule.burst, at: now };
      this.buckets.set(key, b);
    }
    b.tokens = Math.min(rule.burst, b.tokens + (Math.max(0, now - b.at) * rule.perSec) / 1000);
    b.at = now;
    if (b.tokens >= 1) { b.tokens -= 1; return true; }
    this.throttled[kind]++;
    if (!this.byMember.has(id) && this.byMember.size >= QUOTA_TABLE_MAX) this.byMember.delete(this.byMember.keys().next().value!);
    this.byMember.set(id, (this.byMember.get(id) ?? 0) + 1);
    return false;
  }

  /** For status: counts per kind and the most throttled members. */
  status(): { throttled: Record<QuotaKind, number>; members: Array<{ nodeId: string; throttled: number }> } {
    const members = [...this.byMember].sort((a, b) => b[1] - a[1]).slice(0, OFFENDERS_SHOWN)
      .map(([id, n]) => ({ nodeId: idToHex(id), throttled: n }));
    return { throttled: { ...this.throttled }, members };
  }
}
