import { type ChildProcess, spawn } from 'node:child_process';
import { until } from './until.js';

/** The real worker process (`src/main.ts`, as `npm start` runs it), for tests that signal or kill it. */
export interface SpawnedWorker {
  readonly child: ChildProcess;
  /** Everything the process wrote so far (JSON log lines). */
  output(): string;
  /** The exit code, once it exited. */
  readonly exited: Promise<number | null>;
  /** Resolves with the HTTP base URL once the process logged `worker started`. */
  started(): Promise<string>;
}

export function spawnWorker(env: Record<string, string>): SpawnedWorker {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => output,
    exited,
    async started() {
      await until(
        () => output.includes('"worker started"'),
        `the worker started: ${output.slice(-500)}`,
        60_000,
      );
      const line = output.split('\n').find((l) => l.includes('"worker started"')) ?? '';
      return (JSON.parse(line) as { http: string }).http;
    },
  };
}
