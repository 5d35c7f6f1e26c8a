/* Envelopes of sealed records (src/records/envelope.c, proto/SEALED.md 1 and 6 to 8): an envelope
 * built and read back, and told from a record in the clear by its bytes; every form the
 * specification rules out refused by name; erased envelopes; the public rules on a change between
 * two versions; the fields that describe a person. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sodium.h>

#include "records/envelope.h"
#include "twin/error.h"
#include "twin/record.h"
#include "unit/helpers.h"

#define ID "0193a5c2-7d1e-7000-8000-3f2a9c41b7e0"

static const char *const two[] = {"XE-EXAMPLE-NORTH", "XE-EXAMPLE-SOUTH"};
static const char *const three[] = {"XE-EXAMPLE-DONOR", "XE-EXAMPLE-NORTH", "XE-EXAMPLE-SOUTH"};

/* An envelope of a 300-byte content for audience aud, with three wrap digests. */
static json_t *envelope(const char *const *aud, size_t n, bool withdrawn)
{
    unsigned char nonce[24], ct[512 + 16], wraps[3][32];
    randombytes_buf(nonce, sizeof(nonce));
    randombytes_buf(ct, sizeof(ct));
    randombytes_buf(wraps, sizeof(wraps));
    json_t *e = NULL;
    assert_int_equal(
        twin_envelope_build(&e, ID, "note", aud, n, nonce, ct, sizeof(ct), wraps, 3, withdrawn), 0);
    return e;
}

static void an_envelope_reads_back_what_was_built(void **state)
{
    unsigned char nonce[24], ct[256 + 16], wraps[2][32];
    randombytes_buf(nonce, sizeof(nonce));
    randombytes_buf(ct, sizeof(ct));
    memset(wraps[0], 0xee, 32);
    memset(wraps[1], 0x11, 32);
    json_t *rec = NULL;
    assert_int_equal(
        twin_envelope_build(&rec, ID, "note", two, 2, nonce, ct, sizeof(ct), wraps, 2, false), 0);
    assert_true(twin_envelope_is(rec));
    /* It is a record file like any other: canonical JSON, read back the same. */
    char *text = NULL;
    size_t len;
    json_t *again = NULL;
    assert_int_equal(twin_record_canonical(&text, &len, rec), 0);
    assert_int_equal(twin_record_parse_canonical(&again, text, len), 0);
    assert_true(json_equal(rec, again));
    struct twin_envelope e;
    assert_int_equal(twin_envelope_read(&e, again), 0);
    assert_string_equal(e.id, ID);
    assert_string_equal(e.type, "note");
    assert_int_equal(e.naudience, 2);
    assert_string_equal(e.audience[1], "XE-EXAMPLE-SOUTH");
    assert_memory_equal(e.nonce, nonce, sizeof(nonce));
    assert_int_equal(e.ciphertext_len, sizeof(ct));
    assert_memory_equal(e.ciphertext, ct, sizeof(ct));
    assert_int_equal(e.nwraps, 2);
    assert_true(twin_envelope_lists(&e, wraps[0]));
    assert_true(twin_envelope_lists(&e, wraps[1]));
    unsigned char other[32] = {0};
    assert_false(twin_envelope_lists(&e, other));
    assert_false(e.withdrawn || e.erased);
    twin_envelope_clear(&e);
    free(text);
    json_decref(again);
    json_decref(rec);
    json_t *plain = json_pack("{s:s, s:s, s:s}", "id", ID, "type", "note", "title", "Open");
    assert_false(twin_envelope_is(plain));
    json_decref(plain);
}

/* Whether the canonical bytes of rec hold an envelope, read off the bytes. */
static bool in_text(const json_t *rec)
{
    char *text = NULL;
    size_t len;
    assert_int_equal(twin_record_canonical(&text, &len, rec), 0);
    bool is = twin_envelope_in_text(text, len);
    free(text);
    return is;
}

