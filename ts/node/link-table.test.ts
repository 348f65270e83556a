// Tests the link table's bounds against strangers (open admission): a flood of fresh keys that complete
// real handshakes fills the table only up to its bound, and none gets in while the process is over its
// memory budget; beyond it they are refused and counted.
import test from 'ava';
import { LinkTable } from './link-table.js';
import { Counters, Outbox } from './io.js';
import { Handshaker } from '../handshake/handshake.js';
import { keyPairFromPrivate } from '../handshake/primitives.js';
import { seededRandom } from '../handshake/seeded-random.js';
import { nodeIdOfKey } from '../base/nodeid.js';
import { encodeProbeRequest } from '../wire/probe.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/** Strangers 0..n-1 each send one initiation to the table; how many got a session. */
function strangers(table: LinkTable, out: Outbox, keys: { publicKey: Uint8Array }, from: number, n: number): number {
  let established = 0;
  for (let i = from; i < from + n; i++) {
    const r = seededRandom(`stranger${i}`);
    const k = keyPairFromPrivate(r(32));
    const hs = new Handshaker({ staticPrivate: k.privateKey, staticPublic: k.publicKey, random: r });
    hs.addPeer(1, keys.publicKey);
    const init = hs.initiate(1, 1_800_000_000_000 + i).find((a) => a.kind === 'send');
    if (init?.kind !== 'send') throw new Error('no initiation');
    table.at(i).onFrame(init.bytes, `10.1.0.${i}:4000`);
    const resp = out.commands.splice(0).find((c) => c.cmd === 'sendFrame');
    if (resp?.cmd === 'sendFrame' && hs.receive(resp.bytes, 1_800_000_000_000 + i).some((a) => a.kind === 'established')) established++;
  }
  return established;
}

/** A link table with open admission, its own seeded keys, outbox and counters. */
function openTable(seed: string, maxPeers?: number): { table: LinkTable; out: Outbox; counters: Counters; keys: { privateKey: Uint8Array; publicKey: Uint8Array } } {
  const random = seededRandom(seed);
  const keys = keyPairFromPrivate(random(32));
  const out = new Outbox(), counters = new Counters();
  const table = new LinkTable({ self: nodeIdOfKey(keys.publicKey), keys, random, wallOffsetMs: 1_800_000_000_000, openAdmission: true, ...(maxPeers !== undefined ? { maxPeers } : {}) }, out, counters, quiet);
  return { table, out, counters, keys };
}

test('over the memory budget, strangers are refused (admit_over_budget) and admitted again after', (t) => {
  const { table, out, counters, keys } = openTable('budget');
  t.is(strangers(table, out, keys, 0, 2), 2);
  table.overBudget = true;
  t.is(strangers(table, out, keys, 2, 3), 0, 'no stranger gets in while over budget');
  t.is(counters.values.admit_over_budget, 3);
  t.is(table.peers.size, 2, 'the peers admitted before stay');
  table.overBudget = false;
  t.is(strangers(table, out, keys, 5, 1), 1, 'admitted again once back under the budget');
});

test('open admission: strangers beyond maxPeers are refused (admit_table_full), the table stays bounded', (t) => {
  const { table, out, counters, keys } = openTable('table', 3);
  t.is(strangers(table, out, keys, 0, 6), 3, 'three strangers got in');
  t.is(table.peers.size, 3, 'the table holds maxPeers');
  t.is(counters.values.admit_table_full, 3);
  t.is(counters.values.handshake_unknown_peer, 3, 'the others were refused as unknown');
});

