/* SSH signatures (PROTOCOL.sshsig) and the split of signed git commits, checked against stock
 * ssh-keygen and git, and against malformed input built field by field. */
#define _XOPEN_SOURCE 700 /* nftw, in the helpers */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "twin/sshsig.h"
#include "unit/helpers.h"

static const char MESSAGE[] = "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
                              "author North Example <north@example.org> 1700000000 +0000\n"
                              "committer North Example <north@example.org> 1700000000 +0000\n"
                              "\n"
                              "XE-EXAMPLE-1: record the steering meeting\n";

/* --- helpers --- */

static int verify_text(unsigned char pk[32], const char *armor, const char *ns)
{
    return twin_sshsig_verify(pk, armor, strlen(armor), ns, MESSAGE, strlen(MESSAGE));
}

/* A signature blob assembled field by field, so each test can break exactly one thing. */
struct sigblob {
    const char *magic, *key_type, *ns, *reserved, *hash, *sig_type, *trailing;
    uint32_t version;
    size_t pk_len;
    bool flip_sig;
};

static struct sigblob sigblob_valid(void)
{
    return (struct sigblob){.magic = "SSHSIG",
                            .key_type = "ssh-ed25519",
                            .ns = "git",
                            .reserved = "",
                            .hash = "sha512",
                            .sig_type = "ssh-ed25519",
                            .trailing = "",
                            .version = 1,
                            .pk_len = 32};
}

static void sigblob_build(struct buf *blob, const struct sigblob *s, const twin_keypair *kp)
{
    struct buf data = {.n = 0}, pub = {.n = 0}, sigfield = {.n = 0};
    unsigned char hash[64], sig[64];
    size_t hash_len = 64;

    if (strcmp(s->hash, "sha256") == 0) {
        crypto_hash_sha256(hash, (const unsigned char *)MESSAGE, strlen(MESSAGE));
        hash_len = 32;
    } else {
        crypto_hash_sha512(hash, (const unsigned char *)MESSAGE, strlen(MESSAGE));
    }
    put(&data, "SSHSIG", 6);
    putstr(&data, s->ns, strlen(s->ns));
    putstr(&data, s->reserved, strlen(s->reserved));
    putstr(&data, s->hash, strlen(s->hash));
    putstr(&data, hash, hash_len);
    crypto_sign_detached(sig, NULL, data.b, data.n, kp->sk);
    if (s->flip_sig)
        sig[10] ^= 0x01;

    putstr(&pub, s->key_type, strlen(s->key_type));
    putstr(&pub, kp->pk, s->pk_len);
    putstr(&sigfield, s->sig_type, strlen(s->sig_type));
    putstr(&sigfield, sig, 64);

    blob->n = 0;
    put(blob, s->magic, 6);
    put32(blob, s->version);
    putstr(blob, pub.b, pub.n);
    putstr(blob, s->ns, strlen(s->ns));
    putstr(blob, s->reserved, strlen(s->reserved));
    putstr(blob, s->hash, strlen(s->hash));
    putstr(blob, sigfield.b, sigfield.n);
    put(blob, s->trailing, strlen(s->trailing));
}

/* Armor as ssh-keygen writes it (70 columns), without the final newline. */
static char *armor(const unsigned char *blob, size_t len)
{
    return armor_text("SSH SIGNATURE", blob, len, false);
}

static int verify_sigblob(const struct sigblob *s, unsigned char pk[32])
{
    twin_keypair kp;
    struct buf blob;
    keypair_from_seed(&kp, 9);
    sigblob_build(&blob, s, &kp);
    char *text = armor(blob.b, blob.n);
    int rc = verify_text(pk, text, "git");
    free(text);
    return rc;
}

/* Decodes an armored signature made by twin, for tests that corrupt the blob itself. */
static size_t dearmor(unsigned char *blob, size_t cap, const char *text)
{
    const char *start = strchr(text, '\n') + 1, *end = strstr(text, "-----END");
    size_t len = 0;
    assert_int_equal(sodium_base642bin(blob, cap, start, (size_t)(end - start), "\n", &len, NULL,
                                       sodium_base64_VARIANT_ORIGINAL),
                     0);
    return len;
}

static char *sign_message(const twin_keypair *kp)
{
    struct {
        char *text;
        size_t len;
    } sig = {NULL, 0};
    assert_int_equal(twin_sshsig_sign(&sig.text, &sig.len, kp, "git", MESSAGE, strlen(MESSAGE)), 0);
    assert_int_equal(sig.len, strlen(sig.text));
    return sig.text;
}

