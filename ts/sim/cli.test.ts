// Tests of the `ringvpn sim` entry on small inputs: every scenario runs, writes JSON/Markdown/SVG,
// and the same seed gives byte-identical JSON results (apart from wall-clock fields).
import test from 'ava';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSimCommand } from './cli.js';

const out = mkdtempSync(join(tmpdir(), 'ringvpn-sim-'));
const stripWall = (s: string): string => s.replace(/"(wallMs|wallJoinMs|wallSteadyMs|eventsPerSec)": [0-9.e+-]+/g, '');

test('join scenario writes results and is reproducible', async (t) => {
  const a = await runSimCommand('join', { nodes: 150, seed: 3, out, quiet: true });
  const first = stripWall(readFileSync(a.files.json, 'utf8'));
  const b = await runSimCommand('join', { nodes: 150, seed: 3, out, quiet: true });
  t.is(stripWall(readFileSync(b.files.json, 'utf8')), first);
  t.regex(readFileSync(a.files.md, 'utf8'), /100 % consistent at s/);
  t.not((a.data as { consistentAtMs: number | null }).consistentAtMs, null);
});

test('routing, figure5 and churn scenarios write a table and an SVG plot', async (t) => {
  const r = await runSimCommand('routing', { nodes: 0, seed: 1, out, quiet: true, sizes: [64, 200], pairs: 300, joinedUpTo: 64 });
  t.true(existsSync(r.files.svg as string));
  t.true(readFileSync(r.files.svg as string, 'utf8').startsWith('<svg'));
  const rows = (r.data as { rows: { success: number; build: string }[] }).rows;
  t.is(rows.length, 3);
  t.true(rows.every((x) => x.success === 1));
  const f = await runSimCommand('figure5', { nodes: 0, seed: 1, out, quiet: true, sizes: [25, 60], trials: 2 });
  t.regex(f.table, /two-hop relay ms/);
  const f5 = (f.data as { rows: { overlay: number; twoHop: number; direct: number }[] }).rows;
  t.true(f5.every((x) => x.overlay > x.twoHop && x.twoHop >= x.direct));
  const c = await runSimCommand('churn', { nodes: 120, seed: 2, out, quiet: true, rate: 0.05, durationS: 60 });
  t.true(existsSync(c.files.svg as string));
  t.true((c.data as { samples: unknown[] }).samples.length >= 5);
  await t.throwsAsync(runSimCommand('nope', { nodes: 1, seed: 1, out, quiet: true }), { message: /unknown scenario/ });
});
