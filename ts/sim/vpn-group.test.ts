// A private group in the simulator: certified VpnNodes (real X.509 certificates and the real handshake)
// form their ring and reach each other; outsiders with a foreign CA's certificate or none are refused
// by every member and never link; a CA-signed revocation published at one member reaches all of them
// by broadcast, cuts the revoked node off and keeps it out; a member that starts later learns it from
// the group's record in the DHT (the paper's DHT notification).
import test from 'ava';
import { join } from 'node:path';
import { generateKeyPair } from '../config/keys.js';
import { createRequest } from '../pki/request.js';
import { signRequest, revoke } from '../pki/ca.js';
import { CertificatePolicy } from '../pki/group-policy.js';
import { TrustAnchor } from '../pki/anchor.js';
import { toDer } from '../pki/x509.js';
import { tmpDir, makeCa } from '../pki/testkit.js';
import { nodeIdOfKey } from '../base/nodeid.js';
import { silentLogger } from '../base/log.js';
import { crawl } from '../core/crawl.js';
import { LatencyMatrix } from './network.js';
import { VpnHarness } from './vpn-harness.js';
import { replicaPositions } from '../dht/placement.js';
import { DEFAULT_DHT_PARAMS } from '../dht/dht.js';
import { ringDist } from '../core/ring.js';
import { bytes } from '../vpn/addressing.js';

const MEMBERS = 10;
const FOREIGN = 10, BARE = 11; // outsiders: a certificate from another CA; no certificate at all
const LATE = 12; // a member that starts after the revocation was broadcast: it learns it from the DHT

