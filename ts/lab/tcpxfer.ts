// Owns a small TCP transfer tool for the lab: `server PORT` receives one stream and prints its
// SHA-256, size and longest pause between two arrivals (maxGapMs) as JSON; `client HOST PORT BYTES
// [SEED] [RATE]` sends deterministic pseudo-random bytes (at most RATE bytes/s when given) and prints
// the same. It must not be used as a benchmark of record (iperf3/netperf are).
import { createHash, createCipheriv } from 'node:crypto';
import { createServer, connect } from 'node:net';

function stream(seed: string): (n: number) => Buffer {
  // AES-CTR keystream over zeros: fast, deterministic pseudo-random data.
  const key = createHash('sha256').update(seed).digest();
  const c = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(1 << 16);
  return (n) => c.update(zeros.subarray(0, n));
}

const [mode, a, b, c, d] = process.argv.slice(2);
if (mode === 'server') {
  const server = createServer((sock) => {
    const h = createHash('sha256');
    let n = 0, last = 0, maxGapMs = 0;
    const t0 = process.hrtime.bigint();
    const ms = (): number => Number(process.hrtime.bigint() - t0) / 1e6;
    sock.on('data', (chunk) => {
      h.update(chunk); n += chunk.length;
      const now = ms();
      if (last) maxGapMs = Math.max(maxGapMs, now - last);
      last = now;
    });
    sock.on('end', () => {
      const secs = ms() / 1000;
      process.stdout.write(JSON.stringify({ bytes: n, sha256: h.digest('hex'), seconds: secs, maxGapMs: Math.round(maxGapMs) }) + '\n');
      sock.end();
      server.close();
    });
  });
  server.listen(Number(a), b ?? '0.0.0.0', () => process.stderr.write('listening\n'));
} else if (mode === 'client') {
  const total = Number(c);
  const gen = stream(d ?? 'ringvpn');
  const rate = Number(process.argv[7] ?? 0);
  const h = createHash('sha256');
  const sock = connect(Number(b), a!);
  let sent = 0;
  const t0 = process.hrtime.bigint();
  const pump = (): void => {
    while (sent < total) {
      // paced: no further ahead than the rate allows (checked every 10 ms)
      if (rate > 0 && sent >= (Number(process.hrtime.bigint() - t0) / 1e9) * rate) { setTimeout(pump, 10); return; }
      const chunk = gen(Math.min(rate > 0 ? 1 << 14 : 1 << 16, total - sent));
      h.update(chunk);
      sent += chunk.length;
      if (!sock.write(chunk)) { sock.once('drain', pump); return; }
    }
    sock.end();
  };
  sock.on('connect', pump);
  sock.on('close', () => {
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    process.stdout.write(JSON.stringify({ bytes: sent, sha256: h.digest('hex'), seconds: secs }) + '\n');
  });
  sock.on('error', (e) => { process.stderr.write(`tcpxfer: ${e.message}\n`); process.exit(1); });
} else {
  process.stderr.write('usage: tcpxfer server PORT [ADDR] | client HOST PORT BYTES [SEED] [RATE bytes/s]\n');
  process.exit(2);
}