/* --- signing --- */

static void signature_has_openssh_armor_without_final_newline(void **state)
{
    twin_keypair kp;
    unsigned char blob[512];
    keypair_from_seed(&kp, 1);
    char *sig = sign_message(&kp);
    assert_true(strncmp(sig, "-----BEGIN SSH SIGNATURE-----\n", 30) == 0);
    size_t len = strlen(sig);
    assert_string_equal(sig + len - 28, "\n-----END SSH SIGNATURE-----");
    for (char *line = sig; strchr(line, '\n'); line = strchr(line, '\n') + 1)
        assert_true(strchr(line, '\n') - line <= 70);
    assert_int_equal(dearmor(blob, sizeof(blob), sig), 173); /* Ed25519, namespace "git" */
    assert_memory_equal(blob, "SSHSIG\0\0\0\1", 10);
    free(sig);
}

static void signature_verifies_and_names_its_signer(void **state)
{
    twin_keypair kp;
    unsigned char pk[32] = {0};
    keypair_from_seed(&kp, 1);
    char *sig = sign_message(&kp);
    assert_int_equal(verify_text(pk, sig, "git"), 0);
    assert_memory_equal(pk, kp.pk, 32);
    free(sig);
}

static void signing_is_deterministic(void **state)
{
    twin_keypair kp;
    keypair_from_seed(&kp, 1);
    char *a = sign_message(&kp), *b = sign_message(&kp);
    assert_string_equal(a, b);
    free(a);
    free(b);
}

static void sign_refuses_an_empty_namespace(void **state)
{
    twin_keypair kp;
    char *sig = NULL;
    size_t len = 0;
    keypair_from_seed(&kp, 1);
    assert_error(twin_sshsig_sign(&sig, &len, &kp, "", "x", 1), TWIN_EINVALID,
                 "namespace must not be empty");
    assert_null(sig);
}

static void sign_refuses_a_keypair_whose_halves_differ(void **state)
{
    twin_keypair kp, other;
    char *sig = NULL;
    size_t len = 0;
    keypair_from_seed(&kp, 1);
    keypair_from_seed(&other, 2);
    memcpy(kp.pk, other.pk, 32);
    assert_error(twin_sshsig_sign(&sig, &len, &kp, "git", "x", 1), TWIN_EINVALID, "halves");
}

/* --- verification: accepted forms --- */

static void verify_accepts_a_final_newline_and_crlf_line_ends(void **state)
{
    twin_keypair kp;
    unsigned char pk[32];
    char crlf[2048];
    size_t j = 0;
    keypair_from_seed(&kp, 1);
    char *sig = sign_message(&kp);
    char *nl = malloc(strlen(sig) + 2);
    snprintf(nl, strlen(sig) + 2, "%s\n", sig);
    assert_int_equal(verify_text(pk, nl, "git"), 0);
    for (const char *p = sig; *p; p++) {
        if (*p == '\n')
            crlf[j++] = '\r';
        crlf[j++] = *p;
    }
    memcpy(crlf + j, "\r\n", 3);
    assert_int_equal(verify_text(pk, crlf, "git"), 0);
    free(nl);
    free(sig);
}

static void verify_accepts_sha256_signatures(void **state)
{
    struct sigblob s = sigblob_valid();
    unsigned char pk[32];
    s.hash = "sha256";
    assert_int_equal(verify_sigblob(&s, pk), 0);
}

static void verify_accepts_a_blob_built_to_the_spec(void **state)
{
    struct sigblob s = sigblob_valid();
    twin_keypair kp;
    unsigned char pk[32];
    keypair_from_seed(&kp, 9);
    assert_int_equal(verify_sigblob(&s, pk), 0);
    assert_memory_equal(pk, kp.pk, 32);
}

/* --- verification: refusals --- */

static void verify_refuses_another_namespace(void **state)
{
    twin_keypair kp;
    unsigned char pk[32];
    keypair_from_seed(&kp, 1);
    char *sig = sign_message(&kp);
    assert_error(verify_text(pk, sig, "twin-handshake"), TWIN_EVERIFY,
                 "namespace \"git\" is not \"twin-handshake\"");
    free(sig);
}

