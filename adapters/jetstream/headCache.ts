/** What an append needs to know about an actor's newest stored event. */
export interface Head {
  readonly version: number;
  /** Stream sequence of that event; 0 when the actor has none. */
  readonly seq: number;
}

/**
 * Remembers, per actor subject, the version and stream sequence of the newest event seen, so
 * an append usually needs no lookup before publishing. Bounded: the least recently used
 * subjects are forgotten first. A stale entry is harmless, the server's expected-sequence
 * check catches it.
 */
export class HeadCache {
  private readonly heads = new Map<string, Head>();

  constructor(private readonly capacity = 10_000) {}

  get(subject: string): Head | undefined {
    const head = this.heads.get(subject);
    if (head) {
      this.heads.delete(subject);
      this.heads.set(subject, head);
    }
    return head;
  }

  /** Records a head unless a newer one (higher sequence) is known already. */
  note(subject: string, head: Head): void {
    const known = this.heads.get(subject);
    if (known && known.seq > head.seq) return;
    this.heads.delete(subject);
    this.heads.set(subject, head);
    if (this.heads.size > this.capacity) {
      const oldest = this.heads.keys().next();
      if (!oldest.done) this.heads.delete(oldest.value);
    }
  }

  forget(subject: string): void {
    this.heads.delete(subject);
  }
}
