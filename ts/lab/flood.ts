// Owns running the hostile traffic generator (crates/attack, `ringvpn-flood`) inside a lab namespace
// and reading a daemon's memory while it runs, for tests/net/flood.test.ts and benches/attack.
// It must not aim anything outside the lab's own namespaces.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../paths.js';
import { errors } from '../base/errors.js';
import type { Netns, NsProcess } from './netns.js';

export const FLOOD_BIN = join(repoRoot, 'target/release/ringvpn-flood');

export type FloodKind = 'junk-init' | 'mac1-init' | 'inits' | 'data' | 'mixed';

export interface FloodOptions {
  target: string;
  kind: FloodKind;
  seconds: number;
  /** datagrams per second; 0: as fast as the machine sends */
  rate?: number;
  /** source addresses (already on the namespace's interface); none: the interface's own */
  sources?: string[];
  /** the victim's static key (base64), for initiations with a valid mac1 */
  pubkey?: string;
  threads?: number;
}

export interface FloodResult { kind: string; sent: number; failed: number; seconds: number; rate: number }

export interface RunningFlood { proc: NsProcess; done: Promise<FloodResult> }

/** Start `ringvpn-flood` in `ns`; `done` resolves with what it sent. */
export function startFlood(ns: Netns, o: FloodOptions): RunningFlood {
  if (!existsSync(FLOOD_BIN)) throw errors.E_LAB_MISSING_TOOL(`${FLOOD_BIN} is missing: run \`cargo build --release -p ringvpn-attack\` (scripts/ensure-built does)`);
  const args = ['--target', o.target, '--kind', o.kind, '--seconds', String(o.seconds), '--rate', String(o.rate ?? 0), '--threads', String(o.threads ?? 1)];
  if (o.sources?.length) args.push('--sources', o.sources.join(','));
  if (o.pubkey) args.push('--pubkey', o.pubkey);
  const proc = ns.spawn(FLOOD_BIN, args, { pipe: true });
  let out = '';
  let err = '';
  proc.child.stdout?.on('data', (b: Buffer) => { out += b.toString(); });
  proc.child.stderr?.on('data', (b: Buffer) => { err += b.toString(); });
  // 'exit' can come before the last of stdout: wait for the streams to close too
  const closed = new Promise<void>((resolve) => { proc.child.once('close', () => resolve()); });
  const done = Promise.all([proc.exited, closed]).then(([code]) => {
    const line = out.trim().split('\n').pop() ?? '';
    if (code !== 0 || !line.startsWith('{')) throw errors.E_LAB_START(`ringvpn-flood exited with ${code}: ${err.trim() || out.trim()}`);
    return JSON.parse(line) as FloodResult;
  });
  return { proc, done };
}

/** Add `count` extra IPv4 addresses `prefix.(first + i)/len` to `dev` in `ns` (flood sources). */
export async function addSources(ns: Netns, dev: string, prefix: string, first: number, count: number, len = 24): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const a = `${prefix}.${first + i}`;
    await ns.exec('ip', ['addr', 'add', `${a}/${len}`, 'dev', dev]);
    out.push(a);
  }
  return out;
}

/** VmRSS of a process and its anonymous and file-backed parts, in KiB (null when it is gone). */
export function rssPartsKiB(pid: number | null): { rss: number | null; anon: number | null; file: number | null } {
  if (pid === null) return { rss: null, anon: null, file: null };
  try {
    const st = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (k: string): number | null => { const m = new RegExp(`^${k}:\\s+(\\d+)\\s+kB`, 'm').exec(st); return m ? Number(m[1]) : null; };
    return { rss: kib('VmRSS'), anon: kib('RssAnon'), file: kib('RssFile') };
  } catch {
    return { rss: null, anon: null, file: null };
  }
}

/** VmRSS of a process in KiB (null when it is gone). */
export function rssKiB(pid: number | null): number | null {
  return rssPartsKiB(pid).rss;
}