static void verify_refuses_a_flipped_signature_byte(void **state)
{
    twin_keypair kp;
    unsigned char pk[32], blob[512];
    keypair_from_seed(&kp, 1);
    char *sig = sign_message(&kp);
    size_t len = dearmor(blob, sizeof(blob), sig);
    blob[len - 1] ^= 0x80;
    char *bad = armor(blob, len);
    assert_error(verify_text(pk, bad, "git"), TWIN_EVERIFY, "does not verify");
    free(bad);
    free(sig);
}

static void verify_refuses_another_message(void **state)
{
    twin_keypair kp;
    unsigned char pk[32];
    keypair_from_seed(&kp, 1);
    char *sig = sign_message(&kp);
    assert_error(twin_sshsig_verify(pk, sig, strlen(sig), "git", MESSAGE, strlen(MESSAGE) - 1),
                 TWIN_EVERIFY, "does not verify");
    free(sig);
}

static void verify_refuses_a_truncated_blob(void **state)
{
    twin_keypair kp;
    unsigned char pk[32], blob[512];
    keypair_from_seed(&kp, 1);
    char *sig = sign_message(&kp);
    dearmor(blob, sizeof(blob), sig);
    char *cut = armor(blob, 8);
    assert_error(verify_text(pk, cut, "git"), TWIN_EINVALID, "truncated at version");
    free(cut);
    cut = armor(blob, 12);
    assert_error(verify_text(pk, cut, "git"), TWIN_EINVALID, "truncated at public key");
    free(cut);
    cut = armor(blob, 100);
    assert_error(verify_text(pk, cut, "git"), TWIN_EINVALID,
                 "signature length 83 exceeds the 10 bytes left");
    free(cut);
    free(sig);
}

static void verify_refuses_a_wrong_magic(void **state)
{
    struct sigblob s = sigblob_valid();
    unsigned char pk[32];
    s.magic = "SSHSIH";
    assert_error(verify_sigblob(&s, pk), TWIN_EINVALID, "does not start with \"SSHSIG\"");
}

static void verify_refuses_a_length_larger_than_the_data(void **state)
{
    twin_keypair kp;
    unsigned char pk[32], blob[512];
    keypair_from_seed(&kp, 1);
    char *sig = sign_message(&kp);
    size_t len = dearmor(blob, sizeof(blob), sig);
    memset(blob + 6 + 4 + 55, 0xff, 4); /* the namespace's length */
    char *bad = armor(blob, len);
    assert_error(verify_text(pk, bad, "git"), TWIN_EINVALID, "namespace length 4294967295 exceeds");
    free(bad);
    free(sig);
}

static void verify_refuses_trailing_bytes(void **state)
{
    struct sigblob s = sigblob_valid();
    unsigned char pk[32];
    s.trailing = "X";
    assert_error(verify_sigblob(&s, pk), TWIN_EINVALID, "1 unexpected bytes after the signature");
}

static void verify_refuses_another_version(void **state)
{
    struct sigblob s = sigblob_valid();
    unsigned char pk[32];
    s.version = 2;
    assert_error(verify_sigblob(&s, pk), TWIN_EINVALID, "version 2 is not supported");
}

static void verify_refuses_a_non_ed25519_key(void **state)
{
    struct sigblob s = sigblob_valid();
    unsigned char pk[32];
    s.key_type = "ssh-rsa";
    assert_error(verify_sigblob(&s, pk), TWIN_EVERIFY,
                 "public key type \"ssh-rsa\" is not supported");
    s.key_type = "sk-ssh-ed25519@openssh.com";
    assert_error(verify_sigblob(&s, pk), TWIN_EVERIFY, "is not supported");
}

static void verify_refuses_a_signature_type_that_differs_from_the_key(void **state)
{
    struct sigblob s = sigblob_valid();
    unsigned char pk[32];
    s.sig_type = "rsa-sha2-512";
    assert_error(verify_sigblob(&s, pk), TWIN_EVERIFY,
                 "signature type \"rsa-sha2-512\" is not supported");
}

static void verify_refuses_a_short_public_key(void **state)
{
    struct sigblob s = sigblob_valid();
    unsigned char pk[32];
    s.pk_len = 31;
    assert_error(verify_sigblob(&s, pk), TWIN_EINVALID, "public key is 31 bytes, not 32");
}

