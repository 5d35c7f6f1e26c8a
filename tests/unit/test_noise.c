/* The Noise XK handshake: the published known-answer vector, and twin's use of it on Ed25519
 * node keys. Fixed ephemerals come from the test hook (crypto/noise.h), which this test links
 * with noise.c's test build (CMakeLists.txt). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/aead.h"
#include "crypto/noise.h"
#include "twin/channel.h"
#include "twin/error.h"
#include "twin/msg.h"
#include "twin/noise.h"

#define VECTOR_FILE TWIN_TEST_DATA "/noise/noise_xk_25519_chachapoly_sha256.json"
#define NETWORK     "0123456789abcdef0123456789abcdef"

static size_t unhex(unsigned char *out, size_t cap, const char *hex)
{
    size_t n = strlen(hex) / 2;
    assert_true(n <= cap);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (unsigned char)v;
    }
    return n;
}

static const char *field(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    assert_non_null(s);
    return s;
}

static void known_answer_vector_is_reproduced_byte_for_byte(void **state)
{
    json_error_t jerr;
    json_t *root = json_load_file(VECTOR_FILE, 0, &jerr);
    assert_non_null(root);
    json_t *v = json_array_get(json_object_get(root, "vectors"), 0);
    assert_string_equal(field(v, "name"), "Noise_XK_25519_ChaChaPoly_SHA256");

    unsigned char prologue[256], i_s[32], i_e[32], i_rs[32], r_s[32], r_e[32];
    size_t prologue_len = unhex(prologue, sizeof(prologue), field(v, "init_prologue"));
    unhex(i_s, 32, field(v, "init_static"));
    unhex(i_e, 32, field(v, "init_ephemeral"));
    unhex(i_rs, 32, field(v, "init_remote_static"));
    unhex(r_s, 32, field(v, "resp_static"));
    unhex(r_e, 32, field(v, "resp_ephemeral"));

    twin_noise_handshake ini, res;
    assert_int_equal(twin_noise_xk_init(&ini, 1, prologue, prologue_len, i_s, i_rs), 0);
    assert_int_equal(twin_noise_xk_init(&res, 0, prologue, prologue_len, r_s, NULL), 0);
    twin_noise_test_push_ephemeral(i_e);
    twin_noise_test_push_ephemeral(r_e);

    twin_noise_cipher i_send, i_recv, r_send, r_recv;
    unsigned char i_hash[32], r_hash[32];
    json_t *msgs = json_object_get(v, "messages");
    assert_int_equal(json_array_size(msgs), 6);
    for (size_t i = 0; i < json_array_size(msgs); i++) {
        json_t *m = json_array_get(msgs, i);
        unsigned char payload[256], expect[256], wire[256], got[256];
        size_t payload_len = unhex(payload, sizeof(payload), field(m, "payload"));
        size_t expect_len = unhex(expect, sizeof(expect), field(m, "ciphertext"));
        size_t wire_len = 0, got_len = 0;
        /* Messages alternate: the initiator sends the even ones, the responder the odd ones. */
        int from_initiator = (i % 2) == 0;
        if (i < 3) {
            twin_noise_handshake *w = from_initiator ? &ini : &res;
            twin_noise_handshake *r = from_initiator ? &res : &ini;
            assert_int_equal(
                twin_noise_xk_write(w, wire, sizeof(wire), &wire_len, payload, payload_len), 0);
            assert_int_equal(twin_noise_xk_read(r, got, sizeof(got), &got_len, wire, wire_len), 0);
        } else {
            if (i == 3) {
                assert_int_equal(twin_noise_split(&i_send, &i_recv, i_hash, &ini), 0);
                assert_int_equal(twin_noise_split(&r_send, &r_recv, r_hash, &res), 0);
                assert_memory_equal(i_hash, r_hash, 32);
            }
            wire_len = payload_len + TWIN_NOISE_TAG_BYTES;
            got_len = payload_len;
            assert_int_equal(
                twin_noise_encrypt(from_initiator ? &i_send : &r_send, wire, payload, payload_len),
                0);
            assert_int_equal(
                twin_noise_decrypt(from_initiator ? &r_recv : &i_recv, got, wire, wire_len), 0);
        }
        assert_int_equal(wire_len, expect_len);
        assert_memory_equal(wire, expect, expect_len);
        assert_int_equal(got_len, payload_len);
        assert_memory_equal(got, payload, payload_len);
    }
    json_decref(root);
}

