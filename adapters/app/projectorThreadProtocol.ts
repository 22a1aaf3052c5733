/** What the projector thread is told and tells back (adapters/app/projectorThread.ts). */

import type { NatsSettings } from '../jetstream/natsSettings.js';

/** What the thread needs to open its own connections: the main thread's login and TLS too. */
export interface ProjectorThreadData {
  readonly nats: NatsSettings;
  readonly databaseUrl: string;
  readonly stream: string;
  readonly subjectPrefix: string;
}

export type ToProjectorThread =
  | { readonly op: 'caughtUp'; readonly id: number; readonly position: number }
  | { readonly op: 'stop' };

export type FromProjectorThread =
  | { readonly op: 'position'; readonly position: number }
  | { readonly op: 'reached'; readonly id: number }
  | { readonly op: 'log'; readonly level: 'debug' | 'info' | 'warn' | 'error'; readonly obj: object; readonly msg: string }
  | { readonly op: 'stopped' };
