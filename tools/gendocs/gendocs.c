/*
 * gendocs: turns the command line's documentation sources (the pages in doc/cli/, their
 * format in doc/cli/README.md) into everything that shows them: the C source holding each command's
 * --help text and the overview twin --help prints, the man pages twin(1) and twin-COMMAND(1),
 * the same help texts as files (for the tests to compare with the binary's), and the bash
 * completion script, whose option lists come from the same pages. One source, so --help, the
 * man pages and completion cannot drift apart.
 *
 * usage: gendocs --version V --c FILE --man DIR --help-dir DIR
 *                --completion-template FILE --completion FILE twin.txt twin-COMMAND.txt...
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Far above any real page, so a runaway file fails instead of growing without bound. */
#define MAX_SOURCE (256 * 1024)
#define MAX_LINES  4096
#define WIDTH      78 /* --help is wrapped to this many columns */
#define TERM_COL   16 /* where a list item's text starts in --help */

/* ---- failing and memory ------------------------------------------------------------------- */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;
    fputs("gendocs: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void *xrealloc(void *p, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        die("out of memory");
    void *q = realloc(p, n * size > 0 ? n * size : 1);
    if (!q)
        die("out of memory");
    return q;
}

static char *xstrndup(const char *s, size_t n)
{
    char *d = xrealloc(NULL, n + 1, 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* A growable string. */
struct buf {
    char *s;
    size_t len, cap;
};

static void buf_addn(struct buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->s = xrealloc(b->s, cap, 1);
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void buf_add(struct buf *b, const char *s)
{
    buf_addn(b, s, strlen(s));
}

static void buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void buf_addf(struct buf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        die("internal: formatted piece too long");
    buf_addn(b, tmp, (size_t)n);
}

static void buf_spaces(struct buf *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf_addn(b, " ", 1);
}

/* ---- the page model ----------------------------------------------------------------------- */

/* A paragraph (its lines joined by spaces) or a verbatim block (its lines kept). */
struct block {
    bool verbatim;
    char *text;
};

struct item {
    char *term;
    struct block *blocks;
    size_t nblocks;
};

struct section {
    char *title; /* as in the source: "options", "exit status", ... */
    bool is_list;
    struct block *blocks; /* a text section */
    size_t nblocks;
    struct item *items; /* a list section */
    size_t nitems;
};

struct page {
    const char *path;
    char *name; /* "twin" for the overview, else the command: "add" */
    char *summary;
    char **synopsis;
    size_t nsynopsis;
    char **commands; /* twin.txt only: the commands in the overview's order */
    size_t ncommands;
    struct section *sections;
    size_t nsections;
    char **see_also;
    size_t nsee_also;
};

static const char *const text_sections[] = {"description", "examples", NULL};
static const char *const list_sections[] = {"commands",    "options", "environment",
                                            "exit status", "files",   NULL};

static bool in_list(const char *const *list, const char *s)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(list[i], s) == 0)
            return true;
    return false;
}

/* A line "title:" at column 0: lower-case letters and spaces, then the colon. Every such line
 * opens a section, so a misspelt title is refused rather than read as text. */
static bool is_section_title(const char *l)
{
    size_t len = strlen(l);
    if (len < 2 || !islower((unsigned char)l[0]) || l[len - 1] != ':')
        return false;
    for (size_t i = 0; i + 1 < len; i++)
        if (!islower((unsigned char)l[i]) && l[i] != ' ')
            return false;
    return true;
}

static const struct section *page_section(const struct page *p, const char *title)
{
    for (size_t i = 0; i < p->nsections; i++)
        if (strcmp(p->sections[i].title, title) == 0)
            return &p->sections[i];
    return NULL;
}

/* Splits a line of space-separated words into a new array. */
static char **split_words(const char *s, size_t *n)
{
    char **out = NULL;
    *n = 0;
    while (*s) {
        while (*s == ' ' || *s == ',')
            s++;
        const char *e = s;
        while (*e && *e != ' ' && *e != ',')
            e++;
        if (e > s) {
            out = xrealloc(out, *n + 1, sizeof(*out));
            out[(*n)++] = xstrndup(s, (size_t)(e - s));
        }
        s = e;
    }
    return out;
}

/* ---- reading a source --------------------------------------------------------------------- */

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die("%s: %s", path, strerror(errno));
    char *data = xrealloc(NULL, MAX_SOURCE + 1, 1);
    size_t n = fread(data, 1, MAX_SOURCE + 1, f);
    bool bad = ferror(f);
    fclose(f);
    if (bad)
        die("%s: read error", path);
    if (n > MAX_SOURCE)
        die("%s: larger than %d bytes", path, MAX_SOURCE);
    data[n] = '\0';
    if (strlen(data) != n)
        die("%s: holds a NUL byte", path);
    return xrealloc(data, n + 1, 1);
}

