import { grabStartRequestSchema } from '../../actors/grabRun/grabRequest.js';
import { reportStartRequestSchema } from '../../actors/reportJob/reportRequest.js';
import type { BsreadSource } from '../acquisition/bsreadSource.js';
import { prepareReportStart } from '../reportJob/prepareReportStart.js';
import { acquisitionStartRequestSchema, prepareAcquisitionStart } from '../acquisition/prepareAcquisitionStart.js';
import type { DataLoggerSource } from '../dataLogger/dataLoggerSource.js';
import { prepareGrabStart } from '../grabRun/prepareGrabStart.js';
import type { CommandPreparer } from '../natsApi/actorService.js';
import type { z } from 'zod';

/** What a preparer may be told besides the body: the time it resolves against, the firing schedule. */
export interface PrepareContext {
  /** "Now" for the API; the fire time for a schedule, so that a late fire grabs the window it was meant to. */
  readonly reference: Date;
  readonly scheduleId?: string | null;
}

export interface ContextualPreparer {
  readonly requestSchema: z.ZodType;
  prepare(body: Record<string, unknown>, context: PrepareContext): Promise<unknown>;
}

/** Preparers by kind, then command. */
export type Preparers = Readonly<Record<string, Readonly<Record<string, ContextualPreparer>>>>;

export const createPreparers = (options: {
  source: DataLoggerSource;
  dataRoot: string;
  timeZone: string;
  /** The bsread stream of this process, if one is configured. */
  bsread?: () => BsreadSource | undefined;
  /** `DAQFLOW_REPORT_CONFIG`. */
  reportConfig?: string | undefined;
}): Preparers => ({
  report: {
    start: {
      requestSchema: reportStartRequestSchema,
      prepare: (body, context) =>
        prepareReportStart(body, {
          dataRoot: options.dataRoot,
          timeZone: options.timeZone,
          reference: context.reference,
          defaultConfigPath: options.reportConfig,
          scheduleId: context.scheduleId ?? null,
        }),
    },
  },
  acquisition: {
    start: {
      requestSchema: acquisitionStartRequestSchema,
      prepare: (body) => prepareAcquisitionStart(body, { source: options.bsread?.(), dataRoot: options.dataRoot }),
    },
  },
  grab: {
    start: {
      requestSchema: grabStartRequestSchema,
      prepare: (body, context) =>
        prepareGrabStart(body, {
          source: options.source,
          dataRoot: options.dataRoot,
          timeZone: options.timeZone,
          reference: context.reference,
          scheduleId: context.scheduleId ?? null,
        }),
    },
  },
});

/** The API's view of a kind's preparers: resolved against the clock at request time. */
export const apiPreparers = (
  preparers: Preparers,
  kind: string,
  clock: () => Date,
): Readonly<Record<string, CommandPreparer>> | undefined => {
  const ofKind = preparers[kind];
  if (!ofKind) return undefined;
  return Object.fromEntries(
    Object.entries(ofKind).map(([name, p]) => [
      name,
      { requestSchema: p.requestSchema, prepare: (body: Record<string, unknown>) => p.prepare(body, { reference: clock() }) },
    ]),
  );
};
