#!/usr/bin/env node
// Node 20 cannot run TypeScript itself; tsx's loader compiles on import, so the
// CLI runs from source and never drifts from a stale build.
import { register } from 'tsx/esm/api';

register();
await import('../adapters/cli/main.ts');
