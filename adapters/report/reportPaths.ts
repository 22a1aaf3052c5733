import { createHash } from 'node:crypto';

// Instrument, detector and parameter names become folder and file names and then relative URLs:
// `SARFE10-PBPG050:PHOTON-ENERGY.png` would read as a URL with the scheme `sarfe10-pbpg050`.
// Safe names are kept as they are so the folder stays readable; any other name is cleaned and
// gets a hash of the original, so two names that clean to the same text never share a file.
const SAFE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** A file-name and URL-safe form of a name, the same for the same name, distinct for distinct names. */
export const slugOf = (name: string): string => {
  if (SAFE.test(name)) return name;
  const cleaned = name
    .replace(/[^A-Za-z0-9_-]+/g, '-')
    .replace(/^[-_]+|[-_]+$/g, '')
    .slice(0, 48);
  const hash = createHash('sha256').update(name, 'utf8').digest('hex').slice(0, 8);
  return cleaned === '' ? hash : `${cleaned}-${hash}`;
};

/** The index page, at the report folder's root. */
export const REPORT_INDEX = 'index.html';

/** An instrument's page, relative to the report folder. */
export const instrumentPagePath = (instrument: string): string => `${slugOf(instrument)}/index.html`;

/**
 * Where a parameter's plot files go, relative to the report folder, without extension: the PNG,
 * SVG and Vega-Lite spec are `<base>.png`, `<base>.svg`, `<base>.vl.json`. Beside the
 * instrument's page, so one instrument's folder is self-contained.
 */
export const plotBasePath = (instrument: string, group: string, parameter: string): string =>
  `${slugOf(instrument)}/plots/${slugOf(group)}/${slugOf(parameter)}`;
