// Owns the ring lab's pure parts and its state on disk: names, addresses, node configs, state.json,
// pair sampling and the crawl view built from status replies. It must not start processes or
// create namespaces (ringlab.ts does), and writes or removes only the lab's own files in its state directory.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as v from 'valibot';
import { type NeighbourView } from '../core/crawl.js';
import { idFromHex, type NodeId } from '../base/nodeid.js';
import { errors } from '../base/errors.js';
import { randInt, type Rng } from '../core/rng.js';

export const NS_PREFIX = 'rvlab';
export const STATE_ROOT = '/run/ringvpn-lab';
export const DEFAULT_LAB = 'lab';
export const MAX_NODES = 500;
export const LISTEN_PORT = 51820;
export const SUBNET = '10.128.0.0/16';
export const DEVICE = 'rv0';

export function checkName(name: string): string {
  // also the network id (lower case, digits, -); namespaces stay unambiguous: a suffix is digits, `sw` or `r<digits>`
  if (!/^[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?$/.test(name)) {
    throw errors.E_LAB_ARGS(`lab name ${JSON.stringify(name)}: expected 1-20 lower-case letters, digits or - (it names the network and the namespaces)`);
  }
  return name;
}

/** Namespace of host i (`rvlab-<name>-<i>`) or of the switch (`rvlab-<name>-sw`). */
export function nsName(lab: string, i: number | 'sw'): string {
  return `${NS_PREFIX}-${lab}-${i}`;
}

/** Namespace of the NAT router of site k in a lab with a topology (`rvlab-<name>-r<k>`). */
export function routerNsName(lab: string, k: number): string {
  return `${NS_PREFIX}-${lab}-r${k}`;
}

/** Whether a namespace name belongs to lab `lab` (its switch, one of its hosts or one of its NAT routers). */
export function isLabNs(lab: string, ns: string): boolean {
  return ns === nsName(lab, 'sw') || new RegExp(`^${NS_PREFIX}-${lab}-r?\\d+$`).test(ns);
}

/** Underlay address of host i: 10.200.<i/250>.<i%250+1> (prefix /16). */
export function underlayAddress(i: number): string {
  return `10.200.${Math.floor(i / 250)}.${(i % 250) + 1}`;
}

/** Fixed MAC of host i's eth0, from its underlay address: 02:00:0a:c8:<i/250>:<i%250+1>. */
export function underlayMac(i: number): string {
  const h = (n: number): string => n.toString(16).padStart(2, '0');
  return `02:00:0a:c8:${h(Math.floor(i / 250))}:${h((i % 250) + 1)}`;
}

/** The fixed virtual address of node i under --static: 10.128.<1+i/250>.<i%250+1>. */
export function staticVip(i: number): string {
  return `10.128.${1 + Math.floor(i / 250)}.${(i % 250) + 1}`;
}

/**
 * The certified virtual address of node i in a lab with a CA: 10.128.<i/250>.<i%250+2> (never .0 or .1,
 * so never the service address 10.128.0.1, and apart from staticVip's 10.128.1.x only above 250 nodes).
 */
export function pkiAddress(i: number): string {
  return `10.128.${Math.floor(i / 250)}.${(i % 250) + 2}`;
}

/**
 * Bootstrap endpoints of node i: none for the seed, the earlier of the first three (or `seeds`), else
 * the first three. Seeds are nodes 0.. at underlayAddress (with a NAT topology: its public nodes).
 */
export function bootstrapFor(i: number, seeds = 3): string[] {
  return Array.from({ length: Math.min(i, seeds, 3) }, (_, j) => `${underlayAddress(j)}:${LISTEN_PORT}`);
}

/** The overlay-mode node config the lab writes (validated by ts/config/schema.ts in the daemon). */
export interface LabNodeConfig {
  privateKey: string;
  name: string;
  device: { mode: 'tap' | 'tun'; name: string; mtu: number };
  listenPort: number;
  controlSocket: string;
  log: { level: string };
  network: { id: string; subnet: string; domain: string; dhcp: boolean; address?: string; routes?: string[] };
  overlay: { bootstrap: string[] };
  /** a lab with a CA (RingLab.up({ pki })): the group CA, this node's certificate, the CRL */
  pki?: { ca: string; cert: string; crl?: string; crlPollSeconds: number };
  [extra: string]: unknown;
}

export interface NodeConfigParams {
  lab: string;
  index: number;
  privateKey: string;
  dir: string;
  mode: 'tap' | 'tun';
  static: boolean;
  logLevel?: string;
  /** the fixed address under `static` (default staticVip(index)) */
  address?: string;
  /** how many of the first nodes are bootstrap seeds (default 3; a NAT topology: its public nodes) */
  seeds?: number;
}

export function nodeConfig(p: NodeConfigParams): LabNodeConfig {
  return {
    privateKey: p.privateKey,
    name: `node${p.index}`,
    device: { mode: p.mode, name: DEVICE, mtu: 1420 },
    listenPort: LISTEN_PORT,
    controlSocket: join(p.dir, `node${p.index}.sock`),
    log: { level: p.logLevel ?? 'info' },
    network: {
      // DHCP on the device needs TAP; a TUN node without --static gets its address from the daemon
      id: p.lab, subnet: SUBNET, domain: 'ringvpn', dhcp: !p.static && p.mode === 'tap',
      ...(p.static ? { address: p.address ?? staticVip(p.index) } : {}),
    },
    overlay: { bootstrap: bootstrapFor(p.index, p.seeds) },
  };
}

const str = v.string();
const int = v.pipe(v.number(), v.integer());

const nodeStateSchema = v.object({
  index: v.pipe(v.number(), v.integer(), v.minValue(0)),
  name: str,
  ns: str,
  underlay: str,
  vip: v.nullable(str),
  publicKey: str,
  config: str,
  socket: str,
  log: str,
  dhcpLog: str,
  pid: v.nullable(int),
  /** the node's certificate file in a lab with a CA (null: an uncertified node) */
  cert: v.nullish(str),
});

const pkiStateSchema = v.object({
  /** the lab CA's directory (initCa): ca.crt, ca.key, crl.pem, state.json */
  caDir: str,
  caCert: str,
  crl: str,
  crlPollSeconds: int,
});

/** A lab built from a NAT topology (ts/lab/nat-topology.ts): where it came from and each site's router. */
const topologyStateSchema = v.object({
  source: str,
  public: int,
  sites: v.array(v.object({
    name: str, nat: str, ns: str, wan: str, lan: str,
    behind: v.nullable(str), nodes: v.array(int),
  })),
});

const stateSchema = v.object({
  version: v.literal(1),
  name: str,
  dir: str,
  mode: v.picklist(['tap', 'tun']),
  static: v.boolean(),
  subnet: str,
  hub: str,
  createdAt: str,
  nodes: v.array(nodeStateSchema),
  pki: v.nullish(pkiStateSchema),
  topology: v.nullish(topologyStateSchema),
});

export type LabNodeState = v.InferOutput<typeof nodeStateSchema>;
export type LabState = v.InferOutput<typeof stateSchema>;
export type LabPkiState = v.InferOutput<typeof pkiStateSchema>;
export type LabTopologyState = v.InferOutput<typeof topologyStateSchema>;

/** The lab CA's directory inside the lab's state directory. */
export function labCaDir(dir: string): string {
  return join(dir, 'ca');
}

/**
 * The state of a fresh lab (no daemon started yet); with `pki`, static addresses are the certified ones;
 * with `topology`, node i's underlay address is `underlays[i]` (private behind a NAT) instead of underlayAddress(i).
 */
export function initialState(o: {
  name: string; dir: string; mode: 'tap' | 'tun'; static: boolean; publicKeys: string[]; pki?: { crlPollSeconds: number };
  topology?: LabTopologyState; underlays?: string[];
}): LabState {
  const caDir = labCaDir(o.dir);
  return {
    version: 1, name: o.name, dir: o.dir, mode: o.mode, static: o.static, subnet: SUBNET,
    hub: nsName(o.name, 'sw'), createdAt: new Date().toISOString(),
    nodes: o.publicKeys.map((publicKey, i) => ({
      index: i, name: `node${i}`, ns: nsName(o.name, i), underlay: o.underlays?.[i] ?? underlayAddress(i),
      vip: o.static ? (o.pki ? pkiAddress(i) : staticVip(i)) : null, publicKey,
      config: join(o.dir, `node${i}.json`), socket: join(o.dir, `node${i}.sock`),
      log: join(o.dir, `node${i}.log`), dhcpLog: join(o.dir, `node${i}.dhcp.log`), pid: null,
      ...(o.pki ? { cert: join(o.dir, `node${i}.crt`) } : {}),
    })),
    pki: o.pki ? { caDir, caCert: join(caDir, 'ca.crt'), crl: join(caDir, 'crl.pem'), crlPollSeconds: o.pki.crlPollSeconds } : null,
    ...(o.topology ? { topology: o.topology } : {}),
  };
}

/** Default state directory of lab `name`. */
export function defaultDir(name: string, root = STATE_ROOT): string {
  return join(root, name);
}

/** Pointer file that records a non-default --dir so later commands find the lab by name. */
export function pointerPath(name: string, root = STATE_ROOT): string {
  return join(root, `${name}.path`);
}

/** Where lab `name`'s state directory is: `dir` if given, else the pointer's target, else the default. */
export function locateDir(name: string, dir?: string, root = STATE_ROOT): string {
  if (dir) return dir;
  try {
    const p = readFileSync(pointerPath(name, root), 'utf8').trim();
    if (p) return p;
  } catch { /* no pointer */ }
  return defaultDir(name, root);
}

export function writeState(s: LabState): void {
  mkdirSync(s.dir, { recursive: true, mode: 0o700 });
  const path = join(s.dir, 'state.json');
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, JSON.stringify(s, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, path);
}

/** Reads `<dir>/state.json`; null when there is none, E_LAB_STATE when it is unreadable or malformed. */
export function readState(dir: string): LabState | null {
  const path = join(dir, 'state.json');
  if (!existsSync(path)) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw errors.E_LAB_STATE(`${path}: ${(e as Error).message}`);
  }
  const r = v.safeParse(stateSchema, raw);
  if (!r.success) {
    const why = r.issues.slice(0, 3).map((i) => `${v.getDotPath(i) ?? '(top)'}: ${i.message}`).join('; ');
    throw errors.E_LAB_STATE(`${path} is not a ringvpn lab state file: ${why}`);
  }
  return r.output;
}