/* Adds a block built from lines[from, to): a paragraph joined by spaces, or verbatim lines with
 * `strip` leading spaces removed. */
static void add_block(struct block **blocks, size_t *n, char **lines, size_t from, size_t to,
                      bool verbatim, size_t strip)
{
    struct buf b = {0};
    for (size_t i = from; i < to; i++) {
        const char *l = lines[i] + strip;
        if (verbatim) {
            if (i > from)
                buf_add(&b, "\n");
            buf_add(&b, l);
        } else {
            while (*l == ' ')
                l++;
            if (i > from)
                buf_add(&b, " ");
            buf_add(&b, l);
        }
    }
    *blocks = xrealloc(*blocks, *n + 1, sizeof(**blocks));
    (*blocks)[(*n)++] = (struct block){verbatim, b.s ? b.s : xstrndup("", 0)};
}

static size_t indent_of(const char *l)
{
    size_t n = 0;
    while (l[n] == ' ')
        n++;
    return n;
}

/* Reads the lines [from, to) of a text (base 0) or an item's text (base 2) into blocks:
 * paragraphs are separated by blank lines, and lines indented 4 more than the base are verbatim. */
static void parse_blocks(char **lines, size_t from, size_t to, size_t base, struct block **blocks,
                         size_t *n)
{
    size_t i = from;
    while (i < to) {
        if (lines[i][0] == '\0') {
            i++;
            continue;
        }
        bool verbatim = indent_of(lines[i]) >= base + 4;
        size_t j = i;
        while (j < to && lines[j][0] != '\0' && (indent_of(lines[j]) >= base + 4) == verbatim)
            j++;
        add_block(blocks, n, lines, i, j, verbatim, base + (verbatim ? 4 : 0));
        i = j;
    }
}

static struct page parse_page(const char *path)
{
    struct page p = {.path = path};
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t blen = strlen(base);
    if (blen < 5 || strcmp(base + blen - 4, ".txt") != 0)
        die("%s: a page's file is named twin.txt or twin-COMMAND.txt", path);
    if (strcmp(base, "twin.txt") == 0)
        p.name = xstrndup("twin", 4);
    else if (strncmp(base, "twin-", 5) == 0 && blen > 9)
        p.name = xstrndup(base + 5, blen - 9);
    else
        die("%s: a page's file is named twin.txt or twin-COMMAND.txt", path);

    char *data = read_file(path);
    char **lines = NULL;
    size_t nlines = 0;
    for (char *s = data; *s;) {
        char *e = strchr(s, '\n');
        if (!e)
            die("%s: the last line has no newline", path);
        *e = '\0';
        if (nlines == MAX_LINES)
            die("%s: more than %d lines", path, MAX_LINES);
        for (char *c = s; *c; c++) {
            if ((unsigned char)*c >= 0x80 || (*c < ' ' && *c != '\0'))
                die("%s:%zu: only printable ASCII is allowed (a tab or a non-ASCII character)",
                    path, nlines + 1);
        }
        size_t len = strlen(s);
        if (len && s[len - 1] == ' ')
            die("%s:%zu: trailing space", path, nlines + 1);
        lines = xrealloc(lines, nlines + 1, sizeof(*lines));
        lines[nlines++] = s;
        s = e + 1;
    }

    size_t i = 0;
    /* The header: summary, synopsis lines, commands (twin.txt), comments and blank lines. */
    for (; i < nlines; i++) {
        char *l = lines[i];
        if (l[0] == '#' || l[0] == '\0')
            continue;
        if (strncmp(l, "summary: ", 9) == 0) {
            if (p.summary)
                die("%s:%zu: a second summary", path, i + 1);
            p.summary = xstrndup(l + 9, strlen(l + 9));
        } else if (strncmp(l, "synopsis: ", 10) == 0) {
            p.synopsis = xrealloc(p.synopsis, p.nsynopsis + 1, sizeof(*p.synopsis));
            p.synopsis[p.nsynopsis++] = xstrndup(l + 10, strlen(l + 10));
        } else if (strncmp(l, "commands: ", 10) == 0) {
            if (strcmp(p.name, "twin") != 0)
                die("%s:%zu: only twin.txt lists the commands", path, i + 1);
            p.commands = split_words(l + 10, &p.ncommands);
        } else {
            break;
        }
    }
    if (!p.summary)
        die("%s: no 'summary: ' line", path);
    if (p.nsynopsis == 0)
        die("%s: no 'synopsis: ' line", path);
    for (size_t s = 0; s < p.nsynopsis; s++) {
        char prefix[64];
        snprintf(prefix, sizeof(prefix), "twin %s", p.name);
        size_t pl = strcmp(p.name, "twin") == 0 ? 4 : strlen(prefix);
        if (strncmp(p.synopsis[s], prefix, pl) != 0 ||
            (p.synopsis[s][pl] != ' ' && p.synopsis[s][pl] != '\0'))
            die("%s: synopsis '%s' does not begin with '%s'", path, p.synopsis[s],
                strcmp(p.name, "twin") == 0 ? "twin" : prefix);
    }

