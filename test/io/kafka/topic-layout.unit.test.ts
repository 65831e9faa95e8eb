import { describe, expect, it } from 'vitest';
import { type TopicFacts, topicLayoutProblems } from '../../../src/io/kafka/topic-layout.js';

const topics = {
  trigger: 'trigger',
  webhook: 'webhook',
  records: 'records',
  errors: 'errors',
  state: 'state',
};

function layout(changes: Record<string, TopicFacts | null> = {}): Map<string, TopicFacts> {
  const facts = new Map<string, TopicFacts>([
    ['trigger', { partitions: 4, cleanupPolicy: 'delete' }],
    ['webhook', { partitions: 4, cleanupPolicy: 'delete' }],
    ['records', { partitions: 12, cleanupPolicy: 'delete' }],
    ['errors', { partitions: 1, cleanupPolicy: 'delete' }],
    ['state', { partitions: 4, cleanupPolicy: 'compact' }],
  ]);
  for (const [name, fact] of Object.entries(changes)) {
    if (fact === null) facts.delete(name);
    else facts.set(name, fact);
  }
  return facts;
}

describe('the topic layout the worker runs on', () => {
  it('has no problem when every topic exists, the co-partitioned three agree and state is compacted', () => {
    expect(topicLayoutProblems(topics, layout())).toEqual([]);
    // Records and errors may have any partition count; compact,delete is compacted too.
    expect(
      topicLayoutProblems(topics, layout({ state: { partitions: 4, cleanupPolicy: 'compact,delete' } })),
    ).toEqual([]);
  });

  it('names each missing topic with its role and the way to create it', () => {
    expect(topicLayoutProblems(topics, layout({ records: null, state: null }))).toEqual([
      'topic records (records) does not exist: create it, or start once with KAFKA_CREATE_TOPICS=true',
      'topic state (state) does not exist: create it, or start once with KAFKA_CREATE_TOPICS=true',
    ]);
  });

  it('refuses trigger, webhook and state topics of different partition counts', () => {
    const problems = topicLayoutProblems(
      topics,
      layout({ webhook: { partitions: 6, cleanupPolicy: 'delete' } }),
    );
    expect(problems).toEqual([
      'topics trigger (trigger) has 4, webhook (webhook) has 6, state (state) has 4 partitions: ' +
        'trigger, webhook and state must have the same partition count',
    ]);
  });

  it('refuses a state topic that is not compacted, saying how to change it', () => {
    const [problem, ...others] = topicLayoutProblems(
      topics,
      layout({ state: { partitions: 4, cleanupPolicy: 'delete' } }),
    );
    expect(others).toEqual([]);
    expect(problem).toMatch(/^topic state \(state\) has cleanup.policy=delete: it must be compacted/);
    expect(problem).toContain('--add-config cleanup.policy=compact');
  });

  it('lists every problem at once', () => {
    const problems = topicLayoutProblems(
      topics,
      layout({
        errors: null,
        trigger: { partitions: 2, cleanupPolicy: 'delete' },
        state: { partitions: 4, cleanupPolicy: 'delete' },
      }),
    );
    expect(problems).toHaveLength(3);
  });
});
