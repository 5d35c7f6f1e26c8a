# Helpers for the sync integration tests (tests/integration/sync_*.sh): nodes in a private
# temporary directory, `twin serve` on an ephemeral port of 127.0.0.1, bounded waits, and the
# checks every sync test repeats. Every background process is stopped when the script exits.
#
# Nodes are named by short words (north, south, a, b...); a node's data directory is
# $SYNC_TMP/NAME. CTest sets TWIN; run by hand, the default build directory is used.

if [ -z "${TWIN:-}" ]; then
    TWIN="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)/build/twin"
fi
if [ ! -x "$TWIN" ]; then
    echo "FAIL: no twin binary at $TWIN (build first, or set TWIN)" >&2
    exit 1
fi

SYNC_TEST=$(basename "$0" .sh)
# Nodes write with fsync; on tmpfs (where fsync costs nothing) the tests run several times faster.
# A process kill, which is what the tests simulate, loses no page cache, so nothing they check
# depends on the disk. TWIN_TEST_TMPDIR chooses another place.
if [ -z "${TWIN_TEST_TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
    TWIN_TEST_TMPDIR=/dev/shm
fi
SYNC_TMP=$(mktemp -d "${TWIN_TEST_TMPDIR:-${TMPDIR:-/tmp}}/twin-$SYNC_TEST.XXXXXX")
SYNC_CALL_TIMEOUT=${SYNC_CALL_TIMEOUT:-60} # seconds any one twin or git call may take
SYNC_SERVE_MAX=${SYNC_SERVE_MAX:-400}      # a serve left behind by a killed test ends by itself
SYNC_BG_PIDS=()                            # other background jobs, killed on exit

declare -A NODE_ORG NODE_COUNTRY NODE_SIDE NODE_LABEL NODE_KEY
declare -A SERVE_PID SERVE_PORT SERVE_LOG

# Private HOME and no user or system git configuration: nothing on the machine changes a test.
export HOME="$SYNC_TMP/home"
export GIT_CONFIG_NOSYSTEM=1
export GIT_CONFIG_GLOBAL=/dev/null
export TZ=UTC LC_ALL=C
unset TWIN_DIR GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE
mkdir -p "$HOME"

sync_cleanup() {
    local status=$? name pid
    for name in "${!SERVE_PID[@]}"; do
        pid=${SERVE_PID[$name]}
        # timeout(1) runs serve in its own process group: end the group.
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    done
    for pid in "${SYNC_BG_PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [ "$status" -ne 0 ]; then
        for name in "${!SERVE_LOG[@]}"; do
            echo "--- serve log of $name (last 30 lines):" >&2
            tail -n 30 "${SERVE_LOG[$name]}" >&2 2>/dev/null || true
        done
        echo "FAILED: $SYNC_TEST (exit $status)" >&2
    fi
    if [ -n "${TWIN_KEEP_TMP:-}" ]; then
        echo "(kept $SYNC_TMP)" >&2
    else
        rm -rf "$SYNC_TMP"
    fi
    exit "$status"
}
trap sync_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
    echo "FAIL [$SYNC_TEST]: $*" >&2
    exit 1
}

check() {
    echo "== $*"
}

note() {
    echo "   $*"
}

# The outcome of the last `run`: exit status, stdout and stderr files.
RUN_STATUS=0
RUN_OUT="$SYNC_TMP/run.out"
RUN_ERR="$SYNC_TMP/run.err"

show_run() {
    echo "--- stdout:" >&2
    head -c 3000 "$RUN_OUT" >&2 || true
    echo "--- stderr:" >&2
    head -c 3000 "$RUN_ERR" >&2 || true
    echo "---" >&2
}

# clean_of_sanitizers FILE WHAT: in a sanitizer build a report exits 1, like a refusal would,
# so every output is searched for one.
clean_of_sanitizers() {
    if grep -q -e 'runtime error: ' -e '^==[0-9]*==ERROR: ' -e '^SUMMARY: [A-Za-z]*Sanitizer' "$1" 2>/dev/null; then
        grep -m 12 -e 'runtime error: ' -e 'ERROR: ' -e '^ *#[0-9]' -e 'SUMMARY: ' "$1" >&2
        fail "sanitizer report from $2"
    fi
}

