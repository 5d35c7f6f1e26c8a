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

#include "records/schema.h"
#include "twin/error.h"

static const char *type_names[16];
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
        if (!json_is_string(val))
            return fail(v, "must be a string");
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
    return 0;
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
 */

static const struct twin_field *field_for_path(const char *type, const char *path)
{
    const struct twin_record_type *t = twin_schema_type(type ? type : "");
    if (!t)
        return NULL;
    const struct twin_field *fields = t->fields, *found = NULL;
    char seg[128];
    const char *p = path;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof(seg) || !fields)
            return NULL;
        memcpy(seg, p, n);
        seg[n] = '\0';
        found = NULL;
        for (const struct twin_field *f = fields; f->name; f++)
            if (strcmp(f->name, seg) == 0)
                found = f;
        if (!found)
            return NULL;
        fields = found->kind == TWIN_F_OBJECT ? found->fields : NULL;
        p = dot ? dot + 1 : p + n;
    }
    return found;
}

static bool kind_is_text(enum twin_field_kind k)
{
    return k != TWIN_F_INT && k != TWIN_F_NUMBER && k != TWIN_F_BOOL && k != TWIN_F_OBJECT &&
           k != TWIN_F_LIST && k != TWIN_F_ANY;
}

static bool field_path_ok(const char *path)
{
    size_t n = strlen(path);
    if (n == 0 || n > 200 || path[0] == '.' || path[n - 1] == '.' || strstr(path, ".."))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = path[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

int twin_record_set_path(json_t *rec, const char *path, const char *value_text)
{
    if (!field_path_ok(path))
        return twin_error(TWIN_EINVALID,
                          "'%s' is not a field path (names of letters, digits, '_' and '-', "
                          "joined by '.')",
                          path);
    if (strcmp(path, "id") == 0 || strcmp(path, "type") == 0)
        return twin_error(TWIN_EINVALID, "%s: set by twin, cannot be given", path);
    if (strlen(value_text) > TWIN_FIELD_MAX_BYTES)
        return twin_error(TWIN_ELIMIT, "%s: value longer than %d bytes", path,
                          TWIN_FIELD_MAX_BYTES);
    const struct twin_field *f =
        field_for_path(json_string_value(json_object_get(rec, "type")), path);
    json_t *value = NULL;
    if (strcmp(value_text, "null") == 0) {
        value = NULL;
    } else if (f && kind_is_text(f->kind)) {
        value = json_string(value_text);
        if (!value)
            return twin_error(TWIN_EINVALID, "%s: value is not valid UTF-8", path);
    } else {
        json_error_t err;
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
    }
    /* Walk to the parent object, creating intermediate objects. */
    json_t *obj = rec;
    char seg[128];
    const char *p = path;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof(seg)) {
            json_decref(value);
            return twin_error(TWIN_EINVALID, "'%s': field name too long", path);
        }
        memcpy(seg, p, n);
        seg[n] = '\0';
        if (!dot)
            break;
        json_t *next = json_object_get(obj, seg);
        if (!next) {
            if (!value)
                return 0; /* removing below a missing object: nothing to do */
            next = json_object();
            if (!next || json_object_set_new(obj, seg, next)) {
                json_decref(value);
                return twin_error(TWIN_ERROR, "%s: out of memory", path);
            }
        } else if (!json_is_object(next)) {
            json_decref(value);
            return twin_error(TWIN_EINVALID, "%s: '%s' is not an object", path, seg);
        }
        obj = next;
        p = dot + 1;
    }
    if (!value) {
        json_object_del(obj, seg);
        return 0;
    }
    if (json_object_set_new(obj, seg, value))
        return twin_error(TWIN_ERROR, "%s: cannot set value", path);
    return 0;
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

static int flatten(json_t *flat, const char *prefix, const json_t *value, int depth)
{
    if (!json_is_object(value) || depth > 16 || (depth > 0 && json_object_size(value) == 0))
        return json_object_set(flat, prefix, (json_t *)value) ? TWIN_ERROR : 0;
    const char *key;
    json_t *child;
    json_object_foreach((json_t *)value, key, child)
    {
        char path[512];
        snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", key);
        int rc = flatten(flat, path, child, depth + 1);
        if (rc)
            return rc;
    }
    return 0;
}

int twin_record_flatten(json_t *flat, const json_t *rec)
{
    return flatten(flat, "", rec, 0) ? twin_error(TWIN_ERROR, "out of memory") : 0;
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

const char *twin_record_title(const json_t *rec)
{
    const struct twin_record_type *t =
        twin_schema_type(json_string_value(json_object_get(rec, "type"))
                             ? json_string_value(json_object_get(rec, "type"))
                             : "");
    const char *s = t ? json_string_value(json_object_get(rec, t->title_field)) : NULL;
    return s ? s : "";
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
