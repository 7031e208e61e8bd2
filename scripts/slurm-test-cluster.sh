#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for the tests of the `slurm`
# evaluator and for trying it out: munged, slurmctld and slurmd started by
# hand (no systemd), everything as root, ProctrackType=proctrack/linuxproc,
# no accounting database (the evaluator reads job states from squeue).
#
#   scripts/slurm-test-cluster.sh start    # installs slurm-wlm and munge with apt-get if missing
#   scripts/slurm-test-cluster.sh stop
#   scripts/slurm-test-cluster.sh status
#   scripts/slurm-test-cluster.sh ours     # exit 0 only when the cluster that answers is this script's
#   scripts/slurm-test-cluster.sh ctld-stop|ctld-start  # stop/restart slurmctld alone (jobs kept), for tests
#
# Needs root (or passwordless sudo). The node has every CPU of the machine;
# one partition, `debug` (the default). Config, logs and state live under
# /tmp/nas-search-slurm (SLURM_TEST_DIR); /etc/slurm/slurm.conf points there.
# Finished jobs stay visible to `squeue --states=all` for MinJobAge=600 s.
# MaxArraySize is small (SLURM_TEST_MAX_ARRAY_SIZE, default 6: array indices
# 0-5) so that the tests see batches split into several arrays, as on a
# cluster with Slurm's default 1001 and larger batches.
#
# It never touches a cluster it did not start: `start` refuses when a
# slurmctld answers that is not this script's (no marker file $DIR/ours, or
# a ClusterName other than nastest), and refuses to overwrite an
# /etc/slurm/slurm.conf without its own first line; `stop` stops only its own.
set -euo pipefail
DIR=${SLURM_TEST_DIR:-/tmp/nas-search-slurm}
CLUSTER=nastest
HEADER="# written by nas-search scripts/slurm-test-cluster.sh (a test cluster; safe to overwrite)"
MARKER=$DIR/ours
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

wait_for() { # seconds, description, command...
  local n=$1 what=$2; shift 2
  for _ in $(seq 1 "$((n * 5))"); do
    if "$@" > /dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "slurm-test-cluster: $what did not come up within $n s; logs in $DIR" >&2
  tail -n 20 "$DIR"/*.log >&2 || true
  return 1
}

install() {
  if command -v slurmctld > /dev/null && command -v munged > /dev/null; then return; fi
  echo "slurm-test-cluster: installing slurm-wlm and munge (apt-get)" >&2
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge > /dev/null
}

configure() {
  local host cpus mem
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
  if [ -e /etc/slurm/slurm.conf ] && [ "$(head -n 1 /etc/slurm/slurm.conf)" != "$HEADER" ]; then
    echo "slurm-test-cluster: /etc/slurm/slurm.conf was not written by this script (a real cluster's?): not overwriting it" >&2
    return 1
  fi
  $SUDO mkdir -p "$DIR/state" "$DIR/spool" /etc/slurm
  $SUDO tee /etc/slurm/slurm.conf > /dev/null <<EOF
$HEADER
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
MinJobAge=600
MaxArraySize=${SLURM_TEST_MAX_ARRAY_SIZE:-6}
MaxJobCount=20000
KillWait=2
OverTimeLimit=0
InactiveLimit=0
Waittime=0
MessageTimeout=20
SchedulerParameters=defer,sched_min_interval=200000
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:64
EOF
  if [ ! -s /etc/munge/munge.key ]; then
    $SUDO mkdir -p /etc/munge
    $SUDO dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  $SUDO chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge 2> /dev/null || true
  $SUDO chmod 0700 /etc/munge
  $SUDO chmod 0400 /etc/munge/munge.key
  $SUDO mkdir -p /run/munge
  $SUDO chown munge:munge /run/munge
}

# Whether the slurmctld that answers is the one this script started.
ours() {
  local config
  [ -e "$MARKER" ] && config=$(scontrol show config 2> /dev/null) && grep -qE "^ClusterName += +$CLUSTER\$" <<< "$config"
}

start() {
  install
  if scontrol ping > /dev/null 2>&1; then
    if ! ours; then
      echo "slurm-test-cluster: a slurmctld answers that this script did not start (no $MARKER or ClusterName is not $CLUSTER): refusing to touch it" >&2
      return 1
    fi
    if status > /dev/null 2>&1; then
      echo "slurm-test-cluster: already running" >&2
      return 0
    fi
  fi
  configure
  $SUDO touch "$MARKER"
  if ! pgrep -x munged > /dev/null; then
    $SUDO runuser -u munge -- /usr/sbin/munged
  fi
  wait_for 10 munged munge -n
  pgrep -x slurmctld > /dev/null || $SUDO slurmctld -i
  wait_for 30 slurmctld scontrol ping
  pgrep -x slurmd > /dev/null || $SUDO slurmd
  wait_for 30 "the node" sh -c "sinfo -h -N -o %T | grep -qE '^(idle|mixed|allocated)'"
  echo "slurm-test-cluster: up ($(sinfo -h -o '%P %D nodes %c CPUs %T'))" >&2
}

stop() {
  if [ ! -e "$MARKER" ]; then
    echo "slurm-test-cluster: $MARKER is missing: not stopping a cluster this script did not start" >&2
    return 1
  fi
  $SUDO pkill -x slurmd 2> /dev/null || true
  $SUDO pkill -x slurmctld 2> /dev/null || true
  $SUDO pkill -x munged 2> /dev/null || true
  for _ in $(seq 1 50); do
    pgrep -x slurmd > /dev/null || pgrep -x slurmctld > /dev/null || pgrep -x munged > /dev/null || break
    sleep 0.2
  done
  $SUDO rm -rf "$DIR/state" "$DIR/spool" "$MARKER"
  echo "slurm-test-cluster: stopped" >&2
}

# slurmctld alone stops (its state kept; jobs go on running under slurmd)
# and starts again, recovering its jobs: squeue and sbatch fail meanwhile.
ctld_stop() {
  ours || { echo "slurm-test-cluster: not this script's cluster" >&2; return 1; }
  $SUDO pkill -x slurmctld
  for _ in $(seq 1 50); do pgrep -x slurmctld > /dev/null || return 0; sleep 0.2; done
  echo "slurm-test-cluster: slurmctld did not stop" >&2
  return 1
}

ctld_start() {
  [ -e "$MARKER" ] || { echo "slurm-test-cluster: not this script's cluster" >&2; return 1; }
  pgrep -x slurmctld > /dev/null || $SUDO slurmctld
  wait_for 30 slurmctld scontrol ping
}

status() {
  scontrol ping | grep -q UP && sinfo -h -N -o %T | grep -qE '^(idle|mixed|allocated)'
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) if status; then echo up; else echo down; exit 1; fi ;;
  ours) ours ;;
  ctld-stop) ctld_stop ;;
  ctld-start) ctld_start ;;
  *) echo "usage: $0 start|stop|status|ours|ctld-stop|ctld-start" >&2; exit 2 ;;
esac
