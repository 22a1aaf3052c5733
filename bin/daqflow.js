#!/usr/bin/env node
// Node 20 cannot run TypeScript itself; tsx's loader compiles on import, so the
// CLI runs from source and never drifts from a stale build.
//
// h5wasm is loaded before the loader is registered: through tsx, its 4 MB bundle (wasm inlined)
// is transformed on every start, which cost about 2 s and 550 MB of RSS per process.
import 'h5wasm/node';
import { register } from 'tsx/esm/api';

register();
await import('../adapters/cli/main.ts');
