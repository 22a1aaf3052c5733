import { lostPulsesText, red } from '../../cli/format.js';

/** An acquisition's row: its pulses and file, and its lost pulses (red on a terminal). */
export const acquisitionStatusText = (summary: Record<string, unknown>, tty: boolean): string => {
  const file = typeof summary.outputFile === 'string' ? (summary.outputFile.split('/').at(-1) ?? '') : '-';
  const lost = summary.lostPulses as Parameters<typeof lostPulsesText>[0] | undefined;
  const text = [
    `${String(summary.pulsesWritten ?? 0)} pulses, ${String(summary.missingPulses ?? 0)} missing`,
    file,
    ...(typeof summary.error === 'string' ? [`error: ${summary.error}`] : []),
  ].join(', ');
  const cut = text.length > 80 ? `${text.slice(0, 79)}…` : text;
  return lost === undefined ? cut : `${cut}, ${red(lostPulsesText(lost, 3), tty)}`;
};
