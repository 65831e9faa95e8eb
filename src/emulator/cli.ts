import { parseArgs } from 'node:util';
import { startDriveEmulator } from './index.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '4000' },
    host: { type: 'string', default: '127.0.0.1' },
    seed: { type: 'string', default: '42' },
    files: { type: 'string', default: '200' },
    users: { type: 'string', default: '3' },
    'shared-drives': { type: 'string', default: '1' },
    'token-lifetime': { type: 'string', default: '3600' },
    // Full pages, one log entry per edit, instant push: for benchmarks, not for proving a client.
    'no-realism': { type: 'boolean', default: false },
    'batch-mode': { type: 'string', default: 'serial' },
  },
});

function integer(name: string, raw: string | undefined): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    process.stderr.write(`--${name} must be a non-negative integer\n`);
    process.exit(2);
  }
  return value;
}

const batchMode = values['batch-mode'];
if (batchMode !== 'serial' && batchMode !== 'parallel') {
  process.stderr.write('--batch-mode must be serial or parallel\n');
  process.exit(2);
}

const emulator = await startDriveEmulator({
  port: integer('port', values.port),
  host: values.host ?? '127.0.0.1',
  seed: integer('seed', values.seed),
  tokenLifetimeSeconds: integer('token-lifetime', values['token-lifetime']),
  realism: !values['no-realism'],
  batchMode,
  corpus: {
    files: integer('files', values.files),
    users: Math.max(1, integer('users', values.users)),
    sharedDrives: integer('shared-drives', values['shared-drives']),
  },
});

const demo = emulator.demo;
const lines = [
  `Drive v3 emulator listening on ${emulator.url}`,
  `  googleapis rootUrl:     ${emulator.url}/`,
  `  OAuth token endpoint:   ${emulator.url}/token`,
  `  control plane:          ${emulator.url}/v1/integration-connections/:id/access-token`,
  `  admin API:              ${emulator.url}/_emulator/state`,
];
if (demo) {
  lines.push(
    `Demo user ${demo.email} (id ${demo.userId})`,
    `  access token:  ${demo.accessToken}`,
    `  refresh token: ${demo.refreshToken}`,
    `  client:        ${demo.clientId} / ${demo.clientSecret}`,
    `Try: curl -H "Authorization: Bearer ${demo.accessToken}" "${emulator.url}/drive/v3/files?pageSize=5"`,
  );
}
process.stdout.write(`${lines.join('\n')}\n`);

const shutdown = () => {
  emulator.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
