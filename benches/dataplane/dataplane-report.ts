// dataplane-report.ts — owns the result data model, medians and ratios, and the output files: JSON, Markdown table, SVG bar chart.
// Must not run anything or touch the network; no external dependencies (the SVG is written by hand).

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IperfResult, RRResult, StreamResult } from './tools.js';

export interface RunSample {
  run: number; // 1-based
  position: number; // position of this system within the run (interleaving)
  startedAt: string;
  /** CPU busy % of the whole machine during 1 s of idle just before this measurement (= other people's work). */
  backgroundBusyPct?: number;
  /** Same, measured for 1 s right after this measurement was torn down. */
  backgroundAfterPct?: number;
  /** 1-minute load average when the measurement started and ended (includes the benchmark's own load). */
  loadavg1?: [number, number];
  ok: boolean; // tunnel came up and every tool produced a number
  error?: string;
  pingRttMs?: number | null;
  iperf3?: IperfResult;
  stream?: StreamResult;
  rr?: RRResult;
  rssKbA?: number; // client-side node: VPN processes + descendants, sampled ~0.5 s before the iperf3 run ends
  rssKbB?: number; // server-side node
  vpnCpuCores?: number; // CPU used by the VPN processes of both nodes during the iperf3 run, in cores (CPU s / wall s)
  notes?: string;
}

export interface Medians {
  iperf3Gbps: number | null;
  streamGbps: number | null;
  rrTps: number | null;
  rrMeanUs: number | null;
  rrP99Us: number | null;
  rssMiBPerNode: number | null; // mean of the two nodes
  vpnCpuCores: number | null;
}

export interface SystemResult {
  id: string;
  label: string;
  available: boolean;
  unavailableReason?: string;
  notes?: string;
  runs: RunSample[];
  median: Medians;
}

export interface Report {
  generatedAt: string;
  options: Record<string, unknown>;
  machine: Record<string, unknown>;
  versions: Record<string, string>;
  systems: SystemResult[];
}

export function median(xs: Array<number | null | undefined>): number | null {
  const v = xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}

export function computeMedians(runs: RunSample[]): Medians {
  return {
    iperf3Gbps: median(runs.map((r) => (r.iperf3 ? r.iperf3.bps / 1e9 : null))),
    streamGbps: median(runs.map((r) => (r.stream ? r.stream.bps / 1e9 : null))),
    rrTps: median(runs.map((r) => r.rr?.tps)),
    rrMeanUs: median(runs.map((r) => r.rr?.meanUs)),
    rrP99Us: median(runs.map((r) => r.rr?.p99Us)),
    vpnCpuCores: median(runs.map((r) => r.vpnCpuCores)),
    rssMiBPerNode: median(
      runs.map((r) => (r.rssKbA !== undefined && r.rssKbB !== undefined && r.rssKbA + r.rssKbB > 0 ? (r.rssKbA + r.rssKbB) / 2 / 1024 : null)),
    ),
  };
}

const f = (x: number | null | undefined, digits = 2) => (x === null || x === undefined ? '–' : x.toFixed(digits));
const ratio = (x: number | null, base: number | null | undefined) => (x === null || !base ? '–' : `${(x / base).toFixed(2)}×`);

function statusOf(s: SystemResult): string {
  if (!s.available) return `not available: ${s.unavailableReason}`;
  const ok = s.runs.filter((r) => r.ok).length;
  if (!s.runs.length) return 'not run';
  if (ok === s.runs.length) return `${ok}/${s.runs.length} ok`;
  const err = s.runs.find((r) => r.error)?.error ?? '';
  return `${ok === 0 ? 'failed' : `${ok}/${s.runs.length} ok`}: ${err.replace(/\|/g, '\\|').replace(/\s+/g, ' ').slice(0, 300)}`;
}

function pinText(pin: string): string {
  if (pin === 'split') return 'side a (client tools + VPN peer a) on CPU 0, side b (servers + VPN peer b) on CPU 1';
  if (pin === 'one') return 'everything on CPU 0';
  return 'none (scheduler)';
}

