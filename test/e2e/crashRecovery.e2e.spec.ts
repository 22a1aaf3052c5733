import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import type { RecordedEvent } from '../../events/envelope.js';
import { killAllDaqflowProcesses, startDaqflowProcess, type DaqflowProcess } from '../harness/daqflowProcess.js';
import type { TestDatabase } from '../harness/testDatabase.js';
import {
  apiRequest,
  foldStatus,
  mapConcurrent,
  projectedStatus,
  readWholeStream,
  streamLastPosition,
  useE2eEnvironments,
  versionProblems,
  waitFor,
  waitForProjector,
  type ApiOutcome,
} from './e2eHelpers.js';

/*
 * Acceptance: a test kills (SIGKILL) a running `daqflow up` in the middle of a stream of
 * commands; after a restart every acknowledged command's transition is in the stream exactly
 * once, and the status tables converge to the state rebuilt from the stream.
 */

const LOOPS = 8;
const ACKED_BEFORE_KILL = 150;
const REQUEST_TIMEOUT_MS = 2_000;
const LONG_INTERVAL_MS = 3_600_000;
/** Short jobs run to completion across the kill: some in ~150 ms, some in ~1.2 s (surely unfinished at the kill). */
const SHORT = [
  { steps: 3, intervalMs: 50 },
  { steps: 3, intervalMs: 400 },
] as const;

type CommandKind = 'startLong' | 'startShort' | 'note';

interface Command {
  readonly n: number;
  readonly kind: CommandKind;
  readonly subject: string;
  readonly requestId: string;
  readonly body: Record<string, unknown>;
  /** The actor a note goes to. */
  readonly target?: string;
}

interface Sent {
  readonly command: Command;
  readonly outcome: ApiOutcome;
  /** Sent after the SIGKILL was given. */
  readonly afterKill: boolean;
}

const natsUrl = inject('natsUrl');
const e2e = useE2eEnvironments('crash');
let token: string;
let stream: string;
let prefix: string;
let database: TestDatabase;
let nc: NatsConnection;
let env: Record<string, string>;

beforeAll(async () => {
  ({ token, stream, prefix, database, env } = await e2e.create());
  nc = await connect({ servers: natsUrl, name: 'e2e-crash-client' });
});

afterEach(killAllDaqflowProcesses);

afterAll(async () => {
  await nc?.close();
});

const okBody = (sent: Sent): Record<string, unknown> => {
  if (sent.outcome.kind !== 'ok') throw new Error(`command ${sent.command.requestId} was not acknowledged`);
  return sent.outcome.body;
};

const commandIdCounts = (events: readonly RecordedEvent[]): Map<string, RecordedEvent[]> => {
  const byCommand = new Map<string, RecordedEvent[]>();
  for (const e of events) {
    if (e.commandId === null) continue;
    byCommand.set(e.commandId, [...(byCommand.get(e.commandId) ?? []), e]);
  }
  return byCommand;
};

const duplicatesOf = (byCommand: Map<string, RecordedEvent[]>): string[] =>
  [...byCommand].filter(([, events]) => events.length > 1).map(([id, events]) => `${id} at ${events.map((e) => e.position).join(',')}`);


