/* Node keys: generation, the OpenSSH private key file (checked against stock ssh-keygen), and
 * the public forms (OpenSSH line, node id). */
#define _XOPEN_SOURCE 700 /* nftw, in the helpers */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "unit/helpers.h"

/* --- key files built to the format --- */

/* A key file assembled field by field, so each test can break exactly one thing. */
struct keyfile {
    const char *cipher, *kdf, *type;
    uint32_t nkeys, check1, check2;
    unsigned char header_pk[32], pk[32], sk[64];
    const char *comment;
    bool bad_padding;
    size_t truncate_to; /* 0: keep the whole blob */
};

static void keyfile_valid(struct keyfile *k, const twin_keypair *kp)
{
    memset(k, 0, sizeof(*k));
    k->cipher = "none";
    k->kdf = "none";
    k->type = "ssh-ed25519";
    k->nkeys = 1;
    k->check1 = k->check2 = 0x5eed1234;
    memcpy(k->header_pk, kp->pk, 32);
    memcpy(k->pk, kp->pk, 32);
    memcpy(k->sk, kp->sk, 64);
    k->comment = "north@XE-EXAMPLE-1";
}

/* Armored text of k, 70 columns as ssh-keygen writes it. */
static char *keyfile_text(const struct keyfile *k, size_t *len)
{
    struct buf blob = {.n = 0}, pub = {.n = 0}, priv = {.n = 0};
    char *text;

    putstr(&pub, k->type, strlen(k->type));
    putstr(&pub, k->header_pk, 32);
    put32(&priv, k->check1);
    put32(&priv, k->check2);
    putstr(&priv, k->type, strlen(k->type));
    putstr(&priv, k->pk, 32);
    putstr(&priv, k->sk, 64);
    putstr(&priv, k->comment, strlen(k->comment));
    for (unsigned char i = 1; priv.n % 8 != 0; i++) {
        unsigned char pad = k->bad_padding ? 0 : i;
        put(&priv, &pad, 1);
    }
    put(&blob, "openssh-key-v1", 15);
    putstr(&blob, k->cipher, strlen(k->cipher));
    putstr(&blob, k->kdf, strlen(k->kdf));
    putstr(&blob, "", 0);
    put32(&blob, k->nkeys);
    putstr(&blob, pub.b, pub.n);
    putstr(&blob, priv.b, priv.n);
    if (k->truncate_to)
        blob.n = k->truncate_to;
    text = armor_text("OPENSSH PRIVATE KEY", blob.b, blob.n, true);
    *len = strlen(text);
    return text;
}

static int load_keyfile(struct fixture *f, const struct keyfile *k, twin_keypair *out)
{
    size_t len;
    char *text = keyfile_text(k, &len);
    unlink(f->path);
    write_text(f->path, text, len, 0600);
    free(text);
    return twin_key_load(out, f->path);
}

/* --- generation --- */

static void generated_key_embeds_its_public_half(void **state)
{
    twin_keypair kp, again;
    unsigned char pk[32], sk[64];
    assert_int_equal(twin_key_generate(&kp), 0);
    assert_memory_equal(kp.sk + 32, kp.pk, 32);
    assert_int_equal(crypto_sign_seed_keypair(pk, sk, kp.sk), 0);
    assert_memory_equal(pk, kp.pk, 32);
    assert_int_equal(twin_key_generate(&again), 0);
    assert_memory_not_equal(again.pk, kp.pk, 32);
}

static void wipe_zeroes_both_halves(void **state)
{
    twin_keypair kp, zero;
    memset(&zero, 0, sizeof(zero));
    assert_int_equal(twin_key_generate(&kp), 0);
    twin_key_wipe(&kp);
    assert_memory_equal(&kp, &zero, sizeof(kp));
    twin_key_wipe(NULL);
}

/* --- key file --- */

static void saved_key_loads_back_identically(void **state)
{
    struct fixture *f = *state;
    twin_keypair kp, loaded;
    assert_int_equal(twin_key_generate(&kp), 0);
    assert_int_equal(twin_key_save(f->path, &kp, "north@XE-EXAMPLE-1"), 0);
    assert_int_equal(twin_key_load(&loaded, f->path), 0);
    assert_memory_equal(&loaded, &kp, sizeof(kp));
}

