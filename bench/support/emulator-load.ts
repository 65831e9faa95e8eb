import { Agent, request } from 'node:http';
import type { EmulatorAdminClient } from '../../src/emulator/admin-client.js';

/**
 * Emulator settings a run needs beyond its corpus: latency per call and a quota that is
 * binding from the first call on.
 */

/** The list calls carry a page of up to 1,000 items; Google answers those slower. */
export const LIST_LATENCY_MS = 50;
export const CALL_LATENCY_MS = 25;
const LIST_METHODS = ['drive.files.list', 'drive.changes.list', 'drive.drives.list'];
/** Every other method the worker (and the bench's edits) call; `drive.about.get` stays instant for draining. */
const OTHER_METHODS = [
  'drive.permissions.list',
  'drive.revisions.list',
  'drive.comments.list',
  'drive.replies.list',
  'drive.changes.getStartPageToken',
  'drive.changes.watch',
  'drive.channels.stop',
  'drive.files.get',
  'drive.files.update',
  'drive.files.create',
];

export async function setBenchLatency(admin: EmulatorAdminClient): Promise<void> {
  for (const method of LIST_METHODS) await admin.setLatency(method, LIST_LATENCY_MS);
  for (const method of OTHER_METHODS) await admin.setLatency(method, CALL_LATENCY_MS);
}

export const latencyDescription = `${LIST_LATENCY_MS} ms per list call (files, changes, drives), ${CALL_LATENCY_MS} ms per other call`;

/**
 * The emulator's quota buckets start full with a whole minute's budget (src/emulator/control.ts),
 * so in a run shorter than a few minutes any client, governed or not, gets up to twice the
 * quota before the first refusal. Google's window is not known to start full either way,
 * so the bench takes the strict case: it spends the buckets with cheap calls
 * (`about.get`, no latency) until the emulator refuses one (its bucket is empty), then waits
 * `headroomSeconds` so the buckets hold that many seconds of refill. From then on the
 * emulator grants exactly the configured rate (plus the headroom once).
 *
 * Returns the calls spent.
 */
export async function drainQuota(
  emulatorUrl: string,
  accessTokens: readonly string[],
  headroomSeconds: number,
): Promise<number> {
  const url = new URL(emulatorUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  let sent = 0;
  // The first refusal says the bucket is empty (under one token): every client stops there.
  let empty = false;
  const client = async (index: number) => {
    const token = accessTokens[index % accessTokens.length] as string;
    while (!empty) {
      sent++;
      const status = await get(agent, url, '/drive/v3/about?fields=user(emailAddress)', token);
      if (status === 403 || status === 429) empty = true;
      else if (status !== 200) throw new Error(`about.get answered ${status} while draining the quota`);
    }
  };
  await Promise.all(Array.from({ length: 32 }, (_, i) => client(i)));
  agent.destroy();
  await new Promise((resolve) => setTimeout(resolve, headroomSeconds * 1000));
  return sent;
}

function get(agent: Agent, url: URL, path: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      { agent, host: url.hostname, port: url.port, path, headers: { authorization: `Bearer ${token}` } },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
        response.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    outgoing.end();
  });
}
