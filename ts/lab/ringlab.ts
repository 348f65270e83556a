// Owns the ring lab: N real `ringvpn up` daemons in overlay mode, one per namespace on a bridge, that
// outlive the process that started them (state in <dir>/state.json). It must not touch the root
// namespace, and talks to the daemons only through files, signals, the control socket and ping.
import { appendFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errors } from '../base/errors.js';
import { encodeKey, generateKeyPair } from '../config/keys.js';
import { crawl, type CrawlResult } from '../core/crawl.js';
import { idToHex, nodeIdOfKey } from '../base/nodeid.js';
import { repoRoot, ringvpnArgv } from '../paths.js';
import { requestControl } from '../runtime/control.js';
import { Lan, pinUnderlay } from './bridge.js';
import {
  checkName, crawlInput, DEFAULT_LAB, defaultDir, DEVICE, initialState, isDaemon, isLabNs, locateDir,
  MAX_NODES, NS_PREFIX, nodeConfig, pkiAddress, pointerPath, readState, removeStateDir, STATE_ROOT,
  underlayAddress, underlayMac, writeState, type LabNodeConfig, type LabPkiState, type LabState, type NodeStatus,
} from './labstate.js';
import { issueCert, type LabCertSpec, type LabPkiOptions, type IssuedCert } from './labpki.js';
import { listNamespaces, needUdhcpc } from './labsys.js';
import { Netns, netnsSupport, type NsProcess } from './netns.js';
import { buildNatNet, planFor, topologyState, type TopologyInput } from './nat-build.js';
import { checkLab, type CheckOptions, type CheckResult } from './lab-check.js';
import { mapLimit, signalGroup, sleep, tailFile, untilAborted } from './util.js';

export { isDaemon, listLabs, pkiAddress } from './labstate.js';
export type { LabState, NodeStatus, LabNodeConfig } from './labstate.js';
export type { LabCertSpec, LabPkiOptions, CertContext, IssuedCert } from './labpki.js';
export type { CheckOptions, CheckResult } from './lab-check.js';

export const UDHCPC_SCRIPT = join(repoRoot, 'scripts/udhcpc.script');

export interface LabUpOptions {
  /** how many nodes (with `topology`: optional, and must match the topology's count) */
  nodes?: number;
  /** a NAT lab: a preset name or topology file (docs/nat-lab.md), or a parsed topology, instead of one bridge */
  topology?: string | TopologyInput;
  name?: string;
  mode?: 'tap' | 'tun';
  /** Fixed addresses in the configs (network.address) instead of DHCP. */
  static?: boolean;
  /** State directory (default /run/ringvpn-lab/<name>). */
  dir?: string;
  logLevel?: string;
  /** Daemons started together (default 8) and the pause between batches (default 300 ms). */
  batch?: number;
  batchDelayMs?: number;
  /** Per daemon, until its control socket answers (default 60 s). */
  startTimeoutMs?: number;
  /** Until every node has an address (default 60 s + 1 s per node). */
  addressTimeoutMs?: number;
  /** Edit node i's config before it is written (with `pki`, after its pki section is set and before its certificate is issued). */
  edit?: (cfg: LabNodeConfig, i: number) => void;
  /**
   * A private group: a CA in <dir>/ca, and for every node a request for its Noise key and a certificate
   * for its fixed address (pkiAddress(i)) and announced routes; each config gets a `pki` section.
   */
  pki?: boolean | LabPkiOptions;
  /** The last `reserve` nodes are prepared (namespace, key, config, certificate) but not started: start them with start(i). */
  reserve?: number;
  /** Leave a failed lab in place for inspection (default: tear it down). */
  keepOnFailure?: boolean;
  /** A command prefix node i's daemon runs under (e.g. setpriv with a systemd unit's credentials, ts/lab/systemd-unit.ts). */
  launch?: (i: number) => string[] | undefined;
  onProgress?: (line: string) => void;
  signal?: AbortSignal;
}