struct pair {
    twin_keypair a, b;
};

static void make_key(twin_keypair *kp, unsigned char fill)
{
    unsigned char seed[32];
    memset(seed, fill, sizeof(seed));
    crypto_sign_seed_keypair(kp->pk, kp->sk, seed);
}

/* Runs twin's three messages between two started handshakes; returns the first failure. */
static int run_handshake(twin_noise_handshake *ini, twin_noise_handshake *res)
{
    unsigned char buf[TWIN_NOISE_MSG3_BYTES];
    size_t n = 0;
    int rc;
    for (int i = 0; i < 3; i++) {
        twin_noise_handshake *w = i % 2 == 0 ? ini : res;
        twin_noise_handshake *r = i % 2 == 0 ? res : ini;
        if ((rc = twin_noise_write_next(w, buf, sizeof(buf), &n)) != 0)
            return rc;
        assert_int_equal(n, twin_noise_message_size(i + 1));
        if ((rc = twin_noise_read_next(r, buf, n)) != 0)
            return rc;
    }
    return 0;
}

static void handshake_on_node_keys_agrees_and_reveals_the_initiator(void **state)
{
    twin_keypair alice, bob;
    make_key(&alice, 1);
    make_key(&bob, 2);
    twin_noise_handshake ini, res;
    assert_int_equal(twin_noise_start(&ini, 1, &alice, bob.pk, NETWORK), 0);
    assert_int_equal(twin_noise_start(&res, 0, &bob, NULL, NETWORK), 0);
    assert_null(twin_noise_peer_node(&res));
    assert_int_equal(run_handshake(&ini, &res), 0);
    assert_memory_equal(twin_noise_peer_node(&res), alice.pk, 32);
    assert_memory_equal(twin_noise_peer_node(&ini), bob.pk, 32);

    twin_noise_cipher is, ir, rs, rr;
    unsigned char ih[32], rh[32], frame[64], plain[64];
    assert_int_equal(twin_noise_split(&is, &ir, ih, &ini), 0);
    assert_int_equal(twin_noise_split(&rs, &rr, rh, &res), 0);
    assert_memory_equal(ih, rh, 32);
    assert_int_equal(twin_noise_encrypt(&rs, frame, (const unsigned char *)"to alice", 8), 0);
    assert_int_equal(twin_noise_decrypt(&ir, plain, frame, 8 + 16), 0);
    assert_memory_equal(plain, "to alice", 8);
}

static void wrong_responder_key_fails_message_1(void **state)
{
    twin_keypair alice, bob, carol;
    make_key(&alice, 1);
    make_key(&bob, 2);
    make_key(&carol, 3);
    twin_noise_handshake ini, res;
    assert_int_equal(twin_noise_start(&ini, 1, &alice, carol.pk, NETWORK), 0);
    assert_int_equal(twin_noise_start(&res, 0, &bob, NULL, NETWORK), 0);
    assert_int_equal(run_handshake(&ini, &res), TWIN_EVERIFY);
    assert_non_null(strstr(twin_error_last(), "message 1 failed authentication"));
}

static void other_network_fails_message_1(void **state)
{
    twin_keypair alice, bob;
    make_key(&alice, 1);
    make_key(&bob, 2);
    twin_noise_handshake ini, res;
    assert_int_equal(twin_noise_start(&ini, 1, &alice, bob.pk, NETWORK), 0);
    assert_int_equal(twin_noise_start(&res, 0, &bob, NULL, "fedcba9876543210fedcba9876543210"), 0);
    assert_int_equal(run_handshake(&ini, &res), TWIN_EVERIFY);
    assert_non_null(strstr(twin_error_last(), "another network"));
}

