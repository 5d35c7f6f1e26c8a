/*
 * SSH signatures as OpenSSH's PROTOCOL.sshsig defines them, Ed25519 only. Wire layout:
 *
 *   blob:   "SSHSIG" uint32 version(1) string publickey string namespace string reserved("")
 *           string hash_algorithm("sha512") string signature
 *   publickey: string "ssh-ed25519" string pk[32]
 *   signature: string "ssh-ed25519" string sig[64]
 *   signed data: "SSHSIG" string namespace string reserved string hash_algorithm
 *                string H(message)
 *
 * The signed data is signed with plain Ed25519. The armor is the base64 of the blob in
 * 70-column lines between "-----BEGIN SSH SIGNATURE-----" and "-----END SSH SIGNATURE-----".
 * Everything read from a signature is untrusted: each length is checked against the bytes
 * present before it is consumed.
 */
#include "twin/sshsig.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/sshbuf.h"
#include "twin/error.h"

#define SIG_MAGIC         "SSHSIG"
#define SIG_MAGIC_LEN     6
#define SIG_VERSION       1
#define SIG_HASH          "sha512"
#define SIG_ED25519_BYTES 64
#define SIG_NAMESPACE_MAX 256
#define SIG_BLOB_MAX      (TWIN_SSHSIG_ARMOR_MAX / 4 * 3)
/* What is signed: magic, namespace, reserved, hash name and a hash of at most 64 bytes. */
#define SIG_SIGNED_MAX (SIG_MAGIC_LEN + 4 + SIG_BLOB_MAX + 4 + SIG_BLOB_MAX + 4 + 16 + 4 + 64)

static const struct twin_sshbuf_armor sig_armor = {
    .label = "SSH SIGNATURE",
    .context = "sshsig",
    .noun = "signature",
    .text_max = TWIN_SSHSIG_ARMOR_MAX,
    .final_newline = false, /* as ssh-keygen's output without its final newline, and git's */
    .trailing_blanks = false,
    .public_blob = true,
};

/* Reads one string field of the blob, naming the field when it does not fit. */
static int read_field(struct twin_sshbuf_reader *r, const unsigned char **s, size_t *len,
                      const char *field)
{
    uint32_t n = 0;
    if (twin_sshbuf_get_string(r, s, len) == 0)
        return 0;
    if (twin_sshbuf_peek_u32(r, &n) < 0)
        return twin_error(TWIN_EINVALID, "sshsig: signature blob truncated at %s", field);
    return twin_error(TWIN_EINVALID,
                      "sshsig: %s length %" PRIu32 " exceeds the %zu bytes left in the blob", field,
                      n, r->left - 4);
}

/* --- signing and verifying --- */

/* What signing and verifying both require: a namespace of 1 to SIG_NAMESPACE_MAX bytes, and a
 * message unless it is empty. verb names the operation in the message. */
static int check_request(const char *ns, size_t *ns_len, const void *msg, size_t msg_len,
                         const char *verb)
{
    if (!ns || !*ns)
        return twin_error(TWIN_EINVALID, "sshsig: the namespace must not be empty");
    *ns_len = strnlen(ns, SIG_NAMESPACE_MAX + 1);
    if (*ns_len > SIG_NAMESPACE_MAX)
        return twin_error(TWIN_EINVALID, "sshsig: namespace longer than %d bytes",
                          SIG_NAMESPACE_MAX);
    if (!msg && msg_len > 0)
        return twin_error(TWIN_EINVALID, "sshsig: no message to %s", verb);
    return 0;
}

/* Builds the bytes the Ed25519 signature covers. */
static int signed_data(struct twin_sshbuf *w, const unsigned char *ns, size_t ns_len,
                       const unsigned char *reserved, size_t reserved_len, const char *hash_name,
                       const void *msg, size_t msg_len)
{
    unsigned char hash[crypto_hash_sha512_BYTES];
    size_t hash_len;

    if (strcmp(hash_name, "sha512") == 0) {
        crypto_hash_sha512(hash, msg, msg_len);
        hash_len = crypto_hash_sha512_BYTES;
    } else {
        crypto_hash_sha256(hash, msg, msg_len);
        hash_len = crypto_hash_sha256_BYTES;
    }
    twin_sshbuf_put(w, SIG_MAGIC, SIG_MAGIC_LEN);
    twin_sshbuf_put_string(w, ns, ns_len);
    twin_sshbuf_put_string(w, reserved, reserved_len);
    twin_sshbuf_put_string(w, hash_name, strlen(hash_name));
    twin_sshbuf_put_string(w, hash, hash_len);
    if (w->error < 0)
        return twin_error_wrap(w->error, "sshsig: signed data");
    return 0;
}

