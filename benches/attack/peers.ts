// peers.ts — owns the WireGuard implementations benches/attack compares ringvpn with, built from their
// current sources at pinned versions (not Debian's 2022 wireguard-go): wireguard-go with `go install`,
// boringtun with `cargo install`, cached in .scratch/peers/bin. And a three-peer WireGuard tunnel (a, victim b, late
// peer c) configured with wg(8) in lab namespaces. It must not touch the root namespace's network.
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { repoRoot } from '../../ts/paths.js';
import type { Netns, NsProcess } from '../../ts/lab/netns.js';
import { sleep } from '../../ts/lab/util.js';

const BIN = join(repoRoot, '.scratch/peers/bin');
export type WgImpl = 'wireguard-go' | 'boringtun';
/**
 * The pinned versions built: wireguard-go's newest module commit (2026-05-22, what `@latest` gives; the
 * module proxy refuses its last tag, v0.0.20250522, since 2026-12-04), boringtun's published CLI crate.
 */
export const PEER_VERSIONS: Record<WgImpl, string> = { 'wireguard-go': 'v0.0.0-20260522210424-ecfc5a8d5446', boringtun: '0.7.1' };

/** Path of the implementation's binary, building it the first time (progress on stderr). */
export function ensurePeer(impl: WgImpl): string {
  const path = join(BIN, impl === 'wireguard-go' ? 'wireguard' : 'boringtun-cli');
  if (existsSync(path)) return path;
  process.stderr.write(`attack: building ${impl} from its current sources into ${BIN} (once)\n`);
  if (impl === 'wireguard-go') {
    execFileSync('go', ['install', `golang.zx2c4.com/wireguard@${PEER_VERSIONS['wireguard-go']}`], { env: { ...process.env, GOBIN: BIN, GOFLAGS: '-mod=mod' }, stdio: 'inherit' });
  } else {
    execFileSync('cargo', ['install', '--locked', '--quiet', 'boringtun-cli', '--version', PEER_VERSIONS.boringtun, '--root', join(BIN, '..')], { stdio: 'inherit' });
  }
  return path;
}

export function versionOf(impl: WgImpl): string {
  const bin = ensurePeer(impl);
  try { return execFileSync(bin, ['--version']).toString().trim().split('\n')[0]!; } catch { return impl; }
}

export interface WgNode { ns: Netns; ifname: string; inner: string; underlay: string; priv: string; pub: string; proc: NsProcess | null }

async function keypair(ns: Netns): Promise<{ priv: string; pub: string }> {
  const priv = (await ns.exec('wg', ['genkey'])).stdout.trim();
  const pub = (await ns.exec('sh', ['-c', `printf '%s\\n' '${priv}' | wg pubkey`])).stdout.trim();
  return { priv, pub };
}

/** Start the implementation's daemon for `ifname` in `n.ns` and wait for its UAPI socket. */
export async function startWg(impl: WgImpl, n: WgNode, dir: string): Promise<void> {
  const bin = ensurePeer(impl);
  const env = { ...process.env, WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1', LOG_LEVEL: 'error', WG_SUDO: '1' };
  const args = impl === 'wireguard-go' ? ['-f', n.ifname] : ['-f', '--disable-drop-privileges', '-l', join(dir, `${n.ifname}.bt.log`), n.ifname];
  n.ns.onDestroy(() => rmSync(`/var/run/wireguard/${n.ifname}.sock`, { force: true }));
  n.proc = n.ns.spawn(bin, args, { env, logFile: join(dir, `${n.ifname}.log`) });
  for (let i = 0; i < 100 && !existsSync(`/var/run/wireguard/${n.ifname}.sock`); i++) await sleep(50);
  if (!existsSync(`/var/run/wireguard/${n.ifname}.sock`)) throw new Error(`${impl} did not create its UAPI socket for ${n.ifname}`);
}

export async function wgNode(ns: Netns, ifname: string, inner: string, underlay: string): Promise<WgNode> {
  return { ns, ifname, inner, underlay, ...(await keypair(ns)), proc: null };
}

/** Configure `n` (listen 51820) with `peers` and bring its interface up with its inner address. */
export async function configureWg(n: WgNode, peers: WgNode[], dir: string): Promise<void> {
  const kf = join(dir, `${n.ifname}.key`);
  writeFileSync(kf, n.priv + '\n', { mode: 0o600 });
  const args = ['set', n.ifname, 'listen-port', '51820', 'private-key', kf];
  for (const p of peers) args.push('peer', p.pub, 'endpoint', `${p.underlay}:51820`, 'allowed-ips', `${p.inner}/32`);
  await n.ns.exec('wg', args);
  await n.ns.ip(['addr', 'add', `${n.inner}/24`, 'dev', n.ifname]);
  await n.ns.ip(['link', 'set', n.ifname, 'mtu', '1420', 'up']);
}
