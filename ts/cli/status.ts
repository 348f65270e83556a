// Owns the human-readable rendering of `ringvpn status`.
// It must not fetch anything; it formats the object the daemon returned.

interface StatusPeer {
  name: string; publicKey: string; address: string; endpoint: string | null;
  lastHandshakeAgoMs: number | null; handshakes: number;
  dataplane: Record<string, unknown> | null;
}
interface Status {
  device: string; mode: string; address: string; publicKey: string; listen: string | null; uptimeMs: number;
  peers: StatusPeer[]; handshakeRejected: Record<string, number>;
  counters: Record<string, unknown>; drops: Record<string, number>;
  links?: Record<string, number>; memory?: MemorySummary;
}

export interface MemorySummary { rssBytes: number; heapUsedBytes: number; budgetBytes: number; limitBytes?: number; refusingNewPeers?: boolean }
export interface QuotaSummary { throttled: Record<string, number>; members: Array<{ nodeId: string; throttled: number }> }

/** `memory: rss … of the … budget` (the daemon's stated budget, README Security). */
export function memoryLine(m: MemorySummary | undefined): string | null {
  if (!m) return null;
  // the limit the daemon enforces: the budget, or its start plus headroom when it started above it
  const over = m.refusingNewPeers ? '  OVER BUDGET: refusing new peers' : m.rssBytes > (m.limitBytes ?? m.budgetBytes) ? '  OVER BUDGET' : '';
  return `memory: rss ${bytes(m.rssBytes)} of a ${bytes(m.budgetBytes)} budget (JS heap ${bytes(m.heapUsedBytes)})${over}`;
}

/** What the flood defences turned away: per-source handshake limit, cookies, member quotas. */
export function defenceLine(drops: Record<string, number>, links: Record<string, number> | undefined, quotas?: QuotaSummary): string {
  const parts: string[] = [];
  const d = (k: string): number => drops[k] ?? 0;
  const l = (k: string): number => links?.[k] ?? 0;
  if (d('handshake_rate') || d('handshake_queue')) parts.push(`handshake datagrams over the per-source limit ${d('handshake_rate')}, over the queue share ${d('handshake_queue')}`);
  if (l('handshake_cookie_sent')) parts.push(`cookie replies sent ${l('handshake_cookie_sent')} (initiations without mac2 under load, no DH)`);
  if (l('admit_table_full') || l('admit_over_budget')) parts.push(`strangers refused: peer table full ${l('admit_table_full')}, over the memory budget ${l('admit_over_budget')}`);
  if (quotas) {
    const t = Object.entries(quotas.throttled).filter(([, v]) => v > 0);
    if (t.length) parts.push(`member quotas throttled ${t.map(([k, v]) => `${k}=${v}`).join(' ')}; most: ${quotas.members.slice(0, 3).map((m) => `${m.nodeId.slice(0, 8)}×${m.throttled}`).join(' ')}`);
  }
  return 'defences: ' + (parts.length ? parts.join('; ') : 'nothing turned away');
}

export function bytes(n: unknown): string {
  const v = typeof n === 'number' ? n : Number(n ?? 0);
  if (v < 1024) return `${v} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let x = v / 1024, i = 0;
  while (x >= 1024 && i < units.length - 1) { x /= 1024; i++; }
  return `${x.toFixed(1)} ${units[i]}`;
}

export function printStatus(s: Status): void {
  const out: string[] = [];
  out.push(`device ${s.device} (${s.mode})  address ${s.address}  listening ${s.listen ?? '-'}  up ${Math.round(s.uptimeMs / 1000)} s`);
  out.push(`public key ${s.publicKey}`);
  out.push('');
  out.push('peers:');
  for (const p of s.peers) {
    const dp = p.dataplane ?? {};
    const hs = p.lastHandshakeAgoMs === null ? 'never' : `${Math.round(p.lastHandshakeAgoMs / 1000)} s ago`;
    out.push(`  ${p.name}  ${p.address}  endpoint ${p.endpoint ?? '-'}  handshake ${hs} (${p.handshakes} total)  sessions ${String(dp.sessions ?? 0)}`);
    out.push(`      rx ${bytes(dp.rxBytes)} / ${String(dp.rxPackets ?? 0)} pkts   tx ${bytes(dp.txBytes)} / ${String(dp.txPackets ?? 0)} pkts`);
  }
  out.push('');
  out.push('counters: ' + Object.entries(s.counters).map(([k, v]) => `${k}=${String(v)}`).join('  '));
  const drops = Object.entries(s.drops).filter(([, v]) => v > 0);
  out.push('drops: ' + (drops.length ? drops.map(([k, v]) => `${k}=${v}`).join('  ') : 'none'));
  const rej = Object.entries(s.handshakeRejected);
  out.push('handshakes rejected: ' + (rej.length ? rej.map(([k, v]) => `${k}=${v}`).join('  ') : 'none'));
  out.push(defenceLine(s.drops, s.links));
  const mem = memoryLine(s.memory);
  if (mem) out.push(mem);
  process.stdout.write(out.join('\n') + '\n');
}
