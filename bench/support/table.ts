import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A titled table with notes, printed as aligned text and written as markdown: the same figures in both. */
export interface Table {
  readonly title: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly string[])[];
  readonly notes?: readonly string[];
}

export function textOf(table: Table): string {
  const widths = table.columns.map((column, i) =>
    Math.max(column.length, ...table.rows.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join('  ');
  return [
    table.title,
    line(table.columns),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...table.rows.map(line),
    ...(table.notes ?? []).map((note) => `  ${note}`),
  ].join('\n');
}

export function markdownOf(table: Table): string {
  const escapeCell = (cell: string) => cell.replaceAll('|', '\\|');
  return [
    `### ${table.title}`,
    '',
    `| ${table.columns.map(escapeCell).join(' | ')} |`,
    `|${table.columns.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...table.rows.map((row) => `| ${row.map(escapeCell).join(' | ')} |`),
    ...(table.notes && table.notes.length > 0 ? ['', ...table.notes.map((note) => `- ${note}`)] : []),
    '',
  ].join('\n');
}

export const fmt = {
  int: (n: number) => Math.round(n).toLocaleString('en-US'),
  fixed: (n: number, digits = 1) =>
    Number.isFinite(n)
      ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
      : 'n/a',
  percent: (n: number) => (Number.isFinite(n) ? `${Math.round(n * 100)}%` : 'n/a'),
  seconds: (n: number) => `${n.toFixed(1)} s`,
};

/** Writes a benchmark's markdown to bench/results/<name>.md, which `bench/run.ts` gathers. */
export async function writeResults(name: string, markdown: string): Promise<void> {
  const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'results', `${name}.md`);
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, markdown);
}

/** Runs a benchmark's `main` when its file is the one node was started with (not when imported). */
export function runWhenEntry(moduleUrl: string, main: () => Promise<void>): void {
  if (process.argv[1] === undefined || fileURLToPath(moduleUrl) !== process.argv[1]) return;
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
