import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import type { DaqflowProcess } from './daqflowProcess.js';

/** The URL `daqflow up` printed on its `http` line. */
export const httpUrlOf = (daqflow: DaqflowProcess): string => {
  const url = /^ {2}http {6}(http:\/\/\S+)/m.exec(daqflow.stdout())?.[1];
  if (!url) throw new Error(`daqflow up printed no http line:\n${daqflow.stdout()}`);
  return url;
};

/** A scrape of /metrics: each family by name, as a Prometheus text-format parser reads it. */
export type Scrape = ReadonlyMap<string, ReturnType<typeof parsePrometheusTextFormat>[number]>;

export const scrapeMetrics = async (baseUrl: string): Promise<Scrape> => {
  const response = await fetch(`${baseUrl}/metrics`);
  if (!response.ok) throw new Error(`/metrics answered ${response.status}`);
  const contentType = response.headers.get('content-type') ?? '';
  if (!contentType.startsWith('text/plain')) throw new Error(`/metrics is ${contentType}, not the text format`);
  return new Map(parsePrometheusTextFormat(await response.text()).map((family) => [family.name, family]));
};

/** The sum of a counter's or gauge's samples whose labels include `labels` (0 when none). */
export const sampleSum = (scrape: Scrape, name: string, labels: Record<string, string> = {}): number => {
  const family = scrape.get(name);
  if (!family) return 0;
  return family.metrics
    .filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))
    .reduce((sum, m) => sum + Number(m.value ?? m.count ?? 0), 0);
};

/** GETs a JSON endpoint: its status and body. */
export const getJson = async (url: string): Promise<{ status: number; body: Record<string, unknown> }> => {
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};