describe('daqflow up killed with SIGKILL in the middle of a stream of commands', () => {
  it('keeps every acknowledged transition exactly once, recovers deadlines and effects, and the projections converge', async () => {
    const started = Date.now();
    let up: DaqflowProcess = await startDaqflowProcess({ env });

    // --- a continuous, concurrent stream of commands; SIGKILL while it flows ---------------
    const sent: Sent[] = [];
    const longIds: string[] = [];
    const shortIds = new Set<string>();
    let n = 0;
    let acked = 0;
    let killed = false;
    let stop = false;
    const nextCommand = (): Command => {
      const i = n++;
      const requestId = `${token}-${i}`;
      const r = Math.random();
      if (longIds.length > 0 && r < 0.35) {
        const target = longIds[Math.floor(Math.random() * longIds.length)] as string;
        return { n: i, kind: 'note', subject: `${prefix}.demo.note`, requestId, target, body: { id: target, text: `note ${i}`, requestId } };
      }
      if (r < 0.65) {
        return {
          n: i,
          kind: 'startShort',
          subject: `${prefix}.demo.start`,
          requestId,
          body: { ...SHORT[i % SHORT.length], label: `short ${i}`, requestId },
        };
      }
      return {
        n: i,
        kind: 'startLong',
        subject: `${prefix}.demo.start`,
        requestId,
        body: { steps: 2, intervalMs: LONG_INTERVAL_MS, label: `long ${i}`, requestId },
      };
    };
    const loop = async (): Promise<void> => {
      while (!stop) {
        const command = nextCommand();
        const afterKill = killed;
        const outcome = await apiRequest(nc, command.subject, command.body, REQUEST_TIMEOUT_MS);
        sent.push({ command, outcome, afterKill });
        if (outcome.kind === 'ok') {
          acked++;
          const id = String(outcome.body.id);
          if (command.kind === 'startLong') longIds.push(id);
          if (command.kind === 'startShort') shortIds.add(id);
        }
        // After the kill, each loop ends with its first unanswered command.
        if (killed && outcome.kind !== 'ok') return;
      }
    };
    const loops = Array.from({ length: LOOPS }, loop);
    try {
      await waitFor(() => `${ACKED_BEFORE_KILL} acknowledged commands (have ${acked})`, async () => (acked >= ACKED_BEFORE_KILL ? true : undefined), 30_000, 5);
    } finally {
      up.kill('SIGKILL');
      killed = true;
    }
    const killExit = await up.exited;
    expect(killExit.signal).toBe('SIGKILL');
    const safety = setTimeout(() => (stop = true), 10_000);
    await Promise.all(loops);
    clearTimeout(safety);

    const refused = sent.filter((s) => s.outcome.kind === 'refused');
    expect(refused.map((s) => ({ requestId: s.command.requestId, outcome: s.outcome })), 'no command was refused').toEqual([]);
    const acknowledged = sent.filter((s) => s.outcome.kind === 'ok');
    const unacknowledged = sent.filter((s) => s.outcome.kind !== 'ok');
    expect(acknowledged.length).toBeGreaterThanOrEqual(ACKED_BEFORE_KILL);
    expect(unacknowledged.length, 'some commands were in flight or sent after the kill').toBeGreaterThan(0);

    // The kill must have caught short jobs half way, with a deadline or an effect pending.
    const atKill = await readWholeStream(natsUrl, stream, prefix);
    const unfinishedShort = foldStatus(atKill).filter((s) => shortIds.has(s.id) && !s.final);
    expect(unfinishedShort.length, 'short jobs unfinished at the kill').toBeGreaterThan(0);

    // --- restart ---------------------------------------------------------------------------
    up = await startDaqflowProcess({ env });

    // (a) every acknowledged command is in the stream exactly once; no command id twice.
    const before = await readWholeStream(natsUrl, stream, prefix);
    const byCommandBefore = commandIdCounts(before);
    const missing = acknowledged.filter((s) => (byCommandBefore.get(s.command.requestId) ?? []).length !== 1);
    expect(
      missing.map((s) => `${s.command.requestId}: ${(byCommandBefore.get(s.command.requestId) ?? []).length} events`),
      'acknowledged commands not exactly once in the stream',
    ).toEqual([]);
    expect(duplicatesOf(byCommandBefore), 'command ids appended twice').toEqual([]);
    for (const s of acknowledged) {
      const [event] = byCommandBefore.get(s.command.requestId) ?? [];
      expect(event?.actorId, `actor of ${s.command.requestId}`).toBe(okBody(s).id);
    }
    expect(versionProblems(before), 'actor versions are 1..n, each once').toEqual([]);
    const appendedUnanswered = unacknowledged.filter((s) => byCommandBefore.has(s.command.requestId)).length;

    // (b) a retry of every command, answered or not, with its original request id, succeeds.
    const retries = await mapConcurrent(sent, LOOPS, (s) => apiRequest(nc, s.command.subject, s.command.body, 10_000));
    const failedRetries = retries
      .map((outcome, i) => ({ requestId: sent[i]?.command.requestId, outcome }))
      .filter((r) => r.outcome.kind !== 'ok');
    expect(failedRetries, 'retries that failed').toEqual([]);
    retries.forEach((outcome, i) => {
      const s = sent[i] as Sent;
      if (outcome.kind !== 'ok') return;
      if (s.command.kind === 'note') expect(outcome.body.id).toBe(s.command.target);
      if (s.command.kind === 'startShort') shortIds.add(String(outcome.body.id));
      if (s.outcome.kind === 'ok') {
        expect(outcome.body.id, `retry of ${s.command.requestId} names the same actor`).toBe(s.outcome.body.id);
        expect(outcome.duplicate, `retry of acknowledged ${s.command.requestId} is answered as a duplicate`).toBe(true);
        // README "Idempotent requests": a retry returns the first answer, also from another process.
        expect(outcome.body, `retry of ${s.command.requestId} gets the first answer`).toEqual(s.outcome.body);
      }
    });
    const after = await readWholeStream(natsUrl, stream, prefix);
    const byCommandAfter = commandIdCounts(after);
    expect(duplicatesOf(byCommandAfter), 'command ids appended twice after the retries').toEqual([]);
    for (const s of sent) {
      const events = byCommandAfter.get(s.command.requestId) ?? [];
      expect(events.length, `${s.command.requestId} in the stream after its retry`).toBe(1);
      if (s.outcome.kind === 'ok') {
        // Nothing new for an acknowledged command: the same event at the same position.
        expect(events[0]?.position, `${s.command.requestId} not appended again`).toBe(byCommandBefore.get(s.command.requestId)?.[0]?.position);
      }
    }

    // (c) deadlines and effects pending at the kill were recovered: every short job completes.
    const views = await waitFor(
      () => 'every short job to complete',
      async () => {
        const got = await mapConcurrent([...shortIds], LOOPS, (id) => apiRequest(nc, `${prefix}.demo.get`, { id }, 5_000));
        return got.every((g) => g.kind === 'ok' && g.body.final === true) ? got : undefined;
      },
      30_000,
      200,
    );
    const notCompleted = views.filter((v) => v.kind !== 'ok' || v.body.state !== 'completed');
    expect(notCompleted, 'short jobs that did not complete').toEqual([]);

    // (d) the projector catches up, and its tables equal the fold of the stream.
    const last = await streamLastPosition(natsUrl, stream, prefix);
    await waitForProjector(database, last, 20_000);
    const events = await readWholeStream(natsUrl, stream, prefix);
    expect(events.length, 'no events after the projector caught up').toBe(last);
    expect(versionProblems(events)).toEqual([]);
    expect(await projectedStatus(database.db)).toEqual(foldStatus(events));
    const transitions = await database.db
      .selectFrom('actor_transition')
      .select(['position', 'kind', 'id', 'version', 'type', 'state', 'command_id'])
      .orderBy('position')
      .execute();
    expect(transitions.length).toBe(events.length);
    expect(transitions.map((t) => ({ ...t, position: Number(t.position), version: Number(t.version) }))).toEqual(
      events.map((e) => ({
        position: e.position,
        kind: e.actorKind,
        id: e.actorId,
        version: e.version,
        type: e.type,
        state: e.state,
        command_id: e.commandId,
      })),
    );

    // --- a clean stop ----------------------------------------------------------------------
    up.kill('SIGINT');
    const exit = await up.exited;
    expect({ exit, stdout: up.stdout(), stderr: up.stderr() }).toMatchObject({ exit: { code: 0 } });
    expect(up.stdout()).toContain('daqflow up: stopped');
    console.info(
      `crash e2e: ${acknowledged.length} acknowledged, ${unacknowledged.length} unanswered (${appendedUnanswered} of them appended), ${unfinishedShort.length} short jobs unfinished at the kill, ${events.length} events, ${Date.now() - started} ms`,
    );
  }, 90_000);
});
