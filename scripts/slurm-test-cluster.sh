#!/usr/bin/env bash
# A single-node Slurm for the tests: its own munged, slurmctld and slurmd, every file under one
# folder, listening on 127.0.0.1 only, on ports other than Slurm's defaults (6817/6818) so that
# it never meets a real cluster's daemons. Debian bookworm's slurm-wlm 22.05 and munge; needs
# root (slurmd starts jobs as their user).
#
#   slurm-test-cluster.sh start    start what is not running, wait until the node is idle
#   slurm-test-cluster.sh status   exit 0 when the cluster answers
#   slurm-test-cluster.sh stop     stop the three daemons (by their pid files)
#
# DAQFLOW_TEST_SLURM_DIR (default /tmp/daqflow-slurm-test) and DAQFLOW_TEST_SLURM_PORT (default
# 16817; slurmd uses the next port) choose the cluster. `start` is idempotent and safe to run
# from several processes at once (flock): a cluster already running in that folder is reused.
# On success `start` prints KEY=value lines: SLURM_CONF, SLURM_DIR, STARTED (yes when this call
# started slurmctld). Exit 3 means "cannot run here" (not root, not installed, port taken), with
# the reason on stderr; exit 1 means it was tried and failed (log tails on stderr).
set -uo pipefail

D=${DAQFLOW_TEST_SLURM_DIR:-/tmp/daqflow-slurm-test}
PORT=${DAQFLOW_TEST_SLURM_PORT:-16817}
CONF=$D/slurm.conf
MUNGE_SOCKET=$D/munge/munge.socket
export SLURM_CONF=$CONF
PATH=$PATH:/usr/sbin:/sbin

cannot() { echo "slurm test cluster: $*" >&2; exit 3; }
fail() {
  echo "slurm test cluster: $*" >&2
  for log in "$D/munge/munged.log" "$D/slurmctld.log" "$D/slurmd.log"; do
    [ -f "$log" ] && { echo "--- tail of $log" >&2; tail -n 15 "$log" >&2; }
  done
  exit 1
}

# A pid file whose process is alive and runs the program named (not a reused pid).
alive() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$2" ] &&
    ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null
}

answers() {
  alive "$D/slurmctld.pid" slurmctld && alive "$D/slurmd.pid" slurmd &&
    [ -n "$(sinfo -h -n localhost -o '%T' 2>/dev/null | grep -E '^(idle|mixed|allocated|completing)')" ]
}

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

write_conf() {
  cat >"$CONF" <<EOF
# Written by scripts/slurm-test-cluster.sh: a one-node test cluster, loopback only.
ClusterName=daqflowtest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SchedulerType=sched/backfill
# Jobs start as soon as they are submitted or a slot frees: tests wait seconds, not minutes.
SchedulerParameters=sched_interval=1,bf_interval=1
SelectType=select/cons_tres
# With memory as a resource and a small default per CPU, two 1-CPU jobs run side by side.
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=100
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/slurmctld.log
SlurmdLogFile=$D/slurmd.log
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
# Finished jobs stay in squeue for 5 minutes, as on a production cluster.
MinJobAge=300
# A cancelled job gets SIGKILL 2 s after SIGTERM (default 30 s): fast tests.
KillWait=2
NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
}

start() {
  [ "$(id -u)" = 0 ] || cannot "needs root (slurmd starts jobs as their user); running as $(id -un)"
  local missing=()
  for cmd in munged mungekey slurmctld slurmd sbatch squeue scancel sinfo; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
  done
  [ ${#missing[@]} -eq 0 ] || cannot "not installed: ${missing[*]} (Debian: apt-get install -y slurm-wlm munge)"

  mkdir -p "$D" || cannot "cannot create $D"
  # The daemons are started with 9>&- so that they do not hold the lock for their lifetime.
  exec 9>"$D/.lock"
  flock -w 60 9 || fail "another start holds $D/.lock"

  if answers; then
    printf 'SLURM_CONF=%s\nSLURM_DIR=%s\nSTARTED=no\n' "$CONF" "$D"
    return 0
  fi

  # munged refuses a socket folder others cannot enter and a key others can read.
  mkdir -p "$D/munge" "$D/munge-key" "$D/state" "$D/spool"
  chmod 755 "$D" "$D/munge"
  chmod 700 "$D/munge-key"
  if [ ! -s "$D/munge-key/munge.key" ]; then
    mungekey --create --keyfile="$D/munge-key/munge.key" || fail "mungekey could not create a key"
  fi
  if ! alive "$D/munge/munged.pid" munged; then
    rm -f "$MUNGE_SOCKET"
    munged --key-file="$D/munge-key/munge.key" --socket="$MUNGE_SOCKET" --pid-file="$D/munge/munged.pid" \
      --log-file="$D/munge/munged.log" --seed-file="$D/munge/munged.seed" 9>&- || fail "munged did not start"
  fi

  local started=no
  if ! alive "$D/slurmctld.pid" slurmctld; then
    if port_taken "$PORT"; then cannot "port $PORT is in use by another program; set DAQFLOW_TEST_SLURM_PORT"; fi
    write_conf
    # -c: forget the jobs of an earlier run of this folder; each start is a clean cluster.
    slurmctld -c -f "$CONF" 9>&- || fail "slurmctld did not start"
    started=yes
  fi
  if ! alive "$D/slurmd.pid" slurmd; then
    if port_taken $((PORT + 1)); then cannot "port $((PORT + 1)) is in use by another program; set DAQFLOW_TEST_SLURM_PORT"; fi
    slurmd -f "$CONF" -N localhost 9>&- || fail "slurmd did not start"
  fi

  for _ in $(seq 1 100); do
    if answers; then
      printf 'SLURM_CONF=%s\nSLURM_DIR=%s\nSTARTED=%s\n' "$CONF" "$D" "$started"
      return 0
    fi
    sleep 0.2
  done
  fail "the node did not become idle within 20 s"
}

stop_one() {
  local pidfile=$1 name=$2 pid
  alive "$pidfile" "$name" || return 0
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null
  for _ in $(seq 1 50); do
    alive "$pidfile" "$name" || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null
}

stop() {
  [ -d "$D" ] || return 0
  exec 9>"$D/.lock"
  flock -w 60 9 || fail "another start holds $D/.lock"
  stop_one "$D/slurmd.pid" slurmd
  stop_one "$D/slurmctld.pid" slurmctld
  stop_one "$D/munge/munged.pid" munged
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) answers ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
