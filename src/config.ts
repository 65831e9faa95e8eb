import { z } from 'zod';

/**
 * The worker's whole configuration, read once from the environment (README, "Configuration").
 * Every variable is documented in `configDocs` below, which the README table is checked against.
 */

const booleanFromEnv = z
  .string()
  .trim()
  .toLowerCase()
  .refine((v) => ['true', 'false', '1', '0', 'yes', 'no'].includes(v), {
    message: 'must be one of true, false, 1, 0, yes, no',
  })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const integer = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^-?\d+$/, { message: 'must be a whole number' })
    .transform(Number)
    .pipe(
      z
        .number()
        .int()
        .min(min, { message: `must be at least ${min}` })
        .max(max, { message: `must be at most ${max}` }),
    );

const nonEmpty = z.string().trim().min(1, { message: 'must not be empty' });

const httpUrl = z
  .string()
  .trim()
  .refine(
    (v) => {
      try {
        const url = new URL(v);
        return url.protocol === 'http:' || url.protocol === 'https:';
      } catch {
        return false;
      }
    },
    { message: 'must be an http:// or https:// URL' },
  )
  .transform((v) => v.replace(/\/+$/, ''));

const hostPortList = z
  .string()
  .trim()
  .transform((v) =>
    v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  )
  .refine((list) => list.length > 0 && list.every((s) => /^[^\s:]+:\d{1,5}$/.test(s)), {
    message: 'must be a comma-separated list of host:port',
  });

const topicName = z
  .string()
  .trim()
  .regex(/^[a-zA-Z0-9._-]{1,249}$/, { message: 'must be a valid Kafka topic name' });

/** A secret: validated for presence only; its value is never printed. */
const secret = z.string().min(1, { message: 'must not be empty' });

const exportMimeMap = z
  .string()
  .transform((v, ctx) => {
    try {
      return JSON.parse(v) as unknown;
    } catch {
      ctx.addIssue({
        code: 'custom',
        message: 'must be a JSON object of Google MIME type to export MIME type',
      });
      return z.NEVER;
    }
  })
  .pipe(z.record(z.string().min(1), z.string().min(1), { message: 'must be a JSON object of strings' }));

export const defaultExportMimeMap: Readonly<Record<string, string>> = {
  'application/vnd.google-apps.document': 'text/markdown',
  'application/vnd.google-apps.spreadsheet': 'text/csv',
  'application/vnd.google-apps.presentation': 'application/pdf',
  'application/vnd.google-apps.drawing': 'image/svg+xml',
  'application/vnd.google-apps.script': 'application/vnd.google-apps.script+json',
};

interface VariableDoc {
  readonly default: string | undefined;
  readonly description: string;
  readonly secret?: boolean;
}

