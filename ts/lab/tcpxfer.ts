// Owns a small TCP transfer tool for the lab: `server PORT` receives one stream and prints its
// SHA-256 and size as JSON; `client HOST PORT BYTES SEED` sends deterministic pseudo-random bytes
// and prints the same. It must not be used as a benchmark of record (iperf3/netperf are).
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
    let n = 0;
    const t0 = process.hrtime.bigint();
    sock.on('data', (chunk) => { h.update(chunk); n += chunk.length; });
    sock.on('end', () => {
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      process.stdout.write(JSON.stringify({ bytes: n, sha256: h.digest('hex'), seconds: secs }) + '\n');
      sock.end();
      server.close();
    });
  });
  server.listen(Number(a), b ?? '0.0.0.0', () => process.stderr.write('listening\n'));
} else if (mode === 'client') {
  const total = Number(c);
  const gen = stream(d ?? 'ringvpn');
  const h = createHash('sha256');
  const sock = connect(Number(b), a!);
  let sent = 0;
  const t0 = process.hrtime.bigint();
  const pump = (): void => {
    while (sent < total) {
      const chunk = gen(Math.min(1 << 16, total - sent));
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
  process.stderr.write('usage: tcpxfer server PORT [ADDR] | client HOST PORT BYTES [SEED]\n');
  process.exit(2);
}