export interface UpSummary { nodes: number; startMs: number; addressMs: number; totalMs: number }

export interface LabNodeHandle {
  index: number; name: string; ns: Netns; socket: string; vip: string | null; underlay: string;
  config: string; log: string; pid: number | null;
  /** base64 Noise public key and the node id (40 hex) it gives */
  publicKey: string; nodeId: string;
  /** certificate file (a lab with a CA; null for an uncertified node) */
  cert: string | null;
}

export interface DownReport {
  lab: string; daemonsStopped: number; daemonsKilled: number;
  /** nodes whose daemon had already exited or was never started */
  notRunning: number;
  namespaces: number; dirRemoved: string | null; notes: string[];
}

export type StatusReply = { name: string; status: NodeStatus | null; error?: string };

export class RingLab {
  summary: UpSummary | null = null;
  private readonly procs = new Map<number, NsProcess>();

  /** the command prefix each daemon runs under (LabUpOptions.launch; not kept in the lab's state) */
  private launch: LabUpOptions['launch'];

  private constructor(readonly state: LabState, private readonly nss: Netns[], private readonly hub: Netns) {}

  get name(): string { return this.state.name; }
  get size(): number { return this.state.nodes.length; }

  /** Builds the namespaces, starts every daemon in batches and waits until every node has an address. */
  static async up(o: LabUpOptions): Promise<RingLab> {
    const t0 = Date.now();
    const name = checkName(o.name ?? DEFAULT_LAB);
    const plan = o.topology === undefined ? null : planFor(o.topology, name);
    const n = plan?.nodes.length ?? o.nodes ?? NaN;
    if (!Number.isInteger(n) || n < 1 || n > MAX_NODES || (plan && o.nodes !== undefined && o.nodes !== n)) throw errors.E_LAB_ARGS(`--nodes: expected 1-${MAX_NODES}${plan ? ` (the topology has ${n})` : ''}, got ${o.nodes}`);
    const mode = o.mode ?? 'tap';
    const isStatic = o.static ?? false;
    const say = o.onProgress ?? (() => {});
    const reserve = o.reserve ?? 0;
    if (!Number.isInteger(reserve) || reserve < 0 || reserve >= n) throw errors.E_LAB_ARGS(`reserve: expected 0-${n - 1} nodes left unstarted, got ${reserve}`);
    const pkiOpts: LabPkiOptions | null = o.pki ? (o.pki === true ? {} : o.pki) : null;
    const crlPollSeconds = pkiOpts?.crlPollSeconds ?? 60;
    if (pkiOpts && (!Number.isInteger(crlPollSeconds) || crlPollSeconds < 1)) throw errors.E_LAB_ARGS(`pki.crlPollSeconds: expected an integer >= 1, got ${crlPollSeconds}`);
    const support = await netnsSupport();
    if (!support.ok) throw errors.E_NOT_ROOT(`the lab builds network namespaces: ${support.why}`);
    if (mode === 'tap' && !isStatic) await needUdhcpc();
    const dir = o.dir ?? defaultDir(name);
    if (join(dir, `node${n - 1}.sock`).length > 100) throw errors.E_LAB_ARGS(`--dir ${dir}: too long for Unix socket paths`);
    const existing = (await listNamespaces()).filter((s) => isLabNs(name, s));
    if (readState(locateDir(name, o.dir)) || existing.length) {
      throw errors.E_LAB_EXISTS(`lab ${name} already exists (${existing.length} namespaces); remove it with: ringvpn lab down --name ${name}`);
    }
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    try {
      if (o.dir) { mkdirSync(STATE_ROOT, { recursive: true, mode: 0o700 }); writeFileSync(pointerPath(name), dir + '\n', { mode: 0o600 }); }
      const keys = Array.from({ length: n }, () => generateKeyPair());
      const state = initialState({
        name, dir, mode, static: isStatic, publicKeys: keys.map((k) => encodeKey(k.publicKey)), ...(pkiOpts ? { pki: { crlPollSeconds } } : {}),
        ...(plan ? { topology: topologyState(plan), underlays: plan.nodes.map((x) => x.address) } : {}),
      });
      writeState(state);
      if (state.pki) {
        const { initCa } = await import('../pki/index.js');
        const ca = await initCa(state.pki.caDir, { name: pkiOpts?.caName ?? `ringvpn lab ${name}` });
        say(`lab ${name}: CA in ${state.pki.caDir} (sha256 ${ca.fingerprint.slice(0, 16)}…); certificates for ${n} nodes`);
      }
      for (const [i, k] of keys.entries()) {
        const spec = pkiOpts?.cert?.(i) ?? {};
        const cfg = nodeConfig({ lab: name, index: i, privateKey: encodeKey(k.privateKey), dir, mode, static: isStatic, logLevel: o.logLevel, seeds: plan?.seeds, ...(state.pki ? { address: pkiAddress(i) } : {}) });
        if (state.pki) cfg.pki = { ca: state.pki.caCert, cert: join(dir, `node${i}.crt`), crl: state.pki.crl, crlPollSeconds };
        o.edit?.(cfg, i);
        if (state.pki) await issueCert(state, i, k.publicKey, cfg, spec);
        writeFileSync(state.nodes[i]!.config, JSON.stringify(cfg, null, 2) + '\n', { mode: 0o600 });
      }
      writeState(state);
      const addressing = isStatic ? 'static addresses' : mode === 'tap' ? 'DHCP' : 'addresses assigned by the daemons';
      say(`lab ${name}: ${n} namespaces ${plan ? `from the NAT topology ${plan.source}` : 'on a bridge'} (${state.hub}), underlay 10.200.0.0/16, ${mode}, ${addressing}`);
      const lan = plan ? await buildNatNet(plan, { rulesDir: dir, onProgress: say }) : await Lan.create(NS_PREFIX, state.nodes.map((_, i) => `${underlayAddress(i)}/16`), 1500, name);
      const lab = new RingLab(state, lan.hosts, lan.hub);
      lab.launch = o.launch;
      // NATed nodes' eth0 is a site LAN: no 10.200 neighbours there
      if (!plan) await pinUnderlay(join(dir, 'underlay.neigh'), lan.hosts, state.nodes.map((s) => s.underlay), underlayMac);
      const t1 = Date.now();
      const started = n - reserve;
      await lab.startAll(o, say, started);
      const t2 = Date.now();
      await lab.waitForAddresses(Array.from({ length: started }, (_, i) => i), o.addressTimeoutMs ?? 60_000 + 1000 * started, say, o.signal);
      const t3 = Date.now();
      lab.summary = { nodes: n, startMs: t2 - t1, addressMs: t3 - t2, totalMs: t3 - t0 };
      return lab;
    } catch (e) {
      if (o.signal?.aborted) {
        const rep = await RingLab.down(name, { dir });
        throw errors.E_LAB_ABORTED(`interrupted: removed the partial lab ${name} (${rep.daemonsStopped + rep.daemonsKilled} daemons, ${rep.namespaces} namespaces)`);
      }
      if (!o.keepOnFailure) await RingLab.down(name, { dir });
      throw e;
    }
  }