export interface LabListing { name: string; dir: string; state: LabState | null; error?: string }

/** Every lab with a state directory under `root`. */
export function listLabs(root = STATE_ROOT): LabListing[] {
  let entries: string[] = [];
  try { entries = readdirSync(root); } catch { return []; }
  const names = new Set(entries.map((e) => e.replace(/\.path$/, '')));
  return [...names].sort().flatMap((name): LabListing[] => {
    const dir = locateDir(name, undefined, root);
    try {
      const state = readState(dir);
      return state ? [{ name, dir, state }] : [];
    } catch (e) {
      return [{ name, dir, state: null, error: (e as Error).message }];
    }
  });
}

/**
 * Removes only the files the lab writes (with a CA: node certificates, requests, identity keys, and
 * the CA directories `ca` and `ca-<name>` that hold a ca.crt; with a topology, the routers' nat-<site>.rules),
 * then the directory if it is empty.
 */
export function removeStateDir(dir: string, notes: string[]): string | null {
  let files: string[];
  try { files = readdirSync(dir); } catch { return null; }
  const ours = /^(state\.json(\.tmp)?|underlay\.neigh|nat-[a-z0-9]+\.rules|node\d+\.(json|log|sock|dhcp\.log|crt|csr|identity\.key))$/;
  for (const f of files) {
    if (ours.test(f)) rmSync(join(dir, f), { force: true });
    else if (/^ca(-[a-z0-9-]{1,40})?$/.test(f) && existsSync(join(dir, f, 'ca.crt'))) rmSync(join(dir, f), { recursive: true, force: true });
  }
  try {
    rmdirSync(dir);
    return dir;
  } catch {
    notes.push(`left ${dir}: it holds files the lab did not write`);
    return null;
  }
}

