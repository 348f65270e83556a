// Owns NAT lab topologies: the file format (a valibot schema plus the checks across sites), the presets, the
// plan (namespace, addresses and router of every node and site) and each router's iptables rules as text.
// Pure apart from reading a topology file: it must not create namespaces or run commands (nat-build.ts does).
import { readFileSync } from 'node:fs';
import * as v from 'valibot';
import { errors, type RingvpnError } from '../base/errors.js';
import { LISTEN_PORT, MAX_NODES, nsName, routerNsName, underlayAddress, type LabTopologyState } from './labstate.js';

/** The NAT behaviours a site's router can have (RFC 4787 mapping / filtering; docs/nat-lab.md gives the rules). */
export const NAT_TYPES = ['full-cone', 'address-restricted', 'port-restricted', 'symmetric'] as const;
export type NatType = (typeof NAT_TYPES)[number];

const SITE_NAME = /^[a-z][a-z0-9]{0,11}$/;

const int = (min: number, max: number) => v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max));

const siteSchema = v.strictObject({
  name: v.pipe(v.string(), v.regex(SITE_NAME, 'expected 1-12 lower-case letters or digits, starting with a letter')),
  nat: v.picklist(NAT_TYPES),
  /** nodes on the site's LAN (0: a carrier NAT that only holds other sites) */
  nodes: v.optional(int(0, 100), 1),
  /** another site's name: this site's router sits on that site's LAN (double NAT) */
  behind: v.optional(v.string()),
  /** port-restricted sites with 2+ nodes: a datagram from the LAN to a node's public endpoint comes back in */
  hairpin: v.optional(v.boolean(), false),
  /** idle timeout of a UDP mapping, seconds (conntrack udp_timeout and udp_timeout_stream in the router) */
  udpTimeout: v.optional(int(1, 3600)),
});

const topologySchema = v.strictObject({
  description: v.optional(v.string()),
  /** nodes directly on the internet bridge: node0.. (the first up to three are the bootstrap seeds) */
  public: int(1, 250),
  sites: v.optional(v.pipe(v.array(siteSchema), v.maxLength(50)), []),
  /** pairs of site names: their routers drop UDP between the two sites */
  firewall: v.optional(v.array(v.strictTuple([v.string(), v.string()])), []),
});

export type SiteSpec = v.InferOutput<typeof siteSchema>;
export type Topology = v.InferOutput<typeof topologySchema>;
export type TopologyInput = v.InferInput<typeof topologySchema>;

const one = (name: string, nat: NatType, extra: Partial<SiteSpec> = {}): v.InferInput<typeof siteSchema> => ({ name, nat, ...extra });