static void verify_refuses_an_unsupported_hash(void **state)
{
    struct sigblob s = sigblob_valid();
    unsigned char pk[32];
    s.hash = "sha1";
    assert_error(verify_sigblob(&s, pk), TWIN_EVERIFY, "hash algorithm \"sha1\" is not supported");
}

static void verify_refuses_a_reserved_field(void **state)
{
    struct sigblob s = sigblob_valid();
    unsigned char pk[32];
    s.reserved = "XE";
    assert_error(verify_sigblob(&s, pk), TWIN_EINVALID, "reserved field is not empty");
}

static void verify_refuses_bad_base64(void **state)
{
    twin_keypair kp;
    unsigned char pk[32];
    keypair_from_seed(&kp, 1);
    char *sig = sign_message(&kp);
    sig[40] = '*';
    assert_error(verify_text(pk, sig, "git"), TWIN_EINVALID, "not valid base64");
    free(sig);
    sig = sign_message(&kp);
    memmove(sig + 40, sig + 41, strlen(sig + 41) + 1); /* one character short: bad padding */
    assert_error(verify_text(pk, sig, "git"), TWIN_EINVALID, "not valid base64");
    free(sig);
}

static void verify_refuses_a_missing_end_line(void **state)
{
    twin_keypair kp;
    unsigned char pk[32];
    keypair_from_seed(&kp, 1);
    char *sig = sign_message(&kp);
    *strstr(sig, "-----END") = '\0';
    assert_error(verify_text(pk, sig, "git"), TWIN_EINVALID,
                 "missing \"-----END SSH SIGNATURE-----\" line");
    free(sig);
}

static void verify_refuses_a_missing_begin_line(void **state)
{
    twin_keypair kp;
    unsigned char pk[32];
    keypair_from_seed(&kp, 1);
    char *sig = sign_message(&kp);
    assert_error(verify_text(pk, strchr(sig, '\n') + 1, "git"), TWIN_EINVALID,
                 "does not start with \"-----BEGIN SSH SIGNATURE-----\"");
    free(sig);
}

static void verify_refuses_text_after_the_end_line(void **state)
{
    twin_keypair kp;
    unsigned char pk[32];
    char text[2048];
    keypair_from_seed(&kp, 1);
    char *sig = sign_message(&kp);
    snprintf(text, sizeof(text), "%s\n\n", sig);
    assert_error(verify_text(pk, text, "git"), TWIN_EINVALID, "unexpected text after");
    snprintf(text, sizeof(text), "%s\nXE", sig);
    assert_error(verify_text(pk, text, "git"), TWIN_EINVALID, "unexpected text after");
    free(sig);
}

static void verify_refuses_a_blank_line_inside_the_armor(void **state)
{
    twin_keypair kp;
    unsigned char pk[32];
    char text[2048];
    keypair_from_seed(&kp, 1);
    char *sig = sign_message(&kp);
    char *body = strchr(sig, '\n') + 1;
    snprintf(text, sizeof(text), "-----BEGIN SSH SIGNATURE-----\n\n%s", body);
    assert_error(verify_text(pk, text, "git"), TWIN_EINVALID, "blank line");
    free(sig);
}

static void verify_refuses_an_oversize_armor(void **state)
{
    twin_keypair kp;
    unsigned char pk[32];
    size_t len = TWIN_SSHSIG_ARMOR_MAX + 1;
    char *big = malloc(len);
    keypair_from_seed(&kp, 1);
    char *sig = sign_message(&kp);
    /* A valid signature followed by padding: refused on size before anything is parsed. */
    memset(big, '\n', len);
    memcpy(big, sig, strlen(sig));
    assert_error(twin_sshsig_verify(pk, big, len, "git", MESSAGE, strlen(MESSAGE)), TWIN_ELIMIT,
                 "more than 4096");
    free(big);
    free(sig);
}

static void verify_refuses_an_empty_armor(void **state)
{
    unsigned char pk[32];
    assert_error(twin_sshsig_verify(pk, "", 0, "git", MESSAGE, strlen(MESSAGE)), TWIN_EINVALID,
                 "does not start with");
    assert_error(
        verify_text(pk, "-----BEGIN SSH SIGNATURE-----\n-----END SSH SIGNATURE-----", "git"),
        TWIN_EINVALID, "holds no signature");
}

/* --- interop with stock OpenSSH --- */

