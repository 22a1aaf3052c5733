#!/usr/bin/env bash
# What the test suite needs beside Node.js, installed when missing, so that `npm test` is the
# whole set-up on a fresh Debian machine (it runs before the tests as npm's pretest step):
# - nats-server: the test setup starts its own (and `daqflow up` on the embedded default does);
# - slurm-wlm and munge: report jobs' Slurm runner is tested on a real single-node Slurm
#   (scripts/slurm-test-cluster.sh);
# - gcc and libzmq3-dev: the independent bsread sender (bench/bsreadLibzmqSender.c) is compiled
#   by the specs that run it;
# - python3-zmq and python3-h5py: its stream and the HDF5 files are read back with Debian's own
#   Python modules;
# - chromium: the status pages are tested in a real browser, driven by playwright-core.
# As root, missing packages are installed with apt-get; otherwise the command to run is printed
# and the tests that need them fail saying what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

missing=()
have nats-server || missing+=(nats-server)
have slurmctld || missing+=(slurm-wlm)
have munged || missing+=(munge)
have gcc || missing+=(gcc)
[ -f /usr/include/zmq.h ] || missing+=(libzmq3-dev)
[ -d /usr/lib/python3/dist-packages/zmq ] || missing+=(python3-zmq)
[ -d /usr/lib/python3/dist-packages/h5py ] || missing+=(python3-h5py)
[ -x /usr/bin/chromium ] || missing+=(chromium)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test setup: installing Debian packages the tests need: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "test setup: these Debian packages are missing and only root can install them: ${missing[*]}" >&2
    echo "test setup: run  sudo apt-get install -y ${missing[*]}  (the tests that need them fail until then)" >&2
  fi
fi

if [ ! -d node_modules ]; then
  echo "test setup: no node_modules: running npm ci"
  npm ci --no-audit --no-fund
fi
