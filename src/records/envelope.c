#define _GNU_SOURCE /* memmem */
#include "records/envelope.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "twin/error.h"
#include "twin/record.h"

bool twin_envelope_is(const json_t *rec)
{
    return json_object_get(rec, "sealed") != NULL;
}

bool twin_envelope_in_text(const char *text, size_t len)
{
    /* Canonical JSON writes a top-level member on a line of its own at an indent of two; a
     * newline inside a string is escaped, and a deeper member is indented further. */
    static const char member[] = "\n  \"sealed\": ";
    return memmem(text, len, member, sizeof(member) - 1) != NULL;
}

void twin_envelope_clear(struct twin_envelope *e)
{
    free(e->ciphertext);
    memset(e, 0, sizeof(*e));
}

static int fault(const struct twin_envelope *e, const char *what)
{
    return twin_error(TWIN_EINVALID, "sealed %s %s: %s", e->type ? e->type : "record",
                      e->id ? e->id : "?", what);
}

/* Decodes standard base64 of exactly n bytes (max_n when n is 0: any length up to it) that
 * is the canonical encoding of what it decodes to. libsodium's decoder takes only that: the
 * standard alphabet, the padding "=" where it is due and nowhere else, and no stray bits in the
 * last character; all of the text must be read. */
static bool b64_exact(unsigned char *out, size_t *len, const char *text, size_t n, size_t max_n)
{
    size_t tl = strlen(text), cap = n ? n : max_n, got = 0;
    const char *end = NULL;
    if (tl == 0 || tl % 4 != 0 || tl / 4 * 3 > cap + 2)
        return false;
    if (sodium_base642bin(out, cap, text, tl, NULL, &got, &end, sodium_base64_VARIANT_ORIGINAL) !=
            0 ||
        end != text + tl || (n && got != n))
        return false;
    *len = got;
    return true;
}

static bool sorted_unique(const char *const *items, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (strcmp(items[i - 1], items[i]) >= 0)
            return false;
    return true;
}

static bool blob_hex(const char *s)
{
    if (strlen(s) != 40)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

/* Reads a list of strings into items (at most max), each passing ok. */
static int read_strings(const struct twin_envelope *e, const json_t *list, const char **items,
                        size_t *n, size_t min, size_t max, bool (*ok)(const char *),
                        const char *what)
{
    char msg[200];
    if (!json_is_array(list) || json_array_size(list) < min || json_array_size(list) > max) {
        snprintf(msg, sizeof(msg), "%s must be a list of %zu to %zu items", what, min, max);
        return fault(e, msg);
    }
    size_t i;
    const json_t *v;
    json_array_foreach(list, i, v)
    {
        if (!json_is_string(v) || !ok(json_string_value(v))) {
            snprintf(msg, sizeof(msg), "%s item %zu is not valid", what, i + 1);
            return fault(e, msg);
        }
        items[i] = json_string_value(v);
    }
    *n = json_array_size(list);
    if (!sorted_unique(items, *n)) {
        snprintf(msg, sizeof(msg), "%s must be sorted, with no item twice", what);
        return fault(e, msg);
    }
    return 0;
}

/* Only the members named in allowed (NULL-terminated) may be in obj. */
static const char *stray_member(const json_t *obj, const char *const *allowed)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        bool known = false;
        for (size_t i = 0; allowed[i] && !known; i++)
            known = strcmp(allowed[i], key) == 0;
        if (!known)
            return key;
    }
    return NULL;
}

static bool reason_ok(const char *s)
{
    size_t chars = twin_util_utf8_chars(s, strlen(s));
    if (chars == 0 || chars == SIZE_MAX || chars > TWIN_ENVELOPE_MAX_REASON)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    const char *name;
    return twin_record_hidden_char(s, &name) == 0;
}

static int read_envelope(struct twin_envelope *out, const json_t *rec, bool content);

int twin_envelope_read(struct twin_envelope *out, const json_t *rec)
{
    return read_envelope(out, rec, true);
}

int twin_envelope_read_public(struct twin_envelope *out, const json_t *rec)
{
    return read_envelope(out, rec, false);
}

