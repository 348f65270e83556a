// Owns the endpoint list this node advertises (the overlay's, which CTMs, replies and relay messages carry):
// configured endpoints and local candidates first, then a sequential NAT's predicted ports, then the newest
// endpoints peers reported. It must not send anything; the NAT reading itself is NatClassifier's.
import { NatClassifier } from './nat-class.js';

/** learned (peer-reported) endpoints kept in the list, the newest */
const LEARNED_KEEP = 4;

export class AdvertisedEndpoints {
  readonly nat: NatClassifier;
  /** the predicted endpoints currently in the list */
  private predictedEps: string[] = [];

  /** `eps`: the overlay's list, changed in place (null without an overlay: the NAT is only read); `configured`: the endpoints from the configuration */
  constructor(private readonly eps: string[] | null, private readonly configured: readonly string[]) {
    this.nat = new NatClassifier(configured);
  }

  /** A frame is sent to `endpoint`: a new destination moves a sequential NAT's next port, and the predictions with it. */
  sent(endpoint: string): void { if (this.nat.sent(endpoint) && this.predictedEps.length) this.advertisePredicted(); }

  /** A peer at `by` reports our packets come from `endpoint`; true when the list gained it (a new learned endpoint). */
  observed(now: number, endpoint: string, by: string, seen: () => void): boolean {
    this.nat.observe(now, endpoint, by);
    if (!this.eps) return false;
    const added = this.learn(this.eps, endpoint, seen);
    this.advertisePredicted();
    return added;
  }

  /**
   * The list for a peer at `peer` (a CTM reply, a PUNCH) behind a NAT that hands out ports in sequence: the
   * ports our probes to it will come from (NatClassifier.predictedToward) right after the configured
   * endpoints, where the first 8 a message carries include them; then the list as advertised.
   */
  toward(peer: readonly string[]): string[] {
    const eps = this.eps ?? [];
    const toward = this.predictedEps.length ? this.nat.predictedToward(peer) : [];
    if (!toward.length) return eps;
    const head = eps.filter((e) => this.configured.includes(e));
    return [...new Set([...head, ...toward, ...eps.filter((e) => !head.includes(e))])];
  }

  private learn(eps: string[], ep: string, seen: () => void): boolean {
    const p = this.predictedEps.indexOf(ep);
    if (p >= 0) { this.predictedEps.splice(p, 1); eps.splice(eps.indexOf(ep), 1); seen(); }
    if (eps.includes(ep)) return false;
    // the configured endpoints (and local candidates) stay; of the learned ones the newest LEARNED_KEEP
    const learned = eps.filter((e) => !this.configured.includes(e) && !this.predictedEps.includes(e));
    if (learned.length >= LEARNED_KEEP) eps.splice(eps.indexOf(learned[0]!), 1);
    eps.push(ep);
    return true;
  }

  /**
   * Behind a NAT that hands out ports in sequence, advertise the ports its next mappings will most likely
   * get (NatClassifier.predicted): a peer behind a port-restricted NAT then sends to the port our probes
   * will come from, and its NAT lets them in. They replace the previous predictions in the list.
   */
  private advertisePredicted(): void {
    const eps = this.eps;
    if (!eps) return;
    const next = this.nat.predicted().filter((e) => !eps.includes(e) || this.predictedEps.includes(e));
    if (next.length === this.predictedEps.length && next.every((e, i) => e === this.predictedEps[i])) return;
    for (const e of this.predictedEps) { const i = eps.indexOf(e); if (i >= 0) eps.splice(i, 1); }
    this.predictedEps = next;
    // after the configured endpoints, before the learned ones: a CTM carries the first 8 (a sequential
    // NAT's learned mappings serve only the peers that reported them, which hold links already)
    let at = 0;
    while (at < eps.length && this.configured.includes(eps[at]!)) at++;
    eps.splice(at, 0, ...next);
  }
}