test('members link and reach each other; outsiders are refused by everyone; a broadcast revocation cuts a member off', async (t) => {
  const tmp = tmpDir();
  t.teardown(tmp.cleanup);
  const ca = await makeCa(tmp.dir, 'Group CA');
  const other = await makeCa(tmp.dir, 'Other CA', 'other');
  const wall = Date.now();
  const keys = Array.from({ length: LATE + 1 }, () => generateKeyPair());
  const certs: Uint8Array[] = [];
  for (let i = 0; i <= LATE; i++) {
    if (i === BARE) { certs.push(new Uint8Array(0)); continue; }
    const { csrPem } = await createRequest({ name: `m${i}`, noisePublicKey: keys[i]!.publicKey, identityKeyFile: join(tmp.dir, `m${i}.id`) });
    const r = await signRequest(i === FOREIGN ? other.dir : ca.dir, csrPem, { address: `10.128.0.${10 + i}` });
    certs.push(toDer(r.certPem, ['CERTIFICATE'])!);
  }
  const anchors = [ca.anchor, other.anchor];
  const h = new VpnHarness({
    capacity: LATE + 1, seed: 5, matrix: LatencyMatrix.uniform(LATE + 1, 20), wallOffsetMs: wall,
    keys: (i) => keys[i]!,
    group: (i, k) => (i === BARE ? undefined : new CertificatePolicy(i === FOREIGN ? anchors[1]! : anchors[0]!, certs[i]!, nodeIdOfKey(k.publicKey), k.publicKey, wall, silentLogger)),
  });
  for (let i = 0; i <= BARE; i++) h.addNode(i * 300);
  h.run(40_000);

  const members = Array.from({ length: MEMBERS }, (_, i) => i);
  t.deepEqual(members.map((i) => h.address(i)), members.map((i) => `10.128.0.${10 + i}`), 'members hold their certified addresses');
  const view = h.view();
  for (const i of [FOREIGN, BARE]) view.delete(h.nodes[i]!.self);
  t.is(crawl(view).consistency, 1, 'the members\' ring is consistent');
  for (const i of members) {
    const peers = [...h.nodes[i]!.links.peers.values()];
    for (const o of [FOREIGN, BARE]) t.false(peers.some((p) => p.nodeId === h.nodes[o]!.self && p.established), `member ${i} has no session with outsider ${o}`);
  }
  const refusals = (code: string) => members.reduce((a, i) => a + (h.nodes[i]!.counters.values[`handshake_cert_${code}`] ?? 0), 0);
  t.true(refusals('unknown_ca') > 0, 'the foreign certificate was refused as unknown_ca');
  t.true(refusals('missing') > 0, 'the bare node was refused as missing');

  const pings = [[0, 9], [3, 7], [8, 1], [5, 2]].map(([a, b]) => h.ping(a!, b!));
  h.run(h.now + 5_000);
  t.true(pings.every((p) => p.repliedAt !== null), 'members reach each other');

  // revoke member 4: the record is published at member 0 and broadcast
  // the member nearest the most replica positions of the group's revocation record (the DHT put reaches it)
  const positions = replicaPositions(bytes('revoked:sim'), DEFAULT_DHT_PARAMS.replicas);
  const nearest = (pos: bigint): number => members.reduce((b, i) => (ringDist(h.nodes[i]!.self, pos) < ringDist(h.nodes[b]!.self, pos) ? i : b), 0);
  const held = members.map((i) => positions.filter((pos) => nearest(pos) === i).length);
  const linked = members.filter((i) => i !== 0 && held[i]! > 0 && h.nodes[0]!.links.peerOf(h.nodes[i]!.self)?.established);
  t.true(linked.length > 0, 'a member linked to the publisher is the nearest to a replica position');
  const victim = linked.reduce((b, i) => (held[i]! > held[b]! ? i : b));
  const lost = (): number => h.nodes[0]!.counters.values.control_send_no_session ?? 0;
  const lostBefore = lost();
  const rv = await revoke(ca.dir, certs[victim]!);
  let published: Record<string, unknown> | undefined;
  const t0 = h.now;
  let answeredAfter = Infinity;
  const learned = new Map<number, string>();
  const victimId = h.nodes[victim]!.self;
  h.nodes[0]!.publishRevocation(h.now, rv.record, (r) => { published = r; answeredAfter = h.now - t0; });
  h.pump(0);
  h.run(h.now + 2_000);
  for (const { at, node, e } of h.events) if (at >= t0 && e.type === 'revoked' && e.nodeId === victimId && !learned.has(node)) learned.set(node, `${e.how} ${at - t0} ms`);
  t.like(published, { ok: true, fresh: true, storedInDht: true });
  // the publishing member answers once a majority stored the record: the revoked node may hold replica
  // positions, and it is dropped from the overlay at once so that no request waits for it to time out
  t.true(answeredAfter < 1_000, `the publish answered in ${answeredAfter} ms`);
  t.is(lost() - lostBefore, 0, 'the publisher sent nothing towards the revoked member (its DHT puts went to the next nearest)');
  t.log(`publish answered after ${answeredAfter} ms; learned: ${[...learned].map(([i, x]) => `${i} ${x}`).join(', ')}`);
  for (const i of members) if (i !== victim && i !== 0) t.regex(learned.get(i) ?? 'none', /^broadcast/, `member ${i} learned by broadcast`);
  for (const i of members) {
    if (i === victim) continue;
    const p = h.nodes[i]!.links.peerOf(victimId);
    t.falsy(p, `member ${i} forgot the revoked node`);
  }
  h.run(h.now + 30_000);
  for (const i of members) if (i !== victim) t.falsy(h.nodes[i]!.links.peerOf(victimId)?.established, `member ${i} never links the revoked node again`);
  t.true(members.some((i) => ((h.nodes[i]!.group!.status().counters as Record<string, number>).refused_revoked ?? 0) > 0 || (h.nodes[i]!.counters.values.link_banned ?? 0) > 0), 'the revoked node kept trying and was refused');

  // the paper's DHT notification: a member that was not there for the broadcast reads the record when it joins
  const lateAt = h.now;
  const late = h.addNode(h.now);
  t.is(late, LATE);
  h.run(h.now + 20_000);
  const how = h.events.find(({ at, node, e }) => at >= lateAt && node === LATE && e.type === 'revoked' && e.nodeId === victimId);
  t.truthy(how, 'the late member learned the revocation');
  t.is(how && how.e.type === 'revoked' ? how.e.how : null, 'dht', 'from the group\'s record in the DHT');
  t.falsy(h.nodes[LATE]!.links.peerOf(victimId)?.established, 'and never linked the revoked node');
  t.not(h.address(LATE), null, 'the late member joined the group');
});
