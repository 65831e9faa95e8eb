import { z } from 'zod';
import { deployRoot, renderKustomization } from '../deploy/kustomize.js';

/**
 * The parts of deploy/base that decide how the worker's container starts (the StatefulSet's
 * pod template and its ConfigMap), read with zod, and turned into `podman create` arguments
 * the way a kubelet would apply them on one node.
 */

const httpGetProbe = z.object({
  httpGet: z.object({ path: z.string(), port: z.union([z.string(), z.number()]) }),
  periodSeconds: z.number().default(10),
  timeoutSeconds: z.number().default(1),
  failureThreshold: z.number().default(3),
});
export type Probe = z.infer<typeof httpGetProbe>;

const envVar = z.object({
  name: z.string(),
  value: z.string().optional(),
  valueFrom: z
    .object({
      fieldRef: z.object({ fieldPath: z.string() }).optional(),
      secretKeyRef: z
        .object({ name: z.string(), key: z.string(), optional: z.boolean().optional() })
        .optional(),
    })
    .optional(),
});

const container = z.object({
  name: z.string(),
  ports: z.array(z.object({ name: z.string(), containerPort: z.number() })),
  envFrom: z.array(z.object({ configMapRef: z.object({ name: z.string() }) })),
  env: z.array(envVar),
  volumeMounts: z.array(
    z.object({ name: z.string(), mountPath: z.string(), readOnly: z.boolean().optional() }),
  ),
  startupProbe: httpGetProbe,
  livenessProbe: httpGetProbe,
  readinessProbe: httpGetProbe,
  resources: z.object({ limits: z.object({ cpu: z.string(), memory: z.string() }) }),
  securityContext: z.object({
    allowPrivilegeEscalation: z.boolean(),
    readOnlyRootFilesystem: z.boolean(),
    capabilities: z.object({ drop: z.array(z.string()) }),
  }),
});

const statefulSet = z.object({
  kind: z.literal('StatefulSet'),
  metadata: z.object({ name: z.string() }),
  spec: z.object({
    template: z.object({
      spec: z.object({
        terminationGracePeriodSeconds: z.number(),
        securityContext: z.object({ runAsUser: z.number(), runAsGroup: z.number(), fsGroup: z.number() }),
        containers: z.array(container).length(1),
        volumes: z.array(
          z.object({
            name: z.string(),
            secret: z.object({ secretName: z.string() }).optional(),
            emptyDir: z.object({ sizeLimit: z.string().optional() }).optional(),
          }),
        ),
      }),
    }),
  }),
});

const configMap = z.object({
  kind: z.literal('ConfigMap'),
  metadata: z.object({ name: z.string() }),
  data: z.record(z.string(), z.string()),
});

export interface PodSpec {
  /** The first pod's name: the StatefulSet's name and ordinal 0. */
  readonly podName: string;
  readonly terminationGracePeriodSeconds: number;
  readonly user: number;
  readonly group: number;
  readonly fsGroup: number;
  readonly container: z.infer<typeof container>;
  readonly volumes: z.infer<typeof statefulSet>['spec']['template']['spec']['volumes'];
  /** The ConfigMap the container's envFrom names. */
  readonly configMap: Readonly<Record<string, string>>;
}

export function readPodSpec(): PodSpec {
  const manifests = renderKustomization(`${deployRoot}/base`);
  const set = statefulSet.parse(manifests.find((m) => m.kind === 'StatefulSet'));
  const pod = set.spec.template.spec;
  const [worker] = pod.containers;
  if (!worker) throw new Error('the StatefulSet has no container');
  const configMapName = worker.envFrom[0]?.configMapRef.name;
  const config = configMap.parse(
    manifests.find((m) => m.kind === 'ConfigMap' && m.metadata.name === configMapName),
  );
  return {
    podName: `${set.metadata.name}-0`,
    terminationGracePeriodSeconds: pod.terminationGracePeriodSeconds,
    user: pod.securityContext.runAsUser,
    group: pod.securityContext.runAsGroup,
    fsGroup: pod.securityContext.fsGroup,
    container: worker,
    volumes: pod.volumes,
    configMap: config.data,
  };
}

/** A Kubernetes quantity (`64Mi`, `1Gi`, `512M`) in bytes. */
export function bytesOf(quantity: string): number {
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(quantity);
  if (!match) throw new Error(`not a quantity: ${quantity}`);
  const factor: Record<string, number> = {
    '': 1,
    Ki: 1024,
    Mi: 1024 ** 2,
    Gi: 1024 ** 3,
    Ti: 1024 ** 4,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
  };
  return Math.round(Number(match[1]) * (factor[match[2] ?? ''] ?? 1));
}

