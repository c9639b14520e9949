#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for tests and trying `audiofaith submit`:
#   scripts/slurm_local.sh start    write a slurm.conf, start munged, slurmctld and slurmd (as root)
#   scripts/slurm_local.sh stop     stop the daemons this script started (their pid files)
#   scripts/slurm_local.sh status   whether the cluster answers; prints the export line for SLURM_CONF
#   scripts/slurm_local.sh install  apt-get install slurm-wlm and munge (Debian) if they are missing
#   scripts/slurm_local.sh run CMD  start the cluster unless it is up, run CMD with SLURM_CONF set, then stop
#                                   the daemons this call started (also when CMD fails or is interrupted)
# Everything (config, munge key and socket, state and spool, logs) lives in SLURM_LOCAL_DIR
# (default /tmp/audiofaith-slurm); nothing is written to /etc. Clients find the cluster through
# SLURM_CONF=$SLURM_LOCAL_DIR/slurm.conf (`eval "$(scripts/slurm_local.sh env)"`).
# The node offers SLURM_LOCAL_CPUS CPUs (default: all of nproc), so jobs asking one CPU each never
# over-commit the machine. Ports SLURM_LOCAL_PORT (slurmctld) and SLURM_LOCAL_PORT+1 (slurmd).
set -euo pipefail

DIR="${SLURM_LOCAL_DIR:-/tmp/audiofaith-slurm}"
CPUS="${SLURM_LOCAL_CPUS:-$(nproc)}"
PORT="${SLURM_LOCAL_PORT:-16817}"
NODE="$(hostname -s)"
CONF="$DIR/slurm.conf"

usage() {
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
}

install() {
    if command -v slurmctld >/dev/null 2>&1 && command -v munged >/dev/null 2>&1 && command -v sbatch >/dev/null 2>&1; then
        return 0
    fi
    echo "slurm_local: installing slurm-wlm and munge (apt-get)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq slurm-wlm munge >/dev/null
}

write_conf() {
    local memory
    memory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
    mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log"
    chmod 700 "$DIR"
    cat > "$CONF" <<EOF
# One-node test cluster written by scripts/slurm_local.sh; not for production.
ClusterName=audiofaith-local
SlurmctldHost=$NODE
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire is also how long a requeued job waits before it may start again (default 120 s)
AuthInfo=socket=$DIR/munge.socket,cred_expire=10
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
# No cgroups: processes are tracked through /proc, tasks are not bound to CPUs.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# Jobs share the node by CPU: each job gets the CPUs it asks for (--cpus-per-task), never more than the node has.
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
ReturnToService=2
# Short waits: a cancelled job is killed 2 s after SIGTERM; finished jobs stay visible to squeue/scontrol 10 min.
KillWait=2
MinJobAge=600
JobRequeue=1
MpiDefault=none
NodeName=$NODE CPUs=$CPUS RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
}

running() {  # NAME: its pid file names a live process
    local pidfile="$DIR/$1.pid"
    [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

start() {
    install
    write_conf
    if ! running munged; then
        if [[ ! -f "$DIR/munge.key" ]]; then
            dd if=/dev/urandom of="$DIR/munge.key" bs=1024 count=1 status=none
            chmod 400 "$DIR/munge.key"
        fi
        munged --force --key-file="$DIR/munge.key" --socket="$DIR/munge.socket" --pid-file="$DIR/munged.pid" \
            --log-file="$DIR/log/munged.log" --seed-file="$DIR/munge.seed"
    fi
    export SLURM_CONF="$CONF"
    running slurmctld || slurmctld -c -f "$CONF"
    running slurmd || slurmd -f "$CONF"
    local tries=0
    until sinfo -h -o "%T" 2>/dev/null | grep -Eq "^idle|^mixed|^allocated"; do
        tries=$((tries + 1))
        if [[ $tries -gt 60 ]]; then
            echo "slurm_local: the node did not come up in 30 s; logs in $DIR/log" >&2
            tail -n 20 "$DIR"/log/*.log >&2 || true
            exit 1
        fi
        sleep 0.5
    done
    echo "slurm_local: one node ($NODE, $CPUS CPUs) up; export SLURM_CONF=$CONF" >&2
}

stop() {
    local name pid
    for name in slurmd slurmctld munged; do
        if running "$name"; then
            pid="$(cat "$DIR/$name.pid")"
            kill "$pid"
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
        fi
        rm -f "$DIR/$name.pid"
    done
    echo "slurm_local: stopped" >&2
}

up() {
    [[ -f "$CONF" ]] && SLURM_CONF="$CONF" scontrol ping 2>/dev/null | grep -q UP
}

run() {
    local started=""
    if ! up; then
        start
        started=1
    fi
    # shellcheck disable=SC2064
    trap "if [[ -n '$started' ]]; then stop; fi" EXIT
    SLURM_CONF="$CONF" "$@"
}

case "${1:-}" in
    start) start ;;
    run) shift; run "$@" ;;
    stop) stop ;;
    install) install ;;
    env) echo "export SLURM_CONF=$CONF" ;;
    status)
        if up; then
            echo "up: export SLURM_CONF=$CONF"
        else
            echo "down"
            exit 1
        fi ;;
    -h | --help) usage ;;
    *) usage >&2; exit 2 ;;
esac
