// Unit tests of the ring lab's pure parts: names and addresses, node configs, state.json round trip,
// pair sampling and the crawl view built from status replies. No root, no namespaces.
import test from 'ava';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../config/schema.js';
import { encodeKey, generateKeyPair } from '../config/keys.js';
import { crawl, idealView } from '../core/crawl.js';
import { idToHex, type NodeId } from '../base/nodeid.js';
import { Xoshiro128 } from '../core/rng.js';
import {
  bootstrapFor, checkName, crawlInput, initialState, isLabNs, locateDir, nodeConfig, nsName, pointerPath,
  readState, removeStateDir, samplePairs, firstPings, staticVip, underlayAddress, underlayMac, writeState, type NodeStatus,
} from './labstate.js';
import { mapLimit } from './util.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'rvlab-test-'));

test('names and addresses', (t) => {
  t.is(nsName('x', 3), 'rvlab-x-3');
  t.is(nsName('x', 'sw'), 'rvlab-x-sw');
  t.true(isLabNs('x', 'rvlab-x-sw'));
  t.true(isLabNs('x', 'rvlab-x-127'));
  t.false(isLabNs('x', 'rvlab-x1-3'));
  t.false(isLabNs('x', 'rvlab-x-3-sw'));
  t.false(isLabNs('x', 'rvt-x-3'));
  t.throws(() => checkName('a_b'), { code: 'E_LAB_ARGS' } as never);
  t.throws(() => checkName('Ring'), { code: 'E_LAB_ARGS' } as never);
  t.throws(() => checkName('ring-'), { code: 'E_LAB_ARGS' } as never);
  t.is(checkName('a-b'), 'a-b');
  t.false(isLabNs('a', 'rvlab-a-b-3'), 'lab a-b is not lab a');
  t.false(isLabNs('a-b', 'rvlab-a-3'));
  t.throws(() => checkName(''), { code: 'E_LAB_ARGS' } as never);
  t.is(checkName('ring1'), 'ring1');
  t.is(underlayAddress(0), '10.200.0.1');
  t.is(underlayAddress(249), '10.200.0.250');
  t.is(underlayAddress(250), '10.200.1.1');
  t.is(underlayMac(0), '02:00:0a:c8:00:01');
  t.is(underlayMac(260), '02:00:0a:c8:01:0b');
  t.is(staticVip(0), '10.128.1.1');
  t.is(staticVip(260), '10.128.2.11');
  t.deepEqual(bootstrapFor(0), []);
  t.deepEqual(bootstrapFor(1), ['10.200.0.1:51820']);
  t.deepEqual(bootstrapFor(2), ['10.200.0.1:51820', '10.200.0.2:51820']);
  t.deepEqual(bootstrapFor(50), ['10.200.0.1:51820', '10.200.0.2:51820', '10.200.0.3:51820']);
});

test('node config: overlay mode, DHCP or static', (t) => {
  const key = encodeKey(generateKeyPair().privateKey);
  const dhcp = nodeConfig({ lab: 'x', index: 5, privateKey: key, dir: '/run/ringvpn-lab/x', mode: 'tap', static: false });
  t.deepEqual(dhcp, {
    privateKey: key, name: 'node5', device: { mode: 'tap', name: 'rv0', mtu: 1420 }, listenPort: 51820,
    controlSocket: '/run/ringvpn-lab/x/node5.sock', log: { level: 'info' },
    network: { id: 'x', subnet: '10.128.0.0/16', domain: 'ringvpn', dhcp: true },
    overlay: { bootstrap: ['10.200.0.1:51820', '10.200.0.2:51820', '10.200.0.3:51820'] },
  });
  const st = nodeConfig({ lab: 'x', index: 0, privateKey: key, dir: '/d', mode: 'tun', static: true, logLevel: 'debug' });
  t.deepEqual(st.network, { id: 'x', subnet: '10.128.0.0/16', domain: 'ringvpn', dhcp: false, address: '10.128.1.1' });
  t.deepEqual(st.overlay.bootstrap, []);
  t.is(st.device.mode, 'tun');
  t.is(st.log.level, 'debug');
  const tun = nodeConfig({ lab: 'x', index: 1, privateKey: key, dir: '/d', mode: 'tun', static: false });
  t.false(tun.network.dhcp, 'DHCP needs TAP: a TUN node gets its address from the daemon');
  t.is(tun.network.address, undefined);
});

// The daemon validates these configs.
test('node configs pass the config schema', (t) => {
  for (const mode of ['tap', 'tun'] as const) {
    for (const isStatic of [false, true]) {
      const cfg = nodeConfig({ lab: 'my-lab', index: 4, privateKey: encodeKey(generateKeyPair().privateKey), dir: '/d', mode, static: isStatic });
      t.notThrows(() => parseConfig(cfg, 'lab config'), `${mode} ${isStatic ? 'static' : 'dynamic'}`);
    }
  }
});

