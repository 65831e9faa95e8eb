import { afterEach, describe, expect, it } from 'vitest';
import { type HttpFixture, httpFixture } from './http-fixture.js';
import { InMemoryInspector } from './in-memory-inspector.js';

/** Reads a text/event-stream response frame by frame (frames end with a blank line). */
class EventStreamReader {
  private buffer = '';
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();

  constructor(body: ReadableStream<Uint8Array>) {
    this.reader = body.getReader();
  }

  /** The next frame, as its raw lines. */
  async nextFrame(): Promise<string[]> {
    for (;;) {
      const end = this.buffer.indexOf('\n\n');
      if (end >= 0) {
        const frame = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        return frame.split('\n');
      }
      const { value, done } = await this.reader.read();
      if (done) throw new Error('stream ended');
      this.buffer += this.decoder.decode(value, { stream: true });
    }
  }

  /** The next frame that is an event (skipping comments), parsed. */
  async nextEvent(): Promise<{ event: string; data: Record<string, unknown> }> {
    for (;;) {
      const lines = await this.nextFrame();
      const event = lines.find((l) => l.startsWith('event: '))?.slice(7);
      const data = lines.find((l) => l.startsWith('data: '))?.slice(6);
      if (event && data) return { event, data: JSON.parse(data) };
    }
  }

  async waitForComment(text: string): Promise<void> {
    for (;;) {
      const lines = await this.nextFrame();
      if (lines.includes(`: ${text}`)) return;
    }
  }
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
}

let fixture: HttpFixture | null = null;
afterEach(async () => {
  await fixture?.close();
  fixture = null;
});

async function listening(inspector: InMemoryInspector, env: Record<string, string> = {}) {
  fixture = await httpFixture({ inspector, sseKeepAliveMs: 50, env });
  const address = await fixture.app.listen({ host: '127.0.0.1', port: 0 });
  return address;
}

describe('server-sent events', () => {
  it('streams one connection: a snapshot, then each transition live, with keep-alive comments', async () => {
    const inspector = new InMemoryInspector();
    inspector.add('conn_a', 'idle');
    inspector.add('conn_b', 'idle');
    const base = await listening(inspector);
    const controller = new AbortController();
    const response = await fetch(`${base}/connections/conn_a/events`, { signal: controller.signal });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(response.headers.get('cache-control')).toContain('no-cache');
    if (!response.body) throw new Error('no body');
    const stream = new EventStreamReader(response.body);

    const snapshot = await stream.nextEvent();
    expect(snapshot.event).toBe('snapshot');
    expect(snapshot.data.connection).toMatchObject({ connectionId: 'conn_a', state: 'idle' });

    await until(() => inspector.listenerCount('conn_a') === 1);
    inspector.transition('conn_b', 'full-syncing', 'TRIGGER'); // another connection: not on this stream
    inspector.transition('conn_a', 'full-syncing', 'TRIGGER');
    const first = await stream.nextEvent();
    expect(first.event).toBe('transition');
    expect(first.data.transition).toMatchObject({ from: 'idle', to: 'full-syncing', event: 'TRIGGER' });
    expect(first.data.connection).toMatchObject({ connectionId: 'conn_a', state: 'full-syncing' });

    await stream.waitForComment('keep-alive');

    controller.abort();
    await until(() => inspector.listenerCount('conn_a') === 0);
  });

  it('streams every connection on /events, and unsubscribes when the client leaves', async () => {
    const inspector = new InMemoryInspector();
    inspector.add('conn_a', 'idle');
    inspector.add('conn_b', 'full-syncing');
    const base = await listening(inspector);
    const controller = new AbortController();
    const response = await fetch(`${base}/events`, { signal: controller.signal });
    if (!response.body) throw new Error('no body');
    const stream = new EventStreamReader(response.body);
    await until(() => inspector.listenerCount() === 1);

    inspector.transition('conn_b', 'idle', 'SYNC.DONE');
    inspector.transition('conn_a', 'incremental', 'WEBHOOK_CHANGE');
    const seen = [await stream.nextEvent(), await stream.nextEvent()].map((e) => [
      (e.data.connection as { connectionId: string }).connectionId,
      (e.data.transition as { to: string }).to,
    ]);
    expect(seen).toEqual([
      ['conn_b', 'idle'],
      ['conn_a', 'incremental'],
    ]);

    controller.abort();
    await until(() => inspector.listenerCount() === 0);
  });

  it('needs the token when one is configured, and closing the app ends open streams', async () => {
    const inspector = new InMemoryInspector();
    const base = await listening(inspector, { HTTP_AUTH_TOKEN: 'tok' });
    expect((await fetch(`${base}/events`)).status).toBe(401);
    const response = await fetch(`${base}/events`, { headers: { authorization: 'Bearer tok' } });
    expect(response.status).toBe(200);
    if (!response.body) throw new Error('no body');
    const stream = new EventStreamReader(response.body);
    await until(() => inspector.listenerCount() === 1);

    await fixture?.close();
    fixture = null;
    await expect(stream.nextEvent()).rejects.toThrow('stream ended');
    expect(inspector.listenerCount()).toBe(0);
  });
});
