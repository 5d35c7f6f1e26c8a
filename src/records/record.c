/*
 * Record validation, canonical form, ids and paths. Every message names the field by its path
 * within the record ("partnership.sectors[1].percentage") and the rule it breaks.
 */
#include "twin/record.h"

#include <math.h>
#include <stdint.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "records/money.h"
#include "records/schema.h"
#include "twin/error.h"

static const char *type_names[32];
static pthread_once_t type_names_once = PTHREAD_ONCE_INIT;

static void fill_type_names(void)
{
    const struct twin_record_type *const *t = twin_schema_types();
    size_t i = 0;
    for (; t[i] && i < sizeof(type_names) / sizeof(type_names[0]) - 1; i++)
        type_names[i] = t[i]->name;
    type_names[i] = NULL;
}

const char *const *twin_record_types(void)
{
    pthread_once(&type_names_once, fill_type_names);
    return type_names;
}

bool twin_record_type_known(const char *type)
{
    return type && twin_schema_type(type) != NULL;
}

void twin_record_new_id(char out[static TWIN_ID_LEN + 1])
{
    unsigned char b[16];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    randombytes_buf(b, sizeof(b));
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    b[6] = (unsigned char)(0x70 | (b[6] & 0x0f));
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
}

static bool is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool twin_record_id_valid(const char *id)
{
    if (!id || strlen(id) != TWIN_ID_LEN)
        return false;
    for (int i = 0; i < TWIN_ID_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (id[i] != '-')
                return false;
        } else if (!is_lower_hex(id[i])) {
            return false;
        }
    }
    return true;
}

int twin_record_path(char *out, size_t out_size, const char *type, const char *id)
{
    if (!twin_record_type_known(type))
        return twin_error(TWIN_EINVALID, "unknown record type '%s'", type ? type : "");
    if (!twin_record_id_valid(id))
        return twin_error(TWIN_EINVALID, "'%s' is not a record id", id ? id : "");
    int n = snprintf(out, out_size, "records/%s/%s/%s.json", type, id + TWIN_ID_LEN - 2, id);
    if (n < 0 || (size_t)n >= out_size)
        return twin_error(TWIN_ELIMIT, "record path too long");
    return 0;
}

int twin_record_parse_path(char type[static 32], char id[static TWIN_ID_LEN + 1], const char *path)
{
    const char *p = path;
    if (strncmp(p, "records/", 8) != 0)
        goto bad;
    p += 8;
    const char *slash = strchr(p, '/');
    if (!slash || (size_t)(slash - p) >= 32)
        goto bad;
    memcpy(type, p, (size_t)(slash - p));
    type[slash - p] = '\0';
    if (!twin_record_type_known(type))
        goto bad;
    p = slash + 1;
    if (strlen(p) != 3 + TWIN_ID_LEN + 5 || p[2] != '/')
        goto bad;
    memcpy(id, p + 3, TWIN_ID_LEN);
    id[TWIN_ID_LEN] = '\0';
    if (!twin_record_id_valid(id) || strcmp(p + 3 + TWIN_ID_LEN, ".json") != 0 ||
        memcmp(p, id + TWIN_ID_LEN - 2, 2) != 0)
        goto bad;
    return 0;
bad:
    return twin_error(TWIN_EINVALID, "'%s' is not a record path (records/<type>/<xx>/<id>.json)",
                      path);
}

/* ---- validation ---------------------------------------------------------------------------- */

struct vctx {
    const char *type;
    twin_record_lookup_fn lookup;
    void *lookup_ctx;
    char path[256];
};

static int fail(struct vctx *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct vctx *v, const char *fmt, ...)
{
    char rule[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rule, sizeof(rule), fmt, ap);
    va_end(ap);
    return twin_error(TWIN_EINVALID, "%s.%s: %s", v->type, v->path, rule);
}

static size_t path_push(struct vctx *v, const char *name, long index)
{
    size_t len = strlen(v->path);
    if (index >= 0)
        snprintf(v->path + len, sizeof(v->path) - len, "[%ld]", index);
    else
        snprintf(v->path + len, sizeof(v->path) - len, "%s%s", len ? "." : "", name);
    return len;
}

static void path_pop(struct vctx *v, size_t len)
{
    v->path[len] = '\0';
}

static bool valid_date(const char *s)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return false;
    int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int m = (s[5] - '0') * 10 + (s[6] - '0');
    int d = (s[8] - '0') * 10 + (s[9] - '0');
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1900 || m < 1 || m > 12 || d < 1)
        return false;
    int max = days[m - 1];
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        max = 29;
    return d <= max;
}

static bool has_control(const char *s, bool allow_newlines)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == 0x7f)
            return true;
        if (*p < 0x20 && !(allow_newlines && (*p == '\n' || *p == '\t')))
            return true;
    }
    return false;
}

unsigned twin_record_hidden_char(const char *s, const char **name)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned cp = 0;
        if (p[0] == 0xE2 && p[1] == 0x80 && ((p[2] >= 0xAA && p[2] <= 0xAE) || p[2] == 0x8B))
            cp = 0x2000u | (p[2] & 0x3Fu);
        else if (p[0] == 0xE2 && p[1] == 0x81 &&
                 ((p[2] >= 0xA6 && p[2] <= 0xA9) || (p[2] >= 0xA0 && p[2] <= 0xA4)))
            cp = 0x2040u | (p[2] & 0x3Fu);
        else if (p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF)
            cp = 0xFEFF;
        if (!cp)
            continue;
        *name = cp == 0x200B                   ? "zero width space"
                : cp == 0xFEFF                 ? "zero width no-break space"
                : cp >= 0x2060 && cp <= 0x2064 ? "an invisible character"
                                               : "a bidirectional control";
        return cp;
    }
    return 0;
}

bool twin_record_org_id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || n > 100)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '-' && c != '_' && c != '.')))
            return false;
    }
    return true;
}

static bool valid_email(const char *s)
{
    const char *at = strchr(s, '@');
    return at && at != s && at[1] && !strchr(at + 1, '@') && strlen(s) <= 254 && !strchr(s, ' ') &&
           strchr(at + 1, '.');
}

static int check_value(struct vctx *v, const struct twin_field *f, const json_t *val, int depth);

/* The edit distance of a and b, counting a swap of two neighbours as one edit; the longer names
 * of twin's fields are short, so at most 63 characters of each are compared. */
static size_t edits(const char *a, const char *b)
{
    size_t n = strnlen(a, 63), m = strnlen(b, 63), d[64][64];
    for (size_t i = 0; i <= n; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[n][m];
}

/* An unknown field's error: the nearest field when one is near (a third of its letters or fewer
 * differ), and the fields there are but for those twin sets (id, type, withdrawn, conflicts). */
static int unknown_field(struct vctx *v, const struct twin_field *fields, const char *key)
{
    const char *near = NULL;
    size_t best = SIZE_MAX;
    char names[400];
    size_t used = 0;
    names[0] = '\0';
    for (const struct twin_field *f = fields; f->name; f++) {
        if (strcmp(f->name, "id") == 0 || strcmp(f->name, "type") == 0 ||
            strcmp(f->name, "withdrawn") == 0 || strcmp(f->name, "conflicts") == 0)
            continue;
        size_t e = edits(key, f->name), len = strlen(f->name);
        if (e < best && e <= (len > 3 ? len / 3 : 1))
            best = e, near = f->name;
        if (used < sizeof(names))
            used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s", used ? ", " : "",
                                     f->name);
    }
    if (near)
        return fail(v, "unknown field; did you mean '%s'? (the fields here: %s)", near, names);
    return fail(v, "unknown field (the fields here: %s)", names);
}

