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
}

function bytes(n: unknown): string {
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
  process.stdout.write(out.join('\n') + '\n');
}
