// Network tests of the private group (issue 6): one certified lab of 5 overlay daemons (RingLab with
// pki) plus 5 reserve namespaces for outsiders, reused by every test below in order. Outsiders with bad
// certificates run as real daemons where the daemon starts at all, and otherwise as a hostile peer
// (tests/net/rogue.ts) that puts the certificate in a real Noise IK initiation. Then a replayed
// initiation, a spoofed inner source, captures that must not show plaintext, and a revocation that
// every member must act on within 2 s.
import test from 'ava';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { netTest } from './support.js';
import { udpPayloads } from './pcap.js';
import { RingLab, pkiAddress, type LabNodeConfig } from '../../ts/lab/ringlab.js';
import { ping, sleep, until } from '../../ts/lab/util.js';
import { underlayAddress } from '../../ts/lab/labstate.js';
import type { Netns, NsProcess } from '../../ts/lab/netns.js';
import { encodeKey, generateKeyPair, type KeyPair } from '../../ts/config/keys.js';
import { createRequest, initCa, signRequest } from '../../ts/pki/index.js';
import { idToHex, nodeIdOfKey } from '../../ts/base/nodeid.js';
import { forgeCert } from '../../ts/pki/testkit.js';
import { repoRoot } from '../../ts/paths.js';
import { checkMac1, mac1Key } from '../../ts/handshake/frames.js';
import { PENDING_HOLD_MS } from '../../ts/runtime/engine.js';
import type { RoguePlan, RogueResult } from './rogue.js';
import { runRogue } from './rogue-run.js';

const MEMBERS = [0, 1, 2, 3, 4];
/** reserve nodes: started (or refused) by the tests */
const UNKNOWN_CA = 5, REVOKED = 6, UNCERTIFIED = 7, IMPOSTOR = 8, LATE = 9;
const DAY = 86_400_000;

interface Peer { nodeId: string; session: boolean; dataplane?: Record<string, unknown> | null }
interface Status {
  nodeId: string; address: string | null; joined: boolean;
  connections: Peer[]; dataPeers: Peer[];
  links: Record<string, number>;
  pki: { address: string; counters: Record<string, number>; revoked: number } | null;
  counters: Record<string, number>;
  drops: Record<string, number>;
}

let lab: RingLab | null = null;
let work = '';

function L(): RingLab {
  if (!lab) throw new Error('the certified lab did not come up (see the first test)');
  return lab;
}

const status = async (i: number): Promise<Status> => (await L().status(i)) as unknown as Status;
const statuses = (idx: number[]): Promise<Status[]> => Promise.all(idx.map((i) => status(i)));
const sessionWith = (s: Status, nodeId: string): boolean => [...s.connections, ...s.dataPeers].some((p) => p.nodeId === nodeId && p.session);
const anySession = (s: Status): boolean => [...s.connections, ...s.dataPeers].some((p) => p.session);
/** links counters and pki counters in one map (`links.*`, `pki.*`) */
const counts = (s: Status): Record<string, number> => ({
  ...Object.fromEntries(Object.entries(s.links).map(([k, v]) => [`links.${k}`, v])),
  ...Object.fromEntries(Object.entries(s.pki?.counters ?? {}).map(([k, v]) => [`pki.${k}`, v])),
});
const sumOf = (ss: Status[], k: string): number => ss.reduce((a, s) => a + (counts(s)[k] ?? 0), 0);
/** Distance between two 40-hex node ids on the 2^160 ring. */
function ringDistance(a: string, b: string): bigint {
  const m = 1n << 160n;
  const d = (BigInt('0x' + a) - BigInt('0x' + b) + m) % m;
  return d < m - d ? d : m - d;
}
const pemToB64 = (pem: string): string => pem.replace(/-----[^-]+-----|\s+/g, '');

const rogue = (ns: Netns, plan: RoguePlan): Promise<RogueResult> => runRogue(ns, plan, work);