/** One row per variable: the README table is generated from / checked against this. */
export const configDocs = {
  KAFKA_BOOTSTRAP_SERVERS: {
    default: 'localhost:9092',
    description: 'Kafka bootstrap servers, comma-separated host:port.',
  },
  KAFKA_CONSUMER_GROUP_ID: {
    default: 'google-drive-worker',
    description: 'Consumer group of the trigger and webhook consumers.',
  },
  KAFKA_CONSUMER_SESSION_TIMEOUT_MS: {
    default: '30000',
    description: 'A consumer silent this long leaves the group and its partitions go to the others.',
  },
  KAFKA_CONSUMER_HEARTBEAT_INTERVAL_MS: {
    default: '3000',
    description:
      'Consumer heartbeats, below the session timeout (a third of it is usual); a member hears of a rebalance at its next heartbeat.',
  },
  KAFKA_CONSUMER_REBALANCE_TIMEOUT_MS: {
    default: '60000',
    description: 'How long a rebalance waits for every member to rejoin.',
  },
  KAFKA_CONSUMER_NEW_GROUP_START: {
    default: 'latest',
    description:
      "Where the trigger and webhook consumers start on a partition their group has no committed offset for (a new group, or offsets expired): latest skips what the topics retain, stale triggers and webhooks the control plane's next poll supersedes; earliest replays it, e.g. a first deploy whose control plane already queued full syncs. Pinned by a commit once a partition's first messages arrive.",
  },
  KAFKA_CLIENT_ID: {
    default: '$HOSTNAME or gdrive-worker',
    description: 'Kafka client id; the StatefulSet pod name, so brokers see stable ids.',
  },
  KAFKA_TOPIC_TRIGGER: {
    default: 'integrations-inbound-trigger',
    description: 'Consumed: sync triggers from the control plane.',
  },
  KAFKA_TOPIC_WEBHOOK: {
    default: 'integrations-inbound-webhook',
    description: 'Consumed: Drive push notifications from the webhook proxy.',
  },
  KAFKA_TOPIC_RECORDS: {
    default: 'integrations-incoming-records',
    description: 'Produced: normalized records.',
  },
  KAFKA_TOPIC_ERRORS: { default: 'integrations-errors', description: 'Produced: classified error records.' },
  KAFKA_TOPIC_STATE: {
    default: 'integrations-google-drive-state',
    description: 'Produced and consumed: per-connection checkpoints (compacted).',
  },
  KAFKA_MAX_INLINE_BYTES: {
    default: '262144',
    description: 'Largest serialized record sent inline; larger payloads go to S3.',
  },
  KAFKA_MAX_MESSAGE_BYTES: {
    default: '1048588',
    description:
      "The broker's max.message.bytes (Kafka's default): no produced message or request is larger; a message that would be is reported once as a message_too_large error record instead of blocking its partition.",
  },
  KAFKA_PRODUCER_IDEMPOTENT: {
    default: 'true',
    description: 'Idempotent producer: a retried send is never written twice.',
  },
  KAFKA_CREATE_TOPICS: {
    default: 'false',
    description:
      'Create missing topics at start (state compacted), each logged. Off: a missing or wrongly laid out topic stops the start with exit code 2.',
  },
  KAFKA_CREATE_TOPICS_PARTITIONS: {
    default: '12',
    description:
      'Partitions of topics KAFKA_CREATE_TOPICS creates, unless trigger, webhook or state exists (then its count).',
  },
  KAFKA_CREATE_TOPICS_REPLICATION_FACTOR: {
    default: '-1',
    description: "Replication factor of topics KAFKA_CREATE_TOPICS creates; -1 takes the broker's default.",
  },
  KAFKA_SSL: { default: 'false', description: 'Connect to Kafka over TLS.' },
  KAFKA_SASL_MECHANISM: {
    default: undefined,
    description: 'plain, scram-sha-256 or scram-sha-512; unset means no SASL.',
  },
  KAFKA_SASL_USERNAME: { default: undefined, description: 'SASL user name (with KAFKA_SASL_MECHANISM).' },
  KAFKA_SASL_PASSWORD: {
    default: undefined,
    description: 'SASL password (with KAFKA_SASL_MECHANISM).',
    secret: true,
  },
  WORKER_INTEGRATION_ID: {
    default: 'google-drive',
    description: 'Inbound messages of other integrations are skipped.',
  },
  WORKER_MAX_CONCURRENT_CONNECTIONS: {
    default: '10',
    description: 'Connections syncing at once; the rest wait their turn, page by page.',
  },
  WORKER_IDLE_EVICTION_SECONDS: {
    default: '900',
    description: 'Idle actors are dropped from memory after this long and rehydrated from their checkpoint.',
  },
  SYNC_MAX_ATTEMPTS: {
    default: '8',
    description: 'Retries of a failing sync before an error record and back to idle.',
  },
  GDRIVE_API_BASE_URL: {
    default: 'https://www.googleapis.com',
    description: 'Drive API root URL (the emulator in mock mode).',
  },
  GDRIVE_PAGE_SIZE: { default: '1000', description: 'pageSize of files.list and changes.list (1-1000).' },
  GDRIVE_INCLUDE_SHARED_DRIVES: { default: 'true', description: 'Sync shared drives besides My Drive.' },
  GDRIVE_ITEM_MAX_ATTEMPTS: {
    default: '4',
    description:
      "Reads of one file's failing extra (permissions, revisions, comments, content), each alone after a short backoff, before it is one error record and the file's record goes without it; a rate limit past them fails the page instead.",
  },
  SYNC_CHUNK_ITEMS: {
    default: '200',
    description:
      "A full sync walk's page is published and checkpointed this many items at a time, so a crash repeats at most one chunk.",
  },
  GDRIVE_BATCH_REQUESTS: {
    default: 'true',
    description: 'Group per-file calls into Drive batch requests of up to 100 parts.',
  },
  GDRIVE_QUOTA_USER_PER_MINUTE: {
    default: '12000',
    description:
      'Request budget per Google user, shared by all actors of a worker (not divided across workers: see below).',
  },
  GDRIVE_QUOTA_PROJECT_PER_MINUTE: {
    default: '12000',
    description:
      "Request budget of the whole Google Cloud project, **not of one worker**: the consumer group's members share it, each taking budget / members, recounted after every rebalance.",
  },
  GDRIVE_CONTENT_MAX_BYTES: {
    default: '104857600',
    description: 'Largest binary file downloaded when content is asked for.',
  },
  GDRIVE_EXPORT_MIME_MAP: {
    default: '(Docs markdown, Sheets csv, Slides pdf, Drawings svg)',
    description: 'JSON map of Workspace MIME type to export MIME type.',
  },
  GDRIVE_CHANNEL_ADDRESS: {
    default: undefined,
    description:
      'HTTPS address Drive posts notifications to: channels are registered at `{address}/{connection id}?customer_id={customer id}`, or with `{connection_id}` / `{customer_id}` filled in when the address holds them; unset disables push channels (polling only).',
  },
  GDRIVE_CHANNEL_TOKEN_SECRET: {
    default: undefined,
    description: 'Key of the HMAC that signs channel tokens (required with GDRIVE_CHANNEL_ADDRESS).',
    secret: true,
  },
  GDRIVE_CHANNEL_TTL_SECONDS: {
    default: '604800',
    description: 'Requested channel lifetime (Drive caps changes channels at one week).',
  },
  GDRIVE_CHANNEL_RENEW_MARGIN_SECONDS: {
    default: '3600',
    description: 'Renew a channel this long before it expires, at most 10% of the life Drive granted it.',
  },
  GDRIVE_NOTIFICATION_QUIET_MS: {
    default: '500',
    description:
      "A quiet connection's first push notification is read at once; the run that follows it during a burst waits until no notification came for this long (5 s at most), so a burst costs two runs.",
  },
  GOOGLE_DRIVE_MOCK_MODE: {
    default: 'false',
    description: 'Start the Drive emulator in-process (seeded corpus) and point the worker at it.',
  },
  S3_BUCKET_NAME: {
    default: 'gdrive-worker-payloads',
    description: 'Bucket for payloads larger than KAFKA_MAX_INLINE_BYTES.',
  },
  S3_REGION: { default: 'us-east-1', description: 'S3 region.' },
  S3_ENDPOINT: { default: undefined, description: 'Endpoint of an S3-compatible store; unset means AWS.' },
  S3_FORCE_PATH_STYLE: {
    default: 'false',
    description: 'Path-style addressing (most S3-compatible stores).',
  },
  S3_KEY_PREFIX: {
    default: 'google-drive',
    description: 'Key prefix; objects live under {prefix}/{connection id}/.',
  },
  CONTROL_PLANE_BASE_URL: {
    default: 'http://localhost:8081',
    description: 'Control plane that hands out Google access tokens.',
  },
  CONTROL_PLANE_MTLS_CERT_PATH: {
    default: undefined,
    description: 'Client certificate (PEM) for mutual TLS to the control plane.',
  },
  CONTROL_PLANE_MTLS_KEY_PATH: {
    default: undefined,
    description: 'Client key (PEM) for mutual TLS to the control plane.',
  },
  CONTROL_PLANE_MTLS_CA_PATH: {
    default: undefined,
    description: 'CA bundle (PEM) that signs the control plane certificate.',
  },
  HTTP_HOST: {
    default: '0.0.0.0',
    description: 'Address of the HTTP server (health, metrics, state, page).',
  },
  HTTP_PORT: { default: '8080', description: 'Port of the HTTP server.' },
  HTTP_AUTH_TOKEN: {
    default: undefined,
    description:
      'When set, state endpoints and the page require this bearer token from every client; unset, they answer loopback clients only (kubectl port-forward, a sidecar).',
    secret: true,
  },
  HTTP_WEBHOOK_INGRESS: {
    default: 'false',
    description:
      'Accept Google notifications at POST /webhooks/google-drive/:connectionId (requires GDRIVE_CHANNEL_TOKEN_SECRET: tokens are verified before anything is produced).',
  },
  HTTP_WEBHOOK_BURST_PER_CHANNEL: {
    default: '1000',
    description:
      'Notifications one channel may send at once to the webhook ingress; past it 503 with Retry-After.',
  },
  HTTP_WEBHOOK_RATE_PER_CHANNEL: {
    default: '100',
    description: 'Notifications a second one channel may send to the webhook ingress, refilling its burst.',
  },
  HTTP_REQUEST_TIMEOUT_SECONDS: {
    default: '10',
    description: 'Time a client has to send a whole request (headers and body); a slower one gets 408.',
  },
  HTTP_IDLE_TIMEOUT_SECONDS: {
    default: '75',
    description:
      'An idle keep-alive connection is closed after this long (above common load-balancer idle timeouts of 60 s).',
  },
  SHUTDOWN_GRACE_SECONDS: {
    default: '25',
    description: 'Time SIGTERM allows for in-flight pages, commits and flushes.',
  },
  LOG_LEVEL: { default: 'info', description: 'fatal, error, warn, info, debug or trace.' },
  LOG_FORMAT: { default: 'json', description: 'json, or pretty for humans.' },
} as const satisfies Record<string, VariableDoc>;

