#!/usr/bin/env bash
# The command line's help comes from one page per command in doc/cli/ (tools/gendocs): every
# command of the table in src/cli/main.c has a page and every page a command; `twin CMD --help`,
# `twin CMD -h` and `twin help CMD` print exactly the text generated for the page, and `twin
# --help` the overview, with each page's synopsis and summary; every man page renders without a
# warning; every option a synopsis names is explained under the page's options; and a page that
# breaks the format stops the generator, which names the file and the fault.
set -euo pipefail
# shellcheck source=lib/common.bash
. "$(dirname "$0")/lib/common.bash"

SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${TWIN_BUILD_DIR:-$SRC/build}
GEN="$BUILD/generated"
PAGES="$SRC/doc/cli"
[ -d "$GEN/man" ] && [ -d "$GEN/help" ] || fail "no generated pages in $GEN (build first)"

# page_field PAGE FIELD: the values of a header line ("summary: ...", "synopsis: ...").
page_field() {
    sed -n "s/^$2: //p" "$1"
}

# page_options PAGE: the option names under the page's "options:" section.
page_options() {
    awk '/^[a-z ]+:$/ { inopts = ($0 == "options:"); next }
         inopts && /^--/ { print $1 }' "$1"
}

check "the table of commands, the pages, the man pages and twin.txt's list agree"
TABLE=$(sed -n '/^static const struct cli_command commands\[\] = {$/,/^};$/p' "$SRC/src/cli/main.c" |
    grep -oE '\{"[a-z-]+", cmd_[a-z_]+\}' | sed 's/^{"\([a-z-]*\)".*/\1/' | sort)
[ "$(wc -l <<<"$TABLE")" -ge 30 ] || fail "found only $(wc -l <<<"$TABLE") commands in src/cli/main.c"
FROM_PAGES=$(cd "$PAGES" && ls twin-*.txt | sed 's/^twin-\(.*\)\.txt$/\1/' | sort)
FROM_MAN=$(cd "$GEN/man" && ls twin-*.1 | sed 's/^twin-\(.*\)\.1$/\1/' | sort)
LISTED=$(page_field "$PAGES/twin.txt" commands | tr ' ' '\n' | sort)
expect_eq "$FROM_PAGES" "$TABLE" "the pages in doc/cli/ against the commands in src/cli/main.c"
expect_eq "$FROM_MAN" "$TABLE" "the man pages against the commands"
expect_eq "$LISTED" "$TABLE" "the commands twin.txt lists against the commands"
[ -f "$GEN/man/twin.1" ] || fail "no twin.1"
echo "   $(wc -l <<<"$TABLE") commands, each with its page"

check "twin CMD --help, twin CMD -h and twin help CMD print the text generated for the page"
for cmd in $TABLE; do
    for form in "$cmd --help" "$cmd -h" "help $cmd"; do
        # shellcheck disable=SC2086 # the form's words
        expect_ok "$TWIN" $form
        expect_stderr_empty
        cmp -s "$OUT" "$GEN/help/twin-$cmd.txt" || {
            diff "$GEN/help/twin-$cmd.txt" "$OUT" | head -20 >&2
            fail "twin $form differs from the help generated from doc/cli/twin-$cmd.txt"
        }
    done
done
expect_ok "$TWIN" --help
cmp -s "$OUT" "$GEN/help/twin.txt" || fail "twin --help differs from the generated overview"
expect_exit 2 "$TWIN"
cmp -s "$ERR" "$GEN/help/twin.txt" || fail "twin alone does not print the overview on stderr"

