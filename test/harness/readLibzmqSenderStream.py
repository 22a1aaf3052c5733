"""Reads bench/bsreadLibzmqSender.c's stream with pyzmq, checks every message against the
sender's formulas (see that file's header) and prints one JSON line of counts.

    python3 readLibzmqSenderStream.py ADDRESS pull|sub MESSAGES TIMEOUT_MS
"""
import hashlib
import json
import struct
import sys

import numpy as np
import zmq

address, mode, wanted, timeout_ms = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
context = zmq.Context()
socket = context.socket(zmq.PULL if mode == 'pull' else zmq.SUB)
if mode == 'sub':
    socket.setsockopt(zmq.SUBSCRIBE, b'')
socket.setsockopt(zmq.RCVTIMEO, timeout_ms)
socket.connect(address)

counts = {'received': 0, 'gaps': 0, 'badValues': 0, 'badTimestamps': 0, 'badHashes': 0, 'badParts': 0, 'headersSeen': 0}
first = last = None
channels = None
pattern = None
try:
    while counts['received'] < wanted:
        parts = socket.recv_multipart()
        main = json.loads(parts[0])
        pulse = main['pulse_id']
        if main.get('htype') != 'bsr_m-1.1':
            counts['badParts'] += 1
        if len(parts[1]) > 0:
            counts['headersSeen'] += 1
            if hashlib.md5(parts[1]).hexdigest() != main['hash']:
                counts['badHashes'] += 1
            header = json.loads(parts[1])
            channels = header['channels']
        if channels is None or len(parts) != 2 + 2 * len(channels):
            counts['badParts'] += 1
            continue
        if last is not None and pulse != last + 1:
            counts['gaps'] += 1
        first = pulse if first is None else first
        last = pulse
        stamp = struct.pack('<QQ', main['global_timestamp']['sec'], main['global_timestamp']['ns'])
        for i, channel in enumerate(channels):
            value, ts = parts[2 + 2 * i], parts[3 + 2 * i]
            if ts != stamp:
                counts['badTimestamps'] += 1
            if channel['type'] == 'float64':
                if struct.unpack('<d', value)[0] != pulse * 1000 + i:
                    counts['badValues'] += 1
            else:
                width, height = channel['shape']
                pixels = np.frombuffer(value, dtype='<u2')
                if pattern is None or len(pattern) != width * height:
                    k = np.arange(width * height, dtype=np.uint64)
                    pattern = ((k * 7919 + 17) & 0xFFFF).astype(np.uint16)
                words = [(pulse >> (16 * w)) & 0xFFFF for w in range(4)]
                if pixels.size != width * height or list(pixels[:4]) != words or not np.array_equal(pixels[4:], pattern[4:]):
                    counts['badValues'] += 1
        counts['received'] += 1
except zmq.Again:
    pass
finally:
    socket.close(linger=0)
    context.term()

print(json.dumps({**counts, 'firstPulseId': first, 'lastPulseId': last, 'channels': len(channels or [])}))