static int check_object(struct vctx *v, const struct twin_field *fields, const json_t *obj,
                        int depth)
{
    const char *key;
    json_t *val;
    if (depth > TWIN_RECORD_MAX_DEPTH)
        return fail(v, "nested deeper than %d levels", TWIN_RECORD_MAX_DEPTH);
    json_object_foreach((json_t *)obj, key, val)
    {
        const struct twin_field *f = fields;
        while (f->name && strcmp(f->name, key) != 0)
            f++;
        if (!f->name) {
            size_t mark = path_push(v, key, -1);
            int rc = unknown_field(v, fields, key);
            path_pop(v, mark);
            return rc;
        }
    }
    for (const struct twin_field *f = fields; f->name; f++) {
        const json_t *fv = json_object_get(obj, f->name);
        size_t mark = path_push(v, f->name, -1);
        int rc = 0;
        if (!fv || json_is_null(fv)) {
            if (fv)
                rc = fail(v, "null is not a value; leave the field out instead");
            else if (f->required)
                rc = fail(v, "required");
        } else {
            rc = check_value(v, f, fv, depth);
        }
        path_pop(v, mark);
        if (rc)
            return rc;
    }
    return 0;
}

static int check_string(struct vctx *v, const struct twin_field *f, const char *s)
{
    size_t n = strlen(s);
    if (n > TWIN_FIELD_MAX_BYTES)
        return fail(v, "longer than %d bytes", TWIN_FIELD_MAX_BYTES);
    const char *what;
    unsigned hidden = twin_record_hidden_char(s, &what);
    if (hidden)
        return fail(v, "contains U+%04X (%s), which can hide or reorder text", hidden, what);
    switch (f->kind) {
    case TWIN_F_STRING:
        if (n == 0 && f->required)
            return fail(v, "must not be empty");
        if (has_control(s, false))
            return fail(v, "must be one line without control characters");
        return 0;
    case TWIN_F_TEXT:
        if (n == 0 && f->required)
            return fail(v, "must not be empty");
        if (has_control(s, true))
            return fail(v, "contains control characters");
        return 0;
    case TWIN_F_ENUM: {
        for (const char *const *e = f->enum_values; *e; e++)
            if (strcmp(*e, s) == 0)
                return 0;
        char allowed[400] = "";
        size_t len = 0;
        for (const char *const *e = f->enum_values; *e; e++) {
            int w = snprintf(allowed + len, sizeof(allowed) - len, "%s%s",
                             e == f->enum_values ? "" : " | ", *e);
            if (w < 0 || (size_t)w >= sizeof(allowed) - len)
                break;
            len += (size_t)w;
        }
        return fail(v, "'%s' is not one of %s", s, allowed);
    }
    case TWIN_F_CODE:
        if (!twin_codes_valid(f->codelist, s)) {
            if (f->codelist == TWIN_CODES_ACTIVITY_STATUS)
                return fail(v, "%s is not an IATI activity status (1-6)", s);
            return fail(v, "'%s' is not an IATI %s code", s, twin_codes_list_name(f->codelist));
        }
        return 0;
    case TWIN_F_DATE:
        if (!valid_date(s))
            return fail(v, "'%s' is not a date (YYYY-MM-DD)", s);
        return 0;
    case TWIN_F_REF:
        if (!twin_record_id_valid(s))
            return fail(v, "'%s' is not a record id", s);
        if (v->lookup) {
            int rc = v->lookup(NULL, f->ref_type, s, v->lookup_ctx);
            if (rc == TWIN_ENOTFOUND)
                return fail(v, "no %s %s", f->ref_type, s);
            if (rc)
                return rc;
        }
        return 0;
    case TWIN_F_URL:
        if ((strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0) || n > 2048 ||
            strchr(s, ' ') || has_control(s, false))
            return fail(v, "'%s' is not an http(s) URL", s);
        return 0;
    case TWIN_F_COMMIT:
        if (n != 40)
            return fail(v, "must be a commit id (40 lowercase hex digits)");
        for (size_t i = 0; i < n; i++)
            if (!is_lower_hex(s[i]))
                return fail(v, "must be a commit id (40 lowercase hex digits)");
        return 0;
    case TWIN_F_SHA256:
        if (n != 64)
            return fail(v, "must be 64 lowercase hex digits");
        for (size_t i = 0; i < n; i++)
            if (!is_lower_hex(s[i]))
                return fail(v, "must be 64 lowercase hex digits");
        return 0;
    case TWIN_F_ORG_ID:
        if (!twin_record_org_id_valid(s))
            return fail(
                v, "'%s' is not an organisation identifier (letters, digits, '-', '_', '.')", s);
        return 0;
    case TWIN_F_EMAIL:
        if (!valid_email(s))
            return fail(v, "'%s' is not an e-mail address", s);
        return 0;
    default:
        return fail(v, "internal: not a string kind");
    }
}

bool twin_record_lang_valid(const char *code)
{
    return code && strlen(code) == 2 && code[0] >= 'a' && code[0] <= 'z' && code[1] >= 'a' &&
           code[1] <= 'z' && twin_codes_valid(TWIN_CODES_LANGUAGE, code);
}

/* A text in several languages: 1 to TWIN_RECORD_MAX_LANGUAGES ISO 639-1 codes, each mapped to a
 * text checked as the plain string would be. */
static int check_languages(struct vctx *v, const struct twin_field *f, const json_t *map)
{
    size_t n = json_object_size(map);
    if (n == 0)
        return fail(v, "a map of languages needs at least one");
    if (n > TWIN_RECORD_MAX_LANGUAGES)
        return fail(v, "%zu languages, more than the %d a text may have", n,
                    TWIN_RECORD_MAX_LANGUAGES);
    const char *code;
    json_t *text;
    json_object_foreach((json_t *)map, code, text)
    {
        size_t mark = path_push(v, code, -1);
        int rc = 0;
        if (!twin_record_lang_valid(code))
            rc = fail(v, "'%s' is not a language code (ISO 639-1)", code);
        else if (!json_is_string(text))
            rc = fail(v, "must be a string");
        else
            rc = check_string(v, f, json_string_value(text));
        path_pop(v, mark);
        if (rc)
            return rc;
    }
    return 0;
}

