// Owns the seam to the Rust data plane: loads the N-API addon and types what crosses it.
// It must not make decisions; the daemon does. Packets never cross this seam, only commands and events.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { repoRoot } from '../paths.js';
import { RingvpnError } from '../config/errors.js';

export interface EngineConfig {
  mode: 'tap' | 'tun';
  ifname: string;
  mtu?: number;
  listenPort: number;
  listenAddress?: string;
  address?: string;
  virtualMac?: string;
  threads?: number;
}

export interface SessionKeys {
  localIndex: number;
  remoteIndex: number;
  sendKey: Buffer;
  recvKey: Buffer;
  initiator: boolean;
}

export interface EngineEvent {
  kind: 'handshake' | 'control' | 'need_session' | 'rekey' | 'endpoint' | string;
  from?: string | null;
  peerId?: number | null;
  data?: Buffer | null;
}

/** The commands the control plane gives the data plane (the addon's Engine class has this shape). */
export interface DataPlane {
  setPeer(peerId: number, endpoint: string | null, allowedIps: string[]): void;
  removePeer(peerId: number): void;
  setSession(peerId: number, keys: SessionKeys): void;
  removeSession(localIndex: number): void;
  sendFrame(endpoint: string, data: Buffer): void;
  sendControl(peerId: number, data: Buffer): void;
  sendKeepalive(peerId: number): void;
  drainEvents(): EngineEvent[];
  stats(): EngineStats;
  localAddr(): string;
  close(): void;
}

export interface EngineStats {
  [k: string]: unknown;
  drops: Record<string, number>;
  peers: Array<Record<string, unknown> & { peerId: number }>;
}

interface Binding {
  Engine: { start(config: EngineConfig, onEvents: (...args: unknown[]) => void): DataPlane };
  [k: string]: unknown;
}

let binding: Binding | undefined;

export function loadBinding(): Binding {
  if (binding) return binding;
  const require = createRequire(import.meta.url);
  const path = join(repoRoot, 'bindings/index.js');
  try {
    binding = require(path) as Binding;
  } catch (e) {
    throw new RingvpnError('E_ENGINE', `the native data plane is not built or does not load (${(e as Error).message.split('\n')[0]}); run \`npm install\` or \`npm run build\``);
  }
  return binding;
}

export function startEngine(config: EngineConfig, onEvents: () => void): DataPlane {
  const b = loadBinding();
  try {
    return b.Engine.start(config, () => onEvents());
  } catch (e) {
    const msg = (e as Error).message;
    throw new RingvpnError('E_ENGINE', `cannot start the data plane: ${msg}`);
  }
}