# run CMD...: runs CMD with a time bound, keeping its status and output; fails the test only on
# a time-out or a sanitizer report.
run() {
    RUN_STATUS=0
    timeout -k 5 "$SYNC_CALL_TIMEOUT" "$@" >"$RUN_OUT" 2>"$RUN_ERR" || RUN_STATUS=$?
    if [ "$RUN_STATUS" -eq 124 ] || [ "$RUN_STATUS" -eq 137 ]; then
        show_run
        fail "timed out after ${SYNC_CALL_TIMEOUT}s: $*"
    fi
    clean_of_sanitizers "$RUN_ERR" "$*"
}

# must CMD...: runs CMD and fails the test unless it exits 0.
must() {
    run "$@"
    if [ "$RUN_STATUS" -ne 0 ]; then
        show_run
        fail "exit $RUN_STATUS from: $*"
    fi
}

# must_exit CODE CMD...
must_exit() {
    local want=$1
    shift
    run "$@"
    if [ "$RUN_STATUS" -ne "$want" ]; then
        show_run
        fail "expected exit $want, got $RUN_STATUS from: $*"
    fi
}

# must_fail CMD...: any non-zero exit that is not a crash (signal) or a time-out.
must_fail() {
    run "$@"
    if [ "$RUN_STATUS" -eq 0 ] || [ "$RUN_STATUS" -gt 125 ]; then
        show_run
        fail "expected a clean failure, got exit $RUN_STATUS from: $*"
    fi
}

out_has() {
    grep -qF -- "$1" "$RUN_OUT" || {
        show_run
        fail "stdout lacks '$1'"
    }
}

err_has() {
    grep -qF -- "$1" "$RUN_ERR" || {
        show_run
        fail "stderr lacks '$1'"
    }
}

# same VALUE EXPECTED WHAT
same() {
    [ "$1" = "$2" ] || fail "$3: expected '$2', got '$1'"
}

# ---- nodes ------------------------------------------------------------------------------------

dir_of() {
    echo "$SYNC_TMP/$1"
}

# tw NAME ARGS...: twin on node NAME, bounded; for command substitutions. A failure ends the test.
tw() {
    local name=$1
    shift
    timeout -k 5 "$SYNC_CALL_TIMEOUT" "$TWIN" --dir "$SYNC_TMP/$name" "$@" ||
        fail "exit $? from: twin --dir $name $*"
}

# ngit NAME ARGS...: git on node NAME's repository.
ngit() {
    local name=$1
    shift
    timeout -k 5 "$SYNC_CALL_TIMEOUT" git --git-dir="$SYNC_TMP/$name/repo.git" "$@"
}

head_of() {
    ngit "$1" rev-parse --verify --quiet refs/heads/main || true
}

# A node's public key, looked up once per process (keys never change).
key_of() {
    if [ -n "${NODE_KEY[$1]:-}" ]; then
        echo "${NODE_KEY[$1]}"
    else
        tw "$1" id | head -n 1
    fi
}

network_of() {
    tw "$1" id | sed -n 's/^network id: *//p'
}

# node_new NAME ORG_ID COUNTRY SIDE [FOUNDER]: founds a network, or with FOUNDER joins its network.
node_new() {
    local name=$1 org=$2 country=$3 side=$4 founder=${5:-}
    NODE_ORG[$name]=$org
    NODE_COUNTRY[$name]=$country
    NODE_SIDE[$name]=$side
    NODE_LABEL[$name]="Ministry $name ($org)"
    if [ -z "$founder" ]; then
        must "$TWIN" --dir "$(dir_of "$name")" init --name "${NODE_LABEL[$name]}" --org-id "$org" \
            --country "$country" --side "$side" --network "Sync Test Network"
    else
        local net
        net=$(network_of "$founder")
        [ -n "$net" ] || fail "no network id from $founder"
        must "$TWIN" --dir "$(dir_of "$name")" init --name "${NODE_LABEL[$name]}" --org-id "$org" \
            --country "$country" --side "$side" --join "$net"
    fi
    NODE_KEY[$name]=$(key_of "$name")
    [[ ${NODE_KEY[$name]} == "ssh-ed25519 "* ]] || fail "twin id on $name printed no key"
}

# node_admit ADMIN NAME [ROLE]: the admin adds node NAME's institution and key as a member.
node_admit() {
    local admin=$1 name=$2 role=${3:-editor} key
    key=$(key_of "$name")
    must "$TWIN" --dir "$(dir_of "$admin")" member add --name "${NODE_LABEL[$name]}" \
        --org-id "${NODE_ORG[$name]}" --country "${NODE_COUNTRY[$name]}" \
        --side "${NODE_SIDE[$name]}" --key "$key" --role "$role"
}

