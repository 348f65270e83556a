// Owns the one TypeScript face of the native data plane for the runtime: re-exports the types the binding
// generates (bindings/index.d.ts is their only source) and the values Rust defines once (loaded in
// ts/native/binding.ts), and starts and drains the Engine. It must not restate a type or value the binding
// exports, or make decisions (the VpnNode does). Packets never cross this seam, only commands and events.
import { RingvpnError } from '../base/errors.js';
import type * as Binding from '../../bindings/index.js';

export type EngineConfig = Binding.EngineConfig;
/** One engine event: a discriminated union on `kind` (see bindings/index.d.ts for each variant). */
export type EngineEvent = Binding.EngineEvent;
export type EngineEventKind = EngineEvent['kind'];
export type EngineEventOf<K extends EngineEventKind> = Extract<EngineEvent, { kind: K }>;
export type EngineStats = Binding.EngineStats;
export type EnginePeerStats = Binding.PeerStats;
/** What setSession takes (Buffers; ts/node/io.ts has the Uint8Array form the node emits). */
export type SessionKeys = Binding.SessionKeys;
/** Relay settings of `setPeer`; an omitted field keeps its current value. */
export type PeerOptions = NonNullable<Parameters<Binding.Engine['setPeer']>[3]>;
/** The commands the control plane gives the data plane: exactly the generated Engine class's methods. */
export type DataPlane = { [K in keyof Binding.Engine]: Binding.Engine[K] };

export {
  loadBinding, DROP_REASONS,
  FRAME_TYPE_HANDSHAKE_INIT, FRAME_TYPE_HANDSHAKE_RESP, FRAME_TYPE_COOKIE, FRAME_TYPE_DATA, FRAME_TYPE_CONTROL, FRAME_TYPE_RELAY, FRAME_TYPE_PROBE,
  FRAME_HEADER_LEN, FRAME_TAG_LEN, RELAY_HEADER_LEN, RELAY_DEFAULT_TTL, NODE_ID_LEN,
  LIMIT_REKEY_AFTER_TIME_MS, LIMIT_REJECT_AFTER_TIME_MS, LIMIT_REKEY_TIMEOUT_MS, LIMIT_REKEY_TIMEOUT_JITTER_MAX_MS, LIMIT_REKEY_ATTEMPT_TIME_MS,
  LIMIT_KEEPALIVE_TIMEOUT_MS, LIMIT_COOKIE_REFRESH_TIME_MS, LIMIT_REPLAY_WINDOW_SIZE,
  PENDING_PER_DESTINATION, PENDING_DESTINATIONS, PENDING_HOLD_MS,
} from '../native/binding.js';
import { loadBinding } from '../native/binding.js';

export function startEngine(config: EngineConfig, onEvents: () => void): DataPlane {
  const b = loadBinding();
  try {
    return b.Engine.start(config, () => onEvents());
  } catch (e) {
    const msg = (e as Error).message;
    throw new RingvpnError('E_ENGINE', `cannot start the data plane: ${msg}`);
  }
}

/** Drain every queued event (the addon signals once per batch); a failing handler is logged, never fatal. */
export function drainEngine(engine: DataPlane | undefined, onEvent: (ev: EngineEvent) => void, log: { error(o: object, msg: string): void }): void {
  if (!engine) return;
  for (const ev of engine.drainEvents()) {
    try {
      onEvent(ev);
    } catch (e) {
      log.error({ err: e, kind: ev.kind }, 'event handler failed');
    }
  }
}
