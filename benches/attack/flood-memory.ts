// flood-memory.ts — owns the flood-memory probe of issue 12: does a flood leave memory behind in a daemon?
// A small overlay lab (3 daemons + a hostile namespace); node0 is flooded `--repeat` times for `--seconds`
// with one `ringvpn-flood` kind, 2.5 minutes apart; its RSS, V8 heap, external and native memory (RSS minus
// both), the glibc main heap (brk) and anonymous mappings are printed every 10 s, and /proc/PID/smaps is
// diffed before the first flood and after the last (mappings that changed by 200 KiB or more). Optional
// busy loops (`--hogs N`) compete for the CPU as the soak's 32 daemons do. It must not leave anything
// behind: the lab comes down in `finally`.
// Usage: tsx benches/attack/flood-memory.ts [--kind mixed] [--seconds 59] [--rate 20000] [--repeat 1] [--hogs 0]
import { readFileSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import { RingLab } from '../../ts/lab/ringlab.js';
import { startFlood, type FloodKind } from '../../ts/lab/flood.js';
import { sleep } from '../../ts/lab/util.js';

const { values: a } = parseArgs({
  options: {
    kind: { type: 'string', default: 'mixed' }, seconds: { type: 'string', default: '59' }, rate: { type: 'string', default: '20000' },
    repeat: { type: 'string', default: '1' }, hogs: { type: 'string', default: '0' }, help: { type: 'boolean', default: false },
  },
});
if (a.help) { process.stdout.write('usage: tsx benches/attack/flood-memory.ts [--kind mixed] [--seconds 59] [--rate 20000] [--repeat 1] [--hogs 0]\n'); process.exit(0); }
const SECS = Number(a.seconds), RATE = Number(a.rate), REPEAT = Number(a.repeat), HOGS = Number(a.hogs);

interface Mapping { key: string; sizeKiB: number; rssKiB: number; name: string }
function smaps(pid: number): Mapping[] {
  const out: Mapping[] = [];
  let cur: Mapping | null = null;
  for (const l of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const h = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(l);
    if (h) { cur = { key: `${h[1]} ${h[3]}`, sizeKiB: (parseInt(h[2]!, 16) - parseInt(h[1]!, 16)) / 1024, rssKiB: 0, name: h[4] ?? '' }; out.push(cur); continue; }
    const r = /^Rss:\s+(\d+)/.exec(l);
    if (r && cur) cur.rssKiB = Number(r[1]);
  }
  return out;
}

const hogs: ChildProcess[] = [];
const lab = await RingLab.up({ nodes: 4, reserve: 1, name: `fmem${process.pid % 1000}`, onProgress: () => undefined });
try {
  const v = lab.node(0), pid = v.pid!;
  for (let i = 0; i < HOGS; i++) hogs.push(spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' }));
  const t0 = Date.now();
  const show = async (phase: string): Promise<void> => {
    const [st] = await lab.statuses(1, [0]);
    const m = (st?.status as { memory: Record<string, number> } | undefined)?.memory;
    if (!m) { process.stdout.write(`${phase}: no status\n`); return; }
    const M = (b: number): string => (b / 2 ** 20).toFixed(1);
    const sm = smaps(pid);
    const sum = (f: (x: Mapping) => boolean): string => (sm.filter(f).reduce((s, x) => s + x.rssKiB, 0) / 1024).toFixed(1);
    process.stdout.write(`${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s ${phase.padEnd(6)} rss ${M(m.rssBytes!)} heapTotal ${M(m.heapTotalBytes!)} external ${M(m.externalBytes!)} ` +
      `native ${M(m.rssBytes! - m.heapTotalBytes! - m.externalBytes!)} brk ${sum((x) => x.name === '[heap]')} anon ${sum((x) => x.name === '')} (MiB; full GCs ${m.fullGcs}, trims ${m.nativeTrims})\n`);
  };
  for (let i = 0; i < 4; i++) { await show('before'); await sleep(10_000); }
  const before = smaps(pid);
  for (let rep = 0; rep < REPEAT; rep++) {
    const flood = startFlood(lab.node(3).ns, { target: `${v.underlay}:${lab.config(0).listenPort ?? 51820}`, kind: a.kind as FloodKind, seconds: SECS, rate: RATE, pubkey: v.publicKey });
    for (let i = 0; i < Math.ceil(SECS / 10); i++) { await sleep(10_000); await show('flood'); }
    process.stdout.write(`flood ${rep + 1}: ${JSON.stringify(await flood.done)}\n`);
    for (let i = 0; i < 15; i++) { await sleep(10_000); await show('after'); }
  }
  const after = smaps(pid), was = new Map(before.map((x) => [x.key, x]));
  process.stdout.write('mappings whose RSS changed by 200 KiB or more (first flood to now):\n');
  for (const x of after) {
    const b = was.get(x.key), d = x.rssKiB - (b?.rssKiB ?? 0);
    if (Math.abs(d) >= 200) process.stdout.write(`  ${x.key} size ${x.sizeKiB} KiB rss ${b?.rssKiB ?? '-'} -> ${x.rssKiB} KiB (${d > 0 ? '+' : ''}${d}) ${x.name}${b ? '' : ' new'}\n`);
  }
  for (const b of before) if (!after.some((x) => x.key === b.key) && b.rssKiB >= 200) process.stdout.write(`  ${b.key} size ${b.sizeKiB} KiB rss ${b.rssKiB} KiB gone ${b.name}\n`);
} finally {
  for (const h of hogs) h.kill('SIGKILL');
  await lab.down();
}
