// The "lint rule" of the sans-IO core: ts/core, ts/wire and ts/dht must not import node:* modules or use
// Date, Math.random, timers or process. Scans the sources (comments stripped) and fails on a hit.
// The one exemption is ts/dht/async.ts, the DHT's promise adapter and real-time ticker.
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dirs = [here, join(here, '..', 'wire'), join(here, '..', 'dht')];
const EXEMPT = new Set([join(here, '..', 'dht', 'async.ts')]);
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

test('ts/core, ts/wire and ts/dht sources use no I/O, clock, entropy, timers or process', (t) => {
  const hits: string[] = [];
  let files = 0;
  for (const d of dirs) {
    for (const f of readdirSync(d)) {
      if (!f.endsWith('.ts') || f.endsWith('.test.ts') || EXEMPT.has(join(d, f))) continue;
      files++;
      const lines = stripComments(readFileSync(join(d, f), 'utf8')).split('\n');
      lines.forEach((line, i) => {
        for (const [re, what] of FORBIDDEN) if (re.test(line)) hits.push(`${f}:${i + 1}: ${what}: ${line.trim()}`);
      });
    }
  }
  t.true(files >= 14, `scanned ${files} files`);
  t.deepEqual(hits, []);
});

test('the scanner itself catches a forbidden use', (t) => {
  const bad = "import { x } from 'node:fs';\nconst n = Date.now();\n// Math.random() in a comment is fine\n";
  const found = stripComments(bad).split('\n').filter((l) => FORBIDDEN.some(([re]) => re.test(l)));
  t.is(found.length, 2);
});