static int check_value(struct vctx *v, const struct twin_field *f, const json_t *val, int depth)
{
    switch (f->kind) {
    case TWIN_F_INT: {
        if (!json_is_integer(val))
            return fail(v, "must be a whole number");
        json_int_t i = json_integer_value(val);
        if ((f->min != 0 || f->max != 0) && (i < f->min || i > f->max))
            return fail(v, "%lld is outside %g-%g", (long long)i, f->min, f->max);
        return 0;
    }
    case TWIN_F_NUMBER: {
        if (!json_is_number(val))
            return fail(v, "must be a number");
        double d = json_number_value(val);
        if (!isfinite(d))
            return fail(v, "must be a finite number");
        if ((f->min != 0 || f->max != 0) && (d < f->min || d > f->max))
            return fail(v, "%g is outside %g-%g", d, f->min, f->max);
        return 0;
    }
    case TWIN_F_BOOL:
        return json_is_boolean(val) ? 0 : fail(v, "must be true or false");
    case TWIN_F_ANY:
        return 0;
    case TWIN_F_OBJECT:
        if (!json_is_object(val))
            return fail(v, "must be an object");
        return check_object(v, f->fields, val, depth + 1);
    case TWIN_F_LIST: {
        if (!json_is_array(val))
            return fail(v, "must be a list (a JSON array)");
        if (json_array_size(val) > TWIN_LIST_MAX_ITEMS)
            return fail(v, "more than %d items", TWIN_LIST_MAX_ITEMS);
        if (depth + 1 > TWIN_RECORD_MAX_DEPTH)
            return fail(v, "nested deeper than %d levels", TWIN_RECORD_MAX_DEPTH);
        size_t i;
        json_t *item;
        json_array_foreach(val, i, item)
        {
            size_t mark = path_push(v, NULL, (long)i);
            int rc = json_is_null(item) ? fail(v, "null is not a list item")
                                        : check_value(v, f->item, item, depth + 1);
            path_pop(v, mark);
            if (rc)
                return rc;
        }
        return 0;
    }
    default:
        if (f->lang && json_is_object(val))
            return check_languages(v, f, val);
        if (!json_is_string(val))
            return fail(v, f->lang ? "must be a string or a map of languages to text ({\"en\": "
                                     "\"...\", \"fr\": \"...\"})"
                                   : "must be a string");
        return check_string(v, f, json_string_value(val));
    }
}

/* Shares (sector or country percentages): all or none given, and all given sum to 100. */
static int check_shares(struct vctx *v, const json_t *rec, const char *list_name)
{
    const json_t *list = json_object_get(rec, list_name);
    size_t i, with = 0, n = json_array_size(list);
    double sum = 0;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        const json_t *code = json_object_get(item, "code");
        for (size_t j = 0; j < i; j++)
            if (json_equal(json_object_get(json_array_get(list, j), "code"), (json_t *)code)) {
                snprintf(v->path, sizeof(v->path), "%s[%zu].code", list_name, i);
                return fail(v, "'%s' is listed twice", json_string_value(code));
            }
        const json_t *pct = json_object_get(item, "percentage");
        if (pct) {
            with++;
            sum += json_number_value(pct);
        }
    }
    snprintf(v->path, sizeof(v->path), "%s", list_name);
    if (with > 0 && with != n)
        return fail(v, "give a percentage for every item or for none");
    if (with > 0 && fabs(sum - 100.0) > 0.01)
        return fail(v, "percentages sum to %g, not 100", sum);
    return 0;
}

static int check_order(struct vctx *v, const json_t *obj, const char *prefix, const char *a,
                       const char *b)
{
    const char *x = json_string_value(json_object_get(obj, a));
    const char *y = json_string_value(json_object_get(obj, b));
    if (x && y && strcmp(x, y) > 0) {
        snprintf(v->path, sizeof(v->path), "%s%s", prefix, b);
        return fail(v, "%s is before %s %s", y, a, x);
    }
    return 0;
}

static int check_distinct(struct vctx *v, const json_t *rec, const char *a, const char *b)
{
    const char *x = json_string_value(json_object_get(rec, a));
    const char *y = json_string_value(json_object_get(rec, b));
    if (x && y && strcmp(x, y) == 0) {
        snprintf(v->path, sizeof(v->path), "%s", b);
        return fail(v, "must differ from %s", a);
    }
    return 0;
}

/* An owner, a due date and a status are an action's: a note of another kind has none. */
static int check_action_fields(struct vctx *v, const json_t *rec)
{
    static const char *const fields[] = {"owner_person", "owner_institution", "due", "status"};
    const char *kind = json_string_value(json_object_get(rec, "kind"));
    for (size_t i = 0; kind && strcmp(kind, "action") != 0 && i < 4; i++)
        if (json_object_get(rec, fields[i])) {
            snprintf(v->path, sizeof(v->path), "%s", fields[i]);
            return fail(v,
                        "only an action has an owner, a due date and a status (this note's "
                        "kind is %s)",
                        kind);
        }
    return 0;
}

/* A recommendation comes from an evaluation document or a review activity, and its follow-up
 * actions are notes of kind action. */
static int check_recommendation(struct vctx *v, const json_t *rec)
{
    static const char *const sources[][3] = {{"document", "document", "evaluation"},
                                             {"activity", "activity", "review"}};
    bool any = false;
    for (size_t i = 0; i < 2; i++) {
        const char *id = json_string_value(json_object_get(rec, sources[i][0]));
        json_t *src = NULL;
        if (!id)
            continue;
        any = true;
        int rc = v->lookup ? v->lookup(&src, sources[i][1], id, v->lookup_ctx) : TWIN_ENOTFOUND;
        if (rc == TWIN_ENOTFOUND || rc == TWIN_EINVALID) {
            twin_error_clear(); /* missing: the reference check names it; sealed: unread */
            continue;
        }
        if (rc)
            return rc;
        const char *kind = json_string_value(json_object_get(src, "kind"));
        if (kind && !json_object_get(src, "sealed") && strcmp(kind, sources[i][2]) != 0) {
            snprintf(v->path, sizeof(v->path), "%s", sources[i][0]);
            rc = fail(v, "a recommendation comes from an %s %s, and %s %s is a %s", sources[i][2],
                      sources[i][1], sources[i][1], id, kind);
        }
        json_decref(src);
        if (rc)
            return rc;
    }
    if (!any) {
        snprintf(v->path, sizeof(v->path), "document");
        return fail(v, "a recommendation comes from an evaluation document or a review "
                       "activity: give document, activity or both");
    }
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(rec, "actions"), i, a)
    {
        json_t *note = NULL;
        int rc = v->lookup ? v->lookup(&note, "note", json_string_value(a), v->lookup_ctx)
                           : TWIN_ENOTFOUND;
        if (rc == TWIN_ENOTFOUND || rc == TWIN_EINVALID) {
            twin_error_clear();
            continue;
        }
        if (rc)
            return rc;
        const char *kind = json_string_value(json_object_get(note, "kind"));
        if (kind && !json_object_get(note, "sealed") && strcmp(kind, "action") != 0) {
            snprintf(v->path, sizeof(v->path), "actions[%zu]", i);
            rc = fail(v, "a follow-up is a note of kind action, and note %s is a %s",
                      json_string_value(a), kind);
        }
        json_decref(note);
        if (rc)
            return rc;
    }
    return 0;
}

/* A document's file: its name is a base name, and the document's sha256, when given, is the
 * file's (README "Attachments"). */
static int check_document_file(struct vctx *v, const json_t *rec)
{
    const json_t *file = json_object_get(rec, "file");
    if (!file)
        return 0;
    const char *name = json_string_value(json_object_get(file, "name"));
    if (name && (!name[0] || strchr(name, '/') || strchr(name, '\\') || strcmp(name, ".") == 0 ||
                 strcmp(name, "..") == 0)) {
        snprintf(v->path, sizeof(v->path), "file.name");
        return fail(v, "'%s' is not a file's base name", name);
    }
    /* A sealed file's key and the name of its ciphertext go together (SEALED.md 10). */
    const char *key = json_string_value(json_object_get(file, "key"));
    unsigned char bin[33];
    size_t klen = 0;
    if (key && (sodium_base642bin(bin, sizeof(bin), key, strlen(key), NULL, &klen, NULL,
                                  sodium_base64_VARIANT_ORIGINAL) != 0 ||
                klen != 32)) {
        snprintf(v->path, sizeof(v->path), "file.key");
        return fail(v, "must be base64 of 32 bytes");
    }
    sodium_memzero(bin, sizeof(bin));
    if (!key != !json_object_get(file, "blob")) {
        snprintf(v->path, sizeof(v->path), "file.%s", key ? "blob" : "key");
        return fail(v, "required with file.%s (a sealed document's file)", key ? "key" : "blob");
    }
    const char *sha = json_string_value(json_object_get(rec, "sha256"));
    const char *fsha = json_string_value(json_object_get(file, "sha256"));
    if (sha && fsha && strcmp(sha, fsha) != 0) {
        snprintf(v->path, sizeof(v->path), "sha256");
        return fail(v, "%s is not the SHA-256 of the document's file (%s)", sha, fsha);
    }
    return 0;
}