int twin_sshsig_sign(char **out, size_t *out_len, const twin_keypair *kp, const char *ns,
                     const void *msg, size_t msg_len)
{
    unsigned char pub[TWIN_SSHBUF_ED25519_BLOB_LEN(TWIN_PUBKEY_BYTES)];
    unsigned char sig[SIG_ED25519_BYTES];
    unsigned char sig_field[TWIN_SSHBUF_ED25519_BLOB_LEN(SIG_ED25519_BYTES)];
    struct twin_sshbuf data, blob;
    size_t ns_len = 0;
    int error;

    if ((error = check_request(ns, &ns_len, msg, msg_len, "sign")) < 0)
        return error;
    if (sodium_init() < 0)
        return twin_error(TWIN_ERROR, "sshsig: libsodium failed to initialise");
    /* The secret key embeds its public half; a mismatch would sign for a key we don't name. */
    if (sodium_memcmp(kp->pk, kp->sk + 32, TWIN_PUBKEY_BYTES) != 0)
        return twin_error(TWIN_EINVALID, "sshsig: public and secret halves of the key differ");

    twin_sshbuf_init(&data, SIG_SIGNED_MAX);
    twin_sshbuf_init(&blob, SIG_BLOB_MAX);
    if ((error = signed_data(&data, (const unsigned char *)ns, ns_len, NULL, 0, SIG_HASH, msg,
                             msg_len)) < 0)
        goto cleanup;
    if (crypto_sign_detached(sig, NULL, data.data, data.len, kp->sk) != 0) {
        error = twin_error(TWIN_ERROR, "sshsig: Ed25519 signing failed");
        goto cleanup;
    }

    twin_sshbuf_ed25519_blob(pub, kp->pk, TWIN_PUBKEY_BYTES);
    twin_sshbuf_ed25519_blob(sig_field, sig, SIG_ED25519_BYTES);
    twin_sshbuf_put(&blob, SIG_MAGIC, SIG_MAGIC_LEN);
    twin_sshbuf_put_u32(&blob, SIG_VERSION);
    twin_sshbuf_put_string(&blob, pub, sizeof(pub));
    twin_sshbuf_put_string(&blob, ns, ns_len);
    twin_sshbuf_put_string(&blob, "", 0);
    twin_sshbuf_put_string(&blob, SIG_HASH, strlen(SIG_HASH));
    twin_sshbuf_put_string(&blob, sig_field, sizeof(sig_field));
    if (blob.error < 0) {
        error = twin_error_wrap(TWIN_ERROR, "sshsig: signature blob");
        goto cleanup;
    }
    error = twin_sshbuf_armor(out, out_len, &sig_armor, blob.data, blob.len);

cleanup:
    twin_sshbuf_free(&data);
    twin_sshbuf_free(&blob);
    return error;
}

/* `string "ssh-ed25519" string body[body_len]` filling the whole field. */
static int parse_typed(const unsigned char **body, const unsigned char *field, size_t field_len,
                       size_t body_len, const char *what)
{
    struct twin_sshbuf_reader r;
    const unsigned char *type, *bytes;
    size_t type_len, bytes_len;
    char shown[TWIN_SSHBUF_PRINTABLE_MAX];
    int error;

    twin_sshbuf_reader_init(&r, field, field_len);
    if ((error = read_field(&r, &type, &type_len, what)) < 0)
        return error;
    if (!twin_sshbuf_string_is(type, type_len, TWIN_SSHBUF_ED25519))
        return twin_error(TWIN_EVERIFY,
                          "sshsig: %s type \"%s\" is not supported; twin verifies ssh-ed25519 "
                          "signatures only",
                          what, twin_sshbuf_printable(shown, type, type_len));
    if ((error = read_field(&r, &bytes, &bytes_len, what)) < 0)
        return error;
    if (bytes_len != body_len)
        return twin_error(TWIN_EINVALID, "sshsig: ssh-ed25519 %s is %zu bytes, not %zu", what,
                          bytes_len, body_len);
    if (r.left != 0)
        return twin_error(TWIN_EINVALID, "sshsig: %zu unexpected bytes after the %s", r.left, what);
    *body = bytes;
    return 0;
}

