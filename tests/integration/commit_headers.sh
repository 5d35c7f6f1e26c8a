#!/usr/bin/env bash
# twin reads a commit's author and committer lines as strictly as `git fsck --strict`: a table
# of known forms (a zone of five digits, a zero-padded time, brackets out of place...) and a few
# hundred random mutations of a valid line are written with git plumbing onto a good node, and
# for each one twin verify calls the commit malformed whenever git fsck --strict refuses it, and
# refuses more only what lies outside the form twin writes and documents.
# TWIN_HEADER_SEED replays the random cases of a run (the seed is printed), and
# TWIN_HEADER_CASES sets their number.
set -euo pipefail
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"

NODE="$TEST_TMP/node"
SEED=${TWIN_HEADER_SEED:-$RANDOM}
CASES=${TWIN_HEADER_CASES:-300}
# Each line costs one `twin verify`, several times slower under the sanitizers: 300 lines there
# came near the test's time limit on a loaded machine. The fixed table plus 80 random lines keep
# every kind of fault in the sanitized run.
[ "${TWIN_SANITIZED:-OFF}" = ON ] && CASES=${TWIN_HEADER_CASES:-80}

check "a node with a short history, and the person lines to try (seed $SEED)"
found_node "$NODE" "Kestrel Water Institute" XE-EXAMPLE-KESTREL KE south "Header Test Network"
add_record "$NODE" note title="Kick-off" >/dev/null
HEAD=$(node_git "$NODE" rev-parse refs/heads/main)
TREE=$(node_git "$NODE" rev-parse "refs/heads/main^{tree}")
python3 - "$SEED" "$CASES" >"$TEST_TMP/lines" <<'EOF'
import random, sys
seed, cases = int(sys.argv[1]), int(sys.argv[2])
good = "Kestrel Water Institute <XE-EXAMPLE-KESTREL> 1700000000 +0000"
table = [
    good,
    "Kestrel <XE-EXAMPLE-KESTREL> 1700000000 +99999",
    "Kestrel <XE-EXAMPLE-KESTREL> 01700000000 +0000",
    "Kestrel <XE-EXAMPLE-KESTREL> 0 +0000",
    "<XE-EXAMPLE-KESTREL> 1700000000 +0000",
    " <XE-EXAMPLE-KESTREL> 1700000000 +0000",
    "Kestrel<XE-EXAMPLE-KESTREL> 1700000000 +0000",
    "Kestrel <XE-EXAMPLE-KESTREL> 1700000000 +000",
    "Kestrel <XE<EXAMPLE> 1700000000 +0000",
    "Kes>trel <XE-EXAMPLE-KESTREL> 1700000000 +0000",
    "Kestrel <XE-EXAMPLE-KESTREL> 1700000000 0000",
    "Kestrel <XE-EXAMPLE-KESTREL>  1700000000 +0000",
    "Kestrel <XE-EXAMPLE-KESTREL> 99999999999999999999 +0000",
    "Kestrel <XE-EXAMPLE-KESTREL> 9223372036854775807 +0000",
    "Kestrel <XE-EXAMPLE-KESTREL> 9223372036854775806 +0000",
    "Kestrel <XE-EXAMPLE-KESTREL> 1700000000 +0000 ",
    "Kestrel <XE-EXAMPLE-KESTREL>1700000000 +0000",
    "Kestrel <XE-EXAMPLE-KESTREL> 1700000000 -0130",
    "Kestrel <XE-EXAMPLE-KESTREL> 1700000000 +0a00",
    "Kestrel <XE>KESTREL> 1700000000 +0000",
    "Kestrel <> 1700000000 +0000",
    "Kestrel <XE-EXAMPLE-KESTREL> +0000",
    "Kestrel <XE-EXAMPLE-KESTREL> 1700000000",
    "Kes <trel <XE-EXAMPLE-KESTREL> 1700000000 +0000",
]
rng = random.Random(seed)
alphabet = "<> 0123456789+-aX\t"
lines = list(table)
while len(lines) < len(table) + cases:
    s = list(good)
    for _ in range(rng.randint(1, 3)):
        op, i = rng.randrange(3), rng.randrange(len(s) + 1)
        c = rng.choice(alphabet)
        if op == 0:
            s.insert(i, c)
        elif op == 1 and i < len(s):
            del s[i]
        elif i < len(s):
            s[i] = c
    lines.append("".join(s))
for l in lines:
    print(l)
EOF
echo "   $(wc -l <"$TEST_TMP/lines") lines"

