#!/usr/bin/env bash
# Wrong clocks never split the history, nor win conflicts: nodes whose clocks are ten years fast,
# at 1970 or past the year 9999 (TWIN_TEST_CLOCK_SKEW) write and sync, and a commit dated after
# 9999 made with plain git is taken too; no node refuses a commit for its date. A change dated
# more than a day after the merge that joins it loses a conflict to one that is not
# (proto/SYNC.md 7). Commits dated more than a day ahead of a node's clock are named, with their
# member, by `twin sync`, the serve log, `twin log` and `twin verify`, which still exits 0.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/sync.bash
. "$(dirname "$0")/lib/sync.bash"

TEN_YEARS=315576000
LAST_DATE=253402300799 # 9999-12-31T23:59:59Z, the last second git can check a signature at

# commit_time NODE [COMMIT]: the committer time of the commit (default: the head).
commit_time() {
    ngit "$1" log -1 --format=%ct "${2:-refs/heads/main}"
}

# within VALUE LOW HIGH WHAT
within() {
    if [ "$1" -lt "$2" ] || [ "$1" -gt "$3" ]; then
        fail "$4: $1 is not within $2..$3"
    fi
}

check "North (founder) serves; South's clock is ten years fast, East's stands at 1970"
node_new north XE-EXAMPLE-N NL north
node_new south XE-EXAMPLE-S TZ south north
node_new east XE-EXAMPLE-E KE south north
node_admit north south
node_admit north east
serve_start north
peer_add south north
peer_add east north
sync_ok south
sync_ok east
same_heads north south east

check "each node dates its commits by its own clock"
now=$(date +%s)
TWIN_TEST_CLOCK_SKEW=$TEN_YEARS add_rec south note title="Dated ten years ahead"
fast_note=$REC_ID
fast_commit=$(head_of south)
within "$(commit_time south)" $((now + TEN_YEARS)) $((now + TEN_YEARS + 60)) "South's commit time"
TWIN_TEST_CLOCK_SKEW=-$((now + 3600)) add_rec east note title="Dated 1970"
epoch_commit=$(head_of east)
same "$(commit_time east)" 0 "East's commit time (a clock before 1970 dates 0)"
TWIN_TEST_CLOCK_SKEW=$((LAST_DATE * 2)) add_rec north note title="Dated 9999"
nines=$(head_of north)
same "$(commit_time north)" $LAST_DATE "North's commit time (a clock past 9999 dates its last second)"

check "a commit dated after 9999, made with plain git and North's key, is on North's branch"
hex=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
rec="0190${hex:0:4}-${hex:4:4}-7${hex:8:3}-a${hex:11:3}-${hex:14:12}" # a made-up UUIDv7
path="records/note/${rec: -2}/$rec.json"
printf '{\n  "id": "%s",\n  "kind": "note",\n  "title": "%s",\n  "type": "note"\n}\n' "$rec" \
    "Dated 10000" >"$SYNC_TMP/far.json"
blob=$(ngit north hash-object -w "$SYNC_TMP/far.json")
GIT_INDEX_FILE="$SYNC_TMP/far.index" ngit north read-tree refs/heads/main
GIT_INDEX_FILE="$SYNC_TMP/far.index" ngit north update-index --add --cacheinfo "100644,$blob,$path"
tree=$(GIT_INDEX_FILE="$SYNC_TMP/far.index" ngit north write-tree)
old=$(head_of north)
far=$(GIT_AUTHOR_NAME="Ministry north (XE-EXAMPLE-N)" GIT_AUTHOR_EMAIL=XE-EXAMPLE-N \
    GIT_COMMITTER_NAME="Ministry north (XE-EXAMPLE-N)" GIT_COMMITTER_EMAIL=XE-EXAMPLE-N \
    GIT_AUTHOR_DATE="@$((LAST_DATE + 1)) +0000" GIT_COMMITTER_DATE="@$((LAST_DATE + 1)) +0000" \
    ngit north -c gpg.format=ssh -c user.signingkey="$(dir_of north)/node.key" \
    commit-tree -S -p "$old" -m "add note $rec: Dated 10000" "$tree")
ngit north update-ref refs/heads/main "$far" "$old"
same "$(commit_time north)" $((LAST_DATE + 1)) "the crafted commit's time"
verify_ok north

