import { randomUUID } from 'node:crypto';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Command } from 'commander';
import { onLossValues, type AcquisitionView, type OnLoss } from '../../../actors/acquisitions/index.js';
import { ValidationError } from '../../../events/errors.js';
import { cliContext, withGlobalOptions, withToolNats, type GlobalOptions } from '../../cli/context.js';
import { withDaqflow } from '../../cli/withDaqflow.js';
import { readJsonPatiently, requestJson } from '../../cli/natsRequest.js';
import { lostPulsesText, red } from '../../cli/format.js';
import { choice, commaList, wholeNumber } from '../../cli/parsers.js';

export type { AcquisitionView };

interface AcquireOptions extends GlobalOptions {
  readonly output?: string;
  readonly startPulse?: number;
  readonly stopPulse?: number;
  readonly channels?: string[];
  readonly instrument?: string;
  readonly user?: string;
  readonly process?: string;
  readonly requestId?: string;
  readonly onLoss?: OnLoss;
  readonly node?: string;
  readonly detach?: boolean;
  readonly json?: boolean;
}

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;

const describe = (v: AcquisitionView, tty: boolean): string =>
  [
    `acquisition ${v.id}: ${v.state}`,
    `  file       ${v.outputFile ?? '-'}`,
    `  pulses     ${v.firstPulseId ?? v.startPulseId ?? 'next'}..${v.lastPulseId ?? '-'} (stop at ${v.stopPulseId ?? 'stop command'})`,
    `  written    ${v.pulsesWritten} pulses, ${v.missingPulses} missing, ${mb(v.bytesWritten)}`,
    ...(v.final ? [] : [`  rate       ${(v.ratePerSecond ?? 0).toFixed(1)} pulses/s, ${v.lagPulses ?? 0} pulses behind the stream`]),
    ...(v.draftPath ? [`  draft      ${v.draftPath}`] : []),
    ...(v.node || v.writer
      ? [`  node       ${v.node ? `asked ${v.node}` : 'any'}${v.writer ? `, written on ${v.writer.node} from ${v.writer.stream.address} (${v.writer.stream.mode})` : ''}`]
      : []),
    ...(v.lostPulses
      ? [
          red(
            v.lostPulses.count === undefined
              ? `  lost       pulses ${v.lostPulses.from}..${v.lostPulses.to}`
              : `  lost       ${lostPulsesText(v.lostPulses, 20)}: the ring buffer overtook the writer; written as missing rows`,
            tty,
          ),
        ]
      : []),
    ...(v.error ? [`  error      ${v.error}`] : []),
  ].join('\n');

/** Follows an acquisition until it ends, one status line a second on stderr. */
export const followAcquisition = async (nc: NatsConnection, prefix: string, id: string, pollMs = 1_000): Promise<AcquisitionView> => {
  const tty = process.stderr.isTTY === true;
  let view = await readJsonPatiently<AcquisitionView>(nc, `${prefix}.acquisitions.get`, { id });
  while (!view.final) {
    const line =
      `acquisition ${id} ${view.state}: ${view.pulsesWritten} pulses (${view.firstPulseId ?? view.startPulseId ?? 'next'}..${view.lastPulseId ?? '-'}), ` +
      `${view.missingPulses} missing, ${mb(view.bytesWritten)}, ${(view.ratePerSecond ?? 0).toFixed(0)}/s, lag ${view.lagPulses ?? 0}` +
      (view.lostPulses?.count === undefined ? '' : `, ${red(`${view.lostPulses.count} lost`, tty)}`);
    process.stderr.write(tty ? `\r${line.padEnd(110)}` : `${line}\n`);
    await new Promise((r) => setTimeout(r, pollMs));
    view = await readJsonPatiently<AcquisitionView>(nc, `${prefix}.acquisitions.get`, { id });
  }
  if (tty) process.stderr.write('\n');
  return view;
};

