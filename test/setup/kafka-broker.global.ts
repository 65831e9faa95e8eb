import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inject } from 'vitest';
import type { TestProject } from 'vitest/node';
import {
  type EmbeddedKafkaControl,
  embeddedKafkaControl,
  startEmbeddedKafka,
} from '../../src/embedded/kafka-broker.js';

/**
 * Global setup of the e2e project: one 3-broker embedded Kafka for every e2e test file.
 *
 * Tests reach it through `sharedKafka()` below: the bootstrap servers, plus the broker's
 * commands (create a topic, faults) carried over a small HTTP endpoint on 127.0.0.1, since
 * test files run in worker processes that cannot write to the broker's stdin.
 *
 * Conventions: each test creates its own uniquely named topics and consumer groups
 * (`uniqueName()`), so files stay independent of each other and of order. A test that
 * breaks the shared broker (broker down, error injection, RTT) must restore it before it
 * ends; a test that wants to break things freely starts its own broker with
 * `startEmbeddedKafka()` (about 50 ms) and stops it in `afterAll`.
 */

declare module 'vitest' {
  export interface ProvidedContext {
    /** host:port of every broker of the shared embedded Kafka. */
    kafkaBootstrap: string[];
    /** Base URL of the control endpoint: POST /command with one protocol line as the body. */
    kafkaControlUrl: string;
  }
}

const MAX_COMMAND_BYTES = 4_096;

async function readBody(request: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of request) {
    body += String(chunk);
    if (body.length > MAX_COMMAND_BYTES) throw new Error('command too long');
  }
  return body;
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const kafka = await startEmbeddedKafka({ brokers: 3 });

  const control = createServer((request, response) => {
    if (request.method !== 'POST' || request.url !== '/command') {
      response.writeHead(404).end('POST /command');
      return;
    }
    readBody(request)
      .then((line) => kafka.command(line.trim()))
      .then(
        (answer) => response.writeHead(200, { 'content-type': 'text/plain' }).end(answer),
        (error: unknown) =>
          response
            .writeHead(422, { 'content-type': 'text/plain' })
            .end(error instanceof Error ? error.message : String(error)),
      );
  });
  await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
  const { port } = control.address() as AddressInfo;

  project.provide('kafkaBootstrap', kafka.bootstrapServers);
  project.provide('kafkaControlUrl', `http://127.0.0.1:${port}`);

  return async () => {
    await new Promise<void>((resolve) => control.close(() => resolve()));
    await kafka.stop();
  };
}

/** The shared broker, for use inside e2e test files. */
export function sharedKafka(): EmbeddedKafkaControl {
  const controlUrl = inject('kafkaControlUrl');
  return embeddedKafkaControl(inject('kafkaBootstrap'), async (line) => {
    const response = await fetch(`${controlUrl}/command`, { method: 'POST', body: line });
    const answer = await response.text();
    if (!response.ok) throw new Error(answer);
    return answer;
  });
}

/** A topic or group name no other test uses, readable in broker logs. */
export function uniqueName(purpose: string): string {
  return `${purpose}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