type VariableName = keyof typeof configDocs;

const envSchema = z
  .object({
    KAFKA_BOOTSTRAP_SERVERS: hostPortList.default(['localhost:9092']),
    KAFKA_CONSUMER_GROUP_ID: nonEmpty.default('google-drive-worker'),
    KAFKA_CONSUMER_SESSION_TIMEOUT_MS: integer(1_000, 1_800_000).default(30_000),
    KAFKA_CONSUMER_HEARTBEAT_INTERVAL_MS: integer(100, 600_000).default(3_000),
    KAFKA_CONSUMER_REBALANCE_TIMEOUT_MS: integer(1_000, 3_600_000).default(60_000),
    KAFKA_CONSUMER_NEW_GROUP_START: z.enum(['latest', 'earliest']).default('latest'),
    KAFKA_CLIENT_ID: nonEmpty.optional(),
    HOSTNAME: z.string().optional(),
    KAFKA_TOPIC_TRIGGER: topicName.default('integrations-inbound-trigger'),
    KAFKA_TOPIC_WEBHOOK: topicName.default('integrations-inbound-webhook'),
    KAFKA_TOPIC_RECORDS: topicName.default('integrations-incoming-records'),
    KAFKA_TOPIC_ERRORS: topicName.default('integrations-errors'),
    KAFKA_TOPIC_STATE: topicName.default('integrations-google-drive-state'),
    KAFKA_MAX_INLINE_BYTES: integer(1024, 100 * 1024 * 1024).default(262144),
    KAFKA_MAX_MESSAGE_BYTES: integer(4096, 100 * 1024 * 1024).default(1048588),
    KAFKA_PRODUCER_IDEMPOTENT: booleanFromEnv.default(true),
    KAFKA_CREATE_TOPICS: booleanFromEnv.default(false),
    KAFKA_CREATE_TOPICS_PARTITIONS: integer(1, 10_000).default(12),
    KAFKA_CREATE_TOPICS_REPLICATION_FACTOR: integer(-1, 32)
      .refine((value) => value !== 0, {
        message: 'must be -1 (the broker default) or at least 1',
      })
      .default(-1),
    KAFKA_SSL: booleanFromEnv.default(false),
    KAFKA_SASL_MECHANISM: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']).optional(),
    KAFKA_SASL_USERNAME: nonEmpty.optional(),
    KAFKA_SASL_PASSWORD: secret.optional(),
    WORKER_INTEGRATION_ID: nonEmpty.default('google-drive'),
    WORKER_MAX_CONCURRENT_CONNECTIONS: integer(1, 10_000).default(10),
    WORKER_IDLE_EVICTION_SECONDS: integer(0, 7 * 86_400).default(900),
    SYNC_MAX_ATTEMPTS: integer(1, 100).default(8),
    GDRIVE_API_BASE_URL: httpUrl.default('https://www.googleapis.com'),
    GDRIVE_PAGE_SIZE: integer(1, 1000).default(1000),
    GDRIVE_INCLUDE_SHARED_DRIVES: booleanFromEnv.default(true),
    GDRIVE_BATCH_REQUESTS: booleanFromEnv.default(true),
    GDRIVE_ITEM_MAX_ATTEMPTS: integer(1, 20).default(4),
    SYNC_CHUNK_ITEMS: integer(1, 1000).default(200),
    GDRIVE_QUOTA_USER_PER_MINUTE: integer(1, 10_000_000).default(12_000),
    GDRIVE_QUOTA_PROJECT_PER_MINUTE: integer(1, 10_000_000).default(12_000),
    GDRIVE_CONTENT_MAX_BYTES: integer(0, 10 * 1024 ** 3).default(100 * 1024 * 1024),
    GDRIVE_EXPORT_MIME_MAP: exportMimeMap.optional(),
    GDRIVE_CHANNEL_ADDRESS: httpUrl.optional(),
    GDRIVE_CHANNEL_TOKEN_SECRET: secret.optional(),
    GDRIVE_CHANNEL_TTL_SECONDS: integer(60, 604_800).default(604_800),
    GDRIVE_CHANNEL_RENEW_MARGIN_SECONDS: integer(1, 86_400).default(3600),
    GDRIVE_NOTIFICATION_QUIET_MS: integer(10, 4_000).default(500),
    GOOGLE_DRIVE_MOCK_MODE: booleanFromEnv.default(false),
    S3_BUCKET_NAME: z
      .string()
      .trim()
      .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, {
        message: 'must be a valid S3 bucket name (3-63 characters)',
      })
      .default('gdrive-worker-payloads'),
    S3_REGION: nonEmpty.default('us-east-1'),
    S3_ENDPOINT: httpUrl.optional(),
    S3_FORCE_PATH_STYLE: booleanFromEnv.default(false),
    S3_KEY_PREFIX: z
      .string()
      .trim()
      .regex(/^[A-Za-z0-9!_.*'()/-]*$/, { message: 'must hold only S3-safe key characters' })
      .transform((v) => v.replace(/^\/+|\/+$/g, ''))
      .default('google-drive'),
    CONTROL_PLANE_BASE_URL: httpUrl.default('http://localhost:8081'),
    CONTROL_PLANE_MTLS_CERT_PATH: nonEmpty.optional(),
    CONTROL_PLANE_MTLS_KEY_PATH: nonEmpty.optional(),
    CONTROL_PLANE_MTLS_CA_PATH: nonEmpty.optional(),
    HTTP_HOST: nonEmpty.default('0.0.0.0'),
    HTTP_PORT: integer(0, 65_535).default(8080),
    HTTP_AUTH_TOKEN: secret.optional(),
    HTTP_WEBHOOK_INGRESS: booleanFromEnv.default(false),
    HTTP_WEBHOOK_BURST_PER_CHANNEL: integer(1, 1_000_000).default(1000),
    HTTP_WEBHOOK_RATE_PER_CHANNEL: integer(1, 1_000_000).default(100),
    HTTP_REQUEST_TIMEOUT_SECONDS: integer(1, 3600).default(10),
    HTTP_IDLE_TIMEOUT_SECONDS: integer(1, 3600).default(75),
    SHUTDOWN_GRACE_SECONDS: integer(1, 3600).default(25),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    LOG_FORMAT: z.enum(['json', 'pretty']).default('json'),
  })
  .superRefine((env, ctx) => {
    const pairs: Array<[VariableName, VariableName]> = [
      ['CONTROL_PLANE_MTLS_CERT_PATH', 'CONTROL_PLANE_MTLS_KEY_PATH'],
      ['CONTROL_PLANE_MTLS_KEY_PATH', 'CONTROL_PLANE_MTLS_CERT_PATH'],
      ['GDRIVE_CHANNEL_ADDRESS', 'GDRIVE_CHANNEL_TOKEN_SECRET'],
    ];
    // The ingress verifies channel tokens before producing; it cannot without the key.
    if (env.HTTP_WEBHOOK_INGRESS && env.GDRIVE_CHANNEL_TOKEN_SECRET === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['GDRIVE_CHANNEL_TOKEN_SECRET'],
        message: 'is required when HTTP_WEBHOOK_INGRESS is on',
      });
    }
    for (const [present, required] of pairs) {
      if (env[present] !== undefined && env[required] === undefined) {
        ctx.addIssue({ code: 'custom', path: [required], message: `is required when ${present} is set` });
      }
    }
    if (env.KAFKA_SASL_MECHANISM && (!env.KAFKA_SASL_USERNAME || !env.KAFKA_SASL_PASSWORD)) {
      ctx.addIssue({
        code: 'custom',
        path: ['KAFKA_SASL_USERNAME'],
        message: 'KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are required with KAFKA_SASL_MECHANISM',
      });
    }
    if (env.KAFKA_CONSUMER_HEARTBEAT_INTERVAL_MS >= env.KAFKA_CONSUMER_SESSION_TIMEOUT_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['KAFKA_CONSUMER_HEARTBEAT_INTERVAL_MS'],
        message: 'must be smaller than KAFKA_CONSUMER_SESSION_TIMEOUT_MS',
      });
    }
    if (env.GDRIVE_CHANNEL_RENEW_MARGIN_SECONDS >= env.GDRIVE_CHANNEL_TTL_SECONDS) {
      ctx.addIssue({
        code: 'custom',
        path: ['GDRIVE_CHANNEL_RENEW_MARGIN_SECONDS'],
        message: 'must be smaller than GDRIVE_CHANNEL_TTL_SECONDS',
      });
    }
  });

