#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "twin/global.h"
#include "twin/error.h"
#include "twin/listcache.h"
#include "twin/names.h"
#include "twin/ops.h"
#include "twin/tree.h"
#include "twin/util.h"

#define MAX_RECORD (16u << 20)

struct filter {
    const char *path;
    const char *value;
};

/* A record kept for --sort: its key (NULL when it has no such field) and what it prints. */
struct sorted {
    json_t *key;
    char *shown;
    size_t order; /* place in order of id, which breaks ties */
};

struct list_ctx {
    twin_node *node;
    struct filter *where;
    int nwhere;
    bool json, dates, reverse;
    const char *sort;
    size_t limit; /* 0: no limit */
    bool due_before_set;
    int64_t due_before; /* with due_before_set: only records due (field due) before this time */
    size_t count;       /* records matched so far */
    struct sorted *kept;
    size_t nkept, capkept;
    twin_names *names; /* made at the first reference the cache holds no name for */
    const char *lang;  /* --lang: the language texts are shown in */
};

/* The answer is complete: fn stops the walk with this, which is no error. */
#define LIST_ENOUGH 1

/* The date part of a commit time ("2026-11-22"), or its whole text past what a calendar holds. */
static void format_day(char out[static TWIN_UTIL_TIME_BYTES], int64_t t)
{
    twin_util_format_time(out, t);
    if (out[0] != '@' && strlen(out) > 10)
        out[10] = '\0';
}

