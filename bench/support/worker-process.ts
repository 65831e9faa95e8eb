/**
 * The real worker (`startWorker`, configuration from `loadConfig`) in a child process of its
 * own, started with `--expose-gc`, so that its heap holds the worker and nothing of the
 * bench (broker clients, followers, samples) and can be measured after a full collection.
 *
 * The parent talks to it over IPC: the child reports `ready` once the worker's first
 * assignment is restored (with the worker's own `checkpoints.restored` figures), answers
 * `memory` with its heap after GC and the supervisor's counts, and relays the worker's
 * instrumentation events that mark an activation (`message.received`, `connection.activated`,
 * `sync.started`, `sync.finished`, `drive.call`), each stamped with `process.hrtime`, which reads the
 * system's monotonic clock: the parent's stamps and the child's are on one time line.
 *
 * The child is this very file run with `--serve`.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

const restoredSchema = z.object({
  partitions: z.number(),
  started: z.number(),
  sleeping: z.number(),
  durationMs: z.number(),
});
export type RestoredFigures = z.infer<typeof restoredSchema>;

const memorySchema = z.object({
  heapUsed: z.number(),
  external: z.number(),
  arrayBuffers: z.number(),
  rss: z.number(),
  resident: z.number(),
  sleeping: z.number(),
});
export type WorkerMemory = z.infer<typeof memorySchema>;

const eventSchema = z.object({
  name: z.enum(['message.received', 'connection.activated', 'sync.started', 'sync.finished', 'drive.call']),
  connectionId: z.string().nullable(),
  detail: z.string().nullable(),
  /** process.hrtime.bigint() in the child, as nanoseconds in a string. */
  atNs: z.string(),
});
export type WorkerEvent = z.infer<typeof eventSchema>;

const fromChild = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('ready'),
    restored: restoredSchema,
    startMs: z.number(),
    startCpuMs: z.number(),
  }),
  z.object({ type: z.literal('memory'), memory: memorySchema }),
  z.object({ type: z.literal('event'), event: eventSchema }),
  z.object({ type: z.literal('failed'), message: z.string() }),
]);

export interface WorkerProcess {
  /** The figures of the worker's first assignment, and the time from `startWorker` to it. */
  readonly restored: RestoredFigures;
  readonly startMs: number;
  /** CPU time (user + system) the process spent from `startWorker` to ready. */
  readonly startCpuMs: number;
  /** Heap after full collections, and how many connections are resident or asleep. */
  memory(): Promise<WorkerMemory>;
  /** Called with every relayed event from now on. */
  onEvent(listener: (event: WorkerEvent) => void): void;
  stop(): Promise<void>;
}

/** Starts a worker child over `env` (the worker's variables) and waits for its first assignment's restore. */
export async function startWorkerProcess(env: Readonly<Record<string, string>>): Promise<WorkerProcess> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve'], {
    execArgv: [...process.execArgv, '--expose-gc'],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const listeners: Array<(event: WorkerEvent) => void> = [];
  const memoryWaiters: Array<(memory: WorkerMemory) => void> = [];
  const ready = new Promise<{ restored: RestoredFigures; startMs: number; startCpuMs: number }>(
    (resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) =>
        reject(new Error(`the worker process exited (${code}) before it was ready`)),
      );
      child.on('message', (raw: unknown) => {
        const message = fromChild.parse(raw);
        if (message.type === 'ready')
          resolve({ restored: message.restored, startMs: message.startMs, startCpuMs: message.startCpuMs });
        else if (message.type === 'failed')
          reject(new Error(`the worker process failed: ${message.message}`));
        else if (message.type === 'memory') memoryWaiters.shift()?.(message.memory);
        else for (const listener of listeners) listener(message.event);
      });
    },
  );
  const { restored, startMs, startCpuMs } = await ready;
  child.removeAllListeners('exit');
  return {
    restored,
    startMs,
    startCpuMs,
    memory: () =>
      new Promise((resolve) => {
        memoryWaiters.push(resolve);
        child.send('memory');
      }),
    onEvent: (listener) => listeners.push(listener),
    stop: () => stopChild(child),
  };
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null) return resolve();
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', () => {
      clearTimeout(killer);
      resolve();
    });
    child.send('stop');
  });
}

async function serve(): Promise<void> {
  const { loadConfig } = await import('../../src/config.js');
  const { subscribe } = await import('../../src/instrumentation.js');
  const { createLogger } = await import('../../src/logger.js');
  const { startWorker } = await import('../../src/worker.js');
  const send = (message: z.infer<typeof fromChild>) => process.send?.(message);
  const stamp = () => process.hrtime.bigint().toString();

  let restored: RestoredFigures | null = null;
  const onRestored = subscribe('checkpoints.restored', (figures) => {
    restored ??= figures;
  });
  subscribe('message.received', ({ topic }) =>
    send({
      type: 'event',
      event: { name: 'message.received', connectionId: null, detail: topic, atNs: stamp() },
    }),
  );
  subscribe('connection.activated', ({ connectionId, from }) =>
    send({
      type: 'event',
      event: { name: 'connection.activated', connectionId, detail: from, atNs: stamp() },
    }),
  );
  subscribe('sync.started', ({ connectionId, mode }) =>
    send({ type: 'event', event: { name: 'sync.started', connectionId, detail: mode, atNs: stamp() } }),
  );
  subscribe('sync.finished', ({ connectionId, outcome }) =>
    send({ type: 'event', event: { name: 'sync.finished', connectionId, detail: outcome, atNs: stamp() } }),
  );
  subscribe('drive.call', ({ method }) =>
    send({ type: 'event', event: { name: 'drive.call', connectionId: null, detail: method, atNs: stamp() } }),
  );

  const config = loadConfig(process.env);
  const began = performance.now();
  const cpuBefore = process.cpuUsage();
  const worker = await startWorker({ config, logger: createLogger({ level: 'silent', format: 'json' }) });
  while (!worker.readiness.every((check) => check.check().ok) || restored === null) await sleep(20);
  onRestored();
  const cpu = process.cpuUsage(cpuBefore);
  send({
    type: 'ready',
    restored,
    startMs: performance.now() - began,
    startCpuMs: (cpu.user + cpu.system) / 1000,
  });

  process.on('message', (message: unknown) => {
    if (message === 'memory') {
      for (let i = 0; i < 4; i++) globalThis.gc?.();
      const usage = process.memoryUsage();
      send({
        type: 'memory',
        memory: {
          heapUsed: usage.heapUsed,
          external: usage.external,
          arrayBuffers: usage.arrayBuffers,
          rss: usage.rss,
          resident: worker.supervisor.residentCount,
          sleeping: worker.supervisor.sleepingCount,
        },
      });
    } else if (message === 'stop') {
      void worker.stop().finally(() => process.exit(0));
    }
  });
  process.on('disconnect', () => {
    void worker.stop().finally(() => process.exit(0));
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

if (process.argv.includes('--serve') && fileURLToPath(import.meta.url) === process.argv[1]) {
  serve().catch((error: unknown) => {
    process.send?.({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
    process.exit(1);
  });
}
