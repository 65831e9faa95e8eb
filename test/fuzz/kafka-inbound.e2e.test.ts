import type { Message } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricPrefix } from '../../src/http/metrics.js';
import { createLogger } from '../../src/logger.js';
import { type RunningService, startService } from '../../src/service.js';
import { sample } from '../support/exposition.js';
import { fuzzCount, fuzzSeed, nastyString, seededRandom } from '../support/seeded-random.js';
import { until } from '../support/until.js';
import { PARTITIONS, WorkerWorld } from '../support/worker-world.js';

/**
 * Random bytes, random JSON and structure-aware mutations of valid trigger and webhook
 * messages, produced through the real broker onto both inbound topics of a running worker.
 * Each message's outcome is decided by the generator (the contract's rules), never read
 * back from the worker: `invalid` is one `invalid_input` record quoting its offset,
 * `unknown` one `auth/unknown_connection` record for its (never known) connection,
 * `skipped` and `ignored` no error record but a count in the metrics. After the run the
 * worker is live, its group has no lag on either topic, and its memory stayed bounded.
 */

const seed = fuzzSeed('Kafka', 1415);
const count = fuzzCount(300);
const random = seededRandom(seed);
const { int, pick } = random;
const chance = (p: number) => random.next() < p;

const INTEGRATION = 'google-drive';
/**
 * What this process (worker, test clients, the reader's copy of every error record) may grow
 * to. Measured: heap +26 MB and RSS 261 MB after 300 messages; heap +5 MB and RSS 392 MB
 * after 3,000 (RSS keeps the peak of the largest values in flight).
 */
const HEAP_GROWTH_BOUND = 64 * 1024 * 1024 + count * 8 * 1024;
const RSS_BOUND = 768 * 1024 * 1024 + count * 32 * 1024;

type Role = 'trigger' | 'webhook';
type Outcome =
  | { readonly kind: 'invalid' }
  | { readonly kind: 'unknown'; readonly connectionId: string }
  /** A valid disconnect of a connection nobody knows: handled, nothing to report. */
  | { readonly kind: 'handled' }
  | { readonly kind: 'skipped' }
  /** A webhook for a connection the worker does not know: skipped and counted as ignored. */
  | { readonly kind: 'ignored' };

interface Planned {
  readonly role: Role;
  readonly what: string;
  readonly outcome: Outcome;
  readonly message: Message;
}

let serial = 0;
/** A connection id no one knows and no other message uses (one outcome per id). */
const freshConnection = () => `fz_${seed}_${serial++}`;
const freshMessageId = () => `fzm_${seed}_${serial++}`;

function hugeString(): string {
  return pick(['k', 'é', '0']).repeat(257 + int(pick([2_000, 50_000, 300_000])));
}

/** A string that breaks an id's bounds: too long, empty, controls, lone surrogates, dots, non-ASCII. */
function badId(forConnection: boolean): string {
  switch (int(forConnection ? 8 : 5)) {
    case 0:
      return hugeString();
    case 1:
      return '';
    case 2:
      return `id_${String.fromCharCode(int(0x20))}_${int(100)}`;
    case 3:
      return `id_${pick(['\uD800', '\uDFFF', '\uDBFF'])}`;
    case 4:
      return `id_${'\u0085'}`;
    case 5:
      return pick(['.', '..']);
    case 6:
      return `conn é ${int(100)}`;
    default:
      return 'c'.repeat(257);
  }
}

function wrongType(): unknown {
  return pick([42, true, null, [], {}, ['x'], { id: 'x' }, 1.5e300]);
}

function validTrigger(connectionId: string): Record<string, unknown> {
  return {
    message_id: freshMessageId(),
    customer_id: `cust_${int(1_000)}`,
    integration_id: INTEGRATION,
    integration_connection_id: connectionId,
    trigger_type: pick(['full_sync', 'incremental', 'poll', 'disconnect']),
    ...(chance(0.3) ? { last_cursor: chance(0.5) ? null : { page_token: String(1 + int(1e6)) } } : {}),
    ...(chance(0.3)
      ? { options: { include: ['permissions', 'content'], ...(chance(0.5) ? { drive_ids: ['d1'] } : {}) } }
      : {}),
  };
}

