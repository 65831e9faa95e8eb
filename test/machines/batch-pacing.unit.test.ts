import { describe, expect, it } from 'vitest';
import { BatchPacer, type BatchPlan } from '../../src/machines/batch-pacing.js';

/**
 * Parts a second a plan sustains when Drive answers a batch of n parts after `latency(n)`
 * ms and every batch in flight is on the wire (Little's law, the quota left aside).
 */
function throughput(plan: BatchPlan, latency: (parts: number) => number): number {
  return (plan.batchesInFlight * plan.partsPerBatch * 1000) / latency(plan.partsPerBatch);
}

/** Feeds the pacer the answers of a page's batches, as the gateway reports them. */
function answerPage(
  pacer: BatchPacer,
  parts: number,
  rate: number,
  latency: (parts: number) => number,
): BatchPlan {
  const plan = pacer.plan(parts, rate);
  for (let left = parts; left > 0; left -= plan.partsPerBatch) {
    const n = Math.min(left, plan.partsPerBatch);
    pacer.observe(n, latency(n));
  }
  return plan;
}

const serial = (partMs: number) => (parts: number) => parts * partMs;
const parallel = (callMs: number) => (_parts: number) => callMs;

describe('batch pacing', () => {
  it('assumes serial service before any answer: enough batches in flight for the rate', () => {
    const pacer = new BatchPacer({ initialPartMs: 25 });
    // 1,000 calls/s × 25 ms = 25 parts on the wire, plus one batch collecting its quota.
    expect(pacer.plan(2_000, 1_000)).toEqual({ partsPerBatch: 77, batchesInFlight: 26 });
    expect(pacer.state()).toEqual({ partMs: null, batchesObserved: 0 });
  });

  it('against a serial server, keeps rate × per-part latency batches in flight and reaches the rate', () => {
    const pacer = new BatchPacer();
    const latency = serial(25);
    let plan = answerPage(pacer, 2_000, 1_000, latency);
    for (let page = 0; page < 5; page++) plan = answerPage(pacer, 2_000, 1_000, latency);
    expect(pacer.partMs()).toBeCloseTo(25, 6);
    expect(plan.batchesInFlight).toBe(26);
    expect(throughput(plan, latency)).toBeGreaterThanOrEqual(1_000);
    // The old fixed four batches of 100 moved 160 parts a second here.
    expect(throughput({ partsPerBatch: 100, batchesInFlight: 4 }, latency)).toBe(160);
  });

  it('against a parallel server, settles on full batches and few of them in flight', () => {
    const pacer = new BatchPacer();
    const latency = parallel(25);
    let plan = answerPage(pacer, 2_000, 1_000, latency);
    for (let page = 0; page < 5; page++) plan = answerPage(pacer, 2_000, 1_000, latency);
    expect(plan).toEqual({ partsPerBatch: 100, batchesInFlight: 2 });
    expect(throughput(plan, latency)).toBeGreaterThanOrEqual(1_000);
  });

  it('follows the governor: a lower rate wants fewer batches in flight, an unlimited one the most', () => {
    const pacer = new BatchPacer({ maxBatchesInFlight: 32 });
    pacer.observe(100, 2_500);
    expect(pacer.plan(2_000, 1_000).batchesInFlight).toBe(26);
    expect(pacer.plan(2_000, 200).batchesInFlight).toBe(6);
    expect(pacer.plan(2_000, 0).batchesInFlight).toBe(1);
    expect(pacer.plan(2_000, Number.POSITIVE_INFINITY)).toEqual({ partsPerBatch: 63, batchesInFlight: 32 });
    expect(pacer.plan(2_000, 1e9).batchesInFlight).toBe(32);
  });

  it('spreads a page over the batches it wants, down to the smallest batch worth a request', () => {
    const pacer = new BatchPacer({ minPartsPerBatch: 20 });
    pacer.observe(50, 1_250);
    expect(pacer.plan(520, 1_000)).toEqual({ partsPerBatch: 20, batchesInFlight: 26 });
    expect(pacer.plan(60, 1_000)).toEqual({ partsPerBatch: 20, batchesInFlight: 3 });
    expect(pacer.plan(7, 1_000)).toEqual({ partsPerBatch: 7, batchesInFlight: 1 });
    expect(pacer.plan(1, 1_000)).toEqual({ partsPerBatch: 1, batchesInFlight: 1 });
    expect(pacer.plan(250, 40)).toEqual({ partsPerBatch: 100, batchesInFlight: 2 });
  });

  it('moves towards a changed server: serial after parallel raises the batches in flight again', () => {
    const pacer = new BatchPacer();
    for (let page = 0; page < 5; page++) answerPage(pacer, 2_000, 1_000, parallel(25));
    expect(pacer.plan(2_000, 1_000).batchesInFlight).toBe(2);
    for (let page = 0; page < 5; page++) answerPage(pacer, 2_000, 1_000, serial(25));
    expect(pacer.plan(2_000, 1_000).batchesInFlight).toBeGreaterThanOrEqual(25);
  });

  it('plans with the least time per part of recent batches: a queue at a busy server does not ask for more', () => {
    const pacer = new BatchPacer({ window: 4 });
    pacer.observe(10, 100);
    // Many batches at once queue behind each other: their latency is the queue's, not Drive's.
    for (let n = 0; n < 3; n++) pacer.observe(1, 2_000);
    expect(pacer.partMs()).toBe(10);
    expect(pacer.plan(2_000, 200).batchesInFlight).toBe(3);
    // Once the fast answer left the window, a server that became slower is believed.
    pacer.observe(10, 500);
    expect(pacer.partMs()).toBe(50);
    expect(pacer.state()).toEqual({ partMs: 50, batchesObserved: 5 });
  });

  it('ignores observations it cannot use and refuses settings that make no plan', () => {
    const pacer = new BatchPacer({ initialPartMs: 10 });
    pacer.observe(0, 100);
    pacer.observe(10, Number.NaN);
    pacer.observe(10, -1);
    expect(pacer.state().batchesObserved).toBe(0);
    expect(() => new BatchPacer({ maxPartsPerBatch: 0 })).toThrow(RangeError);
    expect(() => new BatchPacer({ maxBatchesInFlight: 1.5 })).toThrow(RangeError);
    expect(() => new BatchPacer({ initialPartMs: 0 })).toThrow(RangeError);
    expect(() => new BatchPacer({ window: 0 })).toThrow(RangeError);
    expect(() => new BatchPacer({ minPartsPerBatch: 101 })).toThrow(RangeError);
  });
});