static int read_envelope(struct twin_envelope *out, const json_t *rec, bool content)
{
    struct twin_envelope *e = out;
    memset(e, 0, sizeof(*e));
    static const char *const top[] = {"id",     "type",      "sealed", "withdrawn",
                                      "erased", "conflicts", NULL};
    char msg[200];
    e->id = json_string_value(json_object_get(rec, "id"));
    e->type = json_string_value(json_object_get(rec, "type"));
    if (!json_is_object(rec) || !e->id || !e->type)
        return fault(e, "an envelope needs an id and a type");
    if (!twin_record_id_valid(e->id) || !twin_record_type_known(e->type))
        return fault(e, "an envelope's id or type is not valid");
    const char *stray = stray_member(rec, top);
    if (stray) {
        snprintf(msg, sizeof(msg), "an envelope holds no member '%s'", stray);
        return fault(e, msg);
    }
    const json_t *w = json_object_get(rec, "withdrawn"), *er = json_object_get(rec, "erased");
    if (w && !json_is_true(w))
        return fault(e, "withdrawn is true or left out");
    e->withdrawn = w != NULL;
    if (er) {
        static const char *const erased_members[] = {"reason", NULL};
        e->reason = json_string_value(json_object_get(er, "reason"));
        if (!json_is_object(er) || stray_member(er, erased_members) || !e->reason ||
            !reason_ok(e->reason))
            return fault(e, "erased must be {\"reason\": one line of 1 to 1000 characters}");
        e->erased = true;
    }
    const json_t *conflicts = json_object_get(rec, "conflicts");
    int rc;
    if (conflicts && e->erased)
        return fault(e, "an erased envelope keeps no conflicts");
    if (conflicts && (rc = read_strings(e, conflicts, e->conflicts, &e->nconflicts, 1,
                                        TWIN_ENVELOPE_MAX_CONFLICTS, blob_hex, "conflicts")))
        return rc;
    const json_t *s = json_object_get(rec, "sealed");
    static const char *const sealed_members[] = {"v",          "audience", "nonce",
                                                 "ciphertext", "wraps",    NULL};
    static const char *const erased_sealed[] = {"v", "audience", NULL};
    if (!json_is_object(s) ||
        (stray = stray_member(s, e->erased ? erased_sealed : sealed_members))) {
        snprintf(msg, sizeof(msg), "sealed holds no member '%s'%s", stray ? stray : "?",
                 e->erased ? " once erased" : "");
        return fault(e, json_is_object(s) ? msg : "sealed must be an object");
    }
    const json_t *v = json_object_get(s, "v");
    if (!json_is_integer(v) || json_integer_value(v) != 1)
        return fault(e, "sealed.v must be 1");
    if ((rc =
             read_strings(e, json_object_get(s, "audience"), e->audience, &e->naudience, 1,
                          TWIN_ENVELOPE_MAX_AUDIENCE, twin_record_org_id_valid, "sealed.audience")))
        return rc;
    if (e->erased)
        return 0;
    const char *nonce = json_string_value(json_object_get(s, "nonce"));
    const char *ct = json_string_value(json_object_get(s, "ciphertext"));
    const json_t *wraps = json_object_get(s, "wraps");
    size_t len;
    if (!nonce || !b64_exact(e->nonce, &len, nonce, TWIN_SEAL_NONCE_BYTES, 0))
        return fault(e, "sealed.nonce must be base64 of 24 bytes");
    if (!content && !ct)
        return fault(e, "sealed.ciphertext must be base64");
    if (!content)
        goto wraps;
    /* At most what the text can hold, within the bound of a record's content. */
    size_t ct_max = twin_seal_pad(TWIN_SEAL_MAX_PLAIN + 4) + TWIN_SEAL_TAG_BYTES;
    size_t ct_text = ct ? strlen(ct) / 4 * 3 : 0;
    if (ct_text < ct_max)
        ct_max = ct_text ? ct_text : 1;
    if (!ct || !(e->ciphertext = malloc(ct_max)))
        return fault(e, "sealed.ciphertext must be base64");
    if (!b64_exact(e->ciphertext, &e->ciphertext_len, ct, 0, ct_max) ||
        !twin_seal_ciphertext_len_valid(e->ciphertext_len)) {
        rc = fault(e, "sealed.ciphertext must be base64 of a padded content and its tag");
        goto bad;
    }
wraps:
    if (!json_is_array(wraps) || json_array_size(wraps) < 1 ||
        json_array_size(wraps) > TWIN_ENVELOPE_MAX_WRAPS) {
        rc = fault(e, "sealed.wraps must be a list of 1 to 256 digests");
        goto bad;
    }
    size_t i;
    const json_t *d;
    json_array_foreach(wraps, i, d)
    {
        if (!json_is_string(d) ||
            !b64_exact(e->wraps[i], &len, json_string_value(d), TWIN_SEAL_DIGEST_BYTES, 0)) {
            rc = fault(e, "sealed.wraps holds an item that is not base64 of 32 bytes");
            goto bad;
        }
        if (i > 0 &&
            strcmp(json_string_value(json_array_get(wraps, i - 1)), json_string_value(d)) >= 0) {
            rc = fault(e, "sealed.wraps must be sorted, with no item twice");
            goto bad;
        }
    }
    e->nwraps = json_array_size(wraps);
    return 0;
bad:
    free(e->ciphertext);
    e->ciphertext = NULL;
    return rc;
}