/** Built-in topologies, by name (`ringvpn lab up --topology <name>`). */
export const PRESETS: Readonly<Record<string, TopologyInput>> = {
  mixed: {
    description: '12 nodes: 2 public seeds, 2 full-cone, 2 port-restricted, 2 symmetric, 2 sites firewalled from each other, 2 nodes behind one NAT (hairpin)',
    public: 2,
    sites: [
      one('cone1', 'full-cone'), one('cone2', 'full-cone'), one('port1', 'port-restricted'), one('port2', 'port-restricted'),
      one('sym1', 'symmetric'), one('sym2', 'symmetric'), one('fwa', 'port-restricted'), one('fwb', 'port-restricted'),
      one('home', 'port-restricted', { nodes: 2, hairpin: true }),
    ],
    firewall: [['fwa', 'fwb']],
  },
  masq4: { description: '1 public seed and 4 nodes, each behind its own port-restricted NAT (plain MASQUERADE)', public: 1, sites: [1, 2, 3, 4].map((k) => one(`masq${k}`, 'port-restricted')) },
  cone3: { description: '1 public seed and 3 nodes, each behind its own full-cone NAT', public: 1, sites: [1, 2, 3].map((k) => one(`cone${k}`, 'full-cone')) },
  addr3: { description: '1 public seed and 3 nodes, each behind its own address-restricted NAT', public: 1, sites: [1, 2, 3].map((k) => one(`addr${k}`, 'address-restricted')) },
  sym3: { description: '1 public seed and 3 nodes, each behind its own symmetric NAT', public: 1, sites: [1, 2, 3].map((k) => one(`sym${k}`, 'symmetric')) },
  double: {
    description: '1 public seed, a carrier NAT with 2 port-restricted home NATs behind it (double NAT) and 1 node on the carrier LAN, 1 ordinary port-restricted site',
    public: 1,
    sites: [one('cgn', 'port-restricted'), one('home1', 'port-restricted', { behind: 'cgn' }), one('home2', 'port-restricted', { behind: 'cgn' }), one('port1', 'port-restricted')],
  },
  hairpin: {
    description: '1 public seed, 2 nodes behind a NAT that hairpins, 2 nodes behind one that does not',
    public: 1,
    sites: [one('hp', 'port-restricted', { nodes: 2, hairpin: true }), one('nohp', 'port-restricted', { nodes: 2 })],
  },
  idle30: {
    description: '1 public seed and 3 nodes behind port-restricted NATs whose idle UDP mappings last 30 s',
    public: 1,
    sites: [1, 2, 3].map((k) => one(`idle${k}`, 'port-restricted', { udpTimeout: 30 })),
  },
  firewall: {
    description: '1 public seed, 2 full-cone sites that drop UDP between each other, 1 full-cone site open to both',
    public: 1,
    sites: [one('fwa', 'full-cone'), one('fwb', 'full-cone'), one('open', 'full-cone')],
    firewall: [['fwa', 'fwb']],
  },
};

export type TopologyCheck = { ok: true; topology: Topology } | { ok: false; error: RingvpnError };

/** Validates a parsed topology object; `source` names the file or preset in the error (code E_LAB_TOPOLOGY). */
export function checkTopology(raw: unknown, source: string): TopologyCheck {
  const fail = (lines: string[]): TopologyCheck => ({ ok: false, error: errors.E_LAB_TOPOLOGY(`${source} is not a valid NAT lab topology (docs/nat-lab.md):\n${lines.map((l) => `  ${l}`).join('\n')}`) });
  const r = v.safeParse(topologySchema, raw);
  if (!r.success) return fail(r.issues.map((i) => `${v.getDotPath(i) ?? '(top)'}: ${i.message}`));
  const t = r.output;
  const bad: string[] = [];
  const index = new Map<string, number>();
  const behindCount = new Map<string, number>();
  for (const [k, s] of t.sites.entries()) {
    const at = `sites.${k} (${s.name})`;
    if (index.has(s.name)) bad.push(`${at}: the name is already used by sites.${index.get(s.name)}`);
    if (s.behind !== undefined) {
      if (!index.has(s.behind)) bad.push(`${at}.behind: no earlier site is named ${JSON.stringify(s.behind)} (a site behind another comes after it)`);
      else behindCount.set(s.behind, (behindCount.get(s.behind) ?? 0) + 1);
    }
    index.set(s.name, k);
  }
  for (const [k, s] of t.sites.entries()) {
    const at = `sites.${k} (${s.name})`;
    const inner = behindCount.get(s.name) ?? 0;
    if ((s.nat === 'full-cone' || s.nat === 'address-restricted') && (s.nodes !== 1 || inner > 0)) {
      bad.push(`${at}: a ${s.nat} NAT forwards inbound datagrams to its one node: give it exactly 1 node and no site behind it`);
    }
    if (s.hairpin && (s.nat !== 'port-restricted' || s.nodes < 2 || inner > 0)) {
      bad.push(`${at}.hairpin: only a port-restricted site with 2 or more nodes and no site behind it hairpins`);
    }
    if (s.nodes === 0 && inner === 0) bad.push(`${at}: no nodes and no site behind it`);
    if (inner + s.nodes > 100) bad.push(`${at}: at most 100 nodes and sites on one LAN`);
  }
  const pairs = new Set<string>();
  for (const [k, [a, b]] of t.firewall.entries()) {
    for (const x of [a, b]) {
      if (!index.has(x)) bad.push(`firewall.${k}: no site is named ${JSON.stringify(x)}`);
      else if (t.sites[index.get(x)!]!.behind !== undefined) bad.push(`firewall.${k}: ${x} sits behind ${t.sites[index.get(x)!]!.behind}; a firewall joins sites whose routers are on the internet`);
    }
    if (a === b) bad.push(`firewall.${k}: a site cannot be firewalled from itself`);
    const key = [a, b].sort().join(' ');
    if (pairs.has(key)) bad.push(`firewall.${k}: ${a} and ${b} are listed twice`);
    pairs.add(key);
  }
  const total = t.public + t.sites.reduce((sum, s) => sum + s.nodes, 0);
  if (total > MAX_NODES) bad.push(`(top): ${total} nodes; at most ${MAX_NODES}`);
  return bad.length ? fail(bad) : { ok: true, topology: t };
}

