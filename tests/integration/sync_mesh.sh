#!/usr/bin/env bash
# Five nodes, each running `twin serve --interval 1` with every other node as a peer. The four
# that join get their history by syncing; then random records are added and changed on random
# nodes, several at once, while the serves sync. When the writes stop, all five must reach one
# head, verify, and hold every record written anywhere.
#
# The writes are drawn from a seed, printed first; TWIN_TEST_SEED repeats a run's choices (the
# timing of the serves is not repeatable).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/sync.bash
. "$(dirname "$0")/lib/sync.bash"

seed=${TWIN_TEST_SEED:-$(((RANDOM << 15) | RANDOM))}
echo "seed: $seed (repeat with TWIN_TEST_SEED=$seed)"
RANDOM=$seed
ROUNDS=${TWIN_MESH_ROUNDS:-4}
nodes=(n1 n2 n3 n4 n5)
countries=(NL TZ KE DE GH)
sides=(north south south north south)
start_time=$SECONDS

check "n1 founds the network and admits the other four as editors; all five serve"
node_new n1 XE-EXAMPLE-M1 NL north
for i in 1 2 3 4; do
    node_new "${nodes[i]}" "XE-EXAMPLE-M$((i + 1))" "${countries[i]}" "${sides[i]}" n1
    node_admit n1 "${nodes[i]}"
done
for n in "${nodes[@]}"; do
    serve_start "$n" 1
done
for n in "${nodes[@]}"; do
    for m in "${nodes[@]}"; do
        [ "$n" = "$m" ] || peer_add "$n" "$m"
    done
done

check "the four joiners take the history through the serves alone"
wait_heads 30 "${nodes[@]}"
for n in "${nodes[@]}"; do
    same "$(tw "$n" member list | grep -c 'XE-EXAMPLE-M')" 5 "members known to $n"
done

# Every record written anywhere (TYPE:ID), and per node those it wrote (a node can change
# those without waiting for a sync).
written="$SYNC_TMP/written"
: >"$written"
declare -A own
field_of() { # the field a change of a record of this type sets
    if [ "$1" = note ]; then echo body; else echo description; fi
}
words=(water health audit training census budget archive survey statistics forestry)

check "$ROUNDS rounds of random writes on random nodes, several at once, while the serves sync"
for round in $(seq 1 "$ROUNDS"); do
    jobs_pids=()
    jobs_desc=()
    nops=$((3 + RANDOM % 4))
    for op in $(seq 1 "$nops"); do
        n=${nodes[RANDOM % 5]}
        word=${words[RANDOM % ${#words[@]}]}
        out="$SYNC_TMP/op-$round-$op"
        read -ra mine <<<"${own[$n]:-}"
        all=()
        [ ! -s "$written" ] || mapfile -t all <"$written"
        if [ "${#all[@]}" -gt 0 ] && [ $((RANDOM % 4)) -eq 0 ]; then
            # Anyone's record, maybe changed elsewhere at the same time; the node may not
            # have it yet, which is the one failure allowed.
            pick=${all[RANDOM % ${#all[@]}]} # TYPE:ID
            id=${pick#*:}
            desc="$n: set any ${pick%%:*} $id"
            timeout -k 5 "$SYNC_CALL_TIMEOUT" "$TWIN" --dir "$(dir_of "$n")" set "$id" \
                "$(field_of "${pick%%:*}")=$word, changed at $n in round $round.$op" >"$out" 2>&1 &
        elif [ "${#mine[@]}" -gt 0 ] && [ $((RANDOM % 3)) -eq 0 ]; then
            pick=${mine[RANDOM % ${#mine[@]}]} # TYPE:ID
            id=${pick#*:}
            desc="$n: set ${pick%%:*} $id"
            timeout -k 5 "$SYNC_CALL_TIMEOUT" "$TWIN" --dir "$(dir_of "$n")" set "$id" \
                "$(field_of "${pick%%:*}")=$word, revised in round $round.$op" >"$out" 2>&1 &
        elif [ $((RANDOM % 2)) -eq 0 ]; then
            desc="$n: add note"
            timeout -k 5 "$SYNC_CALL_TIMEOUT" "$TWIN" --dir "$(dir_of "$n")" add note \
                title="$word note, round $round" body="written at $n" >"$out" 2>&1 &
        else
            desc="$n: add institution"
            timeout -k 5 "$SYNC_CALL_TIMEOUT" "$TWIN" --dir "$(dir_of "$n")" add institution \
                name="Office of $word $round.$op" country="${countries[RANDOM % 5]}" >"$out" 2>&1 &
        fi
        jobs_pids+=("$!")
        jobs_desc+=("$desc")
        SYNC_BG_PIDS+=("$!")
    done
    for j in "${!jobs_pids[@]}"; do
        wait_exit "${jobs_pids[j]}" "$((SYNC_CALL_TIMEOUT + 10))"
        out="$SYNC_TMP/op-$round-$((j + 1))"
        clean_of_sanitizers "$out" "round $round, ${jobs_desc[j]}"
        if [[ ${jobs_desc[j]} == *": set any "* ]] && [ "$WAIT_STATUS" -eq 2 ] &&
            grep -q "^twin: no record ${jobs_desc[j]##* }\$" "$out"; then
            jobs_desc[j]="${jobs_desc[j]} (not there yet)"
            continue
        fi
        [ "$WAIT_STATUS" -eq 0 ] || {
            cat "$out" >&2
            fail "round $round, ${jobs_desc[j]}: exit $WAIT_STATUS"
        }
        n=${jobs_desc[j]%%:*}
        case ${jobs_desc[j]} in
        *": add "*)
            id=$(tail -n 1 "$out")
            [[ $id =~ ^[0-9a-f-]{36}$ ]] || fail "round $round, ${jobs_desc[j]} printed '$id'"
            echo "${jobs_desc[j]##* }:$id" >>"$written"
            own[$n]="${own[$n]:-} ${jobs_desc[j]##* }:$id"
            ;;
        esac
    done
    note "round $round: ${jobs_desc[*]}"
    sleep "0.$((2 + RANDOM % 7))"
done
note "$(wc -l <"$written") records written"

check "the writes stop; all five heads become equal (bounded wait)"
wait_heads 60 "${nodes[@]}"

check "every node verifies and holds every record written anywhere"
verify_ok "${nodes[@]}"
cut -d: -f2 "$written" >"$written.ids"
for n in "${nodes[@]}"; do
    has_ids "$n" "$written.ids"
done
same "$(ids_of n1 | wc -l)" "$(wc -l <"$written")" "records on n1"
fsck_ok "${nodes[@]}"

check "all serves stop on SIGTERM with exit 0"
for n in "${nodes[@]}"; do
    serve_stop "$n"
done
sessions=$(cat "$SYNC_TMP"/serve-*.log | grep -c 'session from .*: ok' || true)
failed=$(cat "$SYNC_TMP"/serve-*.log | grep -c ': failed: ' || true)
note "$sessions sessions served, $failed syncs or sessions failed (and were repeated)"
echo "PASS (seed $seed, $((SECONDS - start_time)) s)"
