// Network tests of the data-plane offloads (issue 13): two real `ringvpn up` processes in namespaces
// move 1 GB over TCP with matching checksums in TAP and in TUN mode with the device offloads (TSO
// super-packets split, received segments merged, UDP GSO sends) and with them off, and UDP_SEGMENT
// bursts that the device hands over as UDP super-packets (USO); the counters in
// `ringvpn status` show which path ran; and again when the kernel refuses the offloads (a seccomp filter
// refuses TUNSETOFFLOAD and UDP GRO, a 1,400-byte underlay refuses UDP GSO segments). Each test builds
// its own namespaces and removes them.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { netTest } from './support.js';
import { repoRoot } from '../../ts/paths.js';
import { MeshLab, type LabStatus } from '../../ts/lab/mesh-lab.js';
import { ping, sleep } from '../../ts/lab/util.js';
import { transfer } from '../../ts/lab/transfer.js';

const GB = 1_000_000_000;
const n = (v: unknown): number => Number(v ?? 0);
const COUNTERS = ['offloads', 'udpGro', 'gsoReads', 'gsoSegments', 'udpGsoSends', 'udpGsoRefused', 'groMerged', 'groWrites'];

/** Starts both nodes (under `wrap`) and checks that a ping passes the tunnel. */
async function startPair(t: ExecutionContext, lab: MeshLab, wrap?: string[]): Promise<void> {
  await lab.start(0, 20000, { wrap });
  await lab.start(1, 20000, { wrap });
  await lab.waitForSessions(0);
  t.is(await ping(lab.node(0).ns, '10.99.0.2', 3), 3, 'ping through the tunnel');
}

/** Starts both nodes (under `wrap`), moves 1 GB from node 0 to node 1 and checks it; the counters of both. */
async function gigabyte(t: ExecutionContext, lab: MeshLab, wrap?: string[]): Promise<[LabStatus['counters'], LabStatus['counters']]> {
  await startPair(t, lab, wrap);
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
      t.is(n(a.offloads) & 7, 7, 'the kernel accepted checksum, TSO4 and TSO6 offloads');
      t.true(n(a.gsoReads) > 0 && n(a.gsoSegments) > n(a.gsoReads), 'the sender read TCP super-packets and split them');
      t.true(n(a.udpGsoSends) > 0, 'and sent its datagrams in UDP GSO batches');
      t.is(n(a.udpGsoRefused), 0);
      t.true(n(b.groWrites) > 0 && n(b.groMerged) > n(b.groWrites), 'the receiver merged segments into larger device writes');
    } finally {
      await lab.destroy();
    }
  });
}

/** Sends and checks UDP_SEGMENT (GSO) bursts (crates/offload-tools). */
const GSO_BIN = join(repoRoot, 'target/release/ringvpn-gso');
/** TUN_F_USO4 | TUN_F_USO6: the kernel hands over UDP super-packets (Linux 6.2 and later). */
const USO = 0x20 | 0x40;

/** Runs a command under a seccomp filter that refuses the chosen offloads (crates/offload-tools). */
const REFUSE_BIN = join(repoRoot, 'target/release/ringvpn-refuse');

const USO_CASES = [
  { mode: 'tap', uso: true, title: 'TAP with offloads: UDP_SEGMENT bursts come from the device as super-packets (USO), are split and arrive datagram by datagram' },
  { mode: 'tun', uso: true, title: 'TUN with offloads: UDP_SEGMENT bursts come from the device as super-packets (USO), are split and arrive datagram by datagram' },
  { mode: 'tap', uso: false, title: 'TAP on a kernel that refuses USO (before 6.2): the TCP offloads stay on, UDP_SEGMENT bursts come one datagram at a time and arrive' },
] as const;

for (const c of USO_CASES) {
  netTest(c.title, async (t) => {
    for (const bin of [GSO_BIN, REFUSE_BIN]) if (!existsSync(bin)) return t.fail(`${bin} is missing: run \`cargo build --release -p ringvpn-offload-tools\` (scripts/ensure-built does)`);
    const lab = await MeshLab.create(2, { mode: c.mode, prefix: `rvu${c.mode[1]}${c.uso ? 'u' : 'n'}` });
    const wrap = c.uso ? undefined : [REFUSE_BIN, '--uso', '--'];
    try {
      await startPair(t, lab, wrap);
      const a0 = (await lab.status(0)).counters;
      const rx = lab.node(1).ns.exec(GSO_BIN, ['recv', '--port', '5300', '--size', '1200', '--idle-ms', '2000'], { timeoutMs: 90_000 });
      await sleep(500);
      // 2,000 messages of 40 datagrams of 1,200 bytes (96 MB), paced so that no socket overflows
      const tx = await lab.node(0).ns.exec(GSO_BIN, ['send', '--to', '10.99.0.2:5300', '--size', '1200', '--segments', '40', '--sends', '2000', '--gap-us', '300']);
      const sent = JSON.parse(tx.stdout) as { datagrams: number; failed: number };
      const got = JSON.parse((await rx).stdout.trim().split('\n').pop()!) as { datagrams: number; bad: number; distinct: number };
      const a = (await lab.status(0)).counters;
      const reads = n(a.gsoReads) - n(a0.gsoReads);
      t.log(`sent ${JSON.stringify(sent)}, received ${JSON.stringify(got)}; sender offloads ${String(a.offloads)}, super-packets read ${reads}, segments ${n(a.gsoSegments) - n(a0.gsoSegments)}`);
      t.is(sent.failed, 0);
      t.is(got.bad, 0, 'every datagram arrived whole, as long as it was sent, neither merged nor split');
      t.is(got.distinct, got.datagrams, 'no datagram twice');
      t.true(got.distinct >= sent.datagrams * 0.99, `${got.distinct} of ${sent.datagrams} datagrams arrived`);
      if (c.uso) {
        t.is(n(a.offloads) & USO, USO, 'the kernel accepted UDP segmentation offload on the device');
        t.true(reads >= 1000, 'the sender read most messages as UDP super-packets and split them');
      } else {
        t.is(n(a.offloads), 7, 'USO refused: the device asked again for checksum, TSO4 and TSO6 alone, and got them');
        t.is(reads, 0, 'no UDP super-packets: the kernel split the bursts before the device');
      }
    } finally {
      await lab.destroy();
    }
  });
}

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