/** A certificate request for a fresh key, signed by `caDir` (plus options). */
async function certFor(caDir: string, key: KeyPair, name: string, o: Parameters<typeof signRequest>[2]): Promise<string> {
  const { csrPem } = await createRequest({ name, noisePublicKey: key.publicKey, identityKeyFile: join(work, `${name}.identity.key`) });
  return (await signRequest(caDir, csrPem, o)).certPem;
}

/** Starting node i must fail; returns the end of its log. */
async function refusedStart(t: { log: (s: string) => void }, i: number): Promise<string> {
  const l = L();
  const from = statSync(l.node(i).log, { throwIfNoEntry: false })?.size ?? 0;
  let err: Error | null = null;
  try { await l.start(i, 20_000); } catch (e) { err = e as Error; }
  if (!err) { await l.kill(i); throw new Error(`${l.node(i).name} started although it should have been refused`); }
  await l.kill(i).catch(() => false);
  // this start's output only
  const tail = readFileSync(l.node(i).log).subarray(from).toString('utf8').trim().split('\n').slice(-4).join('\n');
  t.log(`${l.node(i).name} refused to start: ${tail.split('\n').find((x) => x.includes('E_PKI')) ?? tail}`);
  return tail;
}

test.before(() => { work = mkdtempSync(join(tmpdir(), 'ringvpn-pkitest-')); });
/** the daemons' logs survive the lab here, for a failed run */
const LOGS = join(tmpdir(), 'ringvpn-pkitest-logs');

test.after.always(async () => {
  if (lab) {
    rmSync(LOGS, { recursive: true, force: true });
    mkdirSync(LOGS, { recursive: true });
    for (let i = 0; i < lab.size; i++) { try { copyFileSync(lab.node(i).log, join(LOGS, `node${i}.log`)); } catch { /* never started */ } }
    await lab.down();
  }
  if (work) rmSync(work, { recursive: true, force: true });
});

netTest('certified lab of 5: every node holds its certified address, all pairs reachable, crawl consistent', async (t) => {
  const name = 'p' + randomBytes(3).toString('hex');
  lab = await RingLab.up({
    nodes: 10, reserve: 5, name, dir: `/tmp/ringvpn-lab-${name}`, onProgress: (l) => t.log(l),
    pki: {
      crlPollSeconds: 30,
      cert: (i) => i === UNKNOWN_CA ? { caDir: `/tmp/ringvpn-lab-${name}/ca-other` } : i === REVOKED ? { revoke: true } : i === UNCERTIFIED ? { none: true } : undefined,
    },
    // the impostor holds its own good certificate but claims member 1's address
    edit: (cfg: LabNodeConfig, i) => { if (i === IMPOSTOR) cfg.network.address = pkiAddress(1); },
  });
  const ss = await statuses(MEMBERS);
  for (const i of MEMBERS) {
    t.is(ss[i]!.address, pkiAddress(i), `node${i} has its certified address`);
    t.is(ss[i]!.pki?.address, pkiAddress(i));
  }
  const c = await L().check({ nodes: MEMBERS, onProgress: (l) => t.log(l) });
  t.is(c.pairs.reachable, c.pairs.total, `unreachable: ${JSON.stringify(c.pairs.unreachable)}`);
  t.true(c.crawl.ok && c.crawl.errors.length === 0, `crawl: ${JSON.stringify(c.crawl.errors)}`);
  const after = await statuses(MEMBERS);
  t.true(after.every((s) => (s.pki?.counters.accepted ?? 0) > 0), 'members accepted certified peers');
  t.true(after.every((s) => Object.keys(s.pki?.counters ?? {}).every((k) => !k.startsWith('refused_'))), `no refusals among members: ${JSON.stringify(after.map((s) => s.pki?.counters))}`);
});