/* The text fmt makes, malloc'd; NULL when out of memory. */
static char *text_of(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *text_of(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n < 0 ? NULL : malloc((size_t)n + 1);
    if (s) {
        va_start(ap, fmt);
        vsnprintf(s, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    return s;
}

/* Adds " field \"name\"" to a record's line (field and an 8-character id prefix where no name
 * is known), the name on one line and cut to 60 characters. */
static void put_ref(FILE *f, size_t i, const char *field, const char *id, const char *name)
{
    fprintf(f, "%s%s ", i ? ", " : "  (", field);
    if (!name || !name[0]) {
        fprintf(f, "%.8s", id);
        return;
    }
    fputc('"', f);
    size_t shown = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (shown >= 60 && (*p & 0xc0) != 0x80) {
            fputs("...", f);
            break;
        }
        fputc(*p < 0x20 || *p == 0x7f ? ' ' : *p, f);
        shown += (*p & 0xc0) != 0x80;
    }
    fputc('"', f);
}

/* The name of the record of id and type where the cache holds none (a sealed record this node
 * may read): NULL when it has none to show. A name only helps: the listing goes on without. */
static const char *name_apart(struct list_ctx *l, const char *type, const char *id)
{
    const char *name = NULL;
    if (!l->names && twin_names_new(&l->names, l->node, NULL) == 0)
        twin_names_set_lang(l->names, l->lang);
    if (!type || !l->names || twin_names_get(&name, l->names, type, id))
        name = NULL;
    twin_error_clear();
    return name;
}

/* The language rec's texts fall back to under --lang (its partnership's); NULL when none. */
static const char *list_lang(struct list_ctx *l, const json_t *rec)
{
    if (!l->names && twin_names_new(&l->names, l->node, NULL) == 0)
        twin_names_set_lang(l->names, l->lang);
    const char *lang = l->names ? twin_names_lang(l->names, rec) : NULL;
    twin_error_clear();
    return lang;
}

struct opened_refs {
    struct list_ctx *l;
    FILE *f;
    size_t count;
};

static int put_opened_ref(const char *path, const char *id, const char *type, void *ctx)
{
    struct opened_refs *o = ctx;
    if (!strpbrk(path, ".[")) /* top-level fields only, as the cache keeps them */
        put_ref(o->f, o->count++, path, id, name_apart(o->l, type, id));
    return 0;
}

/* What follows a record's title: the records it names in its top-level reference fields, by
 * name ("  (partnership \"Tax twinning\")"); "" when it names none. A sealed record this node
 * opened has its references read from rec: the cache keeps no field of it. */
static char *refs_text(struct list_ctx *l, const struct twin_listcache_row *row, const json_t *rec)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (!f)
        return NULL;
    size_t count = row->nrefs;
    for (size_t i = 0; i < row->nrefs; i++) {
        const struct twin_listcache_ref *r = &row->refs[i];
        /* the cache keeps names as twin_record_title gives them: --lang looks them up */
        put_ref(f, i, r->field, r->target,
                r->name && !l->lang ? r->name : name_apart(l, r->type, r->target));
    }
    if (row->sealed && rec) {
        struct opened_refs o = {l, f, 0};
        twin_names_each_ref(rec, put_opened_ref, &o);
        count = o.count;
    }
    if (count)
        fputc(')', f);
    if (fclose(f)) {
        free(out);
        return NULL;
    }
    return out;
}

/* What list prints of one record: a line of text, or (--json) the element, indented as an item
 * of the array. */
static char *render(struct list_ctx *l, const struct twin_listcache_row *row, const json_t *rec,
                    const json_t *stored, enum twin_sealing how)
{
    char *s = NULL;
    bool readable = how == TWIN_SEALING_CLEAR || how == TWIN_SEALING_OPENED;
    if (l->json) {
        json_t *out = !readable ? cli_sealed_public(stored)
                      : l->lang ? twin_record_localise(rec, l->lang, list_lang(l, rec), NULL, NULL)
                                : json_deep_copy(rec);
        if (out && l->dates &&
            (json_object_set_new(out, "first_written", json_integer(row->created)) ||
             json_object_set_new(out, "last_changed", json_integer(row->changed)))) {
            json_decref(out);
            out = NULL;
        }
        char *dump =
            out ? json_dumps(out, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(15)) : NULL;
        json_decref(out);
        if (!dump)
            return NULL;
        /* Each line two more spaces in, as json_dumps indents an element of the array. */
        size_t lines = 1, len = strlen(dump);
        for (const char *p = dump; *p; p++)
            lines += *p == '\n';
        s = malloc(len + 2 * lines + 1);
        if (s) {
            char *q = s;
            for (const char *p = dump; *p; p++) {
                *q++ = *p;
                if (*p == '\n') {
                    *q++ = ' ';
                    *q++ = ' ';
                }
            }
            *q = '\0';
        }
        free(dump);
        return s;
    }
    char dates[2 * TWIN_UTIL_TIME_BYTES + 8] = "";
    if (l->dates) {
        char created[TWIN_UTIL_TIME_BYTES], changed[TWIN_UTIL_TIME_BYTES];
        format_day(created, row->created);
        format_day(changed, row->changed);
        snprintf(dates, sizeof(dates), "%s  %s  ", created, changed);
    }
    const char *withdrawn = row->withdrawn ? "  (withdrawn)" : "";
    if (readable) {
        char *refs = refs_text(l, row, rec);
        const char *title = l->lang      ? twin_record_title_in(rec, l->lang, list_lang(l, rec))
                            : row->title ? row->title
                                         : twin_record_title(rec);
        if (refs)
            s = text_of("%s  %-12s %s%s%s%s%s", row->id, row->type, dates, title, refs,
                        how == TWIN_SEALING_OPENED ? "  (sealed)" : "", withdrawn);
        free(refs);
    } else if (how == TWIN_SEALING_CLOSED) {
        char *audience = cli_audience_text(stored);
        s = text_of("%s  %-12s %s(sealed to %s)%s", row->id, row->type, dates,
                    audience ? audience : "", withdrawn);
        free(audience);
    } else {
        s = text_of("%s  %-12s %s(erased)%s", row->id, row->type, dates, withdrawn);
    }
    return s;
}

static void emit(struct list_ctx *l, const char *shown)
{
    if (l->json)
        printf("%s  %s", l->count == 1 ? "[\n" : ",\n", shown);
    else
        printf("%s\n", shown);
}

static int keep_sorted(struct list_ctx *l, const json_t *rec, char *shown)
{
    if (l->nkept == l->capkept) {
        size_t cap = l->capkept ? 2 * l->capkept : 256;
        struct sorted *more = realloc(l->kept, cap * sizeof(*more));
        if (!more)
            return twin_error(TWIN_ERROR, "out of memory");
        l->kept = more;
        l->capkept = cap;
    }
    json_t *key = rec ? twin_record_get_path(rec, l->sort) : NULL;
    l->kept[l->nkept] = (struct sorted){json_incref(key), shown, l->nkept};
    l->nkept++;
    return 0;
}

/* A sealed record this node cannot read never matches a --where, nor has a field to sort by:
 * its fields are not known. */
static int consider(const struct twin_listcache_row *row, void *ctx)
{
    struct list_ctx *l = ctx;
    json_t *stored = NULL, *rec = NULL;
    enum twin_sealing how = TWIN_SEALING_CLEAR;
    char *text = NULL;
    size_t len = 0;
    int rc = 0;
    if (row->sealed) {
        /* Opened now, as every time: the cache holds no content of a sealed record. */
        if ((rc = twin_tree_read_blob(&text, &len, twin_node_repo(l->node), &row->blob, MAX_RECORD,
                                      row->id)) ||
            (rc = twin_record_parse(&stored, text, len)) ||
            (rc = twin_ops_unseal(&rec, &how, l->node, stored)))
            goto done;
    } else if ((l->nwhere > 0 || l->json || l->sort || l->due_before_set || l->lang) &&
               (rc = twin_record_parse(&rec, row->text, row->text_len))) {
        rc = twin_error_wrap(rc, "record %s", row->id);
        goto done;
    }
    bool readable = how == TWIN_SEALING_CLEAR || how == TWIN_SEALING_OPENED;
    if (!readable && (l->nwhere > 0 || l->due_before_set))
        goto done;
    if (l->due_before_set) {
        const char *due = json_string_value(json_object_get(rec, "due"));
        int64_t when;
        if (!due || twin_util_parse_date(&when, due, false) != 0 || when >= l->due_before) {
            twin_error_clear();
            goto done;
        }
    }
    for (int i = 0; i < l->nwhere; i++)
        if (!twin_record_field_is(rec, l->where[i].path, l->where[i].value))
            goto done;
    char *shown = render(l, row, rec, stored, how);
    if (!shown) {
        rc = twin_error(TWIN_ERROR, "out of memory");
        goto done;
    }
    l->count++;
    if (l->sort) {
        if ((rc = keep_sorted(l, readable ? rec : NULL, shown)))
            free(shown);
        goto done;
    }
    emit(l, shown);
    free(shown);
    if (l->limit && l->count == l->limit)
        rc = LIST_ENOUGH;
done:
    json_decref(rec);
    json_decref(stored);
    free(text);
    return rc;
}

/* Numbers before text before other values (compared as JSON text); in each, ascending. */
static int compare_values(const json_t *x, const json_t *y)
{
    int kx = json_is_number(x) ? 0 : json_is_string(x) ? 1 : 2;
    int ky = json_is_number(y) ? 0 : json_is_string(y) ? 1 : 2;
    if (kx != ky)
        return kx - ky;
    if (kx == 0) {
        double a = json_number_value(x), b = json_number_value(y);
        return a < b ? -1 : a > b;
    }
    if (kx == 1)
        return strcmp(json_string_value(x), json_string_value(y));
    char *a = json_dumps(x, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS);
    char *b = json_dumps(y, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS);
    int c = a && b ? strcmp(a, b) : 0;
    free(a);
    free(b);
    return c;
}

static bool sort_reverse; /* qsort takes no context */

/* Records without the field last, in either direction; ties in order of id. */
static int by_key(const void *a, const void *b)
{
    const struct sorted *x = a, *y = b;
    if (!x->key || !y->key) {
        if (x->key || y->key)
            return x->key ? -1 : 1;
    } else {
        int c = compare_values(x->key, y->key);
        if (c)
            return sort_reverse ? -c : c;
    }
    return x->order < y->order ? -1 : x->order > y->order;
}

/* FIELD as --sort takes it: a dotted path of schema field names. */
static bool sort_path_valid(const char *path)
{
    if (!*path || *path == '.' || path[strlen(path) - 1] == '.' || strstr(path, ".."))
        return false;
    for (const char *p = path; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '.'))
            return false;
    return true;
}