static void ssh_keygen_verifies_a_twin_signature_and_makes_the_same_bytes(void **state)
{
    struct fixture *f = *state;
    twin_keypair kp;
    char key[128], msg[128], sig[128], allowed[128], line[TWIN_OPENSSH_PUB_MAX], text[256];
    if (!have_tool("ssh-keygen"))
        skip();
    snprintf(key, sizeof(key), "%s/key", f->dir);
    snprintf(msg, sizeof(msg), "%s/msg", f->dir);
    snprintf(sig, sizeof(sig), "%s/twin.sig", f->dir);
    snprintf(allowed, sizeof(allowed), "%s/allowed_signers", f->dir);
    assert_int_equal(twin_key_generate(&kp), 0);
    assert_int_equal(twin_key_save(key, &kp, "north@XE-EXAMPLE-1"), 0);
    write_text(msg, MESSAGE, strlen(MESSAGE), 0600);
    char *ours = sign_message(&kp);
    write_text(sig, ours, strlen(ours), 0600);
    twin_key_format_openssh(line, kp.pk);
    int n = snprintf(text, sizeof(text), "north@XE-EXAMPLE-1 namespaces=\"git\" %s\n", line);
    write_text(allowed, text, (size_t)n, 0600);

    assert_int_equal(run("ssh-keygen -Y verify -f %s -I north@XE-EXAMPLE-1 -n git -s %s < %s "
                         ">/dev/null 2>&1",
                         allowed, sig, msg),
                     0);
    assert_int_not_equal(run("ssh-keygen -Y verify -f %s -I north@XE-EXAMPLE-1 -n file -s %s < "
                             "%s >/dev/null 2>&1",
                             allowed, sig, msg),
                         0);

    assert_int_equal(run("ssh-keygen -Y sign -f %s -n git %s >/dev/null 2>&1", key, msg), 0);
    snprintf(sig, sizeof(sig), "%s/msg.sig", f->dir);
    char *theirs = read_text(sig, NULL);
    char *expected = malloc(strlen(ours) + 2);
    memcpy(expected, ours, strlen(ours));
    memcpy(expected + strlen(ours), "\n", 2); /* ssh-keygen ends the file with a newline */
    assert_string_equal(theirs, expected);
    free(expected);
    free(theirs);
    free(ours);
}

static void twin_verifies_signatures_made_by_ssh_keygen(void **state)
{
    struct fixture *f = *state;
    twin_keypair kp;
    unsigned char pk[32];
    char key[128], msg[128], sig[128];
    size_t len;
    if (!have_tool("ssh-keygen"))
        skip();
    snprintf(key, sizeof(key), "%s/key", f->dir);
    snprintf(msg, sizeof(msg), "%s/msg", f->dir);
    snprintf(sig, sizeof(sig), "%s/msg.sig", f->dir);
    assert_int_equal(run("ssh-keygen -q -t ed25519 -N '' -C south@XE-EXAMPLE-2 -f %s", key), 0);
    assert_int_equal(twin_key_load(&kp, key), 0);
    write_text(msg, MESSAGE, strlen(MESSAGE), 0600);

    assert_int_equal(run("ssh-keygen -Y sign -f %s -n git %s >/dev/null 2>&1", key, msg), 0);
    char *text = read_text(sig, &len);
    assert_int_equal(twin_sshsig_verify(pk, text, len, "git", MESSAGE, strlen(MESSAGE)), 0);
    assert_memory_equal(pk, kp.pk, 32);
    free(text);

    unlink(sig);
    assert_int_equal(
        run("ssh-keygen -Y sign -O hashalg=sha256 -f %s -n git %s >/dev/null 2>&1", key, msg), 0);
    text = read_text(sig, &len);
    assert_int_equal(twin_sshsig_verify(pk, text, len, "git", MESSAGE, strlen(MESSAGE)), 0);
    assert_memory_equal(pk, kp.pk, 32);
    free(text);
}

/* --- commits --- */

static void split(const char *raw, char **sig, char **payload)
{
    size_t sig_len, payload_len;
    assert_int_equal(
        twin_sshsig_split_commit(sig, &sig_len, payload, &payload_len, raw, strlen(raw)), 0);
    assert_int_equal(sig_len, strlen(*sig));
    assert_int_equal(payload_len, strlen(*payload));
}