check "each help shows its page's synopsis forms and summary; the overview every summary"
flat() { tr -s ' \n' '  ' <"$1"; }
expect_ok "$TWIN" --help
OVERVIEW=$(flat "$OUT")
for cmd in $TABLE; do
    page="$PAGES/twin-$cmd.txt"
    expect_ok "$TWIN" help "$cmd"
    expect_eq "$(head -c "$((12 + ${#cmd}))" "$OUT")" "usage: twin $cmd" "the first line of twin help $cmd"
    text=$(flat "$OUT")
    summary=$(page_field "$page" summary)
    [[ $text == *"$summary"* ]] || fail "twin help $cmd lacks its summary: $summary"
    [[ $OVERVIEW == *" $cmd $summary "* ]] || fail "twin --help lacks '$cmd' with its summary"
    while IFS= read -r form; do
        [[ $text == *"$form"* ]] || fail "twin help $cmd lacks the synopsis: $form"
    done < <(page_field "$page" synopsis)
    for opt in $(page_options "$page"); do
        [[ $text == *" $opt"* ]] || fail "twin help $cmd does not explain $opt"
    done
done

check "every option a synopsis names is explained under the page's options"
checked=0
for page in "$PAGES"/twin.txt "$PAGES"/twin-*.txt; do
    explained=" $(page_options "$page" | tr '\n' ' ') "
    for opt in $(page_field "$page" synopsis | grep -oE -- '--[a-z0-9-]+' | sort -u); do
        [[ $explained == *" $opt "* ]] || fail "$(basename "$page"): the synopsis names $opt, not explained under options"
        checked=$((checked + 1))
    done
done
echo "   $checked options"

check "every man page renders without warnings, with its name, synopsis and exit status"
for f in "$GEN"/man/*.1; do
    name=$(basename "$f" .1)
    expect_ok groff -man -ww -z "$f"
    expect_stderr_empty
    expect_ok groff -man -Tascii -ww "$f"
    expect_stderr_empty
    # groff marks bold and underlined text with backspaces; the words stay in order.
    rendered=$(sed 's/.\x08//g' "$OUT" | tr -s ' \n' '  ')
    for heading in NAME SYNOPSIS DESCRIPTION "EXIT STATUS" "SEE ALSO"; do
        [[ $rendered == *" $heading "* ]] || fail "$name.1 has no $heading"
    done
    if [ "$name" != twin ]; then
        summary=$(page_field "$PAGES/$name.txt" summary)
        [[ $rendered == *"$name - ${summary//\`/}"* ]] || fail "$name.1 does not render its NAME line"
    fi
    if command -v man >/dev/null; then
        MANWIDTH=80 expect_ok man --warnings -l "$f"
        expect_stderr_empty
    fi
done
echo "   $(ls "$GEN"/man/*.1 | wc -l) pages"

check "the generator refuses a page that breaks the format, naming the file and the fault"
BAD="$TEST_TMP/pages"
gen_bad() {
    mkdir -p "$BAD/man" "$BAD/help"
    expect_exit 1 "$BUILD/gendocs" --version 0 --c "$BAD/c.c" --man "$BAD/man" \
        --help-dir "$BAD/help" --completion-template "$PAGES/twin.bash.in" \
        --completion "$BAD/twin.bash" "$BAD/twin.txt" "$BAD"/twin-*.txt
}
reset_pages() {
    rm -rf "$BAD"
    mkdir -p "$BAD"
    cp "$PAGES"/twin.txt "$PAGES"/twin-*.txt "$BAD/"
}
reset_pages
sed -i '/^--from FILE|-$/,/^--audience/{/^--audience/!d}' "$BAD/twin-add.txt"
gen_bad
expect_stderr_contains "twin-add.txt: the synopsis names --from, which 'options:' does not explain"
reset_pages
sed -i 's/^commands: init id /commands: id /' "$BAD/twin.txt"
gen_bad
expect_stderr_contains "twin-init.txt: command 'init' is missing from the 'commands: ' line of"
reset_pages
rm "$BAD/twin-share.txt"
gen_bad
expect_stderr_contains "lists 'share', but there is no twin-share.txt"
reset_pages
printf 'usage:\n  nothing\n' >>"$BAD/twin-id.txt"
gen_bad
expect_stderr_contains "twin-id.txt:$(wc -l <"$BAD/twin-id.txt" | awk '{print $1 - 1}'): unknown section 'usage'"
reset_pages
sed -i 's/^description:$/about:/' "$BAD/twin-log.txt"
gen_bad
expect_stderr_contains "twin-log.txt:"
expect_stderr_contains "unknown section 'about'"
reset_pages
printf 'examples:\n    twin show caf\xc3\xa9\n' >>"$BAD/twin-show.txt"
gen_bad
expect_stderr_contains "twin-show.txt:$(wc -l <"$BAD/twin-show.txt" | awk '{print $1}'): only printable ASCII"
reset_pages
sed -i '/^summary: /d' "$BAD/twin-set.txt"
gen_bad
expect_stderr_contains "twin-set.txt: no 'summary: ' line"
echo "cli_docs: ok"
