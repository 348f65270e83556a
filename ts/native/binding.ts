// Owns the loaded native addon and the values Rust defines once (frame types, WireGuard limits,
// hold-queue sizes, drop codes), at the floor of the TypeScript tree so that wire formats, the handshake
// and the simulator can use them without importing the runtime. It must not restate a value the binding
// exports, wrap the Engine (ts/runtime/engine.ts does) or make decisions.
import { createRequire } from 'node:module';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../paths.js';
import { RingvpnError } from '../base/errors.js';
import type * as Binding from '../../bindings/index.js';

/** The loaded addon: the generated module type (indexable by name for callers that look values up). */
type BindingModule = typeof Binding & { readonly [name: string]: unknown };
let binding: BindingModule | undefined;

export function loadBinding(): BindingModule {
  if (binding) return binding;
  const require = createRequire(import.meta.url);
  const path = join(repoRoot, 'bindings/index.js');
  try {
    binding = require(path) as BindingModule;
  } catch (e) {
    const target = `${process.platform}-${process.arch}`;
    const built = existsSync(join(repoRoot, 'bindings')) ? readdirSync(join(repoRoot, 'bindings')).filter((f) => f.endsWith('.node')) : [];
    const why = (e as Error).message.split('\n')[0];
    if (built.length && !built.some((f) => f.includes(`.${target}`))) {
      throw new RingvpnError('E_ENGINE', `no data plane for ${target} here (built: ${built.join(', ')}): ringvpn runs on Linux x64 and arm64 with glibc; elsewhere build it from a source checkout (npm install with Rust and a C compiler)`);
    }
    throw new RingvpnError('E_ENGINE', `the native data plane is not built or does not load (${why}); run \`npm install\` or \`npm run build\``);
  }
  return binding;
}

/** A number the loaded binding must export (a stale build that lacks it fails here, by name). */
function exported(name: keyof typeof Binding): number {
  const v = loadBinding()[name];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw new RingvpnError('E_ENGINE', `the native binding does not export ${String(name)} (stale build? run \`npm run build\`)`);
  }
  return v;
}

// ---- outer frame (crates/core/src/frame.rs, relay_frame.rs) ----
export const FRAME_TYPE_HANDSHAKE_INIT = exported('FRAME_TYPE_HANDSHAKE_INIT');
export const FRAME_TYPE_HANDSHAKE_RESP = exported('FRAME_TYPE_HANDSHAKE_RESP');
/** Reserved for a WireGuard-style cookie reply; nothing sends it. */
export const FRAME_TYPE_COOKIE = exported('FRAME_TYPE_COOKIE');
export const FRAME_TYPE_DATA = exported('FRAME_TYPE_DATA');
export const FRAME_TYPE_CONTROL = exported('FRAME_TYPE_CONTROL');
export const FRAME_TYPE_RELAY = exported('FRAME_TYPE_RELAY');
export const FRAME_TYPE_PROBE = exported('FRAME_TYPE_PROBE');
export const FRAME_HEADER_LEN = exported('FRAME_HEADER_LEN');
export const FRAME_TAG_LEN = exported('FRAME_TAG_LEN');
export const RELAY_HEADER_LEN = exported('RELAY_HEADER_LEN');
export const RELAY_DEFAULT_TTL = exported('RELAY_DEFAULT_TTL');
export const RELAY_DIRECT_FRESH_MS = exported('RELAY_DIRECT_FRESH_MS');
export const NODE_ID_LEN = exported('NODE_ID_LEN');

// ---- WireGuard's limits (crates/core/src/limits.rs), in milliseconds ----
export const LIMIT_REKEY_AFTER_TIME_MS = exported('LIMIT_REKEY_AFTER_TIME_MS');
export const LIMIT_REJECT_AFTER_TIME_MS = exported('LIMIT_REJECT_AFTER_TIME_MS');
export const LIMIT_REKEY_TIMEOUT_MS = exported('LIMIT_REKEY_TIMEOUT_MS');
export const LIMIT_REKEY_TIMEOUT_JITTER_MAX_MS = exported('LIMIT_REKEY_TIMEOUT_JITTER_MAX_MS');
export const LIMIT_REKEY_ATTEMPT_TIME_MS = exported('LIMIT_REKEY_ATTEMPT_TIME_MS');
export const LIMIT_KEEPALIVE_TIMEOUT_MS = exported('LIMIT_KEEPALIVE_TIMEOUT_MS');
export const LIMIT_COOKIE_REFRESH_TIME_MS = exported('LIMIT_COOKIE_REFRESH_TIME_MS');
export const LIMIT_REPLAY_WINDOW_SIZE = exported('LIMIT_REPLAY_WINDOW_SIZE');

// ---- the engine's hold queue for first packets (crates/dataplane/src/pending.rs) ----
export const PENDING_PER_DESTINATION = exported('PENDING_PER_DESTINATION');
export const PENDING_DESTINATIONS = exported('PENDING_DESTINATIONS');
export const PENDING_HOLD_MS = exported('PENDING_HOLD_MS');

/** Every drop reason code the engine counts, in counter order (stable, append-only). */
export const DROP_REASONS: readonly string[] = Object.freeze(loadBinding().dropReasons());


/**
 * Hold glibc's trim and mmap thresholds fixed (process-wide), so that memory freed at the top of a
 * thread's arena goes back to the OS instead of staying resident; true if glibc took them.
 */
export function fixNativeHeapThresholds(): boolean {
  return loadBinding().fixNativeHeapThresholds();
}

/** Give the native heap's free pages back to the OS (glibc malloc_trim); true if any were released. */
export function trimNativeHeap(): boolean {
  return loadBinding().trimNativeHeap();
}
