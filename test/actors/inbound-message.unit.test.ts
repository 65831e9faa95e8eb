import { describe, expect, it } from 'vitest';
import { interpretInbound } from '../../src/actors/inbound-message.js';

const topics = { trigger: 'trig', webhook: 'hook' };
const buf = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));

const trigger = {
  message_id: '2c5ea4c0-4067-11e9-8bad-9b1deb4d3b7d',
  customer_id: 'cust_123',
  integration_id: 'google-drive',
  integration_connection_id: 'conn_abc',
  trigger_type: 'full_sync',
  last_cursor: { page_token: '12345', timestamp: '2025-01-20T10:00:00Z' },
  options: { include: ['permissions', 'revisions', 'comments'], drive_ids: [] },
};

const webhook = {
  message_id: 'm-2',
  integration_id: 'google-drive',
  integration_connection_id: 'conn_abc',
  customer_id: 'cust_123',
  received_at: '2025-01-20T10:00:01Z',
  headers: {
    'X-Goog-Channel-ID': 'chan-1',
    'x-goog-channel-token': 'tok',
    'x-goog-resource-state': 'change',
    'x-goog-message-number': '42',
  },
};

describe('interpretInbound', () => {
  it('accepts the contract example trigger', () => {
    const result = interpretInbound('trig', buf(trigger), 'google-drive', topics);
    expect(result).toMatchObject({
      kind: 'trigger',
      message: { trigger_type: 'full_sync', integration_connection_id: 'conn_abc' },
    });
  });

  it('accepts a webhook and lower-cases its header names', () => {
    const result = interpretInbound('hook', buf(webhook), 'google-drive', topics);
    expect(result.kind).toBe('webhook');
    if (result.kind === 'webhook') expect(result.message.headers['x-goog-channel-id']).toBe('chan-1');
  });

  it('skips other integrations before validating them', () => {
    expect(
      interpretInbound('trig', buf({ integration_id: 'slack', whatever: 1 }), 'google-drive', topics),
    ).toEqual({
      kind: 'skip',
      reason: 'other_integration',
    });
  });

  it('reports invalid JSON without ids', () => {
    expect(interpretInbound('trig', buf('{not json'), 'google-drive', topics)).toEqual({
      kind: 'invalid',
      envelope: {},
      problem: 'value is not valid JSON',
    });
  });

  it('reports a schema mismatch with the ids it could read and the fields at fault, not their values', () => {
    const bad = { ...trigger, trigger_type: 'explode', options: { include: ['secrets-ya29.abc'] } };
    const result = interpretInbound('trig', buf(bad), 'google-drive', topics);
    expect(result.kind).toBe('invalid');
    if (result.kind !== 'invalid') return;
    expect(result.envelope).toMatchObject({
      message_id: trigger.message_id,
      integration_connection_id: 'conn_abc',
    });
    expect(result.problem).toContain('trigger_type');
    expect(result.problem).toContain('options.include.0');
    expect(result.problem).not.toContain('ya29');
  });

  it.each([['[]'], ['42'], ['null'], ['"text"']])('treats %s as invalid', (value) => {
    expect(interpretInbound('trig', buf(value), 'google-drive', topics).kind).toBe('invalid');
  });

  it('skips tombstones', () => {
    expect(interpretInbound('hook', null, 'google-drive', topics)).toEqual({
      kind: 'skip',
      reason: 'tombstone',
    });
  });

  it('requires the channel id and resource state on webhooks', () => {
    const withoutChannel = { ...webhook, headers: { 'x-goog-resource-state': 'change' } };
    const result = interpretInbound('hook', buf(withoutChannel), 'google-drive', topics);
    expect(result).toMatchObject({ kind: 'invalid' });
    if (result.kind === 'invalid') expect(result.problem).toContain('x-goog-channel-id');
  });
});

