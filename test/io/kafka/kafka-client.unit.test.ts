import { logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { kafkajsLevelFor, pinoLogCreator } from '../../../src/io/kafka/kafka-client.js';
import { capturingLogger } from './kafka-fixture.js';

describe('kafkajs logs in pino', () => {
  it('writes each kafkajs entry as a kafkajs-component line at the matching level', () => {
    const { logger, lines } = capturingLogger('debug');
    const log = pinoLogCreator(logger)();
    const entry = (level: logLevel, message: string) => ({
      namespace: 'Consumer',
      level,
      label: 'x',
      log: { timestamp: '2025-01-20T10:00:00.000Z', logger: 'kafkajs', message, groupId: 'g' },
    });
    log(entry(logLevel.ERROR, 'crashed'));
    log(entry(logLevel.WARN, 'slow'));
    log(entry(logLevel.INFO, 'joined'));
    log(entry(logLevel.DEBUG, 'fetching'));

    expect(lines().map((l) => [l.level, l.msg, l.component, l.namespace, l.groupId])).toEqual([
      [50, 'crashed', 'kafkajs', 'Consumer', 'g'],
      [40, 'slow', 'kafkajs', 'Consumer', 'g'],
      [30, 'joined', 'kafkajs', 'Consumer', 'g'],
      [20, 'fetching', 'kafkajs', 'Consumer', 'g'],
    ]);
    expect(lines().every((l) => l.logger === undefined && l.timestamp === undefined)).toBe(true);
  });

  it('asks kafkajs only for the entries pino would print', () => {
    expect(kafkajsLevelFor('trace')).toBe(logLevel.DEBUG);
    expect(kafkajsLevelFor('debug')).toBe(logLevel.DEBUG);
    expect(kafkajsLevelFor('info')).toBe(logLevel.INFO);
    expect(kafkajsLevelFor('warn')).toBe(logLevel.WARN);
    expect(kafkajsLevelFor('error')).toBe(logLevel.ERROR);
    expect(kafkajsLevelFor('fatal')).toBe(logLevel.ERROR);
    expect(kafkajsLevelFor('silent')).toBe(logLevel.NOTHING);
  });
});
