// The "lint rule" of the sans-IO layers: the folders in SCANNED (ts/base, ts/core, ts/wire, ts/dht,
// ts/handshake, ts/node) must not import node:* modules or use Date, Math.random, timers or process. Scans the
// sources (comments stripped, tests skipped, subfolders included) and fails on a hit. The allowances are
// narrow: ts/base/nodeid.ts may import node:crypto's createHash (the node id is a SHA-256), and
// ts/handshake may import node:crypto (the Noise primitives); nothing else.
import test from 'ava';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const tsRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

/** A hit the folder is allowed: the forbidden rule's name and the file (path under ts/) and line. */
type Allow = (what: string, file: string, line: string) => boolean;
const CRYPTO_IMPORT = /\bfrom\s*['"]node:crypto['"]/;
const CREATE_HASH_IMPORT = /^\s*import\s*\{\s*createHash\s*\}\s*from\s*['"]node:crypto['"];?\s*$/;

/** The folders under ts/ that must stay sans-IO; a folder that does not exist yet is skipped. Add new ones here. */
const SCANNED: { dir: string; allow?: Allow }[] = [
  { dir: 'base', allow: (what, file, line) => what === 'node:* import' && file === 'base/nodeid.ts' && CREATE_HASH_IMPORT.test(line) },
  { dir: 'core' },
  { dir: 'wire' },
  { dir: 'dht' },
  { dir: 'handshake', allow: (what, _file, line) => what === 'node:* import' && CRYPTO_IMPORT.test(line) },
  { dir: 'node' },
];
const FORBIDDEN: [RegExp, string][] = [
  [/from\s+['"]node:/, 'node:* import'],
  [/import\s*\(\s*['"]node:/, 'node:* dynamic import'],
  [/require\s*\(/, 'require()'],
  [/\bDate\b/, 'Date'],
  [/\bMath\.random\b/, 'Math.random'],
  [/\b(setTimeout|setInterval|setImmediate|clearTimeout|clearInterval|queueMicrotask)\b/, 'timer'],
  [/\bprocess\b/, 'process'],
  [/\bperformance\b/, 'performance clock'],
];

function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

/** Source files (not tests) under `dir`, subfolders included. */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return sources(p);
    return f.endsWith('.ts') && !f.endsWith('.test.ts') ? [p] : [];
  });
}

/** The forbidden uses in one file's text that `allow` does not excuse, as "file:line: rule: code". */
function scan(file: string, text: string, allow?: Allow): string[] {
  const hits: string[] = [];
  stripComments(text).split('\n').forEach((line, i) => {
    for (const [re, what] of FORBIDDEN) {
      if (re.test(line) && !allow?.(what, file, line)) hits.push(`${file}:${i + 1}: ${what}: ${line.trim()}`);
    }
  });
  return hits;
}

test('the sans-IO folders use no I/O, clock, entropy, timers or process', (t) => {
  const hits: string[] = [];
  const perDir: string[] = [];
  for (const { dir, allow } of SCANNED) {
    const d = join(tsRoot, dir);
    if (!existsSync(d)) continue;
    const files = sources(d);
    t.true(files.length > 0, `ts/${dir} has no sources`);
    perDir.push(`ts/${dir} ${files.length}`);
    for (const f of files) hits.push(...scan(relative(tsRoot, f), readFileSync(f, 'utf8'), allow));
  }
  t.log(`scanned: ${perDir.join(', ')}`);
  t.true(perDir.length >= 5, perDir.join(', '));
  t.deepEqual(hits, []);
});

test('the scanner itself catches a forbidden use, and the allowances stay narrow', (t) => {
  const bad = "import { x } from 'node:fs';\nconst n = Date.now();\n// Math.random() in a comment is fine\n";
  t.is(scan('core/x.ts', bad).length, 2);
  const base = SCANNED.find((s) => s.dir === 'base')!.allow;
  const handshake = SCANNED.find((s) => s.dir === 'handshake')!.allow;
  t.deepEqual(scan('base/nodeid.ts', "import { createHash } from 'node:crypto';", base), []);
  t.is(scan('base/nodeid.ts', "import { createHash, randomBytes } from 'node:crypto';", base).length, 1);
  t.is(scan('base/ip.ts', "import { createHash } from 'node:crypto';", base).length, 1);
  t.deepEqual(scan('handshake/primitives.ts', "import { createHash, createHmac } from 'node:crypto';", handshake), []);
  t.is(scan('handshake/noise.ts', "import { readFileSync } from 'node:fs';", handshake).length, 1);
  t.is(scan('handshake/noise.ts', 'const t = Date.now();', handshake).length, 1);
});
