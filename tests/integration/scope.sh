#!/usr/bin/env bash
# An editor limited to its own partnerships (member add --own-partnerships) writes in the
# partnerships its institution takes part in, and nowhere else: twin refuses the write, and a
# forged commit outside them is named by verify and refused by sync.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/sync.bash
. "$(dirname "$0")/lib/sync.bash"

check "North founds; two partnerships, South's institution a member of the first only"
node_new north XE-EXAMPLE-N NL north
node_new south XE-EXAMPLE-S TZ south north
add_rec north institution name="Water Authority, South" org_id=XE-EXAMPLE-S country=TZ side=south
inst=$REC_ID
add_rec north partnership title="Water twinning" partnership_type=twinning \
    "members=[{\"institution\":\"$inst\",\"side\":\"south\"}]"
p1=$REC_ID
add_rec north partnership title="Energy twinning" partnership_type=twinning
p2=$REC_ID
must "$TWIN" --dir "$(dir_of north)" member add --name "${NODE_LABEL[south]}" \
    --org-id XE-EXAMPLE-S --country TZ --side south --key "$(key_of south)" --own-partnerships
must "$TWIN" --dir "$(dir_of north)" --json member list
serve_start north
peer_add south north
sync_ok south

check "South writes in its own partnership, and is refused in the other and outside any"
add_rec south note title="Inside the water twinning" partnership="$p1"
must_fail "$TWIN" --dir "$(dir_of south)" add note title="In the energy twinning" partnership="$p2"
err_has "may write only in the partnerships it takes part in"
must_fail "$TWIN" --dir "$(dir_of south)" add note title="In no partnership"
err_has "in none"
must_fail "$TWIN" --dir "$(dir_of south)" set "$p2" title="Renamed by South"
err_has "may write only in the partnerships"
sync_ok south
verify_ok north south

check "the same note forged with plain git is named by verify and refused by sync"
cp -a "$(dir_of south)" "$(dir_of relay)"
id=$(python3 -c 'import os,time; t=int(time.time()*1000); r=os.urandom(10).hex(); h=f"{t:012x}"; print(h[:8]+"-"+h[8:12]+"-7"+r[:3]+"-a"+r[3:6]+"-"+r[6:18])')
printf '{\n  "id": "%s",\n  "kind": "note",\n  "partnership": "%s",\n  "title": "Forged",\n  "type": "note"\n}\n' \
    "$id" "$p2" >"$SYNC_TMP/forged.json"
index="$SYNC_TMP/relay.index"
head=$(head_of relay)
GIT_INDEX_FILE="$index" ngit relay read-tree "$head"
GIT_INDEX_FILE="$index" ngit relay update-index --add --cacheinfo \
    "100644,$(ngit relay hash-object -w "$SYNC_TMP/forged.json"),records/note/${id: -2}/$id.json"
tree=$(GIT_INDEX_FILE="$index" ngit relay write-tree)
forged=$(GIT_AUTHOR_NAME=Forger GIT_AUTHOR_EMAIL=XE-EXAMPLE-S GIT_COMMITTER_NAME=Forger \
    GIT_COMMITTER_EMAIL=XE-EXAMPLE-S ngit relay -c gpg.format=ssh \
    -c user.signingkey="$(dir_of south)/node.key" commit-tree -S -p "$head" -m "note" "$tree")
ngit relay update-ref refs/heads/main "$forged" "$head"
must_exit 1 "$TWIN" --dir "$(dir_of relay)" verify
out_has "may write only in the partnerships it takes part in"
must_fail "$TWIN" --dir "$(dir_of relay)" sync
grep -q "may write only in the partnerships" "$RUN_OUT" "$RUN_ERR" || { show_run; fail "no reason"; }

serve_stop north
echo "PASS"
