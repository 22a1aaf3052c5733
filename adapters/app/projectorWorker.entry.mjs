// Entry of the projector thread. In the build (npm run build) the compiled worker sits beside
// this file and runs with plain node; in the sources it runs through tsx's loader, as the CLI
// does (bin/daqflow.js).
import { existsSync } from 'node:fs';

const built = new URL('./projectorWorker.js', import.meta.url);
if (existsSync(built)) {
  await import(built.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./projectorWorker.ts');
}
