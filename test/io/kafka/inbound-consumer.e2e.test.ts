import { setTimeout as sleep } from 'node:timers/promises';
import { type Admin, Kafka, logLevel, Partitioners, type Producer } from 'kafkajs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createInboundConsumer,
  type InboundConsumer,
  type InboundConsumerOptions,
  type InboundMessage,
} from '../../../src/io/kafka/inbound-consumer.js';
import { sharedKafka, uniqueName } from '../../setup/kafka-broker.global.js';
import { until } from '../../support/until.js';
import { capturingLogger, cleanupList, quickGroup, workerKafka } from './kafka-fixture.js';

const cleanups = cleanupList();
afterEach(() => cleanups.runAll());

const broker = sharedKafka();
const plainKafka = new Kafka({
  clientId: 'consumer-e2e',
  brokers: broker.bootstrapServers,
  logLevel: logLevel.NOTHING,
});

async function producer(): Promise<Producer> {
  const p = plainKafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    idempotent: true,
    maxInFlightRequests: 1,
  });
  await p.connect();
  cleanups.add(() => p.disconnect());
  return p;
}

async function admin(): Promise<Admin> {
  const a = plainKafka.admin();
  await a.connect();
  cleanups.add(() => a.disconnect());
  return a;
}

async function committedOffsets(groupId: string, topic: string): Promise<Record<number, string>> {
  const [offsets] = await (await admin()).fetchOffsets({ groupId, topics: [topic] });
  return Object.fromEntries((offsets?.partitions ?? []).map((p) => [p.partition, p.offset]));
}

function startConsumer(
  options: Pick<InboundConsumerOptions, 'groupId' | 'topics' | 'handle'> & Partial<InboundConsumerOptions>,
): { consumer: InboundConsumer; lines: () => Array<Record<string, unknown>>; started: Promise<void> } {
  const { logger, lines } = capturingLogger();
  const consumer = createInboundConsumer(workerKafka(broker, logger), {
    onAssignment: async () => undefined,
    logger,
    fromBeginning: true,
    ...quickGroup,
    ...options,
  });
  cleanups.add(() => consumer.stop());
  return { consumer, lines, started: consumer.start() };
}