    /* Sections: a line "title:" at column 0, then its text up to the next title. */
    while (i < nlines) {
        char *l = lines[i];
        size_t len = strlen(l);
        if (l[0] == '#') {
            i++;
            continue;
        }
        if (!is_section_title(l))
            die("%s:%zu: expected a section title such as 'description:', not '%s'", path, i + 1,
                l);
        char *title = xstrndup(l, len - 1);
        bool is_list = in_list(list_sections, title);
        bool is_see = strcmp(title, "see also") == 0;
        if (!is_list && !is_see && !in_list(text_sections, title))
            die("%s:%zu: unknown section '%s' (known: description, commands, options, "
                "environment, exit status, files, examples, see also)",
                path, i + 1, title);
        for (size_t s = 0; s < p.nsections; s++)
            if (strcmp(p.sections[s].title, title) == 0)
                die("%s:%zu: a second '%s' section", path, i + 1, title);
        size_t from = ++i;
        while (i < nlines && !is_section_title(lines[i]))
            i++;
        if (is_see) {
            for (size_t k = from; k < i; k++) {
                size_t n;
                char **w = split_words(lines[k], &n);
                for (size_t m = 0; m < n; m++) {
                    p.see_also = xrealloc(p.see_also, p.nsee_also + 1, sizeof(*p.see_also));
                    p.see_also[p.nsee_also++] = w[m];
                }
                free(w);
            }
            free(title);
            continue;
        }
        struct section sec = {.title = title, .is_list = is_list};
        if (!is_list) {
            parse_blocks(lines, from, i, 0, &sec.blocks, &sec.nblocks);
        } else {
            size_t k = from;
            while (k < i) {
                if (lines[k][0] == '\0' || lines[k][0] == '#') {
                    k++;
                    continue;
                }
                if (lines[k][0] == ' ')
                    die("%s:%zu: text before the first term of '%s' (a term stands at column 0, "
                        "its text is indented two spaces)",
                        path, k + 1, title);
                struct item it = {.term = xstrndup(lines[k], strlen(lines[k]))};
                size_t end = ++k;
                while (end < i && (lines[end][0] == ' ' || lines[end][0] == '\0'))
                    end++;
                for (size_t m = k; m < end; m++)
                    if (lines[m][0] == ' ' && indent_of(lines[m]) < 2)
                        die("%s:%zu: indent a term's text by two spaces", path, m + 1);
                parse_blocks(lines, k, end, 2, &it.blocks, &it.nblocks);
                if (it.nblocks == 0)
                    die("%s:%zu: '%s' has no text", path, k, it.term);
                sec.items = xrealloc(sec.items, sec.nitems + 1, sizeof(*sec.items));
                sec.items[sec.nitems++] = it;
                k = end;
            }
        }
        p.sections = xrealloc(p.sections, p.nsections + 1, sizeof(*p.sections));
        p.sections[p.nsections++] = sec;
    }

    if (!page_section(&p, "description"))
        die("%s: no 'description:' section", path);
    if (!page_section(&p, "exit status"))
        die("%s: no 'exit status:' section", path);
    /* Every option the synopsis shows is explained under options. */
    const struct section *opts = page_section(&p, "options");
    for (size_t s = 0; s < p.nsynopsis; s++) {
        for (const char *c = strstr(p.synopsis[s], "--"); c; c = strstr(c + 2, "--")) {
            size_t n = 2;
            while (islower((unsigned char)c[n]) || isdigit((unsigned char)c[n]) || c[n] == '-')
                n++;
            bool found = false;
            for (size_t k = 0; opts && k < opts->nitems && !found; k++) {
                const char *t = opts->items[k].term;
                found = strncmp(t, c, n) == 0 && (t[n] == ' ' || t[n] == '\0' || t[n] == '=');
            }
            if (!found)
                die("%s: the synopsis names %.*s, which 'options:' does not explain", path, (int)n,
                    c);
            c += n - 2;
        }
    }
    free(lines);
    free(data);
    return p;
}

