// The shared next-hop vectors (tests/vectors/next-hop.json) against ts/core/routing.ts: greedyNextHop must
// give every case's expected hop, as crates/dataplane/tests/next_hop_vectors.rs checks for Rust's rule.
// greedyNextHopOrdered (clockwise peers, binary search) must agree except where the vectors test list order.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { idFromHex, type NodeId } from '../base/nodeid.js';
import { cwDist, ringDist } from './ring.js';
import { greedyNextHop, greedyNextHopOrdered } from './routing.js';

interface Case { name: string; self: string; dest: string; candidates: string[]; exclude?: string; expected: string | null }

const doc = JSON.parse(readFileSync(new URL('../../tests/vectors/next-hop.json', import.meta.url), 'utf8')) as { cases: Case[] };
const id = (hex: string): NodeId => {
  const v = idFromHex(hex);
  if (v === null || hex.length !== 40) throw new Error(`bad id ${hex}`);
  return v;
};

test('the vectors cover wrap-around, ties and exclusion', (t) => {
  t.true(doc.cases.length >= 20);
  for (const word of ['wrap-around', 'tie', 'exclude', 'antipode']) t.true(doc.cases.some((c) => c.name.includes(word)), word);
});

test('greedyNextHop gives every expected next hop', (t) => {
  for (const c of doc.cases) {
    const got = greedyNextHop(id(c.self), id(c.dest), c.candidates.map(id), c.exclude === undefined ? undefined : id(c.exclude));
    t.is(got, c.expected === null ? null : id(c.expected), c.name);
  }
});

test('greedyNextHopOrdered agrees, up to which of two equally close peers it picks', (t) => {
  for (const c of doc.cases) {
    const self = id(c.self), dest = id(c.dest);
    const cw = [...new Set(c.candidates.map(id))].filter((x) => x !== self).sort((a, b) => (cwDist(self, a) < cwDist(self, b) ? -1 : 1));
    const exclude = c.exclude === undefined ? undefined : id(c.exclude);
    const got = greedyNextHopOrdered(self, dest, cw, (x) => x !== exclude);
    const want = c.expected === null ? null : id(c.expected);
    if (got === null || want === null) t.is(got, want, c.name);
    else t.is(ringDist(got, dest), ringDist(want, dest), c.name);
  }
});