static void truncated_message_is_refused_by_length(void **state)
{
    twin_keypair alice, bob;
    make_key(&alice, 1);
    make_key(&bob, 2);
    twin_noise_handshake ini, res;
    unsigned char buf[TWIN_NOISE_MSG3_BYTES];
    size_t n = 0;
    assert_int_equal(twin_noise_start(&ini, 1, &alice, bob.pk, NETWORK), 0);
    assert_int_equal(twin_noise_start(&res, 0, &bob, NULL, NETWORK), 0);
    assert_int_equal(twin_noise_write_next(&ini, buf, sizeof(buf), &n), 0);
    assert_int_equal(twin_noise_read_next(&res, buf, n - 1), TWIN_EINVALID);
    assert_string_equal(twin_error_last(), "handshake: message 1 is 47 bytes, expected 48");
    /* A failed handshake stays failed. */
    assert_int_equal(twin_noise_read_next(&res, buf, n), TWIN_EINVALID);
}

static void low_order_ephemeral_key_is_refused(void **state)
{
    twin_keypair bob;
    make_key(&bob, 2);
    twin_noise_handshake res;
    unsigned char msg1[TWIN_NOISE_MSG1_BYTES] = {0}; /* e = 0, a point of small order */
    assert_int_equal(twin_noise_start(&res, 0, &bob, NULL, NETWORK), 0);
    assert_int_equal(twin_noise_read_next(&res, msg1, sizeof(msg1)), TWIN_EVERIFY);
    assert_non_null(strstr(twin_error_last(), "low-order"));
}

static void invalid_peer_node_key_is_refused_before_connecting(void **state)
{
    twin_keypair alice;
    make_key(&alice, 1);
    twin_noise_handshake ini;
    unsigned char zero[32] = {0};
    assert_int_equal(twin_noise_start(&ini, 1, &alice, zero, NETWORK), TWIN_EINVALID);
    assert_string_equal(twin_error_last(),
                        "handshake: peer node key is not a valid Ed25519 public key");
}

/* An initiator that holds one X25519 static key but names another node in message 3. */
static void message_3_naming_another_node_is_refused(void **state)
{
    twin_keypair alice, bob, mallory;
    make_key(&alice, 1);
    make_key(&bob, 2);
    make_key(&mallory, 4);
    twin_noise_handshake ini, res;
    unsigned char buf[TWIN_NOISE_MSG3_BYTES];
    size_t n = 0;
    assert_int_equal(twin_noise_start(&ini, 1, &mallory, bob.pk, NETWORK), 0);
    assert_int_equal(twin_noise_start(&res, 0, &bob, NULL, NETWORK), 0);
    assert_int_equal(twin_noise_write_next(&ini, buf, sizeof(buf), &n), 0);
    assert_int_equal(twin_noise_read_next(&res, buf, n), 0);
    assert_int_equal(twin_noise_write_next(&res, buf, sizeof(buf), &n), 0);
    assert_int_equal(twin_noise_read_next(&ini, buf, n), 0);
    assert_int_equal(twin_noise_xk_write(&ini, buf, sizeof(buf), &n, alice.pk, 32), 0);
    assert_int_equal(twin_noise_read_next(&res, buf, n), TWIN_EVERIFY);
    assert_string_equal(twin_error_last(),
                        "handshake: message 3 node key does not match the Noise static key");
    assert_null(twin_noise_peer_node(&res));
}

static void transport_refuses_replay_and_flipped_bits(void **state)
{
    twin_noise_cipher send = {.has_key = 1}, recv = {.has_key = 1};
    memset(send.k, 7, 32);
    memset(recv.k, 7, 32);
    unsigned char f1[32], f2[32], out[32];
    assert_int_equal(twin_noise_encrypt(&send, f1, (const unsigned char *)"first", 5), 0);
    assert_int_equal(twin_noise_encrypt(&send, f2, (const unsigned char *)"other", 5), 0);
    assert_int_equal(twin_noise_decrypt(&recv, out, f1, 21), 0);
    assert_int_equal(twin_noise_decrypt(&recv, out, f1, 21), TWIN_EVERIFY);
    assert_non_null(strstr(twin_error_last(), "failed authentication"));
    f2[3] ^= 0x10;
    assert_int_equal(twin_noise_decrypt(&recv, out, f2, 21), TWIN_EVERIFY);
    f2[3] ^= 0x10;
    assert_int_equal(twin_noise_decrypt(&recv, out, f2, 21), 0); /* the nonce did not move */
    assert_memory_equal(out, "other", 5);
}