netTest('a renewed certificate written to pki.cert is taken by `ringvpn reload` without dropping a session; a certificate for another address is refused', async (t) => {
  const l = L(), M = 2, caDir = l.pki!.caDir;
  const cert = l.node(M).cert!, csr = readFileSync(cert.replace(/\.crt$/, '.csr'), 'utf8');
  const before = await status(M);
  const peers = [...before.connections, ...before.dataPeers].filter((p) => p.session).map((p) => p.nodeId);
  t.true(peers.length > 0, 'the member has sessions');
  const old = readFileSync(cert, 'utf8');
  const renewed = await signRequest(caDir, csr, { address: pkiAddress(M), groups: ['renewed'], days: 30 });
  writeFileSync(cert, renewed.certPem);
  const r = await l.reload(M);
  t.true(r.applied.includes('certificate replaced'), `applied: ${r.applied.join('; ')}`);
  t.deepEqual(r.restartNeeded, []);
  const after = await status(M) as Status & { pki: { serial: string; groups: string[] } };
  t.is(after.pki.serial, renewed.cert.serial, 'status shows the renewed certificate');
  t.deepEqual(after.pki.groups, ['renewed']);
  for (const id of peers) t.true(sessionWith(after, id), `the session with ${id.slice(0, 8)} stays`);
  const other = MEMBERS.find((i) => i !== M)!;
  t.true(await ping(l.node(other).ns, pkiAddress(M)) > 0, 'members still reach it');
  // another address takes a restart: the reload says so and keeps the renewed certificate
  writeFileSync(cert, (await signRequest(caDir, csr, { address: pkiAddress(M + 20) })).certPem);
  const r2 = await l.reload(M);
  t.deepEqual(r2.restartNeeded, ['pki.cert'], 'another address needs a restart');
  t.is((await status(M) as Status & { pki: { serial: string } }).pki.serial, renewed.cert.serial);
  writeFileSync(cert, old);
  await l.reload(M);
});

netTest('outsider daemons (unknown CA, revoked before start, no certificate) never get a session with a member', async (t) => {
  const l = L();
  const outsiders = [UNKNOWN_CA, REVOKED, UNCERTIFIED];
  const codes: Record<number, [string, string]> = {
    [UNKNOWN_CA]: ['links.handshake_cert_unknown_ca', 'pki.refused_unknown_ca'],
    [REVOKED]: ['links.handshake_cert_revoked', 'pki.refused_revoked'],
    [UNCERTIFIED]: ['links.handshake_cert_missing', 'pki.refused_no_certificate'],
  };
  for (const i of outsiders) await l.start(i);
  try {
    // each outsider bootstraps from members 0-2 and keeps initiating; wait until every refusal was counted
    const ss = await until('every outsider refused by members', 30_000, async () => {
      const s = await statuses(MEMBERS);
      return outsiders.every((i) => codes[i]!.every((k) => sumOf(s, k) > 0)) ? s : null;
    });
    for (const i of outsiders) t.log(`${l.node(i).name}: ${codes[i]!.map((k) => `${k}=${sumOf(ss, k)}`).join(', ')}`);
    await sleep(3000);
    const members = await statuses(MEMBERS);
    for (const i of outsiders) {
      const o = await status(i);
      const id = l.node(i).nodeId;
      t.is(o.nodeId, id);
      t.false(anySession(o), `${l.node(i).name} has no session: ${JSON.stringify([...o.connections, ...o.dataPeers])}`);
      t.false(o.joined, `${l.node(i).name} did not join the ring`);
      t.true(members.every((m) => !sessionWith(m, id)), `no member has a session with ${l.node(i).name}`);
      for (const k of codes[i]!) t.true(sumOf(members, k) > 0, `${k} counted`);
    }
  } finally {
    for (const i of outsiders) await l.kill(i);
  }
});

