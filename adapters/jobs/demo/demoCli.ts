import { allProjections } from '../registry.js';
import { connectNats } from '../../jetstream/connection.js';
import { oneCommandConfig, startDaqflow, type Daqflow } from '../../app/startDaqflow.js';
import { cliContext, toolServers, type GlobalOptions, natsOf } from '../../cli/context.js';
import { abridged, progressBar, table } from '../../cli/format.js';
import { followAcquisition, type AcquisitionView } from '../acquisitions/acquireCli.js';
import { followReport, type ReportView } from '../reports/reportCli.js';
import { followGrab, grabStatistics, statisticsTable, type GrabView } from '../grabs/grabCli.js';
import { readJsonPatiently, requestJson } from '../../cli/natsRequest.js';
import { withGlobalOptions } from '../../cli/context.js';
import { nonNegativeIntText, positiveIntText } from '../../cli/parsers.js';
import type { Command } from 'commander';

/** The demo's grab: an hour of four simulated parameters, in 15-minute chunks. */
const DEMO_GRAB = {
  parameters: ['SIM:SINE', 'SIM:RAMP', 'SIM:STEP', 'SIM:NANS'],
  window: { hours: 1 },
  chunkSeconds: 900,
  outDir: 'demo',
} as const;

/** The demo's report: the demo grab's parameters, built on the local runner and written to <data root>/demo/reports. */
const DEMO_REPORT = {
  mode: 'local',
  runner: 'local',
  config: {
    global: { title: 'daqflow demo report', outFolder: 'demo/reports', jobUpdateIntervalSeconds: 1, jobTimeoutSeconds: 300, range: { last: '2d' } },
    instruments: {
      SIM: {
        detectors: {
          waves: { parameters: ['SIM:SINE', 'SIM:RAMP'] },
          steps: { parameters: ['SIM:STEP', 'SIM:NANS'] },
        },
      },
    },
  },
} as const;

export interface DemoOptions extends GlobalOptions {
  readonly steps: string;
  readonly intervalMs: string;
}

interface DemoView {
  id: string;
  state: string;
  final?: boolean;
  version?: number;
  done?: number;
  steps?: number;
  error?: string;
}

/**
 * `daqflow demo`: runs a demo job through the NATS API and shows its progress, transitions and
 * status row. Uses a running `daqflow up` when one answers, else runs daqflow in-process.
 */
