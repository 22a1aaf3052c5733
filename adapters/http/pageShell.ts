/** Escapes text for HTML element content and attribute values. */
export const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

export type PageName = 'jobs' | 'job' | 'statistics' | 'reports';

const navigation: ReadonlyArray<{ readonly href: string; readonly label: string; readonly page?: PageName }> = [
  { href: '/', label: 'Jobs', page: 'jobs' },
  { href: '/statistics', label: 'Statistics', page: 'statistics' },
  { href: '/reports', label: 'Reports', page: 'reports' },
  { href: '/files/', label: 'Files' },
  { href: '/metrics', label: 'Metrics' },
];

/** JSON inside a <script> element: nothing in it can close the element or open a comment. */
const scriptJson = (value: unknown): string =>
  JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');

/**
 * The frame of every status page: a skip link, the navigation and a main region that the page's
 * script fills from the JSON API. Without scripts the page says so rather than stay empty.
 * `initial` is what the page's first API call would answer, sent along so that the first screen
 * needs no second round trip (the page reads it from #initial-data).
 */
export const pageShell = (page: PageName, title: string, data: Record<string, unknown> = {}, initial?: unknown): string => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · daqflow</title>
<link rel="stylesheet" href="/assets/style.css">
<link rel="modulepreload" href="/assets/common.js">
${page === 'statistics' ? '<link rel="stylesheet" href="/assets/uPlot.min.css">\n<script src="/assets/uPlot.iife.min.js"></script>\n' : ''}<script type="module" src="/assets/${page}.js"></script>
</head>
<body data-page="${page}"${Object.entries(data)
  .map(([key, value]) => ` data-${key}="${escapeHtml(String(value))}"`)
  .join('')}>
<a class="skip" href="#main">Skip to content</a>
<header>
<nav aria-label="daqflow">
<span class="brand">daqflow</span>
<ul>
${navigation
  .map((item) => `<li><a href="${item.href}"${item.page === page ? ' aria-current="page"' : ''}>${item.label}</a></li>`)
  .join('\n')}
</ul>
<span id="live" class="live" role="status" aria-live="polite"></span>
</nav>
</header>
<main id="main" tabindex="-1">
<h1>${escapeHtml(title)}</h1>
<noscript><p>These pages need JavaScript to load their data; the same data is at <a href="/api/jobs">/api/jobs</a>.</p></noscript>
</main>
${initial === undefined ? '' : `<script type="application/json" id="initial-data">${scriptJson(initial)}</script>\n`}</body>
</html>
`;
