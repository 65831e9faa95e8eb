/**
 * How a page's batch parts go out: how many parts per `/batch/drive/v3` request, and how
 * many of those requests in flight, so that batching never costs throughput whether Drive
 * answers a batch's parts one after another or all at once (Google documents neither).
 *
 * Little's law: to sustain λ calls a second when a call takes W seconds from send to
 * answer, λ·W calls must be on the wire. A batch of n parts carries n calls and is answered
 * after W(n), so λ·W(n)/n batch requests must be in flight. Served serially, W(n) ≈ n·t and
 * a batch request moves 1/t parts a second however large it is: λ·t of them are needed
 * (25 at 1,000 calls/s and 25 ms a part), where four moved a quarter of the quota. Served
 * in parallel, W(n) ≈ t and one request of 100 parts moves 100/t.
 *
 * The pacer cannot tell the two apart in advance, so it plans for W(n) = s·n with s, the
 * time per part, measured: batch latency over batch size (t under serial service, t/n
 * under parallel service). Then batches in flight = ⌈λ·s⌉ + 1, whatever n is: the one more
 * is the batch collecting its parts' quota tokens while the others are on the wire (the
 * gateway lets one batch at a time collect, so they leave one after another instead of all
 * at once when the last token comes). A page's parts are spread over that many batches (at
 * most 100 parts each), so that a smaller page fills the pipeline too, and the end of a
 * page waits for a shorter serial batch.
 *
 * s is the smallest of the last `window` batches' latency per part, not their mean, as
 * TCP's delay-based congestion control takes the minimum round trip: latency measured
 * under load includes the queue that more batches in flight build at a busy server, and
 * Little's law fed with it asks for more batches still, which lengthen the queue. The
 * window lets s rise again when the server changes (parallel to serial).
 *
 * Spreading stops at `minPartsPerBatch`: a batch of two parts saves one HTTP request in
 * two. A page smaller than λ·s·minPartsPerBatch then has fewer batches in flight than
 * Little's law asks, and under serial service waits up to that many parts' time at its end.
 *
 * Before any batch was answered it assumes the worse case, serial service at
 * `initialPartMs` a part. Pure: observations carry their own durations.
 */

export interface BatchPacingSettings {
  /** Drive's limit on parts in one batch request. */
  readonly maxPartsPerBatch: number;
  /** Fewest parts a batch is given while the page has more. */
  readonly minPartsPerBatch: number;
  /** Batch requests one page may have in flight, whatever the arithmetic says. */
  readonly maxBatchesInFlight: number;
  /** Milliseconds a part is assumed to take before any batch was answered. */
  readonly initialPartMs: number;
  /** Answered batches the time per part is the minimum of. */
  readonly window: number;
}

export const defaultBatchPacingSettings: BatchPacingSettings = {
  maxPartsPerBatch: 100,
  minPartsPerBatch: 20,
  // The unbatched path keeps 24 single calls in flight per connection: never fewer here.
  maxBatchesInFlight: 32,
  initialPartMs: 50,
  window: 32,
};

export interface BatchPlan {
  readonly partsPerBatch: number;
  readonly batchesInFlight: number;
}

export interface BatchPacingState {
  /** Milliseconds per part the plans use (measured); null before any batch was answered. */
  readonly partMs: number | null;
  readonly batchesObserved: number;
}

export class BatchPacer {
  readonly settings: BatchPacingSettings;
  /** The last `window` batches' milliseconds per part, oldest overwritten first. */
  private readonly recent: number[] = [];
  private observed = 0;

  constructor(settings: Partial<BatchPacingSettings> = {}) {
    this.settings = { ...defaultBatchPacingSettings, ...settings };
    const { maxPartsPerBatch, minPartsPerBatch, maxBatchesInFlight, initialPartMs, window } = this.settings;
    const positiveInteger = (name: string, value: number) => {
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer`);
    };
    positiveInteger('maxPartsPerBatch', maxPartsPerBatch);
    positiveInteger('minPartsPerBatch', minPartsPerBatch);
    positiveInteger('maxBatchesInFlight', maxBatchesInFlight);
    positiveInteger('window', window);
    if (minPartsPerBatch > maxPartsPerBatch)
      throw new RangeError('minPartsPerBatch must not exceed maxPartsPerBatch');
    if (!(initialPartMs > 0) || !Number.isFinite(initialPartMs))
      throw new RangeError('initialPartMs must be a positive number');
  }

  /** A batch request of `parts` parts was answered `durationMs` after it was sent. */
  observe(parts: number, durationMs: number): void {
    if (!(parts >= 1) || !(durationMs >= 0) || !Number.isFinite(durationMs)) return;
    this.recent[this.observed % this.settings.window] = durationMs / parts;
    this.observed++;
  }

  /** Milliseconds per part the plan works with. */
  partMs(): number {
    return this.observed === 0 ? this.settings.initialPartMs : Math.min(...this.recent);
  }

  /**
   * The plan for `parts` parts when calls may go at `callsPerSecond` (the quota governor's
   * rate; Infinity when nothing limits it).
   */
  plan(parts: number, callsPerSecond: number): BatchPlan {
    const { maxPartsPerBatch, minPartsPerBatch, maxBatchesInFlight } = this.settings;
    const wanted = Number.isFinite(callsPerSecond)
      ? Math.ceil((Math.max(0, callsPerSecond) * this.partMs()) / 1000) + 1
      : maxBatchesInFlight;
    const lanes = Math.min(maxBatchesInFlight, Math.max(1, wanted));
    const partsPerBatch = Math.min(
      maxPartsPerBatch,
      Math.max(1, Math.min(parts, Math.max(minPartsPerBatch, Math.ceil(parts / lanes)))),
    );
    const batches = Math.max(1, Math.ceil(parts / partsPerBatch));
    return { partsPerBatch, batchesInFlight: Math.min(lanes, batches) };
  }

  state(): BatchPacingState {
    return { partMs: this.observed === 0 ? null : this.partMs(), batchesObserved: this.observed };
  }
}