/** A Kubernetes CPU quantity (`1`, `250m`) in CPUs. */
export function cpusOf(quantity: string): number {
  const match = /^(\d+(?:\.\d+)?)(m)?$/.exec(quantity);
  if (!match) throw new Error(`not a CPU quantity: ${quantity}`);
  return Number(match[1]) / (match[2] ? 1000 : 1);
}

/** The container port a probe's named (or numbered) port means. */
export function probePort(spec: PodSpec, probe: Probe): number {
  const { port } = probe.httpGet;
  if (typeof port === 'number') return port;
  const declared = spec.container.ports.find((p) => p.name === port);
  if (!declared) throw new Error(`probe port ${port} is not declared`);
  return declared.containerPort;
}

/**
 * The container's environment as the kubelet builds it: the ConfigMap, then `env` (literal
 * values; `metadata.name` as the pod's name; Secret keys from `secrets`, an optional one
 * left out when absent), then `overrides` — what must point at this machine instead of a
 * cluster's services; `null` removes a variable.
 */
export function containerEnv(
  spec: PodSpec,
  secrets: Readonly<Record<string, string>>,
  overrides: Readonly<Record<string, string | null>>,
): Record<string, string> {
  const env: Record<string, string> = { ...spec.configMap };
  for (const variable of spec.container.env) {
    if (variable.value !== undefined) env[variable.name] = variable.value;
    else if (variable.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[variable.name] = spec.podName;
    else if (variable.valueFrom?.secretKeyRef) {
      const ref = variable.valueFrom.secretKeyRef;
      const value = secrets[`${ref.name}/${ref.key}`];
      if (value !== undefined) env[variable.name] = value;
      else if (!ref.optional)
        throw new Error(`the test gives no value for Secret key ${ref.name}/${ref.key}`);
    } else throw new Error(`unsupported env source for ${variable.name}`);
  }
  for (const [name, value] of Object.entries(overrides)) {
    if (value === null) delete env[name];
    else env[name] = value;
  }
  return env;
}

export interface PodmanCreateOptions {
  readonly image: string;
  readonly name: string;
  readonly env: Readonly<Record<string, string>>;
  /** A host directory per Secret volume, bind-mounted read-only as the kubelet projects it. */
  readonly secretDirectories: Readonly<Record<string, string>>;
  /** False where the machine's cgroups refuse memory and CPU limits. */
  readonly resourceLimits: boolean;
}

/** `podman create` arguments that start the container as the pod spec says, on the host network. */
export function podmanCreateArgs(spec: PodSpec, options: PodmanCreateOptions): string[] {
  const { container: worker } = spec;
  const args = [
    'create',
    '--name',
    options.name,
    '--network',
    'host',
    '--user',
    `${spec.user}:${spec.group}`,
    '--group-add',
    String(spec.fsGroup),
    // Kubernetes runs probes, not the image's HEALTHCHECK (which needs systemd timers here).
    '--no-healthcheck',
    '--pull',
    'never',
  ];
  if (worker.securityContext.readOnlyRootFilesystem) {
    // podman's --read-only alone adds writable tmpfs on /tmp, /run and /var/tmp; a pod gets
    // none but the volumes it declares.
    args.push('--read-only', '--read-only-tmpfs=false');
  }
  if (!worker.securityContext.allowPrivilegeEscalation) args.push('--security-opt', 'no-new-privileges');
  for (const capability of worker.securityContext.capabilities.drop) args.push('--cap-drop', capability);
  if (options.resourceLimits) {
    args.push('--memory', String(bytesOf(worker.resources.limits.memory)));
    args.push('--cpus', String(cpusOf(worker.resources.limits.cpu)));
  }
  for (const mount of worker.volumeMounts) {
    const volume = spec.volumes.find((v) => v.name === mount.name);
    if (volume?.emptyDir) {
      const size = volume.emptyDir.sizeLimit ? `,size=${bytesOf(volume.emptyDir.sizeLimit)}` : '';
      // An emptyDir is world-writable (0777); /tmp keeps its sticky bit.
      args.push('--tmpfs', `${mount.mountPath}:rw,mode=1777${size}`);
    } else if (volume?.secret) {
      const directory = options.secretDirectories[volume.name];
      if (!directory) throw new Error(`no directory given for Secret volume ${volume.name}`);
      args.push('--volume', `${directory}:${mount.mountPath}:ro`);
    } else {
      throw new Error(`volume ${mount.name} is neither an emptyDir nor a Secret`);
    }
  }
  for (const [name, value] of Object.entries(options.env)) args.push('--env', `${name}=${value}`);
  args.push(options.image);
  return args;
}

/** The mount points of the container's declared volumes. */
export function declaredMounts(spec: PodSpec): string[] {
  return spec.container.volumeMounts.map((m) => m.mountPath);
}
