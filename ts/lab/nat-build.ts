// Owns building a NAT topology's namespaces from its plan (nat-topology.ts): the internet bridge, one
// router namespace per site (LAN bridge, sysctls, iptables rules) and the node namespaces behind them.
// Every command runs inside a lab namespace, never in the root one; a failed build removes what it made.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errors } from '../base/errors.js';
import { Netns } from './netns.js';
import {
  describePlan, loadTopology, parseTopology, planTopology, routerRules, routerSysctls, type PlanRouter, type TopologyInput, type TopologyPlan,
} from './nat-topology.js';
import { mapLimit } from './util.js';

export { topologyState, type TopologyInput } from './nat-topology.js';

/** The plan of lab `lab` for a preset name, a topology file or a topology object (validated here too). */
export function planFor(t: string | TopologyInput, lab: string): TopologyPlan {
  const { source, topology } = typeof t === 'string' ? loadTopology(t) : { source: 'the topology option', topology: parseTopology(t, 'the topology option') };
  return planTopology(topology, lab, source);
}

export interface NatNet {
  /** the internet bridge (br0) */
  hub: Netns;
  /** node i's namespace, in plan order */
  hosts: Netns[];
  /** site k's router namespace */
  routers: Netns[];
  destroy(): Promise<void>;
}

export interface BuildOptions {
  /** where each router's rules are written (nat-<site>.rules) before iptables-restore reads them */
  rulesDir: string;
  mtu?: number;
  onProgress?: (line: string) => void;
}

/** Builds every namespace, link, address, route, sysctl and rule of `plan`; on failure removes them and throws. */
export async function buildNatNet(plan: TopologyPlan, o: BuildOptions): Promise<NatNet> {
  const made: Netns[] = [];
  const mtu = String(o.mtu ?? 1500);
  const create = async (name: string): Promise<Netns> => { const ns = await Netns.create(name); made.push(ns); return ns; };
  /** a veth from `ns` (named `inner`) to `outer` in `up`, enslaved to the bridge `br` there */
  const link = async (ns: Netns, inner: string, up: Netns, outer: string, br: string): Promise<void> => {
    await ns.ip(['link', 'add', inner, 'mtu', mtu, 'type', 'veth', 'peer', 'name', outer, 'mtu', mtu, 'netns', up.name]);
    await up.ip(['link', 'set', outer, 'master', br, 'up']);
  };
  for (const line of describePlan(plan)) o.onProgress?.(`  ${line}`);
  try {
    const hub = await create(plan.hub);
    await hub.ip(['link', 'add', 'br0', 'type', 'bridge']);
    await hub.ip(['link', 'set', 'br0', 'up']);
    const routers: Netns[] = [];
    for (const r of plan.routers) {
      // in order: a site behind another comes after it, so its parent exists
      const ns = await create(r.ns);
      routers.push(ns);
      await sysctl(ns, routerSysctls(r));
      await ns.ip(['link', 'add', 'lan', 'type', 'bridge']);
      await ns.ip(['addr', 'add', r.lanCidr, 'dev', 'lan']);
      await ns.ip(['link', 'set', 'lan', 'up']);
      const up = r.parent === null ? hub : routers[r.parent]!;
      await link(ns, 'wan', up, r.uplink, r.parent === null ? 'br0' : 'lan');
      await ns.ip(['addr', 'add', r.wanCidr, 'dev', 'wan']);
      await ns.ip(['link', 'set', 'wan', 'up']);
      if (r.gateway) await ns.ip(['route', 'add', 'default', 'via', r.gateway]);
      await loadRules(ns, plan, r, o.rulesDir);
    }
    const hosts = await mapLimit(plan.nodes, 4, async (n) => {
      const ns = await create(n.ns);
      if (n.site === null) await link(ns, 'eth0', hub, `p${n.index}`, 'br0');
      else {
        const k = plan.routers.findIndex((r) => r.site.name === n.site);
        await link(ns, 'eth0', routers[k]!, `n${n.index}`, 'lan');
      }
      await ns.ip(['addr', 'add', n.cidr, 'dev', 'eth0']);
      await ns.ip(['link', 'set', 'eth0', 'up']);
      if (n.gateway) await ns.ip(['route', 'add', 'default', 'via', n.gateway]);
      return ns;
    });
    return { hub, hosts, routers, destroy: async () => { await mapLimit(made, 8, (ns) => ns.destroy()); } };
  } catch (e) {
    await mapLimit(made, 8, (ns) => ns.destroy());
    throw e;
  }
}

async function sysctl(ns: Netns, settings: string[]): Promise<void> {
  const r = await ns.exec('sysctl', ['-q', '-w', ...settings], { allowFail: true });
  if (r.code === 0) return;
  if (/exec of "sysctl" failed/.test(r.stderr)) throw errors.E_LAB_MISSING_TOOL('the NAT lab sets sysctls in its router namespaces with `sysctl` (apt-get install procps)');
  throw errors.E_NETNS(`${ns.name}: sysctl ${settings.join(' ')}: ${r.stderr.trim() || `exit ${r.code}`}`);
}

async function loadRules(ns: Netns, plan: TopologyPlan, r: PlanRouter, dir: string): Promise<void> {
  const file = join(dir, `nat-${r.site.name}.rules`);
  writeFileSync(file, routerRules(plan, r), { mode: 0o600 });
  const res = await ns.exec('iptables-restore', [file], { allowFail: true });
  if (res.code === 0) return;
  if (/exec of "iptables-restore" failed/.test(res.stderr)) throw errors.E_LAB_MISSING_TOOL('the NAT lab loads its routers\' rules with iptables-restore (apt-get install iptables)');
  throw errors.E_NETNS(`${ns.name}: iptables-restore ${file}: ${res.stderr.trim() || `exit ${res.code}`}`);
}
