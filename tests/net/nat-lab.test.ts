// Network tests of the NAT lab (ts/lab/nat-topology.ts, nat-build.ts): each NAT router's behaviour seen
// with plain UDP from small node scripts inside the namespaces (not the VPN), then a masq4 ring lab that
// starts, gives every node an address and leaves no namespace behind. Each test removes what it made.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { netTest } from './support.js';
import { isLabNs } from '../../ts/lab/labstate.js';
import { listNamespaces } from '../../ts/lab/labsys.js';
import { buildNatNet, type NatNet } from '../../ts/lab/nat-build.js';
import { parseTopology, planTopology, type TopologyInput, type TopologyPlan } from '../../ts/lab/nat-topology.js';
import type { Netns } from '../../ts/lab/netns.js';
import { RingLab } from '../../ts/lab/ringlab.js';
import { sleep } from '../../ts/lab/util.js';

/** A UDP endpoint inside a namespace, driven by JSON lines: bind a port, send from a bound port, drain what arrived. */
const AGENT = `
const dgram = require('dgram'); const socks = {}; const got = [];
require('readline').createInterface({ input: process.stdin }).on('line', (line) => {
  const r = JSON.parse(line); const reply = (x) => process.stdout.write(JSON.stringify({ id: r.id, ...x }) + '\\n');
  if (r.op === 'bind') {
    const s = dgram.createSocket('udp4');
    s.on('error', (e) => reply({ error: e.message }));
    s.on('message', (m, a) => got.push({ port: r.port, from: a.address + ':' + a.port, msg: m.toString() }));
    s.bind(r.port, '0.0.0.0', () => { socks[r.port] = s; reply({}); });
  } else if (r.op === 'send') socks[r.port].send(r.msg, r.toPort, r.to, (e) => reply(e ? { error: e.message } : {}));
  else if (r.op === 'got') reply({ got: got.splice(0) });
});`;

interface Got { port: number; from: string; msg: string }

class Agent {
  private next = 0;
  private buf = '';
  private readonly waiting = new Map<number, (r: Record<string, unknown>) => void>();
  private readonly got: Got[] = [];
  private constructor(readonly name: string, private readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.on('data', (d: Buffer) => {
      this.buf += d.toString();
      for (let i; (i = this.buf.indexOf('\n')) >= 0;) {
        const r = JSON.parse(this.buf.slice(0, i)) as Record<string, unknown> & { id: number };
        this.buf = this.buf.slice(i + 1);
        this.waiting.get(r.id)?.(r);
        this.waiting.delete(r.id);
      }
    });
  }

  /** An agent in `ns` with `ports` bound. */
  static async start(name: string, ns: Netns, ports: number[]): Promise<Agent> {
    const a = new Agent(name, spawn('ip', ['netns', 'exec', ns.name, process.execPath, '-e', AGENT], { stdio: ['pipe', 'pipe', 'pipe'] }));
    for (const port of ports) await a.req({ op: 'bind', port });
    return a;
  }

