# Shared helpers for twin's integration tests. Sourced by tests/integration/*.sh, which CTest
# runs with TWIN (the twin binary), TWIN_TEST_DATA, TWIN_SOURCE_DIR and TWIN_BUILD_DIR set.
# Every test works in its own temporary directory, removed on exit, with a private HOME and no
# user or system git config, so nothing on the machine changes what a test sees.

if [ -z "${TWIN:-}" ]; then
    # Run by hand from the source tree: use the default build directory.
    TWIN="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)/build/twin"
fi
[ -x "$TWIN" ] || { echo "FAIL: no twin binary at $TWIN (build first, or set TWIN)" >&2; exit 1; }

TEST_NAME=$(basename "$0" .sh)
TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/twin-itest-$TEST_NAME.XXXXXX")
TEST_BG_PIDS=()

cleanup_test() {
    local pid
    for pid in "${TEST_BG_PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [ -n "${TWIN_KEEP_TMP:-}" ]; then
        echo "(kept $TEST_TMP)" >&2
    else
        rm -rf "$TEST_TMP"
    fi
}
trap cleanup_test EXIT

export HOME="$TEST_TMP/home"
export XDG_CONFIG_HOME="$HOME/.config"
export XDG_DATA_HOME="$HOME/.local/share"
export GIT_CONFIG_NOSYSTEM=1
export GIT_CONFIG_GLOBAL=/dev/null
export TZ=UTC LC_ALL=C
# Plain git writes reflogs (fetch, update-ref); give it an identity so a bare CI machine works.
export GIT_COMMITTER_NAME="Integration Test" GIT_COMMITTER_EMAIL="itest@example.invalid"
unset TWIN_DIR VISUAL EDITOR GIT_DIR GIT_INDEX_FILE GIT_WORK_TREE
mkdir -p "$HOME"

# The output of the last run/expect_exit.
OUT="$TEST_TMP/last.out"
ERR="$TEST_TMP/last.err"
: >"$OUT"
: >"$ERR"

fail() {
    echo "FAIL [$TEST_NAME]: $*" >&2
    exit 1
}

# Prints the outcome of the last command, for failure messages.
show_last() {
    echo "--- stdout:" >&2
    head -c 4000 "$OUT" >&2 || true
    echo "--- stderr:" >&2
    head -c 4000 "$ERR" >&2 || true
    echo "---" >&2
}

check() {
    echo "== $*"
}

# expect_exit CODE CMD...: runs CMD (stdout to $OUT, stderr to $ERR) and fails unless it exits
# with exactly CODE.
expect_exit() {
    local want=$1 got=0
    shift
    "$@" >"$OUT" 2>"$ERR" || got=$?
    if [ "$got" != "$want" ]; then
        show_last
        fail "expected exit $want, got $got from: $*"
    fi
}

expect_ok() {
    expect_exit 0 "$@"
}

expect_stderr_contains() {
    grep -qF -- "$1" "$ERR" || {
        show_last
        fail "stderr does not contain: $1"
    }
}

expect_stdout_contains() {
    grep -qF -- "$1" "$OUT" || {
        show_last
        fail "stdout does not contain: $1"
    }
}

expect_stdout_lacks() {
    if grep -qF -- "$1" "$OUT"; then
        show_last
        fail "stdout unexpectedly contains: $1"
    fi
    return 0
}

expect_stderr_empty() {
    if [ -s "$ERR" ]; then
        show_last
        fail "stderr is not empty"
    fi
}

# expect_eq ACTUAL EXPECTED WHAT
expect_eq() {
    [ "$1" = "$2" ] || fail "$3: expected '$2', got '$1'"
}

# expect_match TEXT EXTENDED-REGEX WHAT
expect_match() {
    printf '%s\n' "$1" | grep -E -- "$2" >/dev/null || fail "$3: '$1' does not match /$2/"
}

# wait_until SECONDS CMD...: polls CMD every 50 ms until it succeeds; fails after SECONDS.
wait_until() {
    local limit=$1 start=$SECONDS
    shift
    until "$@"; do
        if [ $((SECONDS - start)) -ge "$limit" ]; then
            fail "gave up after ${limit}s waiting for: $*"
        fi
        sleep 0.05
    done
}

# wait_pid SECONDS PID: waits for a background child to end within SECONDS, then reaps it and
# returns its exit status in WAIT_STATUS. A child still running at the deadline is killed.
wait_pid() {
    local limit=$1 pid=$2 start=$SECONDS
    while kill -0 "$pid" 2>/dev/null; do
        if [ $((SECONDS - start)) -ge "$limit" ]; then
            kill -KILL "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
            fail "process $pid still running after ${limit}s"
        fi
        sleep 0.05
    done
    local status=0
    wait "$pid" || status=$?
    # shellcheck disable=SC2034 # read by the scripts that source this file
    WAIT_STATUS=$status
}

# ---- twin and git shorthands ------------------------------------------------------------------

# tw DIR ARGS...: twin on the node in DIR.
tw() {
    local dir=$1
    shift
    "$TWIN" --dir "$dir" "$@"
}

# git on a node's repository.
node_git() {
    local dir=$1
    shift
    git --git-dir="$dir/repo.git" "$@"
}

commit_count() {
    node_git "$1" rev-list --count refs/heads/main
}

head_of() {
    node_git "$1" rev-parse --verify --quiet refs/heads/main
}

