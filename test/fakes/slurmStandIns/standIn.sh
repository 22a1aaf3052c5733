# Shared by the Slurm stand-ins (sbatch, squeue, scancel, sacct): sourced, not run.
#
# Everything lives in $SLURM_STANDIN_DIR:
#   calls.log          one line per call: "<command> <args…>"
#   plan               line n: the states the n-th submitted job goes through, one per squeue
#                      call, the last one sticky. A token is STATE[:Reason]; "run" runs the batch
#                      script there and then (as slurmd would: SLURM_JOB_ID, --chdir, --output,
#                      --error); "done" is COMPLETED or FAILED:NonZeroExitCode by that run's exit
#                      code; "GONE" is a job squeue no longer knows (MinJobAge passed).
#                      Default: PENDING:Priority RUNNING:None run done
#   <cmd>.stderr       when present, <cmd> prints it to stderr and exits with <cmd>.rc (default 1)
#   sacct/<id>         the line sacct prints for job <id> (JobID|State|ExitCode)
#   jobs/<id>/         what sbatch was given, and where the job is in its plan
set -uo pipefail
dir=${SLURM_STANDIN_DIR:?SLURM_STANDIN_DIR is not set: the Slurm stand-ins keep their state there}
mkdir -p "$dir/jobs"
printf '%s' "$standin" >>"$dir/calls.log"
printf ' %s' "$@" >>"$dir/calls.log"
printf '\n' >>"$dir/calls.log"

if [[ -f $dir/$standin.stderr ]]; then
  cat "$dir/$standin.stderr" >&2
  exit "$(cat "$dir/$standin.rc" 2>/dev/null || echo 1)"
fi

# The state a job shows now ("" when GONE), advancing its plan by one step.
job_state() {
  local jd=$dir/jobs/$1 tokens step token rc
  read -r -a tokens <"$jd/plan"
  step=$(cat "$jd/step")
  while :; do
    token=${tokens[$step]}
    if [[ $token == run ]]; then
      out=$(cat "$jd/out") err=$(cat "$jd/err")
      (cd "$(cat "$jd/chdir")" && SLURM_JOB_ID=$1 bash "$jd/script" >"${out//%%/%}" 2>"${err//%%/%}")
      echo $? >"$jd/rc"
      step=$((step + 1))
      continue
    fi
    break
  done
  if [[ $token == done ]]; then
    rc=$(cat "$jd/rc" 2>/dev/null || echo 0)
    if [[ $rc == 0 ]]; then token=COMPLETED:None; else token=FAILED:NonZeroExitCode; fi
  fi
  if [[ -f $jd/cancelled && $token != GONE ]]; then token=CANCELLED:None; fi
  if ((step < ${#tokens[@]} - 1)); then step=$((step + 1)); fi
  echo "$step" >"$jd/step"
  if [[ $token == GONE ]]; then echo ""; else echo "$token"; fi
}