test('a session whose direct endpoint went quiet is not trusted for a new link: the endpoint is probed first', (t) => {
  const { table, out, counters, keys } = openTable('quiet');
  t.is(strangers(table, out, keys, 0, 1), 1, 'a peer with a session made directly from 10.1.0.0:4000');
  const p = [...table.peers.values()][0]!;
  t.is(p.endpoint, '10.1.0.0:4000');
  t.deepEqual(table.events.splice(0).map((e) => e.ev), ['up', 'session'], 'linked at once: its handshake came from that endpoint');
  // the overlay trims the link; the session stays
  table.at(1_000).unlink(p.nodeId, 'trim');
  t.true(p.established && !p.linked);
  // heard 10 s ago: a new link request trusts the endpoint
  table.at(10_000).link(p.nodeId, ['9.9.9.9:4500']);
  t.deepEqual(table.events.splice(0).map((e) => e.ev), ['up']);
  table.at(11_000).unlink(p.nodeId, 'trim');
  out.commands.splice(0);
  // quiet for 40 s (a NAT's mapping may be gone): probed first, the known endpoint with the advertised ones
  table.at(40_000).link(p.nodeId, ['9.9.9.9:4500']);
  t.deepEqual(table.events.splice(0), [], 'not linked before a probe answers');
  const probed = out.commands.splice(0).flatMap((c) => (c.cmd === 'sendFrame' ? [c.endpoint] : []));
  t.deepEqual(probed, ['10.1.0.0:4000', '9.9.9.9:4500']);
  // an authenticated packet from a new source while the link is under way proves that path: linked on it
  table.at(40_500).roamed(p.peerId, '10.1.0.0:5000');
  t.is(p.endpoint, '10.1.0.0:5000');
  t.deepEqual(table.events.splice(0).map((e) => e.ev), ['up']);
  t.true(p.linked);
  t.is(counters.values.link_by_roam, 1);
});

test('a peer that links to us over a session we already hold (its STATUS arrives, no handshake) is adopted as a link', (t) => {
  const { table, out, counters, keys } = openTable('adopt');
  t.is(strangers(table, out, keys, 0, 1), 1);
  const p = [...table.peers.values()][0]!;
  table.events.splice(0);
  table.at(1_000).unlink(p.nodeId, 'trim');
  t.true(p.established && !p.linked, 'the link is trimmed, its session stays');
  t.false(table.at(60_000).adopt(p.nodeId), 'not over a session alone: its old endpoint may be a mapping long gone');
  t.is(counters.values.link_adopt_no_path, 1);
  // the peer probes us from the session's endpoint (its link request proving the path), then its STATUS arrives
  table.at(60_000).onFrame(encodeProbeRequest(7, '10.9.9.9:4500'), '10.1.0.0:4000');
  table.events.splice(0);
  t.true(table.at(60_100).adopt(p.nodeId), 'its STATUS makes the link ours too');
  t.true(p.linked);
  t.deepEqual(table.events.splice(0), [{ ev: 'up', nodeId: p.nodeId, endpoints: ['10.1.0.0:4000'] }]);
  t.false(table.adopt(p.nodeId), 'a linked peer is not adopted twice');
  t.is(counters.values.link_adopted, 1);
  table.at(61_000).unlink(p.nodeId, 'ping-timeout');
  t.false(table.adopt(p.nodeId), 'without a session (or a peer) nothing is adopted');
});

test('an initiation that goes unanswered does not end the session the peer made meanwhile (both sides initiated)', (t) => {
  const { table, out, counters, keys } = openTable('failed');
  const WALL = 1_800_000_000_000;
  const r = seededRandom('the peer');
  const k = keyPairFromPrivate(r(32));
  const hs = new Handshaker({ staticPrivate: k.privateKey, staticPublic: k.publicKey, random: r });
  hs.addPeer(1, keys.publicKey);
  const handshake = (at: number): void => {
    const init = hs.initiate(1, WALL + at).find((a) => a.kind === 'send');
    if (init?.kind !== 'send') throw new Error('no initiation');
    table.at(at).onFrame(init.bytes, '10.1.0.9:4000');
    const resp = out.commands.splice(0).find((c) => c.cmd === 'sendFrame');
    if (resp?.cmd !== 'sendFrame' || !hs.receive(resp.bytes, WALL + at).some((a) => a.kind === 'established')) throw new Error('no session');
  };
  handshake(0);
  const p = [...table.peers.values()][0]!;
  t.true(p.established && p.linked);
  // the table initiates too (a rekey); its initiations are never answered
  table.at(1_000).needSession(p.peerId);
  // the peer handshakes again meanwhile: a fresh session, from a live peer
  handshake(80_000);
  for (let s = 2; s <= 100; s++) table.at(s * 1_000).tick();
  t.is(counters.values.handshake_failed, 1, 'the attempt gave up');
  t.is(counters.values.handshake_failed_session_kept, 1);
  t.true(p.established && p.linked, 'the session the peer made and the link stay');
  t.false(out.commands.some((c) => c.cmd === 'removeSession'), 'no session removed');
  // with no handshake from the peer during an attempt, giving up ends the link as before
  table.at(200_000).needSession(p.peerId);
  for (let s = 201; s <= 300; s++) table.at(s * 1_000).tick();
  t.is(counters.values.handshake_failed, 2);
  t.false(p.established || p.linked, 'a peer silent through the whole attempt is lost');
});
