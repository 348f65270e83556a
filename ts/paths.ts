// Owns where the installed project lives on disk (the directory holding ringvpn's package.json),
// so code runs the same from ts/ under tsx and from the compiled dist/ts/. It must not read config.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errors } from './base/errors.js';

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'ringvpn') return dir;
    const up = dirname(dir);
    if (up === dir) throw errors.E_INTERNAL('cannot find the ringvpn package root above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

export const repoRoot = findRoot();
/** argv prefix that runs the ringvpn command (compiled JS when fresh, else TypeScript via tsx). */
export const ringvpnArgv = [join(repoRoot, 'bin/ringvpn')];