static void an_envelope_is_told_by_its_canonical_bytes(void **state)
{
    json_t *env = envelope(two, 2, false), *erased = NULL;
    assert_int_equal(twin_envelope_erase(&erased, env, "The person asked"), 0);
    assert_true(in_text(env));
    assert_true(in_text(erased));
    /* In the clear, even where a text holds an envelope's member line (its newline is escaped)
     * or a member named "sealed" is nested (indented deeper). */
    json_t *clear = json_pack("{s:s, s:s, s:s, s:s}", "id", ID, "type", "note", "title", "Open",
                              "body", "{\n  \"sealed\": {\n    \"v\": 1\n  }\n}\n");
    json_t *nested =
        json_pack("{s:s, s:s, s:{s:{s:i}}}", "id", ID, "type", "note", "dates", "sealed", "v", 1);
    assert_false(in_text(clear));
    assert_false(in_text(nested));
    assert_false(twin_envelope_is(clear) || twin_envelope_is(nested));
    /* A top-level "sealed" of any value is what twin_envelope_is takes for an envelope. */
    json_t *odd = json_pack("{s:s, s:s, s:b}", "id", ID, "type", "note", "sealed", 1);
    assert_true(twin_envelope_is(odd));
    assert_true(in_text(odd));
    assert_false(twin_envelope_in_text("", 0));
    json_decref(odd);
    json_decref(nested);
    json_decref(clear);
    json_decref(erased);
    json_decref(env);
}

/* env with the JSON value text set at path (a dotted path; "-" deletes). */
static void refused(json_t *env, const char *path, const char *value, const char *words)
{
    json_t *e = json_deep_copy(env);
    if (strcmp(path, "id") == 0 || strcmp(path, "type") == 0) /* set_path keeps these */
        json_object_set_new(e, path, json_string(value));
    else if (twin_record_set_path(e, path, value))
        fail_msg("setting %s=%s: %s", path, value, twin_error_last());
    struct twin_envelope r;
    int rc = twin_envelope_read(&r, e);
    if (rc != TWIN_EINVALID || !strstr(twin_error_last(), words))
        fail_msg("%s=%s: got %d (%s), wanted one naming '%s'", path, value, rc, twin_error_last(),
                 words);
    json_decref(e);
}

static void forms_the_specification_rules_out_are_refused(void **state)
{
    json_t *env = envelope(two, 2, false);
    const char *wrap = json_string_value(
        json_array_get(json_object_get(json_object_get(env, "sealed"), "wraps"), 0));
    char list[400];
    refused(env, "title", "\"Secret in the clear\"", "holds no member 'title'");
    refused(env, "sealed.title", "\"x\"", "sealed holds no member 'title'");
    refused(env, "sealed", "\"x\"", "sealed must be an object");
    refused(env, "sealed.v", "2", "sealed.v must be 1");
    refused(env, "sealed.v", "null", "sealed.v must be 1");
    refused(env, "sealed.audience", "[]", "sealed.audience must be a list of 1 to 64");
    refused(env, "sealed.audience", "[\"XE-EXAMPLE-SOUTH\",\"XE-EXAMPLE-NORTH\"]",
            "sealed.audience must be sorted");
    refused(env, "sealed.audience", "[\"XE-EXAMPLE-NORTH\",\"XE-EXAMPLE-NORTH\"]",
            "sealed.audience must be sorted");
    refused(env, "sealed.audience", "[\"not an org id\"]", "sealed.audience item 1 is not valid");
    refused(env, "sealed.nonce", "\"AAAA\"", "base64 of 24 bytes");
    refused(env, "sealed.nonce", "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\\n\"", "base64 of 24 bytes");
    refused(env, "sealed.nonce", "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB\"", "base64 of 24 bytes");
    refused(env, "sealed.ciphertext", "\"AAAA\"", "a padded content and its tag");
    refused(env, "sealed.ciphertext", "\"!!!!\"", "a padded content and its tag");
    refused(env, "sealed.wraps", "[]", "sealed.wraps must be a list of 1 to 256");
    refused(env, "sealed.wraps", "[\"AAAA\"]", "not base64 of 32 bytes");
    snprintf(list, sizeof(list), "[\"%s\",\"%s\"]", wrap, wrap);
    refused(env, "sealed.wraps", list, "sealed.wraps must be sorted");
    /* 32 bytes end in a character with two bits to spare, which must be zero: another encoding
     * of the same bytes with one of them set is not the digest's. */
    snprintf(list, sizeof(list), "[\"%s\"]", wrap);
    size_t pad = strlen(list) - 3; /* [" ... ="] */
    assert_int_equal(list[pad], '=');
    list[pad - 1]++; /* A, E, ..., 8 (a multiple of four) to the next character */
    refused(env, "sealed.wraps", list, "not base64 of 32 bytes");
    refused(env, "withdrawn", "false", "withdrawn is true or left out");
    refused(env, "erased", "{\"reason\":\"x\"}", "sealed holds no member");
    refused(env, "conflicts", "[\"ABC\"]", "conflicts item 1 is not valid");
    refused(env, "conflicts", "[]", "conflicts must be a list of 1 to 64");
    refused(env, "id", "not-an-id", "id or type is not valid");
    refused(env, "type", "secret", "id or type is not valid");
    /* 65 institutions are too many. */
    json_t *e = json_deep_copy(env), *aud = json_array();
    for (int i = 0; i < 65; i++) {
        char org[32];
        snprintf(org, sizeof(org), "XE-EXAMPLE-%03d", i);
        json_array_append_new(aud, json_string(org));
    }
    json_object_set_new(json_object_get(e, "sealed"), "audience", aud);
    struct twin_envelope r;
    assert_error(twin_envelope_read(&r, e), TWIN_EINVALID, "1 to 64");
    json_decref(e);
    json_decref(env);
}

