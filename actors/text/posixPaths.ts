// Posix paths by their text alone, for pure code that may not import node:path.

/** Posix normalisation (`a//b/./c/../d` → `a/b/d`); `..` above `/` stays at `/`, as the kernel does. */
export const normalizePosix = (path: string): string => {
  const absolute = path.startsWith('/');
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length > 0 && parts.at(-1) !== '..') parts.pop();
      else if (!absolute) parts.push('..');
      continue;
    }
    parts.push(part);
  }
  const joined = parts.join('/');
  return absolute ? `/${joined}` : joined || '.';
};

/** `path` (relative ones from `base`) as a normalised absolute posix path. */
export const resolvePosix = (base: string, path: string): string =>
  normalizePosix(path.startsWith('/') ? path : `${base}/${path}`);

/** True when `path` is `root` or below it (both absolute and normalised). */
export const isInsidePosix = (root: string, path: string): boolean =>
  path === root || root === '/' || path.startsWith(`${root}/`);