static void saved_key_is_mode_0600_and_in_openssh_armor(void **state)
{
    struct fixture *f = *state;
    twin_keypair kp;
    struct stat st;
    size_t len;
    assert_int_equal(twin_key_generate(&kp), 0);
    assert_int_equal(twin_key_save(f->path, &kp, NULL), 0);
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    char *text = read_text(f->path, &len);
    assert_true(strncmp(text, "-----BEGIN OPENSSH PRIVATE KEY-----\n", 36) == 0);
    assert_string_equal(text + len - 34, "-----END OPENSSH PRIVATE KEY-----\n");
    for (char *line = text; *line; line = strchr(line, '\n') + 1)
        assert_true(strchr(line, '\n') - line <= 70);
    free(text);
}

static void save_refuses_to_replace_an_existing_file(void **state)
{
    struct fixture *f = *state;
    twin_keypair kp;
    char *text;
    assert_int_equal(twin_key_generate(&kp), 0);
    write_text(f->path, "XE-EXAMPLE keep me\n", 19, 0600);
    assert_error(twin_key_save(f->path, &kp, NULL), TWIN_EEXISTS, "already exists");
    text = read_text(f->path, NULL);
    assert_string_equal(text, "XE-EXAMPLE keep me\n");
    free(text);
}

static void save_leaves_no_temporary_file_behind(void **state)
{
    struct fixture *f = *state;
    twin_keypair kp;
    char listing[256];
    assert_int_equal(twin_key_generate(&kp), 0);
    assert_int_equal(twin_key_save(f->path, &kp, NULL), 0);
    assert_int_equal(twin_key_save(f->path, &kp, NULL), TWIN_EEXISTS);
    snprintf(listing, sizeof(listing), "test \"$(ls -A %s)\" = key", f->dir);
    assert_int_equal(run("%s", listing), 0);
}

static void save_refuses_a_multiline_comment(void **state)
{
    struct fixture *f = *state;
    twin_keypair kp;
    assert_int_equal(twin_key_generate(&kp), 0);
    assert_error(twin_key_save(f->path, &kp, "north\nsouth"), TWIN_EINVALID, "single line");
    assert_int_equal(access(f->path, F_OK), -1);
}

static void save_refuses_a_keypair_whose_halves_differ(void **state)
{
    struct fixture *f = *state;
    twin_keypair kp, other;
    keypair_from_seed(&kp, 1);
    keypair_from_seed(&other, 2);
    memcpy(kp.pk, other.pk, 32);
    assert_error(twin_key_save(f->path, &kp, NULL), TWIN_EINVALID, "do not match");
}

static void load_of_a_missing_file_is_not_found(void **state)
{
    struct fixture *f = *state;
    twin_keypair kp;
    assert_error(twin_key_load(&kp, f->path), TWIN_ENOTFOUND, "does not exist");
}

static void load_refuses_a_file_readable_by_others(void **state)
{
    struct fixture *f = *state;
    twin_keypair kp, out;
    assert_int_equal(twin_key_generate(&kp), 0);
    assert_int_equal(twin_key_save(f->path, &kp, NULL), 0);
    assert_int_equal(chmod(f->path, 0644), 0);
    assert_error(twin_key_load(&out, f->path), TWIN_EINVALID, "chmod 600");
    assert_true(strstr(twin_error_last(), "0644") != NULL);
}

static void load_refuses_a_file_readable_by_group(void **state)
{
    struct fixture *f = *state;
    twin_keypair kp, out;
    assert_int_equal(twin_key_generate(&kp), 0);
    assert_int_equal(twin_key_save(f->path, &kp, NULL), 0);
    assert_int_equal(chmod(f->path, 0640), 0);
    assert_error(twin_key_load(&out, f->path), TWIN_EINVALID, "chmod 600");
}

