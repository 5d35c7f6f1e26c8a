/* Wire messages: the msgpack conformance suite, every message type's round trip, and the
 * malformed and hostile inputs the pre-scan must refuse before msgpack-c allocates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twin/error.h"
#include "twin/msg.h"

#define SUITE_FILE TWIN_TEST_DATA "/msgpack/msgpack-test-suite.json"
#define NETWORK    "0123456789abcdef0123456789abcdef"

/* "c4-01-01" or "00-ff" to bytes. */
static size_t dashed_hex(unsigned char *out, size_t cap, const char *s)
{
    size_t n = 0;
    while (*s) {
        unsigned v;
        assert_true(n < cap);
        assert_int_equal(sscanf(s, "%2x", &v), 1);
        out[n++] = (unsigned char)v;
        s += 2;
        if (*s == '-')
            s++;
    }
    return n;
}

static int json_matches(const json_t *want, const msgpack_object *o);

static int number_matches(const json_t *want, const msgpack_object *o)
{
    if (o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64)
        return json_number_value(want) == o->via.f64;
    if (!json_is_integer(want))
        return 0;
    json_int_t v = json_integer_value(want);
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        return v >= 0 && (uint64_t)v == o->via.u64;
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        return v < 0 && v == o->via.i64;
    return 0;
}

/* Values too large for a JSON number come as decimal strings. */
static int bignum_matches(const char *digits, const msgpack_object *o)
{
    char buf[32];
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        snprintf(buf, sizeof(buf), "%llu", (unsigned long long)o->via.u64);
    else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        snprintf(buf, sizeof(buf), "%lld", (long long)o->via.i64);
    else
        return 0;
    return strcmp(buf, digits) == 0;
}

static int bytes_match(const char *dashed, const char *p, size_t n)
{
    unsigned char want[64];
    size_t len = dashed_hex(want, sizeof(want), dashed);
    return len == n && (n == 0 || memcmp(want, p, n) == 0);
}

static int json_matches(const json_t *want, const msgpack_object *o)
{
    switch (json_typeof(want)) {
    case JSON_NULL:
        return o->type == MSGPACK_OBJECT_NIL;
    case JSON_TRUE:
    case JSON_FALSE:
        return o->type == MSGPACK_OBJECT_BOOLEAN && o->via.boolean == json_is_true(want);
    case JSON_INTEGER:
    case JSON_REAL:
        return number_matches(want, o);
    case JSON_STRING:
        return o->type == MSGPACK_OBJECT_STR && o->via.str.size == json_string_length(want) &&
               (o->via.str.size == 0 ||
                memcmp(o->via.str.ptr, json_string_value(want), o->via.str.size) == 0);
    case JSON_ARRAY:
        if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != json_array_size(want))
            return 0;
        for (size_t i = 0; i < json_array_size(want); i++)
            if (!json_matches(json_array_get(want, i), &o->via.array.ptr[i]))
                return 0;
        return 1;
    case JSON_OBJECT:
        if (o->type != MSGPACK_OBJECT_MAP || o->via.map.size != json_object_size(want))
            return 0;
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *k = &o->via.map.ptr[i].key;
            char key[64];
            if (k->type != MSGPACK_OBJECT_STR || k->via.str.size >= sizeof(key))
                return 0;
            if (k->via.str.size)
                memcpy(key, k->via.str.ptr, k->via.str.size);
            key[k->via.str.size] = '\0';
            json_t *v = json_object_get(want, key);
            if (!v || !json_matches(v, &o->via.map.ptr[i].val))
                return 0;
        }
        return 1;
    }
    return 0;
}

/* One case of the suite: a value under a key naming its kind, and its encodings. */
static int case_matches(json_t *c, const msgpack_object *o)
{
    json_t *v;
    if ((v = json_object_get(c, "bignum")) != NULL) {
        if (o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64)
            return number_matches(json_object_get(c, "number"), o);
        return bignum_matches(json_string_value(v), o);
    }
    if ((v = json_object_get(c, "binary")) != NULL)
        return o->type == MSGPACK_OBJECT_BIN &&
               bytes_match(json_string_value(v), o->via.bin.ptr, o->via.bin.size);
    if ((v = json_object_get(c, "timestamp")) != NULL) {
        msgpack_timestamp ts;
        return msgpack_object_to_timestamp(o, &ts) &&
               ts.tv_sec == json_integer_value(json_array_get(v, 0)) &&
               ts.tv_nsec == json_integer_value(json_array_get(v, 1));
    }
    if ((v = json_object_get(c, "ext")) != NULL)
        return o->type == MSGPACK_OBJECT_EXT &&
               o->via.ext.type == json_integer_value(json_array_get(v, 0)) &&
               bytes_match(json_string_value(json_array_get(v, 1)), o->via.ext.ptr,
                           o->via.ext.size);
    const char *kinds[] = {"nil", "bool", "number", "string", "array", "map"};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if ((v = json_object_get(c, kinds[i])) != NULL)
            return json_matches(v, o);
    fail_msg("conformance case of an unknown kind");
    return 0;
}

static void every_conformance_encoding_decodes_to_its_value(void **state)
{
    json_error_t jerr;
    json_t *suite = json_load_file(SUITE_FILE, 0, &jerr);
    assert_non_null(suite);
    const char *group;
    json_t *cases;
    size_t checked = 0;
    json_object_foreach(suite, group, cases)
    {
        for (size_t i = 0; i < json_array_size(cases); i++) {
            json_t *c = json_array_get(cases, i);
            json_t *encodings = json_object_get(c, "msgpack");
            for (size_t j = 0; j < json_array_size(encodings); j++) {
                const char *hex = json_string_value(json_array_get(encodings, j));
                unsigned char bytes[128];
                size_t len = dashed_hex(bytes, sizeof(bytes), hex);
                msgpack_unpacked u;
                if (twin_msg_msgpack_unpack(&u, bytes, len) != 0)
                    fail_msg("%s case %zu: %s refused: %s", group, i, hex, twin_error_last());
                if (!case_matches(c, &u.data))
                    fail_msg("%s case %zu: %s decodes to another value", group, i, hex);
                msgpack_unpacked_destroy(&u);
                checked++;
            }
        }
    }
    assert_int_equal(checked, 233); /* every encoding the suite lists */
    json_decref(suite);
}

/* --- Round trips ------------------------------------------------------------------------ */

static unsigned char wire[TWIN_MSG_MAX];

static void round_trip(const twin_msg *in, twin_msg *out)
{
    size_t len = 0;
    assert_int_equal(twin_msg_encode(wire, sizeof(wire), &len, in), 0);
    if (twin_msg_decode(out, wire, len) != 0)
        fail_msg("decode: %s", twin_error_last());
    assert_int_equal(out->type, in->type);
}