static void split_removes_the_gpgsig_header_and_joins_its_lines(void **state)
{
    const char *raw = "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
                      "author North Example <north@example.org> 1700000000 +0000\n"
                      "committer North Example <north@example.org> 1700000000 +0000\n"
                      "gpgsig -----BEGIN SSH SIGNATURE-----\n"
                      " U1NIU0lH\n"
                      " \n"
                      " -----END SSH SIGNATURE-----\n"
                      "\n"
                      "XE-EXAMPLE-1: record the steering meeting\n";
    char *sig, *payload;
    split(raw, &sig, &payload);
    assert_string_equal(sig, "-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n\n"
                             "-----END SSH SIGNATURE-----");
    assert_string_equal(payload, MESSAGE);
    free(sig);
    free(payload);
}

static void split_ignores_gpgsig_lines_in_the_message(void **state)
{
    const char *raw = "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
                      "committer North Example <north@example.org> 1700000000 +0000\n"
                      "\n"
                      "XE-EXAMPLE-1: quoting a header\n"
                      "gpgsig -----BEGIN SSH SIGNATURE-----\n"
                      " U1NIU0lH\n";
    char *sig = NULL, *payload = NULL;
    size_t sig_len = 0, payload_len = 0;
    assert_error(twin_sshsig_split_commit(&sig, &sig_len, &payload, &payload_len, raw, strlen(raw)),
                 TWIN_ENOTFOUND, "no gpgsig header");
    assert_null(sig);
    assert_null(payload);
}

static void split_keeps_a_gpgsig_line_of_the_message_in_the_payload(void **state)
{
    const char *raw = "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
                      "gpgsig -----BEGIN SSH SIGNATURE-----\n"
                      " -----END SSH SIGNATURE-----\n"
                      "\n"
                      "XE-EXAMPLE-1\n"
                      "gpgsig in the body\n"
                      " indented\n";
    char *sig, *payload;
    split(raw, &sig, &payload);
    assert_string_equal(payload, "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
                                 "\n"
                                 "XE-EXAMPLE-1\n"
                                 "gpgsig in the body\n"
                                 " indented\n");
    free(sig);
    free(payload);
}

static void split_leaves_a_gpgsig_sha256_header_in_the_payload(void **state)
{
    const char *raw = "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
                      "gpgsig-sha256 -----BEGIN SSH SIGNATURE-----\n"
                      " AAAA\n"
                      "gpgsig -----BEGIN SSH SIGNATURE-----\n"
                      " BBBB\n"
                      "\n"
                      "XE-EXAMPLE-1\n";
    char *sig, *payload;
    split(raw, &sig, &payload);
    assert_string_equal(sig, "-----BEGIN SSH SIGNATURE-----\nBBBB");
    assert_string_equal(payload, "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
                                 "gpgsig-sha256 -----BEGIN SSH SIGNATURE-----\n"
                                 " AAAA\n"
                                 "\n"
                                 "XE-EXAMPLE-1\n");
    free(sig);
    free(payload);

    const char *only = "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
                       "gpgsig-sha256 -----BEGIN SSH SIGNATURE-----\n"
                       " AAAA\n"
                       "\n";
    size_t sig_len, payload_len;
    assert_int_equal(
        twin_sshsig_split_commit(&sig, &sig_len, &payload, &payload_len, only, strlen(only)),
        TWIN_ENOTFOUND);
}

static void split_refuses_two_gpgsig_headers(void **state)
{
    const char *raw = "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
                      "gpgsig A\n"
                      "parent 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
                      "gpgsig B\n"
                      "\n";
    char *sig, *payload;
    size_t sig_len, payload_len;
    assert_error(twin_sshsig_split_commit(&sig, &sig_len, &payload, &payload_len, raw, strlen(raw)),
                 TWIN_EINVALID, "more than one gpgsig header");
}

static void split_handles_a_commit_without_message(void **state)
{
    const char *raw = "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
                      "gpgsig A\n"
                      " B";
    char *sig, *payload;
    split(raw, &sig, &payload);
    assert_string_equal(sig, "A\nB");
    assert_string_equal(payload, "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n");
    free(sig);
    free(payload);
}

static void split_bounds_the_commit_and_the_signature(void **state)
{
    char *sig, *payload;
    size_t sig_len, payload_len;
    size_t big = TWIN_SSHSIG_COMMIT_MAX + 1;
    char *raw = malloc(big);
    memset(raw, 'x', big);
    assert_error(twin_sshsig_split_commit(&sig, &sig_len, &payload, &payload_len, raw, big),
                 TWIN_ELIMIT, "more than the");
    /* A gpgsig header of 8 KiB in a small commit. */
    size_t n = (size_t)snprintf(raw, big, "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\ngpgsig ");
    memset(raw + n, 'A', 8192);
    memcpy(raw + n + 8192, "\n\nXE\n", 5);
    assert_error(
        twin_sshsig_split_commit(&sig, &sig_len, &payload, &payload_len, raw, n + 8192 + 5),
        TWIN_ELIMIT, "signature longer than 4096");
    free(raw);
}

