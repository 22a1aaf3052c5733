/**
 * The EPICS Archiver Appliance as a data-logger source, through its retrieval JSON API:
 *
 *   GET <baseUrl>/data/getData.json?pv=<PV>&from=<ISO 8601>&to=<ISO 8601>
 *   → [ { "meta": { "name": "<pv>", "EGU": "mA", "PREC": "3", … },
 *         "data": [ { "secs": 1700000000, "nanos": 123456789, "val": 301.3, "severity": 0, "status": 0 }, … ] } ]
 *
 * `baseUrl` is the appliance's data retrieval URL (`data_retrieval_url` of appliances.xml, the
 * value of `DAQFLOW_ARCHIVER_URL`), e.g. `http://archiver:17668/retrieval`. A URL that already
 * ends in `/data` or `/data/getData.json` is accepted too.
 *
 * Memory: the appliance answers one JSON document per request, which this adapter reads and
 * parses whole. So it never asks for more than `sliceSeconds` (default one hour) per request:
 * a window is cut into slices aligned on multiples of `sliceSeconds` since the epoch, requested one
 * after the other, each slice's samples emitted in batches before the next slice is asked for.
 * At most one slice's answer is held at a time, and never more than `maxResponseBytes` of it
 * (default 128 MiB; a larger answer fails with `BAD_RESPONSE`: lower `sliceSeconds` for fast PVs).
 * The alignment makes requests repeatable: a grab resumed from a batch's `through` asks again
 * for the same (pv, from, to) slices, and never again for a slice it finished.
 *
 * Values:
 * - a number is the value; the appliance writes Java's `NaN` and `Infinity` unquoted (invalid JSON),
 *   which are read as NaN and ±Infinity;
 * - a string (DBR_STRING), null or anything else is NaN;
 * - an array (a waveform) of zero or one element is NaN or that element; a longer one fails with
 *   `NOT_SCALAR`: grab runs record scalars only, and silently keeping one element of a waveform
 *   would record something that was never asked for;
 * - severity and status are not kept: an INVALID-severity sample keeps its value.
 * The appliance often adds the last sample before `from`, and may include one at `to`: samples
 * outside [from, to) are dropped, and so is any sample earlier than the one before it.
 *
 * HTTP answers: 400 → `BAD_REQUEST` with the appliance's message; 404 → `UNKNOWN_PARAMETER`;
 * 408, 429, 5xx, refused or cut connections → `UNAVAILABLE`; no complete answer within
 * `timeoutMs` → `TIMEOUT` (these two retryable); other 4xx → `REFUSED`.
 */
import { ValidationError } from '../../events/errors.js';
import {
  DEFAULT_BATCH_SAMPLES,
  millisecondAtOrBefore,
  windowSeconds,
  type DataLoggerSource,
  type ParameterDescription,
  type SampleBatch,
} from './dataLoggerSource.js';
import { DataLoggerError, unknownParameter } from './errors.js';

export interface ArchiverApplianceOptions {
  /** The retrieval URL, e.g. `http://archiver:17668/retrieval`. */
  baseUrl: string;
  /** Time limit of one request, answer body included. Default 30 s. */
  timeoutMs?: number;
  /** Longest time span asked for in one request. Default 3,600 s. */
  sliceSeconds?: number;
  /** Samples per batch. Default 4,096. */
  batchSize?: number;
  /** Largest answer body read. Default 128 MiB. */
  maxResponseBytes?: number;
  /** The fetch to use. Default: the global one. */
  fetch?: typeof fetch;
  /** The clock of `describe`, which asks for the last second before now. Default: the system clock. */
  now?: () => Date;
}

interface RawSample {
  secs?: unknown;
  nanos?: unknown;
  val?: unknown;
}

interface SliceAnswer {
  units: string | undefined;
  data: ReadonlyArray<RawSample | null | undefined>;
}

/** Java writes NaN and ±Infinity unquoted: make them JSON (NaN → null, ±Infinity → ±1e999) outside strings. */
const nonJsonNumbers = /"(?:[^"\\]|\\.)*"|-?Infinity|NaN/g;
function repairJson(text: string): string {
  if (!text.includes('NaN') && !text.includes('Infinity')) return text;
  return text.replace(nonJsonNumbers, (m) => (m.charCodeAt(0) === 34 ? m : m === 'NaN' ? 'null' : m.replace('Infinity', '1e999')));
}

