import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * A server-sent-events stream on a hijacked reply. Comments every `keepAliveMs` keep
 * proxies and load balancers from closing an idle stream; `onClose` runs once, whether
 * the client went away or the server is shutting down.
 */
export interface EventStream {
  send(event: string, data: unknown): void;
  /** Ends the stream from the server side (shutdown). */
  end(): void;
  onClose(listener: () => void): void;
}

export function openEventStream(
  request: FastifyRequest,
  reply: FastifyReply,
  options: { keepAliveMs: number },
): EventStream {
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    // nginx buffers responses unless told not to; a buffered stream is not live.
    'x-accel-buffering': 'no',
  });
  raw.write('retry: 3000\n: stream open\n\n');
  const listeners: Array<() => void> = [];
  let closed = false;
  const keepAlive = setInterval(() => raw.write(': keep-alive\n\n'), options.keepAliveMs);
  keepAlive.unref();
  const close = () => {
    if (closed) return;
    closed = true;
    clearInterval(keepAlive);
    for (const listener of listeners) listener();
  };
  request.raw.on('close', close);
  raw.on('close', close);
  return {
    send(event, data) {
      if (closed) return;
      raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    end() {
      close();
      raw.end();
    },
    onClose(listener) {
      listeners.push(listener);
    },
  };
}

/** The open streams of one app, so shutdown can end them instead of waiting for clients to leave. */
export class EventStreams {
  private readonly open_ = new Set<EventStream>();

  constructor(private readonly keepAliveMs: number) {}

  get size(): number {
    return this.open_.size;
  }

  open(request: FastifyRequest, reply: FastifyReply): EventStream {
    const stream = openEventStream(request, reply, { keepAliveMs: this.keepAliveMs });
    this.open_.add(stream);
    stream.onClose(() => this.open_.delete(stream));
    return stream;
  }

  endAll(): void {
    for (const stream of [...this.open_]) stream.end();
  }
}
