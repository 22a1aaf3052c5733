// Entry of the projector thread: the worker runs from source, as the CLI does (bin/daqflow.js).
import { register } from 'tsx/esm/api';

register();
await import('./projectorWorker.ts');