int cmd_list(struct cli *c, int argc, char **argv)
{
    const char *type = NULL;
    bool all = false;
    struct filter *where = calloc((size_t)argc, sizeof(*where));
    struct list_ctx l = {.where = where, .json = c->json};
    twin_listcache *cache = NULL;
    int code = CLI_OK;
    if (!where)
        return CLI_CHECK_FAILED;
    for (int i = 1; i < argc; i++) {
        const char *w, *sort, *limit;
        int m = cli_option(&w, &i, argc, argv, "--where");
        int s = m ? 0 : cli_option(&sort, &i, argc, argv, "--sort");
        int n = m || s ? 0 : cli_option(&limit, &i, argc, argv, "-n");
        const char *before;
        int d = m || s || n ? 0 : cli_option(&before, &i, argc, argv, "--due-before");
        int g = m || s || n || d ? 0 : cli_option(&l.lang, &i, argc, argv, "--lang");
        if (m < 0 || s < 0 || n < 0 || d < 0 || g < 0) {
            code = CLI_USAGE;
            goto done;
        }
        if (g) {
            if (!twin_record_lang_valid(l.lang)) {
                code = cli_usage_error(
                    "list", "--lang takes a language code (ISO 639-1: en, fr), not '%s'", l.lang);
                goto done;
            }
        } else if (d) {
            if (twin_util_parse_date(&l.due_before, before, false) != 0) {
                code = cli_usage_error("list", "--due-before: %s", twin_error_last());
                goto done;
            }
            l.due_before_set = true;
        } else if (m) {
            const char *eq = strchr(w, '=');
            if (!eq || eq == w) {
                code = cli_usage_error("list", "--where takes FIELD=VALUE, not '%s'", w);
                goto done;
            }
            where[l.nwhere].path = strndup(w, (size_t)(eq - w));
            where[l.nwhere++].value = eq + 1;
        } else if (s) {
            if (!sort_path_valid(sort)) {
                code = cli_usage_error("list",
                                       "--sort takes a field path such as title or "
                                       "dates.planned_start, not '%s'",
                                       sort);
                goto done;
            }
            l.sort = sort;
        } else if (n) {
            char *end = NULL;
            errno = 0;
            unsigned long long v = strtoull(limit, &end, 10);
            if (limit[0] < '0' || limit[0] > '9' || *end || errno || v == 0 || v > SIZE_MAX) {
                code = cli_usage_error("list", "-n takes a number of records above 0, not '%s'",
                                       limit);
                goto done;
            }
            l.limit = (size_t)v;
        } else if (strcmp(argv[i], "--all") == 0) {
            all = true;
        } else if (strcmp(argv[i], "--dates") == 0) {
            l.dates = true;
        } else if (strcmp(argv[i], "--reverse") == 0) {
            l.reverse = true;
        } else if (!type) {
            type = argv[i];
        } else {
            code = cli_usage_error("list", "unexpected argument '%s'", argv[i]);
            goto done;
        }
    }
    if (l.reverse && !l.sort) {
        code = cli_usage_error("list", "--reverse reverses a --sort: give --sort FIELD too");
        goto done;
    }
    if ((code = cli_open(c)))
        goto done;
    if (type && !twin_record_type_known(type)) {
        code = cli_fail(twin_error(TWIN_EINVALID, "unknown record type '%s'", type));
        goto done;
    }
    twin_node_read_out(c->node); /* reading out, as git does: twin verify checks hashes */
    l.node = c->node;
    int rc = twin_listcache_open(&cache, c->node, l.dates ? TWIN_LISTCACHE_DATES : 0);
    if (rc == 0)
        rc = twin_listcache_each(
            cache,
            &(struct twin_listcache_query){
                .type = type,
                .all = all,
                .text = l.nwhere > 0 || l.json || l.sort || l.due_before_set || l.lang,
                .dates = l.dates,
                .refs = !l.json,
            },
            consider, &l);
    if (rc && rc != LIST_ENOUGH) {
        if (l.json && l.count && !l.sort)
            printf("\n"); /* what was printed stays apart from the error */
        code = cli_fail(rc);
        goto done;
    }
    if (l.sort) {
        sort_reverse = l.reverse;
        qsort(l.kept, l.nkept, sizeof(*l.kept), by_key);
        l.count = 0;
        for (size_t i = 0; i < l.nkept && (!l.limit || i < l.limit); i++) {
            l.count++;
            emit(&l, l.kept[i].shown);
        }
    }
    if (l.json)
        printf(l.count ? "\n]\n" : "[]\n");
done:
    for (size_t i = 0; i < l.nkept; i++) {
        json_decref(l.kept[i].key);
        free(l.kept[i].shown);
    }
    free(l.kept);
    twin_names_free(l.names);
    twin_listcache_free(cache);
    for (int i = 0; i < l.nwhere; i++)
        free((char *)where[i].path);
    free(where);
    return code;
}