# found_node DIR NAME ORG_ID COUNTRY SIDE NETWORK_NAME: founds a network; fails if it cannot.
found_node() { # found_node DIR NAME ORG_ID COUNTRY SIDE NETWORK [MORE INIT OPTIONS]
    expect_ok "$TWIN" --dir "$1" init --name "$2" --org-id "$3" --country "$4" --side "$5" \
        --network "$6" "${@:7}"
}

# join_node DIR NAME ORG_ID COUNTRY SIDE NETWORK_ID
join_node() {
    expect_ok "$TWIN" --dir "$1" init --name "$2" --org-id "$3" --country "$4" --side "$5" \
        --join "$6"
}

network_id_of() {
    tw "$1" id | sed -n 's/^network id: *//p'
}

key_of() {
    tw "$1" id | head -n 1
}

# add_record DIR TYPE FIELD=VALUE...: adds a record and prints its id; fails unless twin prints
# exactly one UUID.
add_record() {
    local dir=$1 id
    shift
    expect_ok "$TWIN" --dir "$dir" add "$@"
    id=$(cat "$OUT")
    expect_match "$id" '^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' \
        "id printed by twin add $*"
    printf '%s\n' "$id"
}

# ---- JSON ----------------------------------------------------------------------------------------

# The JSON parser at hand: python3 or jq. A fresh Debian 12 with tools/deps has neither for sure,
# so tests assert fields with grep and use this only to prove the text parses.
if command -v python3 >/dev/null 2>&1 && python3 -c 'import json' 2>/dev/null; then
    JSON_TOOL=python3
elif command -v jq >/dev/null 2>&1; then
    JSON_TOOL=jq
else
    JSON_TOOL=
fi

# expect_json_parses FILE WHAT
expect_json_parses() {
    case "$JSON_TOOL" in
    python3)
        python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$1" 2>/dev/null ||
            fail "$2: not JSON: $(head -c 300 "$1")"
        ;;
    jq)
        jq -e . "$1" >/dev/null 2>&1 || fail "$2: not JSON: $(head -c 300 "$1")"
        ;;
    *)
        echo "   (note: neither python3 nor jq is installed; not parsing $2 as JSON)"
        ;;
    esac
}

# ---- crafting commits with plain git ------------------------------------------------------------

# craft_tree DIR BASE PATH=BLOB_FILE...: prints the id of BASE's tree with each PATH set to the
# contents of its file, built with a private index (no working tree).
craft_tree() {
    local dir=$1 base=$2 spec path file blob
    shift 2
    local index="$TEST_TMP/craft.index"
    rm -f "$index"
    GIT_INDEX_FILE="$index" node_git "$dir" read-tree "$base"
    for spec in "$@"; do
        path=${spec%%=*}
        file=${spec#*=}
        blob=$(node_git "$dir" hash-object -w -- "$file")
        GIT_INDEX_FILE="$index" node_git "$dir" update-index --add --cacheinfo "100644,$blob,$path"
    done
    GIT_INDEX_FILE="$index" node_git "$dir" write-tree
    rm -f "$index"
}

# signed_commit DIR KEYFILE TREE PARENT MESSAGE: a commit signed by KEYFILE exactly as git signs
# (gpg.format=ssh); prints its id. Its author and committer are the key's institution, as twin
# writes them (the org id of the node KEYFILE belongs to; CRAFT_AUTHOR overrides it, and a key
# outside any node gets XE-EXAMPLE-CRAFT).
signed_commit() {
    local dir=$1 key=$2 tree=$3 parent=$4 message=$5 org
    org=${CRAFT_AUTHOR:-$(git --git-dir="$(dirname "$key")/repo.git" config twin.orgid 2>/dev/null || true)}
    org=${org:-XE-EXAMPLE-CRAFT}
    GIT_AUTHOR_NAME="Crafted Commit" GIT_AUTHOR_EMAIL="$org" \
        GIT_COMMITTER_NAME="Crafted Commit" GIT_COMMITTER_EMAIL="$org" \
        node_git "$dir" -c gpg.format=ssh -c user.signingkey="$key" \
        commit-tree -S -p "$parent" -m "$message" "$tree"
}

unsigned_commit() {
    local dir=$1 tree=$2 parent=$3 message=$4
    GIT_AUTHOR_NAME="Crafted Commit" GIT_AUTHOR_EMAIL="XE-EXAMPLE-CRAFT" \
        GIT_COMMITTER_NAME="Crafted Commit" GIT_COMMITTER_EMAIL="XE-EXAMPLE-CRAFT" \
        node_git "$dir" commit-tree -p "$parent" -m "$message" "$tree"
}

# A record in twin's canonical form (sorted keys, two-space indent, trailing newline) for a note.
write_note_json() {
    local file=$1 id=$2 title=$3
    printf '{\n  "id": "%s",\n  "kind": "note",\n  "title": "%s",\n  "type": "note"\n}\n' \
        "$id" "$title" >"$file"
}

# record_path TYPE ID: where twin keeps a record (bucket: the id's last two hex digits).
record_path() {
    printf 'records/%s/%s/%s.json\n' "$1" "${2: -2}" "$2"
}

# A fresh, made-up UUIDv7 (time-ordered prefix, random tail).
fresh_uuid7() {
    local hex
    hex=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    printf '%s-%s-7%s-a%s-%s\n' "0190${hex:0:4}" "${hex:4:4}" "${hex:8:3}" "${hex:11:3}" \
        "${hex:14:12}"
}