static void load_accepts_a_file_built_to_the_format(void **state)
{
    struct fixture *f = *state;
    twin_keypair kp, out;
    struct keyfile k;
    keypair_from_seed(&kp, 7);
    keyfile_valid(&k, &kp);
    assert_int_equal(load_keyfile(f, &k, &out), 0);
    assert_memory_equal(&out, &kp, sizeof(kp));
}

static void load_refuses_mismatched_halves(void **state)
{
    struct fixture *f = *state;
    twin_keypair kp, other, out;
    struct keyfile k;
    keypair_from_seed(&kp, 7);
    keypair_from_seed(&other, 8);
    keyfile_valid(&k, &kp);
    memcpy(k.sk, other.sk, 32); /* seed of another key, public half of this one */
    assert_error(load_keyfile(f, &k, &out), TWIN_EINVALID, "halves of the key do not match");
}

static void load_refuses_a_header_key_that_differs_from_the_private_one(void **state)
{
    struct fixture *f = *state;
    twin_keypair kp, other, out;
    struct keyfile k;
    keypair_from_seed(&kp, 7);
    keypair_from_seed(&other, 8);
    keyfile_valid(&k, &kp);
    memcpy(k.header_pk, other.pk, 32);
    assert_error(load_keyfile(f, &k, &out), TWIN_EINVALID, "do not match");
}

static void load_refuses_differing_check_integers(void **state)
{
    struct fixture *f = *state;
    twin_keypair kp, out;
    struct keyfile k;
    keypair_from_seed(&kp, 7);
    keyfile_valid(&k, &kp);
    k.check2 ^= 1;
    assert_error(load_keyfile(f, &k, &out), TWIN_EINVALID, "check integers differ");
}

static void load_refuses_an_encrypted_key(void **state)
{
    struct fixture *f = *state;
    twin_keypair kp, out;
    struct keyfile k;
    keypair_from_seed(&kp, 7);
    keyfile_valid(&k, &kp);
    k.cipher = "aes256-ctr";
    k.kdf = "bcrypt";
    assert_error(load_keyfile(f, &k, &out), TWIN_EINVALID,
                 "key file is passphrase-protected; twin needs an unencrypted key");
}

static void load_refuses_a_file_with_two_keys(void **state)
{
    struct fixture *f = *state;
    twin_keypair kp, out;
    struct keyfile k;
    keypair_from_seed(&kp, 7);
    keyfile_valid(&k, &kp);
    k.nkeys = 2;
    assert_error(load_keyfile(f, &k, &out), TWIN_EINVALID, "exactly one");
}

static void load_refuses_a_non_ed25519_key(void **state)
{
    struct fixture *f = *state;
    twin_keypair kp, out;
    struct keyfile k;
    keypair_from_seed(&kp, 7);
    keyfile_valid(&k, &kp);
    k.type = "ssh-rsa";
    assert_error(load_keyfile(f, &k, &out), TWIN_EINVALID, "\"ssh-rsa\" is not supported");
}

static void load_refuses_bad_padding(void **state)
{
    struct fixture *f = *state;
    twin_keypair kp, out;
    struct keyfile k;
    keypair_from_seed(&kp, 7);
    keyfile_valid(&k, &kp);
    k.comment = "XE"; /* leaves padding to check */
    k.bad_padding = true;
    assert_error(load_keyfile(f, &k, &out), TWIN_EINVALID, "bad padding");
}

static void load_refuses_a_truncated_key(void **state)
{
    struct fixture *f = *state;
    twin_keypair kp, out;
    struct keyfile k;
    keypair_from_seed(&kp, 7);
    keyfile_valid(&k, &kp);
    k.truncate_to = 120; /* inside the private section's declared length */
    assert_error(load_keyfile(f, &k, &out), TWIN_EINVALID, "truncated at the private section");
    k.truncate_to = 20;
    assert_error(load_keyfile(f, &k, &out), TWIN_EINVALID, "truncated");
}

static void load_refuses_a_missing_end_line(void **state)
{
    struct fixture *f = *state;
    twin_keypair kp, out;
    struct keyfile k;
    size_t len;
    keypair_from_seed(&kp, 7);
    keyfile_valid(&k, &kp);
    char *text = keyfile_text(&k, &len);
    *strstr(text, "-----END") = '\0';
    write_text(f->path, text, strlen(text), 0600);
    free(text);
    assert_error(twin_key_load(&out, f->path), TWIN_EINVALID, "missing \"-----END");
}

