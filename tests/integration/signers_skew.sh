#!/usr/bin/env bash
# The auditor's promise under wrong clocks: stock `git verify-commit`, with the allowed-signers
# file twin exports, accepts every commit twin accepts, whatever the clocks of the admins and
# partners that made them. A differential test: each twin command runs with a clock error drawn
# at random (TWIN_TEST_CLOCK_SKEW), across member adds, key rotations, a revocation that crosses
# a partner's concurrent write, and a key added for the revoked member; then every commit of the
# history is put to twin and to git. A first round has fixed clocks: the admin's is a day fast
# when it adds the partner, whose own clock is right.
#
# The clock errors are drawn from a seed, printed first; TWIN_TEST_SEED repeats a run's choices,
# and TWIN_SKEW_ROUNDS sets the number of random rounds (default 1).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/sync.bash
. "$(dirname "$0")/lib/sync.bash"

seed=${TWIN_TEST_SEED:-$(((RANDOM << 15) | RANDOM))}
echo "seed: $seed (repeat with TWIN_TEST_SEED=$seed)"
RANDOM=$seed
ROUNDS=${TWIN_SKEW_ROUNDS:-1}
DAY=86400

# draw_skew: sets SKEW to a clock error in seconds: mostly within two days either way, now and
# then within a year and a half. Drawn in this shell, not a subshell, so a seed repeats it.
draw_skew() {
    local r=$(((RANDOM << 15) | RANDOM))
    if [ $((RANDOM % 5)) -eq 0 ]; then
        SKEW=$((r % (1000 * DAY + 1) - 500 * DAY))
    else
        SKEW=$((r % (4 * DAY + 1) - 2 * DAY))
    fi
}

# FIXED: when set, the clock error every command of the round runs with instead of a drawn one.
FIXED=

# on NODE ARGS...: twin ARGS on NODE, with its clock wrong by a drawn (or FIXED) error.
on() {
    local node=$1
    shift
    if [ -n "$FIXED" ]; then SKEW=$FIXED; else draw_skew; fi
    note "$node, clock $((SKEW / 3600))h off: twin $*"
    TWIN_TEST_CLOCK_SKEW=$SKEW must "$TWIN" --dir "$(dir_of "$node")" "$@"
}

# differential NODE: twin verify finds every commit valid, and stock git verify-commit, with the
# allowed-signers file twin exports, accepts each commit that twin log calls good.
differential() {
    local node=$1 signers="$SYNC_TMP/allowed-signers-$1" c verdict n=0
    verify_ok "$node"
    must "$TWIN" --dir "$(dir_of "$node")" export allowed-signers --out "$signers"
    tw "$node" log | awk '/^commit /{c = $2} /^  signature: /{print c, $2}' >"$SYNC_TMP/verdicts"
    [ "$(wc -l <"$SYNC_TMP/verdicts")" -eq "$(ngit "$node" rev-list --count refs/heads/main)" ] ||
        fail "twin log gave no verdict for some commits"
    while read -r c verdict; do
        [ "$verdict" = good ] || fail "twin log calls $c $verdict in a history verify accepts"
        run git --git-dir="$(dir_of "$node")/repo.git" -c gpg.ssh.allowedSignersFile="$signers" \
            verify-commit "$c"
        if [ "$RUN_STATUS" -ne 0 ] || ! grep -q '^Good "git" signature for XE-EXAMPLE-' "$RUN_ERR"; then
            echo "--- commit $c: $(ngit "$node" log -1 --format='committer %ce, %ct (%cI)' "$c")" >&2
            echo "--- git verify-commit said:" >&2
            cat "$RUN_ERR" >&2
            echo "--- allowed signers:" >&2
            cat "$signers" >&2
            fail "seed $seed: twin accepts commit $c, stock git does not"
        fi
        n=$((n + 1))
    done <"$SYNC_TMP/verdicts"
    note "twin and stock git accept all $n commits"
}