static void an_erased_envelope_keeps_only_what_was_public(void **state)
{
    json_t *env = envelope(two, 2, true), *er = NULL;
    assert_int_equal(twin_envelope_erase(&er, env, "Personal data, at the person's request"), 0);
    struct twin_envelope e;
    assert_int_equal(twin_envelope_read(&e, er), 0);
    assert_true(e.erased && e.withdrawn);
    assert_string_equal(e.reason, "Personal data, at the person's request");
    assert_null(e.ciphertext);
    assert_int_equal(e.naudience, 2);
    twin_envelope_clear(&e);
    const json_t *sealed = json_object_get(er, "sealed");
    assert_int_equal(json_object_size(sealed), 2); /* v and audience */
    json_t *twice = NULL;
    assert_error(twin_envelope_erase(&twice, er, "again"), TWIN_EINVALID, "is erased already");
    assert_error(twin_envelope_erase(&twice, env, ""), TWIN_EINVALID, "one line of 1 to 1000");
    assert_error(twin_envelope_erase(&twice, env, "two\nlines"), TWIN_EINVALID, "one line");
    /* Versions a merge set aside go with the rest. */
    json_t *in_conflict = json_deep_copy(env), *er2 = NULL;
    json_object_set_new(in_conflict, "conflicts",
                        json_pack("[s]", "0123456789abcdef0123456789abcdef01234567"));
    assert_int_equal(twin_envelope_erase(&er2, in_conflict, "Requested"), 0);
    assert_null(json_object_get(er2, "conflicts"));
    json_object_set_new(er2, "conflicts",
                        json_pack("[s]", "0123456789abcdef0123456789abcdef01234567"));
    assert_error(twin_envelope_read(&e, er2), TWIN_EINVALID, "keeps no conflicts");
    json_decref(er2);
    json_decref(in_conflict);
    refused(er, "sealed.nonce", "\"AAAA\"", "no member 'nonce' once erased");
    json_decref(er);
    json_decref(env);
}

/* The check of a change, with the envelope it hands back: rec's, read whole, when the change is
 * allowed and rec is an envelope, else nothing. */
static int change(const json_t *rec, const json_t *old, bool *erasure)
{
    bool e = false;
    struct twin_envelope read;
    memset(&read, 0x5a, sizeof(read));
    int rc = twin_envelope_check_change(&e, &read, rec, old);
    if (rc == 0 && twin_envelope_is(rec)) {
        assert_string_equal(read.id, json_string_value(json_object_get(rec, "id")));
        assert_int_equal(read.erased, e);
        assert_true(read.erased || (read.ciphertext && read.nwraps > 0));
    } else {
        assert_null(read.id);
        assert_null(read.ciphertext);
    }
    twin_envelope_clear(&read);
    if (erasure)
        *erasure = e;
    return rc;
}