static void hello_round_trips_with_and_without_head(void **state)
{
    twin_msg m = {.type = TWIN_MSG_HELLO}, got;
    m.u.hello.nversions = 2;
    m.u.hello.versions[0] = 1;
    m.u.hello.versions[1] = 7;
    memcpy(m.u.hello.network_id, NETWORK, sizeof(NETWORK));
    memset(m.u.hello.node, 0xab, sizeof(m.u.hello.node));
    snprintf(m.u.hello.software, sizeof(m.u.hello.software), "twin 0.1.0");
    round_trip(&m, &got);
    assert_int_equal(got.u.hello.nversions, 2);
    assert_int_equal(got.u.hello.versions[1], 7);
    assert_string_equal(got.u.hello.network_id, NETWORK);
    assert_memory_equal(got.u.hello.node, m.u.hello.node, 32);
    assert_false(got.u.hello.has_head);
    assert_string_equal(got.u.hello.software, "twin 0.1.0");
    twin_msg_clear(&got);

    m.u.hello.has_head = true;
    memset(m.u.hello.head, 0x5c, sizeof(m.u.hello.head));
    round_trip(&m, &got);
    assert_true(got.u.hello.has_head);
    assert_memory_equal(got.u.hello.head, m.u.hello.head, 20);
    twin_msg_clear(&got);
}

static void refs_round_trip_sorted_by_name(void **state)
{
    twin_msg_ref refs[2] = {{.name = "refs/heads/main"}, {.name = "refs/heads/import"}};
    memset(refs[0].oid, 1, 20);
    memset(refs[1].oid, 2, 20);
    twin_msg m = {.type = TWIN_MSG_REFS, .u.refs = {refs, 2}}, got;
    round_trip(&m, &got);
    assert_int_equal(got.u.refs.count, 2);
    assert_string_equal(got.u.refs.refs[0].name, "refs/heads/import");
    assert_memory_equal(got.u.refs.refs[0].oid, refs[1].oid, 20);
    assert_string_equal(got.u.refs.refs[1].name, "refs/heads/main");
    twin_msg_clear(&got);
}

static void negotiate_and_ack_round_trip(void **state)
{
    unsigned char have[3][20], want[1][20];
    memset(have, 0x11, sizeof(have));
    have[2][0] = 0x22;
    memset(want, 0x33, sizeof(want));
    twin_msg m = {.type = TWIN_MSG_NEGOTIATE}, got;
    m.u.negotiate.have = have;
    m.u.negotiate.nhave = 3;
    m.u.negotiate.want = want;
    m.u.negotiate.nwant = 1;
    m.u.negotiate.done = true;
    round_trip(&m, &got);
    assert_int_equal(got.u.negotiate.nhave, 3);
    assert_memory_equal(got.u.negotiate.have, have, sizeof(have));
    assert_int_equal(got.u.negotiate.nwant, 1);
    assert_memory_equal(got.u.negotiate.want, want, sizeof(want));
    assert_true(got.u.negotiate.done);
    twin_msg_clear(&got);

    twin_msg a = {.type = TWIN_MSG_ACK, .u.ack = {have, 2}};
    round_trip(&a, &got);
    assert_int_equal(got.u.ack.count, 2);
    assert_memory_equal(got.u.ack.common, have, 40);
    twin_msg_clear(&got);
}

static void pack_chunk_of_the_largest_size_round_trips(void **state)
{
    unsigned char *data = malloc(TWIN_MSG_CHUNK_MAX);
    assert_non_null(data);
    for (size_t i = 0; i < TWIN_MSG_CHUNK_MAX; i++)
        data[i] = (unsigned char)(i * 31);
    twin_msg m = {.type = TWIN_MSG_PACK, .u.pack = {UINT64_MAX, data, TWIN_MSG_CHUNK_MAX, true}};
    twin_msg got;
    round_trip(&m, &got);
    assert_true(got.u.pack.seq == UINT64_MAX);
    assert_int_equal(got.u.pack.len, TWIN_MSG_CHUNK_MAX);
    assert_memory_equal(got.u.pack.data, data, TWIN_MSG_CHUNK_MAX);
    assert_true(got.u.pack.last);
    twin_msg_clear(&got);

    m.u.pack.len = TWIN_MSG_CHUNK_MAX + 1;
    size_t len;
    assert_int_equal(twin_msg_encode(wire, sizeof(wire), &len, &m), TWIN_ELIMIT);
    free(data);
}

static void merge_accept_refuse_round_trip(void **state)
{
    static const char commit[] = "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n";
    twin_msg m = {.type = TWIN_MSG_MERGE}, got;
    m.u.merge.commit = (unsigned char *)commit;
    m.u.merge.commit_len = sizeof(commit) - 1;
    m.u.merge.nparents = 2;
    memset(m.u.merge.parents[0], 0xa1, 20);
    memset(m.u.merge.parents[1], 0xb2, 20);
    round_trip(&m, &got);
    assert_int_equal(got.u.merge.commit_len, sizeof(commit) - 1);
    assert_memory_equal(got.u.merge.commit, commit, sizeof(commit) - 1);
    assert_int_equal(got.u.merge.nparents, 2);
    assert_memory_equal(got.u.merge.parents[1], m.u.merge.parents[1], 20);
    twin_msg_clear(&got);

    twin_msg a = {.type = TWIN_MSG_ACCEPT};
    memset(a.u.accept.head, 0xc3, 20);
    round_trip(&a, &got);
    assert_memory_equal(got.u.accept.head, a.u.accept.head, 20);

    twin_msg r = {.type = TWIN_MSG_REFUSE};
    r.u.refuse.code = TWIN_REFUSE_MERGE_MISMATCH;
    snprintf(r.u.refuse.reason, sizeof(r.u.refuse.reason), "merge of XE-EXAMPLE-1 differs");
    round_trip(&r, &got);
    assert_int_equal(got.u.refuse.code, TWIN_REFUSE_MERGE_MISMATCH);
    assert_string_equal(got.u.refuse.reason, "merge of XE-EXAMPLE-1 differs");
}