  /** A lab started earlier (by this or another process), found by name. */
  static open(name = DEFAULT_LAB, dir?: string): RingLab {
    const d = locateDir(checkName(name), dir);
    const state = readState(d);
    if (!state) throw errors.E_LAB_NOT_FOUND(`no lab named ${name} (no ${join(d, 'state.json')}); start one with: ringvpn lab up --nodes N --name ${name}`);
    return new RingLab(state, state.nodes.map((s) => Netns.attach(s.ns)), Netns.attach(state.hub));
  }

  /** Stops every daemon, removes the namespaces and the state; tolerates a partial or missing lab. */
  static async down(name = DEFAULT_LAB, o: { dir?: string; onProgress?: (line: string) => void; own?: Netns[] } = {}): Promise<DownReport> {
    checkName(name);
    const own = new Map((o.own ?? []).map((ns) => [ns.name, ns]));
    const dir = locateDir(name, o.dir);
    const say = o.onProgress ?? (() => {});
    const rep: DownReport = { lab: name, daemonsStopped: 0, daemonsKilled: 0, notRunning: 0, namespaces: 0, dirRemoved: null, notes: [] };
    let state: LabState | null = null;
    try { state = readState(dir); } catch (e) { rep.notes.push(`${(e as Error).message}; removing by name`); }
    if (!state) rep.notes.push(`no state in ${dir}`);
    const live = (state?.nodes ?? []).filter((s) => s.pid !== null && isDaemon(s.pid, s.config));
    rep.notRunning = (state?.nodes ?? []).length - live.length;
    if (live.length) say(`stopping ${live.length} daemons`);
    for (const s of live) signalGroup(s.pid!, 'SIGTERM');
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline && live.some((s) => isDaemon(s.pid!, s.config))) await sleep(100);
    for (const s of live) {
      if (isDaemon(s.pid!, s.config)) { signalGroup(s.pid!, 'SIGKILL'); rep.daemonsKilled++; } else rep.daemonsStopped++;
    }
    const names = (await listNamespaces()).filter((s) => isLabNs(name, s));
    if (names.length) say(`removing ${names.length} namespaces`);
    await mapLimit(names, 8, async (s) => { await (own.get(s) ?? Netns.attach(s)).destroy(); rep.namespaces++; });
    rep.dirRemoved = removeStateDir(dir, rep.notes);
    try { if (readFileSync(pointerPath(name), 'utf8').trim() === dir) rmSync(pointerPath(name)); } catch { /* none */ }
    return rep;
  }

  node(i: number): LabNodeHandle {
    const s = this.state.nodes[i];
    if (!s) throw errors.E_LAB_ARGS(`lab ${this.name} has no node ${i} (0-${this.size - 1})`);
    return {
      index: i, name: s.name, ns: this.nss[i]!, socket: s.socket, vip: s.vip, underlay: s.underlay, config: s.config, log: s.log, pid: s.pid,
      publicKey: s.publicKey, nodeId: idToHex(nodeIdOfKey(Buffer.from(s.publicKey, 'base64'))), cert: s.cert ?? null,
    };
  }

  /** The lab's CA (null without one): its directory, certificate, CRL and the poll interval in the configs. */
  get pki(): LabPkiState | null { return this.state.pki ?? null; }

  /** Node i's config as written. */
  config(i: number): LabNodeConfig {
    return JSON.parse(readFileSync(this.node(i).config, 'utf8')) as LabNodeConfig;
  }

  /**
   * Gives stopped node i a new certificate as `spec` says (with newKey, a new Noise key first: a new node id)
   * and rewrites its config; `edit` may change the config before it is written. Needs a lab with a CA.
   */
  async enrol(i: number, spec: LabCertSpec & { newKey?: boolean } = {}, edit?: (cfg: LabNodeConfig) => void): Promise<IssuedCert | null> {
    const s = this.state.nodes[i];
    if (!s) throw errors.E_LAB_ARGS(`no node ${i}`);
    if (!this.state.pki) throw errors.E_LAB_ARGS(`lab ${this.name} has no CA (start it with pki)`);
    if (this.alive(i)) throw errors.E_LAB_ARGS(`${s.name} is running; stop it before giving it a new certificate`);
    const cfg = this.config(i);
    let pub = Buffer.from(s.publicKey, 'base64');
    if (spec.newKey) {
      const k = generateKeyPair();
      cfg.privateKey = encodeKey(k.privateKey);
      s.publicKey = encodeKey(k.publicKey);
      pub = Buffer.from(k.publicKey);
    }
    const p = this.state.pki;
    cfg.pki = { ca: p.caCert, cert: join(this.state.dir, `${s.name}.crt`), crl: p.crl, crlPollSeconds: cfg.pki?.crlPollSeconds ?? p.crlPollSeconds };
    edit?.(cfg);
    const issued = await issueCert(this.state, i, new Uint8Array(pub), cfg, spec);
    writeFileSync(s.config, JSON.stringify(cfg, null, 2) + '\n', { mode: 0o600 });
    writeState(this.state);
    return issued;
  }

  /**
   * Revokes node i's certificate with the lab CA (crl.pem is rewritten); with publishVia, hands the signed
   * record to that node's control socket (broadcast + DHT). `sentAt` is when the record left for the daemon.
   */
  async revoke(i: number, o: { publishVia?: number; reason?: string; timeoutMs?: number } = {}): Promise<{ serial: string; nodeId: string; record: Uint8Array; sentAt: number | null; published: unknown }> {
    const p = this.state.pki;
    const cert = this.node(i).cert;
    if (!p || !cert) throw errors.E_LAB_ARGS(`${this.node(i).name} has no certificate from the lab CA`);
    const { revoke } = await import('../pki/index.js');
    const r = await revoke(p.caDir, readFileSync(cert, 'utf8'), o.reason);
    let sentAt: number | null = null, published: unknown = null;
    if (o.publishVia !== undefined) {
      sentAt = Date.now();
      published = await requestControl(this.node(o.publishVia).socket, { cmd: 'revoke', record: Buffer.from(r.record).toString('base64') }, o.timeoutMs ?? 30_000);
    }
    return { serial: r.serial, nodeId: r.nodeId, record: r.record, sentAt, published };
  }

  status(i: number, timeoutMs = 5000): Promise<NodeStatus> {
    return requestControl(this.node(i).socket, { cmd: 'status' }, timeoutMs) as Promise<NodeStatus>;
  }

  /** Status of every node (or of `indices`, in that order), `limit` requests at a time. */
  statuses(limit = 16, indices?: number[]): Promise<StatusReply[]> {
    const which = indices ?? this.state.nodes.map((_, i) => i);
    return mapLimit(which, limit, async (i) => {
      const s = this.state.nodes[i]!;
      try { return { name: s.name, status: await this.status(i) }; } catch (e) { return { name: s.name, status: null, error: (e as Error).message }; }
    });
  }

  /** Whether node i's daemon is running. */
  alive(i: number): boolean {
    const p = this.procs.get(i);
    if (p) return !p.hasExited();
    const s = this.state.nodes[i];
    return !!s && s.pid !== null && isDaemon(s.pid, s.config);
  }

  /** Starts node i's daemon (detached: it survives this process) and waits until its control socket answers. */
  async start(i: number, timeoutMs = 60_000): Promise<void> {
    const s = this.state.nodes[i];
    if (!s) throw errors.E_LAB_ARGS(`no node ${i}`);
    if (this.alive(i)) throw errors.E_LAB_START(`${s.name} is already running (pid ${s.pid})`);
    appendFileSync(s.log, `--- ringvpn lab: starting ${s.name} at ${new Date().toISOString()}\n`);
    const argv = [...(this.launch?.(i) ?? []), ...ringvpnArgv, 'up', '--config', s.config];
    const p = this.nss[i]!.spawn(argv[0]!, argv.slice(1), { logFile: s.log });
    p.child.unref();
    this.procs.set(i, p);
    s.pid = p.pid;
    writeState(this.state);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.alive(i)) throw errors.E_LAB_START(`${s.name} exited during start-up (${await p.exited}); ${s.log}:\n${tailFile(s.log)}`);
      try { await requestControl(s.socket, { cmd: 'ping' }, 1000); return; } catch { /* not yet */ }
      if (Date.now() > deadline) throw errors.E_LAB_START(`${s.name} did not answer on ${s.socket} within ${timeoutMs} ms; ${s.log}:\n${tailFile(s.log)}`);
      await sleep(200);
    }
  }

  /** Stops node i's daemon: `signal` (default SIGTERM) to its process group, SIGKILL after 3 s. False if it was not running. */
  async kill(i: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<boolean> {
    const s = this.state.nodes[i];
    if (!s) throw errors.E_LAB_ARGS(`no node ${i}`);
    const was = s.pid !== null && this.alive(i);
    if (was) {
      signalGroup(s.pid!, signal);
      const deadline = Date.now() + 3000;
      while (this.alive(i) && Date.now() < deadline) await sleep(50);
      if (this.alive(i)) signalGroup(s.pid!, 'SIGKILL');
      while (this.alive(i)) await sleep(50);
    }
    this.procs.delete(i);
    s.pid = null;
    writeState(this.state);
    return was;
  }

  /**
   * Rewrites running node i's config with `edit` and has the daemon read it again: by `ringvpn reload`
   * (the control socket), or with `via: 'sighup'` by a real SIGHUP, read back from the daemon's log line.
   * What it applied and what needs a restart.
   */
  async reload(i: number, edit?: (cfg: LabNodeConfig) => void, o: { via?: 'control' | 'sighup' } = {}): Promise<{ applied: string[]; restartNeeded: string[] }> {
    const s = this.node(i);
    if (edit) {
      const cfg = this.config(i);
      edit(cfg);
      writeFileSync(s.config, JSON.stringify(cfg, null, 2) + '\n', { mode: 0o600 });
    }
    if (o.via !== 'sighup') return await requestControl(s.socket, { cmd: 'reload' }, 10_000) as { applied: string[]; restartNeeded: string[] };
    if (s.pid === null) throw errors.E_LAB_ARGS(`${s.name} is not running`);
    const from = statSync(s.log).size;
    process.kill(s.pid, 'SIGHUP');
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(100)) {
      for (const line of readFileSync(s.log).subarray(from).toString('utf8').split('\n')) {
        try {
          const j = JSON.parse(line) as { msg?: string; applied?: string[]; restartNeeded?: string[] };
          if (j.msg?.startsWith('reloaded') && j.applied && j.restartNeeded) return { applied: j.applied, restartNeeded: j.restartNeeded };
        } catch { /* a partial line */ }
      }
    }
    throw errors.E_LAB_START(`${s.name} logged no reload within 10 s of SIGHUP; ${s.log}:\n${tailFile(s.log)}`);
  }

  /** Kills node i, starts it again with the same config and key, and waits until it has an address. */
  async restart(i: number, timeoutMs = 60_000): Promise<void> {
    await this.kill(i);
    await this.start(i, timeoutMs);
    await this.waitForAddresses([i], timeoutMs);
  }

  /**
   * Gives each listed node an address: the OS DHCP client on the device (TAP, not --static), then
   * polls status until the daemon reports one. Throws E_LAB_TIMEOUT naming the nodes without one.
   */
  async waitForAddresses(indices: number[], timeoutMs: number, say: (line: string) => void = () => {}, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const t0 = Date.now();
    const failed: Array<{ i: number; why: string }> = [];
    let done = 0;
    const dhcp = this.state.mode === 'tap' && !this.state.static;
    say(dhcp ? `waiting for addresses: busybox udhcpc on ${DEVICE} in each namespace` : 'waiting until every daemon reports its address');
    await untilAborted(signal, mapLimit(indices, 16, async (i) => {
      try {
        if (signal?.aborted) throw errors.E_LAB_ABORTED('interrupted');
        const vip = await this.acquire(i, deadline, dhcp);
        say(`[${++done}/${indices.length}] ${this.state.nodes[i]!.name} ${vip} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      } catch (e) {
        failed.push({ i, why: (e as Error).message });
      }
    }));
    writeState(this.state);
    if (signal?.aborted) throw errors.E_LAB_ABORTED('interrupted');
    if (failed.length) {
      failed.sort((a, b) => a.i - b.i);
      const names = failed.map((f) => this.state.nodes[f.i]!.name);
      const detail = failed.slice(0, 5).map((f) => {
        const s = this.state.nodes[f.i]!;
        return `--- ${s.name}: ${f.why}\n${s.log}:\n${tailFile(s.log, 12)}${dhcp ? `\n${s.dhcpLog}:\n${tailFile(s.dhcpLog, 6)}` : ''}`;
      }).join('\n');
      throw errors.E_LAB_TIMEOUT(`${failed.length} of ${indices.length} nodes have no address after ${(timeoutMs / 1000).toFixed(0)} s: ${names.slice(0, 30).join(', ')}${names.length > 30 ? ', …' : ''}\n${detail}`);
    }
  }

  private async acquire(i: number, deadline: number, dhcp: boolean): Promise<string> {
    const s = this.state.nodes[i]!;
    let last = '';
    if (dhcp) {
      for (let attempt = 1; ; attempt++) {
        if (!this.alive(i)) throw errors.E_LAB_START('daemon not running');
        const left = deadline - Date.now();
        if (left <= 0) throw errors.E_LAB_TIMEOUT(`udhcpc got no lease (${attempt - 1} attempts): ${last}`);
        const r = await this.nss[i]!.exec('busybox', ['udhcpc', '-i', DEVICE, '-f', '-q', '-n', '-t', '20', '-T', '1',
          '-O', 'mtu', '-O', 'staticroutes', '-s', UDHCPC_SCRIPT], { allowFail: true, timeoutMs: Math.max(1000, Math.min(left, 40_000)) });
        appendFileSync(s.dhcpLog, `--- attempt ${attempt} at ${new Date().toISOString()}: exit ${r.code}\n${r.stdout}${r.stderr}`);
        if (r.code === 0) break;
        last = (r.stderr || r.stdout).trim().split('\n').slice(-1)[0] ?? `exit ${r.code}`;
        await sleep(1000);
      }
    }
    for (;;) {
      try {
        const st = await this.status(i);
        if (st.address) { s.vip = st.address; return st.address; }
        last = 'status reports no address';
      } catch (e) { last = (e as Error).message; }
      if (Date.now() > deadline) throw errors.E_LAB_TIMEOUT(last);
      await sleep(500);
    }
  }

  /** Status of every node and the ring crawl over their `ring` pointers. */
  async crawl(replies?: StatusReply[]): Promise<CrawlResult & { errors: string[] }> {
    const input = crawlInput(replies ?? await this.statuses());
    return { ...crawl(input.view), errors: input.errors };
  }

  /** Status, crawl and pings (lab-check.ts). */
  check(o: CheckOptions = {}): Promise<CheckResult> { return checkLab(this, o); }

  /** Stops every daemon, removes the namespaces and the state directory. */
  async down(onProgress?: (line: string) => void): Promise<DownReport> {
    // our own Netns objects, so this process forgets them too (netns.ts cleans up the rest on exit)
    const rep = await RingLab.down(this.name, { dir: this.state.dir, onProgress, own: [...this.nss, this.hub] });
    this.procs.clear();
    return rep;
  }

  /** Starts node 0 (the seed) alone, then the rest of the first `n` nodes in batches. */
  private async startAll(o: LabUpOptions, say: (line: string) => void, n = this.size): Promise<void> {
    const batch = Math.max(1, o.batch ?? 8);
    const groups: number[][] = [[0]];
    for (let i = 1; i < n; i += batch) groups.push(Array.from({ length: Math.min(batch, n - i) }, (_, k) => i + k));
    let done = 0;
    const t0 = Date.now();
    for (const [g, group] of groups.entries()) {
      if (o.signal?.aborted) throw errors.E_LAB_ABORTED('interrupted');
      const res = await untilAborted(o.signal, Promise.allSettled(group.map(async (i) => {
        await this.start(i, o.startTimeoutMs ?? 60_000);
        say(`[${++done}/${n}] ${this.state.nodes[i]!.name} up (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      })));
      const bad = res.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).message] : []));
      if (bad.length) throw errors.E_LAB_START(`${bad.length} daemons failed to start:\n${bad.join('\n')}`);
      if (g < groups.length - 1) await sleep(o.batchDelayMs ?? 300);
    }
  }
}

