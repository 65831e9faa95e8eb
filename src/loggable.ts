/**
 * What a logged object becomes before pino sees it: a bounded, plain, JSON-safe copy with
 * secrets replaced by key at any depth and scrubbed from text.
 *
 * pino's own path redaction cannot do this safely: its wildcard paths walk every value and
 * throw on Buffers (kafkajs' debug entries hold them), a getter that throws or a huge
 * object goes straight through, and a path list only reaches the depths it names. A log
 * line must never take the worker down or stall its event loop, so this walk reads each
 * property under a guard, describes binary data by size instead of copying it, and stops
 * after fixed budgets of depth, keys, items, characters and nodes.
 */

const SECRET_KEYS = new Set(
  [
    'access_token',
    'accessToken',
    'refresh_token',
    'refreshToken',
    'client_secret',
    'clientSecret',
    'id_token',
    'idToken',
    'authorization',
    'proxy-authorization',
    'cookie',
    'set-cookie',
    'x-goog-channel-token',
    'channelToken',
    'token',
    'password',
    'tokenSecret',
    'secret',
    'apiKey',
    'api_key',
  ].map((key) => key.toLowerCase()),
);

export const REDACTED = '[REDACTED]';

export interface LoggableLimits {
  readonly maxDepth: number;
  readonly maxKeys: number;
  readonly maxItems: number;
  readonly maxStringLength: number;
  /** Values visited per logged object, whatever its shape: the bound on the work of one line. */
  readonly maxNodes: number;
}

export const defaultLoggableLimits: LoggableLimits = {
  maxDepth: 8,
  maxKeys: 100,
  maxItems: 50,
  maxStringLength: 4096,
  maxNodes: 2000,
};

/** Bearer credentials, Google access tokens (ya29.…) and JWT-shaped strings inside free text. */
const secretInText =
  /(Bearer\s+)[A-Za-z0-9._~+/-]+=*|ya29\.[A-Za-z0-9._-]+|eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/g;

export function scrubSecrets(text: string): string {
  return text.replace(secretInText, (_match, bearer: string | undefined) =>
    bearer ? `${bearer}${REDACTED}` : REDACTED,
  );
}

export function isSecretKey(key: string): boolean {
  return SECRET_KEYS.has(key.toLowerCase());
}

function truncated(text: string, max: number): string {
  // Cut before scrubbing would let a token straddle the cut; scrub first, on a bounded slice.
  const head = text.length > max * 2 ? text.slice(0, max * 2) : text;
  const scrubbed = scrubSecrets(head);
  return scrubbed.length > max || text.length > head.length
    ? `${scrubbed.slice(0, max)}…[${text.length} chars]`
    : scrubbed;
}

type Plain = null | boolean | number | string | Plain[] | { [key: string]: Plain };

class Walk {
  private nodes = 0;
  private readonly seen = new WeakSet<object>();

  constructor(private readonly limits: LoggableLimits) {}

  value(input: unknown, depth: number): Plain {
    this.nodes++;
    if (this.nodes > this.limits.maxNodes) return '[Truncated]';
    switch (typeof input) {
      case 'string':
        return truncated(input, this.limits.maxStringLength);
      case 'number':
        return Number.isFinite(input) ? input : String(input);
      case 'boolean':
        return input;
      case 'bigint':
        return input.toString();
      case 'symbol':
        return input.toString();
      case 'function':
        return '[Function]';
      case 'undefined':
        return null;
    }
    if (input === null) return null;
    const object = input as object;
    if (ArrayBuffer.isView(object)) return `[${binaryName(object)} ${object.byteLength} bytes]`;
    if (object instanceof ArrayBuffer || object instanceof SharedArrayBuffer) {
      return `[${object.constructor.name} ${object.byteLength} bytes]`;
    }
    if (this.seen.has(object)) return '[Circular]';
    if (depth >= this.limits.maxDepth) return '[Object]';
    this.seen.add(object);
    try {
      if (object instanceof Date)
        return Number.isNaN(object.getTime()) ? 'Invalid Date' : object.toISOString();
      if (object instanceof Error) return this.error(object, depth);
      if (Array.isArray(object)) return this.items(object, object.length, depth);
      if (object instanceof Map) return this.entries(object.entries(), object.size, depth);
      if (object instanceof Set) return this.items(object.values(), object.size, depth);
      return this.object(object, depth);
    } finally {
      // Only ancestors count as cycles; the same object twice side by side is logged twice.
      this.seen.delete(object);
    }
  }

