// Entry of the SwissFEL writer thread. As bin/daqflow.js: h5wasm is loaded before tsx's loader
// is registered (through tsx its 4 MB bundle is transformed on every start: ~2 s, ~550 MB RSS),
// then the worker runs from source.
import 'h5wasm/node';
import { register } from 'tsx/esm/api';

register();
await import('./swissfelWriterWorker.ts');
