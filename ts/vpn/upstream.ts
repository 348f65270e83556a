// Owns forwarding raw DNS queries to the host's own nameservers (from /etc/resolv.conf) over UDP, one
// server after another with a timeout each. It must not parse or rewrite DNS beyond the header id and
// QR bit, and must not send to our own service address (that would loop back into the VPN's responder).
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { ipFamily } from '../base/ip.js';

export interface UpstreamServer { address: string; port: number }

export interface UpstreamOptions {
  /** Explicit servers; default: the nameservers of `resolvConf`. */
  servers?: UpstreamServer[];
  /** Default /etc/resolv.conf. */
  resolvConf?: string;
  /** Addresses never used (our service address). */
  exclude?: string[];
  /** Per server; default 2000 ms. */
  timeoutMs?: number;
}

export interface UpstreamStats { queries: number; answered: number; timeouts: number; errors: number; unanswered: number; mismatched: number }

/** The `nameserver` addresses of a resolv.conf text, in order (IPv4 and IPv6; zone ids kept). */
export function parseResolvConf(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const m = /^nameserver\s+(\S+)$/.exec(line);
    if (m && ipFamily(m[1]!.replace(/%.*$/, '')) !== 0) out.push(m[1]!);
  }
  return out;
}

export class Upstream {
  private servers: UpstreamServer[] = [];
  private readonly timeoutMs: number;
  private readonly st: UpstreamStats = { queries: 0, answered: 0, timeouts: 0, errors: 0, unanswered: 0, mismatched: 0 };
  private readonly pending = new Set<() => void>();
  private closed = false;

  constructor(private readonly o: UpstreamOptions = {}) {
    this.timeoutMs = o.timeoutMs ?? 2000;
    this.reload();
  }

  /** Re-read resolv.conf (or re-apply `servers`); an unreadable file gives no servers. */
  reload(): void {
    const exclude = new Set(this.o.exclude ?? []);
    let list = this.o.servers;
    if (!list) {
      let text = '';
      try { text = readFileSync(this.o.resolvConf ?? '/etc/resolv.conf', 'utf8'); } catch { text = ''; }
      list = parseResolvConf(text).map((address) => ({ address, port: 53 }));
    }
    this.servers = list.filter((s) => !exclude.has(s.address));
  }

  list(): UpstreamServer[] { return this.servers.map((s) => ({ ...s })); }
  stats(): UpstreamStats { return { ...this.st }; }

  /**
   * The first answer (same id, QR set, from the server asked) of the servers in turn, or null when none
   * answers. A SERVFAIL/NOTIMP/REFUSED answer is returned only when no later server answers better.
   */
  async forward(query: Uint8Array): Promise<Uint8Array | null> {
    this.st.queries++;
    if (query.length < 12) { this.st.unanswered++; return null; }
    let fallback: Uint8Array | null = null;
    for (const s of this.servers) {
      if (this.closed) break;
      const r = await this.ask(s, query);
      if (!r) continue;
      const rcode = r[3]! & 0x0f;
      if (rcode !== 2 && rcode !== 4 && rcode !== 5) { this.st.answered++; return r; }
      fallback = r; // SERVFAIL, NOTIMP, REFUSED: try the next server, as the libc resolver does
    }
    if (fallback) { this.st.answered++; return fallback; }
    this.st.unanswered++;
    return null;
  }

  /** Stop: sockets still waiting are closed, pending and later forwards resolve to null. */
  close(): void {
    this.closed = true;
    for (const abort of [...this.pending]) abort();
  }

  private ask(server: UpstreamServer, query: Uint8Array): Promise<Uint8Array | null> {
    const family = ipFamily(server.address.replace(/%.*$/, '')) === 6 ? 'udp6' : 'udp4';
    const id = (query[0]! << 8) | query[1]!;
    return new Promise((resolve) => {
      const sock = createSocket({ type: family });
      let done = false;
      const finish = (r: Uint8Array | null): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.pending.delete(abort);
        try { sock.close(); } catch { /* already closed */ }
        resolve(r);
      };
      const timer = setTimeout(() => { this.st.timeouts++; finish(null); }, this.timeoutMs);
      sock.on('error', () => { this.st.errors++; finish(null); });
      const abort = (): void => finish(null);
      this.pending.add(abort);
      sock.on('message', (msg, rinfo) => {
        const sameServer = rinfo.port === server.port && sameAddress(rinfo.address, server.address);
        if (!sameServer || msg.length < 12 || msg.readUInt16BE(0) !== id || (msg[2]! & 0x80) === 0) {
          this.st.mismatched++;
          return; // keep waiting: a stray or spoofed datagram must not end the exchange
        }
        finish(new Uint8Array(msg));
      });
      sock.send(query, server.port, server.address, (err) => { if (err) { this.st.errors++; finish(null); } });
    });
  }
}

function sameAddress(a: string, b: string): boolean {
  const strip = (x: string): string => x.replace(/%.*$/, '').toLowerCase().replace(/^::ffff:/, '');
  return strip(a) === strip(b);
}
