// Owns a daemon's memory budget: the periodic full collection and native heap trim, the RSS limit past
// which new strangers are refused (LinkTable.overBudget), and the `memory` section of the status. It
// must not decide anything else about peers: the link table applies the refusal.
import type { Logger } from '../base/log.js';
import { fixNativeHeapThresholds, trimNativeHeap } from '../native/binding.js';

/** The RSS a daemon with 50 links is expected to stay inside under any input (README, Security). */
export const MEMORY_BUDGET_BYTES = 80 * 1024 * 1024;
/** Over the budget, new strangers are refused until RSS is back under this share of it. */
const BUDGET_RESUME = 0.9;
/** The room the budget leaves above a compiled daemon's start (about 64 MiB): a process that starts higher gets as much. */
const BUDGET_HEADROOM = 16 * 1024 * 1024;
/**
 * A full collection at least this often when `gc` is exposed (bin/ringvpn passes --expose-gc), as
 * Go's runtime forces one every 2 minutes: a daemon allocates slowly, so V8 would let promoted
 * garbage pile up in the old generation for hours before its next major GC (the soak saw the JS
 * heap climb 1.5 MB per 10 minutes on every daemon with its links and tables flat).
 */
const FULL_GC_MS = 120_000;
/**
 * The first of them this long after the daemon starts: start-up (compiling the modules, the config,
 * the first handshakes and TurboFan's first optimisations) leaves about 4 MiB freed but resident in
 * glibc's arenas, which the trim gives back.
 */
const FIRST_GC_MS = 10_000;

const mib = (b: number): string => (b / 2 ** 20).toFixed(1);

export class MemoryBudget {
  private gcAt = FIRST_GC_MS - FULL_GC_MS;
  /** RSS past which new strangers are refused: the budget, or the start plus BUDGET_HEADROOM if higher */
  private limit: number | null = null;
  private gcs = 0;
  private trims = 0;
  private gcMs: number | null = null;
  /** glibc took the fixed trim and mmap thresholds (false off glibc) */
  private readonly heapThresholdsFixed: boolean;

  /** `now`: the daemon's monotonic clock (ms). The daemon checks only once its data plane runs, so the native heap is there to trim. */
  constructor(private readonly now: () => number, private readonly log: Logger) {
    // before the node's threads have churned through memory: left dynamic, glibc's thresholds rise
    // after the first large free and each arena then keeps its freed top (a flood's compile zones)
    this.heapThresholdsFixed = fixNativeHeapThresholds();
  }

  /** A full collection FIRST_GC_MS after start and every FULL_GC_MS after it, and before RSS is judged over the budget (when gc is exposed). */
  private collect(force: boolean): void {
    const gc = (globalThis as { gc?: () => void }).gc;
    const now = this.now();
    if (!gc || (!force && now - this.gcAt < FULL_GC_MS)) return;
    this.gcAt = now;
    gc();
    // and the native heap: glibc keeps what a burst freed (a flood filling the event queue) in its arenas
    if (trimNativeHeap()) this.trims++;
    this.gcs++;
    this.gcMs = Math.round((this.now() - now) * 10) / 10;
  }

  /**
   * Collects when due and says whether the node is over its budget: over it, the node refuses new
   * strangers (admit_over_budget) and keeps its links, until RSS is back under 90 % of the limit.
   */
  check(overBefore: boolean): boolean {
    if (this.limit === null) {
      // A process that starts above the budget (the TypeScript run through tsx, an embedding
      // service) cannot be held to it: it is held to its start plus the budget's headroom instead.
      const start = process.memoryUsage.rss();
      this.limit = Math.max(MEMORY_BUDGET_BYTES, start + BUDGET_HEADROOM);
      if (start > MEMORY_BUDGET_BYTES) this.log.warn({ rssMiB: mib(start), budgetMiB: mib(MEMORY_BUDGET_BYTES), limitMiB: mib(this.limit) }, 'started over the memory budget (not the compiled daemon?): new peers are refused only past the limit');
    }
    const limit = this.limit;
    this.collect(false);
    if (process.memoryUsage.rss() > limit && !overBefore) this.collect(true);
    const rss = process.memoryUsage.rss();
    const over = rss > limit || (overBefore && rss > limit * BUDGET_RESUME);
    if (over !== overBefore) {
      if (over) this.log.warn({ rssMiB: mib(rss), limitMiB: mib(limit) }, 'over the memory budget: refusing new peers until RSS is back under 90 % of it');
      else this.log.info({ rssMiB: mib(rss) }, 'back under the memory budget: admitting new peers again');
    }
    return over;
  }

  /** The status's `memory` section. */
  status(refusingNewPeers: boolean): Record<string, number | boolean | null> {
    const m = process.memoryUsage();
    return { rssBytes: m.rss, heapUsedBytes: m.heapUsed, heapTotalBytes: m.heapTotal, externalBytes: m.external, arrayBuffersBytes: m.arrayBuffers, budgetBytes: MEMORY_BUDGET_BYTES, limitBytes: this.limit ?? MEMORY_BUDGET_BYTES, refusingNewPeers, fullGcs: this.gcs, nativeTrims: this.trims, nativeHeapThresholdsFixed: this.heapThresholdsFixed, lastFullGcMs: this.gcMs };
  }
}
