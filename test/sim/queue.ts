// A time-ordered event queue (binary min-heap). Ties break by insertion order, so that the
// order of events, and thus a whole run, depends only on the seed.
import { assert } from '../../src/raft/assert.js';

interface Slot<E> {
  readonly time: number;
  readonly seq: number;
  readonly event: E;
}

export class EventQueue<E> {
  private readonly heap: Slot<E>[] = [];
  private seq = 0;

  get size(): number {
    return this.heap.length;
  }

  push(time: number, event: E): void {
    assert(Number.isFinite(time), `event time must be finite, got ${time}`);
    this.heap.push({ time, seq: this.seq++, event });
    this.up(this.heap.length - 1);
  }

  /** The time of the earliest event, or undefined when empty. */
  peekTime(): number | undefined {
    return this.heap[0]?.time;
  }

  pop(): { time: number; event: E } | undefined {
    const top = this.heap[0];
    if (top === undefined) return undefined;
    const last = this.heap.pop() as Slot<E>;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.down(0);
    }
    return { time: top.time, event: top.event };
  }

  private less(i: number, j: number): boolean {
    const a = this.heap[i] as Slot<E>;
    const b = this.heap[j] as Slot<E>;
    return a.time < b.time || (a.time === b.time && a.seq < b.seq);
  }

  private swap(i: number, j: number): void {
    const t = this.heap[i] as Slot<E>;
    this.heap[i] = this.heap[j] as Slot<E>;
    this.heap[j] = t;
  }

  private up(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) return;
      this.swap(i, p);
      i = p;
    }
  }

  private down(i: number): void {
    const n = this.heap.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.less(l, m)) m = l;
      if (r < n && this.less(r, m)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }
}
