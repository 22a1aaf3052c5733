// One job: its state and summary, its transitions as a timeline, its errors in full and links to
// its files; an acquisition also shows its progress and the ring buffer as they change.
import { el, formatNumber, formatTime, getJson, listenToFeed, stateBadge } from './common.js';

const id = document.body.dataset.id;
const main = document.getElementById('main');
const facts = el('dl', { class: 'facts', id: 'job-facts' });
const errors = el('section', { id: 'job-errors', 'aria-labelledby': 'errors-title', hidden: true }, el('h2', { id: 'errors-title' }, 'Errors'));
const files = el('section', { id: 'job-files', 'aria-labelledby': 'files-title', hidden: true }, el('h2', { id: 'files-title' }, 'Files'));
const live = el('div', { class: 'panels', id: 'job-live' });
const timelineBody = el('tbody', { id: 'timeline-rows' });
const timeline = el(
  'section',
  { 'aria-labelledby': 'timeline-title' },
  el('h2', { id: 'timeline-title' }, 'Transitions'),
  el(
    'table',
    { id: 'timeline' },
    el('thead', {}, el('tr', {}, ['#', 'Time', 'Event', 'From → to', 'Causation', 'Data'].map((h) => el('th', { scope: 'col' }, h)))),
    timelineBody,
  ),
);
const summary = el('pre', { id: 'job-summary', tabindex: '0', 'aria-label': 'Summary as JSON' });
const message = el('p', { role: 'status', id: 'job-message' });
main.append(message, facts, live, errors, files, timeline, el('section', {}, el('h2', {}, 'Summary'), summary));

const fact = (term, value) => [el('dt', {}, term), el('dd', {}, value)];

const acquisitionPanel = (s) =>
  el(
    'section',
    { 'aria-labelledby': 'acq-title', id: 'acquisition' },
    el('h2', { id: 'acq-title' }, 'Acquisition'),
    el(
      'dl',
      { class: 'facts' },
      fact('Pulses written', el('span', { id: 'pulses-written' }, formatNumber(s.pulsesWritten))),
      fact('Missing pulses', el('span', { id: 'missing-pulses' }, formatNumber(s.missingPulses))),
      fact('Rate', `${formatNumber(s.ratePerSecond, 1)} pulses/s`),
      fact('Lag', `${formatNumber(s.lagPulses)} pulses`),
      fact('Bytes written', formatNumber(s.bytesWritten)),
      fact('Pulse range', `${s.firstPulseId ?? '–'} … ${s.lastPulseId ?? '–'}`),
      fact('Asked for', `${s.startPulseId ?? 'now'} … ${s.stopPulseId ?? (s.stopNow ? 'stop now' : 'open')}`),
      s.lostPulses ? fact('Lost pulses', JSON.stringify(s.lostPulses)) : [],
    ),
  );

const ringPanel = el('section', { 'aria-labelledby': 'ring-title', id: 'ring-buffer' }, el('h2', { id: 'ring-title' }, 'Ring buffer'));
const showRing = (counters) => {
  const b = counters.buffer;
  const reasons = Object.entries(counters.receiver.byReason ?? {}).filter(([, n]) => n > 0);
  ringPanel.replaceChildren(
    el('h2', { id: 'ring-title' }, 'Ring buffer'),
    el(
      'dl',
      { class: 'facts' },
      fact('Stream', `${counters.address} (${counters.mode})`),
      fact('Received', formatNumber(b.received)),
      fact('Malformed', `${formatNumber(counters.receiver.malformed)}${reasons.length ? ` (${reasons.map(([r, n]) => `${r}: ${n}`).join(', ')})` : ''}`),
      fact('Pulse id gaps', formatNumber(b.pulseIdGaps)),
      fact('Dropped (oldest)', formatNumber(b.droppedOldest)),
      fact('Lost to readers', formatNumber(b.readerLostPulses)),
      fact('Pulse range held', `${b.oldestPulseId ?? '–'} … ${b.newestPulseId ?? '–'} (${formatNumber(b.messages)} messages)`),
    ),
  );
};

let ringTimer;
const render = ({ status, transitions, files: links }) => {
  message.textContent = '';
  document.title = `${status.kind} ${status.id} · daqflow`;
  facts.replaceChildren(
    ...fact('Kind', status.kind),
    ...fact('State', stateBadge(status.state)),
    ...fact('Version', String(status.version)),
    ...fact('Created', formatTime(status.created_at)),
    ...fact('Changed', formatTime(status.updated_at)),
    ...fact('Last event', status.last_event_type),
    ...fact('Correlation', status.correlation_id),
  );
  const failures = [
    ...(status.summary.error ? [status.summary.error] : []),
    ...transitions.filter((t) => t.type === 'effectFailed' || t.type === 'failed').map((t) => `${t.type} (#${t.version}): ${typeof t.data === 'object' && t.data ? t.data.message ?? JSON.stringify(t.data) : String(t.data)}`),
  ];
  errors.hidden = failures.length === 0;
  errors.replaceChildren(errors.firstChild, ...failures.map((text) => el('p', { class: 'error' }, text)));
  files.hidden = links.length === 0;
  files.replaceChildren(
    files.firstChild,
    el('ul', {}, links.map((f) => el('li', {}, `${f.label}: `, f.href ? el('a', { href: f.href }, f.path) : el('code', {}, f.path)))),
  );
  if (status.kind === 'acquisition') {
    live.replaceChildren(acquisitionPanel(status.summary), ringPanel);
    if (!ringTimer) {
      const poll = () => getJson('/api/bsread').then(showRing, () => undefined);
      void poll();
      ringTimer = setInterval(poll, 1_000);
    }
  }
  timelineBody.replaceChildren(
    ...transitions.map((t) =>
      el(
        'tr',
        { 'data-version': t.version },
        el('td', { class: 'num' }, String(t.version)),
        el('td', {}, el('time', { datetime: new Date(t.time).toISOString() }, formatTime(t.time))),
        el('td', {}, t.type),
        el('td', {}, `${t.previous_state ?? '∅'} → `, stateBadge(t.state)),
        el('td', {}, t.causation_id ?? t.command_id ?? ''),
        el('td', {}, t.data === null || (typeof t.data === 'object' && Object.keys(t.data).length === 0) ? '' : el('details', {}, el('summary', {}, 'data'), el('pre', {}, JSON.stringify(t.data, null, 2)))),
      ),
    ),
  );
  summary.textContent = JSON.stringify(status.summary, null, 2);
};

const load = async () => {
  try {
    render(await getJson(`/api/jobs/${encodeURIComponent(id)}`));
  } catch (e) {
    message.textContent = e.message;
  }
};

void load();
listenToFeed({
  onActors: (rows) => {
    if (rows.some((row) => row.id === id)) void load();
  },
  onReconnect: () => void load(),
});