static void load_refuses_text_that_is_not_a_key(void **state)
{
    struct fixture *f = *state;
    twin_keypair out;
    write_text(f->path, "ssh-ed25519 AAAA XE-EXAMPLE\n", 28, 0600);
    assert_error(twin_key_load(&out, f->path), TWIN_EINVALID, "does not start with");
}

static void load_refuses_an_oversize_file(void **state)
{
    struct fixture *f = *state;
    twin_keypair out;
    char *big = malloc(20000);
    memset(big, 'A', 20000);
    write_text(f->path, big, 20000, 0600);
    free(big);
    assert_error(twin_key_load(&out, f->path), TWIN_ELIMIT, "larger than");
}

static void parse_private_refuses_bad_base64(void **state)
{
    twin_keypair out;
    const char *text = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn*zaC1rZXktdjE=\n"
                       "-----END OPENSSH PRIVATE KEY-----\n";
    assert_error(twin_key_parse_private(&out, text, strlen(text)), TWIN_EINVALID,
                 "not valid base64");
}

/* --- interop with stock OpenSSH --- */

static void ssh_keygen_derives_the_public_key_of_a_saved_key(void **state)
{
    struct fixture *f = *state;
    twin_keypair kp;
    char line[TWIN_OPENSSH_PUB_MAX], expected[256], out[160];
    if (!have_tool("ssh-keygen"))
        skip();
    assert_int_equal(twin_key_generate(&kp), 0);
    assert_int_equal(twin_key_save(f->path, &kp, "north@XE-EXAMPLE-1"), 0);
    snprintf(out, sizeof(out), "%s/derived.pub", f->dir);
    assert_int_equal(run("ssh-keygen -y -f %s > %s", f->path, out), 0);
    twin_key_format_openssh(line, kp.pk);
    snprintf(expected, sizeof(expected), "%s north@XE-EXAMPLE-1\n", line);
    char *got = read_text(out, NULL);
    assert_string_equal(got, expected);
    free(got);
}

static void key_made_by_ssh_keygen_loads(void **state)
{
    struct fixture *f = *state;
    twin_keypair kp;
    unsigned char pk[32];
    char pub[160];
    if (!have_tool("ssh-keygen"))
        skip();
    assert_int_equal(
        run("ssh-keygen -q -t ed25519 -N '' -C south@XE-EXAMPLE-2 -f %s >/dev/null", f->path), 0);
    assert_int_equal(twin_key_load(&kp, f->path), 0);
    snprintf(pub, sizeof(pub), "%s.pub", f->path);
    char *line = read_text(pub, NULL);
    assert_int_equal(twin_key_parse_openssh(pk, line), 0);
    free(line);
    assert_memory_equal(pk, kp.pk, 32);
}

static void passphrase_protected_key_from_ssh_keygen_is_refused(void **state)
{
    struct fixture *f = *state;
    twin_keypair kp;
    if (!have_tool("ssh-keygen"))
        skip();
    assert_int_equal(run("ssh-keygen -q -t ed25519 -N XE-EXAMPLE-secret -f %s >/dev/null", f->path),
                     0);
    assert_error(twin_key_load(&kp, f->path), TWIN_EINVALID,
                 "key file is passphrase-protected; twin needs an unencrypted key");
}

/* --- public forms --- */

