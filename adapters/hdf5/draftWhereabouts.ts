import { existsSync } from 'node:fs';

/**
 * What an error of a file that could not be finished says of its draft: where it stays, or that
 * it is gone (deleted under the writer), so that nobody is sent looking for a file that is not there.
 */
export const draftWhereabouts = (draftPath: string): string =>
  existsSync(draftPath) ? `the draft stays at ${draftPath}` : `the draft ${draftPath} is gone`;
