// The daemon against an in-memory data plane: two nodes handshake through fake engines that
// deliver frames to each other, so the control-plane wiring is tested without root or a device.
import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Daemon } from './daemon.js';
import { requestControl } from './control.js';
import { printStatus } from '../cli/status.js';
import { parseConfig } from '../config/schema.js';
import { generateKeyPair, encodeKey } from '../config/keys.js';
import type { DataPlane, EngineEvent, SessionKeys, EngineConfig, EngineStats, EnginePeerStats } from './engine.js';

const peerStats = (peerId: number): EnginePeerStats => ({
  peerId, endpoint: null, rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, txDataPackets: 0, txDataBytes: 0, rxDataPackets: 0, rxDataBytes: 0,
  txRelayedPackets: 0, txRelayedBytes: 0, rxRelayedPackets: 0, rxRelayedBytes: 0, pendingHeld: 0, pendingReleased: 0,
  rxPendingHeld: 0, rxPendingReleased: 0, keepalivesSent: 0, staleSessions: 0,
  nodeId: null, via: null, relayOnly: false, lastHandshakeMs: null, lastRxMs: null, sessions: 0,
});

class FakeEngine implements DataPlane {
  events: EngineEvent[] = [];
  sessions: Array<{ peerId: number; keys: SessionKeys }> = [];
  removed: number[] = [];
  peers = new Map<number, { endpoint: string | null; allowed: string[] }>();
  keepalives = 0;
  closed = false;
  constructor(readonly addr: string, readonly net: Map<string, FakeEngine>, readonly notify: () => void) { net.set(addr, this); }
  setPeer(id: number, endpoint: string | null, allowed: string[]): void { this.peers.set(id, { endpoint, allowed }); }
  removePeer(id: number): boolean { return this.peers.delete(id); }
  setSession(peerId: number, keys: SessionKeys): void { this.sessions.push({ peerId, keys }); }
  removeSession(i: number): boolean { this.removed.push(i); return true; }
  sendFrame(to: string, data: Buffer): void {
    const dst = this.net.get(to);
    if (!dst) return;
    dst.events.push({ kind: 'handshake', from: this.addr, data: Buffer.from(data) });
    setImmediate(() => dst.notify());
  }
  sendControl(): void {}
  sendKeepalive(): void { this.keepalives++; }
  setAddress(): void {}
  routes: string[][] = [];
  setRoutes(cidrs: string[]): number[] { this.routes.push(cidrs); return [cidrs.length, 0, 0]; }
  writeDevice(): void {}
  drainEvents(): EngineEvent[] { const e = this.events; this.events = []; return e; }
  stats(): EngineStats {
    return {
      rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, relayForwarded: 0, relayPairs: 0, relayMaxPairs: 128, deviceIntercepted: 0, pendingHeld: 0, pendingReleased: 0,
      rxPendingHeld: 0, rxPendingReleased: 0, keepalivesSent: 0, staleSessions: 0, offloads: 0, udpGro: false, gsoReads: 0, gsoSegments: 0, groMerged: 0, groWrites: 0, udpGsoSends: 0, udpGsoRefused: 0,
      drops: { replay: 0 }, peers: [...this.peers.keys()].map(peerStats),
    };
  }
  localAddr(): string { return this.addr; }
  ifname(): string { return 'fake0'; }
  close(): void { this.closed = true; this.net.delete(this.addr); }
}

