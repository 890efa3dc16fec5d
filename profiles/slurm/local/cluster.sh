#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine, bound to localhost, to run the workflow through
# profiles/slurm before booking a cluster (README: "Try it on one machine").
#
#   profiles/slurm/local/cluster.sh start    # installs Debian's packages if missing (as root), starts the daemons,
#                                            # waits until the node is idle, prints the SLURM_CONF line to export
#   profiles/slurm/local/cluster.sh status   # sinfo and the daemons' pids
#   profiles/slurm/local/cluster.sh stop     # cancels its jobs and stops every daemon it started, by pid
#
# Daemons: munged, MariaDB (accounting database), slurmdbd (accounting: the executor asks sacct for job
# states), slurmctld, slurmd. One node with this machine's cores and most of its memory, a `cpu` partition
# and a `gpu` partition on the same node whose one "GPU" is /dev/null: the paper profile's GPU requests
# (--gpus=1) are scheduled as on a cluster, and the jobs run on the CPU.
# Everything lives in $A3T_SLURM_DIR (default /tmp/a3t-slurm-$UID); ports $A3T_SLURM_PORT .. +3 (default
# 16817: slurmctld, slurmd, slurmdbd, MariaDB); $A3T_SLURM_MIN_JOB_AGE: how long slurmctld (and so squeue) keeps
# an ended job, in seconds (default 300, SLURM's). A daemon that cannot start gives one line: which, and why.
set -euo pipefail

DIR=${A3T_SLURM_DIR:-/tmp/a3t-slurm-$(id -u)}
PORT=${A3T_SLURM_PORT:-16817}
MIN_JOB_AGE=${A3T_SLURM_MIN_JOB_AGE:-300}
CTLD_PORT=$PORT SLURMD_PORT=$((PORT + 1)) DBD_PORT=$((PORT + 2)) DB_PORT=$((PORT + 3))
DAEMONS=(munged mariadbd slurmdbd slurmctld slurmd)  # in start order; stopped in reverse
PACKAGES=(munge mariadb-server slurmdbd slurmctld slurmd slurm-client)
COMMANDS=(munged munge mariadbd mariadb-install-db mariadb mariadb-admin slurmdbd slurmctld slurmd sbatch sacct sinfo scontrol)
export SLURM_CONF=$DIR/etc/slurm.conf
# The srun that runs each job's command finds no SLURM_CONF (the executor's job step drops SLURM_* variables from
# its environment): it reads the default path, which links to this cluster's config while it runs.
SYSTEM_CONF=/etc/slurm/slurm.conf

say() { echo "local SLURM: $*" >&2; }

# The last error line a daemon wrote (its log, then what it printed), for the one line that says why.
why() {
    local name=$1 line=""
    for f in "$DIR/$name.log" "$DIR/$name.out"; do
        [[ -s $f ]] && line=$(grep -iE "error|fatal|fail|denied|cannot|unable" "$f" | grep -v "mpi/pmix\|MPI: Cannot" | tail -n 1 || true)
        [[ -n $line ]] && break
    done
    [[ -z $line && -s "$DIR/$name.out" ]] && line=$(tail -n 1 "$DIR/$name.out")
    echo "${line:-no message (see $DIR/$name.log)}"
}