function validWebhook(connectionId: string): Record<string, unknown> {
  const headers: Record<string, string> = {
    'x-goog-channel-id': `ch_${int(1e6)}`,
    'x-goog-resource-state': pick(['sync', 'change', 'update']),
    'x-goog-message-number': String(int(1e6)),
  };
  if (chance(0.5))
    headers['x-goog-channel-token'] = nastyString(random)
      .replace(/[\uD800-\uDFFF]/g, '?')
      .slice(0, 4096);
  if (chance(0.5)) headers['x-goog-resource-id'] = `res_${int(1e6)}`;
  return {
    message_id: freshMessageId(),
    integration_id: INTEGRATION,
    integration_connection_id: connectionId,
    customer_id: `cust_${int(1_000)}`,
    ...(chance(0.5) ? { received_at: new Date(0).toISOString() } : {}),
    headers: chance(0.3)
      ? Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toUpperCase(), v]))
      : headers,
  };
}

/** What a valid message of the role does for its (never known) connection. */
function validOutcome(role: Role, value: Record<string, unknown>): Outcome {
  if (role === 'webhook') return { kind: 'ignored' };
  if (value.trigger_type === 'disconnect') return { kind: 'handled' };
  return { kind: 'unknown', connectionId: String(value.integration_connection_id) };
}

const invalid: Outcome = { kind: 'invalid' };
const TRIGGER_FIELDS = [
  'message_id',
  'customer_id',
  'integration_id',
  'integration_connection_id',
  'trigger_type',
];
const WEBHOOK_FIELDS = [
  'message_id',
  'customer_id',
  'integration_id',
  'integration_connection_id',
  'headers',
];
const ID_FIELDS = ['message_id', 'customer_id', 'integration_connection_id'];

/** One structure-aware mutation of a valid message, and what the contract makes of it. */
function mutate(role: Role): {
  what: string;
  value: Record<string, unknown> | string | Buffer;
  outcome: Outcome;
} {
  const value = role === 'trigger' ? validTrigger(freshConnection()) : validWebhook(freshConnection());
  const fields = role === 'trigger' ? TRIGGER_FIELDS : WEBHOOK_FIELDS;
  switch (int(12)) {
    case 0: {
      const field = pick(fields);
      value[field] = wrongType();
      return { what: `${field} of a wrong type`, value, outcome: invalid };
    }
    case 1: {
      const field = pick(fields);
      delete value[field];
      return { what: `no ${field}`, value, outcome: invalid };
    }
    case 2: {
      // Unknown fields are dropped by the schema: the message stays valid.
      value[`extra_${int(100)}`] = chance(0.5) ? nastyString(random) : { deep: [wrongType()] };
      return { what: 'an extra field', value, outcome: validOutcome(role, value) };
    }
    case 3: {
      const field = pick(ID_FIELDS);
      value[field] = badId(field === 'integration_connection_id');
      return { what: `a bad ${field}`, value, outcome: invalid };
    }
    case 4: {
      // The bound itself is inside: 256 printable ASCII characters.
      const id = `fz${serial++}_`.padEnd(256, 'z');
      value.integration_connection_id = id;
      return { what: 'a 256-character connection id', value, outcome: validOutcome(role, value) };
    }
    case 5:
      value.integration_id = pick(['other-integration', 'google-drive ', 'GOOGLE-DRIVE']);
      return { what: 'another integration', value, outcome: { kind: 'skipped' } };
    case 6:
      if (role === 'trigger') {
        value.trigger_type = pick(['FULL_SYNC', 'sync', '', 'disconnect\u0000']);
        return { what: 'an unknown trigger_type', value, outcome: invalid };
      }
      value.headers = pick([null, 'x-goog-channel-id: a', [], {}]);
      return { what: 'headers not an object of the two required', value, outcome: invalid };
    case 7:
      if (role === 'trigger') {
        value.options = pick([
          { include: Array.from({ length: 17 }, () => 'permissions') },
          { drive_ids: Array.from({ length: 101 }, (_, i) => `d${i}`) },
          { include: ['everything'] },
          { drive_ids: [hugeString()] },
          'all',
        ]);
        return { what: 'options out of bounds', value, outcome: invalid };
      }
      {
        const headers = { ...(value.headers as Record<string, string>) };
        switch (int(4)) {
          case 0:
            for (let i = 0; i < 65; i++) headers[`x-extra-${i}`] = 'v';
            break;
          case 1:
            headers['x'.repeat(65)] = 'v';
            break;
          case 2:
            headers['x-goog-resource-uri'] = 'u'.repeat(4097 + int(100_000));
            break;
          default:
            headers['x-goog-channel-token'] = `t${'\uDC00'}`;
        }
        value.headers = headers;
        return { what: 'headers out of bounds', value, outcome: invalid };
      }
    case 8:
      if (role === 'trigger') {
        value.last_cursor = pick([
          { page_token: '' },
          { page_token: 'p'.repeat(4097) },
          { page_token: 7 },
          'tok',
        ]);
        return { what: 'a bad last_cursor', value, outcome: invalid };
      }
      value.received_at = pick(['r'.repeat(65), 12, `a${'\uD83D'}`]);
      return { what: 'a bad received_at', value, outcome: invalid };
    case 9: {
      // Bytes that are not UTF-8 in the connection id: decoded to U+FFFD, which no connection id holds.
      const [head, tail] = JSON.stringify(value).split(JSON.stringify(value.integration_connection_id));
      return {
        what: 'non-UTF-8 bytes in the connection id',
        value: Buffer.concat([Buffer.from(`${head}"fz`), Buffer.from([0xff, 0xfe]), Buffer.from(`"${tail}`)]),
        outcome: invalid,
      };
    }
    case 10:
      return { what: 'truncated JSON', value: JSON.stringify(value).slice(0, 1 + int(40)), outcome: invalid };
    default:
      return { what: 'valid', value, outcome: validOutcome(role, value) };
  }
}

