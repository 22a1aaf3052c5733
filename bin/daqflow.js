#!/usr/bin/env node
// The CLI runs the build (dist/, made by `npm run build`) with plain node when the build is
// there and newer than every source file; otherwise it runs the sources through tsx's loader,
// so that an edit is never hidden behind a stale build. DAQFLOW_FROM_SOURCE=1 forces the sources.
import { readdirSync, statSync } from 'node:fs';

const root = new URL('..', import.meta.url);

/** The build's start time in ms, or 0 when there is no build. */
const builtAt = () => {
  try {
    return statSync(new URL('dist/.build-stamp', root)).mtimeMs;
  } catch {
    return 0;
  }
};

/** Whether a source file the build compiles or copies changed since it started. */
const sourceNewerThan = (time) => {
  for (const folder of ['events', 'actors', 'projections', 'adapters', 'migrations']) {
    let entries;
    try {
      entries = readdirSync(new URL(`${folder}/`, root), { recursive: true, withFileTypes: true });
    } catch {
      continue; // an installation of the build alone has no sources
    }
    for (const entry of entries) {
      if (entry.isFile() && statSync(`${entry.parentPath ?? entry.path}/${entry.name}`).mtimeMs > time) return true;
    }
  }
  return false;
};

const built = process.env.DAQFLOW_FROM_SOURCE === '1' ? 0 : builtAt();
if (built > 0 && !sourceNewerThan(built)) {
  await import('../dist/adapters/cli/main.js');
} else {
  // h5wasm is loaded before the loader is registered: through tsx, its 4 MB bundle (wasm
  // inlined) is transformed on every start, which cost about 2 s and 550 MB of RSS per process.
  await import('h5wasm/node');
  const { register } = await import('tsx/esm/api');
  register();
  await import('../adapters/cli/main.ts');
}
