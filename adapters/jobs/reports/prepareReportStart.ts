/**
 * Turns a `daqflow.reports.start` body (docs/api.md) into the `requested` event's data: the
 * configuration read (`configPath`) or taken (`config`), validated with the bad key's path and line,
 * the override merged, the instruments chosen (an unknown one named), dates resolved against the
 * reference time, and the out folder checked inside the data root with symlinks followed. A refused
 * request is a 400 and leaves nothing behind.
 */
import { isAbsolute, join, resolve } from 'node:path';
import { parseReportConfig, reportConfigError } from '../../../actors/reports/reportConfig.js';
import { reportStartRequestSchema, resolveReportRequest } from '../../../actors/reports/reportRequest.js';
import type { ReportRequested } from '../../../actors/reports/reportJob.events.js';
import { ValidationError } from '../../../events/errors.js';
import { checkDirInsideRoot, realpathOfExisting } from '../../files/dataRootPaths.js';
import { readTextFileBounded } from '../../files/readTextFileBounded.js';
import { validateBody } from '../../natsApi/requestBody.js';

export interface PrepareReportStartOptions {
  readonly dataRoot: string;
  readonly timeZone: string;
  readonly reference: Date;
  /** `DAQFLOW_REPORT_CONFIG`: the configuration used when the body names none. */
  readonly defaultConfigPath?: string | undefined;
  readonly scheduleId?: string | null;
}

/** Jobs' folders and draft reports, below the data root. */
export const REPORT_WORK_FOLDER = '.daqflow-reports';

export const prepareReportStart = async (body: Record<string, unknown>, options: PrepareReportStartOptions): Promise<ReportRequested> => {
  const request = validateBody(reportStartRequestSchema, body, 'report start');
  const rootReal = await realpathOfExisting(resolve(options.dataRoot));

  let configPath: string | null = null;
  let source: string | object;
  if (request.config !== undefined) {
    source = request.config;
  } else {
    const path = request.configPath ?? options.defaultConfigPath;
    if (path === undefined) {
      throw new ValidationError('no report configuration: give config (an object) or configPath, or set DAQFLOW_REPORT_CONFIG', [
        { path: ['configPath'], message: 'missing' },
      ]);
    }
    configPath = isAbsolute(path) ? path : resolve(path);
    source = await readTextFileBounded(configPath, 'configPath');
  }
  const config = parseReportConfig(source, { dataRoot: rootReal });
  if (!config.ok) throw reportConfigError(config.issues, configPath ? `report configuration ${configPath}` : 'report configuration');

  const resolved = resolveReportRequest({
    config: config.config,
    override: request.override,
    mode: request.mode,
    runner: request.runner,
    instruments: request.instruments,
    reference: options.reference,
    timeZone: options.timeZone,
    dataRoot: rootReal,
    workDir: join(rootReal, REPORT_WORK_FOLDER),
    configPath,
    scheduleId: options.scheduleId ?? null,
  });
  if (!resolved.ok) throw reportConfigError(resolved.issues);
  // The text check above cannot see symlinks: follow them before anything is written there.
  if (resolved.requested.outDir !== null) await checkDirInsideRoot(rootReal, resolved.requested.outDir, 'global.outFolder');
  return resolved.requested;
};