test('state file round trip, modes, locate and removal of only our files', (t) => {
  const root = tmp();
  try {
    const dir = join(root, 'x');
    const s = initialState({ name: 'x', dir, mode: 'tap', static: false, publicKeys: ['a', 'b', 'c'] });
    s.nodes[1]!.pid = 4242;
    writeState(s);
    t.deepEqual(readState(dir), s);
    t.is(statSync(join(dir, 'state.json')).mode & 0o777, 0o600);
    t.is(statSync(dir).mode & 0o777, 0o700);
    t.is(s.nodes[2]!.ns, 'rvlab-x-2');
    t.is(s.nodes[2]!.socket, join(dir, 'node2.sock'));
    t.is(s.nodes[0]!.vip, null);
    t.is(initialState({ name: 'y', dir, mode: 'tun', static: true, publicKeys: ['a'] }).nodes[0]!.vip, '10.128.1.1');
    t.is(readState(join(root, 'none')), null);
    t.is(locateDir('x', undefined, root), dir);
    writeFileSync(pointerPath('z', root), '/elsewhere/z\n');
    t.is(locateDir('z', undefined, root), '/elsewhere/z');
    t.is(locateDir('z', '/given', root), '/given');
    writeFileSync(join(dir, 'state.json'), '{"version": 2}');
    t.throws(() => readState(dir), { code: 'E_LAB_STATE' } as never);
    writeFileSync(join(dir, 'node0.log'), 'x');
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    const notes: string[] = [];
    t.is(removeStateDir(dir, notes), null);
    t.deepEqual(readdirSync(dir), ['notes.txt']);
    t.is(notes.length, 1);
    rmSync(join(dir, 'notes.txt'));
    writeFileSync(join(dir, 'node12.dhcp.log'), 'x');
    writeFileSync(join(dir, 'underlay.neigh'), 'x');
    t.is(removeStateDir(dir, []), dir);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('pair sampling: all ordered pairs up to 16 nodes, k distinct others per node beyond', (t) => {
  const all = samplePairs(16, 4, new Xoshiro128(1));
  t.is(all.length, 16 * 15);
  t.is(new Set(all.map((p) => `${p.from}>${p.to}`)).size, 240);
  t.true(all.every((p) => p.from !== p.to));
  const some = samplePairs(128, 4, new Xoshiro128(7));
  t.is(some.length, 128 * 4);
  for (let i = 0; i < 128; i++) {
    const to = some.filter((p) => p.from === i).map((p) => p.to);
    t.is(to.length, 4);
    t.is(new Set(to).size, 4);
    t.true(to.every((j) => j !== i && j >= 0 && j < 128));
  }
  t.deepEqual(samplePairs(128, 4, new Xoshiro128(7)), some, 'same seed, same sample');
  t.is(samplePairs(20, 30, new Xoshiro128(1)).length, 20 * 19, 'k >= n-1 means all pairs');
  // every target is reachable by the sampler (no off-by-one around the source)
  const hit = new Set(samplePairs(40, 3, new Xoshiro128(3)).concat(samplePairs(40, 3, new Xoshiro128(4))).map((p) => p.to));
  t.true(hit.has(0) && hit.has(39));
});

function statusesOf(view: Map<NodeId, { left1?: NodeId; left2?: NodeId; right1?: NodeId; right2?: NodeId }>): Array<{ name: string; status: NodeStatus | null }> {
  return [...view].map(([id, v], i) => ({
    name: `node${i}`,
    status: {
      nodeId: idToHex(id), name: `node${i}`, address: `10.128.0.${i + 1}`, joined: true,
      ring: Object.fromEntries(Object.entries(v).map(([k, x]) => [k, idToHex(x as NodeId)])),
      connections: [],
    },
  }));
}

test('crawl input from status replies: a good ring is consistent, faults are named', (t) => {
  const ids = Array.from({ length: 10 }, (_, i) => BigInt(i + 1) << 150n);
  const good = crawlInput(statusesOf(idealView(ids)));
  t.deepEqual(good.errors, []);
  t.true(crawl(good.view).ok);

  const replies = statusesOf(idealView(ids));
  replies[3]!.status = null;
  (replies as Array<{ name: string; status: NodeStatus | null; error?: string }>)[3]!.error = 'timeout';
  replies[5]!.status!.joined = false;
  replies[6]!.status!.ring!.right1 = 'xyz';
  const bad = crawlInput(replies);
  t.false(crawl(bad.view).ok);
  t.true(bad.errors.includes('node3: no status (timeout)'));
  t.true(bad.errors.includes('node5: not joined'));
  t.true(bad.errors.includes('node6: ring.right1 is not a 40-hex id'));
  t.true(bad.errors.includes('node6: no right1'));
  t.true(bad.errors.some((e) => e.startsWith('node7: its left1 node6 has right1')), bad.errors.join('\n'));
});

test('mapLimit keeps order and bounds concurrency', async (t) => {
  let running = 0, peak = 0;
  const r = await mapLimit(Array.from({ length: 50 }, (_, i) => i), 7, async (x) => {
    running++; peak = Math.max(peak, running);
    await new Promise((res) => setTimeout(res, 1 + (x % 3)));
    running--;
    return x * 2;
  });
  t.deepEqual(r, Array.from({ length: 50 }, (_, i) => i * 2));
  t.is(peak, 7);
});

test('firstPings summarizes the first echo request of each pair', (t) => {
  const r = firstPings([
    { from: 'a', to: 'b', vip: '10.0.0.2', firstMs: 3 },
    { from: 'a', to: 'c', vip: '10.0.0.3', firstMs: null },
    { from: 'b', to: 'c', vip: '10.0.0.3', firstMs: 1 },
    { from: 'c', to: 'd', vip: null, firstMs: null },
  ]);
  t.deepEqual(r, { answered: 2, medianMs: 3, maxMs: 3, unanswered: [{ from: 'a', to: 'c' }] });
});