/* The cipher twin_aead_seal runs (OpenSSL's in a default build) against libsodium's: every
 * length around the block sizes, with and without associated data, sealed by one and opened by
 * the other, in place and not; a changed byte of text, tag, data or nonce fails on both, and a
 * failed open leaves no plaintext behind. */
static void aead_implementation_agrees_with_libsodium(void **state)
{
    enum { MAX = 1200 };
    static unsigned char in[MAX], a[MAX], b[MAX], back[MAX];
    unsigned char key[32], nonce[12], ad[40], ta[16], tb[16];
    randombytes_buf(key, sizeof(key));
    randombytes_buf(nonce, sizeof(nonce));
    randombytes_buf(ad, sizeof(ad));
    randombytes_buf(in, sizeof(in));
    static const size_t lens[] = {0, 1, 15, 16, 17, 63, 64, 65, 255, 256, 257, 1023, 1024, MAX};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        size_t len = lens[i], ad_len = i % 2 ? sizeof(ad) : 0;
        assert_int_equal(twin_aead_seal(a, ta, in, len, ad, ad_len, nonce, key), 0);
        assert_int_equal(twin_aead_sodium_seal(b, tb, in, len, ad, ad_len, nonce, key), 0);
        assert_memory_equal(a, b, len);
        assert_memory_equal(ta, tb, 16);
        assert_int_equal(twin_aead_open(back, b, len, tb, ad, ad_len, nonce, key), 0);
        assert_memory_equal(back, in, len);
        assert_int_equal(twin_aead_sodium_open(back, a, len, ta, ad, ad_len, nonce, key), 0);
        assert_memory_equal(back, in, len);
        memcpy(back, a, len); /* in place */
        assert_int_equal(twin_aead_open(back, back, len, ta, ad, ad_len, nonce, key), 0);
        assert_memory_equal(back, in, len);
        if (len > 0) {
            a[len / 2] ^= 0x01;
            memset(back, 0xAA, len);
            assert_int_equal(twin_aead_open(back, a, len, ta, ad, ad_len, nonce, key), -1);
            for (size_t j = 0; j < len; j++)
                assert_true(back[j] != in[j] || back[j] == 0 || back[j] == 0xAA);
            assert_int_equal(twin_aead_sodium_open(back, a, len, ta, ad, ad_len, nonce, key), -1);
            a[len / 2] ^= 0x01;
        }
        ta[15] ^= 0x80;
        assert_int_equal(twin_aead_open(back, a, len, ta, ad, ad_len, nonce, key), -1);
        ta[15] ^= 0x80;
        nonce[11] ^= 0x02;
        assert_int_equal(twin_aead_open(back, a, len, ta, ad, ad_len, nonce, key), -1);
        nonce[11] ^= 0x02;
        if (ad_len) {
            ad[0] ^= 0x04;
            assert_int_equal(twin_aead_open(back, a, len, ta, ad, ad_len, nonce, key), -1);
            ad[0] ^= 0x04;
        }
        assert_int_equal(twin_aead_open(back, a, len, ta, ad, ad_len, nonce, key), 0);
    }
    print_message("aead: %s\n", twin_aead_implementation());
}

static void network_id_must_be_32_lowercase_hex(void **state)
{
    unsigned char p[TWIN_NOISE_PROLOGUE_BYTES];
    assert_int_equal(twin_noise_prologue(p, NETWORK), 0);
    assert_memory_equal(p, "twin/1\0\x01\x23\x45\x67\x89\xab\xcd\xef", 15);
    assert_int_equal(twin_noise_prologue(p, "0123456789ABCDEF0123456789abcdef"), TWIN_EINVALID);
    assert_string_equal(twin_error_last(), "network id: character 11 is not a lowercase hex digit");
    assert_int_equal(twin_noise_prologue(p, "0123"), TWIN_EINVALID);
}

/* --- The worked example of proto/PROTOCOL.md ------------------------------------------- */

#define EXAMPLE_NETWORK "5e1f0c2a9b3d4e6f708192a3b4c5d6e7"

