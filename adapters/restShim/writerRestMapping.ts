/**
 * How sf_bsread_writer's REST vocabulary (status words, `/parameters` keys, `/statistics` fields)
 * maps onto daqflow's acquisition contract (docs/api.md). Pure: no I/O, so that the mapping can be
 * checked without servers.
 */
import { NODE_NAME_PATTERN, NODE_NAME_RULE } from '../../actors/runtime/ownership.js';

/** The keys sf_bsread_writer refuses a `POST /parameters` without (`writer.py` REQUIRED_PARAMETERS). */
export const REQUIRED_PARAMETERS = ['general/created', 'general/user', 'general/process', 'general/instrument'] as const;

/**
 * `waiting` / `writing` / `error` are sf_bsread_writer's. `finished` and `killed` are ours: the
 * original process exited at the end of its file, so it never had to say how the file ended.
 */
export type WriterStatusWord = 'waiting' | 'writing' | 'finished' | 'killed' | 'error';

export type ShimHttpStatus = 400 | 401 | 404 | 405 | 409 | 500;

/** A refused request, with the HTTP status it is answered with. */
export class ShimError extends Error {
  override readonly name = 'ShimError';
  constructor(
    readonly status: ShimHttpStatus,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/**
 * What `daqflow.acquisitions.get` (and every acquisition command) answers, as docs/api.md gives
 * it; only the fields read here. The shim is a client of that public reply, not of the machine.
 */
export interface AcquisitionReply {
  readonly id: string;
  readonly state: string;
  readonly final: boolean;
  readonly outputFile: string | null;
  readonly startPulseId: number | null;
  readonly stopPulseId: number | null;
  readonly stopNow: boolean;
  readonly firstPulseId: number | null;
  readonly lastPulseId: number | null;
  readonly pulsesWritten: number;
  readonly missingPulses: number;
  readonly bytesWritten: number;
  readonly ratePerSecond: number;
  readonly lagPulses: number;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly draftPath?: string;
  readonly lostPulses?: {
    readonly from: number;
    readonly to: number;
    readonly count?: number;
    readonly ranges?: readonly { readonly from: number; readonly to: number }[];
  };
  readonly error?: string;
}

/** The parameters as sf_bsread_writer keeps them (echoed back verbatim) and what daqflow is sent. */
export interface WriterParameters {
  /** Everything the client posted, returned as given by `GET`/`POST /parameters`. */
  readonly raw: Readonly<Record<string, unknown>>;
  readonly outputFile: string | null;
  readonly metadata: { readonly created?: string; readonly instrument?: string; readonly process?: string; readonly user?: string };
  readonly channels: readonly string[] | null;
  /** `on_loss`: what daqflow does when its ring buffer overtakes the writer; absent: daqflow's default (`record`). */
  readonly onLoss: 'record' | 'fail' | null;
  /** `node`: the node whose process must write it (docs/multi-host.md); absent: daqflow's default. */
  readonly node: string | null;
}

export const noParameters: WriterParameters = { raw: {}, outputFile: null, metadata: {}, channels: null, onLoss: null, node: null };

/** The acquisition the shim started last, with what only the shim knows of it. */
export interface CurrentAcquisition {
  readonly id: string;
  /** As asked with `/start_pulse_id/<id>`; null after `/start_now`, as sf_bsread_writer reports it. */
  readonly startPulseId: number | null;
  /** Seconds since the epoch of a `/start_now`, else null. */
  readonly startTimestamp: number | null;
  /** Seconds since the epoch of a `/stop_now` or `/stop`, else null. */
  stopTimestamp: number | null;
}

const invalid = (message: string, details: Record<string, unknown> = {}): ShimError =>
  new ShimError(400, 'INVALID_REQUEST', message, details);

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

// Scripts write user ids such as p11057 as strings, but a bare number must not be refused for it.
const metadataText = (key: string, value: unknown): string | undefined => {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw invalid(`${key} must be a string`, { key });
};

export const outputFileOf = (value: unknown, key = 'output_file'): string => {
  if (typeof value !== 'string' || value.trim() === '') throw invalid(`${key} must be a non-empty string (a path inside the data root)`, { key });
  return value;
};

/**
 * Checks a `POST /parameters` body as sf_bsread_writer does (the four `general/*` keys are
 * mandatory, with its message) and takes out what daqflow needs: `output_file` (the writer's
 * command-line argument in the original, so it has to travel here) and, as extensions,
 * `channels`, `on_loss` and `node`. The four `general/*` values are written to the file's `/general`.
 */
export const parseParameters = (body: unknown): WriterParameters => {
  if (!isRecord(body)) throw invalid('the parameters must be a JSON object');
  const missing = REQUIRED_PARAMETERS.filter((k) => !(k in body));
  if (missing.length) {
    throw invalid(
      `Missing mandatory parameters. Mandatory parameters '${JSON.stringify(REQUIRED_PARAMETERS)}' but received '${JSON.stringify(Object.keys(body))}'.`,
      { missing },
    );
  }
  const created = metadataText('general/created', body['general/created']);
  const instrument = metadataText('general/instrument', body['general/instrument']);
  const process = metadataText('general/process', body['general/process']);
  const user = metadataText('general/user', body['general/user']);
  let channels: string[] | null = null;
  if (body.channels !== undefined && body.channels !== null) {
    const list = body.channels;
    if (!Array.isArray(list) || list.length === 0 || !list.every((c): c is string => typeof c === 'string' && c !== '')) {
      throw invalid('channels must be a non-empty list of channel names', { key: 'channels' });
    }
    channels = list;
  }
  const onLoss = body.on_loss ?? null;
  if (onLoss !== null && onLoss !== 'record' && onLoss !== 'fail') throw invalid('on_loss must be "record" or "fail"', { key: 'on_loss' });
  const node = body.node ?? null;
  if (node !== null && (typeof node !== 'string' || !NODE_NAME_PATTERN.test(node))) throw invalid(`node must be a node name: ${NODE_NAME_RULE}`, { key: 'node' });
  return {
    raw: { ...body },
    outputFile: body.output_file === undefined || body.output_file === null ? null : outputFileOf(body.output_file),
    metadata: {
      ...(created === undefined ? {} : { created }),
      ...(instrument === undefined ? {} : { instrument }),
      ...(process === undefined ? {} : { process }),
      ...(user === undefined ? {} : { user }),
    },
    channels,
    onLoss,
    node,
  };
};

/** sf_bsread_writer's persistent mode: `PUT /start_now` `{"output_file": …}` switches the file. */
export const withOutputFile = (parameters: WriterParameters, outputFile: string): WriterParameters => ({
  ...parameters,
  raw: { ...parameters.raw, output_file: outputFile },
  outputFile,
});

/** A pulse id from a path segment: the whole segment, a whole number daqflow can hold exactly. */
export const parsePulseId = (segment: string | undefined, route: string): number => {
  let text = segment ?? '';
  try {
    text = decodeURIComponent(text);
  } catch {
    // A malformed escape stays as typed and is refused below like any other non-number.
  }
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n)) {
    throw invalid(`${route}: the pulse id must be a whole number of 0 or more, not ${JSON.stringify(text)}`, { pulseId: text });
  }
  return n;
};

