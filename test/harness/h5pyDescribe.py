"""Prints, as JSON, every group and dataset of an HDF5 file as h5py sees it: link names, attributes,
numpy dtypes (`dtype.str`), shapes, string types, and each dataset's contents (numeric ones as the
hex of their little-endian bytes in C order, strings as text). Usage: python3 h5pyDescribe.py FILE"""
import json
import sys

import h5py
import numpy as np


def plain(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value


def dataset(d):
    string = h5py.check_string_dtype(d.dtype)
    out = {
        "kind": "dataset",
        "dtype": d.dtype.str,
        "shape": list(d.shape),
        "string": None if string is None else {"encoding": string.encoding, "length": string.length},
        "attrs": {k: plain(v) for k, v in d.attrs.items()},
    }
    value = d[()]
    if string is not None:
        out["text"] = plain(value)
        out["isBytes"] = isinstance(value, bytes)
    else:
        array = np.ascontiguousarray(value)
        out["le_hex"] = array.astype(array.dtype.newbyteorder("<")).tobytes().hex()
    return out


def group(g):
    return {"kind": "group", "keys": list(g.keys()), "attrs": {k: plain(v) for k, v in g.attrs.items()}}


with h5py.File(sys.argv[1], "r") as f:
    objects = {"/": group(f)}
    # Every link, not every object: hard links (the writer's /staging) are listed under each name.
    def visit(prefix, g):
        for name, link in g.items():
            path = f"{prefix}/{name}"
            if isinstance(link, h5py.Group):
                objects[path] = group(link)
                visit(path, link)
            else:
                objects[path] = dataset(link)
    visit("", f)
    print(json.dumps(objects))