bool twin_envelope_lists(const struct twin_envelope *e,
                         const unsigned char digest[TWIN_SEAL_DIGEST_BYTES])
{
    for (size_t i = 0; i < e->nwraps; i++)
        if (sodium_memcmp(e->wraps[i], digest, TWIN_SEAL_DIGEST_BYTES) == 0)
            return true;
    return false;
}

static json_t *b64_string(const unsigned char *data, size_t len)
{
    size_t el = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    char *text = malloc(el);
    if (!text)
        return NULL;
    sodium_bin2base64(text, el, data, len, sodium_base64_VARIANT_ORIGINAL);
    json_t *s = json_string(text);
    free(text);
    return s;
}

static int cmp_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int twin_envelope_build(json_t **out, const char *id, const char *type, const char *const *audience,
                        size_t naudience, const unsigned char nonce[TWIN_SEAL_NONCE_BYTES],
                        const unsigned char *ct, size_t ct_len,
                        const unsigned char (*wraps)[TWIN_SEAL_DIGEST_BYTES], size_t nwraps,
                        bool withdrawn)
{
    *out = NULL;
    if (naudience < 1 || naudience > TWIN_ENVELOPE_MAX_AUDIENCE ||
        !sorted_unique(audience, naudience))
        return twin_error(TWIN_EINVALID, "an audience is 1 to 64 institutions, sorted, none twice");
    if (nwraps < 1 || nwraps > TWIN_ENVELOPE_MAX_WRAPS)
        return twin_error(TWIN_ELIMIT, "a sealed version has %zu wraps (1 to %d)", nwraps,
                          TWIN_ENVELOPE_MAX_WRAPS);
    json_t *aud = json_array(), *wl = json_array(), *sealed = json_object(), *rec = json_object();
    char **digests = calloc(nwraps, sizeof(*digests));
    int rc = aud && wl && sealed && rec && digests ? 0 : TWIN_ERROR;
    for (size_t i = 0; rc == 0 && i < naudience; i++)
        rc = json_array_append_new(aud, json_string(audience[i])) ? TWIN_ERROR : 0;
    for (size_t i = 0; rc == 0 && i < nwraps; i++) {
        json_t *d = b64_string(wraps[i], TWIN_SEAL_DIGEST_BYTES);
        digests[i] = d ? strdup(json_string_value(d)) : NULL;
        json_decref(d);
        rc = digests[i] ? 0 : TWIN_ERROR;
    }
    if (rc == 0) {
        qsort(digests, nwraps, sizeof(*digests), cmp_strings);
        for (size_t i = 0; rc == 0 && i < nwraps; i++)
            if (i > 0 && strcmp(digests[i - 1], digests[i]) == 0)
                rc = twin_error(TWIN_EINVALID, "a sealed version lists one wrap twice");
            else
                rc = json_array_append_new(wl, json_string(digests[i])) ? TWIN_ERROR : 0;
    }
    if (rc == 0 &&
        (json_object_set_new(sealed, "v", json_integer(1)) ||
         json_object_set(sealed, "audience", aud) ||
         json_object_set_new(sealed, "nonce", b64_string(nonce, TWIN_SEAL_NONCE_BYTES)) ||
         json_object_set_new(sealed, "ciphertext", b64_string(ct, ct_len)) ||
         json_object_set(sealed, "wraps", wl) || json_object_set_new(rec, "id", json_string(id)) ||
         json_object_set_new(rec, "type", json_string(type)) ||
         json_object_set(rec, "sealed", sealed) ||
         (withdrawn && json_object_set_new(rec, "withdrawn", json_true()))))
        rc = TWIN_ERROR;
    for (size_t i = 0; digests && i < nwraps; i++)
        free(digests[i]);
    free(digests);
    json_decref(aud);
    json_decref(wl);
    json_decref(sealed);
    if (rc) {
        json_decref(rec);
        return rc == TWIN_ERROR ? twin_error(TWIN_ERROR, "out of memory") : rc;
    }
    *out = rec;
    return 0;
}

