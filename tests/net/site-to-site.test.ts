// Network test of site-to-site routing (issue 15): three LANs, each behind a ringvpn router member that
// announces it (network.routes), overlay mode, TUN with static addresses and TAP with DHCP. The routers install the OS routes to the others' LANs
// themselves (netlink, `proto 82`), so hosts on one LAN reach hosts on another with no route set by hand; a
// third site started later is learned; a router's LAN withdrawn and announced again by a reload is
// unrouted and routed again; a router's routes go with it when it stops.
import { randomBytes } from 'node:crypto';
import { netTest } from './support.js';
import { RingLab } from '../../ts/lab/ringlab.js';
import { Netns } from '../../ts/lab/netns.js';
import { sleep } from '../../ts/lab/util.js';

const SITES = [1, 2, 3] as const; // router lab nodes 1, 2, 3 serve 192.168.<n>.0/24; node 3 starts later

for (const mode of ['tun', 'tap'] as const) netTest(`site-to-site (${mode === 'tun' ? 'TUN, static addresses' : 'TAP, addresses by DHCP'}): LANs behind router members reach each other with no manual route; a later site is learned`, async (t) => {
  const name = 's' + randomBytes(3).toString('hex');
  const lab = await RingLab.up({
    nodes: 4, reserve: 1, name, mode, static: mode === 'tun',
    edit: (cfg, i) => { if (i >= 1) cfg.network.routes = [`192.168.${i}.0/24`]; },
  });
  const hosts: Netns[] = [];
  try {
    for (const n of SITES) {
      const router = lab.node(n).ns;
      const host = await Netns.create(`rvsh${n}-${name}`);
      hosts.push(host);
      await router.ip(['link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host.name]);
      await router.ip(['addr', 'add', `192.168.${n}.1/24`, 'dev', 'lan0']);
      await router.ip(['link', 'set', 'lan0', 'up']);
      await router.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
      await host.ip(['addr', 'add', `192.168.${n}.2/24`, 'dev', 'eth0']);
      await host.ip(['link', 'set', 'eth0', 'up']);
      await host.ip(['route', 'add', 'default', 'via', `192.168.${n}.1`]);
    }
    const reach = async (from: number, to: number, tries: number): Promise<boolean> => {
      for (let k = 0; k < tries; k++) {
        const r = await hosts[from - 1]!.exec('ping', ['-n', '-c', '2', '-i', '0.2', '-W', '1', `192.168.${to}.2`], { allowFail: true });
        if (/[1-9]\d* received/.test(r.stdout)) return true;
        await sleep(1_000);
      }
      return false;
    };
    t.true(await reach(1, 2, 30), 'a host on LAN 1 reaches a host on LAN 2');
    t.true(await reach(2, 1, 5), 'and back');
    const routes = (await lab.node(1).ns.ip(['route', 'show', 'proto', '82'])).stdout;
    t.log(`router 1's own routes:\n${routes.trim()}`);
    // TUN: on-link; TAP: via the service address (the DHCP client may have added the same prefix first: then it stays)
    t.regex(routes + (await lab.node(1).ns.ip(['route'])).stdout, mode === 'tun' ? /^192\.168\.2\.0\/24 dev rv0 scope link $/m : /^192\.168\.2\.0\/24 via 10\.128\.0\.1 dev rv0/m, 'router 1 routes LAN 2 through its device');
    t.notRegex(routes, /192\.168\.1\.0/, 'not its own LAN');

    await lab.start(3);
    await lab.waitForAddresses([3], 60_000); // TAP: its OS takes the address by DHCP, as an operator's would
    // every router learns the new LAN (a ROUTES broadcast, then a read of the DHT record), then routes it
    const t3 = Date.now();
    const knows = async (n: number): Promise<boolean> => {
      const st = await lab.status(n) as unknown as { lan?: { routes?: { cidr: string }[] } };
      return SITES.filter((m) => m !== n).every((m) => st.lan?.routes?.some((r) => r.cidr === `192.168.${m}.0/24`) ?? false);
    };
    let learned = false;
    while (!learned && Date.now() - t3 < 60_000) { learned = (await Promise.all(SITES.map(knows))).every(Boolean); if (!learned) await sleep(500); }
    if (!learned) {
      for (const n of SITES) {
        const st = await lab.status(n) as unknown as { lan?: { routes?: unknown; address?: string }; links?: Record<string, number>; node?: Record<string, number> };
        t.log(`router ${n}: routes ${JSON.stringify(st.lan?.routes)} counters ${JSON.stringify(Object.fromEntries(Object.entries(st.links ?? {}).filter(([k]) => /route|broadcast|bcast|lan_/.test(k))))}`);
      }
    }
    t.true(learned, 'every router learns every other LAN');
    t.log(`the third LAN known to every router ${Date.now() - t3} ms after its router had its address`);
    const third = await reach(1, 3, 30);
    if (!third) {
      for (const n of SITES) {
        t.log(`router ${n} routes: ${(await lab.node(n).ns.ip(['route'])).stdout.trim().replace(/\n/g, ' | ')}`);
        const st = await lab.status(n) as unknown as { lan?: { routes?: unknown; routesAnnounced?: unknown }; drops?: Record<string, number> };
        t.log(`router ${n} lan routes ${JSON.stringify(st.lan?.routes)} announced ${JSON.stringify(st.lan?.routesAnnounced)} drops ${JSON.stringify(Object.fromEntries(Object.entries(st.drops ?? {}).filter(([, v]) => v)))}`);
      }
    }
    t.true(third, 'a third site started later is learned');
    t.true(await reach(3, 2, 30), 'and it reaches the others');
    t.regex((await lab.node(2).ns.ip(['route'])).stdout, /^192\.168\.3\.0\/24 .*dev rv0/m, 'router 2 routes LAN 3');

    // a router withdraws its LAN while running (network.routes reloaded): the others drop the route, then learn it again
    const r = await lab.reload(2, (cfg) => { cfg.network.routes = []; });
    t.deepEqual(r, { applied: ['routes: 0 added, 1 withdrawn'], restartNeeded: [] }, 'the reload applies the withdrawal');
    const gone = async (want: boolean): Promise<number> => {
      const t0 = Date.now();
      while (Date.now() - t0 < 30_000) {
        const has = /^192\.168\.2\.0\/24 .*dev rv0/m.test((await lab.node(1).ns.ip(['route'])).stdout);
        if (has !== want) return Date.now() - t0;
        await sleep(250);
      }
      return -1;
    };
    const dropped = await gone(true);
    t.true(dropped >= 0, 'router 1 drops its route to the withdrawn LAN');
    t.false(await reach(1, 2, 1), 'and LAN 2 is no longer reached');
    // the second time by a real SIGHUP (as `systemctl reload` sends): the daemon logs what it applied
    t.deepEqual(await lab.reload(2, (cfg) => { cfg.network.routes = ['192.168.2.0/24']; }, { via: 'sighup' }), { applied: ['routes: 1 added, 0 withdrawn'], restartNeeded: [] });
    const back = await gone(false);
    t.true(back >= 0, 'announced again, it is routed again');
    t.true(await reach(1, 2, 30), 'and reached again');
    t.log(`withdrawn LAN unrouted in ${dropped} ms; re-announced LAN routed in ${back} ms (no restart)`);

    await lab.kill(1, 'SIGTERM');
    t.notRegex((await lab.node(1).ns.ip(['route'])).stdout, /rv0|proto 82/, 'a stopped router leaves no route behind');
  } finally {
    for (const h of hosts) await h.destroy();
    await lab.down();
  }
});
