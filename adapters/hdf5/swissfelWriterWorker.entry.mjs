// Entry of the SwissFEL writer thread. In the build (npm run build) the compiled worker sits
// beside this file and runs with plain node. In the sources, as in bin/daqflow.js, h5wasm is
// loaded before tsx's loader is registered (through tsx its 4 MB bundle is transformed on every
// start: ~2 s, ~550 MB RSS), then the worker runs from source.
import 'h5wasm/node';
import { existsSync } from 'node:fs';

const built = new URL('./swissfelWriterWorker.js', import.meta.url);
if (existsSync(built)) {
  await import(built.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./swissfelWriterWorker.ts');
}