export interface Pair { from: number; to: number }

/**
 * Ordered pairs to ping: all of them when n <= allUpTo, otherwise k distinct random targets
 * (never itself) per source, in source order.
 */
/** The first echo request of every pinged pair: how many were answered, median and max round trip, and which were not. */
export function firstPings(results: { from: string; to: string; vip: string | null; firstMs: number | null }[]): { answered: number; medianMs: number | null; maxMs: number | null; unanswered: Array<{ from: string; to: string }> } {
  const ms = results.flatMap((r) => (r.firstMs === null ? [] : [r.firstMs])).sort((a, b) => a - b);
  return {
    answered: ms.length, medianMs: ms.length ? ms[Math.floor(ms.length / 2)]! : null, maxMs: ms.length ? ms[ms.length - 1]! : null,
    unanswered: results.filter((r) => r.vip && r.firstMs === null).map((r) => ({ from: r.from, to: r.to })),
  };
}

export function samplePairs(n: number, k: number, rng: Rng, allUpTo = 16): Pair[] {
  const out: Pair[] = [];
  if (n <= allUpTo || k >= n - 1) {
    for (let from = 0; from < n; from++) for (let to = 0; to < n; to++) if (from !== to) out.push({ from, to });
    return out;
  }
  const others = Array.from({ length: n - 1 }, (_, j) => j);
  for (let from = 0; from < n; from++) {
    // partial Fisher-Yates over the n-1 other indices (j >= from maps to j+1)
    for (let m = 0; m < k; m++) {
      const r = m + randInt(rng, n - 1 - m);
      const t = others[m]!; others[m] = others[r]!; others[r] = t;
      const j = others[m]!;
      out.push({ from, to: j >= from ? j + 1 : j });
    }
  }
  return out;
}