static void ping_pong_error_goodbye_round_trip(void **state)
{
    twin_msg got;
    twin_msg p = {.type = TWIN_MSG_PING, .u.ping = {0x0123456789abcdefULL}};
    round_trip(&p, &got);
    assert_true(got.u.ping.nonce == 0x0123456789abcdefULL);
    p.type = TWIN_MSG_PONG;
    round_trip(&p, &got);
    assert_true(got.u.pong.nonce == 0x0123456789abcdefULL);

    twin_msg e = {.type = TWIN_MSG_ERROR};
    e.u.error.code = TWIN_WIRE_UNEXPECTED;
    snprintf(e.u.error.message, sizeof(e.u.error.message), "pack before negotiate");
    round_trip(&e, &got);
    assert_int_equal(got.u.error.code, TWIN_WIRE_UNEXPECTED);
    assert_string_equal(got.u.error.message, "pack before negotiate");

    twin_msg g = {.type = TWIN_MSG_GOODBYE, .u.goodbye = {TWIN_GOODBYE_SHUTDOWN}};
    round_trip(&g, &got);
    assert_int_equal(got.u.goodbye.code, TWIN_GOODBYE_SHUTDOWN);
}

static void ping_has_this_exact_encoding(void **state)
{
    twin_msg p = {.type = TWIN_MSG_PING, .u.ping = {5}};
    size_t len = 0;
    assert_int_equal(twin_msg_encode(wire, sizeof(wire), &len, &p), 0);
    assert_int_equal(len, 18);
    assert_memory_equal(wire, "\x82\xa4type\xa4ping\xa5nonce\x05", 18);
}

/* --- Decoding rules --------------------------------------------------------------------- */

static int decode(twin_msg *m, const char *bytes, size_t len)
{
    return twin_msg_decode(m, (const unsigned char *)bytes, len);
}

#define DECODE(m, lit) decode((m), (lit), sizeof(lit) - 1)

static void unknown_type_decodes_with_its_name_kept(void **state)
{
    twin_msg m;
    assert_int_equal(DECODE(&m, "\x82\xa4type\xa6rebase\xa4ours\xc3"), 0);
    assert_int_equal(m.type, TWIN_MSG_UNKNOWN);
    assert_string_equal(m.u.unknown.type, "rebase");
}

static void unknown_fields_are_ignored(void **state)
{
    twin_msg m;
    assert_int_equal(DECODE(&m, "\x83\xa4type\xa4ping\xa5nonce\x07\xa5later\x92\xc0\xc0"), 0);
    assert_int_equal(m.type, TWIN_MSG_PING);
    assert_int_equal(m.u.ping.nonce, 7);
}

static void missing_required_field_is_named(void **state)
{
    twin_msg m;
    assert_int_equal(DECODE(&m, "\x81\xa4type\xa4ping"), TWIN_EINVALID);
    assert_string_equal(twin_error_last(), "ping: missing required field \"nonce\"");
}

static void field_of_the_wrong_type_is_named(void **state)
{
    twin_msg m;
    assert_int_equal(DECODE(&m, "\x82\xa4type\xa4ping\xa5nonce\xa1x"), TWIN_EINVALID);
    assert_string_equal(twin_error_last(),
                        "ping: field \"nonce\" must be a non-negative integer, not str");
    assert_int_equal(DECODE(&m, "\x82\xa4type\xa6"
                                "accept\xa4head\xc4\x13"
                                "0123456789012345678"),
                     TWIN_EINVALID);
    assert_string_equal(twin_error_last(), "accept: field \"head\" must be bin 20, not bin 19");
}

static void message_that_is_not_a_map_is_refused(void **state)
{
    twin_msg m;
    assert_int_equal(DECODE(&m, "\x92\x01\x02"), TWIN_EINVALID);
    assert_string_equal(twin_error_last(), "message: expected a map, got array");
}

static void missing_type_and_duplicate_keys_are_refused(void **state)
{
    twin_msg m;
    assert_int_equal(DECODE(&m, "\x81\xa5nonce\x01"), TWIN_EINVALID);
    assert_string_equal(twin_error_last(), "message: missing required field \"type\"");
    assert_int_equal(DECODE(&m, "\x83\xa4type\xa4ping\xa5nonce\x01\xa5nonce\x02"), TWIN_EINVALID);
    assert_string_equal(twin_error_last(), "message: key \"nonce\" appears twice");
}

static void duplicate_ref_names_are_refused(void **state)
{
    twin_msg m;
    assert_int_equal(DECODE(&m, "\x82\xa4type\xa4refs\xa4refs\x82"
                                "\xa1r\xc4\x14"
                                "01234567890123456789"
                                "\xa1r\xc4\x14"
                                "01234567890123456789"),
                     TWIN_EINVALID);
    assert_string_equal(twin_error_last(), "refs: ref \"r\" appears twice");
}

static void nesting_past_the_limit_is_refused(void **state)
{
    /* {"type": "x", "n": [[[[[[[[]]]]]]]]}: the map is level 1, the arrays levels 2 to 9. */
    twin_msg m;
    assert_int_equal(DECODE(&m, "\x82\xa4type\xa1x\xa1n\x91\x91\x91\x91\x91\x91\x91\x90"),
                     TWIN_ELIMIT);
    assert_string_equal(twin_error_last(),
                        "msgpack: array at offset 17 nests deeper than 8 levels");
    /* One level less is fine. */
    assert_int_equal(DECODE(&m, "\x82\xa4type\xa1x\xa1n\x91\x91\x91\x91\x91\x91\x90"), 0);
}

static void array_count_far_beyond_the_message_is_refused_before_allocation(void **state)
{
    twin_msg m;
    assert_int_equal(DECODE(&m, "\xdd\xff\xff\xff\xff"), TWIN_EINVALID);
    assert_string_equal(twin_error_last(), "msgpack: array at offset 0 declares 4294967295 "
                                           "elements but only 0 bytes remain");
    assert_int_equal(DECODE(&m, "\x82\xa4type\xa4ping\xa5nonce\xdf\x7f\xff\xff\xff"),
                     TWIN_EINVALID);
    assert_non_null(strstr(twin_error_last(), "map at offset 17 declares 2147483647 elements"));
}

static void counts_above_the_limits_are_refused(void **state)
{
    size_t n = TWIN_MSG_MAX_COUNT + 1;
    unsigned char *big = calloc(1, 5 + n * 3);
    assert_non_null(big);
    big[0] = 0xdd;
    big[1] = (unsigned char)(n >> 24), big[2] = (unsigned char)(n >> 16);
    big[3] = (unsigned char)(n >> 8), big[4] = (unsigned char)n;
    memset(big + 5, 0xc0, n);
    assert_int_equal(twin_msg_msgpack_check(big, 5 + n, &twin_msg_limits), TWIN_ELIMIT);
    assert_string_equal(twin_error_last(),
                        "msgpack: array of 8193 elements at offset 0 exceeds 8192");

    /* Three arrays of 8000 within the count limit still exceed the values in a message. */
    size_t pos = 0;
    big[pos++] = 0x93;
    for (int a = 0; a < 3; a++) {
        big[pos++] = 0xdc, big[pos++] = 8000 >> 8, big[pos++] = 8000 & 0xff;
        memset(big + pos, 0xc0, 8000);
        pos += 8000;
    }
    assert_int_equal(twin_msg_msgpack_check(big, pos, &twin_msg_limits), TWIN_ELIMIT);
    assert_non_null(strstr(twin_error_last(), "more than 20000 values"));
    free(big);
}

