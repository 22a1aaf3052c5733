import { describe, expect, it } from 'vitest';
import { didYouMean, editDistance } from '../text/didYouMean.js';
import { normalizePosix } from '../text/posixPaths.js';
import {
  formatReportConfigIssue,
  mergeOverride,
  parseReportConfig,
  reportConfigError,
  resolveOutFolder,
  selectInstruments,
  type ReportConfig,
  type ReportConfigResult,
} from './reportConfig.js';

/** The example of the final report: every section used. */
const exampleYaml = `# Detector characterisation, as European XFEL's report_conf.yaml
global:
  title: Detector characterisation
  outFolder: reports/dc
  publish:
    gitUrl: /srv/git/dc-report.git
    branch: main
    subFolder: site/plots
  jobUpdateIntervalSeconds: 30
  jobTimeoutSeconds: 12000
  schedule: "0 2 * * 1"
  timeZone: Europe/Berlin
  runner: slurm
  slurm:
    partition: upex
    time: "2:00:00"
    mem: 8G
  range:
    last: 30d
  plot:
    formats: [png, svg]
instruments:
  SPB:
    title: SPB/SFX
    detectors:
      AGIPD:
        parameters:
          - SPB_DET_AGIPD1M-1/CTRL/MC1:temperature
          - SPB_DET_AGIPD1M-1/CTRL/MC1:biasVoltage
        range: { from: "2026-01-01", to: now }
        plot: { statistics: [mean, std], logScale: true }
      JF4M:
        parameters: [SPB_IRDA_JF4M/MDL/POWER:current]
  MID:
    detectors:
      EPIX:
        parameters: [MID_EXP_EPIX-1/DET/RECEIVER:temperature]
`;

const minimal = { instruments: { SPB: { detectors: { AGIPD: { parameters: ['A:1'] } } } } };

const ok = (result: ReportConfigResult): ReportConfig => {
  if (!result.ok) throw new Error(result.issues.map(formatReportConfigIssue).join('\n'));
  return result.config;
};

const issuesOf = (result: ReportConfigResult) => {
  if (result.ok) throw new Error('expected issues');
  return result.issues;
};

