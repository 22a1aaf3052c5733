import { jetstreamManager } from '@nats-io/jetstream';
import type { Command } from 'commander';
import { DaqflowError } from '../../events/errors.js';
import { eventSubjectPrefix } from '../app/startDaqflow.js';
import { applyEventStream, checkEventStream } from '../jetstream/eventStream.js';
import { toStoreError, type StreamDifference } from '../jetstream/errors.js';
import { cliContext, withGlobalOptions, withToolNats, type CliContext, type GlobalOptions } from './context.js';

const row = (d: StreamDifference): string =>
  `  ${d.needed ? 'needed  ' : 'operator'}  ${d.field.padEnd(22)} ${JSON.stringify(d.have ?? null)} → ${JSON.stringify(d.want ?? null)}\n`;

const namesOf = (context: CliContext) => ({ stream: context.config.stream, subjectPrefix: eventSubjectPrefix(context.config) });

// Replicas are the operator's: changed only when asked for.
const replicasOf = (context: CliContext): number | undefined =>
  context.config.explicit.has('streamReplicas') ? context.config.streamReplicas : undefined;

/** `daqflow stream check`: how the stream on the server differs from daqflow's; exits 1 when daqflow would refuse it. */
export const runStreamCheck = async (options: GlobalOptions): Promise<void> => {
  const context = cliContext(options, { logLevel: 'warn' });
  const names = namesOf(context);
  await withToolNats(context, async (nc) => {
    const jsm = await jetstreamManager(nc).catch((e: unknown) => {
      throw toStoreError(e, 'reaching JetStream');
    });
    const state = await checkEventStream(jsm, names, replicasOf(context));
    if (!state.info) {
      process.stdout.write(`stream ${names.stream} does not exist: \`daqflow up\` or \`daqflow stream apply\` creates it\n`);
      return;
    }
    const needed = state.differences.filter((d) => d.needed);
    process.stdout.write(`stream ${names.stream}: ${state.info.state.messages} messages, ${state.info.config.num_replicas} replica(s)\n`);
    if (state.differences.length === 0) {
      process.stdout.write('as daqflow would create it\n');
      return;
    }
    process.stdout.write(`  kind      setting                have → daqflow's\n${state.differences.map(row).join('')}`);
    process.stdout.write(
      needed.length > 0
        ? `daqflow refuses this stream; \`daqflow stream apply\` changes the needed settings (the operator's stay)\n`
        : `daqflow uses this stream as it is; the operator's settings stay\n`,
    );
    if (needed.length > 0) process.exitCode = 1;
  });
};

/** `daqflow stream apply`: creates the stream or changes what daqflow needs, keeping the operator's settings. */
export const runStreamApply = async (options: GlobalOptions): Promise<void> => {
  const context = cliContext(options, { logLevel: 'warn' });
  const names = namesOf(context);
  await withToolNats(context, async (nc) => {
    const jsm = await jetstreamManager(nc).catch((e: unknown) => {
      throw toStoreError(e, 'reaching JetStream');
    });
    const before = await checkEventStream(jsm, names, replicasOf(context));
    const changing = before.differences.filter((d) => d.needed || (d.field === 'num_replicas' && replicasOf(context) !== undefined));
    if (before.info && changing.length === 0) {
      process.stdout.write(`stream ${names.stream}: nothing to change\n`);
      return;
    }
    const info = await applyEventStream(jsm, names, replicasOf(context));
    const after = await checkEventStream(jsm, names, replicasOf(context));
    if (after.differences.some((d) => d.needed)) {
      throw new DaqflowError('STREAM_MISMATCH', `stream ${names.stream} still differs after the change: the server kept ${after.differences.filter((d) => d.needed).map((d) => d.field).join(', ')}`);
    }
    process.stdout.write(
      before.info
        ? `stream ${names.stream} changed:\n${changing.map(row).join('')}`
        : `stream ${names.stream} created (${info.config.num_replicas} replica(s), subjects ${info.config.subjects.join(', ')})\n`,
    );
  });
};

/** Adds `daqflow stream check|apply`. */
export const registerStreamCommands = (program: Command): void => {
  const stream = program
    .command('stream')
    .description("the event stream on the NATS server: compare it with daqflow's configuration, or change it deliberately");
  withGlobalOptions(
    stream
      .command('check')
      .description("list how the stream differs from daqflow's configuration; exits 1 when daqflow would refuse it")
      .addHelpText(
        'after',
        `
needed: daqflow depends on it (subjects, retention, allow_direct, a duplicate window at least as
long as daqflow's) and \`daqflow up\` refuses the stream until it is changed. operator: replicas,
placement, storage, discard and limits, which daqflow leaves as the operator set them.`,
      ),
  ).action((_, command: Command) => runStreamCheck(command.optsWithGlobals()));
  withGlobalOptions(
    stream
      .command('apply')
      .description('create the stream, or change the settings daqflow needs; the operator\'s other settings stay')
      .addHelpText('after', '\nReplicas change only when DAQFLOW_STREAM_REPLICAS (streamReplicas) is set.'),
  ).action((_, command: Command) => runStreamApply(command.optsWithGlobals()));
};