int twin_envelope_erase(json_t **out, const json_t *prev, const char *reason)
{
    *out = NULL;
    struct twin_envelope e;
    int rc = twin_envelope_read(&e, prev);
    if (rc)
        return rc;
    if (e.erased) {
        rc = twin_error(TWIN_EINVALID, "%s %s is erased already", e.type, e.id);
        twin_envelope_clear(&e);
        return rc;
    }
    twin_envelope_clear(&e);
    if (!reason || !reason_ok(reason))
        return twin_error(TWIN_EINVALID,
                          "the reason for an erasure is one line of 1 to 1000 characters");
    json_t *rec = json_deep_copy(prev);
    json_t *sealed = rec ? json_object_get(rec, "sealed") : NULL;
    json_t *why = json_object();
    if (rec)
        json_object_del(rec, "conflicts"); /* their versions' keys go with the rest */
    if (!sealed || !why || json_object_del(sealed, "nonce") ||
        json_object_del(sealed, "ciphertext") || json_object_del(sealed, "wraps") ||
        json_object_set_new(why, "reason", json_string(reason)) ||
        json_object_set(rec, "erased", why)) {
        json_decref(rec);
        json_decref(why);
        return twin_error(TWIN_ERROR, "out of memory");
    }
    json_decref(why);
    *out = rec;
    return 0;
}

/* Whether every string of a (sorted) is in b (sorted). */
static bool subset(const char *const *a, size_t na, const char *const *b, size_t nb)
{
    size_t j = 0;
    for (size_t i = 0; i < na; i++) {
        while (j < nb && strcmp(b[j], a[i]) < 0)
            j++;
        if (j == nb || strcmp(b[j], a[i]) != 0)
            return false;
    }
    return true;
}

/* Gives e to the caller in *read when rc is 0 and read is not NULL, else clears it; returns rc. */
static int handed(struct twin_envelope *read, struct twin_envelope *e, int rc)
{
    if (rc == 0 && read)
        *read = *e;
    else
        twin_envelope_clear(e);
    return rc;
}

int twin_envelope_check_change(bool *erasure, struct twin_envelope *read, const json_t *rec,
                               const json_t *old)
{
    *erasure = false;
    if (read)
        memset(read, 0, sizeof(*read));
    bool sealed = twin_envelope_is(rec), was = old && twin_envelope_is(old);
    const char *id = json_string_value(json_object_get(rec, "id"));
    const char *type = json_string_value(json_object_get(rec, "type"));
    if (old && sealed != was)
        return twin_error(TWIN_EINVALID,
                          was ? "%s %s is sealed and cannot be written in the clear"
                              : "%s %s was written in the clear and cannot be sealed: what was "
                                "shared was shared",
                          type ? type : "record", id ? id : "?");
    if (!sealed)
        return 0;
    struct twin_envelope n, o;
    int rc = twin_envelope_read(&n, rec);
    if (rc)
        return rc;
    if (!old) {
        if (n.erased || n.nconflicts)
            rc = twin_error(TWIN_EINVALID, "a new sealed %s %s is neither erased nor in conflict",
                            n.type, n.id);
        return handed(read, &n, rc);
    }
    if ((rc = twin_envelope_read(&o, old)))
        return handed(read, &n, rc);
    if (strcmp(n.id, o.id) != 0 || strcmp(n.type, o.type) != 0)
        rc = twin_error(TWIN_EINVALID, "a sealed record's id and type never change");
    else if (o.erased)
        rc = twin_error(TWIN_EINVALID, "sealed %s %s was erased and never changes again", n.type,
                        n.id);
    else if (n.erased) {
        /* Exactly the previous envelope less its content, plus the reason. */
        json_t *want = NULL;
        rc = twin_envelope_erase(&want, old, n.reason);
        if (rc == 0 && !json_equal(want, (json_t *)rec))
            rc = twin_error(TWIN_EINVALID,
                            "the erasure of sealed %s %s changes more than its content", n.type,
                            n.id);
        json_decref(want);
        *erasure = rc == 0;
    } else if (o.withdrawn)
        rc = twin_error(TWIN_EINVALID, "withdrawn sealed %s %s changes only by an erasure", n.type,
                        n.id);
    else if (!subset(o.audience, o.naudience, n.audience, n.naudience))
        rc = twin_error(TWIN_EINVALID,
                        "sealed %s %s: an audience only widens (what was shared was shared)",
                        n.type, n.id);
    else if (!subset(n.conflicts, n.nconflicts, o.conflicts, o.nconflicts))
        rc = twin_error(TWIN_EINVALID, "sealed %s %s: only merges set versions aside in conflicts",
                        n.type, n.id);
    twin_envelope_clear(&o);
    return handed(read, &n, rc);
}