netTest('a daemon refuses to start with a certificate it may not use (claimed address, expired, not yet valid, forged id, another node\'s certificate)', async (t) => {
  const l = L();
  const p = l.pki!;
  // its own good certificate, but network.address is member 1's
  t.regex(await refusedStart(t, IMPOSTOR), /E_PKI.*network\.address/);
  const noAddr = (cfg: LabNodeConfig): void => { delete cfg.network.address; };
  const now = Date.now();
  const pem = (der: Uint8Array): string => `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString('base64')}\n-----END CERTIFICATE-----\n`;
  // signRequest will not back-date past the CA's own start: an expired certificate is signed directly with the CA key
  await l.enrol(IMPOSTOR, {
    certPem: async (c) => pem(await forgeCert(p.caDir, { name: c.name, nodeId: c.nodeId, noiseKey: c.noisePublicKey, address: c.address, serial: '7f07', notBefore: now - 3 * DAY, notAfter: now - 2 * DAY })),
  }, noAddr);
  t.regex(await refusedStart(t, IMPOSTOR), /E_PKI.*expired/);
  await l.enrol(IMPOSTOR, { sign: { notBefore: now + DAY } }, noAddr);
  t.regex(await refusedStart(t, IMPOSTOR), /E_PKI.*not_yet_valid/);
  await l.enrol(IMPOSTOR, {
    certPem: async (c) => pem(await forgeCert(p.caDir, { name: c.name, nodeId: l.node(1).nodeId, noiseKey: c.noisePublicKey, address: c.address, serial: '7f08' })),
  }, noAddr);
  t.regex(await refusedStart(t, IMPOSTOR), /E_PKI.*node_id_mismatch/);
  await l.enrol(IMPOSTOR, { certPem: readFileSync(l.node(1).cert!, 'utf8') }, noAddr);
  t.regex(await refusedStart(t, IMPOSTOR), /E_PKI.*key_mismatch/);
});

netTest('a hostile peer presenting bad certificates in real initiations is refused by every member; a good one is accepted', async (t) => {
  const l = L();
  const p = l.pki!;
  const other = join(work, 'ca-rogue');
  await initCa(other, { name: 'Rogue CA' });
  const now = Date.now();
  const k = (): KeyPair => generateKeyPair();
  const keys = { unknownCa: k(), expired: k(), notYet: k(), forged: k(), stolen: k(), badSig: k(), none: k(), good: k() };
  const victim = l.node(1);
  const badSigPem = await certFor(p.caDir, keys.badSig, 'rogue-sig', { address: '10.128.201.6' });
  const badSig = Buffer.from(pemToB64(badSigPem), 'base64');
  badSig[badSig.length - 5]! ^= 0x40; // inside the signature value at the end of the DER
  const certs: Record<keyof typeof keys, string | null> = {
    unknownCa: pemToB64(await certFor(other, keys.unknownCa, 'rogue-ca', { address: '10.128.201.1' })),
    expired: Buffer.from(await forgeCert(p.caDir, { nodeId: idToHex(nodeIdOfKey(keys.expired.publicKey)), noiseKey: keys.expired.publicKey, address: '10.128.201.2', serial: '7f0a', notBefore: now - 3 * DAY, notAfter: now - 2 * DAY })).toString('base64'),
    notYet: pemToB64(await certFor(p.caDir, keys.notYet, 'rogue-nyv', { address: '10.128.201.3', notBefore: now + DAY })),
    forged: Buffer.from(await forgeCert(p.caDir, { nodeId: victim.nodeId, noiseKey: keys.forged.publicKey, address: victim.vip!, serial: '7f09' })).toString('base64'),
    stolen: pemToB64(readFileSync(victim.cert!, 'utf8')),
    badSig: badSig.toString('base64'),
    none: null,
    good: pemToB64(await certFor(p.caDir, keys.good, 'rogue-good', { address: '10.128.201.9' })),
  };
  const expect: Record<keyof typeof keys, string | null> = {
    unknownCa: 'unknown_ca', expired: 'expired', notYet: 'not_yet_valid', forged: 'node_id_mismatch',
    stolen: 'key_mismatch', badSig: 'bad_signature', none: 'missing', good: null,
  };
  const pkiName = (code: string): string => (code === 'missing' ? 'no_certificate' : code);
  const before = await statuses(MEMBERS);
  const plan: RoguePlan = {
    waitMs: 2000,
    attempts: (Object.keys(keys) as Array<keyof typeof keys>).flatMap((label) => (label === 'good' ? [0] : MEMBERS).map((m) => ({
      label, privateKey: encodeKey(keys[label].privateKey), publicKey: encodeKey(keys[label].publicKey), cert: certs[label],
      to: `${l.node(m).underlay}:51820`, toKey: l.node(m).publicKey,
    }))),
  };
  const res = await rogue(l.node(IMPOSTOR).ns, plan);
  await sleep(300);
  const after = await statuses(MEMBERS);
  for (const [label, code] of Object.entries(expect)) {
    const rs = res.attempts.filter((a) => a.label === label);
    if (code === null) {
      t.true(rs.every((a) => a.established), `control: a well-certified stranger completes the handshake (${JSON.stringify(rs)})`);
      continue;
    }
    t.true(rs.every((a) => a.sent === 1 && a.replies === 0 && !a.established), `${label}: no member answered (${JSON.stringify(rs)})`);
    for (const [j, m] of MEMBERS.entries()) {
      const d1 = (counts(after[j]!)[`links.handshake_cert_${code}`] ?? 0) - (counts(before[j]!)[`links.handshake_cert_${code}`] ?? 0);
      const d2 = (counts(after[j]!)[`pki.refused_${pkiName(code)}`] ?? 0) - (counts(before[j]!)[`pki.refused_${pkiName(code)}`] ?? 0);
      t.is(d1, 1, `node${m} counted handshake_cert_${code} once for ${label}`);
      t.is(d2, 1, `node${m} counted refused_${pkiName(code)} once for ${label}`);
    }
    const id = idToHex(nodeIdOfKey(keys[label as keyof typeof keys].publicKey));
    t.true(after.every((s) => !sessionWith(s, id)), `${label}: no member has a session with the rogue key`);
  }
  t.log(`member 0 counters: ${JSON.stringify(counts(after[0]!))}`);
});