static void invalid_utf8_is_refused(void **state)
{
    static const char *bad[] = {
        "\xc0\xaf",         /* overlong "/" */
        "\xed\xa0\x80",     /* UTF-16 surrogate */
        "\xf4\x90\x80\x80", /* above U+10FFFF */
        "\xe2\x82",         /* truncated sequence */
        "\xff",             /* never valid */
        "\x80",             /* stray continuation byte */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unsigned char msg[32] = {0x82, 0xa4, 't', 'y', 'p', 'e', 0xa4, 'p', 'i', 'n', 'g', 0};
        size_t n = strlen(bad[i]);
        msg[11] = (unsigned char)(0xa0 | n);
        memcpy(msg + 12, bad[i], n);
        msg[12 + n] = 0x01;
        twin_msg m;
        assert_int_equal(twin_msg_decode(&m, msg, 13 + n), TWIN_EINVALID);
        assert_non_null(strstr(twin_error_last(), "invalid UTF-8 in string at offset 11"));
    }
    static const char good[] = "\x82\xa4type\xa4ping\xa5nonce\x01"; /* control */
    twin_msg m;
    assert_int_equal(DECODE(&m, good), 0);
}

static void truncation_trailing_bytes_and_reserved_byte_are_refused(void **state)
{
    twin_msg m;
    assert_int_equal(DECODE(&m, "\x82\xa4type\xa4ping\xa5nonce"), TWIN_EINVALID);
    assert_string_equal(twin_error_last(), "msgpack: truncated, a value is missing at offset 17");
    assert_int_equal(DECODE(&m, "\x82\xa4type\xa4ping\xa5nonce\x01\x00"), TWIN_EINVALID);
    assert_string_equal(twin_error_last(),
                        "msgpack: 1 trailing bytes after the value at offset 18");
    assert_int_equal(DECODE(&m, "\x82\xa4type\xa4ping\xa5nonce\xc1"), TWIN_EINVALID);
    assert_string_equal(twin_error_last(), "msgpack: reserved type byte 0xc1 at offset 17");
    assert_int_equal(DECODE(&m, "\x82\xa4type\xa4ping\xa5nonce\xd9\x10x"), TWIN_EINVALID);
    assert_string_equal(twin_error_last(), "msgpack: string at offset 17 declares 16 bytes "
                                           "but only 1 remain");
    assert_int_equal(twin_msg_decode(&m, (const unsigned char *)"", 0), TWIN_EINVALID);
    assert_string_equal(twin_error_last(), "msgpack: empty message");
}

static void oversized_message_is_refused(void **state)
{
    static unsigned char big[TWIN_MSG_MAX + 1];
    twin_msg m;
    assert_int_equal(twin_msg_decode(&m, big, sizeof(big)), TWIN_ELIMIT);
    assert_string_equal(twin_error_last(),
                        "msgpack: message of 1114113 bytes exceeds the limit of 1114112");
}

static void encoder_refuses_what_the_decoder_would(void **state)
{
    size_t len;
    twin_msg h = {.type = TWIN_MSG_HELLO};
    h.u.hello.nversions = 1;
    h.u.hello.versions[0] = 1;
    memcpy(h.u.hello.network_id, "XE-EXAMPLE-NETWORK-0000000000000", 33);
    assert_int_equal(twin_msg_encode(wire, sizeof(wire), &len, &h), TWIN_EINVALID);
    assert_non_null(strstr(twin_error_last(), "encode: hello: network id"));

    twin_msg e = {.type = TWIN_MSG_ERROR};
    memcpy(e.u.error.message, "bad \xff byte", 11);
    assert_int_equal(twin_msg_encode(wire, sizeof(wire), &len, &e), TWIN_EINVALID);
    assert_string_equal(twin_error_last(), "encode: error message is not valid UTF-8");

    twin_msg p = {.type = TWIN_MSG_PING};
    assert_int_equal(twin_msg_encode(wire, 10, &len, &p), TWIN_ELIMIT);
    assert_string_equal(twin_error_last(), "encode: ping message does not fit 10 bytes");
}

/* The joining messages: claim (secret and identity) and welcome (role and the member-add); and
 * checkpoint, the signed statement that ends a session. */
static void claim_welcome_checkpoint_round_trip(void **state)
{
    twin_msg c = {.type = TWIN_MSG_CLAIM}, got;
    memset(c.u.claim.secret, 0xa5, sizeof(c.u.claim.secret));
    strcpy(c.u.claim.name, "Water Authority of Samplestan");
    strcpy(c.u.claim.org_id, "XE-EXAMPLE-WA");
    strcpy(c.u.claim.country, "TZ");
    strcpy(c.u.claim.side, "south");
    round_trip(&c, &got);
    assert_memory_equal(got.u.claim.secret, c.u.claim.secret, sizeof(c.u.claim.secret));
    assert_string_equal(got.u.claim.name, c.u.claim.name);
    assert_string_equal(got.u.claim.org_id, "XE-EXAMPLE-WA");
    assert_string_equal(got.u.claim.side, "south");
    assert_string_equal(got.u.claim.org_type, "");
    twin_msg_clear(&got);
    strcpy(c.u.claim.org_type, "10");
    round_trip(&c, &got);
    assert_string_equal(got.u.claim.org_type, "10");
    twin_msg_clear(&got);
    assert_string_equal(got.u.claim.address, "");
    /* Without an address the claim is the seven entries older nodes send; with one, eight. */
    size_t plain_len = 0;
    assert_int_equal(twin_msg_encode(wire, sizeof(wire), &plain_len, &c), 0);
    assert_int_equal(wire[0], 0x87); /* a fixmap of 7 */
    assert_true(plain_len > 0);
    strcpy(c.u.claim.address, "[2001:db8::7]:7447");
    round_trip(&c, &got);
    assert_string_equal(got.u.claim.address, "[2001:db8::7]:7447");
    twin_msg_clear(&got);
    assert_int_equal(twin_msg_encode(wire, sizeof(wire), &plain_len, &c), 0);
    assert_int_equal(wire[0], 0x88);
    c.u.claim.address[0] = '\0';

    twin_msg w = {.type = TWIN_MSG_WELCOME};
    strcpy(w.u.welcome.role, "editor");
    memset(w.u.welcome.head, 0x3c, sizeof(w.u.welcome.head));
    round_trip(&w, &got);
    assert_string_equal(got.u.welcome.role, "editor");
    assert_memory_equal(got.u.welcome.head, w.u.welcome.head, TWIN_OID_BYTES);
    twin_msg_clear(&got);

    twin_msg cp = {.type = TWIN_MSG_CHECKPOINT};
    strcpy(cp.u.checkpoint.statement, "twin-checkpoint 1\nnetwork 00\n");
    strcpy(cp.u.checkpoint.signature,
           "-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----");
    round_trip(&cp, &got);
    assert_string_equal(got.u.checkpoint.statement, cp.u.checkpoint.statement);
    assert_string_equal(got.u.checkpoint.signature, cp.u.checkpoint.signature);
    twin_msg_clear(&got);

    /* A claim whose secret is short is refused by name. */
    size_t len = 0;
    assert_int_equal(twin_msg_encode(wire, sizeof(wire), &len, &c), 0);
    unsigned char *p = NULL; /* the bin 8 header of the 32-byte secret */
    for (size_t i = 0; i + 1 < len && !p; i++)
        if (wire[i] == 0xc4 && wire[i + 1] == 0x20)
            p = wire + i;
    assert_non_null(p);
    p[1] = 0x1f;
    memmove(p + 2 + 31, p + 2 + 32, len - (size_t)(p + 2 + 32 - wire));
    assert_int_equal(twin_msg_decode(&got, wire, len - 1), TWIN_EINVALID);
    assert_non_null(strstr(twin_error_last(), "secret"));
}

