import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { channelTokenFor } from '../../src/contract/channel-token.js';
import { type HttpFixture, httpFixture } from './http-fixture.js';
import { InMemoryInspector } from './in-memory-inspector.js';

/**
 * Clients that hold the server's resources by being slow, on real sockets (inject has no
 * sockets, so no timeouts and no backpressure).
 */

let fixture: HttpFixture | null = null;
let socket: Socket | null = null;
afterEach(async () => {
  socket?.destroy();
  socket = null;
  await fixture?.close();
  fixture = null;
});

async function open(port: number): Promise<Socket> {
  const opened = connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    opened.once('connect', resolve);
    opened.once('error', reject);
  });
  return opened;
}

/** Everything the server sent until it closed the connection. */
function answerOf(client: Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    client.on('data', (chunk) => {
      text += String(chunk);
    });
    client.on('close', () => resolve(text));
    client.on('error', () => undefined);
  });
}

function portOf(app: HttpFixture['app']): number {
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('not listening');
  return address.port;
}

describe('slow clients', () => {
  it('answers 408 to a body trickling at 100 B/s once the request timeout has passed, and produces nothing', async () => {
    const secret = 'slow-secret';
    fixture = await httpFixture({
      env: {
        HTTP_WEBHOOK_INGRESS: 'true',
        GDRIVE_CHANNEL_TOKEN_SECRET: secret,
        HTTP_REQUEST_TIMEOUT_SECONDS: '1',
      },
    });
    await fixture.app.listen({ host: '127.0.0.1', port: 0 });
    const client = await open(portOf(fixture.app));
    socket = client;
    const answer = answerOf(client);
    client.write(
      [
        'POST /webhooks/google-drive/conn_abc HTTP/1.1',
        'host: localhost',
        'x-goog-channel-id: chan-1',
        `x-goog-channel-token: ${channelTokenFor(secret, 'conn_abc', 'chan-1')}`,
        'x-goog-resource-state: change',
        'x-goog-message-number: 2',
        'content-length: 60000',
        '',
        '',
      ].join('\r\n'),
    );
    // 10 bytes every 100 ms: 100 B/s, a body that would take 10 minutes.
    const trickle = setInterval(() => {
      if (!client.destroyed) client.write('x'.repeat(10));
    }, 100);
    try {
      expect(await answer).toMatch(/^HTTP\/1\.1 408/);
    } finally {
      clearInterval(trickle);
    }
    expect(fixture.sink.sent).toEqual([]);
  });

  it('drops an event-stream client that stops reading once its unsent buffer passes the bound, and counts it', async () => {
    const inspector = new InMemoryInspector();
    inspector.add('conn_a', 'idle');
    fixture = await httpFixture({ inspector, sseMaxBufferedBytes: 64 * 1024 });
    await fixture.app.listen({ host: '127.0.0.1', port: 0 });
    const client = await open(portOf(fixture.app));
    socket = client;
    const closed = answerOf(client);
    client.write('GET /events HTTP/1.1\r\nhost: localhost\r\n\r\n');
    // Wait for the stream's head, then never read again.
    await new Promise<void>((resolve) => client.once('data', () => resolve()));
    client.pause();
    const dropped = async () => (await fixture?.metrics.sseClientsDropped.get())?.values[0]?.value ?? 0;
    // Each transition is about 1 KB on the wire; the kernel's buffers fill first, then Node's.
    const bulky = { cursor: 'c'.repeat(800) };
    let sent = 0;
    while ((await dropped()) === 0 && sent < 200_000) {
      for (let i = 0; i < 500; i++)
        inspector.transition('conn_a', sent++ % 2 ? 'idle' : 'full-syncing', 'E', bulky);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(await dropped()).toBe(1);
    client.resume();
    await closed;
    // The dropped stream let go of its subscription.
    expect(inspector.listenerCount()).toBe(0);
  });
});
