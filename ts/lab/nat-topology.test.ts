// Unit tests of the NAT lab's pure parts: the topology format and its errors, the presets, the plan
// (names, addresses, routes), each router's iptables rules and the path read from a status reply. No root.
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootstrapFor, initialState, isLabNs, readState, routerNsName, writeState } from './labstate.js';
import { checkTopology, loadTopology, parseTopology, planTopology, PRESETS, routerRules, routerSysctls, topologyState, type TopologyInput } from './nat-topology.js';
import { describePaths, pairPaths, pathOf } from './lab-paths.js';

const plan = (t: TopologyInput) => planTopology(parseTopology(t, 'test'), 'x');
const problems = (raw: unknown): string => {
  const r = checkTopology(raw, 'f.json');
  if (r.ok) return '';
  return `${r.error.code}: ${r.error.message}`;
};

test('every preset is valid; mixed has 12 nodes with public seeds, masq4 and cone3 as named', (t) => {
  for (const [name, p] of Object.entries(PRESETS)) t.true(checkTopology(p, name).ok, `${name}: ${problems(p)}`);
  const mixed = plan(PRESETS.mixed!);
  t.is(mixed.nodes.length, 12);
  t.is(mixed.seeds, 2);
  t.deepEqual(mixed.nodes.slice(0, 2).map((n) => n.site), [null, null], 'the seeds are public');
  const kinds = mixed.routers.map((r) => r.site.nat);
  for (const k of ['full-cone', 'port-restricted', 'symmetric'] as const) t.true(kinds.filter((x) => x === k).length >= 2, k);
  t.deepEqual(mixed.topology.firewall, [['fwa', 'fwb']]);
  t.true(mixed.routers.some((r) => r.nodes.length === 2), 'two nodes behind one NAT');
  const m4 = plan(PRESETS.masq4!);
  t.is(m4.nodes.length, 5);
  t.true(m4.routers.every((r) => r.site.nat === 'port-restricted' && r.nodes.length === 1));
  t.true(plan(PRESETS.cone3!).routers.every((r) => r.site.nat === 'full-cone'));
  t.is(loadTopology('masq4').source, 'preset masq4');
});

