/**
 * `npm run bench` runs the emulator and worker benchmarks, one after the other, each in a
 * process of its own; `npm run bench -- worker` (or `emulator`, `scale`, `fleet`) runs one, and whatever follows the name goes to
 * it (`npm run bench -- worker --scale 0.1`). Each benchmark prints its figures and writes
 * them to bench/results/<name>.md; this runner then writes bench/results/latest.md: the
 * date, the machine, and the sections of the benchmarks that just ran.
 *
 * The emulator benchmark runs a fifth of its requests here (`--scale 0.2`, at most 15 s
 * a scenario) so that the whole run stays near five minutes on a 2-core machine; run
 * `npx tsx bench/emulator.ts` alone for the full one.
 */
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { cpus, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

const benchmarks = {
  emulator: { file: 'emulator.ts', defaultArgs: ['--scale', '0.2', '--max-seconds', '15'] },
  worker: { file: 'worker.ts', defaultArgs: [] as string[] },
  scale: { file: 'scale.ts', defaultArgs: [] as string[] },
  fleet: { file: 'scale-fleet.ts', defaultArgs: [] as string[] },
} as const;
type Name = keyof typeof benchmarks;

function isName(value: string | undefined): value is Name {
  return value !== undefined && Object.hasOwn(benchmarks, value);
}

function run(name: Name, args: readonly string[]): Promise<number> {
  const { file } = benchmarks[name];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, join(here, file), ...args], {
      stdio: 'inherit',
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

export function machineFacts(): string {
  const cpu = cpus();
  return `${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 1024 ** 3)} GB RAM, Linux ${release()}, Node ${process.version}`;
}

async function main(): Promise<void> {
  const [first, ...rest] = process.argv.slice(2);
  // The scale and fleet benches take minutes of their own: they run when named.
  const selected: Name[] = isName(first) ? [first] : ['emulator', 'worker'];
  if (first !== undefined && !isName(first)) {
    console.error(`unknown benchmark "${first}": use one of ${Object.keys(benchmarks).join(', ')}`);
    process.exit(2);
  }
  const started = performance.now();
  const sections: string[] = [];
  for (const name of selected) {
    const args = isName(first) && rest.length > 0 ? rest : benchmarks[name].defaultArgs;
    console.log(`\n=== ${name} benchmark ${args.join(' ')}\n`);
    const code = await run(name, args);
    if (code !== 0) {
      console.error(`the ${name} benchmark failed (exit code ${code})`);
      process.exitCode = code;
      continue;
    }
    sections.push(await readFile(join(here, 'results', `${name}.md`), 'utf8'));
  }
  const minutes = (performance.now() - started) / 60_000;
  const header = [
    '# Benchmark results',
    '',
    `- Date: ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    `- Machine: ${machineFacts()}`,
    `- Command: \`npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\` (${minutes.toFixed(1)} min in all)`,
    '',
  ];
  await writeFile(join(here, 'results', 'latest.md'), [...header, ...sections].join('\n'));
  console.log(`\nbench: ${minutes.toFixed(1)} min; figures in bench/results/latest.md`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
