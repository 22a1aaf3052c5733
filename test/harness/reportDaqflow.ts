/**
 * daqflow in the spec's process for the report specs: `startDaqflow` (runtime, projector, NATS
 * request API, the report effects with the real runners) on the run's nats-server and a test
 * database, and a client speaking to it only through the request API (`<prefix>.reports.*`,
 * `<prefix>.query.list`), as any other client would.
 */
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { inject } from 'vitest';
import { startDaqflow, type Daqflow } from '../../adapters/app/startDaqflow.js';
import { loadConfig } from '../../adapters/config/config.js';
import { createLogger } from '../../adapters/logging/logger.js';
import { apiRequest, streamLastPosition, waitFor, type ApiOutcome } from '../e2e/e2eHelpers.js';
import type { TestDatabase } from './testDatabase.js';
import { uniqueToken } from './testNames.js';

/** A job of a report as `reports.get` and the status rows' summary show it. */
export interface ReportJobView {
  readonly key: string;
  readonly state: string;
  readonly runnerJobId: string | null;
  readonly exitCode: number | null;
  readonly reason?: string;
  readonly artifacts: number;
}

/** What `reports.get` answers (summary and details). */
export interface ReportView {
  readonly id: string;
  readonly state: string;
  readonly final: boolean;
  readonly mode: string;
  readonly runner: string;
  readonly jobs: readonly ReportJobView[];
  readonly report: { readonly dir: string; readonly index: string; readonly files: number } | null;
  readonly published: { readonly dir: string; readonly commit: string | null } | null;
  readonly artifacts?: ReadonlyArray<{ readonly jobKey: string | null; readonly path: string; readonly bytes: number }>;
  readonly error?: string;
}

/** An actor_status row as `query.list` answers it. */
export interface StatusRow {
  readonly kind: string;
  readonly id: string;
  readonly state: string;
  readonly final: boolean;
  readonly summary: { readonly jobs?: readonly ReportJobView[]; readonly error?: string } & Record<string, unknown>;
}

/** The client side of a report API (in this process or a `daqflow up` child). */
export interface ReportClient {
  readonly nc: NatsConnection;
  readonly prefix: string;
  request(subject: string, body: unknown, timeoutMs?: number): Promise<ApiOutcome>;
  /** `reports.start`; throws with the refusal when it is refused. */
  start(body: Record<string, unknown>): Promise<ReportView>;
  get(id: string): Promise<ReportView | undefined>;
  /** Polls `reports.get` (every second) until the report has ended. */
  untilFinal(id: string, timeoutMs: number): Promise<ReportView>;
  /** The actor_status rows of kind `report` (the projection, through `query.list`). */
  statusRows(): Promise<StatusRow[]>;
  /** Polls the status rows until the report's row is final. */
  untilFinalStatusRow(id: string, timeoutMs: number): Promise<StatusRow>;
  close(): Promise<void>;
}

export const connectReportClient = async (prefix: string, name = 'report-spec-client'): Promise<ReportClient> => {
  const nc = await connect({ servers: inject('natsUrl'), name });
  const request = (subject: string, body: unknown, timeoutMs = 20_000) => apiRequest(nc, subject, body, timeoutMs);
  const get = async (id: string): Promise<ReportView | undefined> => {
    const outcome = await request(`${prefix}.reports.get`, { id }, 5_000);
    return outcome.kind === 'ok' ? (outcome.body as unknown as ReportView) : undefined;
  };
  const statusRows = async (): Promise<StatusRow[]> => {
    const outcome = await request(`${prefix}.query.list`, { kind: 'report', limit: 1_000 }, 5_000);
    if (outcome.kind !== 'ok') throw new Error(`query.list failed: ${JSON.stringify(outcome)}`);
    return outcome.body.items as StatusRow[];
  };
  return {
    nc,
    prefix,
    request,
    start: async (body) => {
      const outcome = await request(`${prefix}.reports.start`, body, 30_000);
      if (outcome.kind !== 'ok') throw new Error(`reports.start refused: ${JSON.stringify(outcome)}`);
      return outcome.body as unknown as ReportView;
    },
    get,
    untilFinal: (id, timeoutMs) => {
      let last: ReportView | undefined;
      return waitFor(
        () => `report ${id} to end; last seen ${JSON.stringify(last)}`,
        async () => {
          last = (await get(id)) ?? last;
          return last?.final ? last : undefined;
        },
        timeoutMs,
        1_000,
      );
    },
    statusRows,
    untilFinalStatusRow: (id, timeoutMs) => {
      let last: StatusRow | undefined;
      return waitFor(
        () => `the status row of report ${id} to be final; last seen ${JSON.stringify(last)}`,
        async () => {
          last = (await statusRows()).find((row) => row.id === id) ?? last;
          return last?.final ? last : undefined;
        },
        timeoutMs,
        1_000,
      );
    },
    close: () => nc.close(),
  };
};

export interface InProcessDaqflow extends ReportClient {
  readonly app: Daqflow;
  readonly stream: string;
  readonly dataRoot: string;
  /** The newest position of the event stream. */
  streamPosition(): Promise<number>;
  stop(): Promise<void>;
}

export interface InProcessOptions {
  readonly database: TestDatabase;
  /** DAQFLOW_HOME. */
  readonly home: string;
  /** DAQFLOW_DATA_ROOT (absolute). */
  readonly dataRoot: string;
  /** DAQFLOW_SLURM_BIN_DIR. */
  readonly slurmBinDir?: string;
  /** DAQFLOW_LOCAL_JOBS. */
  readonly localJobs?: number;
}

/** daqflow in this process, on a stream and subject prefix of its own. */
export const startInProcessDaqflow = async (options: InProcessOptions): Promise<InProcessDaqflow> => {
  const token = uniqueToken();
  const stream = `T_${token}`;
  const prefix = `t_${token}`;
  const config = loadConfig({
    env: {},
    flags: {
      home: options.home,
      dataRoot: options.dataRoot,
      stream,
      subjectPrefix: prefix,
      timeZone: 'UTC',
      // Nothing listens there: acquisitions are not what these specs run, and no simulator burns CPU.
      bsreadStream: 'tcp://127.0.0.1:9',
      ...(options.slurmBinDir ? { slurmBinDir: options.slurmBinDir } : {}),
      ...(options.localJobs ? { localJobs: options.localJobs } : {}),
    },
  });
  const logger = createLogger(process.env.DAQFLOW_TEST_LOG_LEVEL ?? 'silent', { pretty: false });
  const app = await startDaqflow(config, { natsUrl: inject('natsUrl'), databaseUrl: options.database.url }, logger);
  let client: ReportClient;
  try {
    client = await connectReportClient(prefix);
  } catch (e) {
    await app.stop();
    throw e;
  }
  return {
    ...client,
    app,
    stream,
    dataRoot: options.dataRoot,
    streamPosition: () => streamLastPosition(inject('natsUrl'), stream, prefix),
    stop: async () => {
      await client.close();
      await app.stop();
    },
  };
};