check "every node takes every commit, whatever its date; each names those ahead of its clock"
TWIN_TEST_CLOCK_SKEW=$TEN_YEARS sync_ok south
# South's clock is ten years fast: only North's commits dated 9999 and 10000 are ahead of it.
out_has "merged, head $(head_of south | cut -c1-12); 2 commits dated more than a day ahead of this node's clock: ${nines:0:12} by XE-EXAMPLE-N, dated 9999-12-31 23:59:59 UTC, ${far:0:12} by XE-EXAMPLE-N, dated 10000-01-01 00:00:00 UTC"
# North's serve names South's commit, and the merge South made, in the session's log line.
wait_log north 10 "${fast_commit:0:12} by XE-EXAMPLE-S, dated $(date -u -d "@$(commit_time south "$fast_commit")" '+%Y-%m-%d %H:%M:%S UTC'), $(head_of south | cut -c1-12) by XE-EXAMPLE-S"
grep "session from" "${SERVE_LOG[north]}" | tail -n 1 | grep -F "2 commits dated more than a day ahead of this node's clock:" >/dev/null ||
    fail "North's serve log does not count the two commits ahead: $(tail -n 1 "${SERVE_LOG[north]}")"
sync_ok east
TWIN_TEST_CLOCK_SKEW=$TEN_YEARS sync_ok south
same_heads north south east
verify_ok north south east

check "twin log marks each commit dated more than a day ahead of this node's clock"
# log_date NODE COMMIT: the date line twin log prints for the commit.
log_date() {
    tw "$1" log | awk -v c="commit $2" '$0 == c { getline; print; exit }'
}
for c in "$fast_commit" "$nines" "$far"; do
    log_date north "$c" | grep -F "(AHEAD: more than a day ahead of this node's clock)" >/dev/null ||
        fail "twin log on North does not mark $c: $(log_date north "$c")"
done
for c in "$epoch_commit" "$(ngit north rev-list --max-parents=0 refs/heads/main)"; do
    log_date north "$c" | grep -F "AHEAD" >/dev/null && fail "twin log on North marks $c"
done
same "$(tw north log --json | jq -r --arg c "$fast_commit" '.[] | select(.commit == $c) | .ahead')" \
    true "ahead in twin log --json"
# South's own commits are not ahead of its own clock.
TWIN_TEST_CLOCK_SKEW=$TEN_YEARS log_date south "$fast_commit" | grep -F AHEAD >/dev/null &&
    fail "twin log on South marks South's commit"

check "twin verify warns of them, with their members, and still exits 0"
must "$TWIN" --dir "$(dir_of north)" verify
out_has "All commits are valid."
out_has "dated more than a day ahead of this node's clock ("
out_has "  commit $fast_commit: dated $(date -u -d "@$(commit_time north "$fast_commit")" '+%Y-%m-%d %H:%M:%S UTC'), by XE-EXAMPLE-S"
out_has "  commit $nines: dated 9999-12-31 23:59:59 UTC, by XE-EXAMPLE-N"
out_has "  commit $far: dated 10000-01-01 00:00:00 UTC, by XE-EXAMPLE-N"
grep -qF "commit $epoch_commit:" "$RUN_OUT" && fail "twin verify names East's commit dated 1970"
must "$TWIN" --dir "$(dir_of north)" --json verify
same "$(jq -c --arg c "$far" '[.valid, (.ahead[] | select(.commit == $c) | [.member, .time])]' "$RUN_OUT")" \
    "[true,[\"XE-EXAMPLE-N\",$((LAST_DATE + 1))]]" "twin --json verify"
TWIN_TEST_CLOCK_SKEW=$TEN_YEARS must "$TWIN" --dir "$(dir_of south)" verify
out_has "Warning: 2 commits dated more than a day ahead of this node's clock"
grep -qF "commit $fast_commit:" "$RUN_OUT" && fail "twin verify on South names South's own commit"
for n in north south east; do
    for id in "$fast_note" "$rec"; do
        must "$TWIN" --dir "$(dir_of "$n")" show "$id"
    done
done

check "South (ten years fast) serves; North, on time, syncs with it"
serve_stop north
must "$TWIN" --dir "$(dir_of south)" peer remove north
TWIN_TEST_CLOCK_SKEW=$TEN_YEARS serve_start south
peer_add north south
add_rec north partnership title="Health twinning" partnership_type=twinning status=1
p=$REC_ID
sync_ok north south
same_heads north south

check "both change one field; North merges: the change ten years ahead loses, and is kept"
TWIN_TEST_CLOCK_SKEW=$TEN_YEARS must "$TWIN" --dir "$(dir_of south)" set "$p" status=3
south_change=$(head_of south)
must "$TWIN" --dir "$(dir_of north)" set "$p" status=2
sync_ok north south
out_has "merged with conflicts (1)"
out_has "1 commit dated more than a day ahead of this node's clock: ${south_change:0:12} by XE-EXAMPLE-S"
same_heads north south
for n in north south; do
    same "$(tw "$n" show "$p" --json | jq -c '[.status, [.conflicts[] | {field, value, from}]]')" \
        "[\"2\",[{\"field\":\"status\",\"value\":\"3\",\"from\":\"$south_change\"}]]" \
        "status and conflicts on $n"
done
ngit north log -1 --format=%B refs/heads/main | grep -x "Merge-rule: 2" >/dev/null ||
    fail "the merge does not name the rule it was made by"
verify_ok north south

serve_stop south
echo "PASS: clocks"
