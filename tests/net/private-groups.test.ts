// Issue 17's acceptance in namespaces: a public overlay of 16 open nodes (11 on the internet bridge, 5 behind
// NATs) and two private groups of 5 members, every member behind its own NAT (port-restricted, full-cone,
// address-restricted, symmetric), real daemons with `groups` in their config (one socket, one engine, one
// device). Each group forms its own ring (crawl consistent), addresses and names resolve inside it, a member
// of group A cannot reach group B, a public-only node cannot complete a handshake in either realm, a revocation
// in group A cuts the member off there and nowhere else, and group A's two halves, firewalled from each other
// at the UDP level, are one ring through the public overlay until the firewall is lifted, then link directly.
import { randomBytes } from 'node:crypto';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { netTest } from './support.js';
import { runRogue } from './rogue-run.js';
import { RingLab, type LabNodeConfig } from '../../ts/lab/ringlab.js';
import { DEVICE, isLabNs } from '../../ts/lab/labstate.js';
import { listNamespaces } from '../../ts/lab/labsys.js';
import { Netns } from '../../ts/lab/netns.js';
import { ping, until } from '../../ts/lab/util.js';
import { initCa, caPaths, createRequest, signRequest, revoke } from '../../ts/pki/index.js';
import { realmOf } from '../../ts/pki/realm.js';
import { toDer } from '../../ts/pki/x509.js';
import { realmTag } from '../../ts/node/realms.js';
import { crawl, type NeighbourView } from '../../ts/core/crawl.js';
import { idFromHex, type NodeId } from '../../ts/base/nodeid.js';
import { requestControl } from '../../ts/runtime/control.js';
import type { TopologyInput } from '../../ts/lab/nat-topology.js';

const PUBLIC = 11;
const site = (name: string, nat: 'full-cone' | 'port-restricted' | 'address-restricted' | 'symmetric') => ({ name, nat });
const GROUPS = [
  { key: 'a', id: 'team-a', subnet: '10.201.0.0/16', domain: 'team-a', sites: [site('a1', 'port-restricted'), site('a2', 'full-cone'), site('a3', 'port-restricted'), site('a4', 'symmetric'), site('a5', 'port-restricted')] },
  { key: 'b', id: 'team-b', subnet: '10.202.0.0/16', domain: 'team-b', sites: [site('b1', 'port-restricted'), site('b2', 'address-restricted'), site('b3', 'port-restricted'), site('b4', 'symmetric'), site('b5', 'full-cone')] },
];
/** group A's halves: a1, a2 | a3, a4, a5, UDP dropped between their routers until the test lifts it */
const HALF1 = ['a1', 'a2'], HALF2 = ['a3', 'a4', 'a5'];
const TOPOLOGY: TopologyInput = {
  description: 'issue 17: 11 public nodes, 5 public-only nodes behind NATs, two groups of 5 members behind NATs',
  public: PUBLIC,
  sites: [
    site('p1', 'full-cone'), site('p2', 'port-restricted'), site('p3', 'port-restricted'), site('p4', 'address-restricted'), site('p5', 'symmetric'),
    ...GROUPS.flatMap((g) => g.sites),
  ],
  firewall: HALF1.flatMap((x) => HALF2.map((y): [string, string] => [x, y])),
};
/** lab node indices: the public nodes, then one per site in order */
const FIRST_MEMBER = PUBLIC + 5;
const membersOf = (g: number): number[] => Array.from({ length: 5 }, (_, j) => FIRST_MEMBER + 5 * g + j);
const addressOf = (g: number, j: number): string => GROUPS[g]!.subnet.replace('0.0/16', `0.${10 + j}`);

interface GroupStatus { id: string; address: string | null; onDevice: boolean; ring?: Record<string, string | undefined>; connections?: Array<{ nodeId: string; path?: string; session: boolean }>; counters?: Record<string, number>; links?: Record<string, number> }
type Status = { nodeId: string; address: string | null; groups?: GroupStatus[] };

/** The group's ring as its members see it (their group sections), and its crawl consistency. */
async function groupRing(lab: RingLab, g: number, members: number[]): Promise<{ consistency: number; paths: Record<string, number> }> {
  const view = new Map<NodeId, NeighbourView>();
  const paths: Record<string, number> = {};
  for (const i of members) {
    const s = await lab.status(i) as unknown as Status;
    const gs = s.groups?.[0];
    if (!gs?.ring) continue;
    const id = (h?: string) => (h ? idFromHex(h) ?? undefined : undefined);
    view.set(idFromHex(s.nodeId)!, { left1: id(gs.ring.left1), left2: id(gs.ring.left2), right1: id(gs.ring.right1), right2: id(gs.ring.right2) });
    for (const c of gs.connections ?? []) paths[c.path ?? '?'] = (paths[c.path ?? '?'] ?? 0) + 1;
  }
  void g;
  // one ring: consistent, and the walk along right1 visits every member
  const c = crawl(view);
  return { consistency: view.size === members.length && c.ok ? 1 : 0, paths };
}