struct example {
    char text[8192];
    size_t used;
};

static void example_add(struct example *ex, const char *label, const unsigned char *p, size_t n)
{
    ex->used += (size_t)snprintf(ex->text + ex->used, sizeof(ex->text) - ex->used, "%s: ", label);
    for (size_t i = 0; i < n; i++)
        ex->used +=
            (size_t)snprintf(ex->text + ex->used, sizeof(ex->text) - ex->used, "%02x", p[i]);
    ex->used += (size_t)snprintf(ex->text + ex->used, sizeof(ex->text) - ex->used, "\n");
}

static void add_frame(struct example *ex, const char *label, const unsigned char *msg, size_t n)
{
    unsigned char frame[4 + TWIN_NOISE_MSG3_BYTES] = {0, 0, 0, (unsigned char)n};
    memcpy(frame + 4, msg, n);
    example_add(ex, label, frame, n + 4);
}

/* Sends hello from one side to the other and records the plaintext and the frame. */
static void add_hello(struct example *ex, const char *who, twin_msg *hello, twin_noise_cipher *send,
                      twin_noise_cipher *recv)
{
    static unsigned char frame[4 + 1024];
    size_t len = 0, frame_len = 0, plain_len = 0;
    char label[64];
    assert_int_equal(twin_msg_encode(frame + 4, 1000, &len, hello), 0);
    snprintf(label, sizeof(label), "%s hello msgpack", who);
    example_add(ex, label, frame + 4, len);
    assert_int_equal(twin_channel_frame_seal(send, frame, len, &frame_len), 0);
    snprintf(label, sizeof(label), "%s hello frame", who);
    example_add(ex, label, frame, frame_len);
    assert_int_equal(twin_channel_frame_open(recv, frame + 4, frame_len - 4, &plain_len), 0);
    twin_msg got;
    assert_int_equal(twin_msg_decode(&got, frame + 4, plain_len), 0);
    assert_int_equal(got.type, TWIN_MSG_HELLO);
}

