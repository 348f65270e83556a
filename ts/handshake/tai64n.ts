// Owns TAI64N handshake timestamps and the replay table (the greatest timestamp accepted per static key,
// bounded: keys of former peers are forgotten oldest first past a cap). Pure: no clocks, no I/O; the
// caller passes wall-clock milliseconds and says which keys are live peers.

export const TIMESTAMP_LEN = 12;

/** TAI64N label of a wall-clock time in ms: 8 bytes BE (2^62 + 10 + seconds), 4 bytes BE nanoseconds. */
export function tai64n(nowMs: number): Uint8Array {
  const ms = Math.max(0, Math.floor(nowMs));
  const out = new Uint8Array(TIMESTAMP_LEN);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, (1n << 62n) + 10n + BigInt(Math.floor(ms / 1000)), false);
  dv.setUint32(8, (ms % 1000) * 1_000_000, false);
  return out;
}

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return (a[i] ?? 0) - (b[i] ?? 0);
  }
  return a.length - b.length;
}

/** The next label after `ts` (two initiations in one millisecond must still increase). */
export function incremented(ts: Uint8Array): Uint8Array {
  const out = new Uint8Array(ts);
  for (let i = out.length - 1; i >= 0; i--) {
    out[i] = ((out[i] ?? 0) + 1) & 0xff;
    if (out[i] !== 0) break;
  }
  return out;
}

/**
 * The greatest timestamp per static key. It outlives the peer (a re-added key must not accept a replay),
 * but not forever: past `max` keys the oldest key that is no longer a peer (`live` says which are) is dropped.
 */
export class ReplayTable {
  private readonly greatest = new Map<string, Uint8Array>();
  constructor(private readonly max: number, private readonly live: (keyHex: string) => boolean) {}

  get size(): number { return this.greatest.size; }

  /** true when `ts` is not newer than the greatest accepted from this key */
  isReplay(keyHex: string, ts: Uint8Array): boolean {
    const seen = this.greatest.get(keyHex);
    return !!seen && compareBytes(ts, seen) <= 0;
  }

  remember(keyHex: string, ts: Uint8Array): void {
    this.greatest.delete(keyHex); // re-insert: the map's order is the order of last use
    if (this.greatest.size >= this.max) {
      for (const k of this.greatest.keys()) if (!this.live(k)) { this.greatest.delete(k); break; }
    }
    this.greatest.set(keyHex, ts);
  }
}