running() {  # the daemon $1 that this script started is alive
    local pidfile="$DIR/$1.mypid"
    [[ -s $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

install_packages() {
    local missing=()
    for c in "${COMMANDS[@]}"; do command -v "$c" >/dev/null || missing+=("$c"); done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
        say "cannot start: ${missing[*]} not installed, and installing Debian's ${PACKAGES[*]} needs root and apt-get"
        exit 1
    fi
    mkdir -p "$DIR"
    say "installing ${PACKAGES[*]} (apt-get; log in $DIR/apt.log)"
    if ! { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"; } \
        >"$DIR/apt.log" 2>&1; then
        say "cannot start: apt-get install ${PACKAGES[*]} failed: $(grep -E '^E:' "$DIR/apt.log" | tail -n 1)"
        exit 1
    fi
}

write_configs() {
    local host mem_mb
    host=$(hostname -s)
    mem_mb=$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)
    mem_mb=$((mem_mb > 6144 ? mem_mb - 4096 : mem_mb / 2))  # leave the system and the scheduler's own processes room
    mkdir -p "$DIR/etc" "$DIR/state" "$DIR/spool"
    cat >"$DIR/etc/slurm.conf" <<EOF
# Written by profiles/slurm/local/cluster.sh: one node ($host), localhost only.
ClusterName=a3tlocal
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=$(id -un)
SlurmdUser=$(id -un)
AuthType=auth/munge
AuthInfo=socket=$DIR/munge.sock
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$DBD_PORT
AccountingStoragePass=$DIR/munge.sock
AccountingStorageTRES=gres/gpu
AccountingStoreFlags=job_comment
JobAcctGatherType=jobacct_gather/linux
MinJobAge=$MIN_JOB_AGE
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$mem_mb Gres=gpu:1 State=UNKNOWN
PartitionName=cpu Nodes=$host Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$host MaxTime=INFINITE State=UP
EOF
    echo "Name=gpu File=/dev/null  # the gpu partition's one GPU: jobs that ask for it run on the CPU" >"$DIR/etc/gres.conf"
    cat >"$DIR/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$DIR/munge.sock
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=$(id -un)
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=a3t-local
StorageLoc=slurm_acct_db
PidFile=$DIR/slurmdbd.pid
LogFile=$DIR/slurmdbd.log
EOF
    chmod 600 "$DIR/etc/slurmdbd.conf"  # slurmdbd refuses a readable one
}

launch() {  # name, command...: started in its own session, its pid recorded, its output in $DIR/<name>.out
    local name=$1
    shift
    setsid "$@" >"$DIR/$name.out" 2>&1 </dev/null &
    echo $! >"$DIR/$name.mypid"
}

wait_for() {  # name, seconds, check command...: until the check passes, or the daemon died, or time is up
    local name=$1 seconds=$2
    shift 2
    for _ in $(seq $((seconds * 4))); do
        "$@" >/dev/null 2>&1 && return 0
        running "$name" || break
        sleep 0.25
    done
    say "$name did not start: $(why "$name")"
    stop
    exit 1
}

foreign_system_conf() {  # $SYSTEM_CONF exists and is no link to a cluster of this script's (a stale one is fine)
    [[ -e $SYSTEM_CONF || -L $SYSTEM_CONF ]] || return 1
    [[ -L $SYSTEM_CONF ]] || return 0
    local target
    target=$(readlink "$SYSTEM_CONF")
    [[ ! -e $target || -e $(dirname "$(dirname "$target")")/.a3t-slurm ]] && return 1
    return 0
}

node_idle() { [[ $(sinfo -h -N -o %T 2>/dev/null | sort -u) == idle ]]; }

start() {
    if running slurmd && node_idle; then
        say "already running ($DIR)"
        echo "export SLURM_CONF=$SLURM_CONF"
        return 0
    fi
    if [[ -e $DIR && ! -e $DIR/.a3t-slurm ]]; then
        say "cannot start: $DIR exists and was not made by this script (set A3T_SLURM_DIR)"
        exit 1
    fi
    install_packages
    [[ -e $DIR/.a3t-slurm ]] && stop >/dev/null 2>&1
    for p in $CTLD_PORT $SLURMD_PORT $DBD_PORT $DB_PORT; do
        if port_in_use "$p"; then
            say "cannot start: port $p is in use (set A3T_SLURM_PORT to a free range of 4)"
            exit 1
        fi
    done
    if foreign_system_conf; then
        say "cannot start: $SYSTEM_CONF exists (this machine has a SLURM of its own), and the jobs' srun would read it"
        exit 1
    fi
    rm -rf "$DIR"
    mkdir -p "$DIR"
    chmod 711 "$DIR"  # munged wants its socket's folder searchable
    touch "$DIR/.a3t-slurm"
    write_configs
    if ! { mkdir -p "$(dirname "$SYSTEM_CONF")" && ln -sfn "$SLURM_CONF" "$SYSTEM_CONF"; } 2>/dev/null; then
        say "cannot start: cannot link $SYSTEM_CONF to $SLURM_CONF (run as root)"
        exit 1
    fi

    head -c 1024 /dev/urandom >"$DIR/munge.key"
    chmod 400 "$DIR/munge.key"
    launch munged munged --foreground --force --socket="$DIR/munge.sock" --key-file="$DIR/munge.key" \
        --log-file="$DIR/munged.log" --pid-file="$DIR/munged.pid" --seed-file="$DIR/munged.seed"
    wait_for munged 10 bash -c "munge -S '$DIR/munge.sock' -n | unmunge -S '$DIR/munge.sock'"

    mariadb-install-db --no-defaults --datadir="$DIR/mysql" --user="$(id -un)" --auth-root-authentication-method=socket \
        --skip-test-db >"$DIR/mariadbd.out" 2>&1 || { say "mariadbd did not start: $(why mariadbd)"; stop; exit 1; }
    launch mariadbd mariadbd --no-defaults --datadir="$DIR/mysql" --socket="$DIR/mysql.sock" --port="$DB_PORT" \
        --bind-address=127.0.0.1 --user="$(id -un)" --pid-file="$DIR/mysql.pid" --log-error="$DIR/mariadbd.log" \
        --skip-log-bin --innodb-buffer-pool-size=256M --innodb-lock-wait-timeout=900
    wait_for mariadbd 30 mariadb-admin --socket="$DIR/mysql.sock" -u root ping
    mariadb --socket="$DIR/mysql.sock" -u root -e \
        "CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'a3t-local'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"

    launch slurmdbd slurmdbd -D  # finds slurmdbd.conf beside $SLURM_CONF
    wait_for slurmdbd 30 port_in_use "$DBD_PORT"
    launch slurmctld slurmctld -D -i -f "$SLURM_CONF"
    wait_for slurmctld 30 scontrol ping
    launch slurmd slurmd -D -f "$SLURM_CONF"
    wait_for slurmd 60 node_idle
    say "up: node $(hostname -s), partitions cpu and gpu, $(nproc) cores ($DIR)"
    echo "export SLURM_CONF=$SLURM_CONF"
}

stop() {
    if running slurmctld; then
        scancel --user="$(id -un)" >/dev/null 2>&1 || true
        sleep 1
    fi
    local i name pid
    for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do
        name=${DAEMONS[i]}
        running "$name" || { rm -f "$DIR/$name.mypid"; continue; }
        pid=$(cat "$DIR/$name.mypid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$DIR/$name.mypid"
    done
    [[ $(readlink "$SYSTEM_CONF" 2>/dev/null) == "$SLURM_CONF" ]] && rm -f "$SYSTEM_CONF"
    say "stopped ($DIR)"
}

status() {
    for name in "${DAEMONS[@]}"; do
        if running "$name"; then echo "$name: running, pid $(cat "$DIR/$name.mypid")"; else echo "$name: not running"; fi
    done
    running slurmctld && sinfo
}

case ${1:-} in
start) start ;;
stop) stop ;;
status) status ;;
*)
    echo "usage: $0 start|stop|status   (state in \$A3T_SLURM_DIR, default /tmp/a3t-slurm-\$UID)" >&2
    exit 2
    ;;
esac
