// Owns starting tests/net/rogue.ts (a hostile or timed Noise initiator) inside a namespace and reading
// its one-line JSON result, for the network tests and benches/attack. It must not judge the result.
import { writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { encodeKey, type KeyPair } from '../../ts/config/keys.js';
import { repoRoot } from '../../ts/paths.js';
import type { Netns } from '../../ts/lab/netns.js';
import type { RoguePlan, RogueResult, RogueAttemptResult } from './rogue.js';

/** Run a plan in `ns` (the plan file goes to `dir`). */
export async function runRogue(ns: Netns, plan: RoguePlan, dir: string): Promise<RogueResult> {
  const file = join(dir, `plan-${randomBytes(3).toString('hex')}.json`);
  writeFileSync(file, JSON.stringify(plan));
  const r = await ns.exec(process.execPath, ['--import', join(repoRoot, 'node_modules/tsx/dist/esm/index.mjs'), join(repoRoot, 'tests/net/rogue.ts'), file], { timeoutMs: 60_000, cwd: repoRoot });
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as RogueResult;
}

/** A legitimate initiator in `ns` with `keys` (a key the victim knows), timed to its session with the victim. */
export async function timedHandshake(ns: Netns, keys: KeyPair, victim: { endpoint: string; publicKey: Uint8Array }, dir: string): Promise<RogueAttemptResult> {
  const plan: RoguePlan = {
    waitMs: 5000,
    attempts: [{
      label: 'timed', privateKey: encodeKey(keys.privateKey), publicKey: encodeKey(keys.publicKey), cert: null,
      to: victim.endpoint, toKey: encodeKey(victim.publicKey), stopWhenEstablished: true,
    }],
  };
  return (await runRogue(ns, plan, dir)).attempts[0]!;
}