static int check_rules(struct vctx *v, const json_t *rec)
{
    int rc = 0;
    const json_t *dates = json_object_get(rec, "dates");
    if (dates && ((rc = check_order(v, dates, "dates.", "planned_start", "planned_end")) ||
                  (rc = check_order(v, dates, "dates.", "actual_start", "actual_end"))))
        return rc;
    if (strcmp(v->type, "partnership") == 0) {
        if ((rc = check_shares(v, rec, "sectors")) ||
            (rc = check_shares(v, rec, "recipient_countries")))
            return rc;
    } else if (strcmp(v->type, "assignment") == 0) {
        return check_order(v, rec, "", "start", "end");
    } else if (strcmp(v->type, "people_link") == 0) {
        return check_distinct(v, rec, "person_a", "person_b");
    } else if (strcmp(v->type, "handover") == 0) {
        return check_distinct(v, rec, "from_person", "to_person");
    } else if (strcmp(v->type, "note") == 0) {
        return check_action_fields(v, rec);
    } else if (strcmp(v->type, "recommendation") == 0) {
        return check_recommendation(v, rec);
    } else if (strcmp(v->type, "document") == 0) {
        return check_document_file(v, rec);
    } else if (strcmp(v->type, "indicator") == 0) {
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(rec, "periods"), i, p)
        {
            char prefix[64];
            snprintf(prefix, sizeof(prefix), "periods[%zu].", i);
            if ((rc = check_order(v, p, prefix, "start", "end")))
                return rc;
        }
    }
    return 0;
}

/* The periods of an indicator keep every actual they had: a new actual is a new revision. */
static int check_actuals_kept(struct vctx *v, const json_t *rec, const json_t *old)
{
    size_t i, j;
    json_t *op;
    json_array_foreach(json_object_get(old, "periods"), i, op)
    {
        const json_t *oa = json_object_get(op, "actuals");
        if (json_array_size(oa) == 0)
            continue;
        const json_t *match = NULL;
        json_t *np;
        json_array_foreach(json_object_get(rec, "periods"), j, np)
        {
            if (json_equal(json_object_get(np, "start"), json_object_get(op, "start")) &&
                json_equal(json_object_get(np, "end"), json_object_get(op, "end"))) {
                match = np;
                break;
            }
        }
        snprintf(v->path, sizeof(v->path), "periods[%zu].actuals", i);
        if (!match)
            return fail(v, "a period with recorded actuals cannot be removed");
        const json_t *na = json_object_get(match, "actuals");
        if (json_array_size(na) < json_array_size(oa))
            return fail(v, "recorded actuals cannot be removed; add a new one instead");
        for (size_t k = 0; k < json_array_size(oa); k++)
            if (!json_equal(json_array_get(oa, k), json_array_get(na, k)))
                return fail(v, "recorded actual %zu cannot be edited; add a new one instead", k);
    }
    return 0;
}

int twin_record_validate(const json_t *rec, const json_t *old, twin_record_lookup_fn lookup,
                         void *lookup_ctx)
{
    if (!json_is_object(rec))
        return twin_error(TWIN_EINVALID, "a record must be a JSON object");
    const char *type = json_string_value(json_object_get(rec, "type"));
    if (!type)
        return twin_error(TWIN_EINVALID, "record.type: required");
    const struct twin_record_type *t = twin_schema_type(type);
    if (!t)
        return twin_error(TWIN_EINVALID, "record.type: unknown record type '%s'", type);
    struct vctx v = {.type = type, .lookup = lookup, .lookup_ctx = lookup_ctx};
    const char *id = json_string_value(json_object_get(rec, "id"));
    if (!id || !twin_record_id_valid(id)) {
        snprintf(v.path, sizeof(v.path), "id");
        return fail(&v, id ? "'%s' is not a record id" : "required", id);
    }
    int rc = check_object(&v, t->fields, rec, 1);
    if (rc)
        return rc;
    if ((rc = check_rules(&v, rec)))
        return rc;
    if (old) {
        if (!json_equal(json_object_get(old, "id"), json_object_get(rec, "id")) ||
            !json_equal(json_object_get(old, "type"), json_object_get(rec, "type"))) {
            snprintf(v.path, sizeof(v.path), "id");
            return fail(&v, "a record's id and type never change");
        }
        if (json_is_true(json_object_get(old, "withdrawn")) && !json_equal(old, (json_t *)rec)) {
            snprintf(v.path, sizeof(v.path), "withdrawn");
            return fail(&v, "the record is withdrawn and can no longer change");
        }
        if (strcmp(type, "indicator") == 0 && (rc = check_actuals_kept(&v, rec, old)))
            return rc;
    }
    return twin_money_check(rec, old, lookup, lookup_ctx);
}

int twin_record_check_conflicts_kept(const json_t *rec, const json_t *old)
{
    const json_t *now = json_object_get(rec, "conflicts"),
                 *before = old ? json_object_get(old, "conflicts") : NULL;
    for (size_t i = 0; i < json_array_size(now); i++) {
        const json_t *e = json_array_get(now, i);
        bool kept = false;
        for (size_t k = 0; !kept && k < json_array_size(before); k++)
            kept = json_equal((json_t *)e, json_array_get(before, k));
        if (!kept)
            return twin_error(TWIN_EINVALID,
                              "%s.conflicts[%zu]: only a merge sets a conflict aside; an edit may "
                              "remove conflict entries (twin resolve), never add or change one",
                              json_string_value(json_object_get(rec, "type")), i);
    }
    return 0;
}

int twin_record_apply_defaults(json_t *rec)
{
    const char *type = json_string_value(json_object_get(rec, "type"));
    if (type && strcmp(type, "note") == 0 && !json_object_get(rec, "kind"))
        return json_object_set_new(rec, "kind", json_string("note")) ? TWIN_ERROR : 0;
    return 0;
}

/* ---- canonical form and parsing ------------------------------------------------------------ */

#define CANONICAL_FLAGS (JSON_SORT_KEYS | JSON_INDENT(2) | JSON_REAL_PRECISION(15))

/* The bound on a record file: an envelope (it has "sealed") holds a padded record in base64. */
static size_t record_bound(const json_t *rec)
{
    return json_object_get(rec, "sealed") ? TWIN_RECORD_FILE_MAX_BYTES : TWIN_RECORD_MAX_BYTES;
}

