// punch-matrix.ts (lab) — the hole-punch matrix with real daemons and netfilter NATs: two nodes behind
// each kind netfilter can build (full cone, address-restricted, port-restricted = MASQUERADE, symmetric =
// MASQUERADE --random-fully), each on a site of its own, plus two public nodes. Every ordered pair pings
// (first contact), then after `--settle` seconds the path each source holds to each target is read from
// its status: a cell per (source NAT, target NAT) with the paths seen. Writes benches/results/punch-matrix-lab.{json,md}.
// Usage (root): node --import tsx benches/lab/punch-matrix.ts [--settle 15]
import { writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { RingLab } from '../../ts/lab/ringlab.js';
import { sleep } from '../../ts/lab/util.js';

const NATS = ['full-cone', 'address-restricted', 'port-restricted', 'symmetric'] as const;
const KINDS = ['public', ...NATS] as const;
const SETTLE_S = (() => { const i = process.argv.indexOf('--settle'); return i > 0 ? Number(process.argv[i + 1]) : 15; })();
const say = (s: string): void => { process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`); };

async function main(): Promise<void> {
  const name = 'p' + randomBytes(3).toString('hex');
  const dir = `/tmp/ringvpn-lab-${name}`;
  const sites = NATS.flatMap((k) => [1, 2].map((n) => ({ name: `${k.split('-')[0]}${n}`, nat: k })));
  const t0 = Date.now();
  const lab = await RingLab.up({ topology: { public: 2, sites, firewall: [] }, name, dir, onProgress: (l) => say(l) });
  try {
    const kindOf = lab.state.nodes.map(() => 'public' as string);
    for (const s of lab.state.topology!.sites) for (const i of s.nodes) kindOf[i] = s.nat;
    const c1 = await lab.check({ count: 6, allUpTo: 16 });
    say(`first contact: ${c1.pairs.reachable}/${c1.pairs.total} pairs answered, first echo ${c1.first.answered}`);
    await sleep(SETTLE_S * 1000);
    const c2 = await lab.check({ count: 3, allUpTo: 16 });
    say(`after ${SETTLE_S} s: ${c2.pairs.reachable}/${c2.pairs.total} reachable, paths ${JSON.stringify(c2.paths?.counts)}`);
    const idx = new Map(lab.state.nodes.map((s, i) => [s.name, i]));
    const cells: Record<string, Record<string, number>> = {};
    for (const p of c2.paths!.pairs) {
      const key = `${kindOf[idx.get(p.from)!]}|${kindOf[idx.get(p.to)!]}`;
      const c = (cells[key] ??= {});
      c[p.kind] = (c[p.kind] ?? 0) + 1;
    }
    const unreachable = c2.pairs.unreachable.map((u) => `${u.from}(${kindOf[idx.get(u.from)!]}) -> ${u.to}(${kindOf[idx.get(u.to)!]})`);
    const commit = process.env.RINGVPN_BENCH_COMMIT ?? 'working tree';
    writeFileSync('benches/results/punch-matrix-lab.json', JSON.stringify({ commit, settleS: SETTLE_S, reachable: c2.pairs.reachable, total: c2.pairs.total, unreachable, cells, crawl: c2.crawl.ok }, null, 2) + '\n');
    const text = (c: Record<string, number> | undefined): string => (c ? Object.entries(c).sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k} ${v}`).join(', ') : '-');
    const md = [
      '# Hole-punch matrix (namespaces, netfilter NATs)',
      '',
      `\`node --import tsx benches/lab/punch-matrix.ts --settle ${SETTLE_S}\` (root), code at ${commit}, ${Math.round((Date.now() - t0) / 1000)} s. Two public nodes and two nodes behind each NAT kind netfilter builds (each on its own site); every ordered pair pinged, then after ${SETTLE_S} s the path each source holds to each target, from its status (pairs per cell: 4, 2 on the diagonal; public x public 2). ${c2.pairs.reachable}/${c2.pairs.total} pairs reachable${unreachable.length ? ` (not: ${unreachable.join(', ')})` : ''}; ring crawl ${c2.crawl.ok ? 'consistent' : 'NOT consistent'}.`,
      '',
      `| source \\\\ target | ${KINDS.join(' | ')} |`,
      `|---|${KINDS.map(() => '---').join('|')}|`,
      ...KINDS.map((a) => `| ${a} | ${KINDS.map((b) => text(cells[`${a}|${b}`])).join(' | ')} |`),
      '',
    ].join('\n');
    writeFileSync('benches/results/punch-matrix-lab.md', md);
    process.stdout.write(md);
  } finally {
    await RingLab.down(name, { dir });
  }
}

main().catch((e) => { process.stderr.write(`${(e as Error).stack ?? e}\n`); process.exit(1); });
