import { WriterThreadPool } from '../../adapters/hdf5/swissfelWriterThread.js';

/** A writer-thread pool that lets a test reach the last thread it handed out (to end it, as an OOM kill would). */
export class WatchedWriterThreadPool extends WriterThreadPool {
  last: ReturnType<WriterThreadPool['take']> | undefined;
  override take(): ReturnType<WriterThreadPool['take']> {
    this.last = super.take();
    return this.last;
  }
}