int twin_record_canonical(char **out, size_t *out_len, const json_t *rec)
{
    *out = NULL;
    size_t n = json_dumpb(rec, NULL, 0, CANONICAL_FLAGS);
    if (n == 0)
        return twin_error(TWIN_ERROR, "cannot serialise record");
    if (n + 1 > record_bound(rec))
        return twin_error(TWIN_ELIMIT, "%s is larger than %zu bytes",
                          json_object_get(rec, "sealed") ? "envelope" : "record",
                          record_bound(rec));
    char *buf = malloc(n + 2);
    if (!buf)
        return twin_error(TWIN_ERROR, "out of memory");
    if (json_dumpb(rec, buf, n, CANONICAL_FLAGS) != n) {
        free(buf);
        return twin_error(TWIN_ERROR, "cannot serialise record");
    }
    buf[n] = '\n';
    buf[n + 1] = '\0';
    *out = buf;
    *out_len = n + 1;
    return 0;
}

static int depth_of(const json_t *j, int limit)
{
    if (limit < 0)
        return 1;
    int max = 0;
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v)
        {
            int d = depth_of(v, limit - 1);
            if (d > max)
                max = d;
        }
        return max + 1;
    }
    if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
        {
            int d = depth_of(v, limit - 1);
            if (d > max)
                max = d;
        }
        return max + 1;
    }
    return 0;
}

/* Real numbers keep 15 significant digits, the precision of the canonical form, as soon as
 * they are read: what a record holds is exactly what its stored bytes say. */
static double to_canonical_precision(double d)
{
    char buf[40];
    snprintf(buf, sizeof(buf), "%.15g", d);
    return strtod(buf, NULL);
}

static void normalise_reals(json_t *j)
{
    if (json_is_real(j)) {
        json_real_set(j, to_canonical_precision(json_real_value(j)));
    } else if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) normalise_reals(v);
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) normalise_reals(v);
    }
}

int twin_record_parse(json_t **out, const char *data, size_t len)
{
    *out = NULL;
    if (len > TWIN_RECORD_FILE_MAX_BYTES)
        return twin_error(TWIN_ELIMIT, "record is larger than %d bytes",
                          TWIN_RECORD_FILE_MAX_BYTES);
    json_error_t err;
    json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &err);
    if (!j && json_error_code(&err) == json_error_stack_overflow)
        return twin_error(TWIN_ELIMIT, "record is nested deeper than %d levels",
                          TWIN_RECORD_MAX_DEPTH);
    if (!j)
        return twin_error(TWIN_EINVALID, "not valid JSON (line %d, column %d): %s", err.line,
                          err.column, err.text);
    if (!json_is_object(j)) {
        json_decref(j);
        return twin_error(TWIN_EINVALID, "a record must be a JSON object");
    }
    if (depth_of(j, TWIN_RECORD_MAX_DEPTH + 1) > TWIN_RECORD_MAX_DEPTH + 1) {
        json_decref(j);
        return twin_error(TWIN_ELIMIT, "record is nested deeper than %d levels",
                          TWIN_RECORD_MAX_DEPTH);
    }
    if (len > record_bound(j)) {
        json_decref(j);
        return twin_error(TWIN_ELIMIT, "record is larger than %d bytes", TWIN_RECORD_MAX_BYTES);
    }
    normalise_reals(j);
    *out = j;
    return 0;
}

int twin_record_parse_canonical(json_t **out, const char *data, size_t len)
{
    json_t *j;
    int rc = twin_record_parse(&j, data, len);
    if (rc)
        return rc;
    /* One serialisation into a buffer of the stored size: the form is canonical when it fills
     * all but the final newline with the same bytes. */
    char small[4096], *canon = len <= sizeof(small) ? small : malloc(len);
    if (!canon) {
        json_decref(j);
        return twin_error(TWIN_ERROR, "out of memory");
    }
    size_t n = json_dumpb(j, canon, len, CANONICAL_FLAGS);
    bool same = n > 0 && n + 1 == len && data[n] == '\n' && memcmp(canon, data, n) == 0;
    if (canon != small)
        free(canon);
    if (n == 0) {
        json_decref(j);
        return twin_error(TWIN_ERROR, "cannot serialise record");
    }
    if (!same) {
        json_decref(j);
        return twin_error(TWIN_EINVALID, "record is not in canonical form");
    }
    *out = j;
    return 0;
}

/* ---- field paths ------------------------------------------------------------------------------
 *
 * A path is names joined by '.', each name optionally followed by [N] to address item N (from 0)
 * of a list: "periods[0].actuals". It is parsed whole before anything is read or changed, checked
 * against the schema where the schema knows the fields, and then walked twice: once to find
 * every fault, once to make the change, so that a refused assignment leaves the record as it was.
 */

#define PATH_MAX_BYTES    200
#define PATH_MAX_SEGMENTS (PATH_MAX_BYTES / 2 + 1)
#define NAME_MAX_BYTES    127

struct path_seg {
    bool is_index;
    const char *name; /* a name: its bytes in the path, name_len of them */
    size_t name_len;
    size_t index; /* an index: SIZE_MAX when too large to be any list's */
    size_t end;   /* the offset in the path just after this segment */
};

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

static int not_a_path(const char *path)
{
    return twin_error(TWIN_EINVALID,
                      "'%s' is not a field path (names of letters, digits, '_' and '-', joined by "
                      "'.', with [N] after a list's name for its item N)",
                      path);
}

static int parse_path(struct path_seg *segs, size_t *nsegs, const char *path)
{
    size_t len = strlen(path), n = 0, i = 0;
    if (len == 0 || len > PATH_MAX_BYTES)
        return not_a_path(path);
    while (i < len) {
        struct path_seg *s = &segs[n];
        if (n == PATH_MAX_SEGMENTS)
            return not_a_path(path);
        memset(s, 0, sizeof(*s));
        if (path[i] == '[') {
            size_t close = i + 1;
            while (close < len && path[close] != ']' && path[close] != '.' && path[close] != '[')
                close++;
            if (n == 0 || close == len || path[close] != ']')
                return not_a_path(path);
            const char *digits = path + i + 1;
            size_t nd = close - i - 1;
            bool ok = nd > 0 && (nd == 1 || digits[0] != '0');
            for (size_t k = 0; ok && k < nd; k++)
                ok = digits[k] >= '0' && digits[k] <= '9';
            if (!ok)
                return twin_error(TWIN_EINVALID,
                                  "%s: [%.*s] is not an item number (items are numbered 0, 1, "
                                  "2, ... from the first)",
                                  path, (int)nd, digits);
            s->is_index = true;
            s->index = 0;
            for (size_t k = 0; k < nd && s->index != SIZE_MAX; k++)
                s->index = nd > 9 ? SIZE_MAX : s->index * 10 + (size_t)(digits[k] - '0');
            i = close + 1;
        } else {
            if (n > 0) {
                if (path[i] != '.')
                    return not_a_path(path);
                i++;
            }
            size_t start = i;
            while (i < len && is_name_char(path[i]))
                i++;
            if (i == start || i - start > NAME_MAX_BYTES)
                return not_a_path(path);
            s->name = path + start;
            s->name_len = i - start;
        }
        s->end = i;
        n++;
    }
    *nsegs = n;
    return 0;
}

static bool seg_is(const struct path_seg *s, const char *name)
{
    return !s->is_index && s->name_len == strlen(name) && memcmp(s->name, name, s->name_len) == 0;
}

/* The length of the path up to segment i, without it: what holds segment i. */
static int holder_len(const struct path_seg *segs, size_t i)
{
    return i == 0 ? 0 : (int)segs[i - 1].end;
}

/* The schema's field at segs (an item's field after an index), or NULL where the schema does not
 * know the field (validation names an unknown one). A name under a field that is not an object,
 * or an index or += on one that is not a list, is refused here, by the path. */
