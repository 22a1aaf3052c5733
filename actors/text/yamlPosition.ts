import { isMap, isScalar, type Document, type LineCounter } from 'yaml';

/** Where the issue is in the YAML: the key itself for unknown keys, else the value (or the nearest parent). */
export const yamlPositionOf = (
  doc: Document,
  lines: LineCounter,
  issue: { path: ReadonlyArray<string | number>; key?: string },
): { line: number; column: number } | undefined => {
  const at = (offset: number | undefined) => {
    if (offset === undefined) return undefined;
    const pos = lines.linePos(offset);
    return { line: pos.line, column: pos.col };
  };
  if (issue.key !== undefined) {
    const parent = issue.path.length > 1 ? doc.getIn(issue.path.slice(0, -1), true) : doc.contents;
    if (isMap(parent)) {
      const pair = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === issue.key);
      if (pair && isScalar(pair.key)) return at(pair.key.range?.[0]);
    }
  }
  for (let depth = issue.path.length; depth >= 0; depth--) {
    const node: unknown = depth === 0 ? doc.contents : doc.getIn(issue.path.slice(0, depth), true);
    if (node && typeof node === 'object' && 'range' in node) {
      const range = (node as { range?: [number, number, number] }).range;
      if (range) return at(range[0]);
    }
  }
  return undefined;
};