function positive(name: string, value: number | undefined, fallback: number, integer = false): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new ValidationError(`archiver appliance: ${name} must be a positive ${integer ? 'integer' : 'number'}`, [
      { path: [name], message: `got ${String(value)}` },
    ]);
  }
  return value;
}

function normaliseBaseUrl(baseUrl: string): string {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new ValidationError(`archiver appliance: baseUrl ${JSON.stringify(baseUrl)} is not a URL`, [
      { path: ['baseUrl'], message: 'not a URL' },
    ]);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ValidationError(`archiver appliance: baseUrl must be http or https, got ${url.protocol}`, [
      { path: ['baseUrl'], message: 'not http(s)' },
    ]);
  }
  url.search = '';
  url.hash = '';
  return url.href.replace(/\/+$/, '').replace(/\/data(\/getData\.json)?$/, '');
}

/** A sample's value as a float64 (see the file comment). */
function toValue(val: unknown, parameter: string): number {
  if (typeof val === 'number') return val;
  if (Array.isArray(val)) {
    if (val.length > 1) {
      throw new DataLoggerError(
        'NOT_SCALAR',
        `${parameter} is a waveform (${val.length} elements per sample); only scalar parameters can be grabbed`,
        { parameter, elements: val.length },
      );
    }
    return val.length === 1 && typeof val[0] === 'number' ? val[0] : Number.NaN;
  }
  return Number.NaN;
}