static int schema_field(const struct twin_field **out, const char *type,
                        const struct path_seg *segs, size_t n, bool append, const char *path)
{
    const struct twin_record_type *t = twin_schema_type(type ? type : "");
    const struct twin_field *fields = t ? t->fields : NULL, *f = NULL;
    bool known = t != NULL;
    *out = NULL;
    for (size_t i = 0; i < n && known; i++) {
        if (segs[i].is_index) {
            if (f->kind == TWIN_F_ANY) {
                known = false;
            } else if (f->kind != TWIN_F_LIST) {
                return twin_error(TWIN_EINVALID, "%s: '%.*s' is not a list", path,
                                  holder_len(segs, i), path);
            } else {
                f = f->item;
            }
            continue;
        }
        if (i > 0 && f->kind == TWIN_F_ANY) {
            known = false;
            continue;
        }
        if (i > 0 && f->lang && i + 1 == n)
            continue; /* title.fr: one language of the text, a text itself */
        if (i > 0 && f->kind != TWIN_F_OBJECT)
            return twin_error(TWIN_EINVALID, "%s: '%.*s' is not an object", path,
                              holder_len(segs, i), path);
        if (i > 0)
            fields = f->fields;
        f = NULL;
        for (const struct twin_field *c = fields; c && c->name; c++)
            if (seg_is(&segs[i], c->name))
                f = c;
        known = f != NULL;
    }
    if (known && append && f->kind != TWIN_F_ANY) {
        if (f->kind != TWIN_F_LIST)
            return twin_error(TWIN_EINVALID, "%s: '%s' is not a list: += appends an item to a list",
                              path, path);
        f = f->item;
    }
    *out = known && f->kind != TWIN_F_ANY ? f : NULL;
    return 0;
}

/* Walks segs[0..upto) from rec. *at is the value there; NULL when a name on the way is absent,
 * unless create, which makes what is absent: objects, or a list for the last name when
 * want_list. An index needs a list that has the item. */
static int walk(json_t **at, json_t *rec, const struct path_seg *segs, size_t upto,
                const char *path, bool create, bool want_list)
{
    json_t *cur = rec;
    *at = NULL;
    for (size_t i = 0; i < upto; i++) {
        const struct path_seg *s = &segs[i];
        int hl = holder_len(segs, i);
        json_t *next;
        if (s->is_index) {
            char number[24];
            snprintf(number, sizeof(number), "%.*s", (int)(s->end - (size_t)hl - 2), path + hl + 1);
            if (!cur)
                return twin_error(TWIN_EINVALID,
                                  "%s: no item %s: '%.*s' is absent (add an item with "
                                  "%.*s+=VALUE)",
                                  path, number, hl, path, hl, path);
            if (!json_is_array(cur))
                return twin_error(TWIN_EINVALID, "%s: '%.*s' is not a list", path, hl, path);
            size_t size = json_array_size(cur);
            if (s->index >= size)
                return twin_error(TWIN_EINVALID,
                                  "%s: no item %s: '%.*s' has %zu item%s (add one with "
                                  "%.*s+=VALUE)",
                                  path, number, hl, path, size, size == 1 ? "" : "s", hl, path);
            next = json_array_get(cur, s->index);
        } else {
            if (cur && !json_is_object(cur))
                return twin_error(TWIN_EINVALID, "%s: '%.*s' is not an object", path, hl, path);
            char name[NAME_MAX_BYTES + 1];
            memcpy(name, s->name, s->name_len);
            name[s->name_len] = '\0';
            next = cur ? json_object_get(cur, name) : NULL;
            if (!next && cur && create) {
                next = i + 1 == upto && want_list ? json_array() : json_object();
                if (!next || json_object_set_new(cur, name, next))
                    return twin_error(TWIN_ERROR, "%s: out of memory", path);
            }
        }
        cur = next;
    }
    *at = cur;
    return 0;
}

static bool kind_is_text(enum twin_field_kind k)
{
    return k != TWIN_F_INT && k != TWIN_F_NUMBER && k != TWIN_F_BOOL && k != TWIN_F_OBJECT &&
           k != TWIN_F_LIST && k != TWIN_F_ANY;
}

/* Whether a JSON object given for a text reads as one in several languages: every key two small
 * letters, every value a string. Any other object is text that only looks like JSON. */
static bool looks_like_languages(const json_t *obj)
{
    const char *code;
    json_t *text;
    json_object_foreach((json_t *)obj, code, text)
    {
        if (strlen(code) != 2 || code[0] < 'a' || code[0] > 'z' || code[1] < 'a' || code[1] > 'z' ||
            !json_is_string(text))
            return false;
    }
    return true;
}

/* The value text as the field f takes it (f NULL: a field the schema does not know): *out NULL
 * for "null". */
