#!/usr/bin/env bash
# The progress display: on a terminal (a pseudo-terminal made by script(1)), verify and sync draw
# their steps on standard error, each ending with its final count; nothing is drawn when standard
# error is not a terminal, with --quiet or with --json, and the command's own output is the same
# either way. TWIN_PROGRESS_DELAY_MS=0 shows every step, however quick, so that nothing here
# depends on how fast the machine is.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/sync.bash
. "$(dirname "$0")/lib/sync.bash"

# on_tty FILE CMD...: runs CMD with a pseudo-terminal as its standard input, output and error,
# bounded; FILE gets everything it wrote there, carriage returns turned into newlines.
on_tty() {
    local file=$1 cmd
    shift
    printf -v cmd '%q ' "$@"
    SHELL=/bin/bash TWIN_PROGRESS_DELAY_MS=0 timeout 120 script -qfec "$cmd" "$file.raw" \
        >/dev/null </dev/null || fail "on a terminal, $* exited $?: $(tail -c 600 "$file.raw")"
    tr '\r' '\n' <"$file.raw" >"$file"
}

# drawn FILE REGEX WHAT / not_drawn FILE WHAT
drawn() {
    grep -aE "$2" "$1" >/dev/null || { tail -c 1500 "$1" >&2; fail "$3: no line matches $2"; }
}
not_drawn() {
    ! grep -aE '(checking|receiving|reading)[a-z ]*: [0-9,.]+' "$1" >/dev/null ||
        { grep -aE 'checking|receiving|reading' "$1" | head -5 >&2; fail "$2: a progress line was drawn"; }
}

check "North founds the network and writes; South joins and is admitted"
node_new north XE-EXAMPLE-N NL north
node_new south XE-EXAMPLE-S TZ south north
node_admit north south
for i in $(seq 1 12); do add_rec north note kind=note title="Progress note $i"; done
serve_start north
peer_add south north
commits=$(ngit north rev-list --count refs/heads/main)

check "twin sync on a terminal draws receiving and checking, each with its final count"
on_tty "$SYNC_TMP/sync.tty" "$TWIN" --dir "$(dir_of south)" sync
drawn "$SYNC_TMP/sync.tty" '^receiving history: [0-9.]+ [KM]iB, .*done in [0-9.]+ s' "sync"
drawn "$SYNC_TMP/sync.tty" \
    "^checking received commits: $commits of $commits commits \(100%\), [0-9,]+/s, done in" "sync"
drawn "$SYNC_TMP/sync.tty" "received $commits commits" "sync's own report"
same "$(head_of south)" "$(head_of north)" "South's head after the sync on a terminal"

check "twin verify on a terminal draws the check of every commit, then its report"
on_tty "$SYNC_TMP/verify.tty" "$TWIN" --dir "$(dir_of south)" verify
drawn "$SYNC_TMP/verify.tty" \
    "^checking commits: $commits of $commits commits \(100%\), [0-9,]+/s, done in [0-9.]+ s" "verify"
# The step ends before the report begins: the report's lines are whole.
drawn "$SYNC_TMP/verify.tty" "^Checked $commits commits up to" "verify's report"
drawn "$SYNC_TMP/verify.tty" "^All commits are valid" "verify's report"

check "twin log draws its reading of the history when its output goes to a file, not to the terminal"
on_tty "$SYNC_TMP/log.tty" bash -c '"$0" --dir "$1" log --oneline >"$2"' "$TWIN" "$(dir_of south)" \
    "$SYNC_TMP/log.out"
drawn "$SYNC_TMP/log.tty" "^reading the history: $commits commits, [0-9,]+/s, done in" "log to a file"
same "$(wc -l <"$SYNC_TMP/log.out")" "$commits" "log --oneline's lines"
on_tty "$SYNC_TMP/log2.tty" "$TWIN" --dir "$(dir_of south)" log --oneline
not_drawn "$SYNC_TMP/log2.tty" "log to the terminal"

check "twin blame draws its reading of the record's versions; twin import its reading of rows"
note_id=$(tw south list note | awk 'NR == 1 {print $1}')
must "$TWIN" --dir "$(dir_of south)" set "$note_id" title="Progress note, renamed"
on_tty "$SYNC_TMP/blame.tty" "$TWIN" --dir "$(dir_of south)" blame "$note_id"
drawn "$SYNC_TMP/blame.tty" "^reading versions: 2 of 2 versions \(100%\), [0-9,]+/s, done in" "blame"
drawn "$SYNC_TMP/blame.tty" "Progress note, renamed" "blame's report"
printf 'type,kind,title\nnote,note,Imported one\nnote,note,Imported two\nnote,note,Imported three\n' \
    >"$SYNC_TMP/notes.csv"
on_tty "$SYNC_TMP/import.tty" "$TWIN" --dir "$(dir_of south)" import "$SYNC_TMP/notes.csv"
drawn "$SYNC_TMP/import.tty" "^reading rows: 3 of 3 rows \(100%\), [0-9,]+/s, done in" "import"
drawn "$SYNC_TMP/import.tty" "^Imported 3 records" "import's report"
on_tty "$SYNC_TMP/blame1.tty" "$TWIN" --dir "$(dir_of north)" blame "$note_id"
drawn "$SYNC_TMP/blame1.tty" "^reading versions: 1 of 1 version \(100%\)" "blame of one version"

check "nothing is drawn with --quiet, with --json, or when standard error is not a terminal"
on_tty "$SYNC_TMP/quiet.tty" "$TWIN" --dir "$(dir_of south)" --quiet verify
not_drawn "$SYNC_TMP/quiet.tty" "verify --quiet"
drawn "$SYNC_TMP/quiet.tty" "^All commits are valid" "verify --quiet's report"
on_tty "$SYNC_TMP/json.tty" "$TWIN" --dir "$(dir_of south)" --json verify
not_drawn "$SYNC_TMP/json.tty" "verify --json"
TWIN_PROGRESS_DELAY_MS=0 must "$TWIN" --dir "$(dir_of south)" verify
not_drawn "$RUN_ERR" "verify with standard error in a file"
not_drawn "$RUN_OUT" "verify with standard output in a file"
add_rec north note kind=note title="One more"
TWIN_PROGRESS_DELAY_MS=0 must "$TWIN" --dir "$(dir_of south)" sync
not_drawn "$RUN_ERR" "sync with standard error in a file"
out_has "received 1 commit,"

echo "ok: progress"