/* Checks a decoded signature blob over msg; the signed bytes are rebuilt in data. */
static int verify_blob(unsigned char signer_pk[static TWIN_PUBKEY_BYTES], struct twin_sshbuf *data,
                       const unsigned char *blob, size_t blob_len, const char *ns, size_t ns_len,
                       const void *msg, size_t msg_len)
{
    struct twin_sshbuf_reader r;
    const unsigned char *pubkey, *sig_ns, *reserved, *hash, *signature, *pk, *sig;
    size_t pubkey_len, sig_ns_len, reserved_len, hash_len, signature_len;
    const char *hash_name;
    uint32_t version;
    char shown[TWIN_SSHBUF_PRINTABLE_MAX], shown_ns[TWIN_SSHBUF_PRINTABLE_MAX];
    int error;

    if (blob_len == 0)
        return twin_error(TWIN_EINVALID, "sshsig: armor holds no signature");
    twin_sshbuf_reader_init(&r, blob, blob_len);
    if (twin_sshbuf_get_magic(&r, SIG_MAGIC, SIG_MAGIC_LEN) < 0)
        return twin_error(TWIN_EINVALID, "sshsig: signature blob does not start with \"%s\"",
                          SIG_MAGIC);
    if (twin_sshbuf_get_u32(&r, &version) < 0)
        return twin_error(TWIN_EINVALID, "sshsig: signature blob truncated at version");
    if (version != SIG_VERSION)
        return twin_error(TWIN_EINVALID, "sshsig: signature version %" PRIu32 " is not supported",
                          version);
    if ((error = read_field(&r, &pubkey, &pubkey_len, "public key")) < 0 ||
        (error = read_field(&r, &sig_ns, &sig_ns_len, "namespace")) < 0 ||
        (error = read_field(&r, &reserved, &reserved_len, "reserved field")) < 0 ||
        (error = read_field(&r, &hash, &hash_len, "hash algorithm")) < 0 ||
        (error = read_field(&r, &signature, &signature_len, "signature")) < 0)
        return error;
    if (r.left != 0)
        return twin_error(TWIN_EINVALID, "sshsig: %zu unexpected bytes after the signature",
                          r.left);

    if ((error = parse_typed(&pk, pubkey, pubkey_len, TWIN_PUBKEY_BYTES, "public key")) < 0)
        return error;
    if (!twin_sshbuf_string_is(sig_ns, sig_ns_len, ns))
        return twin_error(TWIN_EVERIFY, "sshsig: signature namespace \"%s\" is not \"%s\"",
                          twin_sshbuf_printable(shown, sig_ns, sig_ns_len),
                          twin_sshbuf_printable(shown_ns, (const unsigned char *)ns, ns_len));
    if (reserved_len != 0)
        return twin_error(TWIN_EINVALID, "sshsig: reserved field is not empty");
    if (twin_sshbuf_string_is(hash, hash_len, "sha512"))
        hash_name = "sha512";
    else if (twin_sshbuf_string_is(hash, hash_len, "sha256"))
        hash_name = "sha256";
    else
        return twin_error(TWIN_EVERIFY,
                          "sshsig: hash algorithm \"%s\" is not supported (sha512 or sha256)",
                          twin_sshbuf_printable(shown, hash, hash_len));
    if ((error = parse_typed(&sig, signature, signature_len, SIG_ED25519_BYTES, "signature")) < 0)
        return error;

    if ((error = signed_data(data, sig_ns, sig_ns_len, reserved, reserved_len, hash_name, msg,
                             msg_len)) < 0)
        return error;
    if (crypto_sign_verify_detached(sig, data->data, data->len, pk) != 0)
        return twin_error(TWIN_EVERIFY, "sshsig: signature does not verify");
    memcpy(signer_pk, pk, TWIN_PUBKEY_BYTES);
    return 0;
}