/* Builds a commit object from a payload and a signature the way git lays the header out. */
static char *commit_with_signature(const char *payload, const char *sig)
{
    const char *body = strstr(payload, "\n\n");
    size_t head = (size_t)(body - payload) + 1, pos = head;
    char *out = malloc(strlen(payload) + 2 * strlen(sig) + 16);
    memcpy(out, payload, head);
    memcpy(out + pos, "gpgsig ", 7);
    pos += 7;
    for (const char *p = sig; *p; p++) {
        out[pos++] = *p;
        if (*p == '\n')
            out[pos++] = ' ';
    }
    out[pos++] = '\n';
    memcpy(out + pos, body + 1, strlen(body + 1) + 1);
    return out;
}

static void commit_signed_by_git_splits_and_verifies(void **state)
{
    struct fixture *f = *state;
    twin_keypair kp;
    unsigned char pk[32];
    char key[128], repo[128], path[128], head[128], line[TWIN_OPENSSH_PUB_MAX], text[256];
    size_t raw_len, sig_len, payload_len;
    char *sig, *payload;
    if (!have_tool("ssh-keygen") || !have_tool("git"))
        skip();
    setenv("HOME", f->dir, 1);
    setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
    setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
    snprintf(key, sizeof(key), "%s/key", f->dir);
    snprintf(repo, sizeof(repo), "%s/repo", f->dir);
    assert_int_equal(twin_key_generate(&kp), 0);
    assert_int_equal(twin_key_save(key, &kp, "north@XE-EXAMPLE-1"), 0);
    assert_int_equal(run("git init -q %s && git -C %s -c user.name='North Example' "
                         "-c user.email=north@example.org -c gpg.format=ssh "
                         "-c user.signingkey=%s commit -q -S --allow-empty "
                         "-m 'XE-EXAMPLE-1: partnership agreed' -m 'gpgsig in the body' "
                         ">/dev/null 2>&1",
                         repo, repo, key),
                     0);
    snprintf(path, sizeof(path), "%s/commit", f->dir);
    assert_int_equal(run("git -C %s cat-file commit HEAD > %s", repo, path), 0);
    char *raw = read_text(path, &raw_len);
    assert_non_null(strstr(raw, "\ngpgsig -----BEGIN SSH SIGNATURE-----\n"));

    assert_int_equal(twin_sshsig_split_commit(&sig, &sig_len, &payload, &payload_len, raw, raw_len),
                     0);
    assert_int_equal(twin_sshsig_verify(pk, sig, sig_len, "git", payload, payload_len), 0);
    assert_memory_equal(pk, kp.pk, 32);
    assert_null(strstr(payload, "\ngpgsig -----BEGIN"));
    assert_non_null(strstr(payload, "\ngpgsig in the body"));

    /* twin signing the same payload with the same key rebuilds git's commit exactly, and
     * stock git verify-commit accepts it. */
    char *ours = NULL;
    size_t ours_len;
    assert_int_equal(twin_sshsig_sign(&ours, &ours_len, &kp, "git", payload, payload_len), 0);
    assert_string_equal(ours, sig);
    char *rebuilt = commit_with_signature(payload, ours);
    assert_string_equal(rebuilt, raw);
    snprintf(path, sizeof(path), "%s/allowed_signers", f->dir);
    twin_key_format_openssh(line, kp.pk);
    int n = snprintf(text, sizeof(text), "north@example.org %s\n", line);
    write_text(path, text, (size_t)n, 0600);
    assert_int_equal(run("git -C %s -c gpg.ssh.allowedSignersFile=%s verify-commit HEAD "
                         ">/dev/null 2>&1",
                         repo, path),
                     0);
    snprintf(head, sizeof(head), "%s/rebuilt", f->dir);
    write_text(head, rebuilt, strlen(rebuilt), 0600);
    assert_int_equal(run("test \"$(git -C %s hash-object -t commit %s)\" = "
                         "\"$(git -C %s rev-parse HEAD)\"",
                         repo, head, repo),
                     0);
    free(rebuilt);
    free(ours);
    free(sig);
    free(payload);
    free(raw);
}