netTest('a replayed initiation is refused (handshake_replay) and answered by nothing', async (t) => {
  const l = L();
  // a node that has never run: its first initiations to the members are genuinely new
  const late = l.node(LATE);
  const pcap = join(work, 'late.pcap');
  const dump = late.ns.spawn('tcpdump', ['-i', 'eth0', '-U', '-w', pcap, 'udp port 51820']);
  await sleep(1500);
  await l.start(LATE);
  await l.waitForAddresses([LATE], 60_000);
  await until('node9 has sessions', 30_000, async () => (await status(LATE)).connections.some((c) => c.session));
  await sleep(1000);
  await dump.kill();
  const frames = udpPayloads(pcap);
  // an initiation node9 sent (type 1) that a member answered (type 2 whose receiver = the initiation's sender index)
  const answered = new Set(frames.filter((f) => f[0] === 2 && f.length >= 12).map((f) => f.readUInt32LE(8)));
  const inits = frames.filter((f) => f[0] === 1 && answered.has(f.readUInt32LE(4)));
  t.true(inits.length > 0, `captured ${frames.length} datagrams, ${inits.length} answered initiations`);
  // the member each initiation was for: its mac1 is keyed by the responder's static key
  const target = (f: Buffer): number => MEMBERS.find((m) => checkMac1(mac1Key(Buffer.from(l.node(m).publicKey, 'base64')), f)) ?? -1;
  const plan = inits.map((f) => ({ f, m: target(f) })).filter((x) => x.m >= 0);
  t.true(plan.length > 0, 'the captured initiations were for members');
  const expected = MEMBERS.map((m) => plan.filter((x) => x.m === m).length);
  const before = await statuses(MEMBERS);
  const res = await rogue(l.node(IMPOSTOR).ns, {
    waitMs: 1500,
    inject: plan.map((x, k) => ({ label: `${k}->node${x.m}`, to: `${l.node(x.m).underlay}:51820`, hex: x.f.toString('hex') })),
  });
  await sleep(300);
  const after = await statuses(MEMBERS);
  const delta = (j: number, k: string): number => (after[j]!.links[k] ?? 0) - (before[j]!.links[k] ?? 0);
  const replay = MEMBERS.map((_, j) => delta(j, 'handshake_replay'));
  t.log(`${plan.length} answered initiations re-sent from a third namespace to their responders: ${expected.join(' ')} per member; handshake_replay per member: ${replay.join(' ')}; replies: ${res.inject.map((x) => x.replies).join(' ')}`);
  t.log(`links counter changes: ${JSON.stringify(MEMBERS.map((_, j) => Object.fromEntries(Object.keys(after[j]!.links).map((k) => [k, delta(j, k)]).filter(([, v]) => v))))}`);
  t.deepEqual(replay, expected, 'each responder refused every replay of an initiation it had accepted');
  t.true(res.inject.every((x) => x.replies === 0), 'nothing answered the replayed initiations (an accepted initiation is answered at once)');
  await l.kill(LATE);
});

