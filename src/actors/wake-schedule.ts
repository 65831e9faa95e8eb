/**
 * The moments at which connections without a resident actor must act on their own (a
 * channel to renew, a backoff ending), earliest first: one binary heap for every evicted
 * connection, so the supervisor arms a single timer instead of one per connection.
 *
 * Rescheduling or removing a connection leaves its old heap entry behind; `deadlines` is
 * the truth, and a popped entry that disagrees with it is skipped. The heap is rebuilt
 * when stale entries outnumber live ones, so its size stays within twice the live count.
 */
export class WakeSchedule {
  private readonly deadlines = new Map<string, Sleeper>();
  private heap: HeapEntry[] = [];

  get size(): number {
    return this.deadlines.size;
  }

  /** Sets (or moves) a connection's wake-up; `partition` is handed back when it is due. */
  set(connectionId: string, at: number, partition: number | null): void {
    this.deadlines.set(connectionId, { at, partition });
    this.push({ at, connectionId });
    this.compactIfStale();
  }

  delete(connectionId: string): boolean {
    const had = this.deadlines.delete(connectionId);
    if (had) this.compactIfStale();
    return had;
  }

  has(connectionId: string): boolean {
    return this.deadlines.has(connectionId);
  }

  /** The earliest wake-up, or null when nothing is scheduled. */
  earliest(): number | null {
    this.dropStaleTop();
    return this.heap[0]?.at ?? null;
  }

  /** Removes and returns every connection due at `now`, earliest first. */
  takeDue(now: number): Array<{ readonly connectionId: string; readonly partition: number | null }> {
    const due: Array<{ readonly connectionId: string; readonly partition: number | null }> = [];
    for (;;) {
      this.dropStaleTop();
      const top = this.heap[0];
      if (!top || top.at > now) return due;
      this.pop();
      const sleeper = this.deadlines.get(top.connectionId) as Sleeper;
      this.deadlines.delete(top.connectionId);
      due.push({ connectionId: top.connectionId, partition: sleeper.partition });
    }
  }

  /** Removes every connection of the partitions the predicate selects (revoked ones). */
  deleteWhere(predicate: (partition: number | null) => boolean): number {
    let removed = 0;
    for (const [connectionId, sleeper] of this.deadlines) {
      if (!predicate(sleeper.partition)) continue;
      this.deadlines.delete(connectionId);
      removed++;
    }
    if (removed > 0) this.rebuild();
    return removed;
  }

  clear(): void {
    this.deadlines.clear();
    this.heap = [];
  }

  private isLive(entry: HeapEntry): boolean {
    return this.deadlines.get(entry.connectionId)?.at === entry.at;
  }

  private dropStaleTop(): void {
    while (this.heap.length > 0 && !this.isLive(this.heap[0] as HeapEntry)) this.pop();
  }

  private compactIfStale(): void {
    if (this.heap.length > 2 * this.deadlines.size + 64) this.rebuild();
  }

  private rebuild(): void {
    this.heap = [];
    for (const [connectionId, { at }] of this.deadlines) this.push({ at, connectionId });
  }

  private push(entry: HeapEntry): void {
    const heap = this.heap;
    heap.push(entry);
    let index = heap.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!before(entry, heap[parent] as HeapEntry)) break;
      heap[index] = heap[parent] as HeapEntry;
      index = parent;
    }
    heap[index] = entry;
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child =
        right < heap.length && before(heap[right] as HeapEntry, heap[left] as HeapEntry) ? right : left;
      if (!before(heap[child] as HeapEntry, last)) break;
      heap[index] = heap[child] as HeapEntry;
      index = child;
    }
    heap[index] = last;
  }
}

interface Sleeper {
  readonly at: number;
  readonly partition: number | null;
}

interface HeapEntry {
  readonly at: number;
  readonly connectionId: string;
}

function before(a: HeapEntry, b: HeapEntry): boolean {
  return a.at < b.at || (a.at === b.at && a.connectionId < b.connectionId);
}