/* --- The wraps/1 extension (proto/SEALED.md 5) ------------------------------------------ */

static void hello_carries_its_extensions_and_leaves_ext_out_without_any(void **state)
{
    twin_msg m = {.type = TWIN_MSG_HELLO}, got;
    size_t len = 0;
    m.u.hello.nversions = 1;
    m.u.hello.versions[0] = 1;
    memcpy(m.u.hello.network_id, NETWORK, sizeof(NETWORK));
    snprintf(m.u.hello.software, sizeof(m.u.hello.software), "twin 0.1.0");
    /* Without extensions the hello is the six keys it always was: no "ext" on the wire. */
    assert_int_equal(twin_msg_encode(wire, sizeof(wire), &len, &m), 0);
    assert_int_equal(wire[0], 0x86);
    round_trip(&m, &got);
    assert_int_equal(got.u.hello.next, 0);
    assert_false(twin_msg_hello_has_ext(&got, TWIN_EXT_WRAPS));
    twin_msg_clear(&got);

    snprintf(m.u.hello.ext[0], sizeof(m.u.hello.ext[0]), "%s", TWIN_EXT_WRAPS);
    memset(m.u.hello.ext[1], 'x', TWIN_MSG_EXT_NAME_MAX);
    m.u.hello.next = 2;
    assert_int_equal(twin_msg_encode(wire, sizeof(wire), &len, &m), 0);
    assert_int_equal(wire[0], 0x87);
    round_trip(&m, &got);
    assert_int_equal(got.u.hello.next, 2);
    assert_string_equal(got.u.hello.ext[0], "wraps/1");
    assert_int_equal(strlen(got.u.hello.ext[1]), TWIN_MSG_EXT_NAME_MAX);
    assert_true(twin_msg_hello_has_ext(&got, TWIN_EXT_WRAPS));
    assert_false(twin_msg_hello_has_ext(&got, "wraps/2"));
    twin_msg_clear(&got);

    m.u.hello.next = TWIN_MSG_EXT_MAX + 1;
    assert_int_equal(twin_msg_encode(wire, sizeof(wire), &len, &m), TWIN_ELIMIT);
    m.u.hello.next = 2;
    memset(m.u.hello.ext[1], 'x', TWIN_MSG_EXT_NAME_MAX + 1);
    assert_int_equal(twin_msg_encode(wire, sizeof(wire), &len, &m), TWIN_ELIMIT);
}

static void wraps_since_round_trips_with_and_without_a_store(void **state)
{
    twin_msg m = {.type = TWIN_MSG_WRAPS_SINCE}, got;
    round_trip(&m, &got);
    assert_false(got.u.wraps_since.has_store);
    assert_int_equal(got.u.wraps_since.since, 0);
    twin_msg_clear(&got);
    m.u.wraps_since.has_store = true;
    memset(m.u.wraps_since.store, 0x42, sizeof(m.u.wraps_since.store));
    m.u.wraps_since.since = TWIN_MSG_SEQ_MAX;
    round_trip(&m, &got);
    assert_true(got.u.wraps_since.has_store);
    assert_memory_equal(got.u.wraps_since.store, m.u.wraps_since.store, TWIN_MSG_STORE_BYTES);
    assert_int_equal(got.u.wraps_since.since, TWIN_MSG_SEQ_MAX);
    twin_msg_clear(&got);
    /* The encoder refuses what the decoder would. */
    size_t len;
    m.u.wraps_since.since = (uint64_t)TWIN_MSG_SEQ_MAX + 1;
    assert_int_equal(twin_msg_encode(wire, sizeof(wire), &len, &m), TWIN_EINVALID);
    m.u.wraps_since.has_store = false;
    m.u.wraps_since.since = 3;
    assert_int_equal(twin_msg_encode(wire, sizeof(wire), &len, &m), TWIN_EINVALID);
    /* With the asking node's own store id. */
    m.u.wraps_since.since = 0;
    m.u.wraps_since.has_mine = true;
    memset(m.u.wraps_since.mine, 0x17, sizeof(m.u.wraps_since.mine));
    round_trip(&m, &got);
    assert_true(got.u.wraps_since.has_mine);
    assert_memory_equal(got.u.wraps_since.mine, m.u.wraps_since.mine, TWIN_MSG_STORE_BYTES);
    twin_msg_clear(&got);
}