# round NAME: one history, made by admin a, partner p (an admin too) and partner q, each command
# with its own clock error.
round() {
    local r=$1 a="a$1" p="p$1" q="q$1" q2="q2$1"
    check "round $r: the founder admits a partner and each writes"
    NODE_ORG[$a]=XE-EXAMPLE-A
    if [ -n "$FIXED" ]; then SKEW=0; else draw_skew; fi
    TWIN_TEST_CLOCK_SKEW=$SKEW node_new "$a" XE-EXAMPLE-A NL north
    node_new "$p" XE-EXAMPLE-P TZ south "$a"
    node_new "$q" XE-EXAMPLE-Q KE south "$a"
    serve_start "$a"
    peer_add "$p" "$a"
    peer_add "$q" "$a"
    [ -n "$FIXED" ] && FIXED=$DAY # the admin's clock is a day fast when it adds the partner
    on "$a" member add --name "${NODE_LABEL[$p]}" --org-id XE-EXAMPLE-P --country TZ \
        --side south --key "$(key_of "$p")" --role admin
    [ -n "$FIXED" ] && FIXED=0 # and the partner's is right
    on "$p" sync
    on "$p" add note title="Partner's first note"
    on "$p" sync

    check "round $r: concurrent writes, merged by the partner"
    on "$a" add note title="Admin's note"
    on "$p" add note title="Partner's second note"
    on "$p" sync

    check "round $r: the partner rotates its key and writes with the new one"
    on "$p" key rotate
    on "$p" add note title="Signed with the new key"
    on "$p" sync

    check "round $r: a second partner joins; the first revokes its key while it writes"
    on "$a" member add --name "${NODE_LABEL[$q]}" --org-id XE-EXAMPLE-Q --country KE \
        --side south --key "$(key_of "$q")"
    on "$q" sync
    on "$q" add note title="Second partner's note"
    on "$q" sync
    on "$p" sync
    on "$p" member revoke-key XE-EXAMPLE-Q "$(key_of "$q")"
    on "$q" add note title="Written as the key was revoked elsewhere"
    on "$q" sync
    on "$p" sync

    check "round $r: the revoked partner comes back with a new node and key"
    node_new "$q2" XE-EXAMPLE-Q KE south "$a"
    peer_add "$q2" "$a"
    on "$a" member add-key XE-EXAMPLE-Q "$(key_of "$q2")"
    on "$q2" sync
    on "$q2" add note title="Back with a new key"
    on "$q2" sync
    on "$p" sync
    serve_stop "$a"

    check "round $r: stock git accepts every commit twin accepts"
    same "$(head_of "$p")" "$(head_of "$a")" "the partner's head"
    differential "$a"

    check "round $r: a commit the revoked key signs later is refused by twin and by git"
    local head tree last late
    head=$(head_of "$a")
    tree=$(ngit "$a" rev-parse "$head^{tree}")
    last=$(ngit "$a" log --format=%ct refs/heads/main | sort -n | tail -n 1)
    late=$(GIT_AUTHOR_NAME="${NODE_LABEL[$q]}" GIT_AUTHOR_EMAIL=XE-EXAMPLE-Q \
        GIT_COMMITTER_NAME="${NODE_LABEL[$q]}" GIT_COMMITTER_EMAIL=XE-EXAMPLE-Q \
        GIT_AUTHOR_DATE="@$((last + 400 * DAY)) +0000" \
        GIT_COMMITTER_DATE="@$((last + 400 * DAY)) +0000" \
        ngit "$a" -c gpg.format=ssh -c user.signingkey="$(dir_of "$q")/node.key" \
        commit-tree -S -p "$head" -m "add nothing" "$tree")
    ngit "$a" update-ref refs/heads/main "$late" "$head"
    tw "$a" log >"$SYNC_TMP/log-late"
    awk -v c="commit $late" '$0 == c { f = 1 } f && /signature:/ { print; exit }' \
        "$SYNC_TMP/log-late" | grep -F "signature: BAD: signed by XE-EXAMPLE-Q's revoked key" >/dev/null ||
        fail "twin log does not refuse the revoked key's later commit"
    run git --git-dir="$(dir_of "$a")/repo.git" \
        -c gpg.ssh.allowedSignersFile="$SYNC_TMP/allowed-signers-$a" verify-commit "$late"
    [ "$RUN_STATUS" -ne 0 ] || fail "stock git accepts the revoked key's commit dated after its window"
    FIXED=
}

FIXED=1 # marks the fixed round; its clocks are set inside
round 0
for ((i = 1; i <= ROUNDS; i++)); do
    round "$i"
done
echo "PASS: signers_skew (seed $seed)"