async function groupCerts(lab: RingLab, dir: string): Promise<Array<{ caDir: string; certs: Map<number, string> }>> {
  const out = [];
  for (const [g, grp] of GROUPS.entries()) {
    const caDir = join(dir, `ca-${grp.key}`);
    await initCa(caDir, { name: `Group ${grp.key.toUpperCase()} CA` });
    const certs = new Map<number, string>();
    for (const [j, i] of membersOf(g).entries()) {
      const { csrPem } = await createRequest({ name: `${grp.key}${j + 1}`, noisePublicKey: new Uint8Array(Buffer.from(lab.state.nodes[i]!.publicKey, 'base64')), identityKeyFile: join(dir, `${grp.key}${j + 1}.id`) });
      const r = await signRequest(caDir, csrPem, { address: addressOf(g, j) });
      writeFileSync(join(dir, `node${i}-${grp.key}.crt`), r.certPem, { mode: 0o600 });
      certs.set(i, r.certPem);
    }
    out.push({ caDir, certs });
  }
  return out;
}

async function withGroupsLab(t: ExecutionContext, fn: (lab: RingLab, dir: string) => Promise<void>): Promise<void> {
  const name = 'g' + randomBytes(3).toString('hex');
  const dir = `/tmp/ringvpn-lab-${name}`;
  try {
    const t0 = Date.now();
    const lab = await RingLab.up({
      topology: TOPOLOGY, name, dir, mode: 'tun', reserve: 10, onProgress: (l) => t.log(l),
      edit: (cfg: LabNodeConfig, i) => {
        const g = i >= FIRST_MEMBER ? Math.floor((i - FIRST_MEMBER) / 5) : -1;
        if (g < 0) return;
        const grp = GROUPS[g]!;
        const ca = caPaths(join(dir, `ca-${grp.key}`));
        cfg.groups = [{ pki: { ca: ca.cert, cert: join(dir, `node${i}-${grp.key}.crt`), crl: ca.crl, crlPollSeconds: 5 }, network: { id: grp.id, subnet: grp.subnet, domain: grp.domain } }];
      },
    });
    t.log(`public overlay of 16 up in ${Date.now() - t0} ms`);
    await fn(lab, dir);
  } finally {
    const rep = await RingLab.down(name, { dir });
    t.deepEqual((await listNamespaces()).filter((s) => isLabNs(name, s)), [], `no namespace left (${rep.namespaces} removed)`);
  }
}

