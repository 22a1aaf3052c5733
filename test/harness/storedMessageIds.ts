import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';

/**
 * The Nats-Msg-Id header of the first `count` messages of `stream`, read raw with an ordered
 * consumer on a connection of its own to `natsUrl`: an append retried after a lost
 * acknowledgement must not leave a second copy behind.
 */
export const storedMessageIds = async (natsUrl: string, stream: string, count: number): Promise<string[]> => {
  const reader = await connect({ servers: natsUrl, name: 'stored-message-ids' });
  try {
    const consumer = await jetstream(reader).consumers.get(stream);
    const ids: string[] = [];
    let read = 0;
    while (read < count) {
      const batch = await consumer.fetch({ max_messages: Math.min(500, count - read), expires: 5_000 });
      for await (const m of batch) {
        read++;
        const id = m.headers?.get('Nats-Msg-Id');
        if (id) ids.push(id);
      }
    }
    return ids;
  } finally {
    await reader.close();
  }
};

/** Values that occur more than once, each named once. */
export const repeated = (values: readonly string[]): string[] => {
  const seen = new Set<string>();
  return [...new Set(values.filter((v) => (seen.has(v) ? true : (seen.add(v), false))))];
};
