// The statistics database: a parameter's trend over grab runs (max, mean ± std, min) drawn with
// uPlot, and the rows behind it. The table is the plot's accessible equivalent.
/* global uPlot */
import { el, formatNumber, formatTime, getJson, jobLink, listenToFeed } from './common.js';

const main = document.getElementById('main');
const select = el('select', { id: 'parameter', name: 'parameter' }, el('option', { value: '' }, 'choose a parameter'));
const message = el('p', { role: 'status', id: 'stats-message' });
const plot = el('div', { id: 'plot', role: 'img', 'aria-label': 'Trend of the chosen parameter: max, mean ± std and min per grab run' });
const tbody = el('tbody', { id: 'stats-rows' });
const table = el(
  'table',
  { id: 'stats-table' },
  el('caption', { class: 'muted' }, 'One row per grab run'),
  el('thead', {}, el('tr', {}, ['Window start', 'Window stop', 'Count', 'Min', 'Mean', 'Std', 'Max', 'Run'].map((h) => el('th', { scope: 'col' }, h)))),
  tbody,
);
main.append(
  el('form', { class: 'filters', onsubmit: (e) => e.preventDefault() }, el('label', { for: 'parameter' }, 'Parameter', select)),
  message,
  plot,
  table,
);

let chart;
const draw = (data) => {
  const points = data.series.filter((p) => p.count > 0);
  const x = points.map((p) => Date.parse(p.windowStart) / 1_000);
  const pick = (f) => points.map((p) => f(p) ?? null);
  const meanPlus = pick((p) => (p.mean === null || p.std === null ? null : p.mean + p.std));
  const meanMinus = pick((p) => (p.mean === null || p.std === null ? null : p.mean - p.std));
  const units = data.units ? ` (${data.units})` : '';
  const options = {
    title: `${data.parameter}${units}`,
    width: Math.min(main.clientWidth - 20, 1200),
    height: 380,
    series: [
      {},
      { label: 'max', stroke: '#a4000f', width: 1.5 },
      { label: 'mean + std', stroke: '#5b7fbf', dash: [4, 4] },
      { label: 'mean', stroke: '#0645ad', width: 2 },
      { label: 'mean − std', stroke: '#5b7fbf', dash: [4, 4] },
      { label: 'min', stroke: '#0a6b2d', width: 1.5 },
    ],
    bands: [{ series: [2, 4], fill: 'rgba(6, 69, 173, 0.12)' }],
    axes: [{}, { label: data.units ?? '' }],
  };
  chart?.destroy();
  plot.replaceChildren();
  chart = new uPlot(options, [x, pick((p) => p.max), meanPlus, pick((p) => p.mean), meanMinus, pick((p) => p.min)], plot);
  plot.dataset.points = String(points.length);
  tbody.replaceChildren(
    ...data.series.map((p) =>
      el(
        'tr',
        {},
        el('td', {}, formatTime(p.windowStart)),
        el('td', {}, formatTime(p.windowStop)),
        el('td', { class: 'num' }, formatNumber(p.count)),
        el('td', { class: 'num' }, formatNumber(p.min, 6)),
        el('td', { class: 'num' }, formatNumber(p.mean, 6)),
        el('td', { class: 'num' }, formatNumber(p.std, 6)),
        el('td', { class: 'num' }, formatNumber(p.max, 6)),
        el('td', {}, jobLink(p.runId)),
      ),
    ),
  );
  message.textContent = `${data.series.length} grab run${data.series.length === 1 ? '' : 's'} of ${data.parameter}`;
};

const show = async () => {
  const parameter = select.value;
  const url = new URL(location.href);
  if (parameter) url.searchParams.set('parameter', parameter);
  else url.searchParams.delete('parameter');
  history.replaceState(null, '', url);
  if (!parameter) return;
  try {
    draw(await getJson(`/api/statistics?${new URLSearchParams({ parameter })}`));
  } catch (e) {
    message.textContent = e.message;
  }
};

const loadParameters = async () => {
  const parameters = await getJson('/api/statistics/parameters');
  for (const p of parameters) if (![...select.options].some((o) => o.value === p)) select.append(el('option', { value: p }, p));
  if (parameters.length === 0) message.textContent = 'No statistics yet: they are written by grab runs.';
  else if (message.textContent.startsWith('No statistics')) message.textContent = '';
};

select.addEventListener('change', () => void show());
await loadParameters().catch((e) => (message.textContent = e.message));
const wanted = new URLSearchParams(location.search).get('parameter');
if (wanted && [...select.options].some((o) => o.value === wanted)) {
  select.value = wanted;
  void show();
}
// A grab run that finished has added rows: the list of parameters and the plot follow.
listenToFeed({
  onActors: (rows) => {
    if (rows.some((r) => r.kind === 'grab' && r.final)) {
      void loadParameters();
      if (select.value) void show();
    }
  },
});