function randomBytes(length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = int(256);
  // A leading `{`-free byte: random bytes are never a JSON object.
  if (length > 0 && (bytes[0] === 0x7b || bytes[0] === 0x20)) bytes[0] = 0x00;
  return bytes;
}

function randomJson(depth = 0): unknown {
  switch (int(depth > 2 ? 4 : 6)) {
    case 0:
      return int(1e9) - 5e8;
    case 1:
      return nastyString(random);
    case 2:
      return null;
    case 3:
      return chance(0.5);
    case 4:
      return Array.from({ length: int(5) }, () => randomJson(depth + 1));
    default:
      // Keys never one of the envelope's ids: such an object is never another integration's.
      return Object.fromEntries(
        Array.from({ length: int(5) }, () => [
          `k_${nastyString(random).slice(0, 40)}`,
          randomJson(depth + 1),
        ]),
      );
  }
}

function randomKey(connectionId: string | null): Message['key'] {
  switch (int(6)) {
    case 0:
      return null;
    case 1:
      return randomBytes(int(64));
    case 2:
      return 'k'.repeat(1 + int(200_000));
    case 3:
      return nastyString(random);
    default:
      return connectionId;
  }
}

function randomHeaders(): Message['headers'] | undefined {
  if (chance(0.7)) return undefined;
  const headers: Record<string, Buffer | string> = {};
  for (let i = int(20); i > 0; i--) {
    headers[pick([`h${i}`, nastyString(random).slice(0, 200) || 'e', 'correlation-id', 'worker-id'])] = pick([
      randomBytes(int(100)),
      'v'.repeat(int(20_000)),
      nastyString(random),
    ]);
  }
  return headers;
}

