import { describe, expect, it } from 'vitest';
import { formatReportConfigIssue, parseReportConfig, type ReportConfig } from './reportConfig.js';
import { reportJobActor } from './reportJob.actor.js';
import { reportStartRequestSchema, resolveDateRange, resolveReportRequest, type ResolveReportRequestOptions } from './reportRequest.js';

const yaml = `
global:
  outFolder: reports
  publish: { gitUrl: /srv/git/dc.git }
  range: { last: 30d }
  runner: slurm
  slurm: { partition: debug }
instruments:
  SPB:
    detectors:
      AGIPD:
        title: AGIPD 1M
        parameters: [SPB:T1, SPB:T2]
        plot: { formats: [svg] }
      JF4M:
        parameters: [SPB:I]
        range: { from: "2026-03-01", to: "2026-03-29 12:00" }
  MID:
    detectors:
      EPIX:
        parameters: [MID:T]
        range: { last: 1w12h, to: "2026-04-01T00:00:00Z" }
`;

const config = (): ReportConfig => {
  const parsed = parseReportConfig(yaml, { dataRoot: '/data' });
  if (!parsed.ok) throw new Error(parsed.issues.map(formatReportConfigIssue).join('\n'));
  return parsed.config;
};

const options = (over: Partial<ResolveReportRequestOptions> = {}): ResolveReportRequestOptions => ({
  config: config(),
  mode: 'local',
  reference: new Date('2026-04-10T08:30:00Z'),
  timeZone: 'Europe/Zurich',
  dataRoot: '/data',
  workDir: '/data/drafts/reports',
  ...over,
});

describe('resolving a report request', () => {
  it('plans one job per detector with concrete dates and effective plot options', () => {
    const result = resolveReportRequest(options());
    if (!result.ok) throw new Error(result.issues.map(formatReportConfigIssue).join('\n'));
    const r = result.requested;
    expect(r).toMatchObject({
      mode: 'local',
      runner: 'slurm',
      instruments: ['SPB', 'MID'],
      outDir: '/data/reports',
      workDir: '/data/drafts/reports',
      publish: null,
      slurm: { partition: 'debug' },
      timeZone: 'Europe/Zurich',
      jobUpdateIntervalSeconds: 10,
      jobTimeoutSeconds: 3_600,
    });
    expect(r.jobs.map((j) => [j.key, j.title, j.from, j.to])).toEqual([
      // 30 calendar days before now, in Zurich: across the change to summer time on 29 March.
      ['SPB.AGIPD', 'AGIPD 1M', '2026-03-11T09:30:00.000Z', '2026-04-10T08:30:00.000Z'],
      ['SPB.JF4M', 'SPB JF4M', '2026-02-28T23:00:00.000Z', '2026-03-29T10:00:00.000Z'],
      ['MID.EPIX', 'MID EPIX', '2026-03-24T13:00:00.000Z', '2026-04-01T00:00:00.000Z'],
    ]);
    expect(r.jobs[0]?.plot).toEqual({ formats: ['svg'], statistics: ['max', 'mean', 'std', 'min'], interval: false, width: 900, height: 300, logScale: false });
    // What the API's start command accepts is exactly this.
    expect(reportJobActor.commands.start?.schema.safeParse(r).success).toBe(true);
  });

  it('selects instruments, uses the runner asked for, and takes an override', () => {
    const result = resolveReportRequest(
      options({ instruments: ['MID'], runner: 'local', mode: 'sim', override: { global: { jobTimeoutSeconds: 60 } } }),
    );
    expect(result.ok && result.requested).toMatchObject({
      instruments: ['MID'],
      runner: 'local',
      slurm: null,
      outDir: null,
      jobTimeoutSeconds: 60,
      jobs: [{ key: 'MID.EPIX' }],
      config: { instruments: { MID: expect.anything() } },
    });
    expect(result.ok && Object.keys(result.requested.config.instruments as object)).toEqual(['MID']);
  });

  it('refuses what cannot run: unknown instruments, prod without a target, folders outside the root, empty ranges', () => {
    expect(resolveReportRequest(options({ instruments: ['SPX'] }))).toEqual({
      ok: false,
      issues: [{ path: ['instruments', 0], message: 'unknown instrument "SPX"; did you mean "SPB"? (known: SPB, MID)' }],
    });
    const noTarget = resolveReportRequest(options({ mode: 'prod', override: { global: { publish: null } } }));
    expect(noTarget.ok ? [] : noTarget.issues.map((i) => i.path.join('.'))).toEqual(['global.publish']);
    const prod = resolveReportRequest(options({ mode: 'prod' }));
    expect(prod.ok && prod.requested.publish).toEqual({ gitUrl: '/srv/git/dc.git', branch: 'main', subFolder: '.' });
    const outside = resolveReportRequest(options({ workDir: '/tmp/x', override: { global: { outFolder: '../x' } } }));
    expect(outside.ok ? [] : outside.issues.map(formatReportConfigIssue)).toEqual([
      'global.outFolder: "../x" resolves to /x, outside the data root /data; every output file must be inside DAQFLOW_DATA_ROOT',
    ]);
    const work = resolveReportRequest(options({ workDir: '/tmp/x' }));
    expect(work.ok ? [] : work.issues.map((i) => i.path.join('.'))).toEqual(['workDir']);
    const inverted = resolveReportRequest(
      options({ override: { instruments: { SPB: { detectors: { JF4M: { range: { from: '2026-05-01' } } } } } } }),
    );
    expect(inverted.ok ? [] : inverted.issues).toEqual([
      {
        path: ['instruments', 'SPB', 'detectors', 'JF4M', 'range', 'from'],
        message: 'the range is empty or inverted: from 2026-04-30T22:00:00.000Z to 2026-03-29T10:00:00.000Z',
      },
    ]);
  });

  it('refuses a wall-clock time that the zone skips', () => {
    expect(resolveDateRange({ from: '2026-03-29 02:30' }, { reference: new Date('2026-04-01T00:00:00Z'), timeZone: 'Europe/Zurich' })).toEqual({
      ok: false,
      field: 'from',
      message: expect.stringMatching(/does not exist in Europe\/Zurich/),
    });
  });

  it('has a start body schema with the fields of docs/api.md', () => {
    expect(reportStartRequestSchema.safeParse({ mode: 'local', instruments: ['SPB'], runner: 'slurm' }).success).toBe(true);
    expect(reportStartRequestSchema.safeParse({ mode: 'local', config: {}, configPath: '/x.yaml' }).success).toBe(false);
    expect(reportStartRequestSchema.safeParse({ mode: 'test' }).success).toBe(false);
    expect(reportStartRequestSchema.safeParse({ mode: 'sim', instrument: ['SPB'] }).success).toBe(false);
  });
});
