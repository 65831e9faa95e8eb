import { join } from 'node:path';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { describe, expect, it } from 'vitest';
import { configDocs, loadConfig } from '../../src/config.js';
import { deployRoot, type Manifest, renderKustomization, strategicMerge } from './kustomize.js';

/**
 * deploy/ rendered offline (test/deploy/kustomize.ts) and every object validated against
 * the Kubernetes OpenAPI schemas that `kubernetes-models` ships compiled (and the
 * Prometheus Operator's CRD schema for the ServiceMonitor), then checked for what running
 * a Kafka worker on Kubernetes needs.
 */

type Validator = (manifest: Manifest) => void;
const validators: Record<string, Validator> = {
  'v1/ServiceAccount': (m) => new ServiceAccount(m as never).validate(),
  'v1/ConfigMap': (m) => new ConfigMap(m as never).validate(),
  'v1/Service': (m) => new Service(m as never).validate(),
  'apps/v1/StatefulSet': (m) => new StatefulSet(m as never).validate(),
  'policy/v1/PodDisruptionBudget': (m) => new PodDisruptionBudget(m as never).validate(),
  'networking.k8s.io/v1/NetworkPolicy': (m) => new NetworkPolicy(m as never).validate(),
  'monitoring.coreos.com/v1/ServiceMonitor': (m) => new ServiceMonitor(m as never).validate(),
};

const variants = {
  base: renderKustomization(join(deployRoot, 'base')),
  'overlays/example': renderKustomization(join(deployRoot, 'overlays/example')),
};

// Loose views of the rendered objects, for the checks below (the schemas did the typing).
interface Container {
  name: string;
  image: string;
  ports?: Array<{ name?: string; containerPort: number }>;
  env?: Array<{ name: string; value?: string; valueFrom?: Record<string, Record<string, unknown>> }>;
  envFrom?: Array<{ configMapRef?: { name: string } }>;
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    runAsNonRoot?: boolean;
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    capabilities?: { drop?: string[] };
  };
}
interface PodSpec {
  containers: Container[];
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean };
  volumes?: Array<{ name: string; secret?: { secretName: string } }>;
}

function find(manifests: Manifest[], kind: string): Manifest & Record<string, never> {
  const found = manifests.filter((m) => m.kind === kind);
  expect(found, kind).toHaveLength(1);
  return found[0] as Manifest & Record<string, never>;
}

