// Owns a hostile but authenticated overlay member for the network tests, run inside a lab namespace
// (`node --import tsx rogue-member.ts <config> <flood seconds> [--route <cidr>[@<node id>]]`): the real daemon (Daemon, real data
// plane, a real key and, in a private group, a real certificate) joins the ring, then floods every peer
// it holds a connection with through the data plane's own CONTROL frames: pings, connect-to-me
// requests, broadcasts and DHT puts, as fast as the event loop allows. It prints one JSON line with
// what it sent, and stays a member until killed. It must not be imported by the daemon.
import { loadConfig } from '../../ts/config/schema.js';
import { createLogger } from '../../ts/runtime/log.js';
import { Daemon } from '../../ts/runtime/daemon.js';
import { startEngine, type DataPlane } from '../../ts/runtime/engine.js';
import { encode } from '../../ts/wire/overlay-codec.js';

const cfg = loadConfig(process.argv[2]!);
const seconds = Number(process.argv[3] ?? 10);
// `--route <cidr>[@<node id hex>]`: its data plane also routes <cidr> to every peer it learns, or to that
// one (a member trying to use the others' hosts as routers to their LANs or the Internet, or a gateway)
const routeArg = process.argv.indexOf('--route') > 0 ? process.argv[process.argv.indexOf('--route') + 1] : undefined;
const [route, routeTo] = routeArg ? routeArg.split('@') : [];
let engine: DataPlane | undefined;
const daemon = await Daemon.create(cfg, createLogger('warn', 'rogue'), {
  startEngine: (c, on) => {
    const e = startEngine(c, on);
    if (route) {
      const setPeer = e.setPeer.bind(e);
      e.setPeer = (id, endpoint, allowed, opts) => {
        const to = !routeTo || (opts?.nodeId && Buffer.from(opts.nodeId).toString('hex') === routeTo);
        setPeer(id, endpoint, to ? [...allowed, route] : allowed, opts);
      };
    }
    return (engine = e);
  },
});
await daemon.start();
const node = daemon.node;
const deadline = Date.now() + 60_000;
while (!(node.overlay?.joined && node.overlay.table.size >= 2) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));

const sent: Record<string, number> = { ping: 0, ctm: 0, bcast: 0, 'dht-put': 0 };
let failed = 0;
const self = node.self;
const until = Date.now() + seconds * 1000;
let i = 0;
while (Date.now() < until) {
  const peers = [...(node.overlay?.table.values() ?? [])].map((c) => c.id).flatMap((id) => { const p = node.links.peerOf(id); return p?.established ? [{ id, peerId: p.peerId }] : []; });
  for (let k = 0; k < 200 && peers.length; k++, i++) {
    const p = peers[i % peers.length]!;
    const kind = (['ping', 'ctm', 'bcast', 'dht-put'] as const)[Math.floor(i / peers.length) % 4]!;
    const msg = kind === 'ping' ? encode({ type: 'ping', rpcId: i >>> 0 })
      : kind === 'ctm' ? encode({ type: 'routed', mode: 'exact', dir: 'right', ttl: 4, hops: 0, src: self, dest: p.id, inner: { type: 'ctm', token: i >>> 0, kind: 0, endpoints: node.overlay!.endpoints.slice(0, 2) } })
        : kind === 'bcast' ? encode({ type: 'bcast', origin: self, seq: (i + 1_000_000) >>> 0, end: p.id, hops: 0, payload: Uint8Array.of(0xff) })
          : encode({ type: 'routed', mode: 'closest', dir: 'right', ttl: 4, hops: 0, src: self, dest: p.id, inner: { type: 'dht', op: 'put', reqId: 0, idx: 0, create: false, ttlMs: 60_000, key: Uint8Array.of(i & 0xff, (i >> 8) & 0xff, 7), value: Uint8Array.of(1, 2, 3) } });
    try { engine!.sendControl(p.peerId, Buffer.from(msg)); sent[kind]!++; } catch { failed++; }
  }
  await new Promise((r) => setImmediate(r));
}
process.stdout.write(JSON.stringify({ sent, failed, peers: node.overlay?.table.size ?? 0 }) + '\n');
