import type { z } from 'zod';
import { ValidationError } from './errors.js';
import type { EventEnvelope } from './envelope.js';

/** How one event type's data looks today, and how to bring older stored versions up to it. */
export interface EventSchema {
  readonly version: number;
  readonly schema: z.ZodType;
  /** upcasters[n] turns data of schema version n into version n + 1. */
  readonly upcasters?: Readonly<Record<number, (data: unknown) => unknown>>;
}

/**
 * Validates events on write and upcasts them on read. Unknown kinds or types are refused on
 * write (nothing unvalidated enters the store) and passed through untouched on read (an old
 * reader must not fail on a newer writer's events).
 */
export class EventSchemas {
  private readonly table: Record<string, Record<string, EventSchema>> = {};

  register(kind: string, schemas: Readonly<Record<string, EventSchema>>): void {
    this.table[kind] = { ...this.table[kind], ...schemas };
  }

  currentVersion(kind: string, type: string): number {
    return this.table[kind]?.[type]?.version ?? 1;
  }

  /** Throws ValidationError when the data does not fit the current schema of its type. */
  validate<E extends EventEnvelope>(event: E): E {
    const entry = this.table[event.actorKind]?.[event.type];
    if (!entry) {
      throw new ValidationError(`no schema for event ${event.actorKind}/${event.type}`);
    }
    const parsed = entry.schema.safeParse(event.data);
    if (!parsed.success) {
      throw new ValidationError(
        `event ${event.actorKind}/${event.type} does not match its schema`,
        parsed.error.issues,
      );
    }
    return { ...event, schemaVersion: entry.version, data: parsed.data };
  }

  upcast<E extends EventEnvelope>(event: E): E {
    const entry = this.table[event.actorKind]?.[event.type];
    if (!entry || event.schemaVersion >= entry.version) return event;
    let data = event.data;
    for (let v = event.schemaVersion; v < entry.version; v++) {
      const up = entry.upcasters?.[v];
      if (!up) {
        throw new ValidationError(
          `event ${event.actorKind}/${event.type} v${event.schemaVersion} has no upcaster from v${v}`,
        );
      }
      data = up(data);
    }
    return { ...event, schemaVersion: entry.version, data };
  }
}