function plan(): Planned {
  const role: Role = chance(0.5) ? 'trigger' : 'webhook';
  const shape = int(10);
  let what: string;
  let outcome: Outcome;
  let value: Buffer | string | null;
  let connectionId: string | null = null;
  if (shape === 0) {
    what = 'random bytes';
    value = randomBytes(int(2_000));
    outcome = invalid;
  } else if (shape === 1) {
    what = 'random JSON';
    const json = randomJson();
    value = JSON.stringify(json);
    outcome = invalid;
  } else if (shape === 2) {
    what = 'no value';
    value = null;
    outcome = { kind: 'skipped' };
  } else {
    const mutation = mutate(role);
    what = mutation.what;
    outcome = mutation.outcome;
    const mutated = mutation.value;
    value = typeof mutated === 'string' || Buffer.isBuffer(mutated) ? mutated : JSON.stringify(mutated);
    if (typeof mutated !== 'string' && !Buffer.isBuffer(mutated)) {
      const id = mutated.integration_connection_id;
      connectionId = typeof id === 'string' ? id : null;
    }
  }
  const headers = randomHeaders();
  return {
    role,
    what,
    outcome,
    message: {
      key: randomKey(connectionId),
      value,
      partition: int(PARTITIONS),
      ...(headers ? { headers } : {}),
    },
  };
}

interface Sent {
  readonly role: Role;
  readonly what: string;
  readonly outcome: Outcome;
  readonly partition: number;
  readonly offset: string;
}

/** Produces in small batches; offsets follow from each partition's base offset and the batch order. */
async function produceAll(world: WorkerWorld, planned: readonly Planned[]): Promise<Sent[]> {
  const sent: Sent[] = [];
  const batch = 10;
  for (let start = 0; start < planned.length; start += batch) {
    const chunk = planned.slice(start, start + batch);
    for (const role of ['trigger', 'webhook'] as const) {
      const ofRole = chunk.filter((p) => p.role === role);
      if (ofRole.length === 0) continue;
      const metadata = await world.produce(
        role,
        ofRole.map((p) => p.message),
      );
      const next = new Map(metadata.map((m) => [m.partition, BigInt(m.baseOffset ?? '0')]));
      for (const p of ofRole) {
        const partition = p.message.partition ?? 0;
        const offset = next.get(partition);
        if (offset === undefined) throw new Error(`no offset for partition ${partition}`);
        next.set(partition, offset + 1n);
        sent.push({ role, what: p.what, outcome: p.outcome, partition, offset: String(offset) });
      }
    }
  }
  return sent;
}

