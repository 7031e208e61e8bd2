#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for the tests of the `slurm`
# evaluator and for trying it out: munged, slurmctld and slurmd started by
# hand (no systemd), everything as root, ProctrackType=proctrack/linuxproc,
# no accounting database (the evaluator reads job states from squeue).
#
#   scripts/slurm-test-cluster.sh start    # installs slurm-wlm and munge with apt-get if missing
#   scripts/slurm-test-cluster.sh stop
#   scripts/slurm-test-cluster.sh status
#
# Needs root (or passwordless sudo). The node has every CPU of the machine;
# one partition, `debug` (the default). Config, logs and state live under
# /tmp/nas-search-slurm (SLURM_TEST_DIR); /etc/slurm/slurm.conf points there.
# Finished jobs stay visible to `squeue --states=all` for MinJobAge=600 s.
set -euo pipefail
DIR=${SLURM_TEST_DIR:-/tmp/nas-search-slurm}
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
  $SUDO mkdir -p "$DIR/state" "$DIR/spool" /etc/slurm
  $SUDO tee /etc/slurm/slurm.conf > /dev/null <<EOF
ClusterName=nastest
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
MaxArraySize=5001
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

start() {
  install
  if status > /dev/null 2>&1; then
    echo "slurm-test-cluster: already running" >&2
    return 0
  fi
  configure
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
  $SUDO pkill -x slurmd 2> /dev/null || true
  $SUDO pkill -x slurmctld 2> /dev/null || true
  $SUDO pkill -x munged 2> /dev/null || true
  for _ in $(seq 1 50); do
    pgrep -x slurmd > /dev/null || pgrep -x slurmctld > /dev/null || pgrep -x munged > /dev/null || break
    sleep 0.2
  done
  $SUDO rm -rf "$DIR/state" "$DIR/spool"
  echo "slurm-test-cluster: stopped" >&2
}

status() {
  scontrol ping | grep -q UP && sinfo -h -N -o %T | grep -qE '^(idle|mixed|allocated)'
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) if status; then echo up; else echo down; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