static void blocks_free(struct block *blocks, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(blocks[i].text);
    free(blocks);
}

static void page_free(struct page *p)
{
    free(p->name);
    free(p->summary);
    for (size_t i = 0; i < p->nsynopsis; i++)
        free(p->synopsis[i]);
    free(p->synopsis);
    for (size_t i = 0; i < p->ncommands; i++)
        free(p->commands[i]);
    free(p->commands);
    for (size_t i = 0; i < p->nsections; i++) {
        struct section *sec = &p->sections[i];
        free(sec->title);
        blocks_free(sec->blocks, sec->nblocks);
        for (size_t k = 0; k < sec->nitems; k++) {
            free(sec->items[k].term);
            blocks_free(sec->items[k].blocks, sec->items[k].nblocks);
        }
        free(sec->items);
    }
    free(p->sections);
    for (size_t i = 0; i < p->nsee_also; i++)
        free(p->see_also[i]);
    free(p->see_also);
}

/* ---- --help text -------------------------------------------------------------------------- */

/* Appends text wrapped to WIDTH: the first line continues at column `col` (already written),
 * later lines start with `indent` spaces. */
static void wrap(struct buf *b, const char *text, size_t col, size_t indent)
{
    const char *s = text;
    bool first = true;
    while (*s) {
        while (*s == ' ')
            s++;
        const char *e = s;
        while (*e && *e != ' ')
            e++;
        size_t n = (size_t)(e - s);
        if (n == 0)
            break;
        if (!first && col + 1 + n > WIDTH) {
            buf_add(b, "\n");
            buf_spaces(b, indent);
            col = indent;
            first = true;
        }
        if (!first) {
            buf_add(b, " ");
            col++;
        }
        buf_addn(b, s, n);
        col += n;
        first = false;
        s = e;
    }
    buf_add(b, "\n");
}

static void help_blocks(struct buf *b, const struct block *blocks, size_t n, size_t col,
                        size_t indent)
{
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            buf_add(b, "\n");
            buf_spaces(b, indent);
            col = indent;
        }
        if (blocks[i].verbatim) {
            for (const char *l = blocks[i].text; *l;) {
                const char *e = strchr(l, '\n');
                size_t len = e ? (size_t)(e - l) : strlen(l);
                if (l != blocks[i].text)
                    buf_spaces(b, indent);
                buf_addn(b, l, len);
                buf_add(b, "\n");
                l += len + (e ? 1 : 0);
            }
        } else {
            wrap(b, blocks[i].text, col, indent);
        }
    }
}

/* A list: each term at column 2, its text at TERM_COL (on the term's line when it fits). */
static void help_list(struct buf *b, const char *heading, const struct section *sec)
{
    buf_addf(b, "\n%s:\n", heading);
    for (size_t i = 0; i < sec->nitems; i++) {
        const struct item *it = &sec->items[i];
        buf_add(b, "  ");
        buf_add(b, it->term);
        size_t col = 2 + strlen(it->term);
        if (col + 2 > TERM_COL) {
            buf_add(b, "\n");
            buf_spaces(b, TERM_COL);
        } else {
            buf_spaces(b, TERM_COL - col);
        }
        help_blocks(b, it->blocks, it->nblocks, TERM_COL, TERM_COL);
    }
}

static void help_usage(struct buf *b, const struct page *p)
{
    for (size_t s = 0; s < p->nsynopsis; s++) {
        const char *syn = p->synopsis[s];
        buf_add(b, s == 0 ? "usage: " : "       ");
        /* Continuation lines line up after "twin COMMAND ". */
        const char *sp = strchr(syn, ' ');
        const char *sp2 = sp && strcmp(p->name, "twin") != 0 ? strchr(sp + 1, ' ') : sp;
        size_t indent = 7 + (sp2 ? (size_t)(sp2 - syn) + 1 : 0);
        /* A group in brackets or parentheses, and an option with its argument, are never
         * broken: their spaces are held as \001 while wrapping. */
        char *held = xstrndup(syn, strlen(syn));
        int depth = 0;
        const char *word = held;
        for (char *c = held; *c; c++) {
            depth += (*c == '[' || *c == '(') - (*c == ']' || *c == ')');
            if (*c != ' ')
                continue;
            bool option_arg =
                strncmp(word, "--", 2) == 0 && c[1] && c[1] != '-' && c[1] != '[' && c[1] != '(';
            if (depth > 0 || option_arg)
                *c = '\001';
            else
                word = c + 1;
        }
        size_t from = b->len;
        wrap(b, held, 7, indent);
        for (size_t k = from; k < b->len; k++)
            if (b->s[k] == '\001')
                b->s[k] = ' ';
        free(held);
    }
}

