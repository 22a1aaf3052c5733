import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plotBasePath } from '../../report/reportPaths.js';
import { waitForProjector } from '../../../test/e2e/e2eHelpers.js';
import { checkPng, checkReportSite, checkSvg, filesUnder, insertFixtureStatistics } from '../../../test/harness/reportChecks.js';
import { startInProcessDaqflow, type InProcessDaqflow, type ReportView, type StatusRow } from '../../../test/harness/reportDaqflow.js';
import { useTestDatabase } from '../../../test/harness/testDatabase.js';
import { uniqueToken } from '../../../test/harness/testNames.js';
import { REPORT_WORK_FOLDER } from './prepareReportStart.js';

/*
 * Report jobs end to end in one process, on the local runner: `startDaqflow` with the real
 * runtime, projector and request API on the run's nats-server and a test database whose
 * grab_statistics holds fixture rows; each job is `daqflow report render-job` (or a detector's
 * own command) as a child process; the reports are read back as files, HTML and git objects.
 */

const database = useTestDatabase();
const scratch = mkdtempSync(join(tmpdir(), 'daqflow-report-int-'));
const dataRoot = join(scratch, 'data');
const configPath = join(scratch, 'reports.yaml');
let daqflow: InProcessDaqflow;

const PARAMETERS = {
  bias: 'SPB_DET_AGIPD1M-1:BIAS-VOLTAGE',
  temperature: 'SPB_DET_AGIPD1M-1:TEMPERATURE',
  jungfrau: 'FXE-JF1:TEMPERATURE',
};

// Two instruments; three jobs: two draw the built-in trend plots, one runs its own command.
const CONFIG = `global:
  title: Fixture report
  outFolder: reports
  jobUpdateIntervalSeconds: 1
  jobTimeoutSeconds: 120
  timeZone: UTC
  range:
    from: '2026-11-01'
    to: '2026-11-15'
  plot:
    width: 500
    height: 200
instruments:
  SPB:
    title: SPB/SFX
    detectors:
      AGIPD:
        parameters: ['${PARAMETERS.bias}', '${PARAMETERS.temperature}']
  FXE:
    detectors:
      JF:
        parameters: ['${PARAMETERS.jungfrau}']
      notes:
        parameters: ['FXE:NOTES']
        command: [sh, -c, 'mkdir -p "$DAQFLOW_REPORT_OUT/FXE" && printf "notes of %s\\n" "$(basename "$DAQFLOW_REPORT_JOB")" > "$DAQFLOW_REPORT_OUT/FXE/notes.txt"']
`;

/** Plots the built-in jobs must have drawn, relative to the report folder. */
const expectedPlots = [
  ['SPB', 'AGIPD', PARAMETERS.bias],
  ['SPB', 'AGIPD', PARAMETERS.temperature],
  ['FXE', 'JF', PARAMETERS.jungfrau],
].flatMap(([instrument, detector, parameter]) => {
  const base = plotBasePath(instrument ?? '', detector ?? '', parameter ?? '');
  return [`${base}.png`, `${base}.svg`];
});

const git = (gitDir: string, ...args: string[]): string => execFileSync('git', [`--git-dir=${gitDir}`, ...args], { encoding: 'utf8' });

beforeAll(async () => {
  mkdirSync(dataRoot, { recursive: true });
  writeFileSync(configPath, CONFIG);
  for (const [i, parameter] of Object.values(PARAMETERS).entries()) {
    await insertFixtureStatistics(database.db, { parameter, units: i === 2 ? 'degC' : 'V', runs: 14, level: 10 * (i + 1) });
  }
  // Outside the configured range: must not reach the plots' input.
  await insertFixtureStatistics(database.db, { parameter: PARAMETERS.bias, units: 'V', start: '2026-12-01T00:00:00Z', runs: 2, level: 1_000 });
  daqflow = await startInProcessDaqflow({ database, home: scratch, dataRoot, localJobs: 2 });
});