test('two daemons handshake through the engine seam and install matching keys', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rvd-'));
  const ka = generateKeyPair();
  const kb = generateKeyPair();
  const net = new Map<string, FakeEngine>();
  const engines: FakeEngine[] = [];
  const mk = (own: typeof ka, peer: typeof kb, i: number) => parseConfig({
    privateKey: encodeKey(own.privateKey), address: `10.9.0.${i}/24`, controlSocket: join(dir, `n${i}.sock`),
    ...(i === 1 ? { metrics: { listen: '127.0.0.1:0' } } : {}),
    listenPort: 51820, device: { name: `rvd${i}` },
    peers: [{ publicKey: encodeKey(peer.publicKey), endpoint: `192.0.2.${3 - i}:51820`, address: `10.9.0.${3 - i}` }],
  });
  const log = pino({ level: 'silent' });
  const startEngine = (cfg: EngineConfig, onEvents: () => void): DataPlane => {
    const e = new FakeEngine(`192.0.2.${cfg.address === '10.9.0.1/24' ? 1 : 2}:51820`, net, onEvents);
    engines.push(e);
    return e;
  };
  const a = await Daemon.create(mk(ka, kb, 1), log, { startEngine });
  let stopAsked = false;
  const b = await Daemon.create(mk(kb, ka, 2), log, { startEngine, onStopRequest: () => { stopAsked = true; } });
  await a.start();
  await b.start();
  await new Promise((r) => setTimeout(r, 200));
  const [ea, eb] = engines as [FakeEngine, FakeEngine];
  t.true(ea.sessions.length >= 1 && eb.sessions.length >= 1, 'both engines got sessions');
  // Every session one side holds has its mirror on the other side.
  for (const s of ea.sessions) {
    const m = eb.sessions.find((x) => x.keys.localIndex === s.keys.remoteIndex);
    t.truthy(m, 'mirror session exists');
    t.deepEqual(m!.keys.recvKey, s.keys.sendKey);
    t.deepEqual(m!.keys.sendKey, s.keys.recvKey);
    t.is(m!.keys.initiator, !s.keys.initiator);
  }
  t.deepEqual(ea.peers.get(1), { endpoint: '192.0.2.2:51820', allowed: ['10.9.0.2/32'] });
  const status = await requestControl(join(dir, 'n1.sock'), { cmd: 'status' }) as { peers: Array<{ lastHandshakeAgoMs: number | null }>; drops: object };
  t.not(status.peers[0]!.lastHandshakeAgoMs, null);
  t.deepEqual(status.drops, { replay: 0 });
  // `ringvpn status` renders the same object for people.
  const lines: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string) => { lines.push(chunk); return true; }) as typeof process.stdout.write;
  try { printStatus(status as Parameters<typeof printStatus>[0]); } finally { process.stdout.write = write; }
  const text = lines.join('');
  t.regex(text, /device rvd1 \(tap\)\s+address 10\.9\.0\.1\/24/);
  t.regex(text, /10\.9\.0\.2\s+endpoint 192\.0\.2\.2:51820\s+handshake \d+ s ago \(\d+ total\)/);
  t.regex(text, /drops: none/);
  await t.throwsAsync(requestControl(join(dir, 'n1.sock'), { cmd: 'nope' }), { message: /unknown command/ });
  // the opt-in Prometheus endpoint: the same counters as the status, plus the process's own
  const where = a.metricsAddress();
  t.truthy(where, 'metrics listen on a free port');
  t.is((status as { metrics?: string | null }).metrics, where, 'status says where');
  const res = await fetch(`http://${where}/metrics`);
  t.is(res.status, 200);
  const body = await res.text();
  t.regex(body, /^ringvpn_drops_total\{reason="replay"\} 0$/m);
  t.regex(body, /^# TYPE ringvpn_drops_total counter$/m);
  t.regex(body, /^# TYPE ringvpn_node_events_total counter$/m);
  t.regex(body, /^ringvpn_peer_bytes_total\{peer="10\.9\.0\.2",direction="rx",path="direct"\} 0$/m);
  t.is(body.split('\n').filter((l) => l.startsWith('ringvpn_peer_bytes_total{')).length, 2, 'the one peer, each way, once');
  t.regex(body, /^ringvpn_process_resident_memory_bytes \d+$/m);
  t.regex(body, /^ringvpn_nodejs_eventloop_lag_seconds [\d.e-]+$/m);
  t.is((await fetch(`http://${where}/other`)).status, 404);
  // `ringvpn down`: a daemon whose owner takes stop requests stops; an embedded one without that hook refuses
  await t.throwsAsync(requestControl(join(dir, 'n1.sock'), { cmd: 'stop' }), { message: /embedded: its owner stops it/ });
  t.deepEqual(await requestControl(join(dir, 'n2.sock'), { cmd: 'stop' }), { stopping: true });
  await new Promise((r) => setTimeout(r, 50));
  t.true(stopAsked, 'the owner was asked to stop');
  await a.stop();
  await b.stop();
  t.true(ea.closed && eb.closed);
});

