import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { setCheckpoint } from '../../projections/checkpoints.js';
import { DEFAULT_PROJECTOR_NAME } from '../../projections/projector.js';
import { appendDemoHistories } from '../../test/harness/demoEvents.js';
import { useTestDatabase } from '../../test/harness/testDatabase.js';
import { testStream } from '../../test/harness/testNames.js';
import { closeNats, connectNats } from '../jetstream/connection.js';
import { ensureEventStream } from '../jetstream/eventStream.js';
import { createJetStreamEventStore, type JetStreamEventStore } from '../jetstream/jetstreamEventStore.js';
import { projectionLagText, readProjectionLag } from './projectionLag.js';

const t = useTestDatabase();
const names = testStream();
let nc: NatsConnection;
let store: JetStreamEventStore;

beforeAll(async () => {
  nc = await connectNats(inject('natsUrl'), 'projection-lag-spec');
  await ensureEventStream(await jetstreamManager(nc), names);
  store = createJetStreamEventStore({ nc, ...names });
});

afterAll(async () => {
  await store?.close();
  if (nc) {
    await jetstreamManager(nc).then((jsm) => jsm.streams.delete(names.stream)).catch(() => undefined);
    await closeNats(nc);
  }
});

describe('readProjectionLag', () => {
  it('counts the events past the checkpoint and dates the oldest of them', async () => {
    const last = await appendDemoHistories(store, ['lag-a', 'lag-b'], 3);
    expect(last).toBe(6);
    await setCheckpoint(t.db, DEFAULT_PROJECTOR_NAME, 2);
    const [oldestUnprojected] = await store.readStream('demo', 'lag-a', 2);
    const now = new Date(Date.parse(oldestUnprojected!.time) + 90_000);
    const lag = await readProjectionLag(t.db, store, () => now);
    expect(lag).toEqual({ streamPosition: 6, projectedPosition: 2, eventsBehind: 4, secondsBehind: 90 });
    expect(projectionLagText(lag)).toBe('projections: 4 events (90.0 s) behind the stream, at position 2 of 6');
  });

  it('is zero once the checkpoint holds the whole stream', async () => {
    await setCheckpoint(t.db, DEFAULT_PROJECTOR_NAME, 6);
    const lag = await readProjectionLag(t.db, store);
    expect(lag).toEqual({ streamPosition: 6, projectedPosition: 6, eventsBehind: 0, secondsBehind: 0 });
    expect(projectionLagText(lag)).toBe('projections: up to date with the stream at position 6');
  });
});
