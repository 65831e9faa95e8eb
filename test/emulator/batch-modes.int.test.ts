import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UserCredentials } from '../../src/emulator/admin-client.js';
import { type RunningDriveEmulator, startDriveEmulator } from '../../src/emulator/index.js';
import { until } from '../support/until.js';

let emulator: RunningDriveEmulator;
let creds: UserCredentials;
let fileIds: string[];

beforeAll(async () => {
  emulator = await startDriveEmulator({ realism: false });
  creds = await emulator.admin.createUser('batch-modes@example.com', 'batch modes');
  fileIds = [];
  for (const name of ['one', 'two', 'three']) {
    const response = await fetch(`${emulator.url}/drive/v3/files`, {
      method: 'POST',
      headers: { authorization: `Bearer ${creds.accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name }),
    });
    fileIds.push(((await response.json()) as { id: string }).id);
  }
});

afterAll(async () => {
  await emulator?.close();
});

/** Ids deliberately out of order, one part without an id, failures between successes. */
function batchBody(boundary: string): string {
  const [a, b, c] = fileIds;
  const parts: Array<[string | null, string]> = [
    ['z', `GET /drive/v3/files/${a}?fields=id,name HTTP/1.1`],
    ['3', 'GET /drive/v3/files/missing HTTP/1.1'],
    [null, `GET /drive/v3/files/${b}/permissions?fields=permissions(id,role) HTTP/1.1`],
    ['a', `GET /drive/v3/files/${c}?alt=media HTTP/1.1`],
    ['1', `GET /drive/v3/files/${c}/revisions?fields=revisions(id) HTTP/1.1`],
    ['m', `GET /drive/v3/files/${b}?fields=id,name HTTP/1.1`],
  ];
  const encoded = parts.map(
    ([id, line]) =>
      `--${boundary}\r\nContent-Type: application/http\r\n${id === null ? '' : `Content-ID: <${id}>\r\n`}\r\n${line}\r\n\r\n`,
  );
  return `${encoded.join('')}--${boundary}--\r\n`;
}

async function sendBatch(body: string, boundary: string): Promise<{ status: number; text: string }> {
  const response = await fetch(`${emulator.url}/batch/drive/v3`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${creds.accessToken}`,
      'content-type': `multipart/mixed; boundary=${boundary}`,
    },
    body,
  });
  const answerBoundary = /boundary=([^;\s]+)/.exec(response.headers.get('content-type') ?? '')?.[1];
  if (answerBoundary === undefined) throw new Error('the batch answer has no boundary');
  return { status: response.status, text: (await response.text()).replaceAll(answerBoundary, 'BOUNDARY') };
}

describe('batch modes of the emulator', () => {
  it('is serial unless told, and says so in its state', async () => {
    expect((await emulator.admin.state()).batchMode).toBe('serial');
  });

  it('answers the same parts, in request order, in serial and in parallel mode', async () => {
    await emulator.admin.setBatchMode('serial');
    const serial = await sendBatch(batchBody('s3rial'), 's3rial');
    expect(await emulator.admin.setBatchMode('parallel')).toBe('parallel');
    expect((await emulator.admin.state()).batchMode).toBe('parallel');
    const parallel = await sendBatch(batchBody('p4rallel'), 'p4rallel');
    await emulator.admin.setBatchMode('serial');

    expect(serial.status).toBe(200);
    expect(parallel).toEqual(serial);
    const ids = [...serial.text.matchAll(/Content-ID: <([^>]+)>/g)].map((match) => match[1]);
    expect(ids).toEqual([
      'response-z',
      'response-3',
      'response-item-3',
      'response-a',
      'response-1',
      'response-m',
    ]);
    const statuses = [...serial.text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((match) => Number(match[1]));
    expect(statuses).toEqual([200, 404, 200, 400, 200, 200]);
    expect(serial.text.indexOf('"name":"one"')).toBeLessThan(serial.text.indexOf('"name":"two"'));
  });

  it('in parallel mode every part is under way before the first one is answered', async () => {
    await emulator.admin.setBatchMode('parallel');
    // Each part waits this long before its handler: serially, the batch would count one part per wait.
    await emulator.admin.setLatency('drive.files.get', 6_000);
    await emulator.admin.resetCounters();
    let settled = false;
    const answer = sendBatch(batchBody('w4it'), 'w4it').finally(() => {
      settled = true;
    });
    try {
      await until(
        async () => ((await emulator.admin.counters())['drive.files.get'] ?? 0) === 3,
        'all three files.get parts were counted',
        5_000,
        50,
      );
      expect(settled).toBe(false);
    } finally {
      await emulator.admin.setLatency('drive.files.get', 0);
      await emulator.admin.setBatchMode('serial');
    }
    expect((await answer).status).toBe(200);
  }, 60_000);

  it('refuses a mode it does not know', async () => {
    const response = await fetch(`${emulator.url}/_emulator/settings/batch`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ mode: 'sometimes' }),
    });
    expect(response.status).toBe(400);
    expect((await emulator.admin.state()).batchMode).toBe('serial');
  });
});