static void a_full_wraps_message_of_both_kinds_round_trips(void **state)
{
    twin_msg m = {.type = TWIN_MSG_WRAPS}, got;
    twin_msg_wrap *items = calloc(TWIN_MSG_WRAPS_MAX, sizeof(*items));
    assert_non_null(items);
    for (size_t i = 0; i < TWIN_MSG_WRAPS_MAX; i++) {
        memset(items[i].blob, (int)(i & 0xff), sizeof(items[i].blob));
        memset(items[i].to, 0x11, sizeof(items[i].to));
        memset(items[i].box, (int)(i >> 8), sizeof(items[i].box));
        items[i].signed_by = i % 2 == 1; /* every later wrap's by and sig are the longest */
        memset(items[i].by, 0x22, sizeof(items[i].by));
        memset(items[i].sig, 0x33, sizeof(items[i].sig));
    }
    memset(m.u.wraps.store, 0x07, sizeof(m.u.wraps.store));
    m.u.wraps.upto = 123456789;
    m.u.wraps.items = items;
    m.u.wraps.count = TWIN_MSG_WRAPS_MAX;
    m.u.wraps.more = true;
    round_trip(&m, &got);
    assert_memory_equal(got.u.wraps.store, m.u.wraps.store, TWIN_MSG_STORE_BYTES);
    assert_int_equal(got.u.wraps.upto, 123456789);
    assert_true(got.u.wraps.more);
    assert_int_equal(got.u.wraps.count, TWIN_MSG_WRAPS_MAX);
    for (size_t i = 0; i < TWIN_MSG_WRAPS_MAX; i++) {
        assert_int_equal(got.u.wraps.items[i].signed_by, items[i].signed_by);
        assert_memory_equal(got.u.wraps.items[i].blob, items[i].blob, TWIN_OID_BYTES);
        assert_memory_equal(got.u.wraps.items[i].box, items[i].box, TWIN_MSG_BOX_BYTES);
        if (items[i].signed_by) {
            assert_memory_equal(got.u.wraps.items[i].by, items[i].by, TWIN_PUBKEY_BYTES);
            assert_memory_equal(got.u.wraps.items[i].sig, items[i].sig, TWIN_MSG_SIG_BYTES);
        }
    }
    twin_msg_clear(&got);
    /* An empty last message. */
    m.u.wraps.count = 0;
    m.u.wraps.more = false;
    round_trip(&m, &got);
    assert_int_equal(got.u.wraps.count, 0);
    assert_false(got.u.wraps.more);
    twin_msg_clear(&got);
    size_t len;
    m.u.wraps.count = TWIN_MSG_WRAPS_MAX + 1;
    assert_int_equal(twin_msg_encode(wire, sizeof(wire), &len, &m), TWIN_ELIMIT);
    m.u.wraps.count = 1;
    m.u.wraps.upto = (uint64_t)TWIN_MSG_SEQ_MAX + 1;
    assert_int_equal(twin_msg_encode(wire, sizeof(wire), &len, &m), TWIN_EINVALID);
    free(items);
}

/* A message written value by value, so a test can make exactly the malformed one it needs. */
struct mp {
    msgpack_sbuffer sb;
    msgpack_packer pk;
};

static void mp_init(struct mp *m)
{
    msgpack_sbuffer_init(&m->sb);
    msgpack_packer_init(&m->pk, &m->sb, msgpack_sbuffer_write);
}

static void mp_str(struct mp *m, const char *s)
{
    msgpack_pack_str(&m->pk, strlen(s));
    msgpack_pack_str_body(&m->pk, s, strlen(s));
}

static void mp_bin(struct mp *m, size_t n)
{
    unsigned char b[128];
    assert_true(n <= sizeof(b));
    memset(b, 0x5a, n);
    msgpack_pack_bin(&m->pk, n);
    msgpack_pack_bin_body(&m->pk, b, n);
}

/* Decoding m must fail with code, the message naming part. */
static void mp_refused(struct mp *m, int code, const char *part)
{
    twin_msg got;
    int rc = twin_msg_decode(&got, (const unsigned char *)m->sb.data, m->sb.size);
    msgpack_sbuffer_destroy(&m->sb);
    if (rc != code || !strstr(twin_error_last(), part))
        fail_msg("decoded with %d \"%s\", expected %d naming \"%s\"", rc, twin_error_last(), code,
                 part);
}

static void mp_decodes(struct mp *m, twin_msg *got)
{
    int rc = twin_msg_decode(got, (const unsigned char *)m->sb.data, m->sb.size);
    msgpack_sbuffer_destroy(&m->sb);
    if (rc)
        fail_msg("decode: %s", twin_error_last());
}

/* A hello whose "ext" is the value pack_ext writes (or a good one when NULL). */
static void mp_hello(struct mp *m, void (*pack_ext)(struct mp *))
{
    mp_init(m);
    msgpack_pack_map(&m->pk, 7);
    mp_str(m, "type"), mp_str(m, "hello");
    mp_str(m, "versions"), msgpack_pack_array(&m->pk, 1), msgpack_pack_uint32(&m->pk, 1);
    mp_str(m, "network"), mp_bin(m, 16);
    mp_str(m, "node"), mp_bin(m, 32);
    mp_str(m, "head"), msgpack_pack_nil(&m->pk);
    mp_str(m, "software"), mp_str(m, "hostile");
    mp_str(m, "ext");
    if (pack_ext)
        pack_ext(m);
    else
        msgpack_pack_array(&m->pk, 1), mp_str(m, "wraps/1");
}

static void ext_map(struct mp *m)
{
    msgpack_pack_map(&m->pk, 0);
}

static void ext_17(struct mp *m)
{
    msgpack_pack_array(&m->pk, 17);
    for (int i = 0; i < 17; i++)
        mp_str(m, "x");
}

static void ext_int(struct mp *m)
{
    msgpack_pack_array(&m->pk, 2), mp_str(m, "wraps/1"), msgpack_pack_uint32(&m->pk, 1);
}

static void ext_long(struct mp *m)
{
    char name[66];
    memset(name, 'y', 65);
    name[65] = '\0';
    msgpack_pack_array(&m->pk, 1), mp_str(m, name);
}

static void ext_nil(struct mp *m)
{
    msgpack_pack_nil(&m->pk);
}

static void a_malformed_ext_in_hello_is_refused_by_name(void **state)
{
    struct mp m;
    twin_msg got;
    mp_hello(&m, NULL);
    mp_decodes(&m, &got);
    assert_true(twin_msg_hello_has_ext(&got, TWIN_EXT_WRAPS));
    twin_msg_clear(&got);
    mp_hello(&m, ext_map);
    mp_refused(&m, TWIN_EINVALID, "hello: field \"ext\" must be an array, not map");
    mp_hello(&m, ext_nil);
    mp_refused(&m, TWIN_EINVALID, "hello: field \"ext\" must be an array, not nil");
    mp_hello(&m, ext_17);
    mp_refused(&m, TWIN_ELIMIT, "hello: \"ext\" holds 17 entries, allowed at most 16");
    mp_hello(&m, ext_int);
    mp_refused(&m, TWIN_EINVALID, "hello: field \"ext\" must be a str, not int");
    mp_hello(&m, ext_long);
    mp_refused(&m, TWIN_ELIMIT, "hello: field \"ext\" of 65 bytes exceeds 64");
}

/* wraps_since with "store" of store_len bytes (-1: left out, -2: a str), "since" (-1: left
 * out, -2: a str, -3: negative, -4: 2^63) and "mine" of mine_len bytes (-1: left out, -2: a
 * str). */
