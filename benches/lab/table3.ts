// table3.ts — the paper's Table 3 filled by its method: two members whose direct path is blocked by a
// firewall (the `firewall` NAT lab preset: full-cone sites fwa and fwb drop UDP between each other), and
// the path their traffic takes instead: a relay link chosen latency-aware, one chosen stability-aware,
// overlay routing (relays off), and a direct link (no firewall) as the reference. The relay candidates
// are the seed (the oldest link of both) and the open site; this kernel has no netem, so their RTTs are
// alike (sub-ms) and the latency policy picks by measured noise. For each row: relay set-up time (first
// echo request to the moment the sender's status shows the relay link), then netperf TCP_RR and
// TCP_STREAM through the VPN, several labs x several runs, medians and spread.
// Must not assert: it measures and writes benches/results/table3.{json,md,svg}.
// Usage: node --import tsx benches/lab/table3.ts [--labs 3] [--runs 3] [--seconds 5] [--out benches/results]
//        [--rows direct,latency,stability,overlay] (a subset: rows named by their first word)
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { RingLab } from '../../ts/lab/ringlab.js';
import { sleep } from '../../ts/lab/util.js';
import { netperfRR, netperfStream, startServers } from '../dataplane/tools.js';

type Row = 'direct' | 'latency relay' | 'stability relay' | 'overlay routing';
const ALL_ROWS: Row[] = ['direct', 'latency relay', 'stability relay', 'overlay routing'];
const ROWS: Row[] = (() => {
  const i = process.argv.indexOf('--rows');
  if (i < 0) return ALL_ROWS;
  const want = process.argv[i + 1]!.split(',');
  const rows = ALL_ROWS.filter((r) => want.includes(r.split(' ')[0]!));
  if (rows.length !== want.length) throw new Error(`--rows: one of ${ALL_ROWS.map((r) => r.split(' ')[0]).join(', ')}`);
  return rows;
})();