/** Like checkTopology, but throws its E_LAB_TOPOLOGY error. */
export function parseTopology(raw: unknown, source: string): Topology {
  const r = checkTopology(raw, source);
  if (!r.ok) throw r.error;
  return r.topology;
}

/** A preset name, or the path of a JSON topology file (a name with / or . is a path). */
export function loadTopology(arg: string): { source: string; topology: Topology } {
  const preset = Object.hasOwn(PRESETS, arg) ? PRESETS[arg] : undefined;
  if (preset) return { source: `preset ${arg}`, topology: parseTopology(preset, `preset ${arg}`) };
  if (!/[/.]/.test(arg)) throw errors.E_LAB_TOPOLOGY(`no preset named ${JSON.stringify(arg)} (presets: ${Object.keys(PRESETS).join(', ')}; a topology file's path must contain a / or a .)`);
  let text: string;
  try { text = readFileSync(arg, 'utf8'); } catch (e) { throw errors.E_LAB_TOPOLOGY(`cannot read topology file ${arg}: ${(e as Error).message}`); }
  let raw: unknown;
  try { raw = JSON.parse(text); } catch (e) { throw errors.E_LAB_TOPOLOGY(`${arg} is not valid JSON: ${(e as Error).message}`); }
  return { source: arg, topology: parseTopology(raw, arg) };
}

export interface PlanNode {
  index: number;
  /** the site's name, null for a public node */
  site: string | null;
  ns: string;
  /** eth0's address with prefix, the address, and the default route (null: on the internet bridge, no default) */
  cidr: string; address: string; gateway: string | null;
  /** a node of a port-restricted site with 2+ nodes: the fixed public port its LISTEN_PORT maps to */
  mappedPort: number | null;
}

export interface PlanRouter {
  k: number;
  site: SiteSpec;
  ns: string;
  /** the router it sits behind (index into routers), null: on the internet bridge */
  parent: number | null;
  /** name of its veth's far end in the parent (r<k> on the internet bridge, s<k> on a parent's LAN) */
  uplink: string;
  wanCidr: string; wan: string; gateway: string | null;
  /** LAN: 192.168.<k+1>.0/24, or 100.64.<k+1>.0/24 for a carrier NAT (sites behind it); the router is .1 */
  lanNet: string; lanCidr: string; lanGw: string;
  nodes: number[];
  children: number[];
  /** WAN addresses of the routers of sites it is firewalled from */
  firewalled: string[];
}

export interface TopologyPlan {
  lab: string; source: string; topology: Topology;
  /** the internet bridge's namespace (the lab's switch) */
  hub: string;
  nodes: PlanNode[];
  routers: PlanRouter[];
  /** bootstrap seeds: the first min(3, public) nodes */
  seeds: number;
}