const runStart = async (options: AcquireOptions): Promise<void> => {
  if (!options.output) throw new ValidationError('--output <file> is required: the HDF5 file to write, relative to DAQFLOW_DATA_ROOT');
  // `--node` here names the acquisition's node, not this command's (`daqflow up --node`).
  const context = cliContext({ ...options, node: undefined }, { logLevel: 'warn' });
  const prefix = context.config.subjectPrefix;
  const metadata = Object.fromEntries(
    (['instrument', 'user', 'process'] as const).filter((k) => options[k] !== undefined).map((k) => [k, options[k]]),
  );
  const body = {
    requestId: options.requestId ?? `cli-${randomUUID()}`,
    outputFile: options.output,
    ...(options.startPulse !== undefined ? { startPulseId: options.startPulse } : { startNow: true }),
    ...(options.stopPulse !== undefined ? { stopPulseId: options.stopPulse } : {}),
    ...(options.channels?.length ? { channels: options.channels } : {}),
    ...(options.onLoss ? { onLoss: options.onLoss } : {}),
    ...(options.node !== undefined ? { node: options.node } : {}),
    ...(Object.keys(metadata).length ? { metadata } : {}),
  };
  await withDaqflow(context, `${prefix}.acquisitions.get`, async (nc, inProcess) => {
    const started = await requestJson<AcquisitionView>(nc, `${prefix}.acquisitions.start`, body, 10_000);
    process.stderr.write(
      `acquisition ${started.id}: ${started.state}, from pulse ${started.startPulseId ?? 'next'} to ${started.stopPulseId ?? 'a stop command'} into ${started.outputFile}\n`,
    );
    if (options.detach) {
      if (inProcess) process.stderr.write('note: --detach with no daqflow running: the acquisition cannot go on once this command exits\n');
      process.stdout.write(options.json ? `${JSON.stringify(started)}\n` : `${started.id}\n`);
      return;
    }
    // Ctrl-C without a stop pulse is how an operator ends an open-ended acquisition: stop now.
    let interrupts = 0;
    const onSignal = (): void => {
      interrupts++;
      if (interrupts > 1) process.exit(130);
      process.stderr.write(`\nstopping acquisition ${started.id} at the newest pulse (Ctrl-C again to leave it running)\n`);
      void requestJson(nc, `${prefix}.acquisitions.stop`, { id: started.id, now: true }).catch((e: unknown) =>
        process.stderr.write(`stop failed: ${(e as Error).message}\n`),
      );
    };
    process.on('SIGINT', onSignal);
    try {
      const view = await followAcquisition(nc, prefix, started.id);
      process.stdout.write(options.json ? `${JSON.stringify(view, null, 2)}\n` : `${describe(view, process.stdout.isTTY === true)}\n`);
      if (view.state !== 'completed' && view.state !== 'killed') process.exitCode = 1;
    } finally {
      process.off('SIGINT', onSignal);
    }
  });
};

/** One request to a running daqflow and its reply printed. */
const runOne = async (subject: string, body: Record<string, unknown>, options: AcquireOptions & { follow?: boolean }): Promise<void> => {
  const context = cliContext(options, { logLevel: 'warn' });
  const prefix = context.config.subjectPrefix;
  await withToolNats(context, async (nc) => {
    let view = await requestJson<AcquisitionView>(nc, `${prefix}.acquisitions.${subject}`, body);
    if (options.follow && !view.final) view = await followAcquisition(nc, prefix, view.id);
    process.stdout.write(options.json ? `${JSON.stringify(view, null, 2)}\n` : `${describe(view, process.stdout.isTTY === true)}\n`);
  });
};