const arg = (k: string, d: number): number => { const i = process.argv.indexOf(`--${k}`); return i > 0 ? Number(process.argv[i + 1]) : d; };
const LABS = arg('labs', 3), RUNS = arg('runs', 3), SECONDS = arg('seconds', 5);
const outDir = (() => { const i = process.argv.indexOf('--out'); return i > 0 ? process.argv[i + 1]! : 'benches/results'; })();
const say = (s: string): void => { process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`); };

interface Sample { setupMs: number | null; firstReplyMs: number | null; path: string; rrTps: number[]; rrP50Us: number[]; streamMbps: number[]; failed: string[] }

const median = (xs: number[]): number | null => { if (!xs.length) return null; const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]!; };
const spread = (xs: number[]): [number, number] | null => (xs.length ? [Math.min(...xs), Math.max(...xs)] : null);

async function oneLab(row: Row, k: number): Promise<Sample> {
  const name = 't' + randomBytes(3).toString('hex');
  const dir = `/tmp/ringvpn-lab-${name}`;
  const topology = row === 'direct'
    ? { public: 1, sites: [{ name: 'fwa', nat: 'full-cone' as const }, { name: 'fwb', nat: 'full-cone' as const }, { name: 'open', nat: 'full-cone' as const }], firewall: [] }
    : 'firewall';
  const policy = row === 'stability relay' ? 'stability' : 'latency';
  const lab = await RingLab.up({
    topology, name, dir,
    edit: (cfg) => { (cfg as { overlay: Record<string, unknown> }).overlay = { ...(cfg as { overlay?: Record<string, unknown> }).overlay, relay: { enabled: row !== 'overlay routing', policy } }; },
  });
  const logs = mkdtempSync(join(tmpdir(), 'rvb-table3-'));
  try {
    const site = (n: string): number => lab.state.topology!.sites.find((s) => s.name === n)!.nodes[0]!;
    const a = site('fwa'), b = site('fwb'), open = site('open');
    // let the ring settle so the seed's links are the oldest and RTTs have been measured
    await sleep(8_000);
    // set-up: the two asked for a link when they joined; the node that asked measured, from the start of
    // its direct attempt to the relay link's session (status: relays.links[].setupMs)
    let setupMs: number | null = null;
    const aId = lab.node(a).nodeId, bId = lab.node(b).nodeId;
    for (const [i, far] of [[a, bId], [b, aId]] as const) {
      const st = await lab.status(i) as unknown as { relays?: { links: { peer: string; setupMs: number | null }[] } };
      const l = st.relays?.links.find((x) => x.peer === far && x.setupMs !== null);
      if (l && (setupMs === null || l.setupMs! < setupMs)) setupMs = l.setupMs;
    }
    const vip = (await lab.status(b)).address as string;
    const out = (await lab.node(a).ns.exec('ping', ['-n', '-i', '0.2', '-c', '10', '-W', '1', vip], { allowFail: true, timeoutMs: 30_000 })).stdout;
    const first = /time=([\d.]+) ms/.exec(out);
    const firstReplyMs = first ? Number(first[1]) : null;
    const names = new Map(lab.state.nodes.map((st, i) => [lab.node(i).nodeId, st.name]));
    const st = await lab.status(a) as unknown as { connections?: { nodeId: string; path?: string; relay?: string | null }[] };
    const c = st.connections?.find((x) => x.nodeId === bId);
    const relayName = c?.relay ? names.get(c.relay) : undefined;
    const path = c?.relay ? `relay via ${relayName === lab.state.nodes[0]!.name ? 'seed' : relayName === lab.state.nodes[open]!.name ? 'open site' : relayName}` : c?.path ?? 'overlay';
    say(`${row} lab ${k + 1}/${LABS}: path ${path}, relay set-up ${setupMs ?? '-'} ms, ping ${firstReplyMs ?? '-'} ms`);
    await startServers(lab.node(b).ns, logs); // not in the lab's dir: the lab removes only what it wrote
    const s: Sample = { setupMs, firstReplyMs, path, rrTps: [], rrP50Us: [], streamMbps: [], failed: [] };
    for (let r = 0; r < RUNS; r++) {
      let rr: Awaited<ReturnType<typeof netperfRR>>, st2: Awaited<ReturnType<typeof netperfStream>>;
      try {
        rr = await netperfRR(lab.node(a).ns, vip, SECONDS, 1);
        st2 = await netperfStream(lab.node(a).ns, vip, SECONDS);
      } catch (e) {
        // counted and shown in the table, not folded into the medians
        s.failed.push((e as Error).message.split('\n')[0]!.slice(0, 200));
        say(`  run ${r + 1}/${RUNS}: FAILED ${s.failed.at(-1)}`);
        continue;
      }
      s.rrTps.push(rr.tps); if (rr.p50Us !== null) s.rrP50Us.push(rr.p50Us); s.streamMbps.push(st2.bps / 1e6);
      say(`  run ${r + 1}/${RUNS}: TCP_RR ${rr.tps.toFixed(0)} tps (p50 ${rr.p50Us ?? '-'} us), TCP_STREAM ${(st2.bps / 1e6).toFixed(1)} Mbit/s`);
    }
    return s;
  } finally {
    await RingLab.down(name, { dir });
    rmSync(logs, { recursive: true, force: true });
  }
}

/** Two panels of horizontal bars, one per measure (hand-written SVG, no dependency). */
function bars(panels: { title: string; values: [string, number][] }[]): string {
  const W = 640, rowH = 26, top = 28, labelW = 150, barW = W - labelW - 90;
  const h = panels.reduce((n, p) => n + top + p.values.length * rowH + 16, 0);
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${h}" font-family="sans-serif" font-size="13">`, `<rect width="${W}" height="${h}" fill="white"/>`];
  let y = 0;
  for (const p of panels) {
    out.push(`<text x="10" y="${y + 20}" font-weight="bold">${p.title}</text>`);
    const max = Math.max(1, ...p.values.map((v) => v[1]));
    p.values.forEach(([label, v], i) => {
      const yy = y + top + i * rowH;
      out.push(`<text x="10" y="${yy + 16}">${label}</text>`, `<rect x="${labelW}" y="${yy + 4}" width="${((v / max) * barW).toFixed(1)}" height="16" fill="#1f77b4"/>`, `<text x="${labelW + (v / max) * barW + 6}" y="${yy + 16}">${v.toFixed(v < 100 ? 1 : 0)}</text>`);
    });
    y += top + p.values.length * rowH + 16;
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

async function main(): Promise<void> {
  const results: Record<Row, Sample[]> = { 'direct': [], 'latency relay': [], 'stability relay': [], 'overlay routing': [] };
  // rows interleaved lab by lab, so that machine noise falls on every row alike
  for (let k = 0; k < LABS; k++) for (const row of ROWS) results[row].push(await oneLab(row, k));
  const table = ROWS.map((row) => {
    const ss = results[row];
    const rr = ss.flatMap((s) => s.rrTps), st = ss.flatMap((s) => s.streamMbps), p50 = ss.flatMap((s) => s.rrP50Us);
    const setup = ss.flatMap((s) => (s.setupMs === null ? [] : [s.setupMs]));
    return {
      row, paths: [...new Set(ss.map((s) => s.path))], setupMs: median(setup), setupSpread: spread(setup),
      rrTps: median(rr), rrSpread: spread(rr), rrLatencyUs: median(p50), streamMbps: median(st), streamSpread: spread(st), samples: rr.length,
      failed: ss.reduce((n, s) => n + s.failed.length, 0),
    };
  });
  const direct = table.find((t) => t.row === 'direct') ?? { rrTps: null, streamMbps: null };
  const commit = process.env.RINGVPN_BENCH_COMMIT ?? 'working tree';
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'table3.json'), JSON.stringify({ commit, labs: LABS, runs: RUNS, seconds: SECONDS, table, results }, null, 2) + '\n');
  const f = (x: number | null, d = 0): string => (x === null ? '-' : x.toFixed(d));
  const sp = (x: [number, number] | null, d = 0): string => (x ? `${x[0].toFixed(d)}–${x[1].toFixed(d)}` : '-');
  const md = [
    '# Table 3: relays between two members whose direct path is blocked',
    '',
    `\`node --import tsx benches/lab/table3.ts --labs ${LABS} --runs ${RUNS} --seconds ${SECONDS}\` (root), code at ${commit}. Each row: ${LABS} labs (the \`firewall\` preset, or the same sites without the firewall for the direct row), ${RUNS} netperf runs of ${SECONDS} s each per lab through the VPN (TUN/TAP, encrypted end to end); medians, min–max in brackets. Relay candidates: the seed (the oldest links) and the open site; the lab has no delay emulation (no netem in this kernel), so both are sub-millisecond away and the latency policy's pick follows measurement noise. Relay set-up: the time the node that asked for the fwa–fwb link measured from the start of its direct attempt to the relay link's session (the attempt is declared failed after 1 s), as its status reports it (\`relays.links[].setupMs\`).`,
    '',
    '| path | relay used | relay set-up (ms) | TCP_RR (transactions/s) | TCP_RR p50 latency (µs) | TCP_STREAM (Mbit/s) | RR vs direct | STREAM vs direct | failed runs |',
    '|---|---|---|---|---|---|---|---|---|',
    ...table.map((t) => `| ${t.row} | ${t.paths.join(', ')} | ${f(t.setupMs)} [${sp(t.setupSpread)}] | ${f(t.rrTps)} [${sp(t.rrSpread)}] | ${f(t.rrLatencyUs)} | ${f(t.streamMbps, 1)} [${sp(t.streamSpread, 1)}] | ${t.rrTps && direct.rrTps ? (t.rrTps / direct.rrTps).toFixed(2) : '-'} | ${t.streamMbps && direct.streamMbps ? (t.streamMbps / direct.streamMbps).toFixed(2) : '-'} | ${t.failed} |`),
    '',
  ].join('\n');
  writeFileSync(join(outDir, 'table3.md'), md);
  writeFileSync(join(outDir, 'table3.svg'), bars([
    { title: 'TCP_RR, transactions/s (median)', values: table.map((t) => [t.row, t.rrTps ?? 0]) },
    { title: 'TCP_STREAM, Mbit/s (median)', values: table.map((t) => [t.row, t.streamMbps ?? 0]) },
  ]));
  process.stdout.write(md);
}

main().catch((e) => { process.stderr.write(`${(e as Error).stack ?? e}\n`); process.exit(1); });
