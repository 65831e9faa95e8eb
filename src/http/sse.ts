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

export interface EventStreamOptions {
  readonly keepAliveMs: number;
  /**
   * Bytes the socket may hold unsent before the client counts as not reading and is
   * dropped: the kernel's buffers are full and the rest would pile up in this process.
   */
  readonly maxBufferedBytes: number;
  readonly onDropped?: () => void;
}

export const DEFAULT_SSE_MAX_BUFFERED_BYTES = 1024 * 1024;

export function openEventStream(
  request: FastifyRequest,
  reply: FastifyReply,
  options: EventStreamOptions,
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
  const listeners: Array<() => void> = [];
  let closed = false;
  const write = (chunk: string) => {
    if (closed) return;
    raw.write(chunk);
    if (raw.writableLength > options.maxBufferedBytes) {
      options.onDropped?.();
      close();
      raw.destroy();
    }
  };
  const keepAlive = setInterval(() => write(': keep-alive\n\n'), options.keepAliveMs);
  keepAlive.unref();
  const close = () => {
    if (closed) return;
    closed = true;
    clearInterval(keepAlive);
    for (const listener of listeners) listener();
  };
  request.raw.on('close', close);
  raw.on('close', close);
  write('retry: 3000\n: stream open\n\n');
  return {
    send(event, data) {
      write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
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

  constructor(private readonly options: EventStreamOptions) {}

  get size(): number {
    return this.open_.size;
  }

  open(request: FastifyRequest, reply: FastifyReply): EventStream {
    const stream = openEventStream(request, reply, this.options);
    this.open_.add(stream);
    stream.onClose(() => this.open_.delete(stream));
    return stream;
  }

  endAll(): void {
    for (const stream of [...this.open_]) stream.end();
  }
}
