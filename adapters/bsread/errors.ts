/**
 * Errors of the bsread codec. Every message the decoder refuses throws a `BsreadDecodeError`: a
 * `DaqflowError` with code `VALIDATION_FAILED` (the message does not match the protocol; decoding
 * it again gives the same answer) and a finer `reason` from `bsreadDecodeReasons`. Anything else
 * thrown by the decoder would be a bug of ours, never a property of the input.
 */
import { DaqflowError } from '../../events/errors.js';

/** Why a message was refused, with what each reason covers. */
export const bsreadDecodeReasons = {
  /** Fewer than 2 parts, or not 2 + 2 × the channels of the data header. */
  PART_COUNT: 'the number of parts is not 2 + 2 x the channels of the data header',
  /** Part 0 is not JSON, or lacks an integer pulse_id, a global_timestamp {sec|epoch, ns} or a hash. */
  MAIN_HEADER: 'the main header is not valid JSON with pulse_id, global_timestamp and hash',
  /** Part 0 is a bsread command (Java's bsr_stop-1.0, bsr_reconnect-1.0), not a pulse. */
  NOT_DATA: 'the main header is a command, not a data message',
  /** Part 1 is not JSON with a channel list, or a channel has a bad name, type, shape, encoding, modulo or offset. */
  DATA_HEADER: 'the data header is not valid JSON with a valid channel list',
  /** Part 1 is empty and no data header with the main header's hash was seen before. */
  UNKNOWN_HASH: 'the data header part is empty and its hash is unknown',
  /** dh_compression or a channel's compression is not none, bitshuffle_lz4 or lz4. */
  UNKNOWN_COMPRESSION: 'unknown compression',
  /** An uncompressed value whose length is not what its type and shape say (truncated or oversized). */
  VALUE_SIZE: 'a value whose size does not match its type and shape',
  /** A compressed value (or data header) that does not decompress to what its type and shape say. */
  COMPRESSED_VALUE: 'a compressed value that does not decompress to its type and shape',
  /** A timestamp part that is neither empty nor 16 bytes, or whose numbers are out of range. */
  TIMESTAMP: 'a timestamp part that is neither empty nor 16 valid bytes',
} as const;

export type BsreadDecodeReason = keyof typeof bsreadDecodeReasons;

export const bsreadDecodeReasonList = Object.keys(bsreadDecodeReasons) as BsreadDecodeReason[];

export interface BsreadDecodeDetails {
  /** The pulse id, once the main header was read. */
  pulseId?: number;
  /** The channel concerned, for a value or timestamp. */
  channel?: string;
  /** Index of the offending part of the multipart message. */
  part?: number;
  [key: string]: unknown;
}

/** A bsread message (or one of its channel values) that does not decode. */
export class BsreadDecodeError extends DaqflowError {
  override readonly name = 'BsreadDecodeError';
  readonly reason: BsreadDecodeReason;
  readonly pulseId: number | undefined;
  readonly channel: string | undefined;

  constructor(reason: BsreadDecodeReason, message: string, details: BsreadDecodeDetails = {}, options?: ErrorOptions) {
    super('VALIDATION_FAILED', message, { reason, ...details }, options);
    this.reason = reason;
    this.pulseId = details.pulseId;
    this.channel = details.channel;
  }
}

export const isBsreadDecodeError = (e: unknown): e is BsreadDecodeError => e instanceof BsreadDecodeError;