int twin_sshsig_verify(unsigned char signer_pk[static TWIN_PUBKEY_BYTES], const char *armor,
                       size_t armor_len, const char *ns, const void *msg, size_t msg_len)
{
    struct twin_sshbuf blob, data;
    size_t ns_len = 0;
    int error;

    if ((error = check_request(ns, &ns_len, msg, msg_len, "verify")) < 0)
        return error;
    twin_sshbuf_init(&blob, SIG_BLOB_MAX);
    twin_sshbuf_init(&data, SIG_SIGNED_MAX);
    if ((error = twin_sshbuf_dearmor(&blob, &sig_armor, armor, armor_len)) == 0)
        error = verify_blob(signer_pk, &data, blob.data, blob.len, ns, ns_len, msg, msg_len);
    twin_sshbuf_free(&blob);
    twin_sshbuf_free(&data);
    return error;
}

/* --- commits --- */

#define GPGSIG_HEADER     "gpgsig "
#define GPGSIG_HEADER_LEN 7

int twin_sshsig_split_commit(char **sig, size_t *sig_len, char **payload, size_t *payload_len,
                             const char *raw, size_t raw_len)
{
    char *sig_buf = NULL, *payload_buf = NULL;
    size_t sig_n = 0, payload_n = 0, pos = 0;
    bool in_signature = false, saw_signature = false;
    int error;

    if (raw_len > TWIN_SSHSIG_COMMIT_MAX)
        return twin_error(TWIN_ELIMIT, "commit: %zu bytes, more than the %d allowed", raw_len,
                          TWIN_SSHSIG_COMMIT_MAX);
    sig_buf = malloc(TWIN_SSHSIG_ARMOR_MAX + 1);
    payload_buf = malloc(raw_len + 1);
    if (!sig_buf || !payload_buf) {
        error = twin_error(TWIN_ERROR, "commit: out of memory");
        goto cleanup;
    }

    while (pos < raw_len) {
        const char *line = raw + pos;
        const char *nl = memchr(line, '\n', raw_len - pos);
        size_t line_len = nl ? (size_t)(nl - line) + 1 : raw_len - pos;
        size_t text_len = nl ? line_len - 1 : line_len; /* without the "\n" */
        const char *text = NULL;
        size_t n = 0, sep = 0;

        if (line[0] == '\n') {
            /* The blank line ends the headers: the message goes to the payload untouched. */
            memcpy(payload_buf + payload_n, line, raw_len - pos);
            payload_n += raw_len - pos;
            break;
        }
        if (in_signature && line[0] == ' ') {
            text = line + 1;
            n = text_len - 1;
            sep = 1; /* continuation lines join with "\n" */
        } else if (text_len >= GPGSIG_HEADER_LEN &&
                   memcmp(line, GPGSIG_HEADER, GPGSIG_HEADER_LEN) == 0) {
            if (saw_signature) {
                error = twin_error(TWIN_EINVALID, "commit: more than one gpgsig header");
                goto cleanup;
            }
            saw_signature = in_signature = true;
            text = line + GPGSIG_HEADER_LEN;
            n = text_len - GPGSIG_HEADER_LEN;
        }
        if (text) {
            if (n > TWIN_SSHSIG_ARMOR_MAX - sig_n || sep > TWIN_SSHSIG_ARMOR_MAX - sig_n - n) {
                error = twin_error(TWIN_ELIMIT, "commit: signature longer than %d bytes",
                                   TWIN_SSHSIG_ARMOR_MAX);
                goto cleanup;
            }
            if (sep)
                sig_buf[sig_n++] = '\n';
            memcpy(sig_buf + sig_n, text, n);
            sig_n += n;
        } else {
            /* Any other header, including "gpgsig-sha256" and its continuation lines. */
            in_signature = false;
            memcpy(payload_buf + payload_n, line, line_len);
            payload_n += line_len;
        }
        pos += line_len;
    }
    if (!saw_signature) {
        error = twin_error(TWIN_ENOTFOUND, "commit: no gpgsig header (the commit is unsigned)");
        goto cleanup;
    }
    sig_buf[sig_n] = '\0';
    payload_buf[payload_n] = '\0';
    *sig = sig_buf;
    *sig_len = sig_n;
    *payload = payload_buf;
    *payload_len = payload_n;
    sig_buf = payload_buf = NULL;
    error = 0;

cleanup:
    free(sig_buf);
    free(payload_buf);
    return error;
}