static void openssh_line_round_trips(void **state)
{
    twin_keypair kp;
    unsigned char pk[32];
    char line[TWIN_OPENSSH_PUB_MAX];
    keypair_from_seed(&kp, 3);
    twin_key_format_openssh(line, kp.pk);
    assert_true(strncmp(line, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI", 37) == 0);
    assert_int_equal(strlen(line), 80);
    assert_int_equal(twin_key_parse_openssh(pk, line), 0);
    assert_memory_equal(pk, kp.pk, 32);
}

static void openssh_line_may_carry_a_comment_and_a_newline(void **state)
{
    twin_keypair kp;
    unsigned char pk[32];
    char line[TWIN_OPENSSH_PUB_MAX], with[256];
    keypair_from_seed(&kp, 3);
    twin_key_format_openssh(line, kp.pk);
    snprintf(with, sizeof(with), "%s  north admin@XE-EXAMPLE-1\r\n", line);
    assert_int_equal(twin_key_parse_openssh(pk, with), 0);
    assert_memory_equal(pk, kp.pk, 32);
}

static void openssh_line_of_another_key_type_is_refused(void **state)
{
    unsigned char pk[32];
    assert_error(twin_key_parse_openssh(pk, "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ== x"),
                 TWIN_EINVALID, "\"ssh-rsa\" is not supported");
}

static void openssh_line_whose_blob_names_another_type_is_refused(void **state)
{
    unsigned char pk[32];
    /* base64 of string "ssh-rsa" string 32 bytes, behind an ssh-ed25519 label */
    struct buf b = {.n = 0};
    unsigned char key[32] = {0};
    char line[256] = "ssh-ed25519 ";
    putstr(&b, "ssh-rsa", 7);
    putstr(&b, key, 32);
    sodium_bin2base64(line + 12, sizeof(line) - 12, b.b, b.n, sodium_base64_VARIANT_ORIGINAL);
    assert_error(twin_key_parse_openssh(pk, line), TWIN_EINVALID, "\"ssh-rsa\" is not supported");
}

static void openssh_line_with_a_short_key_is_refused(void **state)
{
    unsigned char pk[32];
    struct buf b = {.n = 0};
    unsigned char key[31] = {0};
    char line[256] = "ssh-ed25519 ";
    putstr(&b, "ssh-ed25519", 11);
    putstr(&b, key, 31);
    sodium_bin2base64(line + 12, sizeof(line) - 12, b.b, b.n, sodium_base64_VARIANT_ORIGINAL);
    assert_error(twin_key_parse_openssh(pk, line), TWIN_EINVALID, "31 bytes, not 32");
}

static void openssh_line_with_bad_base64_is_refused(void **state)
{
    unsigned char pk[32];
    assert_error(twin_key_parse_openssh(pk, "ssh-ed25519 AAAA*AAA"), TWIN_EINVALID,
                 "not valid base64");
}

static void openssh_line_without_a_key_is_refused(void **state)
{
    unsigned char pk[32];
    assert_error(twin_key_parse_openssh(pk, "ssh-ed25519 \n"), TWIN_EINVALID, "missing base64");
    assert_error(twin_key_parse_openssh(pk, ""), TWIN_EINVALID, "empty line");
}

static void openssh_text_of_two_lines_is_refused(void **state)
{
    twin_keypair kp;
    unsigned char pk[32];
    char line[TWIN_OPENSSH_PUB_MAX], two[256];
    keypair_from_seed(&kp, 3);
    twin_key_format_openssh(line, kp.pk);
    snprintf(two, sizeof(two), "%s\n%s\n", line, line);
    assert_error(twin_key_parse_openssh(pk, two), TWIN_EINVALID, "single line");
}

static void node_id_is_lowercase_hex_of_the_public_key(void **state)
{
    unsigned char pk[32];
    char id[TWIN_NODE_ID_LEN + 1];
    for (int i = 0; i < 32; i++)
        pk[i] = (unsigned char)(0xe0 + i % 32);
    twin_key_node_id(id, pk);
    assert_string_equal(id, "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
}

static void parse_any_accepts_a_node_id(void **state)
{
    twin_keypair kp;
    unsigned char pk[32];
    char id[TWIN_NODE_ID_LEN + 1], padded[100];
    keypair_from_seed(&kp, 4);
    twin_key_node_id(id, kp.pk);
    assert_int_equal(twin_key_parse_any(pk, id), 0);
    assert_memory_equal(pk, kp.pk, 32);
    snprintf(padded, sizeof(padded), "  %s\n", id);
    memset(pk, 0, 32);
    assert_int_equal(twin_key_parse_any(pk, padded), 0);
    assert_memory_equal(pk, kp.pk, 32);
}

static void parse_any_accepts_an_openssh_line(void **state)
{
    twin_keypair kp;
    unsigned char pk[32];
    char line[TWIN_OPENSSH_PUB_MAX], with[256];
    keypair_from_seed(&kp, 4);
    twin_key_format_openssh(line, kp.pk);
    snprintf(with, sizeof(with), "%s south@XE-EXAMPLE-2\n", line);
    assert_int_equal(twin_key_parse_any(pk, with), 0);
    assert_memory_equal(pk, kp.pk, 32);
}

static void parse_any_refuses_a_short_node_id(void **state)
{
    unsigned char pk[32];
    char id[TWIN_NODE_ID_LEN + 1];
    memset(id, 'a', TWIN_NODE_ID_LEN);
    id[TWIN_NODE_ID_LEN - 1] = '\0';
    assert_error(twin_key_parse_any(pk, id), TWIN_EINVALID, "63 hex characters, expected 64");
}

static void parse_any_refuses_other_text(void **state)
{
    unsigned char pk[32];
    char id[TWIN_NODE_ID_LEN + 1];
    memset(id, 'a', TWIN_NODE_ID_LEN);
    id[TWIN_NODE_ID_LEN] = '\0';
    id[10] = 'g';
    assert_error(twin_key_parse_any(pk, id), TWIN_EINVALID, "expected a node id");
    assert_error(twin_key_parse_any(pk, ""), TWIN_EINVALID, "expected a node id");
    assert_error(twin_key_parse_any(pk, "XE-EXAMPLE-north"), TWIN_EINVALID, "expected a node id");
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, fixture_setup, fixture_teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(generated_key_embeds_its_public_half),
        cmocka_unit_test(wipe_zeroes_both_halves),
        T(saved_key_loads_back_identically),
        T(saved_key_is_mode_0600_and_in_openssh_armor),
        T(save_refuses_to_replace_an_existing_file),
        T(save_leaves_no_temporary_file_behind),
        T(save_refuses_a_multiline_comment),
        T(save_refuses_a_keypair_whose_halves_differ),
        T(load_of_a_missing_file_is_not_found),
        T(load_refuses_a_file_readable_by_others),
        T(load_refuses_a_file_readable_by_group),
        T(load_accepts_a_file_built_to_the_format),
        T(load_refuses_mismatched_halves),
        T(load_refuses_a_header_key_that_differs_from_the_private_one),
        T(load_refuses_differing_check_integers),
        T(load_refuses_an_encrypted_key),
        T(load_refuses_a_file_with_two_keys),
        T(load_refuses_a_non_ed25519_key),
        T(load_refuses_bad_padding),
        T(load_refuses_a_truncated_key),
        T(load_refuses_a_missing_end_line),
        T(load_refuses_text_that_is_not_a_key),
        T(load_refuses_an_oversize_file),
        cmocka_unit_test(parse_private_refuses_bad_base64),
        T(ssh_keygen_derives_the_public_key_of_a_saved_key),
        T(key_made_by_ssh_keygen_loads),
        T(passphrase_protected_key_from_ssh_keygen_is_refused),
        cmocka_unit_test(openssh_line_round_trips),
        cmocka_unit_test(openssh_line_may_carry_a_comment_and_a_newline),
        cmocka_unit_test(openssh_line_of_another_key_type_is_refused),
        cmocka_unit_test(openssh_line_whose_blob_names_another_type_is_refused),
        cmocka_unit_test(openssh_line_with_a_short_key_is_refused),
        cmocka_unit_test(openssh_line_with_bad_base64_is_refused),
        cmocka_unit_test(openssh_line_without_a_key_is_refused),
        cmocka_unit_test(openssh_text_of_two_lines_is_refused),
        cmocka_unit_test(node_id_is_lowercase_hex_of_the_public_key),
        cmocka_unit_test(parse_any_accepts_a_node_id),
        cmocka_unit_test(parse_any_accepts_an_openssh_line),
        cmocka_unit_test(parse_any_refuses_a_short_node_id),
        cmocka_unit_test(parse_any_refuses_other_text),
    };
#undef T
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
