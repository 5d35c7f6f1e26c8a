#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "twin/error.h"
#include "twin/listcache.h"
#include "twin/ops.h"
#include "twin/record.h"
#include "twin/tree.h"

#define MAX_RECORD    (16u << 20)
#define DEFAULT_LIMIT 20

/* The sealed records this node reads, opened for the search: their words are matched in memory
 * only (twin_listcache_doc), since the cache keeps none of a sealed record. */
struct opened {
    twin_node *node;
    const char *type;
    struct twin_listcache_doc *docs;
    json_t **recs; /* the opened records the docs' strings live in */
    char **words;
    size_t count, cap;
};

static int open_sealed(const struct twin_listcache_row *row, void *ctx)
{
    struct opened *o = ctx;
    json_t *stored = NULL, *rec = NULL;
    enum twin_sealing how;
    char *text = NULL;
    size_t len = 0;
    if (!row->sealed || row->erased)
        return 0;
    int rc =
        twin_tree_read_blob(&text, &len, twin_node_repo(o->node), &row->blob, MAX_RECORD, row->id);
    if (rc == 0 && (rc = twin_record_parse(&stored, text, len)) == 0)
        rc = twin_ops_unseal(&rec, &how, o->node, stored);
    free(text);
    json_decref(stored);
    if (rc || !rec || (how != TWIN_SEALING_OPENED && how != TWIN_SEALING_CLEAR)) {
        json_decref(rec);
        return rc;
    }
    if (o->count == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 64;
        struct twin_listcache_doc *docs = realloc(o->docs, cap * sizeof(*docs));
        if (docs)
            o->docs = docs;
        json_t **recs = docs ? realloc(o->recs, cap * sizeof(*recs)) : NULL;
        if (recs)
            o->recs = recs;
        char **words = recs ? realloc(o->words, cap * sizeof(*words)) : NULL;
        if (!words) {
            json_decref(rec);
            return twin_error(TWIN_ERROR, "out of memory");
        }
        o->words = words;
        o->cap = cap;
    }
    char *w = twin_record_words(rec);
    if (!w) {
        json_decref(rec);
        return twin_error(TWIN_ERROR, "out of memory");
    }
    o->recs[o->count] = rec;
    o->words[o->count] = w;
    o->docs[o->count] = (struct twin_listcache_doc){
        .id = json_string_value(json_object_get(rec, "id")),
        .type = json_string_value(json_object_get(rec, "type")),
        .title = twin_record_title(rec),
        .words = w,
        .withdrawn = row->withdrawn,
    };
    if (!o->docs[o->count].id || !o->docs[o->count].type) {
        json_decref(rec);
        free(w);
        return 0; /* an envelope whose content names no record: not searched */
    }
    o->count++;
    return 0;
}

static void opened_free(struct opened *o)
{
    for (size_t i = 0; i < o->count; i++) {
        json_decref(o->recs[i]);
        free(o->words[i]);
    }
    free(o->docs);
    free(o->recs);
    free(o->words);
}

/* The words given, as an FTS5 query: each one a phrase in double quotes (so that no character of
 * it is FTS5's syntax), all of them required; a word that ends in '*' matches any word it
 * begins. NULL when out of memory. */
static char *query_of(int argc, char **argv)
{
    char *q = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&q, &len);
    if (!f)
        return NULL;
    for (int i = 0; i < argc; i++) {
        size_t n = strlen(argv[i]);
        bool prefix = n > 1 && argv[i][n - 1] == '*';
        fputs(i ? " \"" : "\"", f);
        for (size_t k = 0; k < n - prefix; k++) {
            if (argv[i][k] == '"')
                fputc('"', f);
            fputc(argv[i][k], f);
        }
        fputs(prefix ? "\"*" : "\"", f);
    }
    if (fclose(f) != 0) {
        free(q);
        return NULL;
    }
    return q;
}

/* Whether text holds a letter or a digit (any byte of a character beyond ASCII counts): what
 * search can match. */
