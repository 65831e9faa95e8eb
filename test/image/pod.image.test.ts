import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedKafka } from '../setup/kafka-broker.global.js';
import { expectRecordsMatchDrive, visibleTo } from '../support/drive-truth.js';
import { until } from '../support/until.js';
import { WorkerWorld } from '../support/worker-world.js';
import {
  containerEnv,
  declaredMounts,
  type PodSpec,
  type Probe,
  podmanCreateArgs,
  probePort,
  readPodSpec,
} from './pod-spec.js';

/**
 * The worker's image (`npm run image`) started as the StatefulSet in deploy/base starts its
 * pod: user and group, read-only root filesystem with the declared volumes only, dropped
 * capabilities, the ConfigMap's environment, the memory and CPU limits. Host network, so it
 * reaches this test's embedded Kafka, Drive emulator and s3rver on 127.0.0.1. Run by
 * `npm run test:image`, which builds the image first.
 *
 * What must differ from a cluster, and only that, is overridden: the broker's address and
 * plain-text listener, the emulator as Drive and control plane (plain http, so no mTLS
 * paths), s3rver as S3, and a free HTTP port (8080 on the host network may be taken).
 */

const run = promisify(execFile);
const IMAGE = process.env.IMAGE_NAME ?? 'localhost/gdrive-worker:latest';
const CONNECTION = 'conn_pod';

async function podman(...args: string[]): Promise<string> {
  const { stdout } = await run('bash', ['scripts/podman.sh', ...args], {
    timeout: 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout.trim();
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** One probe as the kubelet runs it: GET with the probe's timeout, 200–399 is success. */
async function probeOnce(url: string, probe: Probe): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(probe.timeoutSeconds * 1000) });
    await response.arrayBuffer();
    return response.status >= 200 && response.status < 400;
  } catch {
    return false;
  }
}

