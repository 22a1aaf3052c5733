// Shared by the status pages: fetching the JSON API, small DOM helpers and the live feed.

/** GETs a JSON document of the API; a failure says what the server said. */
export const getJson = async (url) => {
  const response = await fetch(url, { headers: { accept: 'application/json' } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body?.error?.message ?? `${url}: HTTP ${response.status}`);
  return body;
};

/** An element with attributes (on* become listeners) and children (strings become text). */
export const el = (tag, attributes = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
};

// One formatter each, made once: toLocaleString builds a new Intl formatter on every call, which
// for two times in each of a list's 200 rows was most of the time to its first screen.
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric', hour12: false });
const numberFormats = new Map();
const numberFormat = (digits) => {
  if (!numberFormats.has(digits)) numberFormats.set(digits, new Intl.NumberFormat(undefined, { maximumFractionDigits: digits }));
  return numberFormats.get(digits);
};

/** A time as the operator reads it: local, to the second. */
export const formatTime = (value) => {
  if (value === null || value === undefined) return '';
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : dateTimeFormat.format(date);
};

export const formatNumber = (value, digits = 0) =>
  typeof value === 'number' && Number.isFinite(value) ? numberFormat(digits).format(value) : '–';

export const stateBadge = (state) => el('span', { class: `state state-${state}` }, state);

export const jobLink = (id) => el('a', { href: `/jobs/${encodeURIComponent(id)}` }, id);

/** The one-line gist of a job's summary, whatever its kind. */
export const gist = (kind, summary) => {
  if (!summary) return '';
  if (summary.error) return `error: ${summary.error}`;
  switch (kind) {
    case 'demo':
      return `${summary.label ?? ''} step ${summary.done ?? 0}/${summary.steps ?? '?'}`;
    case 'acquisition':
      return `${formatNumber(summary.pulsesWritten)} pulses written, ${formatNumber(summary.missingPulses)} missing`;
    case 'grab':
      return `${summary.parameterCount ?? '?'} parameters, chunk ${summary.progress?.chunksDone ?? 0}/${summary.progress?.chunksTotal ?? '?'}`;
    case 'report':
      return `${summary.title ?? ''} ${summary.progress?.finished ?? 0}/${summary.progress?.jobs ?? 0} jobs`;
    case 'schedule':
      return summary.cron ? `cron ${summary.cron}` : '';
    default:
      return '';
  }
};

/** Shows the feed's state in the header's live region. */
const showLive = (text) => {
  const node = document.getElementById('live');
  if (node) node.textContent = text;
};

/**
 * Listens to the live feed: `onActors(rows)` for each set of actors whose status changed;
 * `onReconnect()` after the connection came back (changes may have been missed meanwhile).
 */
export const listenToFeed = ({ onActors, onReconnect, onHello }) => {
  const source = new EventSource('/api/feed');
  let connectedBefore = false;
  source.addEventListener('hello', (event) => {
    showLive('live');
    if (!connectedBefore) onHello?.(JSON.parse(event.data));
    if (connectedBefore) onReconnect?.();
    connectedBefore = true;
  });
  source.addEventListener('actors', (event) => onActors(JSON.parse(event.data)));
  source.addEventListener('error', () => showLive('reconnecting…'));
  return source;
};
