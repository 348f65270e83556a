// Network test of the virtual LAN (issue 5): 8 real overlay daemons in namespaces on one switch.
// Addresses come from the OS DHCP client (busybox udhcpc), names from DNS on the device, a TCP
// transfer runs over a direct on-demand session, 2 nodes are killed and the rest recover within 30 s,
// and a restarted node gets its address back.
import { randomBytes } from 'node:crypto';
import { netTest } from './support.js';
import { RingLab, UDHCPC_SCRIPT } from '../../ts/lab/ringlab.js';
import { requestControl } from '../../ts/runtime/control.js';
import { transfer } from '../../ts/lab/transfer.js';

const N = 8;
type Conn = { nodeId: string; session: boolean; dataplane: { txPackets?: number; txRelayedPackets?: number } | null };
type Status = { nodeId: string; address: string | null; connections: Conn[]; dataPeers: Array<{ nodeId: string; dataplane: Conn['dataplane'] }> };

async function ping(lab: RingLab, from: number, vip: string): Promise<boolean> {
  const r = await lab.node(from).ns.exec('ping', ['-c', '6', '-i', '0.2', '-W', '1', vip], { allowFail: true, timeoutMs: 8_000 });
  return /[1-9]\d* received/.test(String(r.stdout));
}

netTest('8-node virtual LAN: DHCP from the OS client, all-pairs ping, DNS, direct TCP, recovery from 2 crashes, address kept on restart', async (t) => {
  const name = 't' + randomBytes(3).toString('hex');
  // node2 is a router for 10.99.0.0/24 (a veth in its namespace stands for the site behind it)
  const lab = await RingLab.up({
    nodes: N, name, dir: `/tmp/ringvpn-lab-${name}`, onProgress: (l) => t.log(l),
    edit: (cfg, i) => { if (i === 2 && cfg.network) cfg.network.routes = ['10.99.0.0/24']; },
  });
  try {
    // 1. every address was configured on the device by udhcpc, and it is the one the daemon claimed
    const st: Status[] = [];
    for (let i = 0; i < N; i++) {
      const s = await lab.status(i) as unknown as Status;
      const ipOut = await lab.node(i).ns.exec('ip', ['-4', '-o', 'addr', 'show', 'dev', 'rv0']);
      t.truthy(s.address, `node${i} has an address`);
      t.true(String(ipOut.stdout).includes(`inet ${s.address}/`), `node${i}: the OS interface carries ${s.address} (from DHCP)`);
      st.push(s);
    }
    t.is(new Set(st.map((s) => s.address)).size, N, 'addresses are unique');

    // 2. all pairs reachable and the ring consistent
    const c = await lab.check({ onProgress: (l) => t.log(l) });
    t.is(c.pairs.reachable, c.pairs.total, `unreachable: ${JSON.stringify(c.pairs.unreachable)}`);
    t.true(c.crawl.ok, 'crawl consistent');

    // 3. names resolve through the DNS on the device
    const ns = await lab.node(0).ns.exec('busybox', ['nslookup', 'node5.ringvpn', '10.128.0.1'], { allowFail: true, timeoutMs: 10_000 });
    t.true(String(ns.stdout).includes(st[5]!.address!), `node5.ringvpn -> ${st[5]!.address}: ${String(ns.stdout)}`);

    // 3b. router mode: node0 learns the subnet, its OS gets the route by DHCP (option 121), and reaches the site
    const r2 = lab.node(2).ns;
    await r2.ip(['link', 'add', 'site0', 'type', 'veth', 'peer', 'name', 'site1']);
    await r2.ip(['addr', 'add', '10.99.0.1/24', 'dev', 'site0']);
    await r2.ip(['link', 'set', 'site0', 'up']);
    await r2.ip(['link', 'set', 'site1', 'up']);
    const tr = Date.now();
    let learned = false;
    while (Date.now() - tr < 45_000 && !learned) {
      const s0 = await lab.status(0) as unknown as { lan: { routes: Array<{ cidr: string }> } };
      learned = s0.lan.routes.some((x) => x.cidr === '10.99.0.0/24');
      if (!learned) await new Promise((res) => setTimeout(res, 1_000));
    }
    t.true(learned, 'node0 learned the announced subnet from the DHT');
    await lab.node(0).ns.exec('busybox', ['udhcpc', '-i', 'rv0', '-f', '-q', '-n', '-t', '5', '-T', '1', '-O', 'mtu', '-O', 'staticroutes', '-s', UDHCPC_SCRIPT], { timeoutMs: 20_000 });
    const rt = await lab.node(0).ns.exec('ip', ['route', 'show', '10.99.0.0/24']);
    t.true(String(rt.stdout).includes('via 10.128.0.1'), `DHCP installed the route: ${String(rt.stdout)}`);
    t.true(await ping(lab, 0, '10.99.0.1'), 'node0 reaches the subnet behind node2');

    // 4. a TCP transfer uses a direct session (counters: bulk on the direct peer, almost nothing relayed)
    const r = await transfer(lab.node(1).ns, lab.node(6).ns, st[6]!.address!, 20 * 1024 * 1024);
    t.is(r.received.sha256, r.sent.sha256);
    const s1 = await lab.status(1) as unknown as Status;
    const toSix = [...s1.connections, ...s1.dataPeers].find((x) => x.nodeId === st[6]!.nodeId);
    t.truthy(toSix?.dataplane, 'node1 has a data-plane peer for node6');
    t.true((toSix!.dataplane!.txPackets ?? 0) > 5_000, `direct packets: ${toSix!.dataplane!.txPackets}`);
    t.true((toSix!.dataplane!.txRelayedPackets ?? 0) < 50, `relayed packets: ${toSix!.dataplane!.txRelayedPackets}`);

    // 5. kill 2 nodes: the rest are consistent and fully reachable within 30 s
    const dead = [3, 6];
    for (const i of dead) await lab.kill(i, 'SIGKILL');
    const live = [...Array(N).keys()].filter((i) => !dead.includes(i));
    const t0 = Date.now();
    let healed = false;
    while (Date.now() - t0 < 30_000) {
      const cr = await requestControl(lab.node(0).socket, { cmd: 'crawl' }, 20_000).catch(() => null) as { ok: boolean; nodes: number } | null;
      t.log(`+${Date.now() - t0} ms: crawl ${cr ? `${cr.nodes} nodes, ok=${cr.ok}` : 'failed'}`);
      if (cr?.ok && cr.nodes === live.length) {
        const pairs = live.flatMap((a) => live.filter((b) => b !== a).map((b) => [a, b] as const));
        const ok = await Promise.all(pairs.map(([a, b]) => ping(lab, a, st[b]!.address!)));
        if (ok.every(Boolean)) { healed = true; break; }
        t.log(`+${Date.now() - t0} ms: ${ok.filter((x) => !x).length} pairs unreachable`);
      }
      await new Promise((res) => setTimeout(res, 1_000));
    }
    const healMs = Date.now() - t0;
    t.log(`after killing 2 of ${N}: consistent and all ${live.length * (live.length - 1)} pairs reachable after ${healMs} ms`);
    t.true(healed && healMs <= 30_000, `healed within 30 s (${healMs} ms)`);

    // 6. a restarted node gets the same address back
    await lab.restart(3);
    await lab.waitForAddresses([3], 60_000, (l) => t.log(l));
    const again = await lab.status(3) as unknown as Status;
    t.is(again.address, st[3]!.address, 'restarted node3 kept its address');
  } finally {
    await lab.down();
  }
});