describe('the image, started as the StatefulSet starts its pod', () => {
  const spec: PodSpec = readPodSpec();
  const name = `gdrive-worker-pod-${process.pid}`;
  let world: WorkerWorld;
  let secrets: string;
  let accessToken: string;
  let base: string;
  let startedAt = 0;

  const url = (probe: Probe) => `${base}${probe.httpGet.path}`;
  const logs = async () => podman('logs', name).catch((error: unknown) => String(error));

  beforeAll(async () => {
    const topics = {
      trigger: spec.configMap.KAFKA_TOPIC_TRIGGER,
      webhook: spec.configMap.KAFKA_TOPIC_WEBHOOK,
      records: spec.configMap.KAFKA_TOPIC_RECORDS,
      errors: spec.configMap.KAFKA_TOPIC_ERRORS,
      state: spec.configMap.KAFKA_TOPIC_STATE,
    };
    world = await WorkerWorld.start(
      { files: 400, users: 2, sharedDrives: 1, revisionDensity: 0.2 },
      16,
      sharedKafka(),
      Object.fromEntries(Object.entries(topics).filter(([, v]) => v !== undefined)),
    );
    const s3 = await world.startS3(spec.configMap.S3_BUCKET_NAME);
    const [user] = await world.emulator.admin.listUsers();
    if (!user) throw new Error('the corpus has no user');
    await world.emulator.admin.mapConnection(CONNECTION, user.id);
    accessToken = (await world.emulator.admin.issueTokens(user.id)).accessToken;
    secrets = await mkdtemp(path.join(tmpdir(), 'pod-secret-'));

    const port = await freePort();
    const env = containerEnv(
      spec,
      {
        'gdrive-worker-s3/access-key-id': s3.env.AWS_ACCESS_KEY_ID ?? '',
        'gdrive-worker-s3/secret-access-key': s3.env.AWS_SECRET_ACCESS_KEY ?? '',
      },
      {
        KAFKA_BOOTSTRAP_SERVERS: world.brokers.join(','),
        KAFKA_SSL: 'false',
        GDRIVE_API_BASE_URL: world.emulator.url,
        CONTROL_PLANE_BASE_URL: world.emulator.url,
        CONTROL_PLANE_MTLS_CERT_PATH: null,
        CONTROL_PLANE_MTLS_KEY_PATH: null,
        CONTROL_PLANE_MTLS_CA_PATH: null,
        S3_ENDPOINT: s3.endpoint,
        S3_FORCE_PATH_STYLE: 'true',
        HTTP_PORT: String(port),
      },
    );
    // The probes name the container's port; on the host network it is the port chosen above.
    expect(probePort(spec, spec.container.readinessProbe)).toBe(Number(spec.configMap.HTTP_PORT));
    base = `http://127.0.0.1:${port}`;

    // Memory and CPU limits where the machine's cgroups take them (a throwaway container).
    const limited = await run(
      'bash',
      [
        'scripts/podman.sh',
        'run',
        '--rm',
        '--pull',
        'never',
        '--memory',
        '64m',
        '--cpus',
        '1',
        IMAGE,
        'true',
      ],
      { timeout: 60_000 },
    ).then(
      () => true,
      (error: unknown) => {
        console.warn(`pod test: no memory/CPU limit, the machine's cgroups refused one: ${String(error)}`);
        return false;
      },
    );
    await podman('rm', '--force', '--ignore', name);
    await podman(
      ...podmanCreateArgs(spec, {
        image: IMAGE,
        name,
        env,
        secretDirectories: { 'control-plane-mtls': secrets },
        resourceLimits: limited,
      }),
    );
  });

  afterAll(async () => {
    await podman('rm', '--force', '--ignore', name).catch(() => undefined);
    await world?.stop();
    if (secrets) await rm(secrets, { recursive: true, force: true });
  });

  it('starts as the probes declare, syncs a Drive exactly, and drains on SIGTERM within the grace period', async () => {
    const { startupProbe, livenessProbe, readinessProbe } = spec.container;

    // Start-up: the startup probe's budget is periodSeconds × failureThreshold; readiness
    // is polled finely to measure the time from container start to ready.
    startedAt = performance.now();
    await podman('start', name);
    const startupBudgetMs = startupProbe.periodSeconds * startupProbe.failureThreshold * 1000;
    await until(
      () => probeOnce(url(startupProbe), startupProbe),
      'the startup probe passing',
      startupBudgetMs,
      50,
    );
    const liveAfterMs = performance.now() - startedAt;
    await until(
      () => probeOnce(url(readinessProbe), readinessProbe),
      'ready',
      startupBudgetMs - liveAfterMs,
      50,
    );
    const readyAfterMs = performance.now() - startedAt;
    console.log(
      `pod test: live ${(liveAfterMs / 1000).toFixed(2)} s, ready ${(readyAfterMs / 1000).toFixed(2)} s after podman start`,
    );
    const inspected = JSON.parse(
      await podman('inspect', '--format', '{{json .Config.User}}', name),
    ) as string;
    expect(inspected).toBe(`${spec.user}:${spec.group}`);

    // A full sync, with liveness probed at its period meanwhile: never failureThreshold in a row.
    let livenessFailures = 0;
    let worstRun = 0;
    const liveness = setInterval(() => {
      void probeOnce(url(livenessProbe), livenessProbe).then((ok) => {
        livenessFailures = ok ? 0 : livenessFailures + 1;
        worstRun = Math.max(worstRun, livenessFailures);
      });
    }, livenessProbe.periodSeconds * 1000);
    try {
      await world.trigger(CONNECTION, 'full_sync');
      await world.waitForSyncs(CONNECTION, 1, 120_000).catch(async (error: unknown) => {
        throw new Error(`${String(error)}\n${(await logs()).slice(-3_000)}`);
      });
    } finally {
      clearInterval(liveness);
    }
    expect(worstRun).toBeLessThan(livenessProbe.failureThreshold);
    expect(await probeOnce(url(livenessProbe), livenessProbe)).toBe(true);
    expectRecordsMatchDrive(world.records(CONNECTION), await visibleTo(world, accessToken));
    expect(world.errors()).toEqual([]);

    // SIGTERM in the middle of a second full sync (slow pages, so one is in flight), as the
    // kubelet stops a pod: SIGTERM, then SIGKILL after terminationGracePeriodSeconds.
    await world.emulator.admin.setLatency('drive.files.list', 1_000);
    await world.emulator.admin.resetCounters();
    await world.trigger(CONNECTION, 'full_sync');
    await until(
      async () => ((await world.emulator.admin.counters())['drive.files.list'] ?? 0) >= 2,
      'the second sync listing files',
      60_000,
    );
    const stopping = performance.now();
    await podman('stop', '--time', String(spec.terminationGracePeriodSeconds), name);
    const stoppedAfterMs = performance.now() - stopping;
    const exitCode = Number(await podman('inspect', '--format', '{{.State.ExitCode}}', name));
    const output = await logs();
    console.log(
      `pod test: stopped ${(stoppedAfterMs / 1000).toFixed(2)} s after SIGTERM, exit code ${exitCode}`,
    );
    expect(exitCode, output.slice(-3_000)).toBe(0);
    expect(stoppedAfterMs).toBeLessThan(spec.terminationGracePeriodSeconds * 1000);
    expect(output).toContain('"msg":"stopped"');
    expect(output).toMatch(/"busy":1,"drained":1,"msg":"in-flight work drained before stopping"/);

    // Nothing written outside the declared volumes: the only changes to the image's
    // filesystem are the mount points the runtime made for them.
    const mounts = declaredMounts(spec);
    const changed = (await podman('diff', name))
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => line.replace(/^[ACD] /, ''));
    const outside = changed.filter(
      (changedPath) => !mounts.some((m) => m === changedPath || m.startsWith(`${changedPath}/`)),
    );
    expect(outside).toEqual([]);
  });
});

