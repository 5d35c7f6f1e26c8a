#!/usr/bin/env bash
# The bash completion script (generated from doc/cli/ with the option lists of every page),
# sourced into this shell and called as bash calls it, with COMP_WORDS and COMP_CWORD set,
# against a real node: it completes commands, subcommands, each command's options and their
# values, record types and field names from `twin schema`, the fields of a record's type after
# `twin set ID`, and peer names from `twin peer list`, with the --dir given on the line or
# TWIN_DIR.
set -euo pipefail
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"

SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${TWIN_BUILD_DIR:-$SRC/build}
SCRIPT="$BUILD/generated/completion/twin"
[ -f "$SCRIPT" ] || fail "no completion script at $SCRIPT (build first)"
A="$TEST_TMP/kestrel"
B="$TEST_TMP/heron"

# shellcheck source=/dev/null
. "$SCRIPT"
complete -p twin >/dev/null || fail "the script does not register a completion for twin"

# complete_line WORDS...: completes the last word (empty for a new one) as bash would, with
# the twin under test as the command, and puts the candidates, sorted, one a line, in GOT.
complete_line() {
    COMP_WORDS=("$TWIN" "$@")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    set +e
    _twin
    local rc=$?
    set -e
    [ "$rc" -eq 0 ] || fail "_twin returned $rc for: twin $*"
    GOT=$(printf '%s\n' "${COMPREPLY[@]}" | sort)
}

# expect_completion WORDS... :: CANDIDATES...: exactly these candidates.
expect_completion() {
    local words=() want
    while [ "$1" != "::" ]; do
        words+=("$1")
        shift
    done
    shift
    complete_line "${words[@]}"
    want=$(printf '%s\n' "$@" | sort)
    expect_eq "$GOT" "$want" "completions of 'twin ${words[*]}'"
}

# expect_offers WORDS... :: CANDIDATES...: these among the candidates.
expect_offers() {
    local words=() c
    while [ "$1" != "::" ]; do
        words+=("$1")
        shift
    done
    shift
    complete_line "${words[@]}"
    for c in "$@"; do
        grep -Fx -- "$c" <<<"$GOT" >/dev/null ||
            fail "completing 'twin ${words[*]}' does not offer $c (got: $(tr '\n' ' ' <<<"$GOT"))"
    done
}

check "commands, from the pages; help completes them too"
expect_completion s :: schema search serve set share show status sync
expect_completion ver :: verify
expect_completion help con :: config confirm conflicts
expect_completion re :: report resolve restore
expect_completion --dir "$A" ch :: checkpoints
complete_line ''
# Every command twin.txt lists, and help.
PAGES=$(sed -n 's/^commands: //p' "$TWIN_SOURCE_DIR/doc/cli/twin.txt" | wc -w)
expect_eq "$(wc -l <<<"$GOT")" "$((PAGES + 1))" "commands offered for an empty word ($PAGES and help)"

check "subcommands, from the synopsis forms"
expect_completion member '' :: add list set add-key revoke-key remove
expect_completion peer r :: remove
expect_completion key '' :: rotate
expect_completion report '' :: contributions

check "each command's options, from its page's options, and the global ones"
expect_completion export --s :: --sealed
expect_completion import --d :: --dry-run --dir
expect_offers serve -- :: --listen --interval --json --help
expect_completion --j :: --json
expect_completion resolve ID --k :: --keep
# Every option each page explains is offered for its command.
for page in "$SRC"/doc/cli/twin-*.txt; do
    cmd=$(basename "$page" .txt)
    cmd=${cmd#twin-}
    mapfile -t opts < <(awk '/^[a-z ]+:$/ { inopts = ($0 == "options:"); next }
                             inopts && /^--/ { print $1 }' "$page")
    [ ${#opts[@]} -eq 0 ] && continue
    expect_offers "$cmd" -- :: "${opts[@]}"
done

check "option values: the words a page lists, files, directories"
expect_completion export --format '' :: json csv iati
expect_completion import notes.csv --format j :: json
expect_completion invite --role e :: editor
expect_completion init --side s :: south
expect_completion resolve ID --drop '' :: all
mkdir -p "$TEST_TMP/files/exports"
: >"$TEST_TMP/files/export.json"
expect_completion backup --out "$TEST_TMP/files/exp" :: "$TEST_TMP/files/export.json" \
    "$TEST_TMP/files/exports"
expect_completion --dir "$TEST_TMP/files/exp" :: "$TEST_TMP/files/exports"
expect_completion show ID --at '' ::
expect_completion serve --listen '' ::

check "record types and fields come from twin schema, which needs no node"
TYPES=$("$TWIN" schema | sed -n 's/^\([a-z_]*\), .*/\1/p' | sort)
[ "$(wc -l <<<"$TYPES")" -ge 5 ] || fail "twin schema lists only: $TYPES"
complete_line add ''
expect_eq "$GOT" "$TYPES" "types offered after twin add"
expect_completion add not :: note
expect_completion list --where x=1 par :: partnership
expect_completion export --type no :: note
expect_completion add note '' :: kind= title= body= partnership= date= activity= owner_person= \
    owner_institution= due= status=
expect_completion add note title=Kick-off b :: body=
expect_completion add note kind=d ::
expect_offers add partnership dates.p :: dates.planned_start= dates.planned_end=

check "after twin set ID, the fields of that record's type (with --dir on the line or TWIN_DIR)"
found_node "$A" "Kestrel Water Institute" XE-EXAMPLE-KESTREL KE south "Lake Basin Twinning"
NOTE=$(add_record "$A" note title=Kick-off)
expect_completion --dir "$A" set "$NOTE" t :: title=
expect_completion set --dir="$A" "$NOTE" '' :: kind= title= body= partnership= date= activity= \
    owner_person= owner_institution= due= status=
expect_completion --dir "$A" resolve "$NOTE" ti :: title=
TWIN_DIR="$A" expect_completion set "$NOTE" b :: body=
# A record this node does not hold has no type to offer fields of.
expect_completion --dir "$A" set 0190aaaa-0000-7000-8000-0000000000ff t ::

check "peer names come from twin peer list, of the node on the line"
expect_completion --dir "$A" sync '' ::
KEY_B=$(found_node "$B" "Heron Water Agency" XE-EXAMPLE-HERON NL north "Other Network" && key_of "$B")
expect_ok tw "$A" peer add heron 127.0.0.1:7999 "$KEY_B"
expect_ok tw "$A" peer add hornbill 127.0.0.1:7998 "$KEY_B"
expect_completion --dir "$A" sync '' :: heron hornbill
expect_completion --dir "$A" sync heron hor :: hornbill
expect_completion --dir "$A" peer remove he :: heron
TWIN_DIR="$A" expect_completion sync h :: heron hornbill
# Another node's peers are its own.
expect_completion --dir "$B" sync '' ::
echo "completion: ok"
