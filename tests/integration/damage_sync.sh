#!/usr/bin/env bash
# The sync sender on a damaged store: a node whose store holds a damaged object that a peer
# lacks sends nothing it cannot read. Whether it starts the session (`twin sync`) or serves it,
# the session fails, the sending side names the object, and the peer's branch does not move.
# Once the object is whole again, the same sync succeeds.
set -euo pipefail
# shellcheck source=lib/sync.bash
. "$(dirname "$0")/lib/sync.bash"
# shellcheck source=lib/damage.bash
. "$(dirname "$0")/lib/damage.bash"

check "north founds, south joins and takes the history"
node_new north XE-EXAMPLE-NORTH NL north
node_new south XE-EXAMPLE-SOUTH TZ south north
node_admit north south
for i in 1 2 3; do add_rec north note title="Before the damage $i"; done
serve_start north
peer_add south north
sync_ok south north
same_heads north south

check "north writes three notes south lacks; the newest records/note tree is damaged"
for i in 1 2 3; do add_rec north note title="After the damage $i"; done
TREE=$(ngit north rev-parse main:records/note)
SOUTH_HEAD=$(head_of south)
cp -a "$(dir_of north)/repo.git/objects" "$SYNC_TMP/north-objects"
damage_object "$(dir_of north)/repo.git" "$TREE"

check "south syncs from north's serve: the session fails, north's log names the tree"
must_exit 1 "$TWIN" --dir "$(dir_of south)" sync north
same "$(head_of south)" "$SOUTH_HEAD" "south's head after a refused session"
wait_log north 15 "$TREE"
note "north: $(grep -F "$TREE" "${SERVE_LOG[north]}" | head -n 1)"
serve_stop north

check "north syncs to south's serve: twin sync exits 1 naming the tree"
serve_start south
peer_add north south
must_exit 1 "$TWIN" --dir "$(dir_of north)" sync south
err_has "$TREE"
same "$(head_of south)" "$SOUTH_HEAD" "south's head after a refused session"

check "the tree whole again: the same sync succeeds"
rm -rf "$(dir_of north)/repo.git/objects"
cp -a "$SYNC_TMP/north-objects" "$(dir_of north)/repo.git/objects"
sync_ok north south
same_heads north south
verify_ok north south
serve_stop south

echo "PASS: damage_sync"
