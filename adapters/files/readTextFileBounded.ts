import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { ValidationError } from '../../events/errors.js';

/** Largest configuration file daqflow reads for a request: 1 MiB. */
export const MAX_CONFIG_FILE_BYTES = 1024 * 1024;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads a UTF-8 text file a request named, in bounded memory: only a regular file (not
 * `/dev/zero`, a FIFO or a folder, which would never end or never start), at most `maxBytes`
 * (checked by size, then by what is read, as the file may grow meanwhile), and valid UTF-8 (a
 * UTF-16 file is refused, not parsed as mojibake). Every refusal is a ValidationError on `field`.
 */
export const readTextFileBounded = async (path: string, field: string, maxBytes = MAX_CONFIG_FILE_BYTES): Promise<string> => {
  const refuse = (why: string): never => {
    throw new ValidationError(`cannot read ${field} ${path}: ${why}`, [{ path: [field], message: why }]);
  };
  let handle;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever.
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    return refuse((e as Error).message);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) refuse('not a regular file');
    if (info.size > maxBytes) refuse(`${info.size} bytes, over the limit of ${maxBytes}`);
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > maxBytes) refuse(`over the limit of ${maxBytes} bytes`);
    }
    try {
      return utf8.decode(buffer.subarray(0, length));
    } catch {
      return refuse('not UTF-8 text');
    }
  } finally {
    await handle.close();
  }
};
