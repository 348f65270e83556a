// Owns `ringvpn demo`: a lab of overlay daemons in namespaces (addresses by DHCP from the DHT), the
// lab check (all-pairs ping + crawl), a name lookup, a TCP transfer, a full-tunnel client reaching an
// "Internet" namespace through one of two gateway members, one node's status, and a private group whose
// members enrolled themselves through the group server (`ringvpn join`).
// It must clean up everything it made, also on Ctrl-C, and must not touch the root namespace.
import { RingvpnError } from '../base/errors.js';
import { netnsSupport } from '../lab/netns.js';
import { RingLab } from '../lab/ringlab.js';
import { transfer } from '../lab/transfer.js';
import { Internet, INTERNET_SERVER, UPLINK_DEV } from '../lab/internet.js';
import { sleep } from '../lab/util.js';
import { GroupLab } from '../lab/group-lab.js';
import type { TunnelStatus } from '../node/tunnel-client.js';
import { renderRingStatus, tunnelLines, type RingStatus } from './ringstatus.js';

function step(msg: string): void {
  process.stdout.write(`\n== ${msg}\n`);
}

export async function runDemo(opts: { nodes: number; mib: number }): Promise<void> {
  const support = await netnsSupport();
  if (!support.ok) throw new RingvpnError('E_NOT_ROOT', `the demo builds network namespaces: ${support.why}`);
  const name = `demo${process.pid % 10000}`;
  step(`starting ${opts.nodes} daemons in namespaces on one switch; each OS gets its address from DHCP on its device`);
  const say = (l: string): void => { process.stdout.write(l + '\n'); };
  const ac = new AbortController();
  const onSig = (): void => { ac.abort(); };
  process.once('SIGINT', onSig);
  let lab: RingLab | undefined;
  let inet: Internet | undefined;
  let groups: GroupLab | undefined;
  // every check that did not pass: the demo says so at the end and exits 1
  const failed: string[] = [];
  // node0 and node1 are gateways (uplinks into an "Internet" namespace); the last node sends all its traffic through one
  const client = opts.nodes - 1, gateways = opts.nodes >= 4 ? [0, 1] : [];
  try {
    lab = await RingLab.up({
      nodes: opts.nodes, name, onProgress: say, signal: ac.signal,
      edit: (cfg, i) => {
        if (gateways.includes(i)) cfg.gateway = { enable: true, uplink: UPLINK_DEV };
        if (gateways.length && i === client) cfg.fullTunnel = { enable: true };
      },
    });
    step('lab check: all-pairs ping through the VPN and a crawl of the ring');
    const c = await lab.check({ onProgress: say });
    say(`${c.pairs.reachable}/${c.pairs.total} pairs reachable; crawl ${c.crawl.ok ? 'consistent' : 'NOT consistent'} (${c.crawl.nodes} nodes)`);
    if (c.pairs.reachable < c.pairs.total) failed.push(`${c.pairs.total - c.pairs.reachable} of ${c.pairs.total} pairs did not answer`);
    if (!c.crawl.ok) failed.push('the ring is not consistent');
    step('DNS on the device: node1 looks up node2.ringvpn');
    const ns = await lab.node(1).ns.exec('busybox', ['nslookup', 'node2.ringvpn', '10.128.0.1'], { allowFail: true, timeoutMs: 10_000 });
    say(ns.stdout.trim().split('\n').slice(-2).join('\n'));
    const dst = lab.node(opts.nodes - 1);
    step(`TCP ${opts.mib} MiB from node0 to ${dst.name} (${dst.vip}); the first packets ride the overlay, then an on-demand link takes over`);
    const r = await transfer(lab.node(0).ns, dst.ns, dst.vip!, opts.mib << 20);
    say(`${(r.received.bytes * 8 / r.received.seconds / 1e9).toFixed(2)} Gbit/s, checksums ${r.sent.sha256 === r.received.sha256 ? 'match' : 'DIFFER'}`);
    if (r.sent.sha256 !== r.received.sha256) failed.push('the TCP transfer arrived damaged');
    if (gateways.length) {
      const c = lab.node(client);
      step(`full tunnel: ${c.name} sends all its traffic through a gateway found in the DHT (node0 and node1 masquerade out of their uplinks)`);
      inet = await Internet.up(name, gateways.map((g) => lab!.node(g).ns));
      await inet.serve();
      let t: TunnelStatus | null | undefined;
      for (const end = Date.now() + 30_000; Date.now() < end; await sleep(500)) {
        t = (await lab.status(client) as unknown as { tunnel?: TunnelStatus | null }).tunnel;
        if (t?.inUse) break;
      }
      for (const l of tunnelLines(t)) say(l);
      const who = await c.ns.exec('curl', ['-s', '--max-time', '10', `http://${INTERNET_SERVER}:8080/whoami`], { allowFail: true, timeoutMs: 15_000 });
      say(who.code === 0 ? `${c.name} -> http://${INTERNET_SERVER}:8080/whoami: the server saw ${who.stdout.trim()} (the gateway's uplink, masqueraded)` : `the request through the tunnel FAILED (curl exit ${who.code})`);
      if (who.code !== 0) failed.push('the full-tunnel client did not reach the Internet namespace');
    }
    step('status of node0 (ringvpn status)');
    process.stdout.write(renderRingStatus(await lab.status(0) as unknown as RingStatus));
    await inet?.down();
    inet = undefined;
    await lab.down(say);
    lab = undefined;
    step('a private group enrolled through the group server: three machines run `ringvpn join` with a token from it');
    groups = await GroupLab.up(3, say);
    for (const a of groups.members) {
      const b = groups.members[(a.index % groups.members.length)]!;
      const p = await groups.lan.host(a.index).exec('ping', ['-c', '2', '-i', '0.3', '-W', '2', b.address], { allowFail: true });
      const got = Number(/(\d+) received/.exec(p.stdout)?.[1] ?? 0);
      say(`${a.name} (${a.address}) -> ${b.name} (${b.address}): ${got}/2 answered${got ? ", with certificates from the group's CA" : ' (FAILED)'}`);
      if (!got) failed.push(`in the private group, ${a.name} -> ${b.name} got no answer`);
    }
  } finally {
    step('tearing down');
    process.removeListener('SIGINT', onSig);
    await inet?.down();
    await groups?.down();
    if (lab) await lab.down(say); else await RingLab.down(name, { onProgress: say }).catch(() => undefined);
    say('done');
  }
  if (failed.length) {
    say(`demo FAILED: ${failed.join('; ')}`);
    process.exitCode = 1;
  }
}