  private req(r: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${this.name}: no answer to ${JSON.stringify(r)}`)), 10_000);
      this.waiting.set(id, (x) => { clearTimeout(t); if (x.error) reject(new Error(`${this.name}: ${String(x.error)}`)); else resolve(x); });
      this.child.stdin.write(JSON.stringify({ id, ...r }) + '\n');
    });
  }

  send(port: number, to: string, toPort: number, msg: string): Promise<unknown> { return this.req({ op: 'send', port, to, toPort, msg }); }

  /** The first datagram `msg` that arrived within `ms` (null if none did). */
  async wait(msg: string, ms: number): Promise<Got | null> {
    const deadline = Date.now() + ms;
    for (;;) {
      this.got.push(...((await this.req({ op: 'got' })).got as Got[]));
      const hit = this.got.find((g) => g.msg === msg);
      if (hit || Date.now() > deadline) return hit ?? null;
      await sleep(50);
    }
  }

  close(): void { this.child.kill('SIGKILL'); }
}

let seq = 0;
/** Sends a fresh message 3 times (100 ms apart) from `a`'s `port` to to:toPort and says whether and how it reached `b`. */
async function deliver(a: Agent, port: number, to: string, toPort: number, b: Agent, ms = 1000): Promise<Got | null> {
  const msg = `m${seq++}`;
  for (let k = 0; k < 3; k++) { await a.send(port, to, toPort, msg); await sleep(100); }
  return b.wait(msg, ms);
}

const portOf = (g: Got | null): number => Number(g?.from.split(':')[1]);
const addrOf = (g: Got | null): string | undefined => g?.from.split(':')[0];

/** Builds `topo` as a lab of its own, runs `fn`, then removes every namespace and checks none is left. */
async function withNet(t: ExecutionContext, topo: TopologyInput, fn: (plan: TopologyPlan, net: NatNet, agents: Agent[]) => Promise<void>): Promise<void> {
  const lab = 'n' + randomBytes(3).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), 'rvnat-'));
  const plan = planTopology(parseTopology(topo, 'test topology'), lab, 'test');
  const t0 = Date.now();
  const net = await buildNatNet(plan, { rulesDir: dir });
  t.log(`built ${plan.nodes.length} nodes and ${plan.routers.length} routers in ${Date.now() - t0} ms`);
  const agents: Agent[] = [];
  try {
    await fn(plan, net, agents);
  } finally {
    for (const a of agents) a.close();
    await net.destroy();
    rmSync(dir, { recursive: true, force: true });
    t.deepEqual((await listNamespaces()).filter((s) => isLabNs(lab, s)), [], 'no namespace left');
  }
}

const P = 51820;
const S = 7000;

netTest('port-restricted, address-restricted and full-cone NATs filter unsolicited datagrams as their types say', async (t) => {
  await withNet(t, { public: 2, sites: [{ name: 'pr', nat: 'port-restricted' }, { name: 'ar', nat: 'address-restricted' }, { name: 'fc', nat: 'full-cone' }] }, async (plan, net, agents) => {
    const s0 = await Agent.start('s0', net.hosts[0]!, [S, S + 1]);
    const s1 = await Agent.start('s1', net.hosts[1]!, [S]);
    agents.push(s0, s1);
    for (const r of plan.routers) {
      const node = await Agent.start(r.site.name, net.hosts[r.nodes[0]!]!, [P]);
      agents.push(node);
      const out = await deliver(node, P, '10.200.0.1', S, s0);
      t.is(out?.from, `${r.wan}:${P}`, `${r.site.name}: masqueraded to the router's address, port kept`);
      const reply = await deliver(s0, S, r.wan, P, node);
      t.truthy(reply, `${r.site.name}: the reply from the exact endpoint passes`);
      const otherPort = await deliver(s0, S + 1, r.wan, P, node);
      const otherHost = await deliver(s1, S, r.wan, P, node);
      t.log(`${r.site.name}: from the same host, other port: ${otherPort ? 'in' : 'dropped'}; from another host: ${otherHost ? 'in' : 'dropped'}`);
      if (r.site.nat === 'port-restricted') { t.is(otherPort, null, 'pr: other port dropped'); t.is(otherHost, null, 'pr: unsolicited host dropped'); }
      if (r.site.nat === 'address-restricted') { t.truthy(otherPort, 'ar: any port of a host it sent to'); t.is(otherHost, null, 'ar: unsolicited host dropped'); }
      if (r.site.nat === 'full-cone') { t.truthy(otherPort, 'fc: other port'); t.truthy(otherHost, 'fc: any host once mapped'); }
    }
  });
});

