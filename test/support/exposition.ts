import { spawnSync } from 'node:child_process';

/**
 * `promtool check metrics` is Prometheus' own linter for the exposition format and naming
 * (Debian package `prometheus`). Missing means the machine was not set up: fail, saying so.
 */
export function promtoolCheck(exposition: string): { status: number | null; output: string } {
  const run = spawnSync('promtool', ['check', 'metrics'], { input: exposition, encoding: 'utf8' });
  if (run.error && (run.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new Error(
      'promtool not found: install the Debian package `prometheus` (apt-get install -y prometheus), ' +
        'which scripts/ensure-setup.sh should install',
    );
  }
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

/** `name{labels} value` → value, for one sample line; undefined when absent. */
export function sample(exposition: string, series: string): number | undefined {
  for (const line of exposition.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}