static bool has_word(const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if (*p >= 0x80 || (*p >= '0' && *p <= '9') || ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z'))
            return true;
    return false;
}

struct hits {
    bool json;
    size_t count;
};

/* One line for the record ("ID  TYPE  TITLE", its marks as list has them), then the text around
 * the words found, indented; with --json an element of an array. */
static int print_hit(const struct twin_listcache_row *row, const char *shown, double rank,
                     void *ctx)
{
    struct hits *h = ctx;
    h->count++;
    if (h->json) {
        json_t *o =
            json_pack("{s:s, s:s, s:s, s:b, s:b, s:s, s:f}", "id", row->id, "type", row->type,
                      "title", row->title ? row->title : "", "sealed", row->sealed, "withdrawn",
                      row->withdrawn, "found", shown, "rank", rank);
        char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(o);
        if (!text)
            return twin_error(TWIN_ERROR, "out of memory");
        printf("%s%s", h->count == 1 ? "[\n  " : ",\n  ", text);
        free(text);
        return 0;
    }
    printf("%s  %-12s %s%s%s\n", row->id, row->type, row->title ? row->title : "",
           row->sealed ? "  (sealed)" : "", row->withdrawn ? "  (withdrawn)" : "");
    /* On one line: the breaks between a record's pieces of text become spaces, none at the end. */
    size_t len = strlen(shown);
    while (len > 0 && (shown[len - 1] == '\n' || shown[len - 1] == ' '))
        len--;
    fputs("    ", stdout);
    for (size_t i = 0; i < len; i++)
        putchar(shown[i] == '\n' || shown[i] == '\r' || shown[i] == '\t' ? ' ' : shown[i]);
    putchar('\n');
    return 0;
}

int cmd_search(struct cli *c, int argc, char **argv)
{
    const char *type = NULL, *limit_text = NULL;
    bool all = false;
    int nwords = 0, code = CLI_OK;
    char **words = calloc((size_t)argc + 1, sizeof(*words));
    char *match = NULL;
    twin_listcache *cache = NULL;
    struct opened o = {0};
    if (!words)
        return cli_fail(twin_error(TWIN_ERROR, "out of memory"));
    for (int i = 1; i < argc; i++) {
        const char *n_value, *t_value;
        int n = cli_option(&n_value, &i, argc, argv, "-n");
        int t = n ? 0 : cli_option(&t_value, &i, argc, argv, "--type");
        if (n < 0 || t < 0) {
            code = CLI_USAGE;
            goto done;
        }
        if (n) {
            limit_text = n_value;
        } else if (t) {
            type = t_value;
        } else if (strcmp(argv[i], "--all") == 0) {
            all = true;
        } else if (strcmp(argv[i], "--") == 0) {
            while (++i < argc)
                words[nwords++] = argv[i];
        } else if (argv[i][0] == '-' && argv[i][1]) {
            code = cli_usage_error("search",
                                   "unknown option '%s' (a word that begins with '-' "
                                   "goes after --)",
                                   argv[i]);
            goto done;
        } else {
            words[nwords++] = argv[i];
        }
    }
    size_t limit = DEFAULT_LIMIT;
    if (limit_text) {
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(limit_text, &end, 10);
        if (limit_text[0] < '0' || limit_text[0] > '9' || *end || errno || v > SIZE_MAX) {
            code = cli_usage_error("search", "-n takes a number of records (0: all), not '%s'",
                                   limit_text);
            goto done;
        }
        limit = (size_t)v;
    }
    for (int i = 0; i < nwords; i++)
        if (!has_word(words[i])) {
            code = cli_usage_error("search", "'%s' is not a word to search for", words[i]);
            goto done;
        }
    if (nwords == 0) {
        code = cli_usage_error("search", "search for what? give one or more words");
        goto done;
    }
    if ((code = cli_open(c)))
        goto done;
    if (type && !twin_record_type_known(type)) {
        code = cli_fail(twin_error(TWIN_EINVALID, "unknown record type '%s'", type));
        goto done;
    }
    twin_node_read_out(c->node);
    if (!(match = query_of(nwords, words))) {
        code = cli_fail(twin_error(TWIN_ERROR, "out of memory"));
        goto done;
    }
    o.node = c->node;
    int rc = twin_listcache_open(&cache, c->node, 0);
    if (rc == 0)
        rc = twin_listcache_each(
            cache, &(struct twin_listcache_query){.type = type, .all = all, .sealed_only = true},
            open_sealed, &o);
    struct hits h = {.json = c->json};
    if (rc == 0)
        rc = twin_listcache_search(cache,
                                   &(struct twin_listcache_search){
                                       .match = match,
                                       .type = type,
                                       .all = all,
                                       .limit = limit,
                                       .mark_open = c->json ? "" : "[",
                                       .mark_close = c->json ? "" : "]",
                                       .opened = o.docs,
                                       .nopened = o.count,
                                   },
                                   print_hit, &h);
    if (rc) {
        if (h.json && h.count)
            printf("\n");
        code = cli_fail(rc);
        goto done;
    }
    if (h.json)
        printf(h.count ? "\n]\n" : "[]\n");
    else if (h.count == 0)
        fprintf(stderr, "twin: no record holds %s%s\n",
                nwords == 1 ? "that word" : "all of those words",
                all ? "" : " (withdrawn ones: --all)");
done:
    opened_free(&o);
    twin_listcache_free(cache);
    free(match);
    free(words);
    return code;
}