# invite_join INVITER NAME ORG_ID [ROLE]: INVITER makes a one-use invite (default role editor),
# and node NAME joins by it as "Ministry NAME (ORG_ID)", a southern institution in TZ.
invite_join() {
    local inviter=$1 name=$2 org=$3 role=${4:-editor} token
    token=$(tw "$inviter" invite --role "$role" 2>/dev/null)
    must "$TWIN" --dir "$(dir_of "$name")" join "$token" --name "Ministry $name ($org)" \
        --org-id "$org" --country TZ --side south
}

# add_rec NAME TYPE FIELD=VALUE...: adds a record on node NAME; sets REC_ID.
REC_ID=
add_rec() {
    local name=$1
    shift
    must "$TWIN" --dir "$(dir_of "$name")" add "$@"
    REC_ID=$(tail -n 1 "$RUN_OUT")
    [[ $REC_ID =~ ^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$ ]] ||
        fail "twin add on $name printed '$REC_ID', not a record id"
}

# ids_of NAME: every record id the node holds (withdrawn ones too), sorted.
ids_of() {
    tw "$1" list --all --json | jq -r '.[].id' | sort
}

# has_ids NAME FILE: fails unless node NAME holds every id listed in FILE.
has_ids() {
    local missing
    missing=$(comm -23 <(sort -u "$2") <(ids_of "$1"))
    [ -z "$missing" ] || fail "node $1 lacks records: $(echo "$missing" | tr '\n' ' ')"
}

# ---- crafting commits with plain git ---------------------------------------------------------

# craft NODE SIGN PATH FILE MESSAGE: a commit on top of NODE's main that writes FILE at PATH,
# made with plain git; SIGN is "key" (ssh-signed with the node's own key) or "none". Prints its id.
craft() {
    local name=$1 sign=$2 path=$3 file=$4 msg=$5 gd idx blob tree
    gd="$(dir_of "$name")/repo.git"
    idx="$SYNC_TMP/index-$name"
    rm -f "$idx"
    GIT_INDEX_FILE=$idx git --git-dir="$gd" read-tree refs/heads/main
    blob=$(git --git-dir="$gd" hash-object -w "$file")
    GIT_INDEX_FILE=$idx git --git-dir="$gd" update-index --add --cacheinfo "100644,$blob,$path"
    tree=$(GIT_INDEX_FILE=$idx git --git-dir="$gd" write-tree)
    local who=(env GIT_AUTHOR_NAME="${NODE_LABEL[$name]}" GIT_AUTHOR_EMAIL="${NODE_ORG[$name]}"
        GIT_COMMITTER_NAME="${NODE_LABEL[$name]}" GIT_COMMITTER_EMAIL="${NODE_ORG[$name]}")
    if [ "$sign" = key ]; then
        "${who[@]}" git --git-dir="$gd" -c gpg.format=ssh \
            -c user.signingkey="$(dir_of "$name")/node.key" commit-tree -S "$tree" \
            -p refs/heads/main -m "$msg"
    else
        "${who[@]}" git --git-dir="$gd" commit-tree "$tree" -p refs/heads/main -m "$msg"
    fi
}

# ---- serve ------------------------------------------------------------------------------------

# serve_start NAME [INTERVAL [PORT]]: starts `twin serve` on 127.0.0.1, port PORT (default 0:
# the kernel's choice), and waits (bounded) for the port in its log. Sets SERVE_PID[NAME]
# (timeout's pid; serve is its only child), SERVE_PORT[NAME], SERVE_LOG[NAME]. Must not run in a
# subshell.
serve_start() {
    local name=$1 interval=${2:-3600} at=${3:-0}
    serve_start_args "$name" --listen "127.0.0.1:$at" --interval "$interval"
}

