// Owns one native engine inside a network namespace for tests/net/engine-pair.ts: started with a TUN
// device, driven by JSON lines on stdin (one request each, one answer each on stdout, in order). It plays
// the OS side too: sends UDP datagrams from a chosen local address into the tunnel and records those that
// reach its local addresses. Must not decide anything (the test does) or convert events (the test runs
// the daemon's toInput on them). Run as `node --import tsx tests/net/engine-agent.ts` inside the namespace.
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { createInterface } from 'node:readline';
import { startEngine, type DataPlane, type EngineEvent } from '../../ts/runtime/engine.js';
import type { EngineCommand } from '../../ts/node/io.js';

/** The UDP port the OS side sends markers to and listens on, at every local virtual address. */
const MARKER_PORT = 7777;

type Req =
  | { op: 'start'; ifname: string; address: string; listenPort: number; nodeId: string; destinations?: string[] }
  | { op: 'addAddress'; cidr: string }
  | { op: 'apply'; c: EngineCommand }
  | { op: 'send'; src: string; dst: string; marker: string }
  | { op: 'delivered' }
  | { op: 'events' }
  | { op: 'stats' }
  | { op: 'close' };

let engine: DataPlane | null = null;
let ifname = '';
const events: EngineEvent[] = [];
const delivered: { src: string; dst: string; marker: string }[] = [];
const sockets: dgram.Socket[] = [];

/** Bytes cross the pipe as hex strings tagged { hex }. */
const enc = (_k: string, v: unknown): unknown =>
  v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)
    ? { hex: Buffer.from((v as { data: number[] }).data).toString('hex') } : v;
const bytes = (v: unknown): Buffer => Buffer.from((v as { hex: string }).hex, 'hex');

function listen(ip: string): Promise<void> {
  const s = dgram.createSocket('udp4');
  s.on('message', (m, r) => delivered.push({ src: r.address, dst: ip, marker: m.toString() }));
  sockets.push(s);
  return new Promise((res, rej) => { s.once('error', rej); s.bind(MARKER_PORT, ip, () => res()); });
}

function drain(): void {
  if (engine) events.push(...engine.drainEvents());
}

function apply(e: DataPlane, c: EngineCommand): void {
  // the daemon's mapping (ts/runtime/daemon.ts apply), with bytes decoded from the pipe
  switch (c.cmd) {
    case 'setPeer': e.setPeer(c.peerId, c.endpoint, c.allowed, { nodeId: c.nodeId ? bytes(c.nodeId) : undefined, via: c.via, ...(c.gatewayClient === undefined ? {} : { gatewayClient: c.gatewayClient }) }); return;
    case 'removePeer': e.removePeer(c.peerId); return;
    case 'setSession': {
      const k = c.keys;
      e.setSession(c.peerId, { localIndex: k.localIndex, remoteIndex: k.remoteIndex, sendKey: bytes(k.sendKey), recvKey: bytes(k.recvKey), initiator: k.initiator });
      return;
    }
    case 'removeSession': e.removeSession(c.localIndex); return;
    case 'sendFrame': e.sendFrame(c.endpoint, bytes(c.bytes)); return;
    case 'sendControl': e.sendControl(c.peerId, bytes(c.bytes)); return;
    case 'sendKeepalive': e.sendKeepalive(c.peerId); return;
    case 'setAddress': e.setAddress(c.cidr, c.assign); return;
  }
}

async function handle(r: Req): Promise<unknown> {
  switch (r.op) {
    case 'start': {
      ifname = r.ifname;
      engine = startEngine({ mode: 'tun', ifname, listenPort: r.listenPort, listenAddress: '0.0.0.0', address: r.address, nodeId: Buffer.from(r.nodeId, 'hex'), ...(r.destinations ? { destinations: r.destinations } : {}) },
        () => setImmediate(drain));
      await listen(r.address.split('/')[0]!);
      return engine.localAddr();
    }
    case 'addAddress':
      execFileSync('ip', ['addr', 'add', r.cidr, 'dev', ifname]);
      await listen(r.cidr.split('/')[0]!);
      return null;
    case 'apply': apply(engine!, r.c); return null;
    case 'send': {
      const s = dgram.createSocket('udp4');
      await new Promise<void>((res, rej) => { s.once('error', rej); s.bind(0, r.src, () => res()); });
      await new Promise<void>((res, rej) => s.send(Buffer.from(r.marker), MARKER_PORT, r.dst, (err) => (err ? rej(err) : res())));
      s.close();
      return null;
    }
    case 'delivered': return delivered;
    case 'events': drain(); return events.splice(0);
    case 'stats': return engine!.stats();
    case 'close':
      engine?.close();
      for (const s of sockets) s.close();
      setImmediate(() => process.exit(0));
      return null;
  }
}

// one request at a time, answered in order
let chain = Promise.resolve();
createInterface({ input: process.stdin }).on('line', (line) => {
  const { id, ...req } = JSON.parse(line) as Req & { id: number };
  chain = chain.then(async () => {
    let out: object;
    try {
      out = { id, ok: true, result: await handle(req as Req) };
    } catch (e) {
      out = { id, ok: false, error: (e as Error).message };
    }
    process.stdout.write(JSON.stringify(out, enc) + '\n');
  });
});
process.stdin.on('end', () => { engine?.close(); process.exit(0); });
