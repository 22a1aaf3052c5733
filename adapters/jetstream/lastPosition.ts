import { toStoreError } from './errors.js';
import type { StoreContext } from './storeContext.js';

/** The stream's last sequence: position of the newest event, 0 when empty. */
export const lastPosition = async (ctx: StoreContext): Promise<number> => {
  try {
    return (await (await ctx.manager()).streams.info(ctx.stream)).state.last_seq;
  } catch (e) {
    throw toStoreError(e, `reading the state of stream ${ctx.stream}`);
  }
};