describe('mock mode in the image', () => {
  const spec: PodSpec = readPodSpec();
  const name = `gdrive-worker-mock-${process.pid}`;
  let world: WorkerWorld;
  let secrets: string;

  beforeAll(async () => {
    // The world's emulator goes unused: mock mode brings its own, seeded, in the process.
    world = await WorkerWorld.start({ files: 1, users: 1, sharedDrives: 0 }, 3);
    secrets = await mkdtemp(path.join(tmpdir(), 'pod-secret-'));
  });

  afterAll(async () => {
    await podman('rm', '--force', '--ignore', name).catch(() => undefined);
    await world?.stop();
    if (secrets) await rm(secrets, { recursive: true, force: true });
  });

  it('syncs the seeded Drive with no S3 at all: offloaded payloads stay in memory', async () => {
    const port = await freePort();
    const env = world.env({
      GOOGLE_DRIVE_MOCK_MODE: 'true',
      HTTP_PORT: String(port),
      LOG_LEVEL: 'info',
      // Every record over 1 KiB goes to the payload store.
      KAFKA_MAX_INLINE_BYTES: '1024',
    });
    await podman(
      ...podmanCreateArgs(spec, {
        image: IMAGE,
        name,
        env,
        secretDirectories: { 'control-plane-mtls': secrets },
        resourceLimits: false,
      }),
    );
    await podman('start', name);
    const ready = spec.container.readinessProbe;
    await until(
      () => probeOnce(`http://127.0.0.1:${port}${ready.httpGet.path}`, ready),
      'ready',
      60_000,
      100,
    );
    await world.trigger('conn_demo', 'full_sync');
    await world.waitForSyncs('conn_demo', 1, 120_000).catch(async (error: unknown) => {
      throw new Error(`${String(error)}\n${(await podman('logs', name)).slice(-3_000)}`);
    });
    const offloaded = world.records('conn_demo').filter((r) => r.s3_url !== null && r.s3_url !== undefined);
    expect(offloaded.length).toBeGreaterThan(0);
    expect(await podman('logs', name)).toContain('mock mode: payloads kept in memory');
    expect(world.errors()).toEqual([]);
  });
});
