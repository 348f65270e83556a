// Owns the lab's generic helpers that the labs, the network tests and the benchmarks share: bounded
// parallel map, abortable waits, sleep, ping from a namespace, a file's last lines and signalling a
// process group. It must not know about lab state, configs or daemons.
import { readFileSync } from 'node:fs';
import { errors } from '../base/errors.js';
import type { Netns } from './netns.js';

/** Runs `fn` over `items` with at most `limit` at a time; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

/** `p`, or E_LAB_ABORTED as soon as `signal` fires (the work behind `p` is left to the teardown). */
export function untilAborted<T>(signal: AbortSignal | undefined, p: Promise<T>): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(errors.E_LAB_ABORTED('interrupted'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(errors.E_LAB_ABORTED('interrupted'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Poll `fn` every `everyMs` until it gives a truthy value (errors count as not yet); throws naming `what` after `timeoutMs`. */
export async function until<T>(what: string, timeoutMs: number, fn: () => Promise<T | null | undefined | false>, everyMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => null);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await sleep(everyMs);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Pings `to` from inside `ns`; returns the number of replies. */
export async function ping(ns: Netns, to: string, count = 3, timeoutS = 1): Promise<number> {
  const r = await ns.exec('ping', ['-c', String(count), '-i', '0.2', '-W', String(timeoutS), to], { allowFail: true });
  if (/exec of "ping" failed/.test(r.stderr)) throw errors.E_LAB_MISSING_TOOL('ping is not installed (apt-get install iputils-ping)');
  const m = /(\d+) received/.exec(r.stdout);
  return m ? Number(m[1]) : 0;
}

/** Ping with detail: replies received, and the round trip of the very first echo request (null when unanswered). */
export async function pingFirst(ns: Netns, to: string, count = 6, timeoutS = 3): Promise<{ received: number; firstMs: number | null }> {
  const r = await ns.exec('ping', ['-c', String(count), '-i', '0.2', '-W', String(timeoutS), to], { allowFail: true });
  if (/exec of "ping" failed/.test(r.stderr)) throw errors.E_LAB_MISSING_TOOL('ping is not installed (apt-get install iputils-ping)');
  const m = /(\d+) received/.exec(r.stdout);
  const first = /icmp_seq=1 .*time=([\d.]+) ms/.exec(r.stdout);
  return { received: m ? Number(m[1]) : 0, firstMs: first ? Number(first[1]) : null };
}

/** Last `n` lines of a file ('' when missing). */
export function tailFile(path: string, n = 15): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '';
  }
}

/** Signals the process group of `pid` (labs spawn detached, so pid leads its group), else the process. */
export function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    try { process.kill(pid, sig); } catch { /* already gone */ }
  }
}
