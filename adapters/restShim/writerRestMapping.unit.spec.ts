import { describe, expect, it } from 'vitest';
import { parseParameters, parsePulseId, ShimError, statisticsOf, statusWordOf, withOutputFile, type AcquisitionReply } from './writerRestMapping.js';

const general = { 'general/created': 'today', 'general/user': 'p1', 'general/process': 'dia', 'general/instrument': 'jf' };

const view = (over: Partial<AcquisitionReply>): AcquisitionReply => ({
  id: 'a1',
  state: 'writing',
  final: false,
  outputFile: '/data/x.h5',
  startPulseId: 100,
  stopPulseId: null,
  firstPulseId: 100,
  lastPulseId: 120,
  pulsesWritten: 21,
  missingPulses: 0,
  bytesWritten: 2_100,
  stopNow: false,
  ratePerSecond: 0,
  lagPulses: 0,
  startedAt: null,
  finishedAt: null,
  ...over,
});

describe('the sf_bsread_writer vocabulary', () => {
  it('maps every daqflow acquisition state to a status word', () => {
    expect(['waiting', 'writing', 'killing', 'completed', 'killed', 'failed'].map(statusWordOf)).toEqual([
      'writing',
      'writing',
      'writing',
      'finished',
      'killed',
      'error',
    ]);
    expect(statusWordOf(null)).toBe('waiting');
  });

  it('takes parameters as the writer did, with the output file and channels besides', () => {
    const p = parseParameters({ ...general, 'general/user': 11057, output_file: 'run.h5', channels: ['A'], extra: { kept: true } });
    expect(p).toMatchObject({ outputFile: 'run.h5', channels: ['A'], metadata: { user: '11057', process: 'dia', instrument: 'jf' } });
    expect(p.raw).toMatchObject({ extra: { kept: true }, 'general/user': 11057 });
    expect(parseParameters(general).outputFile).toBeNull();
    expect(withOutputFile(p, 'next.h5')).toMatchObject({ outputFile: 'next.h5', raw: { output_file: 'next.h5' } });
    expect(() => parseParameters({ 'general/user': 'p1' })).toThrow(/^Missing mandatory parameters\./);
    expect(() => parseParameters({ ...general, 'general/process': { a: 1 } })).toThrow(/general\/process must be a string/);
    expect(() => parseParameters({ ...general, channels: [] })).toThrow(/channels/);
    expect(() => parseParameters(null)).toThrow(ShimError);
  });

  it('reads a pulse id only when the whole segment is one', () => {
    expect(parsePulseId('0', 'r')).toBe(0);
    expect(parsePulseId('9066880403', 'r')).toBe(9_066_880_403);
    for (const bad of [undefined, '', ' 1', '0x10', '1.0', '-3', String(2 ** 53)]) {
      expect(() => parsePulseId(bad, 'r'), String(bad)).toThrow(/whole number/);
    }
  });

  it("fills the writer's statistics fields, with daqflow's after them", () => {
    const none = statisticsOf(null, null, undefined);
    expect(none).toMatchObject({ start_pulse_id: null, stop_pulse_id: null, start_timestamp: null, stop_timestamp: null, last_pulse_id: -1, last_timestamp: null });
    expect(none).not.toHaveProperty('stream');
    const current = { id: 'a1', startPulseId: null, startTimestamp: 10.5, stopTimestamp: 11.25 };
    const stats = statisticsOf(current, view({ stopPulseId: 120, stopNow: true, state: 'completed', final: true }), {
      address: 'tcp://h:1',
      buffer: { received: 50, droppedOldest: 1, malformed: 2, pulseIdGaps: 3, messages: 40, oldestPulseId: 90, newestPulseId: 130, readerLostPulses: 7 },
    });
    expect(stats).toMatchObject({
      start_pulse_id: null,
      stop_pulse_id: null,
      start_timestamp: 10.5,
      stop_timestamp: 11.25,
      last_pulse_id: 120,
      acquisition_id: 'a1',
      daqflow_state: 'completed',
      pulses_written: 21,
      stream: { received: 50, dropped_oldest: 1, malformed: 2, pulse_id_gaps: 3, oldest_pulse_id: 90, newest_pulse_id: 130, reader_lost_pulses: 7 },
    });
    expect(stats).not.toHaveProperty('lost_pulses');
  });

  it('reports the pulses a completed acquisition lost, and a failure\'s stretch', () => {
    const lost = { from: 105, to: 118, count: 6, ranges: [{ from: 105, to: 107 }, { from: 116, to: 118 }] };
    const completed = statisticsOf(null, view({ state: 'completed', final: true, lostPulses: lost }), undefined);
    expect(completed['lost_pulses']).toEqual({ count: 6, ranges: [{ from: 105, to: 107 }, { from: 116, to: 118 }] });
    const failed = statisticsOf(null, view({ state: 'failed', final: true, lostPulses: { from: 105, to: 118 } }), undefined);
    expect(failed['lost_pulses']).toEqual({ from: 105, to: 118 });
  });

  it('takes general/created for the file, and on_loss', () => {
    expect(parseParameters({ ...general, on_loss: 'fail' })).toMatchObject({ metadata: { created: 'today' }, onLoss: 'fail' });
    expect(parseParameters(general).onLoss).toBeNull();
    expect(() => parseParameters({ ...general, on_loss: 'ignore' })).toThrow(/on_loss/);
  });

  it('takes node, the node whose process must write the file, and refuses one that is not a node name', () => {
    expect(parseParameters({ ...general, node: 'daq-writer-1' }).node).toBe('daq-writer-1');
    expect(parseParameters(general).node).toBeNull();
    expect(() => parseParameters({ ...general, node: 'a b' })).toThrow(/node must be a node name/);
    expect(() => parseParameters({ ...general, node: 7 })).toThrow(/node must be a node name/);
  });
});