static void unsigned_commit_with_gpgsig_in_its_body_is_not_found(void **state)
{
    struct fixture *f = *state;
    char repo[128], path[128];
    size_t raw_len, sig_len, payload_len;
    char *sig = NULL, *payload = NULL;
    if (!have_tool("git"))
        skip();
    setenv("HOME", f->dir, 1);
    setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
    setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
    snprintf(repo, sizeof(repo), "%s/repo", f->dir);
    snprintf(path, sizeof(path), "%s/commit", f->dir);
    assert_int_equal(run("git init -q %s && git -C %s -c user.name='South Example' "
                         "-c user.email=south@example.org commit -q --allow-empty "
                         "-m 'XE-EXAMPLE-2' -m 'gpgsig -----BEGIN SSH SIGNATURE-----' "
                         ">/dev/null 2>&1 && git -C %s cat-file commit HEAD > %s",
                         repo, repo, repo, path),
                     0);
    char *raw = read_text(path, &raw_len);
    assert_non_null(strstr(raw, "\ngpgsig -----BEGIN"));
    assert_error(twin_sshsig_split_commit(&sig, &sig_len, &payload, &payload_len, raw, raw_len),
                 TWIN_ENOTFOUND, "no gpgsig header");
    assert_null(sig);
    free(raw);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, fixture_setup, fixture_teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(signature_has_openssh_armor_without_final_newline),
        cmocka_unit_test(signature_verifies_and_names_its_signer),
        cmocka_unit_test(signing_is_deterministic),
        cmocka_unit_test(sign_refuses_an_empty_namespace),
        cmocka_unit_test(sign_refuses_a_keypair_whose_halves_differ),
        cmocka_unit_test(verify_accepts_a_final_newline_and_crlf_line_ends),
        cmocka_unit_test(verify_accepts_sha256_signatures),
        cmocka_unit_test(verify_accepts_a_blob_built_to_the_spec),
        cmocka_unit_test(verify_refuses_another_namespace),
        cmocka_unit_test(verify_refuses_a_flipped_signature_byte),
        cmocka_unit_test(verify_refuses_another_message),
        cmocka_unit_test(verify_refuses_a_truncated_blob),
        cmocka_unit_test(verify_refuses_a_wrong_magic),
        cmocka_unit_test(verify_refuses_a_length_larger_than_the_data),
        cmocka_unit_test(verify_refuses_trailing_bytes),
        cmocka_unit_test(verify_refuses_another_version),
        cmocka_unit_test(verify_refuses_a_non_ed25519_key),
        cmocka_unit_test(verify_refuses_a_signature_type_that_differs_from_the_key),
        cmocka_unit_test(verify_refuses_a_short_public_key),
        cmocka_unit_test(verify_refuses_an_unsupported_hash),
        cmocka_unit_test(verify_refuses_a_reserved_field),
        cmocka_unit_test(verify_refuses_bad_base64),
        cmocka_unit_test(verify_refuses_a_missing_end_line),
        cmocka_unit_test(verify_refuses_a_missing_begin_line),
        cmocka_unit_test(verify_refuses_text_after_the_end_line),
        cmocka_unit_test(verify_refuses_a_blank_line_inside_the_armor),
        cmocka_unit_test(verify_refuses_an_oversize_armor),
        cmocka_unit_test(verify_refuses_an_empty_armor),
        T(ssh_keygen_verifies_a_twin_signature_and_makes_the_same_bytes),
        T(twin_verifies_signatures_made_by_ssh_keygen),
        cmocka_unit_test(split_removes_the_gpgsig_header_and_joins_its_lines),
        cmocka_unit_test(split_ignores_gpgsig_lines_in_the_message),
        cmocka_unit_test(split_keeps_a_gpgsig_line_of_the_message_in_the_payload),
        cmocka_unit_test(split_leaves_a_gpgsig_sha256_header_in_the_payload),
        cmocka_unit_test(split_refuses_two_gpgsig_headers),
        cmocka_unit_test(split_handles_a_commit_without_message),
        cmocka_unit_test(split_bounds_the_commit_and_the_signature),
        T(commit_signed_by_git_splits_and_verifies),
        T(unsigned_commit_with_gpgsig_in_its_body_is_not_found),
    };
#undef T
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