# serve_start_args NAME [ARGS...]: like serve_start, for `twin serve ARGS` (what they leave out
# comes from the node's settings, which must listen on 127.0.0.1). With SERVE_JOURNAL=1, serve
# is told (JOURNAL_STREAM) that its output goes to the journal, as systemd tells a service.
SERVE_JOURNAL=0
serve_start_args() {
    local name=$1 log port="" start=$SECONDS journal=()
    shift
    log="$SYNC_TMP/serve-$name.log"
    [ -e "$log" ] && mv "$log" "$log.$SECONDS.$RANDOM"
    : >"$log"
    [ "$SERVE_JOURNAL" = 1 ] && journal=("JOURNAL_STREAM=$(stat -c '%d:%i' "$log")")
    env "${journal[@]}" timeout -k 60 "$SYNC_SERVE_MAX" "$TWIN" --dir "$(dir_of "$name")" serve \
        "$@" >"$log" 2>&1 &
    SERVE_PID[$name]=$!
    SERVE_LOG[$name]=$log
    while [ -z "$port" ]; do
        port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\) .*/\1/p' "$log" 2>/dev/null || true)
        if [ -z "$port" ]; then
            kill -0 "${SERVE_PID[$name]}" 2>/dev/null || {
                cat "$log" >&2
                fail "twin serve on $name exited before listening"
            }
            [ $((SECONDS - start)) -lt 15 ] || fail "twin serve on $name did not listen within 15 s"
            sleep 0.05
        fi
    done
    SERVE_PORT[$name]=$port
    note "serve $name listening on 127.0.0.1:$port"
}

# serve_child NAME: the pid of twin serve itself (the child of timeout).
serve_child() {
    local pid="" start=$SECONDS
    while [ -z "$pid" ]; do
        pid=$(pgrep -P "${SERVE_PID[$1]}" | head -n 1 || true)
        [ -n "$pid" ] || [ $((SECONDS - start)) -lt 5 ] || fail "no serve process under timeout"
        [ -n "$pid" ] || sleep 0.05
    done
    echo "$pid"
}

# wait_exit PID SECONDS: waits for a background child of this shell, bounded; sets WAIT_STATUS.
WAIT_STATUS=0
wait_exit() {
    local pid=$1 limit=$2 start=$SECONDS
    while kill -0 "$pid" 2>/dev/null; do
        if [ $((SECONDS - start)) -ge "$limit" ]; then
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
            fail "process $pid did not end within ${limit}s"
        fi
        sleep 0.05
    done
    WAIT_STATUS=0
    wait "$pid" || WAIT_STATUS=$?
}

# serve_stop NAME: SIGTERM; serve must log its stop and exit 0 within 15 s.
# The signal goes to twin itself, not to timeout(1): timeout follows a signal it passes on with
# SIGCONT to the group, and a SIGCONT that arrives while LeakSanitizer stops the process at exit
# cancels the SIGSTOP that LeakSanitizer waits for, so the process never ends.
serve_stop() {
    local name=$1 pid=${SERVE_PID[$1]} child
    child=$(serve_child "$name")
    kill -TERM "$child" 2>/dev/null || fail "serve on $name is not running"
    wait_exit "$pid" 15
    unset "SERVE_PID[$name]"
    clean_of_sanitizers "${SERVE_LOG[$name]}" "twin serve on $name"
    [ "$WAIT_STATUS" -eq 0 ] || fail "twin serve on $name exited $WAIT_STATUS on SIGTERM, not 0"
    grep -qE '(^<6>| )stopped$' "${SERVE_LOG[$name]}" || fail "serve log of $name lacks 'stopped'"
    note "serve $name stopped cleanly"
}

# serve_kill NAME: SIGKILL to serve itself, as a crash would.
serve_kill() {
    local name=$1 child
    child=$(serve_child "$name")
    kill -KILL "$child" 2>/dev/null || true
    wait_exit "${SERVE_PID[$name]}" 15
    clean_of_sanitizers "${SERVE_LOG[$name]}" "twin serve on $name"
    unset "SERVE_PID[$name]"
}

# wait_log NAME SECONDS FIXED-STRING: polls serve NAME's log until a line holds the string.
wait_log() {
    local name=$1 limit=$2 text=$3 start=$SECONDS
    until grep -qF -- "$text" "${SERVE_LOG[$name]}"; do
        serves_alive
        [ $((SECONDS - start)) -lt "$limit" ] ||
            fail "serve log of $name has no '$text' after ${limit}s"
        sleep 0.1
    done
}

# wait_log_re NAME SECONDS REGEX: like wait_log, for an extended regular expression.
wait_log_re() {
    local name=$1 limit=$2 re=$3 start=$SECONDS
    until grep -qE -- "$re" "${SERVE_LOG[$name]}"; do
        serves_alive
        [ $((SECONDS - start)) -lt "$limit" ] ||
            fail "serve log of $name has no /$re/ after ${limit}s"
        sleep 0.1
    done
}

# peer_add FROM TO: node FROM learns TO's serving address and key.
peer_add() {
    local from=$1 to=$2
    [ -n "${SERVE_PORT[$to]:-}" ] || fail "peer_add $from $to: $to is not serving"
    must "$TWIN" --dir "$(dir_of "$from")" peer add "$to" "127.0.0.1:${SERVE_PORT[$to]}" \
        "$(key_of "$to")"
}