export function markdown(rep: Report): string {
  const base = rep.systems.find((s) => s.id === 'openvpn-aes')?.median;
  const raw = rep.systems.find((s) => s.id === 'raw')?.median;
  const wgCurrent = rep.systems.find((s) => s.id === 'wireguard-go-current')?.median;
  const m = rep.machine as Record<string, string | number>;
  const o = rep.options as Record<string, string | number>;
  const lines: string[] = [];
  lines.push(`# ringvpn data-plane benchmark`, '');
  lines.push(
    `${rep.generatedAt} · ${m.cpuModel} × ${m.cpus} · kernel ${m.kernel} · ${o.runs} run(s) × ${o.seconds} s per tool, medians · ` +
      `veth underlay MTU 1500 between two network namespaces · TCP_RR ${o.rrSize}/${o.rrSize} bytes · CPU pinning: ${pinText(String(o.pin))}`,
    '',
  );
  const bg = rep.systems
    .flatMap((s) => s.runs.flatMap((r) => [r.backgroundBusyPct, r.backgroundAfterPct]))
    .filter((x): x is number => typeof x === 'number');
  if (bg.length) {
    const hi = Math.max(...bg);
    lines.push(
      `Background CPU use (whole machine, 1 s before and 1 s after each measurement, nothing of ours running): ${Math.min(...bg).toFixed(0)}–${hi.toFixed(0)} %, median ${median(bg)!.toFixed(0)} %` +
        (hi > 20 ? ' — **other work was running on the box; absolute numbers are depressed and noisy, compare ratios**' : ''),
      '',
    );
  }
  lines.push(
    '| System | iperf3 TCP Gbit/s | netperf STREAM Gbit/s | TCP_RR trans/s | RR mean µs | RR p99 µs | RSS/node MiB | VPN CPU cores | CPU cores per Gbit/s | iperf3 vs OVPN-AES | iperf3 vs wireguard-go current | iperf3 vs raw | RR vs OVPN-AES | RR vs raw | Runs |',
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|',
  );
  for (const s of rep.systems) {
    const md = s.median;
    lines.push(
      `| ${s.label} | ${f(md.iperf3Gbps)} | ${f(md.streamGbps)} | ${f(md.rrTps, 0)} | ${f(md.rrMeanUs, 1)} | ${f(md.rrP99Us, 0)} | ${f(md.rssMiBPerNode, 1)} | ${f(md.vpnCpuCores, 2)} | ` +
        `${f(md.vpnCpuCores !== null && md.iperf3Gbps ? md.vpnCpuCores / md.iperf3Gbps : null, 2)} | ` +
        `${ratio(md.iperf3Gbps, base?.iperf3Gbps)} | ${ratio(md.iperf3Gbps, wgCurrent?.iperf3Gbps)} | ${ratio(md.iperf3Gbps, raw?.iperf3Gbps)} | ${ratio(md.rrTps, base?.rrTps)} | ${ratio(md.rrTps, raw?.rrTps)} | ${statusOf(s)} |`,
    );
  }
  lines.push('', '## Per run', '');
  lines.push('iperf3 Gbit/s / TCP_RR trans/s, (background CPU % before → after); position = place of the system within that run.', '');
  lines.push(`| System | ${Array.from({ length: Number(o.runs) }, (_, i) => `run ${i + 1}`).join(' | ')} |`);
  lines.push(`|---|${Array.from({ length: Number(o.runs) }, () => '---').join('|')}|`);
  for (const s of rep.systems) {
    if (!s.runs.length) continue;
    const cells = s.runs.map((r) =>
      r.iperf3 || r.rr
        ? `${f(r.iperf3 ? r.iperf3.bps / 1e9 : null)} / ${f(r.rr?.tps, 0)} (${f(r.backgroundBusyPct, 0)}→${f(r.backgroundAfterPct, 0)} %, pos ${r.position})`
        : 'failed',
    );
    lines.push(`| ${s.label} | ${cells.join(' | ')} |`);
  }
  lines.push('', '## Configuration per system', '');
  for (const s of rep.systems) {
    const why = s.runs.find((r) => r.error)?.error;
    const text = !s.available ? `not available: ${s.unavailableReason}` : (s.notes ?? `did not start: ${why ?? '?'}`);
    lines.push(`- **${s.label}**: ${text}`);
  }
  lines.push('', '## Versions', '');
  for (const [k, v] of Object.entries(rep.versions)) lines.push(`- ${k}: ${v}`);
  lines.push(
    '',
    'RSS: VmRSS summed over the VPN processes of one node and their descendants, sampled ~0.5 s before the end of the iperf3 run; ' +
      'mean of the two nodes. VPN CPU cores: user+system CPU seconds of both nodes\' VPN processes during the iperf3 run divided by its length ' +
      '(2 cores in total are shared by both VPN peers, iperf3 and the kernel). Ratios are taken between medians of the same invocation. Raw per-run numbers are in dataplane.json.',
    '',
  );
  return lines.join('\n');
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

interface Bar {
  value: number | null;
  color: string;
}

/** One chart panel: grouped bars, linear axis; a bar far above the rest (raw veth) is clipped with a break mark. */
function panel(x0: number, y0: number, w: number, h: number, title: string, unit: string, groups: Array<{ label: string; bars: Bar[] }>, digits: number): string {
  const out: string[] = [];
  const padL = 56;
  const padB = 64;
  const padT = 28;
  const plotW = w - padL - 10;
  const plotH = h - padB - padT;
  const vals = groups.flatMap((g) => g.bars.map((b) => b.value)).filter((v): v is number => v !== null && v > 0);
  const sorted = [...vals].sort((a, b) => b - a);
  let max = sorted[0] ?? 1;
  // Clip outliers (typically raw veth) so the VPNs remain readable.
  const rest = groups.slice(1).flatMap((g) => g.bars.map((b) => b.value)).filter((v): v is number => v !== null && v > 0);
  const restMax = Math.max(0, ...rest);
  if (restMax > 0 && max > 2.5 * restMax) max = restMax * 1.35;
  const step = niceStep(max / 5);
  const top = Math.ceil(max / step) * step;
  out.push(`<text x="${x0 + w / 2}" y="${y0 + 16}" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`);
  for (let t = 0; t <= top + 1e-9; t += step) {
    const y = y0 + padT + plotH - (t / top) * plotH;
    out.push(`<line x1="${x0 + padL}" x2="${x0 + padL + plotW}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
    out.push(`<text x="${x0 + padL - 6}" y="${y + 4}" text-anchor="end" font-size="11">${fmtTick(t)}</text>`);
  }
  out.push(`<text transform="translate(${x0 + 14},${y0 + padT + plotH / 2}) rotate(-90)" text-anchor="middle" font-size="11">${esc(unit)}</text>`);
  const gw = plotW / Math.max(1, groups.length);
  groups.forEach((g, gi) => {
    const bw = Math.min(28, (gw * 0.8) / g.bars.length);
    const gx = x0 + padL + gi * gw + (gw - bw * g.bars.length) / 2;
    g.bars.forEach((b, bi) => {
      const x = gx + bi * bw;
      const base = y0 + padT + plotH;
      if (b.value === null || !(b.value > 0)) {
        out.push(`<text x="${x + bw / 2}" y="${base - 4}" text-anchor="middle" font-size="10" fill="#999">n/a</text>`);
        return;
      }
      const clipped = b.value > top;
      const bh = (Math.min(b.value, top) / top) * plotH;
      out.push(`<rect x="${x}" y="${base - bh}" width="${bw - 2}" height="${bh}" fill="${b.color}"><title>${esc(g.label)}: ${b.value.toFixed(digits)} ${esc(unit)}</title></rect>`);
      if (clipped) {
        const yb = base - bh + 14;
        out.push(`<path d="M${x - 1},${yb} l${(bw - 2) / 2},-5 l${(bw - 2) / 2 + 2},5" stroke="#fff" stroke-width="3" fill="none"/>`);
      }
      out.push(`<text x="${x + (bw - 2) / 2}" y="${base - bh - 3}" text-anchor="middle" font-size="9">${b.value.toFixed(digits)}</text>`);
    });
    out.push(`<text x="${x0 + padL + gi * gw + gw / 2}" y="${y0 + padT + plotH + 14}" text-anchor="middle" font-size="10">${esc(shortLabel(g.label)[0]!)}</text>`);
    const second = shortLabel(g.label)[1];
    if (second) out.push(`<text x="${x0 + padL + gi * gw + gw / 2}" y="${y0 + padT + plotH + 26}" text-anchor="middle" font-size="10">${esc(second)}</text>`);
  });
  return out.join('\n');
}

function shortLabel(label: string): [string, string?] {
  const l = label.replace('AES-256-GCM', 'AES-GCM').replace('CHACHA20-POLY1305', 'ChaCha20');
  const i = l.indexOf(' ');
  return i < 0 ? [l] : [l.slice(0, i), l.slice(i + 1)];
}

function niceStep(x: number): number {
  if (!(x > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 2.5, 5, 10]) if (x <= m * p) return m * p;
  return 10 * p;
}

function fmtTick(t: number): string {
  return t >= 1000 ? `${(t / 1000).toFixed(t % 1000 ? 1 : 0)}k` : String(+t.toFixed(2));
}

export function svg(rep: Report): string {
  const sys = rep.systems.filter((s) => s.available);
  const W = 1000;
  const H = 380;
  const c1 = '#3b6fb6';
  const c2 = '#8fb3e0';
  const c3 = '#d9822b';
  const thr = panel(0, 0, W * 0.58, H - 30, 'TCP throughput, one stream (median)', 'Gbit/s', sys.map((s) => ({
    label: s.label,
    bars: [{ value: s.median.iperf3Gbps, color: c1 }, { value: s.median.streamGbps, color: c2 }],
  })), 2);
  const rr = panel(W * 0.58, 0, W * 0.42, H - 30, `netperf TCP_RR ${(rep.options as { rrSize?: number }).rrSize ?? ''} B (median)`, 'transactions/s', sys.map((s) => ({
    label: s.label,
    bars: [{ value: s.median.rrTps, color: c3 }],
  })), 0);
  const legend = [
    [c1, 'iperf3 TCP'],
    [c2, 'netperf TCP_STREAM'],
    [c3, 'netperf TCP_RR'],
  ]
    .map(([c, t], i) => `<rect x="${60 + i * 170}" y="${H - 22}" width="12" height="12" fill="${c}"/><text x="${78 + i * 170}" y="${H - 12}" font-size="11">${t}</text>`)
    .join('\n');
  const m = rep.machine as Record<string, string | number>;
  const foot = `<text x="${W - 8}" y="${H - 12}" text-anchor="end" font-size="10" fill="#666">${esc(`${m.cpuModel} ×${m.cpus}, kernel ${m.kernel}, pin ${(rep.options as { pin?: string }).pin ?? 'none'}, ${rep.generatedAt.slice(0, 16)}; bars with a white notch are clipped`)}</text>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="#fff"/>\n${thr}\n${rr}\n${legend}\n${foot}\n</svg>\n`;
}

/** Write dataplane.json, dataplane.md and dataplane.svg into `outDir`; returns the paths. */
export function writeReport(outDir: string, rep: Report): string[] {
  mkdirSync(outDir, { recursive: true });
  const files = [join(outDir, 'dataplane.json'), join(outDir, 'dataplane.md'), join(outDir, 'dataplane.svg')];
  writeFileSync(files[0]!, JSON.stringify(rep, null, 2) + '\n');
  writeFileSync(files[1]!, markdown(rep));
  writeFileSync(files[2]!, svg(rep));
  return files;
}