/** Where every namespace, address and route goes: public nodes first (node0 = the first seed), then each site's nodes in order. */
export function planTopology(t: Topology, lab: string, source = 'options'): TopologyPlan {
  const nodes: PlanNode[] = Array.from({ length: t.public }, (_, i) => ({
    index: i, site: null, ns: nsName(lab, i), cidr: `${underlayAddress(i)}/16`, address: underlayAddress(i), gateway: null, mappedPort: null,
  }));
  const byName = new Map<string, number>();
  const routers: PlanRouter[] = [];
  for (const [k, site] of t.sites.entries()) {
    const carrier = t.sites.some((s) => s.behind === site.name);
    const lanNet = carrier ? `100.64.${k + 1}` : `192.168.${k + 1}`;
    const parent = site.behind === undefined ? null : byName.get(site.behind)!;
    const p = parent === null ? null : routers[parent]!;
    const wan = p ? `${p.lanNet.replace(/\.0\/24$/, '')}.${200 + p.children.length}` : `10.200.100.${k + 1}`;
    const r: PlanRouter = {
      k, site, ns: routerNsName(lab, k), parent, uplink: p ? `s${k}` : `r${k}`,
      wanCidr: p ? `${wan}/24` : `${wan}/16`, wan, gateway: p ? p.lanGw : null,
      lanNet: `${lanNet}.0/24`, lanCidr: `${lanNet}.1/24`, lanGw: `${lanNet}.1`, nodes: [], children: [], firewalled: [],
    };
    if (p) p.children.push(k);
    for (let j = 0; j < site.nodes; j++) {
      const index = nodes.length;
      nodes.push({
        index, site: site.name, ns: nsName(lab, index), cidr: `${lanNet}.${j + 2}/24`, address: `${lanNet}.${j + 2}`, gateway: r.lanGw,
        mappedPort: site.nat === 'port-restricted' && site.nodes > 1 ? LISTEN_PORT + j : null,
      });
      r.nodes.push(index);
    }
    routers.push(r);
    byName.set(site.name, k);
  }
  for (const [a, b] of t.firewall) {
    const ra = routers[byName.get(a)!]!, rb = routers[byName.get(b)!]!;
    ra.firewalled.push(rb.wan);
    rb.firewalled.push(ra.wan);
  }
  return { lab, source, topology: t, hub: nsName(lab, 'sw'), nodes, routers, seeds: Math.min(3, t.public) };
}

/** What the lab's state.json records of a topology. */
export function topologyState(plan: TopologyPlan): LabTopologyState {
  return {
    source: plan.source, public: plan.topology.public,
    sites: plan.routers.map((r) => ({ name: r.site.name, nat: r.site.nat, ns: r.ns, wan: r.wan, lan: r.lanNet, behind: r.site.behind ?? null, nodes: r.nodes })),
  };
}

/** Sysctls set inside router r's namespace (never in the root namespace). */
export function routerSysctls(r: PlanRouter): string[] {
  const out = ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.send_redirects=0', 'net.ipv4.conf.default.send_redirects=0'];
  if (r.site.udpTimeout !== undefined) {
    out.push(`net.netfilter.nf_conntrack_udp_timeout=${r.site.udpTimeout}`, `net.netfilter.nf_conntrack_udp_timeout_stream=${r.site.udpTimeout}`);
  }
  return out;
}

/**
 * Router r's rules in iptables-restore format (docs/nat-lab.md explains each). Interfaces: `wan` toward
 * the internet (or the carrier's LAN), `lan` the bridge of the site's LAN.
 */