afterAll(async () => {
  await daqflow?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

const expectJobsCompleted = (view: ReportView): void => {
  expect(view.jobs.map((j) => [j.key, j.state, j.exitCode])).toEqual([
    ['SPB.AGIPD', 'completed', 0],
    ['FXE.JF', 'completed', 0],
    ['FXE.notes', 'completed', 0],
  ]);
};

describe('report jobs on the local runner, over fixture statistics', () => {
  it('refuses a typo, an unknown instrument and an out folder outside the data root with a 400 naming it, recording nothing', async () => {
    const typoPath = join(scratch, 'typo.yaml');
    writeFileSync(typoPath, CONFIG.replace(`parameters: ['${PARAMETERS.jungfrau}']`, `paramters: ['${PARAMETERS.jungfrau}']`));
    const valid = { global: { title: 'x', range: { last: '7d' } }, instruments: { SPB: { detectors: { AGIPD: { parameters: [PARAMETERS.bias] } } } } };
    const elsewhere = join(tmpdir(), `daqflow-elsewhere-${uniqueToken()}`);
    const tmpElsewhereExisted = existsSync('/tmp/elsewhere');
    const cases: Array<[string, Record<string, unknown>, RegExp[]]> = [
      [
        'a typo in a YAML file',
        { configPath: typoPath, mode: 'local' },
        [/instruments\.FXE\.detectors\.JF\.paramters: unknown key; did you mean "parameters"\?/, /\(line 22:\d+\)/, new RegExp(typoPath)],
      ],
      [
        'a typo in a configuration object',
        { config: { ...valid, global: { ...valid.global, jobTimeout: 60 } }, mode: 'sim' },
        [/global\.jobTimeout: unknown key; did you mean "jobTimeoutSeconds"\?/],
      ],
      ['an unknown instrument', { configPath, mode: 'local', instruments: ['NOPE'] }, [/unknown instrument "NOPE"/, /known: SPB, FXE/]],
      ['an unknown detector', { configPath, mode: 'local', instruments: ['FXE.JFX'] }, [/unknown detector "JFX" of FXE; did you mean "JF"\?/]],
      [
        'an out folder escaping with ..',
        { config: { ...valid, global: { ...valid.global, outFolder: '../outside' } }, mode: 'local' },
        [/global\.outFolder/, /"\.\.\/outside" resolves to .*\/outside, outside the data root/, /DAQFLOW_DATA_ROOT/],
      ],
      [
        'an absolute out folder elsewhere',
        { configPath, override: { global: { outFolder: '/tmp/elsewhere' } }, mode: 'local' },
        [/global\.outFolder/, /"\/tmp\/elsewhere" resolves to \/tmp\/elsewhere, outside the data root/],
      ],
      [
        'an out folder elsewhere, in sim mode too',
        { config: { ...valid, global: { ...valid.global, outFolder: elsewhere } }, mode: 'sim' },
        [/global\.outFolder/, new RegExp(`"${elsewhere}" resolves to`)],
      ],
    ];
    const positionBefore = await daqflow.streamPosition();
    const rowsBefore = await daqflow.statusRows();
    for (const [what, body, messages] of cases) {
      const outcome = await daqflow.request(`${daqflow.prefix}.reports.start`, { ...body, requestId: `bad-${uniqueToken()}` });
      expect(outcome.kind, `${what}: ${JSON.stringify(outcome)}`).toBe('refused');
      if (outcome.kind !== 'refused') continue;
      expect(outcome.status, what).toBe('400');
      const error = outcome.body.error as { code: string; message: string };
      for (const message of messages) expect(error.message, what).toMatch(message);
    }
    // Nothing on record: no event, no status row, no folder.
    expect(await daqflow.streamPosition()).toBe(positionBefore);
    // The projection has folded every event there is: its rows are those of this position.
    await waitForProjector(database, positionBefore, 10_000);
    expect(await daqflow.statusRows()).toEqual(rowsBefore);
    expect(existsSync(join(scratch, 'outside'))).toBe(false);
    expect(existsSync(elsewhere)).toBe(false);
    expect(existsSync('/tmp/elsewhere')).toBe(tmpElsewhereExisted);
    expect(existsSync(join(dataRoot, REPORT_WORK_FOLDER))).toBe(false);
  });

  it('local mode: valid PNG and SVG plots, an index linking every page, pages linking every plot, in the out folder', async () => {
    const started = await daqflow.start({ configPath, mode: 'local', requestId: 'local-run' });
    expect(started.runner).toBe('local');
    expect(started.jobs).toHaveLength(3);
    const view = await daqflow.untilFinal(started.id, 60_000);
    expect(view.state, view.error).toBe('completed');
    expectJobsCompleted(view);
    const published = join(dataRoot, 'reports', started.id);
    expect(view.published).toEqual({ dir: published, commit: null });

    const site = checkReportSite(published);
    expect([...site.pages.keys()].sort()).toEqual(['FXE', 'SPB']);
    const relativeFiles = filesUnder(published).map((f) => relative(published, f));
    expect(relativeFiles).toEqual(expect.arrayContaining([...expectedPlots, 'index.html', 'SPB/index.html', 'FXE/index.html', 'FXE/notes.txt']));
    expect(site.pngs.map((f) => relative(published, f)).sort()).toEqual(expectedPlots.filter((p) => p.endsWith('.png')).sort());
    expect(site.svgs.map((f) => relative(published, f)).sort()).toEqual(expectedPlots.filter((p) => p.endsWith('.svg')).sort());
    // The plots are of the configured size and name their parameter; only the range's runs are in them.
    for (const png of site.pngs) expect(checkPng(png).width).toBeGreaterThanOrEqual(500);
    for (const svg of site.svgs) expect(checkSvg(svg).width).toBeGreaterThanOrEqual(500);
    const biasSpec = JSON.parse(readFileSync(join(published, `${plotBasePath('SPB', 'AGIPD', PARAMETERS.bias)}.vl.json`), 'utf8')) as unknown;
    const specText = JSON.stringify(biasSpec);
    expect(specText).toContain(PARAMETERS.bias);
    expect(specText).not.toContain('2026-12-01');
    // The detector's own command: its file is an artifact and in the report; its plots are listed as not produced.
    expect(readFileSync(join(published, 'FXE', 'notes.txt'), 'utf8')).toBe('notes of job.json\n');
    expect(view.artifacts?.some((a) => a.jobKey === 'FXE.notes' && a.path.endsWith('/FXE/notes.txt'))).toBe(true);
    expect(site.pages.get('FXE')?.text).toMatch(/FXE:NOTES: plot not produced/);
    expect(site.index.text).toContain('Fixture report');

    const row = await daqflow.untilFinalStatusRow(started.id, 10_000);
    expect(row.state).toBe('completed');
    expect(row.summary.jobs?.map((j) => [j.key, j.state])).toEqual(view.jobs.map((j) => [j.key, j.state]));
  }, 90_000);

  it('sim mode: the report is built in the work folder and nothing is published to the out folder', async () => {
    const outBefore = existsSync(join(dataRoot, 'reports')) ? readdirSync(join(dataRoot, 'reports')) : [];
    const started = await daqflow.start({ configPath, mode: 'sim', override: { global: { outFolder: 'sim-out' } } });
    const view = await daqflow.untilFinal(started.id, 60_000);
    expect(view.state, view.error).toBe('completed');
    expectJobsCompleted(view);
    expect(view.published).toBeNull();
    const draft = join(dataRoot, REPORT_WORK_FOLDER, started.id, 'report');
    expect(view.report?.dir).toBe(draft);
    expect(checkReportSite(draft).pngs).toHaveLength(3);
    expect(existsSync(join(dataRoot, 'sim-out'))).toBe(false);
    expect(existsSync(join(dataRoot, 'reports')) ? readdirSync(join(dataRoot, 'reports')) : []).toEqual(outBefore);
  }, 90_000);

  it('runs on a schedule: each fire of the cron starts a report recorded with the schedule id, as `daqflow report schedule` sets up', async () => {
    const created = await daqflow.request(`${daqflow.prefix}.schedules.create`, {
      name: `report ${uniqueToken()}`,
      cron: '*/2 * * * * *',
      target: { kind: 'report', command: 'start', payload: { configPath, mode: 'sim', instruments: ['FXE.notes'] } },
    });
    expect(created.kind, JSON.stringify(created)).toBe('ok');
    const scheduleId = created.kind === 'ok' ? String(created.body['id']) : '';
    try {
      const end = Date.now() + 60_000;
      let fired: StatusRow | undefined;
      while (!fired && Date.now() < end) {
        fired = (await daqflow.statusRows()).find((row) => row.summary['scheduleId'] === scheduleId && row.final);
        if (!fired) await new Promise((r) => setTimeout(r, 500));
      }
      expect(fired?.state, JSON.stringify(fired)).toBe('completed');
      expect(fired?.summary.jobs?.map((j) => [j.key, j.state])).toEqual([['FXE.notes', 'completed']]);
    } finally {
      await daqflow.request(`${daqflow.prefix}.schedules.remove`, { id: scheduleId });
    }
  }, 90_000);

  it('prod mode: the report is in the out folder and pushed in one commit to the git repository', async () => {
    const remote = join(scratch, 'site.git');
    execFileSync('git', ['init', '-q', '--bare', remote]);
    const started = await daqflow.start({
      configPath,
      mode: 'prod',
      override: { global: { publish: { gitUrl: remote, branch: 'main', subFolder: 'site' } } },
    });
    const view = await daqflow.untilFinal(started.id, 60_000);
    expect(view.state, view.error).toBe('completed');
    expectJobsCompleted(view);
    const published = join(dataRoot, 'reports', started.id);
    expect(view.published?.dir).toBe(published);
    expect(view.published?.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(git(remote, 'rev-parse', 'main').trim()).toBe(view.published?.commit);
    expect(git(remote, 'rev-list', '--count', 'main').trim()).toBe('1');

    const site = checkReportSite(published);
    const inRepo = git(remote, 'ls-tree', '-r', '--name-only', 'main').split('\n').filter(Boolean).sort();
    const local = filesUnder(published).map((f) => `site/${started.id}/${relative(published, f)}`);
    expect(inRepo).toEqual(local);
    expect(inRepo).toEqual(
      expect.arrayContaining([...expectedPlots, 'index.html', 'SPB/index.html', 'FXE/index.html'].map((p) => `site/${started.id}/${p}`)),
    );
    // The committed plots and pages are the files of the report, byte for byte.
    for (const file of [...site.pngs, ...site.svgs, site.index.file, ...[...site.pages.values()].map((p) => p.file)]) {
      const blob = execFileSync('git', [`--git-dir=${remote}`, 'cat-file', 'blob', `main:site/${started.id}/${relative(published, file)}`]);
      expect(blob.equals(readFileSync(file)), relative(published, file)).toBe(true);
    }
  }, 90_000);
});
