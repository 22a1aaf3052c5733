/**
 * What a report job runs (on the local runner or a Slurm node): `daqflow report render-job
 * <job.json>` draws one trend plot (PNG, SVG, Vega-Lite spec) per parameter of its detector from the
 * statistics in its input, into the out folder, laid out as the report will link them.
 */
import { readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { plotBasePath } from '../../report/reportPaths.js';
import { writeTrendPlot } from '../../report/trendPlot.js';
import { JOB_OUTPUT, type RenderJobInput } from './reportEffects.js';

export const renderJob = async (inputPath: string, outDir?: string): Promise<string[]> => {
  const input = JSON.parse(await readFile(inputPath, 'utf8')) as RenderJobInput;
  const out = outDir ?? join(dirname(inputPath), JOB_OUTPUT);
  const { job } = input;
  const written: string[] = [];
  for (const document of input.statistics) {
    const base = plotBasePath(job.instrument, job.detector, document.parameter);
    const files = await writeTrendPlot(out, base, { ...document, from: job.from, to: job.to }, {
      width: job.plot.width,
      height: job.plot.height,
      statistics: job.plot.statistics,
      logScale: job.plot.logScale,
    });
    // Only the formats the configuration asks for become artifacts (the spec is always kept).
    for (const format of ['png', 'svg'] as const) {
      if (job.plot.formats.includes(format)) written.push(files[format].path);
      else await rm(files[format].path, { force: true });
    }
  }
  return written;
};