static char *help_command(const struct page *p)
{
    struct buf b = {0};
    help_usage(&b, p);
    buf_add(&b, "\n");
    wrap(&b, p->summary, 0, 0);
    const struct section *cmds = page_section(p, "commands");
    if (cmds)
        help_list(&b, "commands", cmds);
    const struct section *opts = page_section(p, "options");
    if (opts)
        help_list(&b, "options", opts);
    buf_addf(&b, "\nmore: man twin-%s\n", p->name);
    return b.s;
}

static char *help_overview(const struct page *twin, struct page *pages, size_t npages)
{
    struct buf b = {0};
    help_usage(&b, twin);
    buf_add(&b, "\n");
    wrap(&b, twin->summary, 0, 0);
    buf_add(&b, "\ncommands:\n");
    for (size_t i = 0; i < npages; i++) {
        buf_add(&b, "  ");
        buf_add(&b, pages[i].name);
        size_t col = 2 + strlen(pages[i].name);
        if (col + 2 > TERM_COL) {
            buf_add(&b, "\n");
            buf_spaces(&b, TERM_COL);
        } else {
            buf_spaces(&b, TERM_COL - col);
        }
        wrap(&b, pages[i].summary, TERM_COL, TERM_COL);
    }
    const struct section *opts = page_section(twin, "options");
    if (opts)
        help_list(&b, "global options", opts);
    help_list(&b, "exit status", page_section(twin, "exit status"));
    buf_add(&b, "\nmore: man twin, man twin-COMMAND\n");
    return b.s;
}

/* ---- man pages ---------------------------------------------------------------------------- */

/* Appends text escaped for roff; `code` spans become bold. */
static void roff_text(struct buf *b, const char *s, bool markup)
{
    bool bold = false;
    for (; *s; s++) {
        switch (*s) {
        case '\\':
            buf_add(b, "\\e");
            break;
        case '-':
            buf_add(b, "\\-");
            break;
        case '`':
            if (markup) {
                buf_add(b, bold ? "\\fR" : "\\fB");
                bold = !bold;
            } else {
                buf_add(b, "`");
            }
            break;
        case '\'':
            buf_add(b, "\\(aq");
            break;
        case '"':
            buf_add(b, "\\(dq");
            break;
        default:
            buf_addn(b, s, 1);
        }
    }
    if (bold)
        buf_add(b, "\\fR");
}

static void roff_line(struct buf *b, const char *s, bool markup)
{
    buf_add(b, "\\&");
    roff_text(b, s, markup);
    buf_add(b, "\n");
}

static void roff_blocks(struct buf *b, const struct block *blocks, size_t n, bool first_plain)
{
    for (size_t i = 0; i < n; i++) {
        if (i > 0 || !first_plain)
            buf_add(b, ".PP\n");
        if (blocks[i].verbatim) {
            buf_add(b, ".RS 4\n.nf\n");
            for (const char *l = blocks[i].text; *l;) {
                const char *e = strchr(l, '\n');
                size_t len = e ? (size_t)(e - l) : strlen(l);
                char *line = xstrndup(l, len);
                roff_line(b, line, false);
                free(line);
                l += len + (e ? 1 : 0);
            }
            buf_add(b, ".fi\n.RE\n");
        } else {
            roff_line(b, blocks[i].text, true);
        }
    }
}

static void upper(char *s)
{
    for (; *s; s++)
        *s = (char)toupper((unsigned char)*s);
}

/* A synopsis or term: the words of the command and options in bold, the rest as they are. */
static void roff_term(struct buf *b, const char *s, size_t bold_words)
{
    buf_add(b, "\\&");
    size_t word = 0;
    while (*s) {
        const char *e = s;
        while (*e && *e != ' ')
            e++;
        char *w = xstrndup(s, (size_t)(e - s));
        bool is_bold = word < bold_words;
        if (is_bold)
            buf_add(b, "\\fB");
        roff_text(b, w, false);
        if (is_bold)
            buf_add(b, "\\fR");
        free(w);
        word++;
        s = e;
        while (*s == ' ') {
            buf_add(b, " ");
            s++;
        }
    }
    buf_add(b, "\n");
}