function toConfig(env: z.infer<typeof envSchema>) {
  return {
    kafka: {
      brokers: env.KAFKA_BOOTSTRAP_SERVERS,
      groupId: env.KAFKA_CONSUMER_GROUP_ID,
      consumer: {
        sessionTimeoutMs: env.KAFKA_CONSUMER_SESSION_TIMEOUT_MS,
        heartbeatIntervalMs: env.KAFKA_CONSUMER_HEARTBEAT_INTERVAL_MS,
        rebalanceTimeoutMs: env.KAFKA_CONSUMER_REBALANCE_TIMEOUT_MS,
        newGroupStart: env.KAFKA_CONSUMER_NEW_GROUP_START,
      },
      clientId: env.KAFKA_CLIENT_ID ?? env.HOSTNAME ?? 'gdrive-worker',
      topics: {
        trigger: env.KAFKA_TOPIC_TRIGGER,
        webhook: env.KAFKA_TOPIC_WEBHOOK,
        records: env.KAFKA_TOPIC_RECORDS,
        errors: env.KAFKA_TOPIC_ERRORS,
        state: env.KAFKA_TOPIC_STATE,
      },
      maxInlineBytes: env.KAFKA_MAX_INLINE_BYTES,
      maxMessageBytes: env.KAFKA_MAX_MESSAGE_BYTES,
      idempotentProducer: env.KAFKA_PRODUCER_IDEMPOTENT,
      createTopics: env.KAFKA_CREATE_TOPICS
        ? {
            partitions: env.KAFKA_CREATE_TOPICS_PARTITIONS,
            replicationFactor: env.KAFKA_CREATE_TOPICS_REPLICATION_FACTOR,
          }
        : null,
      ssl: env.KAFKA_SSL,
      sasl:
        env.KAFKA_SASL_MECHANISM && env.KAFKA_SASL_USERNAME && env.KAFKA_SASL_PASSWORD
          ? {
              mechanism: env.KAFKA_SASL_MECHANISM,
              username: env.KAFKA_SASL_USERNAME,
              password: env.KAFKA_SASL_PASSWORD,
            }
          : null,
    },
    worker: {
      integrationId: env.WORKER_INTEGRATION_ID,
      maxConcurrentConnections: env.WORKER_MAX_CONCURRENT_CONNECTIONS,
      idleEvictionMs: env.WORKER_IDLE_EVICTION_SECONDS * 1000,
      maxSyncAttempts: env.SYNC_MAX_ATTEMPTS,
      chunkItems: env.SYNC_CHUNK_ITEMS,
    },
    drive: {
      baseUrl: env.GDRIVE_API_BASE_URL,
      pageSize: env.GDRIVE_PAGE_SIZE,
      includeSharedDrives: env.GDRIVE_INCLUDE_SHARED_DRIVES,
      batchRequests: env.GDRIVE_BATCH_REQUESTS,
      itemMaxAttempts: env.GDRIVE_ITEM_MAX_ATTEMPTS,
      quota: {
        userPerMinute: env.GDRIVE_QUOTA_USER_PER_MINUTE,
        projectPerMinute: env.GDRIVE_QUOTA_PROJECT_PER_MINUTE,
      },
      contentMaxBytes: env.GDRIVE_CONTENT_MAX_BYTES,
      exportMimeMap: env.GDRIVE_EXPORT_MIME_MAP ?? defaultExportMimeMap,
      channels:
        env.GDRIVE_CHANNEL_ADDRESS && env.GDRIVE_CHANNEL_TOKEN_SECRET
          ? {
              address: env.GDRIVE_CHANNEL_ADDRESS,
              tokenSecret: env.GDRIVE_CHANNEL_TOKEN_SECRET,
              ttlSeconds: env.GDRIVE_CHANNEL_TTL_SECONDS,
              renewMarginSeconds: env.GDRIVE_CHANNEL_RENEW_MARGIN_SECONDS,
            }
          : null,
      notificationQuietMs: env.GDRIVE_NOTIFICATION_QUIET_MS,
      mockMode: env.GOOGLE_DRIVE_MOCK_MODE,
    },
    s3: {
      bucket: env.S3_BUCKET_NAME,
      region: env.S3_REGION,
      endpoint: env.S3_ENDPOINT ?? null,
      forcePathStyle: env.S3_FORCE_PATH_STYLE,
      keyPrefix: env.S3_KEY_PREFIX,
    },
    controlPlane: {
      baseUrl: env.CONTROL_PLANE_BASE_URL,
      tls:
        env.CONTROL_PLANE_MTLS_CERT_PATH && env.CONTROL_PLANE_MTLS_KEY_PATH
          ? {
              certPath: env.CONTROL_PLANE_MTLS_CERT_PATH,
              keyPath: env.CONTROL_PLANE_MTLS_KEY_PATH,
              caPath: env.CONTROL_PLANE_MTLS_CA_PATH ?? null,
            }
          : null,
    },
    http: {
      host: env.HTTP_HOST,
      port: env.HTTP_PORT,
      authToken: env.HTTP_AUTH_TOKEN ?? null,
      webhookIngress:
        env.HTTP_WEBHOOK_INGRESS && env.GDRIVE_CHANNEL_TOKEN_SECRET
          ? {
              tokenSecret: env.GDRIVE_CHANNEL_TOKEN_SECRET,
              burstPerChannel: env.HTTP_WEBHOOK_BURST_PER_CHANNEL,
              ratePerSecond: env.HTTP_WEBHOOK_RATE_PER_CHANNEL,
            }
          : null,
      requestTimeoutMs: env.HTTP_REQUEST_TIMEOUT_SECONDS * 1000,
      idleTimeoutMs: env.HTTP_IDLE_TIMEOUT_SECONDS * 1000,
    },
    shutdownGraceMs: env.SHUTDOWN_GRACE_SECONDS * 1000,
    log: { level: env.LOG_LEVEL, format: env.LOG_FORMAT },
  };
}

export type Config = ReturnType<typeof toConfig>;

/** Thrown by `loadConfig`; `problems` holds one readable line per bad variable, never a value. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Unset and empty variables both mean "use the default". */
export function loadConfig(env: Readonly<Record<string, string | undefined>> = process.env): Config {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? 'environment');
      return `${name}: ${issue.message}`;
    });
    throw new ConfigError([...new Set(problems)]);
  }
  return toConfig(parsed.data);
}
