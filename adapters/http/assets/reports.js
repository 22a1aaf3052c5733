// The report sites that report jobs wrote, each opened from /files/.
import { el, formatTime, getJson, jobLink, listenToFeed, stateBadge } from './common.js';

const main = document.getElementById('main');
const message = el('p', { role: 'status', id: 'reports-message' });
const list = el('ul', { id: 'report-sites' });
main.append(message, list);

const load = async () => {
  try {
    const sites = await getJson('/api/reports');
    message.textContent = sites.length ? '' : 'No report site yet: report jobs write one when they finish.';
    list.replaceChildren(
      ...sites.map((s) =>
        el(
          'li',
          {},
          jobLink(s.id),
          ' ',
          stateBadge(s.state),
          ` ${s.title ?? ''} · ${formatTime(s.updatedAt)} · `,
          ...s.files.map((f, i) => [i ? ', ' : '', f.href ? el('a', { href: f.href }, f.label) : `${f.label}: ${f.path}`]),
        ),
      ),
    );
  } catch (e) {
    message.textContent = e.message;
  }
};

void load();
listenToFeed({ onActors: (rows) => rows.some((r) => r.kind === 'report') && void load(), onReconnect: () => void load() });