static int parse_value(json_t **out, const struct twin_field *f, const char *path,
                       const char *value_text)
{
    json_t *value = NULL;
    *out = NULL;
    if (strcmp(value_text, "null") == 0)
        return 0;
    json_error_t err;
    if (f && f->lang && value_text[0] == '{' &&
        (value = json_loads(value_text, JSON_REJECT_DUPLICATES, &err))) {
        if (looks_like_languages(value)) {
            *out = value; /* a text in several languages, given whole ({"en": ..., "fr": ...}) */
            return 0;
        }
        json_decref(value); /* text that only looks like JSON stays text */
        value = NULL;
    }
    if (f && kind_is_text(f->kind)) {
        value = json_string(value_text);
        if (!value)
            return twin_error(TWIN_EINVALID, "%s: value is not valid UTF-8", path);
        *out = value;
        return 0;
    }
    value = json_loads(value_text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
    if (!value || json_is_string(value)) {
        json_decref(value);
        if (f && (f->kind == TWIN_F_LIST || f->kind == TWIN_F_OBJECT))
            return twin_error(TWIN_EINVALID, "%s: expects a JSON %s: %s", path,
                              f->kind == TWIN_F_LIST ? "list" : "object", err.text);
        value = json_string(value_text);
        if (!value)
            return twin_error(TWIN_EINVALID, "%s: value is not valid UTF-8", path);
    }
    normalise_reals(value);
    *out = value;
    return 0;
}

/* Before title.fr is set: a title that is a plain string becomes a map holding its text in
 * plain_lang (the record's own language when NULL, else "en"), so that no text is lost. */
static int to_languages(json_t *rec, const struct twin_field *f, const struct path_seg *segs,
                        size_t n, const char *path, const char *plain_lang)
{
    json_t *holder = NULL;
    if (n < 2 || !f || !f->lang || segs[n - 1].is_index)
        return 0;
    int rc = walk(&holder, rec, segs, n - 1, path, false, false);
    if (rc || !json_is_string(holder))
        return rc;
    const char *lang = plain_lang ? plain_lang : twin_record_own_lang(rec);
    json_t *map = json_pack("{s:O}", lang ? lang : "en", holder);
    if (!map)
        return twin_error(TWIN_ERROR, "%s: out of memory", path);
    json_t *at = NULL;
    if ((rc = walk(&at, rec, segs, n - 2, path, false, false)) == 0 && json_is_object(at)) {
        char name[NAME_MAX_BYTES + 1];
        memcpy(name, segs[n - 2].name, segs[n - 2].name_len);
        name[segs[n - 2].name_len] = '\0';
        return json_object_set_new(at, name, map) ? twin_error(TWIN_ERROR, "out of memory") : 0;
    }
    json_decref(map);
    return rc;
}

static int apply_path(json_t *rec, const char *path, const char *value_text, bool append,
                      const char *plain_lang)
{
    struct path_seg segs[PATH_MAX_SEGMENTS];
    size_t n = 0;
    int rc = parse_path(segs, &n, path);
    if (rc)
        return rc;
    if (seg_is(&segs[0], "id") || seg_is(&segs[0], "type"))
        return twin_error(TWIN_EINVALID, "%s: set by twin, cannot be given", path);
    if (strlen(value_text) > TWIN_FIELD_MAX_BYTES)
        return twin_error(TWIN_ELIMIT, "%s: value longer than %d bytes", path,
                          TWIN_FIELD_MAX_BYTES);
    const struct twin_field *f = NULL;
    if ((rc = schema_field(&f, json_string_value(json_object_get(rec, "type")), segs, n, append,
                           path)))
        return rc;
    json_t *value = NULL, *at = NULL;
    if ((rc = parse_value(&value, f, path, value_text)))
        return rc;
    if (!append && value && (rc = to_languages(rec, f, segs, n, path, plain_lang))) {
        json_decref(value);
        return rc;
    }
    if (append) {
        if (!value)
            return twin_error(TWIN_EINVALID,
                              "%s: null is not a list item (%s[N]=null removes item N)", path,
                              path);
        if ((rc = walk(&at, rec, segs, n, path, false, true)) == 0 && at && !json_is_array(at))
            rc = twin_error(TWIN_EINVALID, "%s: '%s' is not a list: += appends an item to a list",
                            path, path);
        if (rc == 0 && json_array_size(at) >= TWIN_LIST_MAX_ITEMS)
            rc = twin_error(TWIN_ELIMIT, "%s: the list has %d items, the most one may hold", path,
                            TWIN_LIST_MAX_ITEMS);
        if (rc == 0 && !at)
            rc = walk(&at, rec, segs, n, path, true, true);
        if (rc == 0 && json_array_append_new(at, value))
            return twin_error(TWIN_ERROR, "%s: out of memory", path);
        if (rc)
            json_decref(value);
        return rc;
    }
    /* Set or remove the last segment in what holds it. */
    const struct path_seg *last = &segs[n - 1];
    rc = walk(&at, rec, segs, n - 1, path, false, false);
    if (rc == 0 && last->is_index) {
        json_t *item = NULL; /* the walk checks that at is a list that has the item */
        if ((rc = walk(&item, rec, segs, n, path, false, false)) == 0) {
            if (!value && json_array_remove(at, last->index))
                rc = twin_error(TWIN_ERROR, "%s: cannot remove the item", path);
            else if (value && json_array_set_new(at, last->index, value))
                rc = twin_error(TWIN_ERROR, "%s: cannot set the item", path);
            return rc;
        }
        json_decref(value);
        return rc;
    }
    if (rc == 0 && at && !json_is_object(at))
        rc = twin_error(TWIN_EINVALID, "%s: '%.*s' is not an object", path, holder_len(segs, n - 1),
                        path);
    if (rc || (!at && !value)) { /* removing below an absent object: nothing to do */
        json_decref(value);
        return rc;
    }
    if (!at && (rc = walk(&at, rec, segs, n - 1, path, true, false))) {
        json_decref(value);
        return rc;
    }
    char name[NAME_MAX_BYTES + 1];
    memcpy(name, last->name, last->name_len);
    name[last->name_len] = '\0';
    if (!value) {
        json_object_del(at, name);
        return 0;
    }
    if (json_object_set_new(at, name, value))
        return twin_error(TWIN_ERROR, "%s: cannot set value", path);
    return 0;
}

int twin_record_set_path(json_t *rec, const char *path, const char *value_text)
{
    return apply_path(rec, path, value_text, false, NULL);
}

int twin_record_append_path(json_t *rec, const char *path, const char *value_text)
{
    return apply_path(rec, path, value_text, true, NULL);
}

int twin_record_assignment_parse(struct twin_record_assignment *out, const char *text)
{
    memset(out, 0, sizeof(*out));
    const char *eq = strchr(text, '=');
    size_t n = eq ? (size_t)(eq - text) : 0;
    if (n > 0 && text[n - 1] == '+') {
        out->append = true;
        n--;
    }
    if (!eq || n == 0)
        return twin_error(TWIN_EINVALID, "'%s' is not FIELD=VALUE or LIST+=VALUE", text);
    if (n >= sizeof(out->path))
        return twin_error(TWIN_EINVALID, "field path too long: %.40s...", text);
    memcpy(out->path, text, n);
    out->path[n] = '\0';
    out->value = eq + 1;
    return 0;
}

int twin_record_assign(json_t *rec, const char *text)
{
    return twin_record_assign_in(rec, text, NULL);
}

int twin_record_assign_in(json_t *rec, const char *text, const char *plain_lang)
{
    struct twin_record_assignment a;
    int rc = twin_record_assignment_parse(&a, text);
    if (rc)
        return rc;
    return apply_path(rec, a.path, a.value, a.append, plain_lang);
}

json_t *twin_record_get_path(const json_t *rec, const char *path)
{
    const json_t *cur = rec;
    char seg[128];
    const char *p = path;
    while (cur && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof(seg))
            return NULL;
        memcpy(seg, p, n);
        seg[n] = '\0';
        cur = json_object_get(cur, seg);
        p = dot ? dot + 1 : p + n;
    }
    return (json_t *)cur;
}

/* fields: the schema's fields of value, an object (NULL where the schema says none); texts:
 * a text in several languages is one leaf. */
static int flatten(json_t *flat, const char *prefix, const json_t *value, int depth,
                   const struct twin_field *fields, bool texts)
{
    if (!json_is_object(value) || depth > 16 || (depth > 0 && json_object_size(value) == 0))
        return json_object_set(flat, prefix, (json_t *)value) ? TWIN_ERROR : 0;
    const char *key;
    json_t *child;
    json_object_foreach((json_t *)value, key, child)
    {
        char path[512];
        snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", key);
        const struct twin_field *f = fields;
        while (f && f->name && strcmp(f->name, key) != 0)
            f++;
        f = f && f->name ? f : NULL;
        int rc = texts && f && f->lang
                     ? (json_object_set(flat, path, child) ? TWIN_ERROR : 0)
                     : flatten(flat, path, child, depth + 1,
                               f && f->kind == TWIN_F_OBJECT ? f->fields : NULL, texts);
        if (rc)
            return rc;
    }
    return 0;
}

static int flatten_record(json_t *flat, const json_t *rec, bool texts)
{
    const char *type = json_string_value(json_object_get(rec, "type"));
    const struct twin_record_type *t = twin_schema_type(type ? type : "");
    return flatten(flat, "", rec, 0, t ? t->fields : NULL, texts)
               ? twin_error(TWIN_ERROR, "out of memory")
               : 0;
}

int twin_record_flatten(json_t *flat, const json_t *rec)
{
    return flatten_record(flat, rec, false);
}

int twin_record_flatten_texts(json_t *flat, const json_t *rec)
{
    return flatten_record(flat, rec, true);
}

