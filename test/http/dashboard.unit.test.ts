import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { createWorkerMetrics } from '../../src/http/metrics.js';

/**
 * The dashboard and the runbook name metrics by hand; these checks keep them in step with
 * the registry: every name they use exists, and every worker metric is on the dashboard.
 */

const metrics = createWorkerMetrics();
afterAll(() => metrics.close());

const registered = new Set(metrics.registry.getMetricsAsArray().map((m) => m.name));
const histogramSeries = /_(bucket|sum|count)$/;

function metricNamesIn(text: string): Set<string> {
  const names = new Set<string>();
  for (const match of text.matchAll(/\b(?:gdrive_worker|process|nodejs)_[a-z0-9_]+/g)) {
    const name = match[0];
    names.add(registered.has(name) ? name : name.replace(histogramSeries, ''));
  }
  return names;
}

interface Panel {
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Array<{ expr: string }>;
}

const dashboard = JSON.parse(readFileSync('docs/grafana-dashboard.json', 'utf8')) as {
  uid: string;
  panels: Panel[];
  templating: { list: Array<{ name: string }> };
};
const expressions = dashboard.panels.flatMap((p) => p.targets?.map((t) => t.expr) ?? []);

describe('docs/grafana-dashboard.json', () => {
  it('queries only metrics the worker exports', () => {
    const used = metricNamesIn(expressions.join('\n'));
    expect([...used].filter((name) => !registered.has(name))).toEqual([]);
  });

  it('shows every worker metric', () => {
    const used = metricNamesIn(expressions.join('\n'));
    const ours = [...registered].filter((name) => name.startsWith('gdrive_worker_'));
    expect(ours.filter((name) => !used.has(name))).toEqual([]);
  });

  it('has unique panel ids, panels inside the 24-column grid, and a data source variable', () => {
    const ids = dashboard.panels.map((p) => (p as unknown as { id: number }).id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of dashboard.panels)
      expect(panel.gridPos.x + panel.gridPos.w, panel.title).toBeLessThanOrEqual(24);
    expect(dashboard.templating.list.map((v) => v.name)).toContain('datasource');
  });
});

describe('docs/operations.md', () => {
  const runbook = readFileSync('docs/operations.md', 'utf8');
  // The runbook explains why these prom-client defaults are not exported.
  const removedOnPurpose = [
    'nodejs_active_handles_total',
    'nodejs_active_requests_total',
    'nodejs_active_resources_total',
  ];

  it('names only metrics the worker exports', () => {
    const used = [...metricNamesIn(runbook)].filter((name) => !removedOnPurpose.includes(name));
    expect(used.filter((name) => !registered.has(name))).toEqual([]);
    for (const name of removedOnPurpose) expect(registered.has(name)).toBe(false);
  });

  it('lists every worker metric in its table, by its unprefixed name', () => {
    const rows = runbook.split('\n').filter((line) => line.startsWith('| `'));
    const listed = new Set(
      rows.flatMap((row) =>
        [...(row.split('|')[1] ?? '').matchAll(/`([a-z0-9_]+)`/g)].map((m) => `gdrive_worker_${m[1]}`),
      ),
    );
    const ours = [...registered].filter((name) => name.startsWith('gdrive_worker_'));
    expect(ours.filter((name) => !listed.has(name))).toEqual([]);
    expect([...listed].filter((name) => !registered.has(name))).toEqual([]);
  });
});
