// Owns ringvpn's library API (`import { createNode } from 'ringvpn'`): one typed event emitter per node for
// every mode (static mesh, overlay member, gateway, full tunnel, private group), its status, close() and
// `await using`. It wraps the same Daemon the CLI runs and must not hold logic of its own: it maps the
// node's events to public ones. Importing it has no side effect (the native addon loads at createNode).
import { EventEmitter } from 'node:events';
import { loadConfig, parseConfig, type Config, type ConfigInput } from './config/schema.js';
import { idToHex } from './base/nodeid.js';
import { RingvpnError, errors, ERRORS, type ErrorCode } from './base/errors.js';
import type { Logger } from './base/log.js';
import type { NodeEvent } from './node/io.js';
import type { Daemon } from './runtime/daemon.js';

export { RingvpnError, ERRORS, type ErrorCode, type Config, type ConfigInput, type Logger };

/** The events a node emits; node ids are 40 hex digits. */
export interface NodeEvents {
  /** the node is up (device, socket, control socket) */
  ready: [{ nodeId: string; device: string; listen: string | null }];
  /** overlay mode: the virtual address this node holds (claimed in the DHT) */
  address: [{ address: string; prefix: number }];
  /** a link to a peer came up (overlay connection, or a configured peer that answered) */
  'peer-up': [{ nodeId: string; endpoint: string | null }];
  'peer-down': [{ nodeId: string }];
  /** how traffic to a peer travels now: direct UDP, through a relay, or end to end through the overlay */
  path: [{ nodeId: string; path: 'direct' | 'relayed' | 'overlay' }];
  /** a member's certificate was revoked and it was cut off */
  revoked: [{ nodeId: string; serial: string; how: string }];
  /** a peer or a stranger was refused (code: why) */
  refused: [{ code: string; from: string | null }];
  error: [RingvpnError];
  close: [];
}

export interface CreateNodeOptions {
  /** where the node logs (pino or anything with debug/info/warn/error(obj, msg)); default: nothing */
  logger?: Logger;
  /** aborting it closes the node */
  signal?: AbortSignal;
}

/** What a reload applied, and which changed settings need a restart instead. */
export interface ReloadResult { applied: string[]; restartNeeded: string[] }

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** A running ringvpn node. */
export class RingvpnNode extends EventEmitter<NodeEvents> {
  private closed: Promise<void> | null = null;

  /** @internal use createNode */
  constructor(private readonly daemon: Daemon) { super(); }

  /** The config in force (the one given, with what reloads applied). */
  get config(): Config { return this.daemon.config; }

  /** This node's id (40 hex digits). */
  get nodeId(): string { return idToHex(this.daemon.node.self); }

  /** The same object `ringvpn status --json` prints. */
  status(): Record<string, unknown> { return this.daemon.status(); }

  /**
   * Apply a changed config while running, as SIGHUP does for `ringvpn up`: the log level, a static mesh's
   * peers, a router's announced subnets, our certificate and CRL (files read again). `restartNeeded` names
   * the changes that take a restart; a config that does not validate throws and changes nothing.
   */
  reload(config: ConfigInput | string): ReloadResult {
    return this.daemon.reload(typeof config === 'string' ? loadConfig(config) : parseConfig(config));
  }

  /** Stop: sessions, device and every OS change this node made are gone when it resolves. */
  close(): Promise<void> {
    this.closed ??= this.daemon.stop().then(() => { this.emit('close'); });
    return this.closed;
  }

  async [Symbol.asyncDispose](): Promise<void> { await this.close(); }

  /** @internal the daemon's node events as public ones */
  onNodeEvent(ev: NodeEvent): void {
    switch (ev.type) {
      case 'address': this.emit('address', { address: ev.address, prefix: ev.prefix }); return;
      case 'peer-up': {
        const id = idToHex(ev.nodeId);
        this.emit('peer-up', { nodeId: id, endpoint: ev.endpoint });
        const p = this.daemon.node.links.peerOf(ev.nodeId);
        this.emit('path', { nodeId: id, path: p?.relay != null ? 'relayed' : p?.endpoint ? 'direct' : 'overlay' });
        return;
      }
      case 'peer-down': this.emit('peer-down', { nodeId: idToHex(ev.nodeId) }); return;
      case 'session': if (!ev.direct) this.emit('path', { nodeId: idToHex(ev.nodeId), path: 'overlay' }); return;
      case 'revoked': this.emit('revoked', { nodeId: idToHex(ev.nodeId), serial: ev.serial, how: ev.how }); return;
      case 'refused': this.emit('refused', { code: ev.code, from: ev.from }); return;
      case 'error': if (this.listenerCount('error')) this.emit('error', new RingvpnError(ev.code in ERRORS ? ev.code as ErrorCode : 'E_INTERNAL', ev.message)); return;
      default: return;
    }
  }
}

/**
 * Start a node from a config (an object as in a config file, or the path of one). Resolves once it is up
 * (after 'ready'); rejects with a RingvpnError (stable `code`) when the config is bad, the native addon is
 * missing or the device cannot be made (CAP_NET_ADMIN).
 */
export async function createNode(config: ConfigInput | string, opts: CreateNodeOptions = {}): Promise<RingvpnNode> {
  const cfg = typeof config === 'string' ? loadConfig(config) : parseConfig(config);
  if (opts.signal?.aborted) throw errors.E_ABORTED('createNode: the signal was already aborted');
  const { Daemon } = await import('./runtime/daemon.js');
  let node: RingvpnNode | undefined;
  const daemon = await Daemon.create(cfg, opts.logger ?? silent, { onNodeEvent: (ev) => node?.onNodeEvent(ev) });
  node = new RingvpnNode(daemon);
  await daemon.start();
  const st = daemon.status();
  opts.signal?.addEventListener('abort', () => { void node.close(); }, { once: true });
  // after the caller's `await` has returned, so that listeners attached then see it
  setImmediate(() => node.emit('ready', { nodeId: node.nodeId, device: cfg.device.name, listen: (st.listen as string | null) ?? null }));
  return node;
}
