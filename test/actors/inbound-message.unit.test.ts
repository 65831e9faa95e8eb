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
