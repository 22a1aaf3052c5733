import { readFileSync } from 'node:fs';

/**
 * Reads a file of captured ZeroMQ multipart messages (test/fixtures/bsread/make_fixtures.py writes
 * them): per message a 4-byte little-endian part count, then per part a 4-byte little-endian
 * length and the part's bytes.
 */
export const readCapturedFrames = (path: string): Buffer[][] => {
  const file = readFileSync(path);
  const messages: Buffer[][] = [];
  let at = 0;
  const u32 = (): number => {
    if (at + 4 > file.length) throw new Error(`${path}: truncated at byte ${at}`);
    const v = file.readUInt32LE(at);
    at += 4;
    return v;
  };
  while (at < file.length) {
    const count = u32();
    const parts: Buffer[] = [];
    for (let p = 0; p < count; p++) {
      const length = u32();
      if (at + length > file.length) throw new Error(`${path}: a part of ${length} bytes runs past the end`);
      parts.push(file.subarray(at, at + length));
      at += length;
    }
    messages.push(parts);
  }
  return messages;
};
