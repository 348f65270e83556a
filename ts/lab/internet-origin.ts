// Owns the "Internet" servers of full-tunnel labs, tests and the demo, run inside the Internet namespace
// (`node --import tsx ts/lab/internet-origin.ts <address> <http port>`): an HTTP server (`/whoami` answers the
// caller's address as the server sees it, `/slow?s=N` streams for N seconds, `/bytes?n=N` sends N bytes)
// and a DNS responder on UDP 53 that answers every query (no records). It prints one line per request and
// "listening" once ready. It must not be imported (it is a program run in a namespace).
import { createServer } from 'node:http';
import { createSocket } from 'node:dgram';

const [address = '0.0.0.0', portText = '8080'] = process.argv.slice(2);
const chunk = Buffer.alloc(32 * 1024, 0x61);

const http = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const from = (req.socket.remoteAddress ?? '?').replace(/^::ffff:/, '');
  console.log(JSON.stringify({ at: Date.now(), path: url.pathname, from }));
  if (url.pathname === '/whoami') { res.end(from); return; }
  if (url.pathname === '/bytes') {
    let left = Math.min(Number(url.searchParams.get('n') ?? 0), 2 ** 31);
    res.writeHead(200, { 'content-length': String(left) });
    const more = (): void => {
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        left -= n;
        if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) { res.once('drain', more); return; }
      }
      res.end();
    };
    more();
    return;
  }
  if (url.pathname === '/slow') {
    // 32 KiB every 20 ms (1.6 MB/s) for s seconds
    const until = Date.now() + Number(url.searchParams.get('s') ?? 10) * 1000;
    const timer = setInterval(() => {
      if (Date.now() >= until || res.destroyed) { clearInterval(timer); res.end(); return; }
      res.write(chunk);
    }, 20);
    res.on('close', () => clearInterval(timer));
    return;
  }
  res.statusCode = 404;
  res.end();
});

const dns = createSocket('udp4');
dns.on('message', (q, rinfo) => {
  console.log(JSON.stringify({ at: Date.now(), dns: true, from: rinfo.address }));
  if (q.length < 12) return;
  const a = Buffer.from(q);
  a[2] = 0x81; a[3] = 0x80; // a response, recursion available, no error, no records
  dns.send(a, rinfo.port, rinfo.address);
});

let ready = 0;
const up = (): void => { if (++ready === 2) console.log('listening'); };
http.listen(Number(portText), address, up);
dns.bind(53, address, up);