static void what_every_node_judges_between_two_versions(void **state)
{
    json_t *v1 = envelope(two, 2, false), *wider = envelope(three, 3, false);
    json_t *narrower = envelope(two, 1, false), *withdrawn = envelope(two, 2, true);
    json_t *clear = json_pack("{s:s, s:s, s:s, s:s}", "id", ID, "type", "note", "kind", "note",
                              "title", "Open");
    json_t *er = NULL;
    bool erasure;
    assert_int_equal(change(v1, NULL, &erasure), 0);
    assert_false(erasure);
    assert_int_equal(change(clear, NULL, NULL), 0);
    assert_int_equal(change(wider, v1, NULL), 0);
    assert_error(change(narrower, v1, NULL), TWIN_EINVALID, "an audience only widens");
    assert_error(change(v1, clear, NULL), TWIN_EINVALID, "cannot be sealed");
    assert_error(change(clear, v1, NULL), TWIN_EINVALID, "cannot be written in the clear");

    assert_int_equal(twin_envelope_erase(&er, v1, "At the person's request"), 0);
    assert_int_equal(change(er, v1, &erasure), 0);
    assert_true(erasure);
    assert_error(change(er, NULL, NULL), TWIN_EINVALID, "neither erased nor in conflict");
    assert_error(change(v1, er, NULL), TWIN_EINVALID, "never changes again");
    /* An erasure that also widens the audience changes more than its content. */
    json_t *sly = json_deep_copy(er);
    json_object_set_new(json_object_get(sly, "sealed"), "audience",
                        json_pack("[sss]", three[0], three[1], three[2]));
    assert_error(change(sly, v1, NULL), TWIN_EINVALID, "changes more than its content");

    assert_int_equal(change(withdrawn, v1, NULL), 0);
    assert_error(change(wider, withdrawn, NULL), TWIN_EINVALID, "changes only by an erasure");
    json_t *erw = NULL;
    assert_int_equal(twin_envelope_erase(&erw, withdrawn, "No longer needed"), 0);
    assert_int_equal(change(erw, withdrawn, &erasure), 0);
    assert_true(erasure);

    /* Only merges set versions aside. */
    json_t *in_conflict = json_deep_copy(v1);
    json_object_set_new(in_conflict, "conflicts",
                        json_pack("[s]", "0123456789abcdef0123456789abcdef01234567"));
    assert_error(change(in_conflict, v1, NULL), TWIN_EINVALID, "only merges set versions aside");
    assert_int_equal(change(v1, in_conflict, NULL), 0); /* resolved */
    json_decref(in_conflict);
    json_decref(erw);
    json_decref(sly);
    json_decref(er);
    json_decref(clear);
    json_decref(withdrawn);
    json_decref(narrower);
    json_decref(wider);
    json_decref(v1);
}

static void fields_that_describe_a_person_are_named(void **state)
{
    json_t *r = json_pack("{s:s, s:s}", "type", "person", "name", "Jane Example");
    assert_string_equal(twin_envelope_personal_field(r), "person");
    json_decref(r);
    r = json_pack("{s:s, s:s}", "type", "people_link", "kind", "mentor");
    assert_null(twin_envelope_personal_field(r));
    json_object_set_new(r, "notes", json_string("Met twice"));
    assert_string_equal(twin_envelope_personal_field(r), "people_link.notes");
    json_decref(r);
    r = json_pack("{s:s, s:s}", "type", "health_check", "comment", "Tired team");
    assert_string_equal(twin_envelope_personal_field(r), "health_check.comment");
    json_decref(r);
    r = json_pack("{s:s, s:[{s:s}]}", "type", "activity", "participants", "person", ID);
    assert_null(twin_envelope_personal_field(r));
    json_decref(r);
    r = json_pack("{s:s, s:[{s:s, s:s}]}", "type", "activity", "participants", "person", ID, "role",
                  "team leader");
    assert_string_equal(twin_envelope_personal_field(r), "activity.participants[].role");
    json_decref(r);
    r = json_pack("{s:s, s:s}", "type", "note", "title", "Open");
    assert_null(twin_envelope_personal_field(r));
    json_decref(r);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_envelope_reads_back_what_was_built),
        cmocka_unit_test(an_envelope_is_told_by_its_canonical_bytes),
        cmocka_unit_test(forms_the_specification_rules_out_are_refused),
        cmocka_unit_test(an_erased_envelope_keeps_only_what_was_public),
        cmocka_unit_test(what_every_node_judges_between_two_versions),
        cmocka_unit_test(fields_that_describe_a_person_are_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
