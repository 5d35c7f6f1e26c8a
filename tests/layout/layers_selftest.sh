#!/usr/bin/env bash
# tools/layers on small made-up trees: it passes a tree that keeps the layering, and names each
# kind of breach in trees that do not.
set -euo pipefail
layers=${1:?usage: layers_selftest.sh TOOLS_LAYERS}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
    echo "FAIL: $*"
    exit 1
}

# tree NAME: a tree that keeps the rules: base/util, git/pack (uses util), cli (public only).
tree() {
    local t=$tmp/$1
    mkdir -p "$t/src/base" "$t/src/git" "$t/src/cli" "$t/include/twin"
    printf '#include "base/util.h"\n' >"$t/src/base/util.c"
    : >"$t/src/base/util.h"
    printf '#include "twin/pack.h"\n#include "base/util.h"\n' >"$t/src/git/pack.c"
    printf '#include "base/util.h"\n' >"$t/src/git/pack_table.c"
    : >"$t/include/twin/pack.h"
    printf '#include "twin/pack.h"\n#include "cli.h"\n' >"$t/src/cli/main.c"
    : >"$t/src/cli/cli.h"
    echo "$t"
}

# expect NAME TEXT: tools/layers fails on tree NAME and prints TEXT.
expect() {
    local out
    if out=$(bash "$layers" "$tmp/$1" 2>&1); then
        fail "$1: tools/layers passed a tree with a breach"
    fi
    grep -qF -- "$2" <<<"$out" || fail "$1: expected '$2' in: $out"
}

t=$(tree good)
out=$(bash "$layers" "$t") || fail "good: tools/layers refused a sound tree: $out"
grep -q 'no cycle' <<<"$out" || fail "good: no summary line: $out"

t=$(tree upward)
printf '#include "git/pack.h"\n' >>"$t/src/base/util.c"
: >"$t/src/git/pack.h"
expect upward 'src/base/util.c (base) includes git/pack.h (git), a higher layer'

t=$(tree cli_private)
printf '#include "base/util.h"\n' >>"$t/src/cli/main.c"
expect cli_private 'the command line includes base/util.h, which is not a public header'

t=$(tree cycle)
printf '#include "git/index.h"\n' >>"$t/src/git/pack.c"
printf '#include "twin/pack.h"\n' >"$t/src/git/index.c"
: >"$t/src/git/index.h"
expect cycle 'include cycle:'

t=$(tree part_cycle)
# A module's own part (pack_table.c) may include the module; a part of one module including
# another that includes the first back is still a cycle.
printf '#include "twin/pack.h"\n#include "git/index.h"\n' >>"$t/src/git/pack_table.c"
printf '#include "twin/pack.h"\n' >"$t/src/git/index.c"
: >"$t/src/git/index.h"
expect part_cycle 'include cycle:'

t=$(tree stray)
mkdir -p "$t/src/misc"
: >"$t/src/misc/x.c"
expect stray 'src/misc/: a folder that is not a layer'

t=$(tree wrong_folder)
printf '#include "git/util.h"\n' >>"$t/src/git/pack.c"
expect wrong_folder 'includes git/util.h, but module util lives in src/base/'

t=$(tree readme)
printf '## Source layout\n\n| `src/base/util.c` | helpers |\n| `src/git/gone.c` | was here |\n## Next\n`src/git/pack.c`\n' >"$t/README.md"
expect readme 'README.md, Source layout: src/git/pack.c is not listed'
expect readme 'README.md, Source layout: src/git/gone.c is listed but does not exist'
printf '## Source layout\n\n| `src/base/util.c` | `src/git/pack.c`, `src/git/pack_table.c` |\n' >"$t/README.md"
out=$(bash "$layers" "$t") || fail "readme: a complete table was refused: $out"

echo "tools/layers self-test: a sound tree passes; upward includes, private headers in the command line, cycles, stray folders, wrong folders and a README table that misses or invents a file are refused"