netTest('symmetric NAT: a different external port per destination, each filtered to its destination', async (t) => {
  await withNet(t, { public: 2, sites: [{ name: 'sy', nat: 'symmetric' }] }, async (plan, net, agents) => {
    const s0 = await Agent.start('s0', net.hosts[0]!, [S]);
    const s1 = await Agent.start('s1', net.hosts[1]!, [S]);
    const node = await Agent.start('sy', net.hosts[2]!, [P]);
    agents.push(s0, s1, node);
    const a = await deliver(node, P, '10.200.0.1', S, s0);
    const b = await deliver(node, P, '10.200.0.2', S, s1);
    t.is(addrOf(a), plan.routers[0]!.wan);
    t.is(addrOf(b), plan.routers[0]!.wan);
    t.log(`one socket (port ${P}) seen as ${a?.from} by s0 and ${b?.from} by s1`);
    t.not(portOf(a), portOf(b), 'two destinations, two external ports');
    t.truthy(await deliver(s0, S, plan.routers[0]!.wan, portOf(a), node), 's0 reaches the node at the port mapped for s0');
    t.is(await deliver(s1, S, plan.routers[0]!.wan, portOf(a), node), null, 's1 cannot use the port mapped for s0');
  });
});

netTest('firewall: the two sites cannot exchange UDP, each still reaches others', async (t) => {
  await withNet(t, { public: 1, sites: [{ name: 'fwa', nat: 'full-cone' }, { name: 'fwb', nat: 'full-cone' }, { name: 'open', nat: 'full-cone' }], firewall: [['fwa', 'fwb']] }, async (plan, net, agents) => {
    const [a, b, o] = await Promise.all(plan.routers.map((r) => Agent.start(r.site.name, net.hosts[r.nodes[0]!]!, [P])));
    const s0 = await Agent.start('s0', net.hosts[0]!, [S]);
    agents.push(a!, b!, o!, s0);
    const [wa, wb, wo] = plan.routers.map((r) => r.wan);
    t.truthy(await deliver(a!, P, '10.200.0.1', S, s0), 'fwa reaches a public host');
    t.truthy(await deliver(o!, P, wb!, P, b!), 'open -> fwb passes (full cone)');
    t.truthy(await deliver(o!, P, wa!, P, a!), 'open -> fwa passes');
    t.truthy(await deliver(b!, P, wo!, P, o!), 'fwb -> open passes');
    t.is(await deliver(a!, P, wb!, P, b!), null, 'fwa -> fwb dropped');
    t.is(await deliver(b!, P, wa!, P, a!), null, 'fwb -> fwa dropped');
  });
});

netTest('two nodes behind one NAT: fixed mapped ports; hairpin on passes via the public address, off drops', async (t) => {
  await withNet(t, { public: 1, sites: [{ name: 'hp', nat: 'port-restricted', nodes: 2, hairpin: true }, { name: 'nohp', nat: 'port-restricted', nodes: 2 }] }, async (plan, net, agents) => {
    const s0 = await Agent.start('s0', net.hosts[0]!, [S]);
    agents.push(s0);
    for (const r of plan.routers) {
      const [x, y] = await Promise.all(r.nodes.map((i, j) => Agent.start(`${r.site.name}${j}`, net.hosts[i]!, [P])));
      agents.push(x!, y!);
      t.is((await deliver(x!, P, '10.200.0.1', S, s0))?.from, `${r.wan}:${P}`, `${r.site.name}: first node mapped to ${P}`);
      t.is((await deliver(y!, P, '10.200.0.1', S, s0))?.from, `${r.wan}:${P + 1}`, `${r.site.name}: second node mapped to ${P + 1}`);
      const hair = await deliver(x!, P, r.wan, P + 1, y!);
      if (r.site.hairpin) {
        t.is(hair?.from, `${r.wan}:${P}`, 'hairpinned, seen from the sender\'s public endpoint');
        t.truthy(await deliver(y!, P, r.wan, P, x!), 'and the answer comes back the same way');
      } else t.is(hair, null, 'no hairpin: a datagram to the own public address is dropped');
      t.truthy(await deliver(x!, P, plan.nodes[r.nodes[1]!]!.address, P, y!), `${r.site.name}: the LAN addresses reach each other directly`);
    }
  });
});