netTest('a spoofed inner source address is dropped by the receiver (source_not_allowed), no reply', async (t) => {
  const l = L();
  const a = l.node(0), b = l.node(1);
  t.true(await ping(a.ns, b.vip!, 2) > 0, 'the genuine address works');
  const before = (await status(1)).drops.source_not_allowed ?? 0;
  await a.ns.ip(['addr', 'add', '10.128.250.250/16', 'dev', 'rv0']);
  try {
    const got = await a.ns.exec('ping', ['-c', '4', '-i', '0.2', '-W', '1', '-I', '10.128.250.250', b.vip!], { allowFail: true });
    t.regex(got.stdout, / 0 received/, 'no reply to the spoofed source');
  } finally {
    await a.ns.ip(['addr', 'del', '10.128.250.250/16', 'dev', 'rv0']);
  }
  // an overlay peer's packets from a source it may not use are held while the node could still allow
  // it (a private group never does: its certificate decides); they are counted when the hold expires
  await sleep(PENDING_HOLD_MS + 1_000);
  const after = (await status(1)).drops.source_not_allowed ?? 0;
  t.log(`node1 source_not_allowed: ${before} -> ${after}`);
  t.true(after - before >= 4, 'the receiver dropped every spoofed packet as source_not_allowed');
});

/** UDP payloads carrying `marker` from `from` to `toVip`:9999; returns how many the receiver got. */
async function sendMarker(from: Netns, to: Netns, toVip: string, marker: string, count = 30): Promise<number> {
  const sink = `const d=require('node:dgram').createSocket('udp4');let n=0;d.on('message',(m)=>{if(m.includes(${JSON.stringify(marker)}))n++});d.bind(9999);setTimeout(()=>{console.log(n);d.close()},${count * 100 + 4000});`;
  const rx: NsProcess = to.spawn(process.execPath, ['-e', sink], { pipe: true });
  let out = '';
  rx.child.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
  await sleep(800);
  const src = `const d=require('node:dgram').createSocket('udp4');const p=Buffer.from(${JSON.stringify(marker)}.repeat(Math.ceil(1000/${marker.length}))).subarray(0,1000);let i=0;const t=setInterval(()=>{d.send(p,9999,${JSON.stringify(toVip)});if(++i>=${count}){clearInterval(t);setTimeout(()=>d.close(),200)}},100);`;
  await from.exec(process.execPath, ['-e', src], { timeoutMs: 30_000 });
  await rx.exited;
  return Number(out.trim()) || 0;
}