static char *man_page(const struct page *p, const char *version, struct page *pages, size_t npages)
{
    bool is_twin = strcmp(p->name, "twin") == 0;
    struct buf b = {0};
    char title[128];
    snprintf(title, sizeof(title), is_twin ? "twin" : "twin-%s", p->name);
    char utitle[128];
    snprintf(utitle, sizeof(utitle), "%s", title);
    upper(utitle);
    buf_add(&b, ".\\\" Generated by tools/gendocs from doc/cli/");
    buf_add(&b, title);
    buf_add(&b, ".txt; edit that file, not this one.\n");
    buf_addf(&b, ".TH %s 1 \"\" \"twin %s\" \"twin manual\"\n", utitle, version);
    /* Ragged right and no hyphenation: option names and ids stay whole. */
    buf_add(&b, ".nh\n.ad l\n.SH NAME\n");
    roff_text(&b, title, false);
    buf_add(&b, " \\- ");
    roff_text(&b, p->summary, true);
    buf_add(&b, "\n.SH SYNOPSIS\n.nf\n");
    for (size_t s = 0; s < p->nsynopsis; s++)
        roff_term(&b, p->synopsis[s], is_twin ? 1 : 2);
    buf_add(&b, ".fi\n");
    for (size_t s = 0; s < p->nsections; s++) {
        const struct section *sec = &p->sections[s];
        char *t = xstrndup(sec->title, strlen(sec->title));
        upper(t);
        buf_addf(&b, ".SH %s\n", t);
        free(t);
        if (!sec->is_list) {
            roff_blocks(&b, sec->blocks, sec->nblocks, false);
            if (is_twin && strcmp(sec->title, "description") == 0) {
                /* The overview's list of commands, each with its summary and page. */
                buf_add(&b, ".SS Commands\n");
                for (size_t k = 0; k < npages; k++) {
                    buf_addf(&b, ".TP\n.BR twin\\-%s (1)\n", pages[k].name);
                    roff_line(&b, pages[k].summary, true);
                }
            }
            continue;
        }
        for (size_t k = 0; k < sec->nitems; k++) {
            buf_add(&b, ".TP\n");
            roff_term(&b, sec->items[k].term, 1);
            roff_blocks(&b, sec->items[k].blocks, sec->items[k].nblocks, true);
        }
    }
    buf_add(&b, ".SH SEE ALSO\n");
    size_t n = 0;
    if (!is_twin) {
        buf_add(&b, ".BR twin (1)");
        n++;
    }
    for (size_t k = 0; k < p->nsee_also; k++) {
        const char *s = p->see_also[k];
        const char *paren = strchr(s, '(');
        buf_add(&b, n++ ? ",\n.BR " : ".BR ");
        char *name = xstrndup(s, paren ? (size_t)(paren - s) : strlen(s));
        roff_text(&b, name, false);
        buf_addf(&b, " %s", paren ? paren : "(1)");
        free(name);
    }
    buf_add(&b, "\n");
    return b.s;
}

/* ---- the C source ------------------------------------------------------------------------- */

static void c_string(struct buf *b, const char *s)
{
    buf_add(b, "    \"");
    for (; *s; s++) {
        if (*s == '\n') {
            buf_add(b, "\\n");
            if (s[1])
                buf_add(b, "\"\n    \"");
        } else if (*s == '"' || *s == '\\') {
            buf_addf(b, "\\%c", *s);
        } else {
            buf_addn(b, s, 1);
        }
    }
    buf_add(b, "\"");
}

static char *c_source(const char *overview, struct page *pages, char **helps, size_t npages)
{
    struct buf b = {0};
    buf_add(&b,
            "/* Generated by tools/gendocs from the pages in doc/cli/; edit those, not this. */\n"
            "#include \"cli/cli.h\"\n\n"
            "const char cli_help_overview[] =\n");
    c_string(&b, overview);
    buf_add(&b, ";\n\nconst struct cli_help cli_help_pages[] = {\n");
    for (size_t i = 0; i < npages; i++) {
        buf_addf(&b, "    {\"%s\",\n", pages[i].name);
        c_string(&b, pages[i].summary);
        buf_add(&b, ",\n");
        c_string(&b, helps[i]);
        buf_add(&b, "},\n");
    }
    buf_addf(&b, "};\n\nconst size_t cli_help_count = %zu;\n", npages);
    return b.s;
}

/* ---- bash completion ---------------------------------------------------------------------- */

