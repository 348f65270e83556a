// Owns the async API of the DHT for the rest of the daemon: promises over the sans-IO DhtCore, and a
// real-time ticker. This is the one ts/dht file allowed a clock and timers (exempt in lint.test.ts);
// it must not hold DHT state or decide anything: the core does, the driver moves frames and time.
import { type DhtCore, type OpResult, type DhtErrorCode } from './dht.js';

/** Supplied by whoever runs the node: the current time, and a flush that carries out queued outputs. */
export interface DhtDriver { now(): number; flush(): void }

export class DhtError extends Error {
  constructor(readonly code: DhtErrorCode, readonly result: OpResult) {
    super(`dht: ${code} (${result.replies} replies, ${result.accepted} accepted)`);
    this.name = 'DhtError';
  }
}

export class AsyncDht {
  constructor(private readonly core: DhtCore, private readonly driver: DhtDriver) {}

  /** Append a value under `key` (renewed at TTL/2 until removed or stopped). Rejects with a DhtError. */
  put(key: Uint8Array, value: Uint8Array, ttlMs: number): Promise<OpResult> {
    return this.run((cb) => this.core.put(this.driver.now(), key, value, ttlMs, cb));
  }
  /** Put-if-absent on a majority of replicas; a loser rejects with code 'exists' and the winner in result.agreed. */
  create(key: Uint8Array, value: Uint8Array, ttlMs: number): Promise<OpResult> {
    return this.run((cb) => this.core.create(this.driver.now(), key, value, ttlMs, cb));
  }
  /** All live values with their remaining TTL; result.agreed holds the ones a majority returned. */
  get(key: Uint8Array): Promise<OpResult> {
    return this.run((cb) => this.core.get(this.driver.now(), key, cb));
  }
  remove(key: Uint8Array, value: Uint8Array): Promise<OpResult> {
    return this.run((cb) => this.core.remove(this.driver.now(), key, value, cb));
  }

  private run(start: (cb: (r: OpResult) => void) => void): Promise<OpResult> {
    return new Promise((resolve, reject) => {
      start((r) => (r.ok ? resolve(r) : reject(new DhtError(r.code, r))));
      this.driver.flush();
    });
  }
}

/** Tick a sans-IO machine on a real clock (the node's heartbeat). Returns a stop function. */
export function startTicker(tick: (now: number) => void, everyMs: number, clock: () => number = () => performance.now()): () => void {
  const t = setInterval(() => tick(clock()), everyMs);
  t.unref?.();
  return () => clearInterval(t);
}