describe(`Kafka inbound fuzz (seed ${seed}, ${count} messages)`, () => {
  let world: WorkerWorld;
  let service: RunningService;

  beforeAll(async () => {
    world = await WorkerWorld.start({ files: 3, users: 1, sharedDrives: 0, sharedDriveMembers: 0 }, 15);
    await world.allowInboundValues(16 * 1024 * 1024);
    service = await startService({
      config: world.config({ HTTP_HOST: '127.0.0.1', HTTP_PORT: '0' }),
      logger: createLogger({ level: 'silent', format: 'json' }),
    });
    await until(async () => (await fetch(`${service.url}/health/ready`)).status === 200, 'ready', 90_000);
  });

  afterAll(async () => {
    await service?.stop();
    await world?.stop();
  });

  it(
    'gives every message its one error record or counted skip, stays live, leaves no lag and bounded memory',
    async () => {
      const replay = `replay with FUZZ_SEED=${seed} FUZZ_COUNT=${count}`;
      const metrics = async () => (await fetch(`${service.url}/metrics`)).text();
      const processed = (exposition: string, role: Role, outcome: string) =>
        sample(
          exposition,
          `${metricPrefix}messages_processed_total{topic="${world.topics[role]}",outcome="${outcome}"}`,
        ) ?? 0;
      const memoryBefore = process.memoryUsage();

      const started = Date.now();
      const sent = await produceAll(
        world,
        Array.from({ length: count }, () => plan()),
      );
      // Everything consumed and committed: the group's lag is 0 on both topics.
      await until(
        async () => (await world.inboundLag()) === 0,
        'no lag on the inbound topics',
        60_000 + count * 50,
        250,
      );
      const expected = (role: Role, kinds: ReadonlyArray<Outcome['kind']>) =>
        sent.filter((s) => s.role === role && kinds.includes(s.outcome.kind)).length;
      const unknown = sent.flatMap((s) => (s.outcome.kind === 'unknown' ? [s.outcome.connectionId] : []));
      const invalidAt = new Map(
        sent
          .filter((s) => s.outcome.kind === 'invalid')
          .map((s) => [`${world.topics[s.role]}/${s.partition}/${s.offset}`, s]),
      );
      await world.reader.waitFor(
        `${invalidAt.size} invalid_input and ${unknown.length} unknown_connection records`,
        () => world.errors().length >= invalidAt.size + unknown.length,
        60_000 + count * 50,
      );

      const errors = world.errors();
      // Invalid messages: one invalid_input record each, naming its offset, and no other.
      const invalidRecords = errors.filter((e) => e.error.classification === 'invalid_input');
      const byOffset = new Map<string, number>();
      for (const e of invalidRecords) {
        const at = `${e.source?.topic}/${e.source?.partition}/${e.source?.offset}`;
        byOffset.set(at, (byOffset.get(at) ?? 0) + 1);
      }
      const other = errors.filter(
        (e) => e.error.classification !== 'invalid_input' && e.error.code !== 'unknown_connection',
      );
      expect(
        other.map((e) => `${e.error.classification}/${e.error.code}: ${e.error.message}`),
        replay,
      ).toEqual([]);
      const missing = [...invalidAt]
        .filter(([at]) => byOffset.get(at) !== 1)
        .map(([at, s]) => `${at} ${s.what} → ${byOffset.get(at) ?? 0}`);
      expect(missing, replay).toEqual([]);
      expect(invalidRecords, replay).toHaveLength(invalidAt.size);
      // Unknown connections: one auth/unknown_connection record each, and nothing else.
      const unknownRecords = errors.filter((e) => e.error.code === 'unknown_connection');
      expect(unknownRecords.map((e) => e.integration_connection_id).sort(), replay).toEqual(
        [...unknown].sort(),
      );
      expect(errors.length, replay).toBe(invalidAt.size + unknown.length);
      // Every error record small, whatever the message carried.
      for (const m of world.reader.all(world.topics.errors)) {
        expect((m.value ?? '').length, replay).toBeLessThan(4_096);
        expect((m.key ?? '').length, replay).toBeLessThanOrEqual(256);
      }

      // Skips are counted, per topic and outcome, exactly as the generator planned.
      const exposition = await metrics();
      for (const role of ['trigger', 'webhook'] as const) {
        expect(processed(exposition, role, 'invalid'), `${role} invalid; ${replay}`).toBe(
          expected(role, ['invalid']),
        );
        expect(processed(exposition, role, 'skipped'), `${role} skipped; ${replay}`).toBe(
          expected(role, ['skipped', 'ignored']),
        );
        expect(processed(exposition, role, 'handled'), `${role} handled; ${replay}`).toBe(
          expected(role, ['unknown', 'handled']),
        );
      }
      expect(
        sample(exposition, `${metricPrefix}webhooks_ignored_total{reason="unknown_connection"}`) ?? 0,
        replay,
      ).toBe(expected('webhook', ['ignored']));

      // Alive, no lag, memory bounded.
      expect((await fetch(`${service.url}/health/live`)).status).toBe(200);
      expect(await world.inboundLag()).toBe(0);
      await until(() => service.worker.supervisor.residentCount === 0, 'no resident actor', 60_000).catch(
        (error: unknown) => {
          console.log(JSON.stringify(service.worker.supervisor.list().slice(0, 5)));
          throw error;
        },
      );
      const memoryAfter = process.memoryUsage();
      console.log(
        `Kafka fuzz: ${sent.length} messages in ${Date.now() - started} ms; heap ${mb(memoryBefore.heapUsed)} → ${mb(memoryAfter.heapUsed)} MB, rss ${mb(memoryBefore.rss)} → ${mb(memoryAfter.rss)} MB`,
      );
      expect(memoryAfter.heapUsed - memoryBefore.heapUsed, replay).toBeLessThan(HEAP_GROWTH_BOUND);
      expect(memoryAfter.rss, replay).toBeLessThan(RSS_BOUND);
    },
    120_000 + count * 200,
  );
});

const mb = (bytes: number) => Math.round(bytes / 1024 / 1024);