  private items(values: Iterable<unknown>, size: number, depth: number): Plain[] {
    const out: Plain[] = [];
    for (const item of values) {
      if (out.length >= this.limits.maxItems) {
        out.push(`…[${size} items]`);
        break;
      }
      out.push(this.value(item, depth + 1));
    }
    return out;
  }

  private entries(
    entries: Iterable<[unknown, unknown]>,
    size: number,
    depth: number,
  ): { [key: string]: Plain } {
    const out: { [key: string]: Plain } = {};
    let count = 0;
    for (const [key, item] of entries) {
      if (count++ >= this.limits.maxKeys) {
        out['…'] = `[${size} entries]`;
        break;
      }
      const name = truncated(String(key), 200);
      out[name] = isSecretKey(name) ? REDACTED : this.value(item, depth + 1);
    }
    return out;
  }

  private object(object: object, depth: number): Plain {
    const toJSON = read(object, 'toJSON');
    if (typeof toJSON === 'function') {
      let json: unknown;
      try {
        json = toJSON.call(object);
      } catch {
        return '[Unreadable]';
      }
      if (json !== object) return this.value(json, depth);
    }
    let keys: string[];
    try {
      keys = Object.keys(object);
    } catch {
      return '[Unreadable]';
    }
    const out: { [key: string]: Plain } = {};
    for (const [index, key] of keys.entries()) {
      if (index >= this.limits.maxKeys) {
        out['…'] = `[${keys.length} keys]`;
        break;
      }
      const name = truncated(key, 200);
      if (isSecretKey(key)) {
        out[name] = REDACTED;
        continue;
      }
      const item = read(object, key);
      out[name] = item === unreadable ? '[Unreadable]' : this.value(item, depth + 1);
    }
    return out;
  }

  private error(error: Error, depth: number): Plain {
    const out: { [key: string]: Plain } = {
      type: truncated(safeString(() => error.constructor.name) ?? 'Error', 200),
      message: this.value(read(error, 'message'), depth + 1),
      stack: this.value(read(error, 'stack'), depth + 1),
    };
    let keys: string[] = [];
    try {
      keys = Object.keys(error);
    } catch {
      // A hostile error still gets its type, message and stack.
    }
    for (const key of [...keys.slice(0, this.limits.maxKeys), 'cause']) {
      if (key in out || (key === 'cause' && !safeHas(error, 'cause'))) continue;
      const item = read(error, key);
      out[truncated(key, 200)] = isSecretKey(key)
        ? REDACTED
        : item === unreadable
          ? '[Unreadable]'
          : this.value(item, depth + 1);
    }
    return out;
  }
}

const unreadable = Symbol('unreadable');

function read(object: object, key: string): unknown {
  try {
    return (object as Record<string, unknown>)[key];
  } catch {
    return unreadable;
  }
}

function safeHas(object: object, key: string): boolean {
  try {
    return key in object;
  } catch {
    return false;
  }
}

function safeString(fn: () => string): string | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

function binaryName(view: ArrayBufferView): string {
  return Buffer.isBuffer(view) ? 'Buffer' : (safeString(() => view.constructor.name) ?? 'ArrayBufferView');
}

/** A log message: secrets scrubbed, length bounded. */
export function loggableText(text: string, limits: LoggableLimits = defaultLoggableLimits): string {
  return truncated(text, limits.maxStringLength);
}

/** A logged object as a plain, bounded, redacted record; never throws. */
export function toLoggable(
  object: Record<string, unknown>,
  limits: LoggableLimits = defaultLoggableLimits,
): Record<string, unknown> {
  try {
    const plain = new Walk(limits).value(object, -1);
    return plain !== null && typeof plain === 'object' && !Array.isArray(plain) ? plain : { value: plain };
  } catch {
    return { logError: 'the logged object could not be read' };
  }
}