export function createArchiverApplianceSource(options: ArchiverApplianceOptions): DataLoggerSource {
  const base = normaliseBaseUrl(options.baseUrl);
  const timeoutMs = positive('timeoutMs', options.timeoutMs, 30_000);
  const sliceMs = positive('sliceSeconds', options.sliceSeconds, 3_600) * 1000;
  const batchSize = positive('batchSize', options.batchSize, DEFAULT_BATCH_SAMPLES, true);
  const maxResponseBytes = positive('maxResponseBytes', options.maxResponseBytes, 128 * 1024 * 1024, true);
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const now = options.now ?? (() => new Date());
  const name = `archiver appliance ${base}`;

  const urlOf = (pv: string, fromMs: number, toMs: number): string =>
    `${base}/data/getData.json?pv=${encodeURIComponent(pv)}` +
    `&from=${encodeURIComponent(new Date(fromMs).toISOString())}&to=${encodeURIComponent(new Date(toMs).toISOString())}`;

  /** Reads a body up to `limit` bytes; `undefined` when it is longer. */
  async function readBody(response: Response, limit: number): Promise<Buffer | undefined> {
    if (response.body === null) return Buffer.alloc(0);
    const reader = response.body.getReader();
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > limit) {
        await reader.cancel().catch(() => undefined);
        return undefined;
      }
      chunks.push(value);
    }
    return Buffer.concat(chunks, total);
  }

  /** One request: the answer for [fromMs, toMs], or a `DataLoggerError`. */
  async function requestSlice(pv: string, fromMs: number, toMs: number, signal?: AbortSignal): Promise<SliceAnswer> {
    signal?.throwIfAborted();
    const url = urlOf(pv, fromMs, toMs);
    const timeout = AbortSignal.timeout(timeoutMs);
    const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
    const where = { parameter: pv, from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString() };
    let status = 0;
    let body: Buffer | undefined;
    try {
      const response = await fetchImpl(url, { signal: combined, headers: { accept: 'application/json' } });
      status = response.status;
      body = await readBody(response, response.ok ? maxResponseBytes : 16 * 1024);
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      if (timeout.aborted) {
        throw new DataLoggerError('TIMEOUT', `${name}: no complete answer for ${pv} within ${timeoutMs} ms`, where, {
          cause: e,
        });
      }
      const reason = e instanceof Error ? ((e.cause as Error | undefined)?.message ?? e.message) : String(e);
      throw new DataLoggerError('UNAVAILABLE', `${name}: request for ${pv} failed (${reason})`, where, { cause: e });
    }
    const text = body === undefined ? undefined : body.toString('utf8');
    if (status !== 200) {
      const message = (text ?? '').replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 500);
      const said = message ? `: ${message}` : '';
      if (status === 404) throw unknownParameter(pv, name, message || undefined);
      if (status === 400) {
        throw new DataLoggerError('BAD_REQUEST', `${name} refused the request for ${pv} (400)${said}`, { ...where, status });
      }
      if (status === 408 || status === 429 || status >= 500) {
        throw new DataLoggerError('UNAVAILABLE', `${name} is unavailable (${status}) for ${pv}${said}`, { ...where, status });
      }
      throw new DataLoggerError('REFUSED', `${name} answered ${status} for ${pv}${said}`, { ...where, status });
    }
    if (text === undefined) {
      throw new DataLoggerError(
        'BAD_RESPONSE',
        `${name}: the answer for ${pv} is larger than ${maxResponseBytes} bytes; grab shorter chunks (--chunk-seconds) of fewer samples, or raise the limit`,
        { ...where, maxResponseBytes },
      );
    }
    return parseAnswer(text, pv, where);
  }

  function parseAnswer(text: string, pv: string, where: Record<string, unknown>): SliceAnswer {
    const bad = (why: string, cause?: unknown): DataLoggerError =>
      new DataLoggerError('BAD_RESPONSE', `${name}: the answer for ${pv} is not getData.json's format (${why})`, where, {
        cause,
      });
    let doc: unknown;
    try {
      doc = JSON.parse(repairJson(text));
    } catch (e) {
      // The appliance streams its answer: an error on its side ends the body early, with a 200
      // already sent. Such an answer is worth asking for again (the retries are bounded).
      throw new DataLoggerError('UNAVAILABLE', `${name}: the answer for ${pv} is not complete JSON (cut short?): ${(e as Error).message}`, where, {
        cause: e,
      });
    }
    if (!Array.isArray(doc)) throw bad('not an array');
    const element: unknown = doc[0];
    if (element === undefined) return { units: undefined, data: [] };
    if (typeof element !== 'object' || element === null) throw bad('an element is not an object');
    const { meta, data } = element as { meta?: unknown; data?: unknown };
    if (!Array.isArray(data)) throw bad('no data array');
    const egu = typeof meta === 'object' && meta !== null ? (meta as { EGU?: unknown }).EGU : undefined;
    return { units: typeof egu === 'string' && egu.trim() !== '' ? egu : undefined, data: data as Array<RawSample | null> };
  }

  async function* fetchSamples(pv: string, from: Date, to: Date, signal?: AbortSignal): AsyncGenerator<SampleBatch> {
    windowSeconds(pv, from, to);
    const fromMs = from.getTime();
    const toMs = to.getTime();
    let units: string | undefined;
    let lastTime = -Infinity;
    // Slices [a, b) aligned on multiples of sliceMs; an empty window is one request, to learn
    // whether the PV exists and its units.
    let a = fromMs;
    do {
      const b = Math.min(toMs, (Math.floor(a / sliceMs) + 1) * sliceMs);
      const answer = await requestSlice(pv, a, b, signal);
      units = answer.units ?? units;
      const unitsField = units === undefined ? {} : { units };
      const aS = a / 1000;
      const bS = b / 1000;
      const times = new Float64Array(batchSize);
      const values = new Float64Array(batchSize);
      let n = 0;
      const emit = (through: number): SampleBatch => {
        const batch = { times: times.slice(0, n), values: values.slice(0, n), ...unitsField, through: new Date(through) };
        n = 0;
        return batch;
      };
      for (let i = 0; i < answer.data.length; i++) {
        const sample = answer.data[i];
        const secs = sample?.secs;
        const nanos = sample?.nanos;
        if (typeof secs !== 'number' || !Number.isFinite(secs)) {
          throw new DataLoggerError('BAD_RESPONSE', `${name}: a sample of ${pv} has no valid secs`, { parameter: pv, sample });
        }
        const t = secs + (typeof nanos === 'number' && Number.isFinite(nanos) ? nanos : 0) / 1e9;
        if (t < aS || t >= bS || t < lastTime) continue;
        const value = toValue(sample?.val, pv);
        if (n === batchSize) {
          // The sample at hand is not delivered yet: claim only the time before it.
          yield emit(Math.max(a, millisecondAtOrBefore(t)));
          signal?.throwIfAborted();
        }
        times[n] = t;
        values[n] = value;
        n++;
        lastTime = t;
      }
      yield emit(b);
      a = b;
    } while (a < toMs);
  }

  return {
    name,
    fetchSamples,
    async describe(pv: string, signal?: AbortSignal): Promise<ParameterDescription> {
      const end = now().getTime();
      try {
        const { units } = await requestSlice(pv, end - 1000, end, signal);
        return units === undefined ? { exists: true } : { exists: true, units };
      } catch (e) {
        if (e instanceof DataLoggerError && e.reason === 'UNKNOWN_PARAMETER') return { exists: false };
        throw e;
      }
    },
  };
}
