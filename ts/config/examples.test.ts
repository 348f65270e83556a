// The shipped example configs (examples/*.json) are valid, and docs/config.schema.json is the schema the
// code generates (regenerate: ringvpn config schema > docs/config.schema.json).
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from './schema.js';
import { configJsonSchema, CONFIG_MODES, initConfig } from '../cli/config-cmd.js';
import { parseConfig } from './schema.js';
import { encodeKey, generateKeyPair } from './keys.js';
import { repoRoot } from '../paths.js';

test('every example config is valid', (t) => {
  const dir = join(repoRoot, 'examples');
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  t.true(files.length >= 8, files.join(' '));
  for (const f of files) t.notThrows(() => loadConfig(join(dir, f)), f);
  const a = loadConfig(join(dir, 'mesh-a.json')), b = loadConfig(join(dir, 'mesh-b.json'));
  t.is(encodeKey(a.peers[0]!.publicKeyBytes), encodeKey(b.publicKeyBytes), 'the two mesh sites name each other');
  t.is(encodeKey(b.peers[0]!.publicKeyBytes), encodeKey(a.publicKeyBytes));
});

test('config init writes a valid config for every mode', (t) => {
  for (const m of CONFIG_MODES) t.notThrows(() => parseConfig(initConfig(m, encodeKey(generateKeyPair().privateKey))), m);
});

test('docs/config.schema.json is the generated schema', async (t) => {
  t.deepEqual(JSON.parse(readFileSync(join(repoRoot, 'docs/config.schema.json'), 'utf8')), await configJsonSchema(), 'stale: run ringvpn config schema > docs/config.schema.json');
});
