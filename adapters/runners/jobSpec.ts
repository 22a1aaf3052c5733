import { isAbsolute } from 'node:path';
import { JobRunnerError } from './errors.js';
import type { JobSpec } from './jobRunner.js';

// squeue -n takes a comma-separated list and the local runner uses the name as a folder name,
// so names keep to characters that mean nothing to either.
const namePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;
const envNamePattern = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** True for a name both runners accept (and that is safe as a folder name). */
export const isJobName = (name: string): boolean => namePattern.test(name);

const safePart = (part: string): string => part.replace(/[^A-Za-z0-9._-]+/g, '_');

/** The deterministic job name `daqflow-<reportId>-<jobKey>[-<attempt>]`, with unsafe characters replaced. */
export const jobName = (reportId: string, jobKey: string, attempt?: number): string =>
  ['daqflow', safePart(reportId), safePart(jobKey), ...(attempt === undefined ? [] : [String(attempt)])]
    .join('-')
    .slice(0, 200);

/** Throws a BAD_SPEC JobRunnerError naming the first problem of the spec. */
export const checkJobSpec = (spec: JobSpec): void => {
  const bad = (message: string): never => {
    throw new JobRunnerError('BAD_SPEC', `job ${JSON.stringify(spec.name)}: ${message}`, { jobName: spec.name });
  };
  if (!namePattern.test(spec.name)) bad('the name must match [A-Za-z0-9][A-Za-z0-9._-]{0,199}');
  if (spec.command.length === 0 || spec.command[0] === '') bad('the command is empty');
  for (const [key, path] of [
    ['workDir', spec.workDir],
    ['stdoutPath', spec.stdoutPath],
    ['stderrPath', spec.stderrPath],
    ['exitMarkerPath', spec.exitMarkerPath],
  ] as const) {
    if (!isAbsolute(path)) bad(`${key} must be an absolute path, not ${JSON.stringify(path)}`);
    if (/[\n\\]/.test(path)) bad(`${key} may not hold a newline or a backslash`);
  }
  for (const name of Object.keys(spec.env ?? {})) {
    if (!envNamePattern.test(name)) bad(`${JSON.stringify(name)} is not an environment variable name`);
  }
  if (spec.timeLimitSeconds !== undefined && !(Number.isInteger(spec.timeLimitSeconds) && spec.timeLimitSeconds > 0)) {
    bad('timeLimitSeconds must be a positive integer');
  }
};