static void mp_wraps_since_mine(struct mp *m, int store_len, long long since, int mine_len)
{
    mp_init(m);
    msgpack_pack_map(&m->pk, 1 + (store_len != -1) + (since != -1) + (mine_len != -1));
    mp_str(m, "type"), mp_str(m, "wraps_since");
    if (store_len != -1) {
        mp_str(m, "store");
        if (store_len == -2)
            mp_str(m, "store");
        else
            mp_bin(m, (size_t)store_len);
    }
    if (since != -1) {
        mp_str(m, "since");
        if (since == -2)
            mp_str(m, "0");
        else if (since == -3)
            msgpack_pack_int64(&m->pk, -1);
        else if (since == -4)
            msgpack_pack_uint64(&m->pk, (uint64_t)1 << 63);
        else
            msgpack_pack_uint64(&m->pk, (uint64_t)since);
    }
    if (mine_len != -1) {
        mp_str(m, "mine");
        if (mine_len == -2)
            mp_str(m, "mine");
        else
            mp_bin(m, (size_t)mine_len);
    }
}

static void mp_wraps_since(struct mp *m, int store_len, long long since)
{
    mp_wraps_since_mine(m, store_len, since, -1);
}

static void a_malformed_wraps_since_is_refused_by_name(void **state)
{
    struct mp m;
    twin_msg got;
    mp_wraps_since(&m, 16, 9);
    mp_decodes(&m, &got);
    assert_true(got.u.wraps_since.has_store);
    assert_int_equal(got.u.wraps_since.since, 9);
    mp_wraps_since(&m, 0, 0);
    mp_decodes(&m, &got);
    assert_false(got.u.wraps_since.has_store);
    mp_wraps_since(&m, -1, 0);
    mp_refused(&m, TWIN_EINVALID, "wraps_since: missing required field \"store\"");
    mp_wraps_since(&m, -2, 0);
    mp_refused(&m, TWIN_EINVALID, "wraps_since: field \"store\" must be bin, not str");
    mp_wraps_since(&m, 15, 0);
    mp_refused(&m, TWIN_EINVALID,
               "wraps_since: field \"store\" must be bin 16 or bin 0, not bin 15");
    mp_wraps_since(&m, 17, 0);
    mp_refused(&m, TWIN_EINVALID, "must be bin 16 or bin 0, not bin 17");
    mp_wraps_since(&m, 16, -1);
    mp_refused(&m, TWIN_EINVALID, "wraps_since: missing required field \"since\"");
    mp_wraps_since(&m, 16, -2);
    mp_refused(&m, TWIN_EINVALID, "wraps_since: field \"since\" must be a non-negative integer");
    mp_wraps_since(&m, 16, -3);
    mp_refused(&m, TWIN_EINVALID, "wraps_since: field \"since\" must be a non-negative integer");
    mp_wraps_since(&m, 16, -4);
    mp_refused(&m, TWIN_EINVALID, "wraps_since: field \"since\" is 9223372036854775808, above");
    mp_wraps_since(&m, 0, 4);
    mp_refused(&m, TWIN_EINVALID, "wraps_since: field \"since\" must be 0 when \"store\" is empty");
    /* "mine" is optional, and bin 16 when given. */
    mp_wraps_since_mine(&m, 16, 9, 16);
    mp_decodes(&m, &got);
    assert_true(got.u.wraps_since.has_mine);
    mp_wraps_since(&m, 16, 9);
    mp_decodes(&m, &got);
    assert_false(got.u.wraps_since.has_mine);
    mp_wraps_since_mine(&m, 16, 9, 0);
    mp_refused(&m, TWIN_EINVALID, "wraps_since: field \"mine\" must be bin 16, not bin 0");
    mp_wraps_since_mine(&m, 16, 9, 17);
    mp_refused(&m, TWIN_EINVALID, "wraps_since: field \"mine\" must be bin 16, not bin 17");
    mp_wraps_since_mine(&m, 16, 9, -2);
    mp_refused(&m, TWIN_EINVALID, "wraps_since: field \"mine\" must be bin, not str");
}

/* How mp_wraps breaks a wraps message: nothing, or one field. */
enum wraps_fault {
    W_NONE,
    W_NO_STORE,
    W_EMPTY_STORE,
    W_STORE_STR,
    W_NO_UPTO,
    W_UPTO_STR,
    W_UPTO_HUGE,
    W_NO_ITEMS,
    W_ITEMS_MAP,
    W_ITEMS_2049,
    W_ITEM_BIN,
    W_ITEM_OF_4,
    W_ITEM_OF_2,
    W_ITEM_OF_6,
    W_BLOB_19,
    W_TO_33,
    W_BOX_79,
    W_BY_31,
    W_SIG_65,
    W_BLOB_STR,
    W_SIG_NIL,
    W_NO_MORE,
    W_MORE_INT,
    W_EXTRA_KEY, /* not a fault: unknown keys are ignored, as in every message */
};

static void mp_wraps(struct mp *m, enum wraps_fault f)
{
    mp_init(m);
    bool extra = f == W_EXTRA_KEY;
    msgpack_pack_map(&m->pk, 5 - (f == W_NO_STORE) - (f == W_NO_UPTO) - (f == W_NO_ITEMS) -
                                 (f == W_NO_MORE) + extra);
    mp_str(m, "type"), mp_str(m, "wraps");
    if (f != W_NO_STORE) {
        mp_str(m, "store");
        if (f == W_STORE_STR)
            mp_str(m, "s");
        else
            mp_bin(m, f == W_EMPTY_STORE ? 0 : 16);
    }
    if (f != W_NO_UPTO) {
        mp_str(m, "upto");
        if (f == W_UPTO_STR)
            mp_str(m, "7");
        else
            msgpack_pack_uint64(&m->pk, f == W_UPTO_HUGE ? UINT64_MAX : 7);
    }
    if (f != W_NO_ITEMS) {
        mp_str(m, "items");
        if (f == W_ITEMS_MAP) {
            msgpack_pack_map(&m->pk, 0);
        } else {
            size_t n = f == W_ITEMS_2049 ? TWIN_MSG_WRAPS_MAX + 1 : 2;
            msgpack_pack_array(&m->pk, n);
            for (size_t i = 0; i < n; i++) {
                bool bad = i == 1; /* the fault is in the second item */
                if (bad && f == W_ITEM_BIN) {
                    mp_bin(m, 20);
                    continue;
                }
                size_t k = i == 0 ? 3 : 5;
                if (bad && f == W_ITEM_OF_4)
                    k = 4;
                else if (bad && f == W_ITEM_OF_2)
                    k = 2;
                else if (bad && f == W_ITEM_OF_6)
                    k = 6;
                msgpack_pack_array(&m->pk, k);
                static const size_t sizes[6] = {20, 32, 80, 32, 64, 1};
                for (size_t v = 0; v < k; v++) {
                    size_t len = sizes[v];
                    if (bad && ((f == W_BLOB_19 && v == 0) || (f == W_BY_31 && v == 3)))
                        len--;
                    if (bad && ((f == W_TO_33 && v == 1) || (f == W_SIG_65 && v == 4)))
                        len++;
                    if (bad && f == W_BOX_79 && v == 2)
                        len--;
                    if (bad && f == W_BLOB_STR && v == 0)
                        mp_str(m, "blob");
                    else if (bad && f == W_SIG_NIL && v == 4)
                        msgpack_pack_nil(&m->pk);
                    else
                        mp_bin(m, len);
                }
            }
        }
    }
    if (f != W_NO_MORE) {
        mp_str(m, "more");
        if (f == W_MORE_INT)
            msgpack_pack_uint32(&m->pk, 1);
        else
            msgpack_pack_false(&m->pk);
    }
    if (extra)
        mp_str(m, "later"), msgpack_pack_uint32(&m->pk, 1);
}