describe('inbound bounds', () => {
  const invalid = (topic: string, value: unknown) => {
    const result = interpretInbound(topic, buf(value), 'google-drive', topics);
    if (result.kind !== 'invalid') throw new Error(`expected invalid, got ${result.kind}`);
    return result;
  };

  it.each([
    ['a 257-character connection id', { integration_connection_id: 'c'.repeat(257) }],
    ["the connection id '.'", { integration_connection_id: '.' }],
    ["the connection id '..'", { integration_connection_id: '..' }],
    ['a connection id with a space', { integration_connection_id: 'conn abc' }],
    ['a non-ASCII connection id', { integration_connection_id: 'conn_é' }],
    ['a lone surrogate in the connection id', { integration_connection_id: 'conn\ud800' }],
    ['a lone surrogate in the customer id', { customer_id: 'cust\udc00' }],
    ['a control character in the message id', { message_id: 'm\u0000' }],
    ['a 257-character message id', { message_id: 'm'.repeat(257) }],
    ['a 257-character customer id', { customer_id: 'c'.repeat(257) }],
    ['17 include kinds', { options: { include: Array(17).fill('permissions') } }],
    ['101 drive ids', { options: { drive_ids: Array.from({ length: 101 }, (_, i) => `d${i}`) } }],
    ['a 257-character drive id', { options: { drive_ids: ['d'.repeat(257)] } }],
    ['a 5,000-character page token', { last_cursor: { page_token: 'p'.repeat(5000) } }],
  ])('refuses a trigger with %s', (_name, override) => {
    expect(interpretInbound('trig', buf({ ...trigger, ...override }), 'google-drive', topics).kind).toBe(
      'invalid',
    );
  });

  it('accepts ids at the bounds', () => {
    const atBounds = {
      ...trigger,
      integration_connection_id: `${'c'.repeat(255)}~`,
      message_id: 'm'.repeat(256),
      customer_id: 'ü'.repeat(256),
      options: {
        include: Array(16).fill('comments'),
        drive_ids: Array.from({ length: 100 }, (_, i) => `d${i}`),
      },
    };
    expect(interpretInbound('trig', buf(atBounds), 'google-drive', topics).kind).toBe('trigger');
    expect(
      interpretInbound('trig', buf({ ...trigger, integration_connection_id: '...' }), 'google-drive', topics)
        .kind,
    ).toBe('trigger');
  });

  it.each([
    ['a 65-character header name', { [`x-goog-${'n'.repeat(58)}`]: 'v' }],
    ['a 4,097-character header value', { 'x-goog-resource-uri': 'u'.repeat(4097) }],
    ['65 headers', Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`x-h-${i}`, 'v']))],
  ])('refuses a webhook with %s', (_name, headers) => {
    expect(invalid('hook', { ...webhook, headers: { ...webhook.headers, ...headers } }).problem).toContain(
      'headers',
    );
  });

  it('quotes a 2 MB connection id and a 4 MB message id cut to 64 characters with their length', () => {
    const huge = {
      ...trigger,
      integration_connection_id: 'k'.repeat(2 * 1024 * 1024),
      message_id: 'm'.repeat(4 * 1024 * 1024),
      customer_id: `${'c'.repeat(70)}\u0000`,
    };
    const result = invalid('trig', huge);
    expect(result.envelope.integration_connection_id).toBe(`${'k'.repeat(64)}…(2097152 chars)`);
    expect(result.envelope.message_id).toBe(`${'m'.repeat(64)}…(4194304 chars)`);
    expect(result.envelope.customer_id).toBe(`${'c'.repeat(64)}…(71 chars)`);
    expect(result.problem).toContain('integration_connection_id');
    expect(result.problem).toContain('(2097152 chars)');
    expect(result.problem.length).toBeLessThan(1200);
  });

  it('quotes an id within the bounds whole, so the error record stays with its connection', () => {
    const id = `conn_${'x'.repeat(200)}`;
    const result = invalid('trig', { ...trigger, integration_connection_id: id, trigger_type: 'nope' });
    expect(result.envelope.integration_connection_id).toBe(id);
  });

  it('escapes controls and lone surrogates it quotes', () => {
    const result = invalid('trig', { ...trigger, integration_connection_id: 'a\u0001b\ud800' });
    expect(result.envelope.integration_connection_id).toBe('a\\u0001b\\ud800…(4 chars)');
  });

  it('quotes a 4 MB field name cut, with its length', () => {
    const key = `x-goog-${'z'.repeat(4 * 1024 * 1024)}`;
    const result = invalid('hook', { ...webhook, headers: { ...webhook.headers, [key]: 'v' } });
    expect(result.problem.length).toBeLessThan(1200);
    expect(result.problem).toContain(`(${key.length} chars)`);
  });
});