# sync_ok NAME [PEER...]: one `twin sync` that must succeed; its report is in RUN_OUT.
sync_ok() {
    must "$TWIN" --dir "$(dir_of "$1")" sync "${@:2}"
    note "$1: $(head -n 3 "$RUN_OUT" | tr '\n' ' ')"
}

# ---- checks -----------------------------------------------------------------------------------

# same_heads NAME...: all nodes on one head; prints it.
same_heads() {
    local first=$1 h0 h
    h0=$(head_of "$first")
    [ -n "$h0" ] || fail "node $first has no head"
    for name in "${@:2}"; do
        h=$(head_of "$name")
        [ "$h" = "$h0" ] || fail "heads differ: $first at $h0, $name at ${h:-nothing}"
    done
    note "all on $h0"
}

# head_contains NAME COMMIT: node NAME's head is COMMIT or descends from it. Where serves sync in
# the background, a head may move on right after a sync; what the sync brought stays in it.
head_contains() {
    local h
    h=$(head_of "$1")
    [ -n "$2" ] || fail "head_contains $1: no commit given"
    ngit "$1" merge-base --is-ancestor "$2" "${h:-none}" 2>/dev/null ||
        fail "the head of $1 (${h:-nothing}) does not contain $2"
}

heads_equal() {
    local h0 name
    h0=$(head_of "$1")
    [ -n "$h0" ] || return 1
    for name in "${@:2}"; do
        [ "$(head_of "$name")" = "$h0" ] || return 1
    done
}

# serves_alive: fails at once, with the log, if a serve this test started has died.
serves_alive() {
    local name
    for name in "${!SERVE_PID[@]}"; do
        kill -0 "${SERVE_PID[$name]}" 2>/dev/null || {
            clean_of_sanitizers "${SERVE_LOG[$name]}" "twin serve on $name"
            tail -n 20 "${SERVE_LOG[$name]}" >&2
            fail "twin serve on $name died"
        }
    done
}

# wait_heads SECONDS NAME...: polls until all heads are equal.
wait_heads() {
    local limit=$1 start=$SECONDS
    shift
    until heads_equal "$@"; do
        serves_alive
        if [ $((SECONDS - start)) -ge "$limit" ]; then
            local name
            for name in "$@"; do echo "   $name: $(head_of "$name")" >&2; done
            fail "heads not equal after ${limit}s"
        fi
        sleep 0.2
    done
    note "heads equal after $((SECONDS - start))s: $(head_of "$1")"
}

verify_ok() {
    local name
    for name in "$@"; do
        must "$TWIN" --dir "$(dir_of "$name")" verify
        grep -q '^All commits are valid\.$' "$RUN_OUT" || {
            show_run
            fail "twin verify on $name did not report all commits valid"
        }
    done
}

# fsck_ok NAME...: git fsck --strict finds no fault (dangling objects are not faults, nor the
# notices of a node that has no history yet).
fsck_ok() {
    local name
    for name in "$@"; do
        run git --git-dir="$(dir_of "$name")/repo.git" fsck --strict --no-progress
        if [ "$RUN_STATUS" -ne 0 ] ||
            grep -hv -e '^dangling ' -e '^notice: ' "$RUN_ERR" "$RUN_OUT" | grep . >/dev/null; then
            show_run
            fail "git fsck --strict on $name: exit $RUN_STATUS"
        fi
    done
}

# git_signatures_ok NAME: stock git verifies every non-merge commit against the exported
# allowed-signers file.
git_signatures_ok() {
    local name=$1 signers c n=0
    signers="$SYNC_TMP/allowed-signers-$name"
    must "$TWIN" --dir "$(dir_of "$name")" export allowed-signers --out "$signers"
    for c in $(ngit "$name" rev-list --no-merges refs/heads/main); do
        run git --git-dir="$(dir_of "$name")/repo.git" -c gpg.ssh.allowedSignersFile="$signers" \
            verify-commit "$c"
        if [ "$RUN_STATUS" -ne 0 ] || ! grep -q '^Good "git" signature for XE-EXAMPLE-' "$RUN_ERR"; then
            show_run
            fail "git verify-commit $c on $name"
        fi
        n=$((n + 1))
    done
    [ "$n" -gt 0 ] || fail "no commits on $name to verify"
    note "git verify-commit: $n non-merge commits good on $name"
}
