/**
 * Settles as `work` does, or rejects with "<what> took longer than <ms> ms" once `ms` have passed,
 * whichever comes first. The work itself goes on; the caller stops waiting for it.
 */
export const withTimeout = async <T>(work: Promise<T>, ms: number, what = 'no answer'): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
};