/** Adds `daqflow acquire start|stop|kill|get`. */
export const registerAcquireCommands = (program: Command): void => {
  const acquire = program
    .command('acquire')
    .description('write pulses N..M of the bsread stream to one HDF5 file (SwissFEL layout)')
    .addHelpText(
      'after',
      `
daqflow receives the bsread stream (DAQFLOW_BSREAD_STREAM, pull or sub; without it, a simulated
100 Hz stream; read by daqflow's ZMTP reader, or by zeromq.js with DAQFLOW_BSREAD_RECEIVER=zeromq)
into a ring buffer of DAQFLOW_BUFFER_LENGTH pulses. An acquisition writes the pulses from its
start to its stop pulse (both inclusive) from that buffer, on a thread of its own, so a start
pulse a little in the past still works; one that has left the buffer is refused. Missing pulses
and values are rows with is_data_present = 0. A writer the buffer overtakes goes on from the
oldest pulse held: the pulses it lost are such rows too, listed under "lost" (red on a terminal)
and in lostPulses (--on-loss fail: the acquisition fails instead). The file appears under its
name only when complete.

Examples:
  npx daqflow acquire start --output p12345/raw/run_0001.h5 --stop-pulse 2000000
  npx daqflow acquire start --output run2.h5 --start-pulse 1999000 --stop-pulse 1999999 --channels SAR:CAM,SAR:I0
  npx daqflow acquire start --output open.h5 --detach     # then: npx daqflow acquire stop <id>
  npx daqflow acquire get <id>
  npx daqflow acquire stop <id> --pulse 2001000
  npx daqflow acquire kill <id>`,
    );

  withGlobalOptions(
    acquire
      .command('start')
      .description('start an acquisition and follow it until it ends (Ctrl-C: stop it now)')
      .option('-o, --output <file>', 'HDF5 file to write; relative to DAQFLOW_DATA_ROOT, and inside it; never replaced')
      .option('--start-pulse <id>', 'first pulse (inclusive); default: the next pulse of the stream', wholeNumber)
      .option('--stop-pulse <id>', 'last pulse (inclusive); default: until `acquire stop`', wholeNumber)
      .option('--channels <names>', 'only these channels (comma-separated; repeatable); default: all', commaList)
      .option('--instrument <name>', 'written to /general/instrument')
      .option('--user <name>', 'written to /general/user (e.g. the proposal)')
      .option('--process <name>', 'written to /general/process (default daqflow)')
      .option(
        '--on-loss <what>',
        'when the ring buffer overtakes the writer: record (go on, the lost pulses are missing rows, listed in lostPulses) or fail',
        choice(onLossValues),
      )
      .option(
        '--node <name>',
        'the node (DAQFLOW_NODE) whose process must write it, from its own ring buffer; default: the process that takes the request',
      )
      .option('--request-id <id>', 'idempotency key: sending the same start again returns the first acquisition')
      .option('--detach', 'print the id and return; the acquisition goes on in `daqflow up`')
      .option('--json', 'print JSON'),
  ).action((_, command: Command) => runStart(command.optsWithGlobals()));

  withGlobalOptions(
    acquire
      .command('stop')
      .description('stop an acquisition at a pulse (inclusive), or at the newest pulse')
      .argument('<id>', 'acquisition id')
      .option('--pulse <id>', 'last pulse to write (default: the newest pulse received)', wholeNumber)
      .option('--follow', 'follow it until it ends')
      .option('--json', 'print JSON'),
  ).action((id: string, _, command: Command) => {
    const o = command.optsWithGlobals<AcquireOptions & { pulse?: number; follow?: boolean }>();
    return runOne('stop', o.pulse !== undefined ? { id, stopPulseId: o.pulse } : { id, now: true }, o);
  });

  withGlobalOptions(
    acquire
      .command('kill')
      .description('end an acquisition at once: the file is closed with the pulses written so far')
      .argument('<id>', 'acquisition id')
      .option('--reason <text>', 'recorded with the kill')
      .option('--json', 'print JSON'),
  ).action((id: string, _, command: Command) => {
    const o = command.optsWithGlobals<AcquireOptions & { reason?: string }>();
    return runOne('kill', { id, reason: o.reason ?? 'killed from the command line' }, o);
  });

  withGlobalOptions(
    acquire
      .command('get')
      .description("print an acquisition's state, pulses, file and error")
      .argument('<id>', 'acquisition id')
      .option('--follow', 'follow it until it ends')
      .option('--json', 'print JSON'),
  ).action((id: string, _, command: Command) => runOne('get', { id }, command.optsWithGlobals()));
};