netTest('mapping timeout: with udpTimeout 5 an idle mapping is gone after 7 s; a default NAT keeps it; double NAT shows the carrier address', async (t) => {
  await withNet(t, {
    public: 1,
    sites: [{ name: 'idle', nat: 'port-restricted', udpTimeout: 5 }, { name: 'dflt', nat: 'port-restricted' }, { name: 'cgn', nat: 'port-restricted' }, { name: 'home', nat: 'port-restricted', behind: 'cgn' }],
  }, async (plan, net, agents) => {
    const [idle, dflt, cgn, home] = plan.routers;
    const sys = await net.routers[0]!.exec('sysctl', ['-n', 'net.netfilter.nf_conntrack_udp_timeout', 'net.netfilter.nf_conntrack_udp_timeout_stream']);
    t.deepEqual(sys.stdout.trim().split('\n'), ['5', '5'], 'the timeouts are set in the router namespace');
    const s0 = await Agent.start('s0', net.hosts[0]!, [S]);
    const ni = await Agent.start('idle', net.hosts[idle!.nodes[0]!]!, [P]);
    const nd = await Agent.start('dflt', net.hosts[dflt!.nodes[0]!]!, [P]);
    const nh = await Agent.start('home', net.hosts[home!.nodes[0]!]!, [P]);
    const nc = await Agent.start('cgn', net.hosts[cgn!.nodes[0]!]!, [P]);
    agents.push(s0, ni, nd, nh, nc);
    const viaHome = await deliver(nh, P, '10.200.0.1', S, s0);
    t.is(addrOf(viaHome), cgn!.wan, `behind two NATs the node appears at the carrier's address (${viaHome?.from})`);
    t.truthy(await deliver(s0, S, cgn!.wan, portOf(viaHome), nh), 'the reply crosses both NATs');
    t.is(addrOf(await deliver(nc, P, '10.200.0.1', S, s0)), cgn!.wan, 'a node on the carrier LAN too');
    for (const n of [ni, nd]) await deliver(n, P, '10.200.0.1', S, s0);
    t.truthy(await deliver(s0, S, idle!.wan, P, ni), 'idle: the reply passes while the mapping is fresh');
    const t0 = Date.now();
    await sleep(7000);
    t.is(await deliver(s0, S, idle!.wan, P, ni), null, `idle: dropped after ${Date.now() - t0} ms without traffic`);
    t.truthy(await deliver(s0, S, dflt!.wan, P, nd), 'default NAT: still mapped');
  });
});

netTest('RingLab.up with the masq4 preset: every node gets an address; lab down leaves no namespace', async (t) => {
  const name = 'm' + randomBytes(3).toString('hex');
  const dir = `/tmp/ringvpn-lab-${name}`;
  const t0 = Date.now();
  let lab: RingLab | null = null;
  try {
    lab = await RingLab.up({ topology: 'masq4', name, dir, onProgress: (l) => t.log(l) });
    t.log(`up in ${Date.now() - t0} ms: ${JSON.stringify(lab.summary)}`);
    t.is(lab.size, 5);
    t.is(lab.state.topology?.sites.length, 4);
    t.deepEqual(lab.state.nodes.map((s) => s.underlay), ['10.200.0.1', '192.168.1.2', '192.168.2.2', '192.168.3.2', '192.168.4.2']);
    const st = await lab.statuses();
    for (const r of st) t.truthy(r.status?.address, `${r.name} has an address`);
    t.is(new Set(st.map((r) => r.status?.address)).size, 5, 'addresses are unique');
    const c = await lab.check({ count: 3 });
    t.log(`check (not asserted): ${c.pairs.reachable}/${c.pairs.total} pairs reachable, paths ${JSON.stringify(c.paths?.counts)} relays ${JSON.stringify(c.paths?.relays)}`);
    for (const u of c.pairs.unreachable) t.log(`  unreachable ${u.from} -> ${u.to}: ${u.why}; path ${c.paths?.pairs.find((p) => p.from === u.from && p.to === u.to)?.kind}`);
  } finally {
    const rep = await RingLab.down(name, { dir });
    t.log(`down: ${JSON.stringify(rep)}`);
    t.is(rep.namespaces, 10, 'hub, 5 nodes and 4 routers removed');
    t.is(rep.dirRemoved, dir, 'state directory removed (rules files included)');
    t.deepEqual((await listNamespaces()).filter((s) => isLabNs(name, s)), [], 'no namespace left');
  }
});
