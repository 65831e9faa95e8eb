import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';

/**
 * Just enough of kustomize to render deploy/ offline: `resources` (files and folders with
 * their own kustomization), `namespace`, `images`, and `patches` given as strategic-merge
 * patch files. Strategic merge is approximated the way it behaves for the fields our
 * patches touch: maps merge, lists of objects with a `name` merge by name, other lists
 * are replaced. Anything else in a kustomization fails loudly rather than being ignored.
 */

export type Manifest = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string } & Record<string, unknown>;
};

const supportedKeys = new Set(['apiVersion', 'kind', 'resources', 'namespace', 'images', 'patches']);

function readYaml(path: string): unknown[] {
  return parseAllDocuments(readFileSync(path, 'utf8')).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${path}: ${doc.errors[0]?.message}`);
    return doc.toJS();
  });
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export function strategicMerge(base: unknown, patch: unknown): unknown {
  if (isObject(base) && isObject(patch)) {
    const merged: Record<string, unknown> = { ...base };
    for (const [key, value] of Object.entries(patch))
      merged[key] = key in base ? strategicMerge(base[key], value) : value;
    return merged;
  }
  if (
    Array.isArray(base) &&
    Array.isArray(patch) &&
    patch.every((p) => isObject(p) && typeof p.name === 'string')
  ) {
    const merged = [...base];
    for (const item of patch as Array<Record<string, unknown>>) {
      const at = merged.findIndex((b) => isObject(b) && b.name === item.name);
      if (at >= 0) merged[at] = strategicMerge(merged[at], item);
      else merged.push(item);
    }
    return merged;
  }
  return patch;
}

function setImages(
  manifest: Manifest,
  images: Array<{ name: string; newName?: string; newTag?: string }>,
): Manifest {
  const visit = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(visit);
    if (!isObject(node)) return node;
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(node)) out[key] = visit(value);
    for (const list of ['containers', 'initContainers'] as const) {
      if (!Array.isArray(out[list])) continue;
      out[list] = (out[list] as Array<Record<string, unknown>>).map((container) => {
        const image = String(container.image ?? '');
        const name = image.replace(/[:@].*$/, '');
        const rule = images.find((i) => i.name === name);
        if (!rule) return container;
        const tag = rule.newTag ?? (image.includes(':') ? image.slice(image.indexOf(':') + 1) : 'latest');
        return { ...container, image: `${rule.newName ?? name}:${tag}` };
      });
    }
    return out;
  };
  return visit(manifest) as Manifest;
}

export function renderKustomization(directory: string): Manifest[] {
  const [kustomization] = readYaml(join(directory, 'kustomization.yaml'));
  if (!isObject(kustomization)) throw new Error(`${directory}: kustomization is not a map`);
  for (const key of Object.keys(kustomization)) {
    if (!supportedKeys.has(key))
      throw new Error(`${directory}: kustomization key ${key} is not supported by this renderer`);
  }
  let manifests: Manifest[] = [];
  for (const resource of (kustomization.resources as string[] | undefined) ?? []) {
    const path = join(directory, resource);
    if (statSync(path).isDirectory()) manifests.push(...renderKustomization(path));
    else manifests.push(...(readYaml(path) as Manifest[]));
  }
  for (const patchEntry of (kustomization.patches as Array<{ path?: string }> | undefined) ?? []) {
    if (!patchEntry.path) throw new Error(`${directory}: only patches given by path are supported`);
    for (const patch of readYaml(join(directory, patchEntry.path)) as Manifest[]) {
      const at = manifests.findIndex((m) => m.kind === patch.kind && m.metadata.name === patch.metadata.name);
      if (at < 0) throw new Error(`${patchEntry.path}: no ${patch.kind} ${patch.metadata.name} to patch`);
      manifests[at] = strategicMerge(manifests[at], patch) as Manifest;
    }
  }
  const images = kustomization.images as
    | Array<{ name: string; newName?: string; newTag?: string }>
    | undefined;
  if (images) manifests = manifests.map((m) => setImages(m, images));
  const namespace = kustomization.namespace as string | undefined;
  if (namespace) manifests = manifests.map((m) => ({ ...m, metadata: { ...m.metadata, namespace } }));
  return manifests;
}

export const deployRoot = join(dirname(new URL(import.meta.url).pathname), '../../deploy');