check "each line as author and committer: twin calls malformed all that git fsck --strict refuses"
: >"$TEST_TMP/commits"
while IFS= read -r line; do
    printf 'tree %s\nparent %s\nauthor %s\ncommitter %s\n\nadd note\n' "$TREE" "$HEAD" "$line" "$line" \
        >"$TEST_TMP/commit.txt"
    c=$(node_git "$NODE" hash-object -t commit --literally -w "$TEST_TMP/commit.txt")
    printf '%s\t%s\n' "$c" "$line" >>"$TEST_TMP/commits"
done <"$TEST_TMP/lines"
# One fsck over every object: the commits it names are the ones it refuses.
git --git-dir="$NODE/repo.git" fsck --strict --no-dangling --no-progress >"$TEST_TMP/fsck" 2>&1 || true
# The branch is moved to each commit with plain git; its reflog is put back afterwards, since
# twin verify rightly calls a head the branch once held and no longer contains a rewrite.
cp "$NODE/repo.git/logs/refs/heads/main" "$TEST_TMP/reflog"
refused=0
accepted=0
stricter=0
while IFS=$'\t' read -r c line; do
    node_git "$NODE" update-ref refs/heads/main "$c"
    "$TWIN" --dir "$NODE" verify >"$TEST_TMP/verify" 2>&1 || true
    grep -q "commit $c: " "$TEST_TMP/verify" || { cat "$TEST_TMP/verify" >&2; fail "verify did not name $c"; }
    if grep -q "commit $c: malformed commit" "$TEST_TMP/verify"; then twin=refuses; else twin=accepts; fi
    if grep -q "$c" "$TEST_TMP/fsck"; then git=refuses; else git=accepts; fi
    # git reads the time with strtoumax, which also takes blanks and a '+' before the digits;
    # twin takes only the form it documents, so it may refuse more, and only lines outside it.
    in_form=no
    [[ $line =~ ^[^\<\>]*\ \<[^\<\>]*\>\ (0|[1-9][0-9]*)\ [+-][0-9]{4}$ ]] && in_form=yes
    if [ "$twin" != "$git" ] && ! { [ "$git" = accepts ] && [ "$in_form" = no ]; }; then
        grep "$c" "$TEST_TMP/fsck" >&2 || true
        grep "commit $c" "$TEST_TMP/verify" >&2 || true
        fail "the line '$line': git fsck --strict $git it, twin $twin it (seed $SEED)"
    fi
    if [ "$git" = refuses ]; then
        refused=$((refused + 1))
    elif [ "$twin" = refuses ]; then
        stricter=$((stricter + 1))
    else
        accepted=$((accepted + 1))
    fi
done <"$TEST_TMP/commits"
echo "   $refused refused by both, $accepted accepted by both, $stricter refused by twin alone"
[ "$refused" -ge 15 ] && [ "$accepted" -ge 5 ] || fail "too few of one kind to tell anything"

check "a NUL inside a person line, or in the message: both refuse it"
for where in header message; do
    if [ "$where" = header ]; then
        printf 'tree %s\nparent %s\nauthor Kes\0trel <XE-EXAMPLE-KESTREL> 1700000000 +0000\ncommitter Kestrel <XE-EXAMPLE-KESTREL> 1700000000 +0000\n\nadd note\n' \
            "$TREE" "$HEAD" >"$TEST_TMP/commit.nul"
    else
        printf 'tree %s\nparent %s\nauthor Kestrel <XE-EXAMPLE-KESTREL> 1700000000 +0000\ncommitter Kestrel <XE-EXAMPLE-KESTREL> 1700000000 +0000\n\nadd\0note\n' \
            "$TREE" "$HEAD" >"$TEST_TMP/commit.nul"
    fi
    c=$(node_git "$NODE" hash-object -t commit --literally -w "$TEST_TMP/commit.nul")
    node_git "$NODE" update-ref refs/heads/main "$c"
    "$TWIN" --dir "$NODE" verify >"$TEST_TMP/verify" 2>&1 || true
    grep -q "commit $c: malformed commit" "$TEST_TMP/verify" ||
        { cat "$TEST_TMP/verify" >&2; fail "twin took a commit with a NUL in its $where"; }
    git --git-dir="$NODE/repo.git" fsck --strict --no-dangling --no-progress >"$TEST_TMP/fsck" 2>&1 || true
    grep -q "$c" "$TEST_TMP/fsck" || fail "git fsck --strict took the NUL in the $where (test premise)"
done

node_git "$NODE" update-ref refs/heads/main "$HEAD"
cp "$TEST_TMP/reflog" "$NODE/repo.git/logs/refs/heads/main"
expect_ok tw "$NODE" verify

echo "PASS: $TEST_NAME"