export function routerRules(plan: TopologyPlan, r: PlanRouter): string {
  const s = r.site;
  const nodes = r.nodes.map((i) => plan.nodes[i]!);
  const pre: string[] = [], post: string[] = [], fwd: string[] = [];
  for (const other of r.firewalled) fwd.push(`-A FORWARD -p udp -d ${other} -j DROP`, `-A FORWARD -p udp -s ${other} -j DROP`);
  switch (s.nat) {
    case 'full-cone':
      pre.push(`-A PREROUTING -i wan -d ${r.wan} -p udp -j DNAT --to-destination ${nodes[0]!.address}`);
      break;
    case 'address-restricted':
      fwd.push('-A FORWARD -i lan -o wan -p udp -m recent --name rvnat --rdest --set');
      pre.push(`-A PREROUTING -i wan -d ${r.wan} -p udp -m recent --name rvnat --rcheck --seconds ${s.udpTimeout ?? 120} -j DNAT --to-destination ${nodes[0]!.address}`);
      break;
    case 'port-restricted':
      for (const n of nodes) {
        if (n.mappedPort === null) continue;
        post.push(`-A POSTROUTING -o wan -s ${n.address} -p udp --sport ${LISTEN_PORT} -j SNAT --to-source ${r.wan}:${n.mappedPort}`);
        if (!s.hairpin) continue;
        pre.push(`-A PREROUTING -i lan -d ${r.wan} -p udp --dport ${n.mappedPort} -j DNAT --to-destination ${n.address}:${LISTEN_PORT}`);
        post.push(`-A POSTROUTING -o lan -s ${n.address} -p udp --sport ${LISTEN_PORT} -m conntrack --ctstate DNAT -j SNAT --to-source ${r.wan}:${n.mappedPort}`);
      }
      if (s.hairpin) post.push(`-A POSTROUTING -o lan -s ${r.lanNet} -m conntrack --ctstate DNAT -j SNAT --to-source ${r.wan}`);
      break;
    case 'symmetric':
      post.push('-A POSTROUTING -o wan -p udp -j MASQUERADE --random-fully');
      break;
  }
  post.push('-A POSTROUTING -o wan -j MASQUERADE');
  fwd.push('-A FORWARD -i wan -o lan -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT', '-A FORWARD -i wan -o lan -j DROP');
  return [
    `# ringvpn NAT lab ${plan.lab}: router of site ${s.name} (${s.nat}${s.hairpin ? ', hairpin' : ''}${s.behind ? `, behind ${s.behind}` : ''})`,
    '*nat', ':PREROUTING ACCEPT [0:0]', ':INPUT ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]', ...pre, ...post, 'COMMIT',
    '*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]',
    // the router offers no UDP service: datagrams to its own addresses (unmapped, hairpin off) vanish without an ICMP error
    '-A INPUT -p udp -j DROP', ...fwd, 'COMMIT', '',
  ].join('\n');
}

/** One line per site for people: `cone1 full-cone 10.200.100.1 <- node2`. */
export function describePlan(plan: TopologyPlan): string[] {
  const pub = plan.nodes.filter((n) => n.site === null).map((n) => `node${n.index}`);
  return [
    `internet 10.200.0.0/16: ${pub.join(', ')} (seeds: ${pub.slice(0, plan.seeds).join(', ')})`,
    ...plan.routers.map((r) => {
      const extra = [r.site.hairpin ? 'hairpin' : '', r.site.udpTimeout !== undefined ? `udp timeout ${r.site.udpTimeout} s` : '', r.firewalled.length ? `UDP dropped to and from ${r.firewalled.map((w) => plan.routers.find((x) => x.wan === w)?.site.name ?? w).join(', ')}` : '']
        .filter(Boolean).join(', ');
      const inside = [...r.nodes.map((i) => `node${i} ${plan.nodes[i]!.address}`), ...r.children.map((c) => `site ${plan.routers[c]!.site.name}`)].join(', ');
      return `site ${r.site.name}: ${r.site.nat} NAT ${r.wan}${r.parent !== null ? ` on ${plan.routers[r.parent]!.site.name}'s LAN` : ''}${extra ? ` (${extra})` : ''} <- ${inside}`;
    }),
  ];
}
