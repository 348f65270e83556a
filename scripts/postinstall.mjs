// npm's postinstall for ringvpn. In a source checkout (ts/ present) it builds everything: the Rust addon
// (napi build, needs Rust and a C compiler) and the compiled control plane. In an installed package the
// addon and dist/ are prebuilt: it only checks that this platform's addon is there and says so clearly.
import { existsSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (existsSync(join(root, 'ts'))) {
  const r = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
const target = `${process.platform}-${process.arch}`;
const addons = readdirSync(join(root, 'bindings')).filter((f) => f.endsWith('.node'));
const ours = addons.find((f) => f.includes(`.${target}`));
if (!ours) {
  process.stderr.write(`ringvpn: no prebuilt data plane for ${target} in this package (it has: ${addons.join(', ') || 'none'}); ringvpn runs on Linux with glibc (x64 and arm64 are packed). Elsewhere build from a source checkout: git clone, npm install (Rust and a C compiler).\n`);
  process.exit(process.platform === 'linux' ? 1 : 0);
}
