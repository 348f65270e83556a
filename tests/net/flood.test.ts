// Network tests under attack: a third namespace floods a member of a two-node static mesh for 20 s at the
// highest rate `ringvpn-flood` reaches, from 64 source addresses: junk and mac1-valid handshake
// initiations, then unauthenticated DATA frames. During and after each flood the existing tunnel loses
// no ping, a new legitimate handshake (a fourth namespace, a key the victim knows) completes within 1 s,
// the victim's RSS grows by at most 30 MB and stops growing, and every drop is counted by reason.
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { netTest } from './support.js';
import type { RoguePlan, RogueResult } from './rogue.js';
import { MeshLab, type LabStatus } from '../../ts/lab/mesh-lab.js';
import { addSources, startFlood, type FloodKind } from '../../ts/lab/flood.js';
import { sleep } from '../../ts/lab/util.js';
import { encodeKey } from '../../ts/config/keys.js';
import { repoRoot } from '../../ts/paths.js';
import type { Netns } from '../../ts/lab/netns.js';

const FLOOD_S = 20;
const MB = 1e6;

type Status = LabStatus & { memory: { rssBytes: number }; links: Record<string, number> };

/** A legitimate initiator in `ns` with node `who`'s key, timed to its session with the victim. */
async function handshake(lab: MeshLab, ns: Netns, who: number, victim: number, dir: string): Promise<RogueResult['attempts'][0]> {
  const k = lab.node(who).keys;
  const plan: RoguePlan = {
    waitMs: 5000,
    attempts: [{
      label: 'legit', privateKey: encodeKey(k.privateKey), publicKey: encodeKey(k.publicKey), cert: null,
      to: `${lab.node(victim).underlay}:51820`, toKey: encodeKey(lab.node(victim).keys.publicKey), stopWhenEstablished: true,
    }],
  };
  const file = join(dir, `plan-${Date.now()}.json`);
  writeFileSync(file, JSON.stringify(plan));
  const r = await ns.exec(process.execPath, ['--import', join(repoRoot, 'node_modules/tsx/dist/esm/index.mjs'), join(repoRoot, 'tests/net/rogue.ts'), file], { timeoutMs: 30_000, cwd: repoRoot });
  return (JSON.parse(r.stdout.trim().split('\n').pop()!) as RogueResult).attempts[0]!;
}

async function underFlood(t: ExecutionContext, kind: FloodKind): Promise<void> {
  // node0 -- node1 (victim) tunnel; node2 attacks; node3 is a member that has not talked yet
  const lab = await MeshLab.create(4, { prefix: 'rvfl' });
  const dir = mkdtempSync(join(tmpdir(), 'ringvpn-flood-'));
  try {
    await lab.start(0);
    await lab.start(1);
    await lab.waitForSessions(0, 15000, ['node1']);
    const status = (): Promise<Status> => lab.status(1) as Promise<Status>;
    const rss: number[] = [];
    for (let i = 0; i < 3; i++) { rss.push((await status()).memory.rssBytes); await sleep(500); }
    const before = Math.max(...rss);
    const drops0 = (await status()).drops;
    const sources = await addSources(lab.node(2).ns, 'eth0', '10.200.0', 100, 64);
    const pinger = lab.node(0).ns.exec('ping', ['-c', String((FLOOD_S + 4) * 5), '-i', '0.2', '-W', '1', '10.99.0.2'], { allowFail: true });
    const flood = startFlood(lab.node(2).ns, { target: `${lab.node(1).underlay}:51820`, kind, seconds: FLOOD_S, sources, pubkey: encodeKey(lab.node(1).keys.publicKey) });
    const during: number[] = [];
    const sampler = (async () => {
      for (let i = 0; i < FLOOD_S + 5; i++) {
        await sleep(1000);
        try { during.push((await status()).memory.rssBytes); } catch { during.push(NaN); }
      }
    })();
    await sleep(8000);
    const hs = await handshake(lab, lab.node(3).ns, 3, 1, dir);
    const sent = await flood.done;
    await sampler;
    const pings = await pinger;
    const after = await status();
    const drops = Object.fromEntries(Object.entries(after.drops).map(([k, v]) => [k, v - (drops0[k] ?? 0)]).filter(([, v]) => (v as number) > 0));
    const hsLinks = Object.fromEntries(Object.entries(after.links).filter(([k]) => k.startsWith('handshake_')));
    const received = Number(/(\d+) received/.exec(pings.stdout)?.[1] ?? 0);
    const transmitted = Number(/(\d+) packets transmitted/.exec(pings.stdout)?.[1] ?? 0);
    const peak = Math.max(...during.filter((x) => !Number.isNaN(x)));
    const mid = during[Math.floor(FLOOD_S / 2)]!;
    const end = during[during.length - 1]!;
    t.log(`flood: ${JSON.stringify(sent)}`);
    t.log(`victim RSS ${(before / MB).toFixed(1)} MB before, peak ${(peak / MB).toFixed(1)}, at mid-flood ${(mid / MB).toFixed(1)}, 5 s after ${(end / MB).toFixed(1)}`);
    t.log(`tunnel pings ${received}/${transmitted}; new handshake ${hs.establishedMs} ms (${hs.cookies} cookie replies, ${hs.sent} initiations)`);
    t.log(`victim drops: ${JSON.stringify(drops)}; handshake counters: ${JSON.stringify(hsLinks)}`);
    t.true(sent.sent > FLOOD_S * 20_000, `the flood reached ${Math.round(sent.rate)} datagrams/s`);
    t.is(received, transmitted, 'the existing tunnel lost no ping');
    t.true(hs.established && hs.establishedMs !== null && hs.establishedMs <= 1000, `a new handshake completed within 1 s (${hs.establishedMs} ms)`);
    t.true(peak - before <= 30 * MB, `RSS grew by ${((peak - before) / MB).toFixed(1)} MB (at most 30)`);
    t.true(end <= mid + 5 * MB, 'RSS stopped growing');
    const counted = Object.values(drops).reduce((a: number, b) => a + Number(b), 0) + Object.values(hsLinks).reduce((a, b) => a + b, 0);
    t.true(counted >= sent.sent * 0.95, `${counted} of ${sent.sent} hostile datagrams counted by reason`);
    if (kind === 'data') t.true((drops.unknown_index ?? 0) >= sent.sent * 0.9, 'DATA frames with no session are dropped unknown_index in Rust');
    else {
      t.true((drops.handshake_rate ?? 0) > 0, 'the per-source bucket dropped most of them before any copy');
      t.true((after.links.handshake_bad_mac1 ?? 0) > 0, 'junk that passed the bucket failed mac1 (no DH)');
      t.true((after.links.handshake_cookie_sent ?? 0) > 0 && hs.cookies >= 1, 'the victim was under load and answered with cookie replies');
    }
  } finally {
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

netTest('a 20 s flood of junk and mac1-valid handshake initiations from 64 addresses: no ping lost, new handshake < 1 s, RSS bounded, drops counted', async (t) => {
  await underFlood(t, 'inits');
});

netTest('a 20 s flood of unauthenticated DATA frames from 64 addresses: no ping lost, new handshake < 1 s, RSS bounded, drops counted', async (t) => {
  await underFlood(t, 'data');
});