describe.each(Object.entries(variants))('deploy/%s', (_name, manifests) => {
  it('validates every object against its schema', () => {
    expect(manifests.map((m) => m.kind).sort()).toEqual([
      'ConfigMap',
      'NetworkPolicy',
      'PodDisruptionBudget',
      'Service',
      'ServiceAccount',
      'ServiceMonitor',
      'StatefulSet',
    ]);
    for (const manifest of manifests) {
      const validate = validators[`${manifest.apiVersion}/${manifest.kind}`];
      expect(validate, `${manifest.apiVersion} ${manifest.kind}`).toBeDefined();
      expect(() => validate?.(manifest), `${manifest.kind} ${manifest.metadata.name}`).not.toThrow();
    }
  });

  const statefulSet = find(manifests, 'StatefulSet') as unknown as {
    spec: { serviceName: string; template: { spec: PodSpec; metadata: { labels: Record<string, string> } } };
  };
  const pod = statefulSet.spec.template.spec;
  const worker = pod.containers[0] as Container;
  const configMap = find(manifests, 'ConfigMap') as unknown as {
    metadata: { name: string };
    data: Record<string, string>;
  };

  it('names each pod as its Kafka client id, through the downward API', () => {
    const clientId = worker.env?.find((e) => e.name === 'KAFKA_CLIENT_ID');
    expect(clientId?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
  });

  it('wires liveness and readiness probes to the health endpoints on the HTTP port', () => {
    const port = worker.ports?.find((p) => p.name === 'http');
    expect(String(port?.containerPort)).toBe(configMap.data.HTTP_PORT);
    expect(worker.livenessProbe?.httpGet).toEqual({ path: '/health/live', port: 'http' });
    expect(worker.readinessProbe?.httpGet).toEqual({ path: '/health/ready', port: 'http' });
  });

  it('gives the pod longer to stop than the worker grants its own shutdown', () => {
    const grace = Number(configMap.data.SHUTDOWN_GRACE_SECONDS);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(grace + 5);
  });

  it('sets requests and limits, and runs non-root on a read-only root filesystem without capabilities', () => {
    expect(Object.keys(worker.resources?.requests ?? {}).sort()).toEqual(['cpu', 'memory']);
    expect(Object.keys(worker.resources?.limits ?? {}).sort()).toEqual(['cpu', 'memory']);
    expect(pod.securityContext?.runAsNonRoot).toBe(true);
    expect(worker.securityContext).toMatchObject({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(worker.volumeMounts?.some((m) => m.mountPath === '/tmp')).toBe(true);
  });

  it('holds only known, non-secret variables in the ConfigMap, and they form a valid configuration', () => {
    const docs = configDocs as Record<string, { secret?: boolean }>;
    for (const key of Object.keys(configMap.data)) {
      expect(docs[key], `${key} is not a variable of src/config.ts`).toBeDefined();
      expect(docs[key]?.secret, `${key} is a secret`).not.toBe(true);
    }
    expect(worker.envFrom).toEqual([{ configMapRef: { name: configMap.metadata.name } }]);
    // What the process sees: the ConfigMap, plain env values, and a stand-in for each Secret.
    const env: Record<string, string> = { ...configMap.data };
    for (const entry of worker.env ?? []) {
      if (entry.value !== undefined) env[entry.name] = entry.value;
      else if (entry.valueFrom?.secretKeyRef) env[entry.name] = 'from-a-secret';
    }
    expect(() => loadConfig(env)).not.toThrow();
  });

  it('takes secrets from Secrets only: mTLS files mounted read-only, S3 credentials by reference', () => {
    const mtls = pod.volumes?.find((v) => v.secret?.secretName === 'gdrive-worker-control-plane-mtls');
    const mount = worker.volumeMounts?.find((m) => m.name === mtls?.name);
    expect(mount?.readOnly).toBe(true);
    for (const path of [
      'CONTROL_PLANE_MTLS_CERT_PATH',
      'CONTROL_PLANE_MTLS_KEY_PATH',
      'CONTROL_PLANE_MTLS_CA_PATH',
    ]) {
      expect(configMap.data[path]?.startsWith(`${mount?.mountPath}/`), path).toBe(true);
    }
    const s3 = worker.env
      ?.filter((e) => e.valueFrom?.secretKeyRef?.name === 'gdrive-worker-s3')
      .map((e) => e.name);
    expect(s3?.sort()).toEqual(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']);
    const secretVariables = Object.entries(configDocs as Record<string, { secret?: boolean }>)
      .filter(([, doc]) => doc.secret)
      .map(([name]) => name);
    for (const name of secretVariables) {
      const entry = worker.env?.find((e) => e.name === name);
      expect(entry?.valueFrom?.secretKeyRef, `${name} must come from a Secret`).toBeDefined();
    }
  });

  it('puts a headless Service, the PodDisruptionBudget, the NetworkPolicy and the ServiceMonitor on the same pods', () => {
    const labels = statefulSet.spec.template.metadata.labels;
    const matches = (selector: Record<string, string> | undefined) =>
      Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v) &&
      Object.keys(selector ?? {}).length > 0;
    const service = find(manifests, 'Service') as unknown as {
      metadata: { name: string; labels: Record<string, string> };
      spec: { clusterIP: string; selector: Record<string, string>; ports: Array<{ name: string }> };
    };
    expect(service.spec.clusterIP).toBe('None');
    expect(statefulSet.spec.serviceName).toBe(service.metadata.name);
    expect(matches(service.spec.selector)).toBe(true);
    const pdb = find(manifests, 'PodDisruptionBudget') as unknown as {
      spec: { selector: { matchLabels: Record<string, string> }; maxUnavailable?: number };
    };
    expect(matches(pdb.spec.selector.matchLabels)).toBe(true);
    expect(pdb.spec.maxUnavailable).toBe(1);
    const policy = find(manifests, 'NetworkPolicy') as unknown as {
      spec: { podSelector: { matchLabels: Record<string, string> }; policyTypes: string[] };
    };
    expect(matches(policy.spec.podSelector.matchLabels)).toBe(true);
    expect(policy.spec.policyTypes.sort()).toEqual(['Egress', 'Ingress']);
    const monitor = find(manifests, 'ServiceMonitor') as unknown as {
      spec: {
        selector: { matchLabels: Record<string, string> };
        endpoints: Array<{ port: string; path: string }>;
      };
    };
    expect(
      Object.entries(monitor.spec.selector.matchLabels).every(([k, v]) => service.metadata.labels[k] === v),
    ).toBe(true);
    expect(monitor.spec.endpoints).toEqual([expect.objectContaining({ port: 'http', path: '/metrics' })]);
    expect(service.spec.ports.map((p) => p.name)).toContain('http');
  });
});

describe('the example overlay', () => {
  const overlay = variants['overlays/example'];
  it('sets the namespace, the image and its patches over the base', () => {
    expect(new Set(overlay.map((m) => m.metadata.namespace))).toEqual(new Set(['data-platform']));
    const statefulSet = overlay.find((m) => m.kind === 'StatefulSet') as unknown as {
      spec: { replicas: number; template: { spec: PodSpec } };
    };
    expect(statefulSet.spec.replicas).toBe(3);
    const worker = statefulSet.spec.template.spec.containers[0];
    expect(worker?.image).toBe('registry.example.com/platform/gdrive-worker:0.1.0');
    expect(worker?.resources?.limits?.memory).toBe('1536Mi');
    // The patch merged into the base's env list instead of replacing it.
    expect(worker?.env?.find((e) => e.name === 'KAFKA_CLIENT_ID')).toBeDefined();
    expect(worker?.env?.find((e) => e.name === 'NODE_OPTIONS')?.value).toContain('--max-old-space-size=1152');
  });
});

describe('the schema validation', () => {
  it('rejects a broken object (so a green run means something)', () => {
    const statefulSet = variants.base.find((m) => m.kind === 'StatefulSet') as Manifest;
    const broken = strategicMerge(statefulSet, {
      spec: {
        template: {
          spec: { containers: [{ name: 'worker', ports: [{ name: 'http', containerPort: '8080x' }] }] },
        },
      },
    }) as Manifest;
    expect(() => validators['apps/v1/StatefulSet']?.(broken)).toThrow(/containerPort/);
    const noSelector = {
      ...statefulSet,
      spec: { ...(statefulSet.spec as object), selector: undefined },
    } as Manifest;
    expect(() => validators['apps/v1/StatefulSet']?.(noSelector)).toThrow(/selector/);
  });
});
