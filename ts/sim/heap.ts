// Owns the simulator's event queue: a binary min-heap on (time, sequence) in parallel typed arrays,
// so ties run in insertion order and millions of events stay cheap. It must not know what an event is.

export class EventHeap<T> {
  private times = new Float64Array(1024);
  private seqs = new Float64Array(1024);
  private items: (T | undefined)[] = new Array(1024);
  private n = 0;
  private seq = 0;

  get size(): number { return this.n; }
  peekTime(): number { return this.n ? (this.times[0] as number) : Infinity; }

  push(time: number, item: T): void {
    if (this.n === this.times.length) this.grow();
    let i = this.n++;
    const s = this.seq++;
    const times = this.times, seqs = this.seqs, items = this.items;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pt = times[p] as number;
      if (pt < time || (pt === time && (seqs[p] as number) < s)) break;
      times[i] = pt; seqs[i] = seqs[p] as number; items[i] = items[p];
      i = p;
    }
    times[i] = time; seqs[i] = s; items[i] = item;
  }

  /** Remove and return the earliest item; undefined when empty. Its time is peekTime() before the call. */
  pop(): T | undefined {
    if (this.n === 0) return undefined;
    const times = this.times, seqs = this.seqs, items = this.items;
    const top = items[0];
    const last = --this.n;
    const t = times[last] as number, s = seqs[last] as number, it = items[last];
    items[last] = undefined;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= last) break;
      const r = c + 1;
      if (r < last && ((times[r] as number) < (times[c] as number) || ((times[r] as number) === (times[c] as number) && (seqs[r] as number) < (seqs[c] as number)))) c = r;
      const ct = times[c] as number;
      if (t < ct || (t === ct && s < (seqs[c] as number))) break;
      times[i] = ct; seqs[i] = seqs[c] as number; items[i] = items[c];
      i = c;
    }
    if (last > 0) { times[i] = t; seqs[i] = s; items[i] = it; }
    return top;
  }

  private grow(): void {
    const cap = this.times.length * 2;
    const t = new Float64Array(cap); t.set(this.times); this.times = t;
    const s = new Float64Array(cap); s.set(this.seqs); this.seqs = s;
    this.items.length = cap;
  }
}
