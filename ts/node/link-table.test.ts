// Tests the link table's bounds against strangers (open admission): a flood of fresh keys that complete
// real handshakes fills the table only up to its bound; beyond it they are refused and counted.
import test from 'ava';
import { LinkTable } from './link-table.js';
import { Counters, Outbox } from './io.js';
import { Handshaker } from '../handshake/handshake.js';
import { keyPairFromPrivate } from '../handshake/primitives.js';
import { seededRandom } from '../handshake/seeded-random.js';
import { nodeIdOfKey } from '../base/nodeid.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

test('open admission: strangers beyond maxPeers are refused (admit_table_full), the table stays bounded', (t) => {
  const random = seededRandom('table');
  const keys = keyPairFromPrivate(random(32));
  const counters = new Counters();
  const out = new Outbox();
  const table = new LinkTable({ self: nodeIdOfKey(keys.publicKey), keys, random, wallOffsetMs: 1_800_000_000_000, openAdmission: true, maxPeers: 3 }, out, counters, quiet);
  let established = 0;
  for (let i = 0; i < 6; i++) {
    const r = seededRandom(`stranger${i}`);
    const k = keyPairFromPrivate(r(32));
    const hs = new Handshaker({ staticPrivate: k.privateKey, staticPublic: k.publicKey, random: r });
    hs.addPeer(1, keys.publicKey);
    const init = hs.initiate(1, 1_800_000_000_000 + i).find((a) => a.kind === 'send');
    if (init?.kind !== 'send') { t.fail('no initiation'); return; }
    table.at(i).onFrame(init.bytes, `10.1.0.${i}:4000`);
    const resp = out.commands.splice(0).find((c) => c.cmd === 'sendFrame');
    if (resp?.cmd === 'sendFrame' && hs.receive(resp.bytes, 1_800_000_000_000 + i).some((a) => a.kind === 'established')) established++;
  }
  t.is(established, 3, 'three strangers got in');
  t.is(table.peers.size, 3, 'the table holds maxPeers');
  t.is(counters.values.admit_table_full, 3);
  t.is(counters.values.handshake_unknown_peer, 3, 'the others were refused as unknown');
});