static void a_malformed_wraps_message_is_refused_by_name(void **state)
{
    static const struct {
        enum wraps_fault f;
        int code;
        const char *part;
    } cases[] = {
        {W_NO_STORE, TWIN_EINVALID, "wraps: missing required field \"store\""},
        {W_EMPTY_STORE, TWIN_EINVALID, "wraps: field \"store\" must be bin 16, not bin 0"},
        {W_STORE_STR, TWIN_EINVALID, "wraps: field \"store\" must be bin, not str"},
        {W_NO_UPTO, TWIN_EINVALID, "wraps: missing required field \"upto\""},
        {W_UPTO_STR, TWIN_EINVALID, "wraps: field \"upto\" must be a non-negative integer"},
        {W_UPTO_HUGE, TWIN_EINVALID, "wraps: field \"upto\" is 18446744073709551615, above"},
        {W_NO_ITEMS, TWIN_EINVALID, "wraps: missing required field \"items\""},
        {W_ITEMS_MAP, TWIN_EINVALID, "wraps: field \"items\" must be an array of wraps, not map"},
        {W_ITEMS_2049, TWIN_ELIMIT,
         "wraps: field \"items\" holds 2049 wraps, allowed at most 2048"},
        {W_ITEM_BIN, TWIN_EINVALID, "wraps: item 1 must be an array of 3 or 5 values, not bin"},
        {W_ITEM_OF_4, TWIN_EINVALID,
         "wraps: item 1 must be an array of 3 or 5 values, not array of 4"},
        {W_ITEM_OF_2, TWIN_EINVALID, "not array of 2"},
        {W_ITEM_OF_6, TWIN_EINVALID, "not array of 6"},
        {W_BLOB_19, TWIN_EINVALID, "wraps: item 1: \"blob\" must be bin 20, not bin 19"},
        {W_TO_33, TWIN_EINVALID, "wraps: item 1: \"to\" must be bin 32, not bin 33"},
        {W_BOX_79, TWIN_EINVALID, "wraps: item 1: \"box\" must be bin 80, not bin 79"},
        {W_BY_31, TWIN_EINVALID, "wraps: item 1: \"by\" must be bin 32, not bin 31"},
        {W_SIG_65, TWIN_EINVALID, "wraps: item 1: \"sig\" must be bin 64, not bin 65"},
        {W_BLOB_STR, TWIN_EINVALID, "wraps: item 1: \"blob\" must be bin 20, not str"},
        {W_SIG_NIL, TWIN_EINVALID, "wraps: item 1: \"sig\" must be bin 64, not nil"},
        {W_NO_MORE, TWIN_EINVALID, "wraps: missing required field \"more\""},
        {W_MORE_INT, TWIN_EINVALID, "wraps: field \"more\" must be a bool, not int"},
    };
    struct mp m;
    twin_msg got;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mp_wraps(&m, cases[i].f);
        mp_refused(&m, cases[i].code, cases[i].part);
    }
    /* The same message unbroken decodes, and so does one with a key it does not know. */
    enum wraps_fault fine[] = {W_NONE, W_EXTRA_KEY};
    for (size_t i = 0; i < 2; i++) {
        mp_wraps(&m, fine[i]);
        mp_decodes(&m, &got);
        assert_int_equal(got.u.wraps.count, 2);
        assert_false(got.u.wraps.items[0].signed_by);
        assert_true(got.u.wraps.items[1].signed_by);
        assert_int_equal(got.u.wraps.upto, 7);
        twin_msg_clear(&got);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_conformance_encoding_decodes_to_its_value),
        cmocka_unit_test(hello_round_trips_with_and_without_head),
        cmocka_unit_test(refs_round_trip_sorted_by_name),
        cmocka_unit_test(negotiate_and_ack_round_trip),
        cmocka_unit_test(pack_chunk_of_the_largest_size_round_trips),
        cmocka_unit_test(merge_accept_refuse_round_trip),
        cmocka_unit_test(ping_pong_error_goodbye_round_trip),
        cmocka_unit_test(claim_welcome_checkpoint_round_trip),
        cmocka_unit_test(ping_has_this_exact_encoding),
        cmocka_unit_test(unknown_type_decodes_with_its_name_kept),
        cmocka_unit_test(unknown_fields_are_ignored),
        cmocka_unit_test(missing_required_field_is_named),
        cmocka_unit_test(field_of_the_wrong_type_is_named),
        cmocka_unit_test(message_that_is_not_a_map_is_refused),
        cmocka_unit_test(missing_type_and_duplicate_keys_are_refused),
        cmocka_unit_test(duplicate_ref_names_are_refused),
        cmocka_unit_test(nesting_past_the_limit_is_refused),
        cmocka_unit_test(array_count_far_beyond_the_message_is_refused_before_allocation),
        cmocka_unit_test(counts_above_the_limits_are_refused),
        cmocka_unit_test(invalid_utf8_is_refused),
        cmocka_unit_test(truncation_trailing_bytes_and_reserved_byte_are_refused),
        cmocka_unit_test(oversized_message_is_refused),
        cmocka_unit_test(encoder_refuses_what_the_decoder_would),
        cmocka_unit_test(hello_carries_its_extensions_and_leaves_ext_out_without_any),
        cmocka_unit_test(wraps_since_round_trips_with_and_without_a_store),
        cmocka_unit_test(a_full_wraps_message_of_both_kinds_round_trips),
        cmocka_unit_test(a_malformed_ext_in_hello_is_refused_by_name),
        cmocka_unit_test(a_malformed_wraps_since_is_refused_by_name),
        cmocka_unit_test(a_malformed_wraps_message_is_refused_by_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
