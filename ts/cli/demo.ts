// Owns `ringvpn demo`: a lab of overlay daemons in namespaces (addresses by DHCP from the DHT), the
// lab check (all-pairs ping + crawl), a name lookup, a TCP transfer and one node's status.
// It must clean up everything it made, also on Ctrl-C, and must not touch the root namespace.
import { RingvpnError } from '../base/errors.js';
import { netnsSupport } from '../lab/netns.js';
import { RingLab } from '../lab/ringlab.js';
import { transfer } from '../lab/transfer.js';
import { renderRingStatus, type RingStatus } from './ringstatus.js';

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
  try {
    lab = await RingLab.up({ nodes: opts.nodes, name, onProgress: say, signal: ac.signal });
    step('lab check: all-pairs ping through the VPN and a crawl of the ring');
    const c = await lab.check({ onProgress: say });
    say(`${c.pairs.reachable}/${c.pairs.total} pairs reachable; crawl ${c.crawl.ok ? 'consistent' : 'NOT consistent'} (${c.crawl.nodes} nodes)`);
    step('DNS on the device: node1 looks up node2.ringvpn');
    const ns = await lab.node(1).ns.exec('busybox', ['nslookup', 'node2.ringvpn', '10.128.0.1'], { allowFail: true, timeoutMs: 10_000 });
    say(ns.stdout.trim().split('\n').slice(-2).join('\n'));
    const dst = lab.node(opts.nodes - 1);
    step(`TCP ${opts.mib} MiB from node0 to ${dst.name} (${dst.vip}); the first packets ride the overlay, then an on-demand link takes over`);
    const r = await transfer(lab.node(0).ns, dst.ns, dst.vip!, opts.mib << 20);
    say(`${(r.received.bytes * 8 / r.received.seconds / 1e9).toFixed(2)} Gbit/s, checksums ${r.sent.sha256 === r.received.sha256 ? 'match' : 'DIFFER'}`);
    step('status of node0 (ringvpn status)');
    process.stdout.write(renderRingStatus(await lab.status(0) as unknown as RingStatus));
  } finally {
    step('tearing down');
    process.removeListener('SIGINT', onSig);
    if (lab) await lab.down(say); else await RingLab.down(name, { onProgress: say }).catch(() => undefined);
    say('done');
  }
}