static void compute_example(struct example *ex)
{
    twin_keypair a, b;
    unsigned char seed[32], e_a[32], e_b[32], x[32], prologue[TWIN_NOISE_PROLOGUE_BYTES];
    unsigned char buf[TWIN_NOISE_MSG3_BYTES], hash_a[32], hash_b[32];
    twin_noise_handshake ini, res;
    twin_noise_cipher a_send, a_recv, b_send, b_recv;
    size_t n = 0;

    memset(seed, 0x11, 32);
    crypto_sign_seed_keypair(a.pk, a.sk, seed);
    memset(seed, 0x22, 32);
    crypto_sign_seed_keypair(b.pk, b.sk, seed);
    memset(e_a, 0x33, 32);
    memset(e_b, 0x44, 32);
    memset(seed, 0x11, 32);
    example_add(ex, "A ed25519 seed", seed, 32);
    example_add(ex, "A ed25519 public", a.pk, 32);
    assert_int_equal(crypto_sign_ed25519_sk_to_curve25519(x, a.sk), 0);
    example_add(ex, "A x25519 private", x, 32);
    assert_int_equal(crypto_sign_ed25519_pk_to_curve25519(x, a.pk), 0);
    example_add(ex, "A x25519 public", x, 32);
    memset(seed, 0x22, 32);
    example_add(ex, "B ed25519 seed", seed, 32);
    example_add(ex, "B ed25519 public", b.pk, 32);
    assert_int_equal(crypto_sign_ed25519_sk_to_curve25519(x, b.sk), 0);
    example_add(ex, "B x25519 private", x, 32);
    assert_int_equal(crypto_sign_ed25519_pk_to_curve25519(x, b.pk), 0);
    example_add(ex, "B x25519 public", x, 32);
    example_add(ex, "A ephemeral private", e_a, 32);
    example_add(ex, "B ephemeral private", e_b, 32);
    assert_int_equal(twin_noise_prologue(prologue, EXAMPLE_NETWORK), 0);
    example_add(ex, "prologue", prologue, sizeof(prologue));

    assert_int_equal(twin_noise_start(&ini, 1, &a, b.pk, EXAMPLE_NETWORK), 0);
    assert_int_equal(twin_noise_start(&res, 0, &b, NULL, EXAMPLE_NETWORK), 0);
    twin_noise_test_push_ephemeral(e_a);
    assert_int_equal(twin_noise_write_next(&ini, buf, sizeof(buf), &n), 0);
    add_frame(ex, "message 1 frame", buf, n);
    assert_int_equal(twin_noise_read_next(&res, buf, n), 0);
    twin_noise_test_push_ephemeral(e_b);
    assert_int_equal(twin_noise_write_next(&res, buf, sizeof(buf), &n), 0);
    add_frame(ex, "message 2 frame", buf, n);
    assert_int_equal(twin_noise_read_next(&ini, buf, n), 0);
    assert_int_equal(twin_noise_write_next(&ini, buf, sizeof(buf), &n), 0);
    add_frame(ex, "message 3 frame", buf, n);
    assert_int_equal(twin_noise_read_next(&res, buf, n), 0);
    assert_int_equal(twin_noise_split(&a_send, &a_recv, hash_a, &ini), 0);
    assert_int_equal(twin_noise_split(&b_send, &b_recv, hash_b, &res), 0);
    assert_memory_equal(hash_a, hash_b, 32);
    example_add(ex, "handshake hash", hash_a, 32);
    example_add(ex, "key A to B", a_send.k, 32);
    example_add(ex, "key B to A", b_send.k, 32);

    twin_msg hello = {.type = TWIN_MSG_HELLO};
    hello.u.hello.nversions = 1;
    hello.u.hello.versions[0] = 1;
    memcpy(hello.u.hello.network_id, EXAMPLE_NETWORK, sizeof(EXAMPLE_NETWORK));
    memcpy(hello.u.hello.node, a.pk, 32);
    snprintf(hello.u.hello.software, sizeof(hello.u.hello.software), "twin 0.1.0");
    add_hello(ex, "A", &hello, &a_send, &b_recv);
    memcpy(hello.u.hello.node, b.pk, 32);
    hello.u.hello.has_head = true;
    unhex(hello.u.hello.head, 20, "e83c5163316f89bfbde7d9ab23ca2e25604af290");
    add_hello(ex, "B", &hello, &b_send, &a_recv);
}

/* Every value of the example must appear in the document, whitespace aside. */
static void protocol_document_example_matches_the_code(void **state)
{
    static struct example ex;
    compute_example(&ex);
    FILE *f = fopen(TWIN_SOURCE_DIR "/proto/PROTOCOL.md", "rb");
    assert_non_null(f);
    static char doc[256 * 1024];
    size_t n = fread(doc, 1, sizeof(doc) - 1, f), k = 0;
    fclose(f);
    for (size_t i = 0; i < n; i++)
        if (doc[i] != ' ' && doc[i] != '\n' && doc[i] != '\t')
            doc[k++] = doc[i];
    doc[k] = '\0';
    int missing = 0;
    for (char *line = ex.text; *line;) {
        char *end = strchr(line, '\n');
        *end = '\0';
        const char *hex = strstr(line, ": ") + 2;
        if (!strstr(doc, hex)) {
            print_message("not in proto/PROTOCOL.md: %s\n", line);
            missing++;
        }
        line = end + 1;
    }
    assert_int_equal(missing, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(known_answer_vector_is_reproduced_byte_for_byte),
        cmocka_unit_test(handshake_on_node_keys_agrees_and_reveals_the_initiator),
        cmocka_unit_test(wrong_responder_key_fails_message_1),
        cmocka_unit_test(other_network_fails_message_1),
        cmocka_unit_test(truncated_message_is_refused_by_length),
        cmocka_unit_test(low_order_ephemeral_key_is_refused),
        cmocka_unit_test(invalid_peer_node_key_is_refused_before_connecting),
        cmocka_unit_test(message_3_naming_another_node_is_refused),
        cmocka_unit_test(transport_refuses_replay_and_flipped_bits),
        cmocka_unit_test(aead_implementation_agrees_with_libsodium),
        cmocka_unit_test(network_id_must_be_32_lowercase_hex),
        cmocka_unit_test(protocol_document_example_matches_the_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
