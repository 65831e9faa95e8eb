import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The token a push channel carries (X-Goog-Channel-Token): an HMAC of the connection and
 * channel ids under a key from the environment. The worker verifies a notification without
 * storing any per-channel secret, and a token read off one channel is useless for another.
 * Drive caps tokens at 256 characters; this one is 46.
 */
const VERSION = 'v1';

export function channelTokenFor(key: string, connectionId: string, channelId: string): string {
  const mac = createHmac('sha256', key).update(`${connectionId}\n${channelId}`).digest('base64url');
  return `${VERSION}.${mac}`;
}

export function verifyChannelToken(
  key: string,
  connectionId: string,
  channelId: string,
  token: string | undefined,
): boolean {
  if (token === undefined) return false;
  const expected = Buffer.from(channelTokenFor(key, connectionId, channelId));
  const given = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