test('topology errors are E_LAB_TOPOLOGY and name the field', (t) => {
  t.regex(problems({ public: 0 }), /^E_LAB_TOPOLOGY: f\.json .*\n {2}public: /);
  t.regex(problems({ public: 1, sites: [{ name: 'a', nat: 'cone' }] }), /sites\.0\.nat: /);
  t.regex(problems({ public: 1, sites: [{ name: 'A', nat: 'symmetric' }] }), /sites\.0\.name: expected 1-12 lower-case/);
  t.regex(problems({ public: 1, sitez: [] }), /sitez|Unrecognized key/, 'unknown keys are refused (typos)');
  t.regex(problems({ public: 1, sites: [{ name: 'a', nat: 'symmetric' }, { name: 'a', nat: 'symmetric' }] }), /already used by sites\.0/);
  t.regex(problems({ public: 1, sites: [{ name: 'b', nat: 'symmetric', behind: 'a' }, { name: 'a', nat: 'symmetric' }] }), /sites\.0 \(b\)\.behind: no earlier site/);
  t.regex(problems({ public: 1, sites: [{ name: 'a', nat: 'full-cone', nodes: 2 }] }), /exactly 1 node/);
  t.regex(problems({ public: 1, sites: [{ name: 'a', nat: 'address-restricted' }, { name: 'b', nat: 'symmetric', behind: 'a' }] }), /no site behind it/);
  t.regex(problems({ public: 1, sites: [{ name: 'a', nat: 'symmetric', nodes: 2, hairpin: true }] }), /hairpin: only a port-restricted/);
  t.regex(problems({ public: 1, sites: [{ name: 'a', nat: 'port-restricted', hairpin: true }] }), /2 or more nodes/);
  t.regex(problems({ public: 1, sites: [{ name: 'a', nat: 'symmetric', nodes: 0 }] }), /no nodes and no site behind it/);
  t.regex(problems({ public: 1, sites: [{ name: 'a', nat: 'symmetric' }], firewall: [['a', 'z']] }), /firewall\.0: no site is named "z"/);
  t.regex(problems({ public: 1, sites: [{ name: 'a', nat: 'symmetric' }], firewall: [['a', 'a']] }), /from itself/);
  t.regex(problems({ public: 1, sites: [{ name: 'c', nat: 'symmetric', nodes: 0 }, { name: 'a', nat: 'symmetric', behind: 'c' }, { name: 'b', nat: 'symmetric' }], firewall: [['a', 'b']] }), /a sits behind c/);
  t.regex(problems({ public: 250, sites: Array.from({ length: 3 }, (_, k) => ({ name: `s${k}`, nat: 'symmetric', nodes: 100 })) }), /550 nodes; at most 500/);
  t.regex(problems({ public: 1, sites: [{ name: 'a', nat: 'symmetric', udpTimeout: 0 }] }), /udpTimeout/);
  t.is(problems({ public: 1, sites: [{ name: 'a', nat: 'symmetric', udpTimeout: 5 }] }), '');
  t.throws(() => parseTopology({ public: 'x' }, 'f.json'), { code: 'E_LAB_TOPOLOGY' } as never);
  t.throws(() => loadTopology('nosuchpreset'), { code: 'E_LAB_TOPOLOGY', message: /no preset named "nosuchpreset" \(presets: mixed, / } as never);
  const dir = mkdtempSync(join(tmpdir(), 'rvnat-test-'));
  try {
    t.throws(() => loadTopology(join(dir, 'missing.json')), { code: 'E_LAB_TOPOLOGY', message: /cannot read topology file/ } as never);
    writeFileSync(join(dir, 'bad.json'), '{ "public": 1, ');
    t.throws(() => loadTopology(join(dir, 'bad.json')), { code: 'E_LAB_TOPOLOGY', message: /is not valid JSON/ } as never);
    writeFileSync(join(dir, 'ok.json'), JSON.stringify({ public: 2, sites: [{ name: 'a', nat: 'symmetric' }] }));
    const ok = loadTopology(join(dir, 'ok.json'));
    t.deepEqual(ok.topology.sites, [{ name: 'a', nat: 'symmetric', nodes: 1, hairpin: false }], 'defaults filled in');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('plan: names the lab owns, public nodes first, private LANs, a carrier LAN and firewalled WANs', (t) => {
  const p = plan({
    public: 2,
    sites: [
      { name: 'cgn', nat: 'port-restricted', nodes: 0 }, { name: 'home', nat: 'symmetric', behind: 'cgn' },
      { name: 'duo', nat: 'port-restricted', nodes: 2, hairpin: true }, { name: 'fa', nat: 'full-cone' },
    ],
    firewall: [['duo', 'fa']],
  });
  t.deepEqual(p.nodes.map((n) => [n.ns, n.cidr, n.gateway, n.site, n.mappedPort]), [
    ['rvlab-x-0', '10.200.0.1/16', null, null, null],
    ['rvlab-x-1', '10.200.0.2/16', null, null, null],
    ['rvlab-x-2', '192.168.2.2/24', '192.168.2.1', 'home', null],
    ['rvlab-x-3', '192.168.3.2/24', '192.168.3.1', 'duo', 51820],
    ['rvlab-x-4', '192.168.3.3/24', '192.168.3.1', 'duo', 51821],
    ['rvlab-x-5', '192.168.4.2/24', '192.168.4.1', 'fa', null],
  ]);
  const [cgn, home, duo, fa] = p.routers;
  t.deepEqual([cgn!.ns, cgn!.wanCidr, cgn!.lanNet, cgn!.gateway, cgn!.uplink], ['rvlab-x-r0', '10.200.100.1/16', '100.64.1.0/24', null, 'r0']);
  t.deepEqual([home!.parent, home!.wanCidr, home!.gateway, home!.uplink], [0, '100.64.1.200/24', '100.64.1.1', 's1']);
  t.deepEqual(duo!.firewalled, ['10.200.100.4']);
  t.deepEqual(fa!.firewalled, ['10.200.100.3']);
  for (const ns of [p.hub, ...p.nodes.map((n) => n.ns), ...p.routers.map((r) => r.ns)]) t.true(isLabNs('x', ns), ns);
  t.false(isLabNs('x', 'rvlab-x-r1-2'));
  t.false(isLabNs('x-r1', 'rvlab-x-r1'));
  t.is(routerNsName('a-b', 3), 'rvlab-a-b-r3');
  t.deepEqual(bootstrapFor(5, p.seeds), ['10.200.0.1:51820', '10.200.0.2:51820'], 'only public nodes are seeds');
  t.deepEqual(bootstrapFor(1, p.seeds), ['10.200.0.1:51820']);
  t.deepEqual(routerSysctls(cgn!), ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.send_redirects=0', 'net.ipv4.conf.default.send_redirects=0']);
  const idle = plan({ public: 1, sites: [{ name: 'i', nat: 'port-restricted', udpTimeout: 30 }] }).routers[0]!;
  t.true(routerSysctls(idle).includes('net.netfilter.nf_conntrack_udp_timeout=30'));
  t.true(routerSysctls(idle).includes('net.netfilter.nf_conntrack_udp_timeout_stream=30'));
});

test('router rules: each NAT type, hairpin, firewall', (t) => {
  const p = plan({
    public: 1,
    sites: [
      { name: 'fc', nat: 'full-cone' }, { name: 'ar', nat: 'address-restricted', udpTimeout: 40 }, { name: 'pr', nat: 'port-restricted' },
      { name: 'sy', nat: 'symmetric', nodes: 2 }, { name: 'hp', nat: 'port-restricted', nodes: 2, hairpin: true }, { name: 'nh', nat: 'port-restricted', nodes: 2 },
    ],
    firewall: [['fc', 'pr']],
  });
  const rules = p.routers.map((r) => routerRules(p, r));
  const [fc, ar, pr, sy, hp, nh] = rules.map((r) => r.split('\n'));
  for (const r of rules) {
    t.regex(r, /^\*nat$[\s\S]*^COMMIT$[\s\S]*^\*filter$[\s\S]*^COMMIT$/m);
    t.true(r.includes('-A POSTROUTING -o wan -j MASQUERADE\n'));
    t.true(r.includes('-A INPUT -p udp -j DROP\n'));
    t.true(r.includes('-A FORWARD -i wan -o lan -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT\n-A FORWARD -i wan -o lan -j DROP\n'));
  }
  t.true(fc!.includes('-A PREROUTING -i wan -d 10.200.100.1 -p udp -j DNAT --to-destination 192.168.1.2'));
  t.true(fc!.includes('-A FORWARD -p udp -d 10.200.100.3 -j DROP') && fc!.includes('-A FORWARD -p udp -s 10.200.100.3 -j DROP'));
  t.true(pr!.includes('-A FORWARD -p udp -d 10.200.100.1 -j DROP'));
  t.true(ar!.includes('-A FORWARD -i lan -o wan -p udp -m recent --name rvnat --rdest --set'));
  t.true(ar!.includes('-A PREROUTING -i wan -d 10.200.100.2 -p udp -m recent --name rvnat --rcheck --seconds 40 -j DNAT --to-destination 192.168.2.2'));
  t.false(pr!.some((l) => /-j (DNAT|SNAT)/.test(l)), 'a single-node port-restricted site is plain MASQUERADE');
  t.true(sy!.includes('-A POSTROUTING -o wan -p udp -j MASQUERADE --random-fully'));
  t.true(hp!.includes('-A POSTROUTING -o wan -s 192.168.5.3 -p udp --sport 51820 -j SNAT --to-source 10.200.100.5:51821'));
  t.true(hp!.includes('-A PREROUTING -i lan -d 10.200.100.5 -p udp --dport 51821 -j DNAT --to-destination 192.168.5.3:51820'));
  t.true(hp!.includes('-A POSTROUTING -o lan -s 192.168.5.2 -p udp --sport 51820 -m conntrack --ctstate DNAT -j SNAT --to-source 10.200.100.5:51820'));
  t.true(nh!.includes('-A POSTROUTING -o wan -s 192.168.6.2 -p udp --sport 51820 -j SNAT --to-source 10.200.100.6:51820'));
  t.false(nh!.some((l) => l.includes('-i lan') || l.includes('-o lan -s')), 'no hairpin rules');
});

test('state.json keeps the topology and the private underlay addresses', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rvnat-state-'));
  try {
    const p = plan(PRESETS.masq4!);
    const s = initialState({ name: 'x', dir, mode: 'tun', static: true, publicKeys: p.nodes.map(() => 'k'), topology: topologyState(p), underlays: p.nodes.map((n) => n.address) });
    writeState(s);
    const back = readState(dir)!;
    t.deepEqual(back.nodes.map((n) => n.underlay), ['10.200.0.1', '192.168.1.2', '192.168.2.2', '192.168.3.2', '192.168.4.2']);
    t.is(back.topology?.source, 'options');
    t.deepEqual(back.topology?.sites[0], { name: 'masq1', nat: 'port-restricted', ns: 'rvlab-x-r0', wan: '10.200.100.1', lan: '192.168.1.0/24', behind: null, nodes: [1] });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('paths from status: direct, a relay link via a named neighbour, overlay (with its hop), none, no-status', (t) => {
  const A = 'a'.repeat(40), B = 'b'.repeat(40), C = 'c'.repeat(40), D = 'd'.repeat(40), E = 'e'.repeat(40);
  const names = new Map([[A, 'node0'], [B, 'node1'], [C, 'node2'], [D, 'node3'], [E, 'node4']]);
  const st = {
    connections: [{ nodeId: A, session: true, endpoint: '10.200.0.1:51820', dataplane: { peerId: 7 } }, { nodeId: E, session: true, endpoint: null, relay: A }],
    dataPeers: [{ nodeId: B, session: true, endpoint: null, via: 7, dataplane: { peerId: 9 } }, { nodeId: C, session: false, endpoint: null, via: null }],
  };
  t.deepEqual(pathOf(st, A, names), { kind: 'direct', endpoint: '10.200.0.1:51820' });
  t.deepEqual(pathOf(st, E, names), { kind: 'relay', via: 'node0' });
  t.deepEqual(pathOf(st, B, names), { kind: 'overlay', via: 'node0' });
  t.deepEqual(pathOf(st, C, names), { kind: 'overlay' });
  t.deepEqual(pathOf(st, D, names), { kind: 'none' });
  t.deepEqual(pathOf(null, D, names), { kind: 'no-status' });
  t.deepEqual(pathOf({ dataPeers: [{ nodeId: B, via: 3 }] }, B, names), { kind: 'overlay', via: 'peer#3' });
  const s = pairPaths([{ from: 0, to: 1 }, { from: 0, to: 2 }, { from: 0, to: 3 }, { from: 1, to: 0 }, { from: 0, to: 4 }], [st, null, null, null, null], [D, A, B, C, E], ['node3', 'node0', 'node1', 'node2', 'node4'], names);
  t.deepEqual(s.counts, { direct: 1, relay: 1, overlay: 2, none: 0, 'no-status': 1 });
  t.deepEqual(s.relays, { node0: 1 });
  t.is(describePaths(s), '1 direct, 1 relay (via node0 ×1), 2 overlay, 1 no-status');
  t.deepEqual(s.pairs[4], { from: 'node3', to: 'node4', kind: 'relay', via: 'node0' });
});