describe('the inbound consumer on the embedded broker', () => {
  it('handles one partition in order, commits only handled offsets, and a new member resumes at the failed message', async () => {
    const topic = uniqueName('inbound-order');
    const groupId = uniqueName('inbound-order-group');
    await broker.createTopic(topic, 1);
    const p = await producer();
    await p.send({
      topic,
      messages: Array.from({ length: 10 }, (_, i) => ({
        key: 'conn',
        value: `m${i}`,
        headers: { 'correlation-id': `c${i}` },
      })),
    });

    const failAt = '5';
    const attempts: string[] = [];
    const handled: InboundMessage[] = [];
    const first = startConsumer({
      groupId,
      topics: [topic],
      commitEveryMessages: 2,
      handle: async (message) => {
        attempts.push(message.offset);
        if (message.offset === failAt) throw new Error('the records of this message could not be produced');
        handled.push(message);
      },
    });
    await first.started;
    // Delivered again after the failure: kafkajs re-fetches from the last resolved offset.
    await until(
      () => attempts.filter((o) => o === failAt).length >= 2,
      'the failing message delivered twice',
    );
    expect(handled.map((m) => m.offset)).toEqual(['0', '1', '2', '3', '4']);
    expect(attempts.every((o) => Number(o) <= 5)).toBe(true);
    expect(handled[2]).toMatchObject({
      topic,
      partition: 0,
      key: 'conn',
      headers: { 'correlation-id': 'c2' },
    });
    expect(handled[2]?.value?.toString()).toBe('m2');
    expect(handled[2]?.timestamp).toBeGreaterThan(0);
    expect(first.consumer.status()).toMatchObject({
      joined: true,
      running: true,
      assignment: new Map([[topic, [0]]]),
    });
    expect(first.consumer.status().partitions).toEqual([
      { topic, partition: 0, lastHandledOffset: '4', committedOffset: '5', highWatermark: '10', lag: 5 },
    ]);
    await first.consumer.stop();

    expect(await committedOffsets(groupId, topic)).toEqual({ 0: failAt });
    expect(
      first
        .lines()
        .some(
          (l) =>
            l.msg === 'inbound message failed; it stays uncommitted and will be delivered again' &&
            l.offset === failAt,
        ),
    ).toBe(true);

    const resumed: string[] = [];
    const second = startConsumer({
      groupId,
      topics: [topic],
      handle: async (message) => {
        resumed.push(message.offset);
      },
    });
    await second.started;
    await until(() => resumed.length >= 5, 'the rest of the partition');
    expect(resumed).toEqual(['5', '6', '7', '8', '9']);
    await until(() => second.consumer.status().partitions[0]?.committedOffset === '10', 'the last commit');
    expect(second.consumer.status().partitions).toEqual([
      { topic, partition: 0, lastHandledOffset: '9', committedOffset: '10', highWatermark: '10', lag: 0 },
    ]);
    await second.consumer.stop();
    expect(await committedOffsets(groupId, topic)).toEqual({ 0: '10' });
  });

  it('finishes the message in hand when stopped, and commits it', async () => {
    const topic = uniqueName('inbound-stop');
    const groupId = uniqueName('inbound-stop-group');
    await broker.createTopic(topic, 1);
    const p = await producer();
    await p.send({ topic, messages: Array.from({ length: 5 }, (_, i) => ({ key: 'conn', value: `m${i}` })) });

    let release: () => void = () => undefined;
    const inHand = new Promise<void>((resolve) => {
      release = resolve;
    });
    const handled: string[] = [];
    const { consumer, started } = startConsumer({
      groupId,
      topics: [topic],
      commitEveryMessages: 100,
      commitEveryMs: 60_000,
      handle: async (message) => {
        if (message.offset === '2') await inHand;
        handled.push(message.offset);
      },
    });
    await started;
    await until(() => handled.length === 2, 'the first two messages');
    const stopping = consumer.stop();
    release();
    await stopping;

    expect(handled).toEqual(['0', '1', '2']);
    expect(await committedOffsets(groupId, topic)).toEqual({ 0: '3' });
  });

  it('a new group told to start at the end skips what the topic retained, and commits its start before handling', async () => {
    const topic = uniqueName('inbound-latest');
    const groupId = uniqueName('inbound-latest-group');
    await broker.createTopic(topic, 1);
    const p = await producer();
    await p.send({
      topic,
      messages: Array.from({ length: 3 }, (_, i) => ({ key: 'conn', value: `old${i}` })),
    });

    let release: () => void = () => undefined;
    const inHand = new Promise<void>((resolve) => {
      release = resolve;
    });
    const seen: InboundMessage[] = [];
    const { consumer, started } = startConsumer({
      groupId,
      topics: [topic],
      fromBeginning: false,
      handle: async (message) => {
        seen.push(message);
        await inHand;
      },
    });
    await started;
    // Where "the end" is gets decided at the group's first fetch: new messages until one arrives.
    for (let i = 0; seen.length === 0; i++) {
      await p.send({ topic, messages: [{ key: 'conn', value: `new${i}` }] });
      await until(() => seen.length > 0, 'a new message', 500).catch(() => undefined);
    }
    const first = seen[0] as InboundMessage;
    expect(first.value?.toString()).toMatch(/^new/);
    // The start is committed while its first message is still in hand: a worker that crashed
    // now would resume there, not decide "the end" again past it.
    expect(await committedOffsets(groupId, topic)).toEqual({ 0: first.offset });
    release();
    await consumer.stop();
    expect(seen.every((m) => m.value?.toString().startsWith('new'))).toBe(true);
  });

  it('commits during a long batch, never beyond the last handled message', async () => {
    const topic = uniqueName('inbound-long-batch');
    const groupId = uniqueName('inbound-long-batch-group');
    await broker.createTopic(topic, 1);
    const p = await producer();
    await p.send({
      topic,
      messages: Array.from({ length: 12 }, (_, i) => ({ key: 'conn', value: `m${i}` })),
    });

    let release: () => void = () => undefined;
    const blocked = new Promise<void>((resolve) => {
      release = resolve;
    });
    const handled: string[] = [];
    const { started } = startConsumer({
      groupId,
      topics: [topic],
      commitEveryMessages: 2,
      commitEveryMs: 60_000,
      handle: async (message) => {
        if (message.offset === '7') await blocked;
        handled.push(message.offset);
      },
    });
    await started;
    await until(() => handled.length === 7, 'messages 0 to 6');
    // Handled 0..6, stuck on 7: committed after every second message (or at a batch's end).
    const whileBlocked = Number((await committedOffsets(groupId, topic))[0]);
    expect(whileBlocked).toBeGreaterThanOrEqual(6);
    expect(whileBlocked).toBeLessThanOrEqual(7);
    release();
    await until(() => handled.length === 12, 'the whole partition');
  });

  it('pause stops handling after the message in hand; resume goes on from the next one', async () => {
    const topic = uniqueName('inbound-pause');
    const groupId = uniqueName('inbound-pause-group');
    await broker.createTopic(topic, 1);
    const p = await producer();
    await p.send({ topic, messages: Array.from({ length: 8 }, (_, i) => ({ key: 'conn', value: `m${i}` })) });

    const log: string[] = [];
    let consumer: InboundConsumer | null = null;
    const member = startConsumer({
      groupId,
      topics: [topic],
      handle: async (message) => {
        log.push(message.offset);
        if (message.offset === '2') consumer?.pause();
      },
    });
    consumer = member.consumer;
    await member.started;
    await until(() => log.length === 3, 'messages 0 to 2');
    expect(member.consumer.status().paused).toBe(true);
    // Room for a consumer that ignored the pause to go on; it would show before 'resumed'.
    await sleep(1_500);
    log.push('resumed');
    member.consumer.resume();
    await until(() => log.length === 9, 'the rest after resuming');
    expect(log).toEqual(['0', '1', '2', 'resumed', '3', '4', '5', '6', '7']);
  });

  it('quiesce waits for the message in hand, commits it and stays in the group', async () => {
    const topic = uniqueName('inbound-quiesce');
    const groupId = uniqueName('inbound-quiesce-group');
    await broker.createTopic(topic, 1);
    const p = await producer();
    await p.send({ topic, messages: Array.from({ length: 5 }, (_, i) => ({ key: 'conn', value: `m${i}` })) });

    const log: string[] = [];
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const member = startConsumer({
      groupId,
      topics: [topic],
      handle: async (message) => {
        log.push(`start ${message.offset}`);
        if (message.offset === '1') await held;
        log.push(`end ${message.offset}`);
      },
    });
    await member.started;
    await until(() => log.includes('start 1'), 'message 1 in hand');
    const quiesced = member.consumer.quiesce().then(() => log.push('quiesced'));
    // Room for a quiesce that did not wait to resolve; it would show before 'end 1'.
    await sleep(300);
    release();
    await quiesced;
    expect(log).toEqual(['start 0', 'end 0', 'start 1', 'end 1', 'quiesced']);
    expect(member.consumer.status().joined).toBe(true);
    expect(await committedOffsets(groupId, topic)).toEqual({ 0: '2' });
  });

  it('runs a failed assignment hook again even when no message arrives', async () => {
    const topic = uniqueName('inbound-quiet');
    await broker.createTopic(topic, 2);
    const calls: Array<'failed' | 'ok'> = [];
    const { started } = startConsumer({
      groupId: uniqueName('inbound-quiet-group'),
      topics: [topic],
      onAssignment: async (assignment) => {
        if (calls.length === 0) {
          calls.push('failed');
          throw new Error('checkpoints not readable yet');
        }
        calls.push('ok');
        expect(assignment.get(topic)).toEqual([0, 1]);
      },
      handle: async () => undefined,
    });
    await started;
    await until(() => calls.includes('ok'), 'a successful retry of the hook');
    expect(calls).toEqual(['failed', 'ok']);
  });

  it('completes onAssignment before any message of the assignment, across a rebalance and a failing hook', async () => {
    const topic = uniqueName('inbound-assign');
    const groupId = uniqueName('inbound-assign-group');
    await broker.createTopic(topic, 4);
    const p = await producer();

    type Event = { kind: 'assigned'; partitions: number[] } | { kind: 'message'; partition: number };
    const members = ['first', 'second'] as const;
    const events = new Map<string, Event[]>(members.map((m) => [m, []]));
    let hookCalls = 0;
    const memberOptions = (name: (typeof members)[number]) => ({
      groupId,
      topics: [topic],
      onAssignment: async (assignment: ReadonlyMap<string, readonly number[]>) => {
        hookCalls++;
        // The first hook fails: nothing may be handled until a later call succeeds.
        if (hookCalls === 1) throw new Error('checkpoints not readable yet');
        // Slow on purpose: a consumer that did not wait would handle messages meanwhile.
        await sleep(700);
        events.get(name)?.push({ kind: 'assigned', partitions: [...(assignment.get(topic) ?? [])] });
      },
      handle: async (message: InboundMessage) => {
        events.get(name)?.push({ kind: 'message', partition: message.partition });
      },
    });

    let sent = 0;
    const produceSome = async (count: number) => {
      await p.send({
        topic,
        messages: Array.from({ length: count }, () => ({ key: `conn-${sent}`, value: `m${sent++}` })),
      });
    };
    await produceSome(40);
    const first = startConsumer(memberOptions('first'));
    await first.started;
    await until(
      () => (events.get('first') ?? []).filter((e) => e.kind === 'message').length >= 40,
      'the first 40',
    );

    const second = startConsumer(memberOptions('second'));
    const producing = (async () => {
      for (let i = 0; i < 20; i++) {
        await produceSome(5);
        await sleep(150);
      }
    })();
    await second.started;
    await producing;
    const messagesOf = (name: string) => (events.get(name) ?? []).filter((e) => e.kind === 'message').length;
    await until(() => messagesOf('first') + messagesOf('second') >= sent, 'every message');
    await until(
      () => first.consumer.status().joined && second.consumer.status().joined,
      'both members joined in one generation',
    );

    for (const name of members) {
      let assigned: number[] | null = null;
      for (const event of events.get(name) ?? []) {
        if (event.kind === 'assigned') assigned = event.partitions;
        else
          expect(
            assigned,
            `${name} handled partition ${event.partition} before its assignment hook`,
          ).toContain(event.partition);
      }
    }
    // The second member really took partitions over, so the hook ran for a rebalance too.
    expect(messagesOf('second')).toBeGreaterThan(0);
    expect((events.get('first') ?? []).filter((e) => e.kind === 'assigned').length).toBeGreaterThanOrEqual(2);
    expect(
      first
        .lines()
        .some((l) => l.msg === 'the assignment hook failed; no message is handled until it succeeds'),
    ).toBe(true);
  });
});
