import { describe, expect, it } from 'vitest';
import { serviceNameOf } from './jobModule.js';
import { allActorDefinitions, allProjections, jobModules } from './registry.js';

describe('job module registry', () => {
  it('gives each kind one name and keeps the stored kind its machine writes', () => {
    const names = jobModules.map((m) => m.name);
    expect(new Set(names).size).toBe(names.length);
    for (const module of jobModules) expect(module.storedKind).toBe(module.definition.kind);
    expect(new Set(jobModules.map((m) => m.storedKind)).size).toBe(jobModules.length);
  });

  it('keeps the public service names and subject groups', () => {
    // The NATS subjects and service names are the public contract: clients call daqflow.grabs.start.
    expect(jobModules.filter((m) => m.service).map((m) => [m.name, serviceNameOf(m), m.storedKind])).toEqual([
      ['demo', 'daqflow-demo', 'demo'],
      ['grabs', 'daqflow-grabs', 'grab'],
      ['schedules', 'daqflow-schedules', 'schedule'],
      ['acquisitions', 'daqflow-acquisitions', 'acquisition'],
      ['reports', 'daqflow-reports', 'report'],
    ]);
  });

  it('lists every definition and projection once, status and transitions first', () => {
    expect(allActorDefinitions.map((d) => d.kind)).toEqual(['demo', 'grab', 'schedule', 'acquisition', 'report', 'notification']);
    expect(allProjections.map((p) => p.name)).toEqual(['actorStatus', 'actorTransition', 'grabStatistics']);
  });
});