netTest('captures on the underlay (and intermediates\' devices) never show the plaintext of member traffic', async (t) => {
  const l = L();
  const marker = `RINGVPN-MARKER-${randomBytes(8).toString('hex')}-`;
  const caps: Array<{ where: string; file: string; proc: NsProcess; udp: boolean }> = [];
  const capture = (i: number, dev: string): void => {
    const file = join(work, `cap-${i}-${dev}-${caps.length}.pcap`);
    caps.push({ where: `node${i}:${dev}`, file, udp: dev === 'eth0', proc: l.node(i).ns.spawn('tcpdump', ['-i', dev, '-U', '-w', file, ...(dev === 'eth0' ? ['udp'] : [])]) });
  };
  const stopAll = async (): Promise<void> => { await sleep(500); for (const c of caps.splice(0)) await c.proc.kill(); };
  const check = (label: string, files: typeof caps): void => {
    for (const c of files) {
      const bytes = readFileSync(c.file);
      t.false(bytes.includes(marker), `${label}: no plaintext marker on ${c.where}`);
    }
  };

  // 1. direct: node0 -> node1; captures on every member's underlay interface, and the other members' devices
  for (const i of MEMBERS) capture(i, 'eth0');
  for (const i of [2, 3, 4]) capture(i, 'rv0');
  await sleep(1500);
  const got = await sendMarker(l.node(0).ns, l.node(1).ns, l.node(1).vip!, marker);
  const direct = [...caps];
  await stopAll();
  t.true(got >= 25, `the receiver got the marker datagrams (${got}/30)`);
  const seen = udpPayloads(direct.find((c) => c.where === 'node0:eth0')!.file).filter((p) => p[0] === 4 && p.length > 1000).length;
  t.true(seen >= 25, `node0's underlay capture holds the encrypted datagrams (${seen} large DATA frames)`);
  check('direct', direct);

  // 2. through intermediates: the impostor namespace gets a good certificate, and the underlay between it
  // and the member farthest from it on the ring drops everything (iptables INPUT on both sides: sends
  // still succeed, nothing arrives). Farthest, so that greedy routing has a closer member to go through.
  await l.enrol(IMPOSTOR, {}, (cfg) => { delete cfg.network.address; });
  const far = MEMBERS.reduce((a, b) => (ringDistance(l.node(b).nodeId, l.node(IMPOSTOR).nodeId) > ringDistance(l.node(a).nodeId, l.node(IMPOSTOR).nodeId) ? b : a));
  const dst = l.node(far);
  const cut = (i: number, j: number, op: '-A' | '-D') => l.node(i).ns.exec('iptables', [op, 'INPUT', '-s', underlayAddress(j), '-j', 'DROP']);
  await cut(IMPOSTOR, far, '-A');
  await cut(far, IMPOSTOR, '-A');
  try {
    await l.start(IMPOSTOR);
    await l.waitForAddresses([IMPOSTOR], 60_000);
    await until('node8 joined', 30_000, async () => (await status(IMPOSTOR)).joined);
    const before = await statuses([...MEMBERS, IMPOSTOR]);
    for (const i of [...MEMBERS, IMPOSTOR]) capture(i, 'eth0');
    for (const i of MEMBERS.filter((m) => m !== far)) capture(i, 'rv0');
    await sleep(1500);
    const relayed = await sendMarker(l.node(IMPOSTOR).ns, dst.ns, dst.vip!, marker);
    const viaCaps = [...caps];
    await stopAll();
    const after = await statuses([...MEMBERS, IMPOSTOR]);
    const forwarded = MEMBERS.map((_, j) => (after[j]!.counters.relayForwarded ?? 0) - (before[j]!.counters.relayForwarded ?? 0));
    const dropDelta = (j: number): Record<string, number> => Object.fromEntries(Object.entries(after[j]!.drops).map(([k, v]) => [k, v - (before[j]!.drops[k] ?? 0)]).filter(([, v]) => v));
    const s8 = after[MEMBERS.length]!;
    const toDst = [...s8.connections, ...s8.dataPeers].find((x) => x.nodeId === dst.nodeId);
    t.log(`node8 -> node${far} with no underlay path: ${relayed}/30 marker datagrams arrived; relayForwarded by members ${forwarded.join(' ')}`);
    t.log(`node8's peer for node${far}: ${JSON.stringify(toDst ?? null)}`);
    t.log(`drops during the send: node8 ${JSON.stringify(dropDelta(MEMBERS.length))}, node${far} ${JSON.stringify(dropDelta(far))}`);
    const counterDelta = (j: number): Record<string, number> => {
      const b = { ...before[j]!.counters, ...counts(before[j]!) };
      return Object.fromEntries(Object.entries({ ...after[j]!.counters, ...counts(after[j]!) }).map(([k, v]) => [k, v - (b[k] ?? 0)]).filter(([, v]) => v));
    };
    t.log(`counters during the send: node8 ${JSON.stringify(counterDelta(MEMBERS.length))}, node${far} ${JSON.stringify(counterDelta(far))}`);
    check('relayed', viaCaps);
    t.log(`underlay datagrams captured: ${viaCaps.filter((c) => c.udp).map((c) => `${c.where} ${udpPayloads(c.file).length}`).join(', ')}`);
    t.true(relayed >= 20, `end-to-end relayed traffic passes (${relayed}/30; the first datagrams may go while the route is resolved)`);
    t.true(forwarded.some((x) => x > 0), 'the marker that arrived went through an intermediate (relayForwarded)');
  } finally {
    await l.kill(IMPOSTOR);
    await cut(IMPOSTOR, far, '-D').catch(() => undefined);
    await cut(far, IMPOSTOR, '-D').catch(() => undefined);
  }
});

