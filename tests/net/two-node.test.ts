// Network tests of the foundation: two (or three) real `ringvpn up` processes in namespaces.
// Each test builds its own namespaces with unique names and removes them, whatever happens.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { netTest } from './support.js';
import { udpPayloads } from './pcap.js';
import { MeshLab } from '../../ts/lab/mesh-lab.js';
import { ping, sleep } from '../../ts/lab/util.js';
import { transfer } from '../../ts/lab/transfer.js';

netTest('TAP: ping and a 100 MB TCP transfer through the tunnel with matching checksums', async (t) => {
  const lab = await MeshLab.create(2, { mode: 'tap' });
  try {
    await lab.start(0);
    await lab.start(1);
    await lab.waitForSessions(0);
    t.is(await ping(lab.node(0).ns, '10.99.0.2', 3), 3, 'ping through the tunnel');
    const { sent, received } = await transfer(lab.node(0).ns, lab.node(1).ns, '10.99.0.2', 100_000_000);
    t.is(received.bytes, 100_000_000);
    t.is(received.sha256, sent.sha256);
    t.log(`100 MB in ${received.seconds.toFixed(2)} s (${(800 / received.seconds / 1000).toFixed(2)} Gbit/s)`);
    const s = await lab.status(1);
    const peer = s.peers[0]!;
    t.truthy(peer.dataplane);
    t.true(Number(peer.dataplane!.rxBytes) > 100_000_000, 'receiver counted the bytes on the direct session');
  } finally {
    await lab.destroy();
  }
});

netTest('TUN mode carries traffic too (one node with a thread per direction)', async (t) => {
  const lab = await MeshLab.create(2, { mode: 'tun', edit: (cfg, i) => { if (i === 1) cfg.dataplane = { threads: 2 }; } });
  try {
    await lab.start(0);
    await lab.start(1);
    await lab.waitForSessions(0);
    t.is(await ping(lab.node(1).ns, '10.99.0.1', 3), 3);
    const { received, sent } = await transfer(lab.node(1).ns, lab.node(0).ns, '10.99.0.1', 20_000_000);
    t.is(received.sha256, sent.sha256);
  } finally {
    await lab.destroy();
  }
});

netTest('a node whose key the others do not know never gets in', async (t) => {
  // node2 knows node0 and node1 (correct keys and endpoints) but neither of them lists node2.
  const lab = await MeshLab.create(3, {
    edit: (cfg, i) => { if (i !== 2) cfg.peers = cfg.peers!.filter((p) => p.name !== 'node2'); },
  });
  try {
    await lab.start(0);
    await lab.start(1);
    await lab.start(2);
    await lab.waitForSessions(0);
    await sleep(1500);
    t.is(await ping(lab.node(2).ns, '10.99.0.1', 3), 0, 'intruder cannot reach node0');
    const intruder = await lab.status(2);
    t.true(intruder.peers.every((p) => p.lastHandshakeAgoMs === null), 'intruder never completed a handshake');
    const victim = await lab.status(0);
    const rejected = Object.values(victim.handshakeRejected).reduce((a, b) => a + b, 0);
    t.true(rejected > 0, `node0 counted rejected handshakes: ${JSON.stringify(victim.handshakeRejected)}`);
    const talk = await ping(lab.node(0).ns, '10.99.0.2', 2);
    if (talk !== 2) {
      // seen once in CI (0 of 2), never locally: say what each member's data plane and handshakes saw
      for (const i of [0, 1]) {
        const st = await lab.status(i);
        t.log(`node${i}: peers ${JSON.stringify(st.peers)}; drops ${JSON.stringify(st.drops)}; handshakes rejected ${JSON.stringify(st.handshakeRejected)}`);
      }
    }
    t.is(talk, 2, 'members still talk');
  } finally {
    await lab.destroy();
  }
});

netTest('a peer configured with the wrong key for us never gets a session', async (t) => {
  const lab = await MeshLab.create(2, {
    edit: (cfg, i) => { if (i === 1) cfg.peers![0]!.publicKey = Buffer.alloc(32, 7).toString('base64'); },
  });
  try {
    await lab.start(0);
    await lab.start(1);
    await sleep(2000);
    t.is(await ping(lab.node(1).ns, '10.99.0.1', 2), 0);
    const s0 = await lab.status(0);
    const s1 = await lab.status(1);
    t.is(s0.peers[0]!.lastHandshakeAgoMs, null);
    t.is(s1.peers[0]!.lastHandshakeAgoMs, null);
  } finally {
    await lab.destroy();
  }
});

