// Diagnostic (not a test, not in CI): where an idle lab's bytes go over time. Starts an N-node lab,
// runs one reachability check, then every 30 s sums every node's status counters and prints what
// changed: bytes sent, overlay messages sent by type (tx_<type>_bytes), DHT view changes, repairs and
// entries moved. This is how the DHT hand-over storm of 2026-12-01 was found (README, Benchmarks).
// Run (root): node --import tsx benches/lab/idle-burst.ts [N=64]   (about 6 minutes for 64 nodes)
import { RingLab } from '../../ts/lab/ringlab.js';
const N = Number(process.argv[2] ?? 64);
const flat = (o: unknown, path: string, out: Map<string, number>): void => {
  if (typeof o === 'number') { out.set(path, (out.get(path) ?? 0) + o); return; }
  if (Array.isArray(o)) { out.set(path + '#', (out.get(path + '#') ?? 0) + o.length); for (const x of o) flat(x, path + '[]', out); return; }
  if (o && typeof o === 'object') for (const [k, v] of Object.entries(o)) flat(v, path ? `${path}.${k}` : k, out);
};
const sample = async (lab: RingLab): Promise<Map<string, number>> => {
  const m = new Map<string, number>();
  for (const r of await lab.statuses(16)) flat(r.status, '', m);
  return m;
};
const lab = await RingLab.up({ nodes: N, name: 'burst', onProgress: () => {} });
try {
  const c = await lab.check({ sample: 4 });
  console.log('check', c.ok, c.pairs.reachable, '/', c.pairs.total, 'first', c.first.answered);
  let prev = await sample(lab);
  const t0 = Date.now();
  for (let k = 1; k <= 9; k++) {
    await new Promise((r) => setTimeout(r, 30_000));
    const cur = await sample(lab);
    const d = [...cur].map(([key, v]) => [key, v - (prev.get(key) ?? 0)] as [string, number])
      .filter(([key, v]) => v !== 0 && (/^node\.tx_(dht_transfer|dht_sync-digest|status|routed_ctm)(_bytes)?$/.test(key) || /^dht\.(viewChanges|repairs|syncsSent|transfersSent|entriesSent|entriesReceived|entries)$/.test(key) || key === 'counters.txBytes' || key === 'connections#' || /^dht\.drops/.test(key)));
    console.log(`t=${Math.round((Date.now() - t0) / 1000)}s conns=${cur.get('connections#')}`, d.map(([key, v]) => `${key}=${v}`).join(' '));
    prev = cur;
  }
} finally { await lab.down(); }