/** What the lab reads from a daemon's `status` reply (the daemon may send more). */
export interface NodeStatus {
  nodeId: string;
  name: string;
  address: string | null;
  joined: boolean;
  ring?: { left1?: string; left2?: string; right1?: string; right2?: string };
  connections?: Array<{ nodeId: string; kinds: string[]; session: boolean }>;
  counters?: Record<string, number>;
  drops?: Record<string, number>;
}

export interface CrawlInput {
  view: Map<NodeId, NeighbourView>;
  /** node id -> lab node name, for messages */
  names: Map<NodeId, string>;
  errors: string[];
}

/** Builds the crawl view from status replies (null = the node did not answer); names every problem. */
export function crawlInput(replies: Array<{ name: string; status: NodeStatus | null; error?: string }>): CrawlInput {
  const view = new Map<NodeId, NeighbourView>();
  const names = new Map<NodeId, string>();
  const errors: string[] = [];
  for (const r of replies) {
    if (!r.status) { errors.push(`${r.name}: no status${r.error ? ` (${r.error})` : ''}`); continue; }
    const id = typeof r.status.nodeId === 'string' ? idFromHex(r.status.nodeId) : null;
    if (id === null) { errors.push(`${r.name}: status has no 40-hex nodeId`); continue; }
    if (names.has(id)) { errors.push(`${r.name}: same nodeId as ${names.get(id)}`); continue; }
    names.set(id, r.name);
    if (!r.status.joined) errors.push(`${r.name}: not joined`);
    const v: NeighbourView = {};
    for (const k of ['left1', 'left2', 'right1', 'right2'] as const) {
      const hex = r.status.ring?.[k];
      if (hex === undefined || hex === null) continue;
      const n = typeof hex === 'string' ? idFromHex(hex) : null;
      if (n === null) errors.push(`${r.name}: ring.${k} is not a 40-hex id`);
      else v[k] = n;
    }
    view.set(id, v);
  }
  for (const [id, v] of view) {
    const me = names.get(id)!;
    const r1 = v.right1 === undefined ? undefined : view.get(v.right1);
    const l1 = v.left1 === undefined ? undefined : view.get(v.left1);
    if (view.size > 1 && v.right1 === undefined) errors.push(`${me}: no right1`);
    else if (v.right1 !== undefined && r1 && r1.left1 !== id) errors.push(`${me}: its right1 ${names.get(v.right1)} has left1 ${label(names, r1.left1)}`);
    if (view.size > 1 && v.left1 === undefined) errors.push(`${me}: no left1`);
    else if (v.left1 !== undefined && l1 && l1.right1 !== id) errors.push(`${me}: its left1 ${names.get(v.left1)} has right1 ${label(names, l1.right1)}`);
  }
  return { view, names, errors };
}

function label(names: Map<NodeId, string>, id: NodeId | undefined): string {
  if (id === undefined) return 'none';
  return names.get(id) ?? id.toString(16).padStart(40, '0').slice(0, 8);
}

/** Whether `pid` is a live (not zombie) ringvpn daemon started with `config`: guards against reused pids. */
export function isDaemon(pid: number, config: string): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (/^\d+ \(.*\) Z/.test(stat)) return false;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(config);
  } catch {
    return false;
  }
}