/* What an option's argument completes to: flag, file, dir, type, peer, words:A B, or value. */
static char *arg_kind(const char *term)
{
    const char *arg = strchr(term, ' ');
    if (!arg)
        return xstrndup("flag", 4);
    arg++;
    if (strncmp(arg, "FILE", 4) == 0 || strncmp(arg, "PATH", 4) == 0)
        return xstrndup("file", 4);
    if (strcmp(arg, "DIR") == 0)
        return xstrndup("dir", 3);
    if (strncmp(arg, "TYPE", 4) == 0)
        return xstrndup("type", 4);
    if (strncmp(arg, "PEER", 4) == 0)
        return xstrndup("peer", 4);
    /* The lower-case alternatives of A|B|C (json|csv|iati, ORGID[,ORGID...]|members). */
    struct buf b = {0};
    const char *s = arg;
    while (*s) {
        const char *e = s;
        while (*e && *e != '|' && *e != ' ')
            e++;
        bool word = e > s;
        for (const char *c = s; c < e; c++)
            if (!islower((unsigned char)*c) && !isdigit((unsigned char)*c) && *c != '-' &&
                *c != '_')
                word = false;
        if (word) {
            buf_add(&b, b.len ? " " : "words:");
            buf_addn(&b, s, (size_t)(e - s));
        }
        if (*e != '|')
            break;
        s = e + 1;
    }
    if (b.len && strchr(arg, '|'))
        return b.s;
    free(b.s);
    return xstrndup("value", 5);
}

static void option_name(struct buf *b, const char *term)
{
    const char *e = strchr(term, ' ');
    buf_addn(b, term, e ? (size_t)(e - term) : strlen(term));
}

static char *completion(const char *template_path, const struct page *twin, struct page *pages,
                        size_t npages)
{
    struct buf d = {0};
    buf_add(&d, "# Generated by tools/gendocs from doc/cli/*.txt.\n_twin_commands='help");
    for (size_t i = 0; i < npages; i++)
        buf_addf(&d, " %s", pages[i].name);
    buf_add(&d, "'\n\n# _twin_subcommands CMD: REPLY is its subcommands, from its synopsis.\n"
                "_twin_subcommands() {\n    case $1 in\n");
    for (size_t i = 0; i < npages; i++) {
        struct buf subs = {0};
        for (size_t s = 0; s < pages[i].nsynopsis; s++) {
            size_t n;
            char **w = split_words(pages[i].synopsis[s], &n);
            bool sub = n > 2;
            for (size_t c = 0; sub && w[2][c]; c++)
                if (!islower((unsigned char)w[2][c]) && w[2][c] != '-')
                    sub = false;
            if (sub && w[2][0] != '-' && !(subs.s && strstr(subs.s, w[2]))) {
                buf_add(&subs, subs.len ? " " : "");
                buf_add(&subs, w[2]);
            }
            for (size_t k = 0; k < n; k++)
                free(w[k]);
            free(w);
        }
        if (subs.len)
            buf_addf(&d, "    %s) REPLY='%s' ;;\n", pages[i].name, subs.s);
        free(subs.s);
    }
    buf_add(&d, "    *) REPLY= ;;\n    esac\n}\n\n"
                "# _twin_options CMD: REPLY is its options (CMD empty: the global ones).\n"
                "_twin_options() {\n    case $1 in\n");
    for (size_t i = 0; i <= npages; i++) {
        const struct page *p = i < npages ? &pages[i] : twin;
        const struct section *opts = page_section(p, "options");
        buf_addf(&d, "    %s) REPLY='", i < npages ? p->name : "''");
        for (size_t k = 0; opts && k < opts->nitems; k++) {
            if (strncmp(opts->items[k].term, "--", 2) != 0)
                continue;
            if (k)
                buf_add(&d, " ");
            option_name(&d, opts->items[k].term);
        }
        buf_add(&d, "' ;;\n");
    }
    buf_add(&d, "    *) REPLY= ;;\n    esac\n}\n\n"
                "# _twin_option_arg CMD OPTION: REPLY is what its argument completes to: flag, "
                "file, dir,\n# type, peer, words:A B ..., or value.\n"
                "_twin_option_arg() {\n    case \"$1 $2\" in\n");
    for (size_t i = 0; i <= npages; i++) {
        const struct page *p = i < npages ? &pages[i] : twin;
        const struct section *opts = page_section(p, "options");
        for (size_t k = 0; opts && k < opts->nitems; k++) {
            if (strncmp(opts->items[k].term, "--", 2) != 0)
                continue;
            char *kind = arg_kind(opts->items[k].term);
            buf_addf(&d, "    '%s ", i < npages ? p->name : "");
            option_name(&d, opts->items[k].term);
            buf_addf(&d, "') REPLY='%s' ;;\n", kind);
            free(kind);
        }
    }
    buf_add(&d, "    *) REPLY=flag ;;\n    esac\n}\n");

    char *tmpl = read_file(template_path);
    const char *mark = "# @GENERATED@\n";
    char *at = strstr(tmpl, mark);
    if (!at)
        die("%s: no line '# @GENERATED@' to put the generated part at", template_path);
    struct buf out = {0};
    buf_addn(&out, tmpl, (size_t)(at - tmpl));
    buf_add(&out, d.s);
    buf_add(&out, at + strlen(mark));
    free(tmpl);
    free(d.s);
    return out.s;
}