/* SEALED.md 8: the fields that name or describe a person, per type ("*": the whole type). */
static const struct {
    const char *type, *field, *name;
} personal[] = {
    {"person", "*", "person"},
    {"people_link", "notes", "people_link.notes"},
    {"health_check", "respondent", "health_check.respondent"},
    {"health_check", "comment", "health_check.comment"},
    {"activity", "participants[].role", "activity.participants[].role"},
    {"handover", "summary", "handover.summary"},
    {"handover", "open_items", "handover.open_items"},
};

const char *twin_envelope_personal_field(const json_t *rec)
{
    const char *type = json_string_value(json_object_get(rec, "type"));
    if (!type)
        return NULL;
    for (size_t i = 0; i < sizeof(personal) / sizeof(personal[0]); i++) {
        if (strcmp(personal[i].type, type) != 0)
            continue;
        const char *f = personal[i].field;
        bool present = false;
        if (strcmp(f, "*") == 0)
            present = true;
        else if (strcmp(f, "participants[].role") == 0) {
            size_t k;
            const json_t *p;
            json_array_foreach(json_object_get(rec, "participants"), k, p)
            {
                if (json_object_get(p, "role"))
                    present = true;
            }
        } else
            present = json_object_get(rec, f) != NULL;
        if (present)
            return personal[i].name;
    }
    return NULL;
}

/* The roles of an activity's participants, in order (a new array). */
static json_t *participant_roles(const json_t *rec)
{
    json_t *roles = json_array();
    size_t k;
    const json_t *p;
    json_array_foreach(json_object_get(rec, "participants"), k, p)
    {
        const json_t *r = json_object_get(p, "role");
        json_array_append_new(roles, r ? json_deep_copy(r) : json_null());
    }
    return roles;
}

/* Whether rec holds field f (of the personal table) with another value than old. */
static bool personal_differs(const json_t *rec, const json_t *old, const char *f)
{
    if (strcmp(f, "*") == 0) {
        /* A person: any change but a withdrawal. */
        if (!old)
            return true;
        const char *key;
        const json_t *v;
        json_object_foreach((json_t *)rec, key, v)
        {
            if (strcmp(key, "withdrawn") != 0 && strcmp(key, "conflicts") != 0 &&
                !json_equal((json_t *)v, json_object_get(old, key)))
                return true;
        }
        json_object_foreach((json_t *)old, key, v)
        {
            if (strcmp(key, "withdrawn") != 0 && strcmp(key, "conflicts") != 0 &&
                !json_object_get(rec, key))
                return true;
        }
        return false;
    }
    if (strcmp(f, "participants[].role") == 0) {
        json_t *a = participant_roles(rec), *b = old ? participant_roles(old) : json_array();
        bool any = false;
        size_t k;
        json_t *r;
        json_array_foreach(a, k, r) any = any || !json_is_null(r);
        bool differs = any && !json_equal(a, b);
        json_decref(a);
        json_decref(b);
        return differs;
    }
    const json_t *v = json_object_get(rec, f);
    return v && !json_equal((json_t *)v, old ? json_object_get(old, f) : NULL);
}

const char *twin_envelope_personal_change(const json_t *rec, const json_t *old)
{
    const char *type = json_string_value(json_object_get(rec, "type"));
    if (!type)
        return NULL;
    for (size_t i = 0; i < sizeof(personal) / sizeof(personal[0]); i++)
        if (strcmp(personal[i].type, type) == 0 && personal_differs(rec, old, personal[i].field))
            return personal[i].name;
    return NULL;
}