/** daqflow's acquisition state as one of the writer's status words; no acquisition yet is `waiting`. */
export const statusWordOf = (state: string | null): WriterStatusWord => {
  switch (state) {
    case null:
      return 'waiting';
    case 'completed':
      return 'finished';
    case 'killed':
      return 'killed';
    case 'failed':
      return 'error';
    // daqflow's `waiting` (for the start pulse) is sf_bsread_writer's "writing": its writer thread
    // was alive from the start request on, discarding pulses before the start.
    default:
      return 'writing';
  }
};

/** Stream counters as the in-process bsread source reports them; only the fields shown. */
export interface StreamCounters {
  readonly address: string;
  readonly buffer: {
    readonly received: number;
    readonly droppedOldest: number;
    readonly malformed: number;
    readonly pulseIdGaps: number;
    readonly messages: number;
    readonly oldestPulseId: number | null;
    readonly newestPulseId: number | null;
    readonly readerLostPulses: number;
  };
}

/** An acquisition's lost pulses in the shim's words: `{count, ranges}` ({from, to} each), or a failure's `{from, to}`. */
export const lostPulsesOf = (lost: NonNullable<AcquisitionReply['lostPulses']>): Record<string, unknown> =>
  lost.count === undefined ? { from: lost.from, to: lost.to } : { count: lost.count, ranges: lost.ranges ?? [{ from: lost.from, to: lost.to }] };

/**
 * sf_bsread_writer's `statistics` (`start_pulse_id`, `stop_pulse_id`, `start_timestamp`,
 * `stop_timestamp`, `last_pulse_id` (-1 before the first), `last_timestamp`) from the
 * acquisition's reply, followed by daqflow's own counters and, when the shim runs beside the
 * stream, the ring buffer's.
 */
export const statisticsOf = (
  current: CurrentAcquisition | null,
  view: AcquisitionReply | null,
  stream: StreamCounters | undefined,
): Record<string, unknown> => ({
  start_pulse_id: current?.startPulseId ?? null,
  // A stop now is a timestamp bound in sf_bsread_writer, so its pulse bound stays null there too.
  stop_pulse_id: view?.stopNow ? null : (view?.stopPulseId ?? null),
  start_timestamp: current?.startTimestamp ?? null,
  stop_timestamp: current?.stopTimestamp ?? null,
  last_pulse_id: view?.lastPulseId ?? -1,
  // daqflow's reply carries no message timestamps; null is what sf_bsread_writer said before any.
  last_timestamp: null,
  acquisition_id: current?.id ?? null,
  daqflow_state: view?.state ?? null,
  output_file: view?.outputFile ?? null,
  first_pulse_id: view?.firstPulseId ?? null,
  pulses_written: view?.pulsesWritten ?? 0,
  missing_pulses: view?.missingPulses ?? 0,
  bytes_written: view?.bytesWritten ?? 0,
  rate_per_second: view?.ratePerSecond ?? 0,
  lag_pulses: view?.lagPulses ?? 0,
  ...(view?.draftPath ? { draft_path: view.draftPath } : {}),
  ...(view?.error ? { error: view.error } : {}),
  ...(view?.lostPulses ? { lost_pulses: lostPulsesOf(view.lostPulses) } : {}),
  ...(stream
    ? {
        stream: {
          address: stream.address,
          received: stream.buffer.received,
          dropped_oldest: stream.buffer.droppedOldest,
          malformed: stream.buffer.malformed,
          pulse_id_gaps: stream.buffer.pulseIdGaps,
          buffered: stream.buffer.messages,
          oldest_pulse_id: stream.buffer.oldestPulseId,
          newest_pulse_id: stream.buffer.newestPulseId,
          reader_lost_pulses: stream.buffer.readerLostPulses,
        },
      }
    : {}),
});
