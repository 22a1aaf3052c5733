/** A grab's row: its progress (chunks, samples, a retry), its file, its error. */
export const grabStatusText = (summary: Record<string, unknown>): string => {
  const p = summary.progress as { chunksDone?: number; chunksTotal?: number; samples?: number; retryAt?: string | null } | undefined;
  const parameters = typeof summary.parameterCount === 'number' ? summary.parameterCount : 0;
  const parts = [
    `${parameters} ${summary.mode === 'events' ? 'channels' : 'parameters'}`,
    `${p?.chunksDone ?? 0}/${p?.chunksTotal ?? 0} chunks`,
    `${p?.samples ?? 0} samples`,
    ...(p?.retryAt ? [`retry at ${p.retryAt}`] : []),
    ...(typeof summary.outputFile === 'string' ? [summary.outputFile.split('/').at(-1) ?? ''] : []),
    ...(typeof summary.error === 'string' ? [`error: ${summary.error}`] : []),
  ];
  const text = parts.join(', ');
  return text.length > 100 ? `${text.slice(0, 99)}…` : text;
};
