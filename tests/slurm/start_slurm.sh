#!/usr/bin/env bash
# Install (if missing) and start a real single-node Slurm on localhost: munge + slurmctld + slurmd.
#
# Idempotent: re-running it where this script's Slurm already answers does nothing but check it.
# Needs root (it installs Debian packages and starts daemons; no systemd is assumed).
#
#   bash tests/slurm/start_slurm.sh          # install, configure, start, wait until the node is idle
#   bash tests/slurm/start_slurm.sh --stop   # stop the daemons this script started
#
# The emulated node advertises SLURM_NODE_CPUS CPUs (default 16) and SLURM_NODE_MEM_MB MB (default 65536)
# with `SlurmdParameters=config_overrides`, so profiles written for real cluster nodes submit unchanged
# (TaskPlugin=task/none: jobs are not pinned, they simply share the real cores), and one generic GPU GRES
# (no device file) so that `--gpus=1` jobs are accepted and scheduled.  Two partitions share the node:
# `cpu` (default) and `gpu`, the names used in profiles/slurm/config.yaml.
#
# No system file is written: slurm.conf, gres.conf, state, spool, pid and log files all live in a private
# directory, AMORPHOUS_ML_SLURM_DIR (default /tmp/amorphous-ml-slurm), and the daemons are started with
# `-f $AMORPHOUS_ML_SLURM_DIR/slurm.conf`. Clients (sbatch, squeue, scontrol, Snakemake's executor) find
# it through SLURM_CONF=$AMORPHOUS_ML_SLURM_DIR/slurm.conf, which tests/slurm_cluster.py sets. Munge keeps
# the key its Debian package installed (one is generated only if the package left none).
#
# Exit status 0: Slurm runs and the node is idle; 2: the packages cannot be installed (not root / no
# apt-get / no registry); 1: anything else failed (the daemon logs in the private directory are printed).
set -euo pipefail

SLURM_DIR=${AMORPHOUS_ML_SLURM_DIR:-/tmp/amorphous-ml-slurm}
LOG_DIR=$SLURM_DIR/log
CONF=$SLURM_DIR/slurm.conf
RUN_DIR=$SLURM_DIR/run
export SLURM_CONF=$CONF  # for scontrol and sinfo below
NODE_CPUS=${SLURM_NODE_CPUS:-16}
NODE_MEM_MB=${SLURM_NODE_MEM_MB:-65536}

say() { echo "start_slurm: $*" >&2; }

stop_daemons() {
    for pidfile in "$RUN_DIR/slurmd.pid" "$RUN_DIR/slurmctld.pid"; do
        if [[ -s $pidfile ]]; then
            pid=$(cat "$pidfile")
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            rm -f "$pidfile"
        fi
    done
    if [[ -e $RUN_DIR/munged.started ]]; then  # only a munged this script started
        pid=$(cat /run/munge/munged.pid 2>/dev/null || true)
        [[ -n $pid ]] && kill "$pid" 2>/dev/null || true
        rm -f "$RUN_DIR/munged.started"
    fi
}

if [[ ${1:-} == "--stop" ]]; then
    stop_daemons
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    say "must run as root to install and start Slurm (uid $(id -u))"
    exit 2
fi

# ---- 1. packages -----------------------------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
    || ! command -v munged >/dev/null; then
    if ! command -v apt-get >/dev/null; then
        say "apt-get not found: cannot install slurm-wlm and munge"
        exit 2
    fi
    say "installing slurmctld slurmd slurm-client munge (Debian packages)"
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends \
        slurmctld slurmd slurm-client munge; } >/tmp/start_slurm_apt.log 2>&1; then
        tail -20 /tmp/start_slurm_apt.log >&2
        say "apt-get install of slurm-wlm/munge failed"
        exit 2
    fi
fi

# ---- 2. munge ----------------------------------------------------------------------------------------
mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
if [[ ! -s /etc/munge/munge.key ]]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
chmod 700 /etc/munge
chmod 400 /etc/munge/munge.key
chmod 755 /run/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    say "starting munged"
    runuser -u munge -- /usr/sbin/munged --force
    mkdir -p "$RUN_DIR" && : >"$RUN_DIR/munged.started"
    for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
    munge -n | unmunge >/dev/null