export const runDemo = async (options: DemoOptions): Promise<void> => {
  const context = cliContext(options, { logLevel: 'warn' });
  const prefix = context.config.subjectPrefix;
  const servers = await toolServers(context);
  const nc = await connectNats(natsOf(context, servers), 'daqflow-demo-cli');
  let inProcess: Daqflow | undefined;
  try {
    // Any reply, even "unknown id", means a daqflow serves this subject prefix; $SRV.PING would
    // also be answered by daqflows serving other prefixes on the same NATS server.
    const running = await nc
      .request(`${prefix}.demo.get`, JSON.stringify({ id: 'is-anyone-there' }), { timeout: 1_000 })
      .then(() => true)
      .catch(() => false);
    if (!running) {
      process.stderr.write('no daqflow answering: running one in this process for the demo\n');
      inProcess = await startDaqflow(oneCommandConfig(context.config), servers, context.logger);
    }
    const steps = Number(options.steps);
    const intervalMs = Number(options.intervalMs);
    const started = await requestJson<DemoView>(nc, `${prefix}.demo.start`, { steps, intervalMs, label: 'daqflow demo' });
    process.stdout.write(`demo job ${started.id}: ${started.state}\n`);
    let view: DemoView = started;
    const tty = process.stderr.isTTY === true;
    for (;;) {
      view = await readJsonPatiently<DemoView>(nc, `${prefix}.demo.get`, { id: started.id });
      const line = `${progressBar(view.done ?? 0, view.steps ?? steps)} ${view.state} (${view.done ?? 0}/${view.steps ?? steps} steps)`;
      process.stderr.write(tty ? `\r${line}` : `${line}\n`);
      if (view.final) break;
      await new Promise((r) => setTimeout(r, Math.min(500, Math.max(100, intervalMs))));
    }
    if (tty) process.stderr.write('\n');
    // The status tables are a projection: wait until they have caught up with the last transition.
    let history: { events: Array<Record<string, unknown>> } = { events: [] };
    for (let i = 0; i < 50; i++) {
      history = await requestJson<typeof history>(nc, `${prefix}.query.history`, { id: started.id }).catch(() => ({ events: [] }));
      if (history.events.length >= (view.version ?? 0)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    process.stdout.write(
      `${table(
        ['V', 'EVENT', 'FROM', 'TO', 'DATA'],
        history.events.map((e) => [String(e.version), String(e.type), String(e.previous_state ?? '(new)'), String(e.state), abridged(e.data, 50)]),
      )}\n`,
    );
    process.stdout.write(`demo job ${started.id} ended ${view.state}${view.error ? `: ${view.error}` : ''}\n`);

    // An acquisition: two seconds of the bsread stream (the simulated one, unless configured) to HDF5.
    process.stdout.write(`\nacquisition: 200 pulses of the bsread stream from the ring buffer to HDF5\n`);
    try {
      const acq = await requestJson<AcquisitionView>(nc, `${prefix}.acquisitions.start`, {
        outputFile: `demo/acquisition-${new Date().toISOString().replace(/[:.]/g, '')}.h5`,
        startNow: true,
        metadata: { instrument: 'demo', user: 'daqflow demo' },
      });
      await new Promise((r) => setTimeout(r, 100));
      const stopAt = (acq.startPulseId ?? 0) + 199;
      await requestJson(nc, `${prefix}.acquisitions.stop`, acq.startPulseId === null ? { id: acq.id, now: true } : { id: acq.id, stopPulseId: stopAt });
      const ended = await followAcquisition(nc, prefix, acq.id, 300);
      process.stdout.write(
        ended.state === 'completed'
          ? `acquisition ${ended.id} completed: pulses ${ended.firstPulseId}..${ended.lastPulseId}, ${ended.pulsesWritten} written, ${ended.missingPulses} missing, ${ended.outputFile}\n`
          : `acquisition ${ended.id} ended ${ended.state}${ended.error ? `: ${ended.error}` : ''}\n`,
      );
    } catch (e) {
      process.stdout.write(`acquisition not started: ${(e as Error).message}\n`);
    }

    // A grab run from the simulated data logger: the last hour before midnight to HDF5, with statistics.
    process.stdout.write(`\ngrab run: ${DEMO_GRAB.parameters.join(', ')}, the hour before the last midnight\n`);
    try {
      const grab = await requestJson<GrabView>(nc, `${prefix}.grabs.start`, DEMO_GRAB, 30_000);
      const ended = await followGrab(nc, prefix, grab.id, 200);
      const stats = ended.state === 'completed' ? await grabStatistics(nc, prefix, grab.id) : [];
      if (stats.length) process.stdout.write(`${statisticsTable(stats)}\n`);
      process.stdout.write(
        ended.state === 'completed'
          ? `grab ${ended.id} completed: ${ended.outputFile}\n`
          : `grab ${ended.id} ended ${ended.state}${ended.error ? `: ${ended.error}` : ''}\n`,
      );
    } catch (e) {
      // A daqflow configured with a real Archiver Appliance does not know the simulated parameters.
      process.stdout.write(`grab run not started: ${(e as Error).message}\n`);
    }
    // A report of the statistics database: trend plots of the demo's parameters, on the local runner.
    process.stdout.write(`\nreport: trend plots of ${DEMO_GRAB.parameters.join(', ')} over the last 2 days, on the local runner\n`);
    try {
      const report = await requestJson<ReportView>(nc, `${prefix}.reports.start`, DEMO_REPORT, 30_000);
      const ended = await followReport(nc, prefix, report.id, 500);
      process.stdout.write(
        ended.state === 'completed'
          ? `report ${ended.id} completed: ${ended.published?.dir ?? ended.report?.dir}/index.html\n`
          : `report ${ended.id} ended ${ended.state}${ended.error ? `: ${ended.error}` : ''}\n`,
      );
    } catch (e) {
      process.stdout.write(`report not started: ${(e as Error).message}\n`);
    }
    process.stdout.write(
      `projections: ${allProjections.map((p) => p.name).join(', ')}; see \`npx daqflow status\`, \`npx daqflow history ${started.id}\`, \`npx daqflow stats list\`\n`,
    );
  } finally {
    await inProcess?.stop();
    await nc.close();
    await servers.stop();
  }
};

/** `daqflow demo`. */
export const registerDemoCommand = (program: Command): void => {
  withGlobalOptions(
    program
      .command('demo')
      .description('run a demo job through the NATS API and print its progress and transitions')
      .option('--steps <n>', 'steps of the demo job', positiveIntText, '5')
      .option('--interval-ms <ms>', 'time between steps', nonNegativeIntText, '300'),
  ).action((_, command: Command) => runDemo(command.optsWithGlobals()));
};
