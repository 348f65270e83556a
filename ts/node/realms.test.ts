// The overlays of one daemon over one engine (ts/node/realms.ts), without a network: the checks on the groups
// it is given, the peer id ranges, and the dispatch of handshake-class datagrams (an initiation by its realm
// tag, an unknown tag dropped and counted; responses and probe answers by who is waiting for them).
import test from 'ava';
import { keyPairFromPrivate } from '../handshake/primitives.js';
import { seededRandom } from '../handshake/seeded-random.js';
import { encodeInitiation, mac1Key } from '../handshake/frames.js';
import { encodeProbeReply } from '../wire/probe.js';
import { silentLogger } from '../base/log.js';
import { nodeIdOfKey } from '../base/nodeid.js';
import type { GroupPolicy } from './group.js';
import { MAX_GROUPS, REALM_PEER_SPAN, Realms, realmTag, type GroupRealmOptions } from './realms.js';

const keys = keyPairFromPrivate(seededRandom('realms/self')(32));
const pub = {
  keys, random: seededRandom('realms/random'), seed: 1, wallOffsetMs: 0, log: silentLogger,
  overlay: { bootstrap: ['192.0.2.1:51820'], endpoints: ['192.0.2.2:51820'] },
  lan: { net: 'pub', subnet: '10.128.0.0/16', domain: 'ringvpn', name: 'n', routes: [], leaseMs: 600_000, dhcp: false },
};
/** a group policy that admits nobody (dispatch is under test here, not admission) */
const policy = (address: string): GroupPolicy => ({
  ownDer: new Uint8Array(0), own: { address, subnets: [] }, verify: () => ({ ok: false, code: 'test' }), certOf: () => undefined,
  applyRecord: () => ({ ok: false, fresh: false, code: 'test' }), status: () => ({}),
});
const group = (realm: number[], subnet: string, address: string): GroupRealmOptions => ({
  realm: Uint8Array.from([...realm, ...new Array(16 - realm.length).fill(7)]), group: policy(address),
  lan: { net: `g-${subnet}`, subnet, domain: `g${realm[0]}`, name: 'n', routes: [], leaseMs: 600_000, dhcp: false },
});

test('groups are refused with E_CONFIG: overlapping subnets, the same realm tag, a zero tag, too many', (t) => {
  const code = (fn: () => unknown) => { try { fn(); return null; } catch (e) { return (e as { code: string; message: string }); } };
  t.regex(code(() => new Realms(pub, [group([1, 2, 3], '10.201.0.0/16', '10.201.0.5'), group([4, 5, 6], '10.201.128.0/17', '10.201.128.5')]))!.message, /overlaps group 1/);
  t.regex(code(() => new Realms(pub, [group([1, 2, 3], '10.201.0.0/16', '10.201.0.5'), group([1, 2, 3, 9], '10.202.0.0/16', '10.202.0.5')]))!.message, /realm tag 10203 is group 1's too/);
  t.regex(code(() => new Realms(pub, [group([0, 0, 0], '10.201.0.0/16', '10.201.0.5')]))!.message, /public overlay's/);
  t.is(code(() => new Realms(pub, Array.from({ length: MAX_GROUPS + 1 }, (_, k) => group([k + 1, 1, 1], `10.${k}.0.0/24`, `10.${k}.0.5`))))!.code, 'E_CONFIG');
  t.regex(code(() => new Realms({ ...pub, overlay: undefined }, []))!.message, /need the public overlay/);
});

test('dispatch: an initiation goes to the overlay its realm tag names, an unknown tag is dropped and counted; a probe answer to the table that waits for it', (t) => {
  const r = new Realms(pub, [group([1, 2, 3], '10.201.0.0/16', '10.201.0.5'), group([9, 8, 7], '10.202.0.0/16', '10.202.0.5')]);
  t.is(r.groups[0]!.tag, realmTag(r.groups[0]!.realm));
  t.is(r.groups[0]!.tag, 0x010203);
  const noise = new Uint8Array(48 + 12 + 16 + 48);
  // what an overlay's handshaker made of a frame (junk: a refusal it counted)
  const seen = (k: number) => { const v = r.overlayOf(k)!.counters.values; return { read: Object.entries(v).filter(([x]) => x.startsWith('handshake_')).reduce((a, [, n]) => a + n, 0), ...v }; };
  const init = (realm: number) => encodeInitiation({ sender: 5, noise, realm }, mac1Key(keys.publicKey));
  r.handle(0, { kind: 'handshake', from: '192.0.2.9:51820', data: init(0x010203) });
  t.is(seen(1).read, 1, 'group 1 read it (and refused the junk)');
  t.is(seen(0).read, 0);
  r.handle(0, { kind: 'handshake', from: '192.0.2.9:51820', data: init(0x090807) });
  t.is(seen(2).read, 1);
  r.handle(0, { kind: 'handshake', from: '192.0.2.9:51820', data: init(0x424242) });
  t.is(r.counters.values.realm_unknown_tag, 1, 'an unknown realm is dropped before any DH');
  r.handle(0, { kind: 'handshake', from: '192.0.2.9:51820', data: init(0) });
  t.is(seen(0).read, 1, 'tag 0: the public overlay');
  t.is(seen(1).read + seen(2).read, 2);
  // a probe answer nobody waits for: the public table counts it
  r.handle(0, { kind: 'handshake', from: '192.0.2.9:51820', data: encodeProbeReply(77, keyPairFromPrivate(seededRandom('x')(32)).publicKey, null) });
  t.is(r.overlayOf(0)!.counters.values.probe_unsolicited, 1);
  // engine peer ids: each overlay's above k * 2^24; an event for a peer id of no overlay is counted
  r.handle(0, { kind: 'control', peerId: 7 * REALM_PEER_SPAN + 1, data: new Uint8Array(1) });
  t.is(r.counters.values.realm_unknown_peer, 1);
  t.is(r.groups[1]!.node.self, nodeIdOfKey(keys.publicKey), 'every overlay is the same node');
});
