import { describe, expect, it } from 'vitest';
import { bytesOf, containerEnv, cpusOf, podmanCreateArgs, readPodSpec } from './pod-spec.js';

describe("the pod spec's translation to podman", () => {
  const spec = readPodSpec();

  it('reads quantities as Kubernetes does', () => {
    expect(bytesOf('64Mi')).toBe(64 * 1024 * 1024);
    expect(bytesOf('1Gi')).toBe(1024 ** 3);
    expect(bytesOf('512M')).toBe(512e6);
    expect(cpusOf('1')).toBe(1);
    expect(cpusOf('250m')).toBe(0.25);
  });

  it('builds the environment from the ConfigMap, env and Secrets, then the overrides', () => {
    const env = containerEnv(
      spec,
      { 'gdrive-worker-s3/access-key-id': 'id', 'gdrive-worker-s3/secret-access-key': 'secret' },
      { KAFKA_SSL: 'false', CONTROL_PLANE_MTLS_CA_PATH: null },
    );
    expect(env.KAFKA_CLIENT_ID).toBe(spec.podName);
    expect(env.KAFKA_TOPIC_RECORDS).toBe(spec.configMap.KAFKA_TOPIC_RECORDS);
    expect(env.AWS_SECRET_ACCESS_KEY).toBe('secret');
    expect(env.NODE_OPTIONS).toContain('--max-old-space-size');
    expect(env.KAFKA_SSL).toBe('false');
    expect(env).not.toHaveProperty('CONTROL_PLANE_MTLS_CA_PATH');
    // Optional Secret keys the test does not give are left out, as the kubelet does.
    expect(env).not.toHaveProperty('HTTP_AUTH_TOKEN');
    expect(() => containerEnv(spec, {}, {})).toThrow(/gdrive-worker-s3/);
  });

  it('starts the container read-only with only the declared volumes writable', () => {
    const args = podmanCreateArgs(spec, {
      image: 'img',
      name: 'pod',
      env: { A: 'b' },
      secretDirectories: { 'control-plane-mtls': '/secrets' },
      resourceLimits: true,
    });
    const joined = args.join(' ');
    expect(joined).toContain(`--user ${spec.user}:${spec.group}`);
    expect(joined).toContain('--read-only --read-only-tmpfs=false');
    expect(joined).toContain(`--tmpfs /tmp:rw,mode=1777,size=${64 * 1024 * 1024}`);
    expect(joined).toContain('--volume /secrets:/etc/gdrive-worker/mtls:ro');
    expect(joined).toContain('--cap-drop ALL');
    expect(joined).toContain(`--memory ${1024 ** 3}`);
    expect(args.at(-1)).toBe('img');
  });
});