netTest('tampered and replayed datagrams injected from a third namespace are dropped and counted', async (t) => {
  const lab = await MeshLab.create(3);
  const dir = mkdtempSync(join(tmpdir(), 'ringvpn-cap-'));
  try {
    await lab.start(0);
    await lab.start(1);
    await lab.waitForSessions(0, 15000, ['node1']);
    t.is(await ping(lab.node(0).ns, '10.99.0.2', 1), 1);
    // Capture real DATA frames that node0 sends to node1 (a tap on node0's own interface).
    const pcap = join(dir, 'a.pcap');
    const dump = lab.node(0).ns.spawn('tcpdump', ['-i', 'eth0', '-U', '-c', '8', '-w', pcap, 'udp and dst host 10.200.0.2 and dst port 51820']);
    await sleep(1000);
    await ping(lab.node(0).ns, '10.99.0.2', 8);
    await Promise.race([dump.exited, sleep(5000)]);
    await dump.kill();
    const frames = udpPayloads(pcap).filter((p) => p[0] === 4 && p.length > 32);
    t.true(frames.length >= 4, `captured ${frames.length} data frames`);
    const before = (await lab.status(1)).drops;
    // Replays: the exact bytes again. Tampered: a fresh counter (passes the replay window) but the
    // old tag, and a flipped ciphertext bit with a fresh counter.
    const replayed = frames.map((f) => f.toString('hex'));
    const tampered = frames.flatMap((f, i) => {
      const a = Buffer.from(f); a.writeBigUInt64LE(1_000_000n + BigInt(i), 8);
      const b = Buffer.from(f); b.writeBigUInt64LE(2_000_000n + BigInt(i), 8); b[20] = b[20]! ^ 1;
      return [a.toString('hex'), b.toString('hex')];
    });
    const garbage = ['00', 'ff'.repeat(40), '04000000' + '00'.repeat(8)];
    const script = `const d=require('node:dgram').createSocket('udp4');const m=JSON.parse(process.argv[1]);let n=0;for(const h of m)d.send(Buffer.from(h,'hex'),51820,'10.200.0.2',()=>{if(++n===m.length)d.close()});`;
    await lab.node(2).ns.exec(process.execPath, ['-e', script, JSON.stringify([...replayed, ...tampered, ...garbage])]);
    await sleep(500);
    const after = (await lab.status(1)).drops;
    const delta = (k: string): number => (after[k] ?? 0) - (before[k] ?? 0);
    t.log(JSON.stringify(Object.fromEntries(Object.keys(after).map((k) => [k, delta(k)]).filter(([, v]) => v !== 0))));
    t.is(delta('replay'), replayed.length, 'every replayed frame dropped as replay');
    t.is(delta('auth_failed'), tampered.length, 'every tampered frame dropped as auth_failed');
    const total = Object.keys(after).reduce((a, k) => a + delta(k), 0);
    t.is(total, replayed.length + tampered.length + garbage.length, 'every injected datagram dropped and counted');
    t.is(await ping(lab.node(0).ns, '10.99.0.2', 2), 2, 'the tunnel still works');
  } finally {
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

netTest('killing and restarting one side resumes traffic without touching the other', async (t) => {
  const lab = await MeshLab.create(2);
  try {
    await lab.start(0);
    await lab.start(1);
    await lab.waitForSessions(0);
    t.is(await ping(lab.node(0).ns, '10.99.0.2', 2), 2);
    const pid0 = lab.node(0).proc!.pid;
    await lab.stop(1, 'SIGKILL');
    t.is(await ping(lab.node(0).ns, '10.99.0.2', 1), 0, 'peer is down');
    await lab.start(1);
    const deadline = Date.now() + 15000;
    let ok = 0;
    while (Date.now() < deadline && ok === 0) ok = await ping(lab.node(0).ns, '10.99.0.2', 1);
    t.is(ok, 1, 'traffic resumed after the restart');
    t.is(lab.node(0).proc!.pid, pid0, 'node0 was not restarted');
    t.is(await ping(lab.node(1).ns, '10.99.0.1', 2), 2);
  } finally {
    await lab.destroy();
  }
});
