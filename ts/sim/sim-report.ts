// Owns how simulator runs present themselves: a progress bar on stderr, Markdown tables, and writing
// benches/results/sim-* files (JSON, Markdown, SVG). It must not run simulations.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function progressBar(label: string, enabled = process.stderr.isTTY === true || process.env.RINGVPN_PROGRESS === '1'): (f: number, extra?: string) => void {
  let last = -1;
  const t0 = performance.now();
  return (f, extra = '') => {
    const pct = Math.floor(Math.max(0, Math.min(1, f)) * 100);
    if (!enabled || pct === last) return;
    last = pct;
    const w = 30, fill = Math.round((pct / 100) * w);
    const secs = ((performance.now() - t0) / 1000).toFixed(0);
    process.stderr.write(`\r${label} [${'#'.repeat(fill)}${'.'.repeat(w - fill)}] ${String(pct).padStart(3)}% ${secs}s ${extra}   `);
    if (pct === 100) process.stderr.write('\n');
  };
}

export function mdTable(head: string[], rows: (string | number)[][]): string {
  const fmt = (v: string | number): string => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(2)) : v);
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.map(fmt).join(' | ')} |`),
  ].join('\n') + '\n';
}

export interface Written { json: string; md: string; svg?: string }

export function writeResults(outDir: string, base: string, data: unknown, md: string, svg?: string): Written {
  mkdirSync(outDir, { recursive: true });
  const json = join(outDir, `${base}.json`);
  const mdPath = join(outDir, `${base}.md`);
  writeFileSync(json, JSON.stringify(data, (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v), 2) + '\n');
  writeFileSync(mdPath, md);
  let svgPath: string | undefined;
  if (svg) { svgPath = join(outDir, `${base}.svg`); writeFileSync(svgPath, svg); }
  return { json, md: mdPath, svg: svgPath };
}

export function machineNote(): string {
  return `node ${process.version}, ${process.platform}/${process.arch}`;
}
