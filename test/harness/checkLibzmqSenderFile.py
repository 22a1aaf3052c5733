"""Reads a writer acquisition's HDF5 file of bench/bsreadLibzmqSender.c's stream with h5py and
checks every row of every channel against the sender's formulas (see that file's header). Prints
one JSON line: the counts, the first rows of each kind of problem, and the stretches of pulses
absent from the file (is_data_present 0, or no row at all): the first 20, and how many rows in all.

    python3 checkLibzmqSenderFile.py FILE FIRST_PULSE LAST_PULSE
"""
import json
import sys

import h5py
import numpy as np

path, first, last = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = last - first + 1
expected_ids = np.arange(first, last + 1, dtype=np.int64)
report = {'rows': rows, 'channels': 0, 'problems': {}, 'absentRanges': []}


def problem(kind, channel, rows_at):
    entry = report['problems'].setdefault(kind, {'count': 0, 'examples': []})
    entry['count'] += int(len(rows_at))
    for r in rows_at[:5]:
        entry['examples'].append({'channel': channel, 'row': int(r), 'pulseId': int(first + r)})


def ranges(rows_at):
    """Row indices as (first pulse, last pulse) stretches."""
    out = []
    for r in rows_at:
        p = int(first + r)
        if out and out[-1][1] == p - 1:
            out[-1][1] = p
        else:
            out.append([p, p])
    return out


with h5py.File(path, 'r') as f:
    names = sorted(f['data'].keys())
    report['channels'] = len(names)
    report['names'] = names[:3] + (['...'] if len(names) > 3 else [])
    absent_any = np.zeros(rows, dtype=bool)
    pattern = None
    for name in names:
        group = f['data'][name]
        ids = group['pulse_id'][()]
        present = group['is_data_present'][()]
        data = group['data']
        # Rows short or long are a problem of their own; the rows there are still checked, so
        # that the report says which pulses are in the file and which are absent.
        n = min(rows, ids.shape[0], present.shape[0], data.shape[0])
        if ids.shape != (rows,) or present.shape != (rows,) or data.shape[0] != rows:
            problem('shape', name, np.array([0]))
            shapes = report.setdefault('shapes', {})
            if len(shapes) < 3:
                shapes[name] = [list(ids.shape), list(present.shape), list(data.shape)]
            absent_any[n:] = True
        ids, present = ids[:n], present[:n]
        problem('pulseId', name, np.flatnonzero(ids != expected_ids[:n]))
        absent = present != 1
        absent_any[:n] |= absent
        problem('notPresent', name, np.flatnonzero(absent))
        if name.split(':')[-2:-1] == ['SCALAR']:
            index = int(name.rsplit(':', 1)[1])
            values = data[:n]
            want = expected_ids[:n].astype(np.float64) * 1000 + index
            if data.dtype != np.float64 or values.shape != (n, 1):
                problem('dtype', name, np.array([0]))
                continue
            problem('value', name, np.flatnonzero((values[:, 0] != want) & ~absent))
        else:
            height, width = data.shape[1], data.shape[2]
            if pattern is None:
                k = np.arange(height * width, dtype=np.uint64)
                pattern = ((k * 7919 + 17) & 0xFFFF).astype(np.uint16)
            bad = []
            for r in range(n):
                if absent[r]:
                    continue
                pixels = data[r].reshape(-1)
                p = first + r
                words = [(p >> (16 * w)) & 0xFFFF for w in range(4)]
                if data.dtype != np.uint16 or list(pixels[:4]) != words or not np.array_equal(pixels[4:], pattern[4:]):
                    bad.append(r)
            problem('value', name, np.array(bad, dtype=np.int64))
    report['absentRows'] = int(absent_any.sum())
    report['absentRanges'] = ranges(np.flatnonzero(absent_any))[:20]

report['problems'] = {k: v for k, v in report['problems'].items() if v['count'] > 0}
print(json.dumps(report))
