// The job list: every job of every kind, newest first, filtered on the server, kept up to date
// from the live feed without reloading.
import { el, formatNumber, formatTime, getJson, gist, jobLink, listenToFeed, stateBadge } from './common.js';

const PAGE = 200;
const main = document.getElementById('main');
const filters = { kind: '', state: '', q: '' };
let total = 0;
let shown = 0;

const kindSelect = el('select', { id: 'filter-kind', name: 'kind' }, el('option', { value: '' }, 'all kinds'));
const stateSelect = el('select', { id: 'filter-state', name: 'state' }, el('option', { value: '' }, 'all states'));
const textInput = el('input', { id: 'filter-text', name: 'q', type: 'search', placeholder: 'id, label, file…', autocomplete: 'off' });
const form = el(
  'form',
  { class: 'filters', role: 'search', 'aria-label': 'Filter the jobs', onsubmit: (e) => e.preventDefault() },
  el('label', { for: 'filter-kind' }, 'Kind', kindSelect),
  el('label', { for: 'filter-state' }, 'State', stateSelect),
  el('label', { for: 'filter-text' }, 'Text', textInput),
);
const count = el('p', { id: 'job-count', role: 'status', 'aria-live': 'polite' });
const tbody = el('tbody', { id: 'job-rows' });
const table = el(
  'table',
  { id: 'jobs', 'aria-describedby': 'job-count' },
  el('caption', { class: 'muted' }, 'Jobs, newest first'),
  el('thead', {}, el('tr', {}, ['Job', 'Kind', 'State', 'Summary', 'Created', 'Changed'].map((h) => el('th', { scope: 'col' }, h)))),
  tbody,
);
const more = el('button', { type: 'button', id: 'more', hidden: true, onclick: () => void load(true) }, 'Show more');
main.append(form, count, table, more);

const matches = (row) => {
  if (filters.kind && row.kind !== filters.kind) return false;
  if (filters.state && row.state !== filters.state) return false;
  if (filters.q) {
    const needle = filters.q.toLowerCase();
    const hay = `${row.id} ${row.kind} ${row.state} ${JSON.stringify(row.summary)}`.toLowerCase();
    if (!hay.includes(needle)) return false;
  }
  return true;
};

const rowOf = (row) =>
  el(
    'tr',
    { 'data-id': row.id, 'data-state': row.state, 'data-created': row.created_at },
    el('td', {}, jobLink(row.id)),
    el('td', {}, row.kind),
    el('td', {}, stateBadge(row.state)),
    el('td', {}, gist(row.kind, row.summary)),
    el('td', {}, formatTime(row.created_at)),
    el('td', {}, formatTime(row.updated_at)),
  );

const showCount = () => {
  count.textContent = `${formatNumber(total)} job${total === 1 ? '' : 's'}${shown < total ? `, the newest ${formatNumber(shown)} shown` : ''}`;
  more.hidden = shown >= total;
};

// The first page of the unfiltered list, sent with the page by the server (absent when it could
// not read the projections): the first screen needs no request of its own.
const initialElement = document.getElementById('initial-data');
let initialPage = initialElement ? JSON.parse(initialElement.textContent) : undefined;
// The stream position that page was read at: the feed sends only what changed after its own.
const initialPosition = initialPage?.position;

// What a screen shows goes in first, the rest of the page once that is painted: the first
// screen then waits for the layout of these rows, not of all 200.
const FIRST_SCREEN_ROWS = 40;
/** Resolves after the next frame is drawn, or after 100 ms in a tab that draws none (hidden). */
const nextPaint = () =>
  new Promise((resolve) => {
    const fallback = setTimeout(resolve, 100);
    requestAnimationFrame(() =>
      setTimeout(() => {
        clearTimeout(fallback);
        resolve();
      }, 0),
    );
  });

let loading = 0;
async function load(append = false) {
  const ticket = ++loading;
  const params = new URLSearchParams({ limit: String(PAGE), offset: String(append ? shown : 0) });
  for (const [key, value] of Object.entries(filters)) if (value) params.set(key, value);
  const unfiltered = !filters.kind && !filters.state && !filters.q;
  try {
    const sent = !append && unfiltered ? initialPage : undefined;
    initialPage = undefined;
    const page = sent ?? (await getJson(`/api/jobs?${params}`));
    if (ticket !== loading) return;
    if (!append) tbody.replaceChildren();
    const rows = page.rows;
    tbody.append(...rows.slice(0, FIRST_SCREEN_ROWS).map(rowOf));
    total = page.total;
    shown = tbody.rows.length + Math.max(0, rows.length - FIRST_SCREEN_ROWS);
    showCount();
    if (rows.length > FIRST_SCREEN_ROWS) {
      await nextPaint();
      if (ticket !== loading) return;
      // A row the live feed brought in meanwhile is there already.
      const listed = new Set([...tbody.rows].map((tr) => tr.dataset.id));
      tbody.append(...rows.slice(FIRST_SCREEN_ROWS).filter((row) => !listed.has(row.id)).map(rowOf));
      shown = tbody.rows.length;
      showCount();
    }
  } catch (e) {
    count.textContent = `The jobs could not be loaded: ${e.message}`;
  }
}

const setOptions = (select, values) => {
  const current = select.value;
  for (const value of values) {
    if (![...select.options].some((o) => o.value === value)) select.append(el('option', { value }, value));
  }
  select.value = current;
};

const loadFacets = async () => {
  const facets = await getJson('/api/facets').catch(() => ({ kinds: [], states: [] }));
  setOptions(kindSelect, facets.kinds);
  setOptions(stateSelect, facets.states);
};

const apply = (rows) => {
  for (const row of rows) {
    setOptions(kindSelect, [row.kind]);
    setOptions(stateSelect, [row.state]);
    const existing = tbody.querySelector(`tr[data-id="${CSS.escape(row.id)}"]`);
    if (existing) {
      if (matches(row)) {
        const fresh = rowOf(row);
        fresh.classList.add('flash');
        existing.replaceWith(fresh);
      } else {
        existing.remove();
        total -= 1;
      }
    } else if (matches(row)) {
      // A job not listed yet is new unless it is older than everything shown (then it is on a later page).
      const last = tbody.rows[tbody.rows.length - 1];
      const newest = tbody.rows[0];
      if (newest && new Date(row.created_at) < new Date(newest.dataset.created) && shown >= PAGE) {
        if (!last || new Date(row.created_at) < new Date(last.dataset.created)) continue;
      }
      const fresh = rowOf(row);
      fresh.classList.add('flash');
      const after = [...tbody.rows].find((tr) => new Date(tr.dataset.created) < new Date(row.created_at));
      tbody.insertBefore(fresh, after ?? null);
      total += 1;
    }
  }
  shown = tbody.rows.length;
  showCount();
};

let typing;
kindSelect.addEventListener('change', () => {
  filters.kind = kindSelect.value;
  void load();
});
stateSelect.addEventListener('change', () => {
  filters.state = stateSelect.value;
  void load();
});
textInput.addEventListener('input', () => {
  clearTimeout(typing);
  typing = setTimeout(() => {
    filters.q = textInput.value.trim();
    void load();
  }, 200);
});

void loadFacets();
void load();
listenToFeed({
  onActors: apply,
  onReconnect: () => void load(),
  // Changes between the page's reading and the feed's start would be in neither: read again.
  onHello: ({ position }) => {
    if (initialPosition !== undefined && position > initialPosition) void load();
  },
});
