#!/usr/bin/env bash
# Start a local PeerChat demo room in one tmux session: a tracker and N chatting nodes.
# Run with --help for the options.
set -euo pipefail

prog=${0##*/}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
names=(alice bob carol dave erin frank grace heidi ivan judy mallory niaj olivia peggy rupert
    sybil trent victor walter)
max_nodes=64

nodes=4
port=5000
session=peerchat
log_dir=""
data_dir=""
attach=1
kill=0

usage() {
    cat <<EOF
Usage: $prog [-n N] [--port PORT] [--session NAME] [--log-dir DIR] [--data-dir DIR]
       [--no-attach]
       $prog --kill [--session NAME]

Start a local PeerChat room in one tmux session: a tracker ('peerchat tracker
--port PORT', window "tracker") and N nodes ('peerchat --username NAME --tracker
127.0.0.1:PORT'), ready to type in: tiled panes of one window "chat" for N <= 4,
one window per node otherwise. Nodes are named alice, bob, carol, ... then nodeK.

Options:
  -n, --nodes N     number of chat nodes, 1 to $max_nodes (default 4)
  --port PORT       the tracker's port on 127.0.0.1 (default 5000)
  --session NAME    tmux session name (default peerchat)
  --log-dir DIR     each node logs to DIR/peerchat-NAME.log (default: the data
                    directory's logs/, which only you can read)
  --data-dir DIR    each node keeps its key and history in DIR/NAME, the demo's own,
                    not your real ones (default: a new private directory each run,
                    made with mktemp in \${TMPDIR:-/tmp}, and removed by --kill)
  --no-attach       leave the session in the background and print how to attach
  --kill            stop the room: kill the tmux session and everything in it
  -h, --help        show this help

Runs 'peerchat' from PATH, else 'python3 -m peerchat' from $root.
A program that exits leaves its pane open with its last output and exit status;
'tmux respawn-pane -t PANE' starts it again (e.g. a node that quit, to rejoin).
In tmux: click a pane or press Ctrl-b and an arrow key to move between panes,
Ctrl-b n / Ctrl-b p between windows, Ctrl-b d to detach.
EOF
}

usage_error() {
    echo "$prog: $* (see --help)" >&2
    exit 2
}

die() {
    echo "$prog: $*" >&2
    exit 1
}

need_value() {
    [[ $# -ge 2 ]] || usage_error "option $1 needs a value"
}

while (($#)); do
    case $1 in
        --nodes=* | --port=* | --session=* | --log-dir=* | --data-dir=*)
            set -- "${1%%=*}" "${1#*=}" "${@:2}"
            continue
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        -n | --nodes)
            need_value "$@"
            nodes=$2
            shift 2
            ;;
        -n?*)
            nodes=${1#-n}
            shift
            ;;
        --port)
            need_value "$@"
            port=$2
            shift 2
            ;;
        --session)
            need_value "$@"
            session=$2
            shift 2
            ;;
        --log-dir)
            need_value "$@"
            log_dir=$2
            shift 2
            ;;
        --data-dir)
            need_value "$@"
            data_dir=$2
            shift 2
            ;;
        --no-attach)
            attach=0
            shift
            ;;
        --kill)
            kill=1
            shift
            ;;
        -*) usage_error "unknown option '$1'" ;;
        *) usage_error "unexpected argument '$1'" ;;
    esac
done