static int cmp_text(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of flat records fa and fb whose values differ, sorted: a new array (NULL when out of
 * memory). */
static json_t *differing(json_t *fa, json_t *fb)
{
    size_t n = 0;
    const char **paths = calloc(json_object_size(fa) + json_object_size(fb) + 1, sizeof(*paths));
    if (!paths)
        return NULL;
    const char *field;
    json_t *value, *out = json_array();
    json_object_foreach(fa, field, value)
    {
        if (!json_equal(value, json_object_get(fb, field)))
            paths[n++] = field;
    }
    json_object_foreach(fb, field, value)
    {
        if (!json_object_get(fa, field))
            paths[n++] = field;
    }
    qsort(paths, n, sizeof(*paths), cmp_text);
    for (size_t i = 0; out && i < n; i++)
        if (json_array_append_new(out, json_string(paths[i]))) {
            json_decref(out);
            out = NULL;
        }
    free(paths);
    return out;
}

json_t *twin_record_diff(const json_t *a, const json_t *b)
{
    json_t *fa = json_object(), *fb = json_object();
    json_t *out = fa && fb && twin_record_flatten(fa, a) == 0 && twin_record_flatten(fb, b) == 0
                      ? differing(fa, fb)
                      : NULL;
    json_decref(fa);
    json_decref(fb);
    return out;
}

const char *twin_record_text(const json_t *value, const char *lang, const char *fallback,
                             const char **chosen)
{
    if (chosen)
        *chosen = NULL;
    if (json_is_string(value))
        return json_string_value(value);
    if (!json_is_object(value))
        return NULL;
    const char *want[] = {lang, fallback, "en"}, *first = NULL, *code;
    json_t *text;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (want[i] && json_is_string(json_object_get(value, want[i]))) {
            if (chosen)
                *chosen = want[i];
            return json_string_value(json_object_get(value, want[i]));
        }
    json_object_foreach((json_t *)value, code, text)
    {
        if (json_is_string(text) && (!first || strcmp(code, first) < 0))
            first = code;
    }
    if (chosen)
        *chosen = first;
    return first ? json_string_value(json_object_get(value, first)) : NULL;
}

const char *twin_record_own_lang(const json_t *rec)
{
    const char *type = json_string_value(json_object_get(rec, "type"));
    const char *lang = json_string_value(json_object_get(rec, "language"));
    return type && strcmp(type, "partnership") == 0 && twin_record_lang_valid(lang) ? lang : NULL;
}

const char *twin_record_title_in(const json_t *rec, const char *lang, const char *fallback)
{
    const char *type = json_string_value(json_object_get(rec, "type"));
    const struct twin_record_type *t = twin_schema_type(type ? type : "");
    const char *s = t ? twin_record_text(json_object_get(rec, t->title_field), lang,
                                         fallback ? fallback : twin_record_own_lang(rec), NULL)
                      : NULL;
    return s ? s : "";
}

const char *twin_record_title(const json_t *rec)
{
    return twin_record_title_in(rec, NULL, NULL);
}

struct localise {
    const char *lang, *fallback;
    char path[256];
    twin_record_shown_fn shown;
    void *ctx;
};

static void localise_value(struct localise *l, size_t at, const struct twin_field *f, json_t *v,
                           json_t **replace);

static void localise_fields(struct localise *l, size_t at, const struct twin_field *fields,
                            json_t *obj)
{
    for (const struct twin_field *f = fields; f && f->name; f++) {
        json_t *v = json_object_get(obj, f->name), *whole = NULL;
        int n = snprintf(l->path + at, sizeof(l->path) - at, "%s%s", at ? "." : "", f->name);
        if (!v || n < 0 || (size_t)n >= sizeof(l->path) - at)
            continue;
        localise_value(l, at + (size_t)n, f, v, &whole);
        if (whole)
            json_object_set_new(obj, f->name, whole);
    }
}

static void localise_value(struct localise *l, size_t at, const struct twin_field *f, json_t *v,
                           json_t **replace)
{
    if (f->lang && json_is_object(v)) {
        const char *chosen = NULL;
        const char *text = twin_record_text(v, l->lang, l->fallback, &chosen);
        if (text && (*replace = json_string(text)) && l->shown)
            l->shown(l->path, chosen, l->ctx);
    } else if (f->kind == TWIN_F_OBJECT && json_is_object(v)) {
        localise_fields(l, at, f->fields, v);
    } else if (f->kind == TWIN_F_LIST && f->item && json_is_array(v)) {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            json_t *whole = NULL;
            int n = snprintf(l->path + at, sizeof(l->path) - at, "[%zu]", i);
            if (n < 0 || (size_t)n >= sizeof(l->path) - at)
                return;
            localise_value(l, at + (size_t)n, f->item, item, &whole);
            if (whole)
                json_array_set_new(v, i, whole);
        }
    }
}

json_t *twin_record_localise(const json_t *rec, const char *lang, const char *fallback,
                             twin_record_shown_fn shown, void *ctx)
{
    const struct twin_record_type *t =
        twin_schema_type(json_string_value(json_object_get(rec, "type")));
    json_t *out = json_deep_copy(rec);
    struct localise l = {lang, fallback ? fallback : twin_record_own_lang(rec), "", shown, ctx};
    if (out && t)
        localise_fields(&l, 0, t->fields, out);
    return out;
}

bool twin_record_field_is(const json_t *rec, const char *path, const char *want)
{
    const json_t *v = twin_record_get_path(rec, path);
    if (json_is_string(v))
        return strcmp(json_string_value(v), want) == 0;
    if (!v)
        return false;
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    bool eq = s && strcmp(s, want) == 0;
    free(s);
    return eq;
}

/* Appends each language's text of a multilingual map to out, but the one in the language but. */
static void words_in_languages(FILE *out, const json_t *map, const char *but)
{
    const char *code;
    json_t *text;
    json_object_foreach((json_t *)map, code, text)
    {
        if (json_is_string(text) && (!but || strcmp(code, but) != 0)) {
            fputs(json_string_value(text), out);
            fputc('\n', out);
        }
    }
}

/* Appends the text a value of field f holds (its own, an object's fields', a list's items') to
 * out, each piece on its own line. */
static void words_of(FILE *out, const struct twin_field *f, const json_t *v)
{
    if (!v)
        return;
    if ((f->kind == TWIN_F_STRING || f->kind == TWIN_F_TEXT) && json_is_string(v)) {
        fputs(json_string_value(v), out);
        fputc('\n', out);
    } else if (f->lang && json_is_object(v)) {
        words_in_languages(out, v, NULL);
    } else if (f->kind == TWIN_F_OBJECT && json_is_object(v)) {
        for (const struct twin_field *sub = f->fields; sub && sub->name; sub++)
            words_of(out, sub, json_object_get(v, sub->name));
    } else if (f->kind == TWIN_F_LIST && f->item && json_is_array(v)) {
        size_t i;
        const json_t *item;
        json_array_foreach(v, i, item) words_of(out, f->item, item);
    }
}

char *twin_record_words(const json_t *rec)
{
    const struct twin_record_type *t =
        twin_schema_type(json_string_value(json_object_get(rec, "type")));
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out)
        return NULL;
    for (const struct twin_field *f = t ? t->fields : NULL; f && f->name; f++) {
        const json_t *v = json_object_get(rec, f->name);
        if (strcmp(f->name, t->title_field) != 0 && strcmp(f->name, "id") != 0 &&
            strcmp(f->name, "type") != 0) {
            words_of(out, f, v);
        } else if (f->lang && json_is_object(v)) {
            /* The title's other languages: the title itself is the one twin_record_title shows */
            const char *shown = NULL;
            twin_record_text(v, NULL, twin_record_own_lang(rec), &shown);
            words_in_languages(out, v, shown);
        }
    }
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    return text;
}