test('a bad config never leaves a half-configured device: engine closed when the control socket fails', async (t) => {
  const k = generateKeyPair();
  let closed = false;
  const dir = mkdtempSync(join(tmpdir(), 'rvd-'));
  writeFileSync(join(dir, 'file'), '');
  const cfg = parseConfig({ privateKey: encodeKey(k.privateKey), address: '10.9.0.1/24', controlSocket: join(dir, 'file', 'x.sock') });
  const d = await Daemon.create(cfg, pino({ level: 'silent' }), {
    startEngine: () => ({ ...new FakeEngine('x', new Map(), () => {}), close: () => { closed = true; }, setPeer() {}, localAddr: () => 'x' }) as unknown as DataPlane,
  });
  await t.throwsAsync(d.start(), { code: 'E_CONTROL_SOCKET' } as never);
  t.true(closed);
});

test('reload (SIGHUP): a mesh\'s peers change without dropping the sessions that stay; the log level changes; the rest needs a restart', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rvd-'));
  const [ka, kb, kc] = [generateKeyPair(), generateKeyPair(), generateKeyPair()];
  const net = new Map<string, FakeEngine>();
  const engines: FakeEngine[] = [];
  const peerB = (endpoint: string) => ({ publicKey: encodeKey(kb.publicKey), endpoint, address: '10.9.0.2' });
  const cfgA = (peers: unknown[], extra: Record<string, unknown> = {}) => parseConfig({ privateKey: encodeKey(ka.privateKey), address: '10.9.0.1/24', controlSocket: join(dir, 'a.sock'), listenPort: 51820, device: { name: 'rvd1' }, peers, ...extra });
  const cfgB = parseConfig({ privateKey: encodeKey(kb.privateKey), address: '10.9.0.2/24', controlSocket: join(dir, 'b.sock'), listenPort: 51820, device: { name: 'rvd2' }, peers: [{ publicKey: encodeKey(ka.publicKey), endpoint: '192.0.2.1:51820', address: '10.9.0.1' }] });
  const startEngine = (cfg: EngineConfig, onEvents: () => void): DataPlane => {
    const e = new FakeEngine(`192.0.2.${cfg.address === '10.9.0.1/24' ? 1 : 2}:51820`, net, onEvents);
    engines.push(e);
    return e;
  };
  const log = pino({ level: 'silent' });
  const a = await Daemon.create(cfgA([peerB('192.0.2.2:51820')]), log, { startEngine });
  const b = await Daemon.create(cfgB, pino({ level: 'silent' }), { startEngine });
  await a.start();
  await b.start();
  await new Promise((r) => setTimeout(r, 200));
  const ea = engines[0]!;
  const sessions = ea.sessions.length, removed = ea.removed.length;
  t.true(sessions >= 1, 'a session with B');
  const r = a.reload(cfgA([peerB('192.0.2.2:51820'), { publicKey: encodeKey(kc.publicKey), endpoint: '192.0.2.3:51820', address: '10.9.0.3', allowedIps: ['192.168.3.0/24'] }], { log: { level: 'warn' } }));
  t.deepEqual(r, { applied: ['log.level warn', 'peers: 1 added, 0 removed, 0 changed'], restartNeeded: [] });
  t.is(log.level, 'warn');
  t.deepEqual([...ea.peers.values()].map((p) => p.allowed).sort(), [['10.9.0.2/32'], ['10.9.0.3/32', '192.168.3.0/24']], 'C is in the data plane');
  t.deepEqual(ea.routes.at(-1), ['192.168.3.0/24'], 'and the OS routes its LAN through the device');
  t.is(ea.removed.length, removed, 'no session of B was removed');
  const st = await requestControl(join(dir, 'a.sock'), { cmd: 'status' }) as { peers: { address: string }[] };
  t.deepEqual(st.peers.map((p) => p.address), ['10.9.0.2', '10.9.0.3'], 'status lists the new peer');
  const r2 = a.reload(cfgA([{ publicKey: encodeKey(kc.publicKey), endpoint: '192.0.2.3:51820', address: '10.9.0.3' }], { listenPort: 51821, name: 'renamed', log: { level: 'warn' } }));
  t.deepEqual(r2, { applied: ['peers: 0 added, 1 removed, 1 changed'], restartNeeded: ['listenPort', 'name'] }, 'every other changed key, the name included, needs a restart');
  t.is(ea.peers.size, 1, 'B is gone from the data plane');
  t.deepEqual(ea.routes.at(-1), [], 'C no longer announces a LAN: the OS route goes');
  await a.stop();
  await b.stop();
});
