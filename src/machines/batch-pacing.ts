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
 * seconds per part, measured: the moving averages of batch latency over batch size (t under
 * serial service, t/n under parallel service). Then batches in flight = ⌈λ·s⌉ + 1, whatever
 * n is: the one more is the batch collecting its parts' quota tokens while the others are
 * on the wire (the gateway lets one batch at a time collect, so they leave one after
 * another instead of all at once when the last token comes). A page's parts are spread
 * over that many batches (at most 100 parts each), so that a small page fills the pipeline
 * too, and the end of a page waits for one short batch, not for a long serial one.
 *
 * Before any batch was answered it assumes the worse case, serial service at
 * `initialPartMs` a part. Pure: observations carry their own durations.
 */

export interface BatchPacingSettings {
  /** Drive's limit on parts in one batch request. */
  readonly maxPartsPerBatch: number;
  /** Batch requests one page may have in flight, whatever the arithmetic says. */
  readonly maxBatchesInFlight: number;
  /** Seconds a part is assumed to take before any batch was answered. */
  readonly initialPartMs: number;
  /** Weight of the newest batch in the moving averages, in (0, 1]. */
  readonly smoothing: number;
}

export const defaultBatchPacingSettings: BatchPacingSettings = {
  maxPartsPerBatch: 100,
  // The unbatched path keeps 24 single calls in flight per connection: never fewer here.
  maxBatchesInFlight: 32,
  initialPartMs: 50,
  smoothing: 0.2,
};

export interface BatchPlan {
  readonly partsPerBatch: number;
  readonly batchesInFlight: number;
}

export interface BatchPacingState {
  /** Measured milliseconds per part (batch latency over batch size); null before any batch. */
  readonly partMs: number | null;
  readonly batchesObserved: number;
}

export class BatchPacer {
  readonly settings: BatchPacingSettings;
  private meanMs = 0;
  private meanParts = 0;
  private observed = 0;

  constructor(settings: Partial<BatchPacingSettings> = {}) {
    this.settings = { ...defaultBatchPacingSettings, ...settings };
    const { maxPartsPerBatch, maxBatchesInFlight, initialPartMs, smoothing } = this.settings;
    if (!Number.isInteger(maxPartsPerBatch) || maxPartsPerBatch < 1)
      throw new RangeError('maxPartsPerBatch must be a positive integer');
    if (!Number.isInteger(maxBatchesInFlight) || maxBatchesInFlight < 1)
      throw new RangeError('maxBatchesInFlight must be a positive integer');
    if (!(initialPartMs > 0) || !Number.isFinite(initialPartMs))
      throw new RangeError('initialPartMs must be a positive number');
    if (!(smoothing > 0 && smoothing <= 1)) throw new RangeError('smoothing must be in (0, 1]');
  }

  /** A batch request of `parts` parts was answered `durationMs` after it was sent. */
  observe(parts: number, durationMs: number): void {
    if (!(parts >= 1) || !(durationMs >= 0) || !Number.isFinite(durationMs)) return;
    // The first answer replaces the assumption outright; later ones move the averages.
    const weight = this.observed === 0 ? 1 : this.settings.smoothing;
    this.meanMs += weight * (durationMs - this.meanMs);
    this.meanParts += weight * (parts - this.meanParts);
    this.observed++;
  }

  /** Milliseconds per part the plan works with. */
  partMs(): number {
    return this.observed === 0 ? this.settings.initialPartMs : this.meanMs / this.meanParts;
  }

  /**
   * The plan for `parts` parts when calls may go at `callsPerSecond` (the quota governor's
   * rate; Infinity when nothing limits it).
   */
  plan(parts: number, callsPerSecond: number): BatchPlan {
    const { maxPartsPerBatch, maxBatchesInFlight } = this.settings;
    const wanted = Number.isFinite(callsPerSecond)
      ? Math.ceil((Math.max(0, callsPerSecond) * this.partMs()) / 1000) + 1
      : maxBatchesInFlight;
    const lanes = Math.min(maxBatchesInFlight, Math.max(1, wanted));
    const partsPerBatch = Math.min(maxPartsPerBatch, Math.max(1, Math.ceil(parts / lanes)));
    const batches = Math.max(1, Math.ceil(parts / partsPerBatch));
    return { partsPerBatch, batchesInFlight: Math.min(lanes, batches) };
  }

  state(): BatchPacingState {
    return { partMs: this.observed === 0 ? null : this.partMs(), batchesObserved: this.observed };
  }
}
