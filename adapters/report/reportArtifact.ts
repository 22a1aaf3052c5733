import { createHash } from 'node:crypto';
import path from 'node:path';
import { ValidationError } from '../../events/errors.js';
import { writeFileAtomic } from '../files/writeFileAtomic.js';

export type ReportArtifactKind = 'html' | 'png' | 'svg' | 'json';

/** One file a report run wrote: what the report actor records and `reports.get` lists. */
export interface ReportArtifact {
  /** Absolute path of the file. */
  readonly path: string;
  /** The path inside the report folder, with `/` separators: the same wherever it is published. */
  readonly relativePath: string;
  readonly kind: ReportArtifactKind;
  readonly bytes: number;
  /** Hex SHA-256 of the content. */
  readonly sha256: string;
}

const kinds: Record<string, ReportArtifactKind> = { '.html': 'html', '.png': 'png', '.svg': 'svg', '.json': 'json' };

/** The kind of a report file, by its extension. */
export const artifactKindOf = (file: string): ReportArtifactKind => {
  const kind = kinds[path.extname(file).toLowerCase()];
  if (kind === undefined) throw new ValidationError(`${file}: not a report file (html, png, svg or json)`);
  return kind;
};

/**
 * The absolute path of `relativePath` inside `root`; refuses an absolute path or one that
 * climbs out, so a name taken from a configuration cannot write elsewhere.
 */
export const resolveInside = (root: string, relativePath: string): string => {
  const rootAbsolute = path.resolve(root);
  const target = path.resolve(rootAbsolute, relativePath);
  const inside = path.relative(rootAbsolute, target);
  if (path.isAbsolute(relativePath) || inside === '' || inside.startsWith('..') || path.isAbsolute(inside)) {
    throw new ValidationError(`${relativePath} is not a file path inside ${rootAbsolute}`, [
      { path: ['relativePath'], message: 'must be a relative path inside the report folder' },
    ]);
  }
  return target;
};

/** Writes one report file atomically under `root` and describes it. */
export const writeArtifact = async (
  root: string,
  relativePath: string,
  data: string | Uint8Array,
): Promise<ReportArtifact> => {
  const kind = artifactKindOf(relativePath);
  const target = resolveInside(root, relativePath);
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  await writeFileAtomic(target, bytes);
  return {
    path: target,
    relativePath: path.relative(path.resolve(root), target).split(path.sep).join('/'),
    kind,
    bytes: bytes.byteLength,
    sha256: createHash('sha256').update(bytes).digest('hex'),
  };
};