if ! [[ $nodes =~ ^[0-9]{1,4}$ ]] || ((10#$nodes < 1 || 10#$nodes > max_nodes)); then
    usage_error "--nodes must be a whole number from 1 to $max_nodes, not '$nodes'"
fi
nodes=$((10#$nodes))
if ! [[ $port =~ ^[0-9]{1,5}$ ]] || ((10#$port < 1 || 10#$port > 65535)); then
    usage_error "--port must be a port number from 1 to 65535, not '$port'"
fi
port=$((10#$port))
if ! [[ $session =~ ^[A-Za-z0-9_-]+$ ]]; then
    usage_error "--session must be letters, digits, '_' or '-', not '$session'"
fi

command -v tmux >/dev/null 2>&1 ||
    die "tmux is not installed; install it first (e.g. 'apt-get install tmux' or 'brew install tmux')"

# How to repeat this script's session choice in the hints it prints.
again="$0"
[[ $session == peerchat ]] || again+=" --session $session"

session_exists() {
    tmux has-session -t "=$session" 2>/dev/null
}

if ((kill)); then
    if session_exists; then
        # The directory the start made for the demo, if it made one: removed once every
        # program in the session has ended (each writes to it as it goes).
        made=$(tmux show-environment -t "=$session" PEERCHAT_DEMO_DIR 2>/dev/null) || made=""
        made=${made#PEERCHAT_DEMO_DIR=}
        pids=$(tmux list-panes -s -t "=$session" -F '#{pane_pid}' 2>/dev/null) || pids=""
        tmux kill-session -t "=$session"
        for ((i = 0; i < 100; i++)); do
            alive=0
            for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive=1; done
            ((alive)) || break
            sleep 0.1
        done
        echo "stopped tmux session '$session'"
        if [[ $made == */peerchat-demo.* && -d $made ]]; then
            rm -rf -- "$made" && echo "removed the demo's data and logs, $made"
        fi
    else
        echo "no tmux session '$session' is running; nothing to stop"
    fi
    exit 0
fi

if session_exists; then
    die "tmux session '$session' already exists: attach with 'tmux attach -t $session' or stop it with '$again --kill'"
fi

# A demo's own keys and history: neither the user's real ones nor an earlier demo's, in a
# directory nobody else can have made first.
made=""
if [[ -z $data_dir ]]; then
    data_dir=$(mktemp -d "${TMPDIR:-/tmp}/peerchat-demo.XXXXXX") ||
        die "cannot make a directory for the demo's data in ${TMPDIR:-/tmp}"
    made=$data_dir
fi
if [[ -z $log_dir ]]; then # (in /tmp under fixed names, anyone could read them: a trial)
    log_dir=$data_dir/logs
    mkdir -p -m 700 "$log_dir" || die "cannot make '$log_dir' for the logs"
fi
[[ -d $log_dir && -w $log_dir ]] || die "--log-dir '$log_dir' is not a writable directory"
log_dir=$(cd "$log_dir" && pwd)

# The program to run. Absolute paths, because a tmux server that is already running keeps the
# PATH it was started with, not ours.
if peerchat=$(command -v peerchat); then
    run=("$peerchat")
else
    python=$(command -v python3) || die "neither 'peerchat' nor 'python3' is on PATH"
    (cd "$root" && "$python" -c 'import peerchat.cli') >/dev/null 2>&1 ||
        die "'peerchat' is not on PATH and 'python3 -m peerchat' cannot start in $root (try: pip install -e '$root')"
    run=("$python" -m peerchat)
fi

# Is anything listening on TCP port $1? On Linux, ask the kernel's socket table rather than
# connect, so that the tracker does not log a visitor that never said hello.
listening() {
    local tables=() table hex
    for table in /proc/net/tcp /proc/net/tcp6; do
        [[ -r $table ]] && tables+=("$table")
    done
    if ((${#tables[@]} == 0)); then
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
        return
    fi
    printf -v hex ':%04X' "$1"
    # Fields: sl local_address rem_address st ...; st 0A is LISTEN.
    awk -v port="$hex" '$4 == "0A" && substr($2, length($2) - 4) == port { found = 1 }
        END { exit !found }' "${tables[@]}"
}

listening "$port" && die "port $port is already in use (another tracker running?); choose one with --port"

# A pane's shell command: run in the repo root (for 'python3 -m peerchat'), replacing the shell.
pane_command() {
    local quoted
    printf -v quoted ' %q' "$@"
    printf 'cd %q && exec%s' "$root" "$quoted"
}

node_name() { # 1-based
    if (($1 <= ${#names[@]})); then echo "${names[$1 - 1]}"; else echo "node$1"; fi
}

# Until the room is up, a failure takes the half-built session down with it.
started=0
cleanup() {
    ((started)) && return
    tmux kill-session -t "=$session" 2>/dev/null || true
    [[ -n $made ]] && rm -rf -- "$made" # (its programs, if any began, are ended with it)
    return 0
}
trap cleanup EXIT

placeholder='exec sleep 86400'

# Every pane starts with a placeholder that the real program replaces (respawn-pane) once its
# window's options are set and its layout is final: remain-on-exit is on before the program can
# exit, and no program starts in a pane that is still being resized.
set_window_options() { # window-id
    tmux set-option -w -t "$1" remain-on-exit on \; \
        set-option -w -t "$1" pane-border-status top \; \
        set-option -w -t "$1" pane-border-format ' #{pane_title} '
}

start() { # pane-id title command
    tmux select-pane -t "$1" -T "$2" \; respawn-pane -k -t "$1" "$3"
}

pane_status() { # one line about a pane: its exit status, if dead, and its last line of output
    local status last
    status=$(tmux display-message -p -t "$1" \
        '#{?pane_dead,exited#{?pane_dead_status, with status #{pane_dead_status},},still running}')
    last=$(tmux capture-pane -p -t "$1" | awk 'NF && !/^Pane is dead/ { line = $0 } END { print line }')
    echo "$status${last:+; last output: $last}"
}

ids=$(tmux new-session -d -s "$session" -n tracker -x 200 -y 50 -P \
    -F '#{session_id} #{window_id} #{pane_id}' "$placeholder")
read -r session_id tracker_window tracker_pane <<<"$ids"
tmux set-option -t "$session_id" mouse on
[[ -n $made ]] && tmux set-environment -t "$session_id" PEERCHAT_DEMO_DIR "$made"
set_window_options "$tracker_window"
start "$tracker_pane" tracker "$(pane_command "${run[@]}" tracker --port "$port" \
    --data-dir "$data_dir/tracker")"

# The nodes' panes: tiled in one window for up to 4 nodes, else a window each.
node_panes=()
for ((k = 1; k <= nodes; k++)); do
    if ((nodes <= 4 && k > 1)); then
        pane=$(tmux split-window -d -t "$pane" -P -F '#{pane_id}' "$placeholder")
        tmux select-layout -t "$pane" tiled >/dev/null
    else
        ((nodes <= 4)) && window_name=chat || window_name=$(node_name "$k")
        ids=$(tmux new-window -d -t "$session_id:" -n "$window_name" -P \
            -F '#{window_id} #{pane_id}' "$placeholder")
        read -r window pane <<<"$ids"
        set_window_options "$window"
    fi
    node_panes+=("$pane")
done
tmux select-window -t "${node_panes[0]}" \; select-pane -t "${node_panes[0]}"

# Nodes start once the tracker listens: poll for up to 5 s.
for ((i = 0; ; i++)); do
    listening "$port" && break
    if [[ $(tmux display-message -p -t "$tracker_pane" '#{pane_dead}') == 1 ]] || ((i >= 50)); then
        die "the tracker is not listening on 127.0.0.1:$port: $(pane_status "$tracker_pane")"
    fi
    sleep 0.1
done

all_names=()
for ((k = 1; k <= nodes; k++)); do
    name=$(node_name "$k")
    all_names+=("$name")
    start "${node_panes[k - 1]}" "$name" "$(pane_command "${run[@]}" --username "$name" \
        --tracker "127.0.0.1:$port" --log-file "$log_dir/peerchat-$name.log" \
        --data-dir "$data_dir/$name")"
done
started=1

echo "PeerChat room in tmux session '$session': tracker on 127.0.0.1:$port, nodes ${all_names[*]}"
echo "  logs:   $log_dir/peerchat-NAME.log"
echo "  data:   $data_dir/NAME (keys and history of this demo's nodes)"
echo "  stop:   $again --kill"
if ((attach)) && [[ -t 0 && -t 1 ]]; then
    if [[ -n ${TMUX:-} ]]; then
        exec tmux switch-client -t "=$session"
    fi
    exec tmux attach-session -t "=$session"
fi
((attach)) && echo "  (no terminal here, so not attaching)"
echo "  attach: tmux attach -t $session"