fi

# ---- 3. slurm.conf -----------------------------------------------------------------------------------
HOST=$(hostname -s)
mkdir -p "$SLURM_DIR/state" "$SLURM_DIR/spool" "$LOG_DIR" "$RUN_DIR"
conf_text=$(cat <<EOF
# Written by tests/slurm/start_slurm.sh: a single-node Slurm on localhost for integration tests.
ClusterName=amorphous-ml-ci
SlurmctldHost=${HOST}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
GresTypes=gpu
ReturnToService=2
SlurmdParameters=config_overrides
StateSaveLocation=${SLURM_DIR}/state
SlurmdSpoolDir=${SLURM_DIR}/spool
SlurmctldPidFile=${RUN_DIR}/slurmctld.pid
SlurmdPidFile=${RUN_DIR}/slurmd.pid
SlurmctldLogFile=${LOG_DIR}/slurmctld.log
SlurmdLogFile=${LOG_DIR}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MinJobAge=600
InactiveLimit=0
KillWait=5
Waittime=0
NodeName=${HOST} NodeAddr=127.0.0.1 CPUs=${NODE_CPUS} RealMemory=${NODE_MEM_MB} Gres=gpu:1 State=UNKNOWN
PartitionName=cpu Nodes=${HOST} Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
PartitionName=gpu Nodes=${HOST} Default=NO MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
)
# Slurm drops GPUs without a device file; a plain file stands in (task/none: nothing is constrained by it)
FAKE_GPU=$SLURM_DIR/spool/fake-gpu0
[[ -e $FAKE_GPU ]] || : >"$FAKE_GPU"
gres_text="NodeName=${HOST} Name=gpu File=${FAKE_GPU}"
changed=0
if [[ ! -f $CONF ]] || [[ $(cat "$CONF") != "$conf_text" ]]; then
    printf '%s\n' "$conf_text" >"$CONF"
    changed=1
fi
GRES=$SLURM_DIR/gres.conf  # Slurm reads gres.conf from the directory of slurm.conf
if [[ ! -f $GRES ]] || [[ $(cat "$GRES") != "$gres_text" ]]; then
    printf '%s\n' "$gres_text" >"$GRES"
    changed=1
fi
chmod 644 "$CONF" "$GRES"

running() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

if [[ $changed -eq 1 ]] && { running "$RUN_DIR/slurmctld.pid" || running "$RUN_DIR/slurmd.pid"; }; then
    say "slurm.conf changed: restarting the daemons"
    for pidfile in "$RUN_DIR/slurmd.pid" "$RUN_DIR/slurmctld.pid"; do
        if running "$pidfile"; then
            pid=$(cat "$pidfile"); kill "$pid"
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        fi
    done
fi

# ---- 4. daemons --------------------------------------------------------------------------------------
if ! running "$RUN_DIR/slurmctld.pid"; then
    say "starting slurmctld (config $CONF)"
    /usr/sbin/slurmctld -f "$CONF" -i  # -i: ignore state files left by an earlier run with another config
fi
for _ in $(seq 100); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.1; done
if ! running "$RUN_DIR/slurmd.pid"; then
    say "starting slurmd"
    /usr/sbin/slurmd -f "$CONF"
fi

# ---- 5. wait until the node takes jobs ------------------------------------------------------------------
for _ in $(seq 300); do
    state=$(sinfo -h -n "$HOST" -o %T 2>/dev/null | head -1 || true)
    case $state in
        idle|mixed|allocated) break ;;
        down*|drain*|fail*) scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true ;;
    esac
    sleep 0.2
done
state=$(sinfo -h -n "$HOST" -o %T 2>/dev/null | head -1 || true)
case $state in
    idle|mixed|allocated)
        say "Slurm is up: node $HOST ($state), partitions: $(sinfo -h -o %P | tr '\n' ' ')"
        ;;
    *)
        say "the node did not become idle (state '${state}')"
        tail -n 20 "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log" >&2 || true
        exit 1
        ;;
esac