describe('report configuration', () => {
  it('parses the example and fills the defaults', () => {
    const config = ok(parseReportConfig(exampleYaml, { dataRoot: '/data' }));
    expect(config.global).toMatchObject({
      outFolder: 'reports/dc',
      publish: { gitUrl: '/srv/git/dc-report.git', branch: 'main', subFolder: 'site/plots' },
      runner: 'slurm',
      slurm: { partition: 'upex', time: '2:00:00', mem: '8G' },
      plot: { formats: ['png', 'svg'], statistics: ['max', 'mean', 'std', 'min'], interval: false, width: 900, height: 300, logScale: false },
    });
    expect(Object.keys(config.instruments)).toEqual(['SPB', 'MID']);
    expect(Object.keys(config.instruments.SPB?.detectors ?? {})).toEqual(['AGIPD', 'JF4M']);
    expect(config.instruments.SPB?.detectors.AGIPD?.range).toEqual({ from: '2026-01-01', to: 'now' });
  });

  it('needs nothing but one instrument with one detector: everything else has a default', () => {
    const config = ok(parseReportConfig(minimal));
    expect(config.global).toEqual({
      title: 'Report',
      outFolder: 'reports',
      jobUpdateIntervalSeconds: 10,
      jobTimeoutSeconds: 3_600,
      runner: 'local',
      range: { last: '30d' },
      plot: { formats: ['png', 'svg'], statistics: ['max', 'mean', 'std', 'min'], interval: false, width: 900, height: 300, logScale: false },
    });
    // A validated configuration is valid input, and parses to itself.
    expect(ok(parseReportConfig(config))).toEqual(config);
  });

  it('refuses a typo with its path, its line and the key it probably meant', () => {
    const yaml = exampleYaml.replace('      JF4M:\n        parameters:', '      JF4M:\n        paramters:');
    const issues = issuesOf(parseReportConfig(yaml));
    const typo = issues.find((i) => i.path.join('.') === 'instruments.SPB.detectors.JF4M.paramters');
    expect(typo).toEqual({
      path: ['instruments', 'SPB', 'detectors', 'JF4M', 'paramters'],
      message: 'unknown key; did you mean "parameters"?',
      line: 33,
      column: 9,
    });
    expect(formatReportConfigIssue(typo!)).toBe('instruments.SPB.detectors.JF4M.paramters: unknown key; did you mean "parameters"? (line 33:9)');
    // Without its parameters the detector misses a required key too, at the detector's line.
    expect(issues).toContainEqual({ path: ['instruments', 'SPB', 'detectors', 'JF4M', 'parameters'], message: 'required', line: 33, column: 9 });
  });

  it('suggests keys in every section and lists the known ones when nothing is close', () => {
    const issues = issuesOf(
      parseReportConfig({
        global: { jobTimeoutSecond: 5, slurm: { partiton: 'a' }, plot: { colour: 'red' } },
        instruments: { SPB: { detector: {} } },
      }),
    );
    expect(issues.map(formatReportConfigIssue)).toEqual(
      expect.arrayContaining([
        'global.jobTimeoutSecond: unknown key; did you mean "jobTimeoutSeconds"?',
        'global.slurm.partiton: unknown key; did you mean "partition"?',
        'global.plot.colour: unknown key; known keys: formats, statistics, interval, width, height, logScale',
        'instruments.SPB.detector: unknown key; did you mean "detectors"?',
      ]),
    );
  });

  it('gives the line of a bad value, and of YAML errors', () => {
    const bad = exampleYaml.replace('jobUpdateIntervalSeconds: 30', 'jobUpdateIntervalSeconds: often');
    expect(issuesOf(parseReportConfig(bad))).toEqual([
      { path: ['global', 'jobUpdateIntervalSeconds'], message: expect.stringMatching(/expected number/), line: 9, column: 29 },
    ]);
    const duplicate = issuesOf(parseReportConfig('global:\n  runner: local\n  runner: slurm\ninstruments: {}\n'));
    expect(duplicate).toEqual([{ path: [], message: expect.stringMatching(/^YAML: .*unique/i), line: 3, column: 3 }]);
    const broken = issuesOf(parseReportConfig('global: [\n'));
    expect(broken[0]).toMatchObject({ path: [], message: expect.stringMatching(/^YAML: /), line: expect.any(Number) });
    expect(issuesOf(parseReportConfig('- a\n- b\n'))).toEqual([
      { path: [], message: 'a report configuration is a mapping with global and instruments', line: 1, column: 1 },
    ]);
  });

  it('checks values: names, durations, dates, cron, zone, slurm options, duplicates', () => {
    const issues = issuesOf(
      parseReportConfig({
        global: { schedule: 'every night', timeZone: 'Mars/Olympus', slurm: { mem: 'lots', time: '1h' }, range: { last: '0d' } },
        instruments: {
          'SPB.1': { detectors: { A: { parameters: ['x'] } } },
          MID: {
            detectors: {
              B: { parameters: ['x', 'x'], range: { from: '2026-13', last: '3d' } },
              C: { parameters: [], range: { from: 'yesterday' } },
            },
          },
        },
      }),
    );
    const byPath = Object.fromEntries(issues.map((i) => [i.path.join('.'), i.message]));
    expect(byPath).toMatchObject({
      'global.schedule': expect.stringMatching(/expected five fields/),
      'global.timeZone': expect.stringMatching(/unknown time zone "Mars\/Olympus"/),
      'global.slurm.mem': 'a Slurm memory size such as 4096 or 4G',
      'global.slurm.time': expect.stringMatching(/Slurm time limit/),
      'global.range.last': 'a duration must not be zero',
      'instruments.SPB.1': expect.stringMatching(/^invalid name: a name is 1-64 of/),
      'instruments.MID.detectors.B.parameters': 'a parameter is listed twice',
      'instruments.MID.detectors.B.range.from': expect.stringMatching(/^a time: YYYY-MM-DD/),
      'instruments.MID.detectors.C.parameters': 'list at least one parameter',
      'instruments.MID.detectors.C.range.from': expect.stringMatching(/^a time/),
    });
    expect(issuesOf(parseReportConfig({ instruments: { A: { detectors: { B: { parameters: ['x'], range: {} } } } } }))).toEqual([
      { path: ['instruments', 'A', 'detectors', 'B', 'range'], message: expect.stringMatching(/either last .* or from/) },
    ]);
    expect(issuesOf(parseReportConfig({ instruments: {} }))).toEqual([{ path: ['instruments'], message: 'the configuration needs at least one instrument' }]);
  });

  it('refuses an out folder outside the data root, by its text', () => {
    expect(ok(parseReportConfig({ ...minimal, global: { outFolder: '/data/reports/../dc' } }, { dataRoot: '/data' })).global.outFolder).toBe('/data/reports/../dc');
    const outside = issuesOf(parseReportConfig('global:\n  outFolder: ../elsewhere\n' + 'instruments: {SPB: {detectors: {A: {parameters: [x]}}}}\n', { dataRoot: '/data/' }));
    expect(outside).toEqual([
      {
        path: ['global', 'outFolder'],
        message: '"../elsewhere" resolves to /elsewhere, outside the data root /data; every output file must be inside DAQFLOW_DATA_ROOT',
        line: 2,
        column: 14,
      },
    ]);
    expect(resolveOutFolder('/database', '/data')).toMatchObject({ ok: false });
    expect(resolveOutFolder('reports', '/data')).toEqual({ ok: true, path: '/data/reports' });
    expect(resolveOutFolder('/data', '/data')).toEqual({ ok: true, path: '/data' });
    expect(resolveOutFolder('x', 'data')).toMatchObject({ ok: false, message: expect.stringMatching(/not an absolute path/) });
    expect(normalizePosix('/a//b/./c/../../../../d')).toBe('/d');
    expect(normalizePosix('a/../../b/')).toBe('../b');
    expect(normalizePosix('./')).toBe('.');
  });

  it('selects instruments and detectors, and refuses unknown ones with the known names', () => {
    const config = ok(parseReportConfig(exampleYaml));
    const all = selectInstruments(config);
    expect(all.ok && all.selection.instruments).toEqual(['SPB', 'MID']);
    expect(selectInstruments(config, ['all'])).toEqual(all);
    const some = selectInstruments(config, ['MID', 'SPB.JF4M']);
    if (!some.ok) throw new Error('refused');
    // Configuration order, whatever the filter's.
    expect(some.selection.instruments).toEqual(['SPB.JF4M', 'MID']);
    expect(Object.keys(some.selection.config.instruments.SPB?.detectors ?? {})).toEqual(['JF4M']);
    const unknown = selectInstruments(config, ['SPB', 'SBP', 'FXE', 'SPB.AGPID']);
    expect(unknown.ok ? [] : unknown.issues).toEqual([
      { path: ['instruments', 1], message: 'unknown instrument "SBP"; did you mean "SPB"? (known: SPB, MID)' },
      { path: ['instruments', 2], message: 'unknown instrument "FXE" (known: SPB, MID)' },
      { path: ['instruments', 3], message: 'unknown detector "AGPID" of SPB; did you mean "AGIPD"? (known: AGIPD, JF4M)' },
    ]);
    expect(reportConfigError(unknown.ok ? [] : unknown.issues).message).toBe(
      'invalid report configuration: instruments.1: unknown instrument "SBP"; did you mean "SPB"? (known: SPB, MID); instruments.2: unknown instrument "FXE" (known: SPB, MID); instruments.3: unknown detector "AGPID" of SPB; did you mean "AGIPD"? (known: AGIPD, JF4M)',
    );
  });

  it('merges a one-off override and validates the result', () => {
    const config = ok(parseReportConfig(exampleYaml));
    const merged = ok(
      mergeOverride(config, {
        global: { jobTimeoutSeconds: 60, slurm: { partition: 'debug' } },
        instruments: { SPB: { detectors: { AGIPD: { range: { from: null, last: '7d' } }, JF4M: null } }, MID: null },
      }),
    );
    expect(merged.global.jobTimeoutSeconds).toBe(60);
    expect(merged.global.slurm).toEqual({ partition: 'debug', time: '2:00:00', mem: '8G' });
    expect(merged.instruments.SPB?.detectors.AGIPD?.range).toEqual({ last: '7d', to: 'now' });
    expect(Object.keys(merged.instruments)).toEqual(['SPB']);
    expect(Object.keys(merged.instruments.SPB?.detectors ?? {})).toEqual(['AGIPD']);
    expect(config.global.jobTimeoutSeconds).toBe(12_000);
    expect(issuesOf(mergeOverride(config, { global: { jobTimeout: 5 } }))).toEqual([
      { path: ['global', 'jobTimeout'], message: 'unknown key; did you mean "jobTimeoutSeconds"?' },
    ]);
    expect(issuesOf(mergeOverride(config, { global: { outFolder: '/tmp' } }, { dataRoot: '/data' }))[0]?.path).toEqual(['global', 'outFolder']);
    expect(mergeOverride(config, undefined)).toEqual({ ok: true, config });
  });

  it('suggests by edit distance, transpositions counting once', () => {
    expect(editDistance('paramters', 'parameters')).toBe(1);
    expect(editDistance('detcetors', 'detectors')).toBe(1);
    expect(didYouMean('outfolder', ['outFolder', 'title'])).toBe('outFolder');
    expect(didYouMean('ttl', ['title', 'range'])).toBeUndefined();
    expect(didYouMean('rnage', ['range', 'runner'])).toBe('range');
  });
});