netTest('revocation published through a member (ringvpn ca revoke --publish) closes every session with the victim within 2 s; the victim cannot re-link', async (t) => {
  const l = L();
  const VICTIM = 4;
  const others = MEMBERS.filter((i) => i !== VICTIM);
  const victim = l.node(VICTIM);
  // every member talks to the victim first
  for (const i of others) t.true(await ping(l.node(i).ns, victim.vip!, 3) > 0, `node${i} reaches the victim`);
  const pre = await statuses(others);
  t.true(pre.every((s) => sessionWith(s, victim.nodeId)), 'every member has a session with the victim');

  const cli = spawn(join(repoRoot, 'bin/ringvpn'), ['ca', 'revoke', '--dir', l.pki!.caDir, '--cert', victim.cert!, '--publish', l.node(0).socket], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', errText = '', publishAt = 0;
  cli.stdout.on('data', (c: Buffer) => { out += c.toString(); if (!publishAt && /\.bin \(/.test(out)) publishAt = Date.now(); });
  cli.stderr.on('data', (c: Buffer) => { errText += c.toString(); });
  const exited = new Promise<number>((r) => cli.on('exit', (code) => r(code ?? -1)));
  const closedAt = new Map<number, number>();
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && closedAt.size < others.length) {
    const ss = await Promise.all(others.map((i) => status(i).catch(() => null)));
    const now = Date.now();
    ss.forEach((s, j) => { if (s && publishAt && !sessionWith(s, victim.nodeId) && !closedAt.has(others[j]!)) closedAt.set(others[j]!, now); });
    await sleep(100);
  }
  const code = await exited;
  t.is(code, 0, `ringvpn ca revoke exited 0: ${out}${errText}`);
  t.log(out.trim());
  const lag = others.map((i) => (closedAt.get(i) ?? Infinity) - publishAt);
  t.log(`sessions with the victim closed after (ms from the publish): ${others.map((i, j) => `node${i} ${lag[j]}`).join(', ')}`);
  t.true(lag.every((x) => x <= 2000), 'every member closed its session with the victim within 2 s');
  const hows = others.map((i) => {
    const line = readFileSync(l.node(i).log, 'utf8').split('\n').find((x) => x.includes('revoked node cut off') && x.includes(victim.nodeId));
    return line ? (JSON.parse(line) as { how?: string }).how ?? '?' : 'none';
  });
  t.log(`how each member learned: ${others.map((i, j) => `node${i} ${hows[j]}`).join(', ')}`);

  // the victim restarts with its revoked certificate: nobody links with it
  const before = await statuses(others);
  await l.kill(VICTIM);
  await l.start(VICTIM);
  await sleep(8000);
  const after = await statuses(others);
  const v = await status(VICTIM);
  t.false(anySession(v), `the victim has no session: ${JSON.stringify([...v.connections, ...v.dataPeers].filter((x) => x.session))}`);
  t.true(after.every((s) => !sessionWith(s, victim.nodeId)), 'no member has a session with the victim');
  const refused = after.reduce((a, s, j) => a + (s.links.handshake_cert_revoked ?? 0) - (before[j]!.links.handshake_cert_revoked ?? 0), 0);
  t.log(`handshake_cert_revoked after the victim's restart: +${refused}`);
  t.true(refused > 0, 'members refused the victim\'s new handshakes as revoked');
  t.is(await ping(victim.ns, l.node(0).vip!, 2), 0, 'the victim cannot reach a member');
  for (const i of others) t.true(await ping(l.node(i).ns, l.node(others[(others.indexOf(i) + 1) % others.length]!).vip!, 3) > 0, `node${i} still reaches the others`);
});
