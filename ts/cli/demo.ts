// Owns `ringvpn demo`: two namespaces, two daemons, status, a ping and a short throughput figure.
// It must clean up everything it made, also on Ctrl-C, and must not touch the root namespace.
import { execFileSync } from 'node:child_process';
import { RingvpnError } from '../config/errors.js';
import { netnsSupport } from '../lab/netns.js';
import { VpnLan } from '../lab/vpnlan.js';
import { transfer } from '../lab/transfer.js';
import { printStatus } from './status.js';

function step(msg: string): void {
  process.stdout.write(`\n== ${msg}\n`);
}

export async function runDemo(opts: { seconds: number }): Promise<void> {
  const support = await netnsSupport();
  if (!support.ok) throw new RingvpnError('E_NOT_ROOT', `the demo builds network namespaces: ${support.why}`);
  step('building two namespaces on a virtual switch (underlay 10.200.0.0/24) and starting two daemons');
  const lab = await VpnLan.create(2, { prefix: 'rvdemo' });
  const cleanup = async (): Promise<void> => { await lab.destroy(); };
  const onSig = (): void => { void cleanup().then(() => process.exit(130)); };
  process.once('SIGINT', onSig);
  try {
    const t0 = Date.now();
    await lab.start(0);
    await lab.start(1);
    await lab.waitForSessions(0);
    await lab.waitForSessions(1);
    process.stdout.write(`both daemons up and their session established ${Date.now() - t0} ms after the first start\n`);
    step('ping 10.99.0.2 from node0 through the tunnel');
    const r = await lab.node(0).ns.exec('ping', ['-c', '5', '-i', '0.2', '-W', '1', '10.99.0.2'], { allowFail: true });
    process.stdout.write(r.stdout.split('\n').filter((l) => /time=|received|rtt/.test(l)).join('\n') + '\n');
    step(`throughput for ~${opts.seconds} s`);
    if (hasIperf3()) {
      const server = lab.node(1).ns.spawn('iperf3', ['-s', '-1']);
      await new Promise((res) => setTimeout(res, 500));
      const c = await lab.node(0).ns.exec('iperf3', ['-c', '10.99.0.2', '-t', String(opts.seconds), '-J'], { allowFail: true, timeoutMs: (opts.seconds + 30) * 1000 });
      await server.kill();
      try {
        const j = JSON.parse(c.stdout) as { end: { sum_received: { bits_per_second: number } } };
        process.stdout.write(`iperf3 TCP: ${(j.end.sum_received.bits_per_second / 1e9).toFixed(2)} Gbit/s\n`);
      } catch {
        process.stdout.write(`iperf3 failed: ${c.stderr.trim() || c.stdout.slice(0, 200)}\n`);
      }
    } else {
      const res = await transfer(lab.node(0).ns, lab.node(1).ns, '10.99.0.2', 200 << 20);
      const ok = res.sent.sha256 === res.received.sha256;
      process.stdout.write(`TCP 200 MiB in ${res.received.seconds.toFixed(2)} s: ${(res.received.bytes * 8 / res.received.seconds / 1e9).toFixed(2)} Gbit/s, checksums ${ok ? 'match' : 'DIFFER'}\n`);
    }
    step('status of node0 (ringvpn status)');
    printStatus(await lab.status(0) as unknown as Parameters<typeof printStatus>[0]);
  } finally {
    step('tearing down');
    process.removeListener('SIGINT', onSig);
    await cleanup();
    process.stdout.write('done\n');
  }
}

function hasIperf3(): boolean {
  try { execFileSync('iperf3', ['--version'], { stdio: 'ignore' }); return true; } catch { return false; }
}
