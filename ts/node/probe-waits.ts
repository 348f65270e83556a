// Owns the probes a node has sent and waits on: one per (endpoint, expected node), a random token each,
// resent every PROBE_RETRY_MS up to PROBE_TRIES times. Pure bookkeeping: it returns what to send and what
// expired; the link table sends the frames (wire/probe.ts) and decides what an answer means.
import type { NodeId } from '../base/nodeid.js';

export interface ProbeWait { endpoint: string; to: NodeId | null; endpoints: string[]; tries: number; sentAt: number }

export const PROBE_RETRY_MS = 1_000;
export const PROBE_TRIES = 5;

export class ProbeWaits {
  private readonly waits = new Map<number, ProbeWait>();

  get size(): number { return this.waits.size; }

  /** A new wait for `endpoint` (expecting `to`, or anyone when null) and its token; null when one is already out. */
  start(endpoint: string, to: NodeId | null, endpoints: string[], now: number, random: (n: number) => Uint8Array): number | null {
    for (const w of this.waits.values()) if (w.endpoint === endpoint && w.to === to) return null;
    const r = random(4);
    const token = ((r[0]! << 24) | (r[1]! << 16) | (r[2]! << 8) | r[3]!) >>> 0;
    this.waits.set(token, { endpoint, to, endpoints, tries: 1, sentAt: now });
    return token;
  }

  /** Whether a probe with this token is out (an answer with it is ours to take). */
  has(token: number): boolean { return this.waits.has(token); }

  /** The wait an answer from `from` with `token` ends (removed), or null for an unsolicited answer. */
  take(token: number, from: string): ProbeWait | null {
    const w = this.waits.get(token);
    if (!w || w.endpoint !== from) return null;
    this.waits.delete(token);
    return w;
  }

  /** At `now`: the probes to send again (token, endpoint) and the waits that ran out of tries (removed). */
  due(now: number): { resend: Array<{ token: number; endpoint: string }>; expired: ProbeWait[] } {
    const resend: Array<{ token: number; endpoint: string }> = [], expired: ProbeWait[] = [];
    for (const [token, w] of this.waits) {
      if (now - w.sentAt < PROBE_RETRY_MS) continue;
      if (w.tries >= PROBE_TRIES) { this.waits.delete(token); expired.push(w); continue; }
      w.tries++; w.sentAt = now;
      resend.push({ token, endpoint: w.endpoint });
    }
    return { resend, expired };
  }
}