/* ---- main --------------------------------------------------------------------------------- */

static void write_file(const char *path, const char *text)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        die("%s: %s", tmp, strerror(errno));
    size_t n = strlen(text);
    if (fwrite(text, 1, n, f) != n || fclose(f) != 0)
        die("%s: write error", tmp);
    if (rename(tmp, path) != 0)
        die("%s: %s", path, strerror(errno));
}

static void write_in(const char *dir, const char *name, const char *text)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    write_file(path, text);
}

int main(int argc, char **argv)
{
    const char *version = NULL, *c_out = NULL, *man_dir = NULL, *help_dir = NULL,
               *comp_template = NULL, *comp_out = NULL;
    int i = 1;
    for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        const char **slot = strcmp(argv[i], "--version") == 0               ? &version
                            : strcmp(argv[i], "--c") == 0                   ? &c_out
                            : strcmp(argv[i], "--man") == 0                 ? &man_dir
                            : strcmp(argv[i], "--help-dir") == 0            ? &help_dir
                            : strcmp(argv[i], "--completion-template") == 0 ? &comp_template
                            : strcmp(argv[i], "--completion") == 0          ? &comp_out
                                                                            : NULL;
        if (!slot)
            die("unknown option %s", argv[i]);
        *slot = argv[i + 1];
    }
    if (!version || !c_out || !man_dir || !help_dir || !comp_template || !comp_out || i >= argc)
        die("usage: gendocs --version V --c FILE --man DIR --help-dir DIR "
            "--completion-template FILE --completion FILE twin.txt twin-COMMAND.txt...");

    struct page twin = {0};
    struct page *found = NULL;
    size_t nfound = 0;
    for (; i < argc; i++) {
        struct page p = parse_page(argv[i]);
        if (strcmp(p.name, "twin") == 0) {
            twin = p;
        } else {
            found = xrealloc(found, nfound + 1, sizeof(*found));
            found[nfound++] = p;
        }
    }
    if (!twin.name)
        die("no twin.txt among the pages");
    if (twin.ncommands == 0)
        die("%s: no 'commands: ' line naming the commands in order", twin.path);

    /* The pages in the order twin.txt lists them; each listed once and each page listed. */
    struct page *pages = xrealloc(NULL, twin.ncommands, sizeof(*pages));
    for (size_t k = 0; k < twin.ncommands; k++) {
        size_t m = 0;
        while (m < nfound && (!found[m].name || strcmp(found[m].name, twin.commands[k]) != 0))
            m++;
        if (m == nfound)
            die("%s lists '%s', but there is no twin-%s.txt (or it is listed twice)", twin.path,
                twin.commands[k], twin.commands[k]);
        pages[k] = found[m];
        found[m].name = NULL;
    }
    for (size_t m = 0; m < nfound; m++)
        if (found[m].name)
            die("%s: command '%s' is missing from the 'commands: ' line of %s", found[m].path,
                found[m].name, twin.path);
    size_t npages = twin.ncommands;

    char **helps = xrealloc(NULL, npages, sizeof(*helps));
    for (size_t k = 0; k < npages; k++) {
        helps[k] = help_command(&pages[k]);
        char name[256];
        snprintf(name, sizeof(name), "twin-%s.txt", pages[k].name);
        write_in(help_dir, name, helps[k]);
        snprintf(name, sizeof(name), "twin-%s.1", pages[k].name);
        char *man = man_page(&pages[k], version, pages, npages);
        write_in(man_dir, name, man);
        free(man);
    }
    char *overview = help_overview(&twin, pages, npages);
    write_in(help_dir, "twin.txt", overview);
    char *man = man_page(&twin, version, pages, npages);
    write_in(man_dir, "twin.1", man);
    char *comp = completion(comp_template, &twin, pages, npages);
    write_file(comp_out, comp);
    char *c = c_source(overview, pages, helps, npages);
    write_file(c_out, c);

    free(c);
    free(comp);
    free(man);
    free(overview);
    for (size_t k = 0; k < npages; k++) {
        free(helps[k]);
        page_free(&pages[k]);
    }
    free(helps);
    free(pages);
    free(found);
    page_free(&twin);
    return 0;
}
