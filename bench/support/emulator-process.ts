/**
 * The Drive emulator in a child process, so that its CPU is not the measured process's
 * (on 2 cores the separation is as good as the OS scheduler makes it). Everything after the
 * start goes through the emulator's admin API over HTTP (`EmulatorAdminClient`): corpus,
 * quota, latency, counters, channels.
 *
 * The child is this very file run with `--serve`; it starts an empty emulator (the parent
 * generates each scenario's corpus through `POST /_emulator/corpus`) and reports its URL
 * and, on request, its CPU time.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { EmulatorAdminClient } from '../../src/emulator/admin-client.js';
import { startDriveEmulator } from '../../src/emulator/index.js';

const readyMessage = z.object({ type: z.literal('ready'), url: z.string() });
const usageMessage = z.object({ type: z.literal('usage'), cpuMicros: z.number(), rssBytes: z.number() });

export interface EmulatorProcess {
  readonly url: string;
  readonly admin: EmulatorAdminClient;
  /** CPU time (user + system) the emulator process has used so far, and its RSS. */
  usage(): Promise<{ cpuSeconds: number; rssBytes: number }>;
  stop(): Promise<void>;
}

export async function startEmulatorProcess(): Promise<EmulatorProcess> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve'], {
    execArgv: process.execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = await new Promise<z.infer<typeof readyMessage>>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) =>
      reject(new Error(`the emulator process exited (${code}) before it was ready`)),
    );
    child.once('message', (message: unknown) => resolve(readyMessage.parse(message)));
  });
  child.removeAllListeners('exit');
  return {
    url: ready.url,
    admin: new EmulatorAdminClient(ready.url),
    usage: () => usageOf(child),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.disconnect();
      }),
  };
}

function usageOf(child: ChildProcess): Promise<{ cpuSeconds: number; rssBytes: number }> {
  return new Promise((resolve) => {
    child.once('message', (message: unknown) => {
      const usage = usageMessage.parse(message);
      resolve({ cpuSeconds: usage.cpuMicros / 1e6, rssBytes: usage.rssBytes });
    });
    child.send('usage');
  });
}

async function serve(): Promise<void> {
  // An empty world; quota far above anything sent until a scenario sets its own.
  const emulator = await startDriveEmulator({
    seed: 42,
    quota: { perUserPerMinute: 1e9, perProjectPerMinute: 1e9 },
    // Full pages and one entry per edit, so figures stay comparable between runs.
    realism: false,
  });
  process.send?.({ type: 'ready', url: emulator.url });
  process.on('message', (message: unknown) => {
    if (message !== 'usage') return;
    const cpu = process.cpuUsage();
    process.send?.({ type: 'usage', cpuMicros: cpu.user + cpu.system, rssBytes: process.memoryUsage().rss });
  });
  process.on('disconnect', () => {
    void emulator.close().finally(() => process.exit(0));
  });
}

if (process.argv.includes('--serve') && fileURLToPath(import.meta.url) === process.argv[1]) {
  serve().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
