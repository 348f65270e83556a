// Network tests of the data-plane offloads (issue 13): two real `ringvpn up` processes in namespaces
// move 1 GB over TCP with matching checksums in TAP and in TUN mode with the device offloads (TSO
// super-packets split, received segments merged, UDP GSO sends) and with them off; the counters in
// `ringvpn status` show which path ran; and again when the kernel refuses the offloads (a seccomp filter
// refuses TUNSETOFFLOAD and UDP GRO, a 1,400-byte underlay refuses UDP GSO segments). Each test builds
// its own namespaces and removes them.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { netTest } from './support.js';
import { repoRoot } from '../../ts/paths.js';
import { MeshLab, type LabStatus } from '../../ts/lab/mesh-lab.js';
import { ping } from '../../ts/lab/util.js';
import { transfer } from '../../ts/lab/transfer.js';

const GB = 1_000_000_000;
const n = (v: unknown): number => Number(v ?? 0);
const COUNTERS = ['offloads', 'udpGro', 'gsoReads', 'gsoSegments', 'udpGsoSends', 'udpGsoRefused', 'groMerged', 'groWrites'];

/** Starts both nodes (under `wrap`), moves 1 GB from node 0 to node 1 and checks it; the counters of both. */
async function gigabyte(t: ExecutionContext, lab: MeshLab, wrap?: string[]): Promise<[LabStatus['counters'], LabStatus['counters']]> {
  await lab.start(0, 20000, { wrap });
  await lab.start(1, 20000, { wrap });
  await lab.waitForSessions(0);
  t.is(await ping(lab.node(0).ns, '10.99.0.2', 3), 3, 'ping through the tunnel');
  const { sent, received } = await transfer(lab.node(0).ns, lab.node(1).ns, '10.99.0.2', GB);
  t.is(received.bytes, GB);
  t.is(received.sha256, sent.sha256, 'the same bytes arrived');
  t.log(`1 GB in ${received.seconds.toFixed(2)} s (${(8 / received.seconds).toFixed(2)} Gbit/s)`);
  const counters: [LabStatus['counters'], LabStatus['counters']] = [(await lab.status(0)).counters, (await lab.status(1)).counters];
  for (const [i, c] of counters.entries()) t.log(i ? 'receiver' : 'sender', JSON.stringify(Object.fromEntries(COUNTERS.map((k) => [k, c[k]]))));
  return counters;
}

for (const mode of ['tap', 'tun'] as const) {
  netTest(`${mode.toUpperCase()} with offloads: a 1 GB TCP transfer arrives intact; super-packets split, segments merged, UDP sent in GSO batches`, async (t) => {
    const lab = await MeshLab.create(2, { mode, prefix: `rvo${mode[1]}` });
    try {
      const [a, b] = await gigabyte(t, lab);
      t.is(n(a.offloads), 7, 'the kernel accepted checksum, TSO4 and TSO6 offloads');
      t.true(n(a.gsoReads) > 0 && n(a.gsoSegments) > n(a.gsoReads), 'the sender read TCP super-packets and split them');
      t.true(n(a.udpGsoSends) > 0, 'and sent its datagrams in UDP GSO batches');
      t.is(n(a.udpGsoRefused), 0);
      t.true(n(b.groWrites) > 0 && n(b.groMerged) > n(b.groWrites), 'the receiver merged segments into larger device writes');
    } finally {
      await lab.destroy();
    }
  });
}

/** Runs a command under a seccomp filter that refuses the chosen offloads (crates/refuse). */
const REFUSE_BIN = join(repoRoot, 'target/release/ringvpn-refuse');

for (const mode of ['tap', 'tun'] as const) {
  netTest(`${mode.toUpperCase()} when the kernel refuses the offloads: a 1 GB TCP transfer arrives intact on the fallback paths, which status counts`, async (t) => {
    if (!existsSync(REFUSE_BIN)) return t.fail(`${REFUSE_BIN} is missing: run \`cargo build --release -p ringvpn-refuse\` (scripts/ensure-built does)`);
    // a full-size datagram (inner MTU 1420 plus the frame) does not fit a 1,400-byte underlay: sent
    // alone the kernel fragments it, as a UDP GSO segment it refuses the message (EMSGSIZE)
    const lab = await MeshLab.create(2, { mode, prefix: `rvr${mode[1]}`, underlayMtu: 1400 });
    try {
      const [a, b] = await gigabyte(t, lab, [REFUSE_BIN, '--tun-offload', '--udp-gro', '--']);
      for (const [who, c] of [['sender', a], ['receiver', b]] as const) {
        t.is(n(c.offloads), 0, `the ${who}'s device offloads were refused`);
        t.is(c.udpGro, false, `the ${who}'s UDP GRO was refused`);
      }
      t.is(n(a.gsoReads), 0, 'so the sender read no super-packets: one packet per read');
      t.true(n(a.udpGsoRefused) >= 1, 'the kernel refused a UDP GSO message of full-size datagrams, and it was counted');
      for (const i of [0, 1]) {
        t.true(lab.node(i).log.some((l) => l.includes('the kernel refused device offloads (TUNSETOFFLOAD) and UDP GRO')), `node${i} logged what the kernel refused`);
      }
    } finally {
      await lab.destroy();
    }
  });
}

netTest('offloads off (dataplane.offload false): one packet per read, write and send; a 200 MB transfer arrives intact', async (t) => {
  const lab = await MeshLab.create(2, { mode: 'tap', prefix: 'rvoo', edit: (cfg) => { cfg.dataplane = { offload: false }; } });
  try {
    await lab.start(0);
    await lab.start(1);
    await lab.waitForSessions(0);
    const { sent, received } = await transfer(lab.node(0).ns, lab.node(1).ns, '10.99.0.2', 200_000_000);
    t.is(received.sha256, sent.sha256);
    t.log(`200 MB in ${received.seconds.toFixed(2)} s (${(1.6 / received.seconds).toFixed(2)} Gbit/s)`);
    const a = (await lab.status(0)).counters, b = (await lab.status(1)).counters;
    t.deepEqual([n(a.offloads), n(a.gsoReads), n(a.udpGsoSends), n(b.groWrites)], [0, 0, 0, 0], 'no offload path ran');
  } finally {
    await lab.destroy();
  }
});