netTest('two private groups over a NAT lab: own rings, names, isolation from each other and from the public, revocation, a firewalled group', async (t) => {
  t.timeout(15 * 60_000);
  await withGroupsLab(t, async (lab, dir) => {
    const cas = await groupCerts(lab, dir);
    const t0 = Date.now();
    for (const i of [...membersOf(0), ...membersOf(1)]) await lab.start(i);
    // 1. each group's ring forms (members hold their certified addresses, on the device)
    for (const g of [0, 1]) {
      const ms = membersOf(g);
      await until(`group ${GROUPS[g]!.id}: addresses on the devices`, 120_000, async () => {
        for (const [j, i] of ms.entries()) { const s = await lab.status(i) as unknown as Status; if (s.groups?.[0]?.address !== addressOf(g, j) || !s.groups[0].onDevice) return false; }
        return true;
      });
      const r = await until(`group ${GROUPS[g]!.id}: ring consistent`, 120_000, async () => { const x = await groupRing(lab, g, ms); return x.consistency === 1 ? x : false; });
      t.log(`group ${GROUPS[g]!.id}: ring consistent ${Date.now() - t0} ms after the members started; links by path ${JSON.stringify(r.paths)}`);
    }
    // 2. addresses and names inside each group
    for (const g of [0, 1]) {
      const ms = membersOf(g);
      for (const [j, i] of ms.entries()) {
        for (const [k, o] of ms.entries()) {
          if (o === i) continue;
          t.true(await ping(lab.node(i).ns, addressOf(g, k), 3, 2) > 0, `${GROUPS[g]!.id}: node${i} pings node${o} at ${addressOf(g, k)}`);
        }
        void j;
      }
      const q = await lab.node(ms[0]!).ns.exec('busybox', ['nslookup', `node${ms[2]}.${GROUPS[g]!.domain}`, '10.128.0.1'], { allowFail: true, timeoutMs: 10_000 });
      t.true(String(q.stdout).includes(addressOf(g, 2)), `node${ms[2]}.${GROUPS[g]!.domain} resolves to ${addressOf(g, 2)} inside the group: ${String(q.stdout).trim()}`);
    }
    // 3. nothing crosses: group A cannot reach group B (even routed at the device), a public-only node resolves no group name
    const a0 = membersOf(0)[0]!, b0 = membersOf(1)[0]!;
    await lab.node(a0).ns.ip(['route', 'replace', GROUPS[1]!.subnet, 'dev', DEVICE]);
    t.is(await ping(lab.node(a0).ns, addressOf(1, 0), 3, 1), 0, 'a member of group A does not reach group B');
    const pub = await lab.node(3).ns.exec('busybox', ['nslookup', `node${a0}.${GROUPS[0]!.domain}`, '10.128.0.1'], { allowFail: true, timeoutMs: 10_000 });
    t.false(String(pub.stdout).includes(addressOf(0, 0)), 'a public-only node cannot resolve a group name');
    const sb = await lab.status(b0) as unknown as Status;
    t.false((sb.groups?.[0]?.connections ?? []).some((c) => c.nodeId === lab.node(a0).nodeId), 'group B holds no link with a member of group A');
    // a public-only node (node 3's key) and a member of group B try to handshake into group A's realm at a member: refused
    const realmA = realmTag(realmOf(toDer(readFileSync(caPaths(cas[0]!.caDir).cert), ['CERTIFICATE'])!));
    const target = membersOf(0)[2]!;
    const targetLan = await lab.node(target).ns.exec('ip', ['-4', '-o', 'addr', 'show', 'dev', 'eth0']);
    const lanIp = /inet (\S+)\//.exec(targetLan.stdout)?.[1];
    const cfgOf = (i: number) => JSON.parse(readFileSync(lab.node(i).config, 'utf8')) as { privateKey: string };
    const { publicFromPrivate } = await import('../../ts/config/keys.js');
    const keyOf = (i: number) => { const sk = cfgOf(i).privateKey; return { privateKey: sk, publicKey: Buffer.from(publicFromPrivate(new Uint8Array(Buffer.from(sk, 'base64')))).toString('base64') }; };
    const bCert = cas[1]!.certs.get(b0)!.replace(/-----[^-]+-----|\s+/g, '');
    const rogue = await runRogue(lab.node(target).ns, {
      attempts: [
        { label: 'public-only, no certificate', ...keyOf(3), cert: null, to: `${lanIp}:51820`, toKey: lab.state.nodes[target]!.publicKey, realm: realmA },
        { label: 'group B member, B certificate', ...keyOf(b0), cert: bCert, to: `${lanIp}:51820`, toKey: lab.state.nodes[target]!.publicKey, realm: realmA },
      ], waitMs: 4000,
    }, dir);
    for (const a of rogue.attempts) t.false(a.established, `${a.label}: no session in group A's realm (rejected: ${a.rejected.join(',') || 'no answer'})`);

    // 4. revocation in group A: the member is cut off there, and keeps the public overlay and nothing else changes
    const victim = membersOf(0)[4]!;
    const rv = await revoke(cas[0]!.caDir, cas[0]!.certs.get(victim)!, 'test');
    const pubd = await requestControl(lab.node(membersOf(0)[1]!).socket, { cmd: 'revoke', record: Buffer.from(rv.record).toString('base64') }, 30_000);
    t.log(`revocation published in group A: ${JSON.stringify(pubd)}`);
    await until('group A members drop the revoked member', 30_000, async () => {
      for (const i of membersOf(0).slice(0, 4)) {
        const s = await lab.status(i) as unknown as Status;
        if ((s.groups?.[0]?.connections ?? []).some((c) => c.nodeId === lab.node(victim).nodeId && c.session)) return false;
      }
      return true;
    });
    t.is(await ping(lab.node(membersOf(0)[0]!).ns, addressOf(0, 4), 3, 1), 0, 'the revoked member is unreachable in group A');
    const st0 = await lab.status(0) as unknown as Status;
    const victimPublic = (await lab.status(victim) as unknown as Status).address!;
    t.true(await ping(lab.node(0).ns, victimPublic, 3, 2) > 0, `the revoked member still answers in the public overlay (${victimPublic} from ${st0.address})`);
    t.true(await ping(lab.node(membersOf(1)[0]!).ns, addressOf(1, 3), 3, 2) > 0, 'group B is untouched');

    // 5. group A's halves were firewalled at the UDP level from the start: one ring through the public overlay; lift it
    const ring = await groupRing(lab, 0, membersOf(0).slice(0, 4));
    t.log(`group A (4 members left) while firewalled: consistency ${ring.consistency}, links ${JSON.stringify(ring.paths)}`);
    const sites = lab.state.topology!.sites;
    for (const s of sites) {
      if (![...HALF1, ...HALF2].includes(s.name)) continue;
      const r = Netns.attach(s.ns);
      await r.exec('iptables', ['-F', 'FORWARD']);
      await r.exec('iptables', ['-A', 'FORWARD', '-i', 'wan', '-o', 'lan', '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED,DNAT', '-j', 'ACCEPT']);
      await r.exec('iptables', ['-A', 'FORWARD', '-i', 'wan', '-o', 'lan', '-j', 'DROP']);
    }
    t.log('firewall lifted between group A\'s halves');
    const after = await until('group A: a link across the halves goes direct', 180_000, async () => {
      const x = await groupRing(lab, 0, membersOf(0).slice(0, 4));
      return x.consistency === 1 && (x.paths.direct ?? 0) > (ring.paths.direct ?? 0) ? x : false;
    }, 5000);
    t.log(`group A after the firewall: links ${JSON.stringify(after.paths)}`);
  });
});
