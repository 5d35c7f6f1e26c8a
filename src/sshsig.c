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

#include "twin/error.h"

#define SIG_MAGIC         "SSHSIG"
#define SIG_MAGIC_LEN     6
#define SIG_VERSION       1
#define SIG_ARMOR_BEGIN   "-----BEGIN SSH SIGNATURE-----"
#define SIG_ARMOR_END     "-----END SSH SIGNATURE-----"
#define SIG_LINE_COLUMNS  70
#define SIG_KEY_TYPE      "ssh-ed25519"
#define SIG_KEY_TYPE_LEN  11
#define SIG_HASH          "sha512"
#define SIG_ED25519_BYTES 64
#define SIG_NAMESPACE_MAX 256
#define SIG_BLOB_MAX      (TWIN_SSHSIG_ARMOR_MAX / 4 * 3)
/* What is signed: magic, namespace, reserved, hash name and a hash of at most 64 bytes. */
#define SIG_SIGNED_MAX (SIG_MAGIC_LEN + 4 + SIG_BLOB_MAX + 4 + SIG_BLOB_MAX + 4 + 16 + 4 + 64)

/* --- bounded reading and writing of SSH wire strings --- */

struct reader {
    const unsigned char *p;
    size_t left;
};

static bool read_u32(struct reader *r, uint32_t *v)
{
    if (r->left < 4)
        return false;
    *v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
    r->p += 4;
    r->left -= 4;
    return true;
}

/* Reads one string field of the blob, naming the field when it does not fit. */
static int read_field(struct reader *r, const unsigned char **s, size_t *len, const char *field)
{
    uint32_t n;
    if (r->left < 4)
        return twin_error(TWIN_EINVALID, "sshsig: signature blob truncated at %s", field);
    n = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
    if (n > r->left - 4)
        return twin_error(TWIN_EINVALID,
                          "sshsig: %s length %" PRIu32 " exceeds the %zu bytes left in the blob",
                          field, n, r->left - 4);
    *s = r->p + 4;
    *len = n;
    r->p += 4 + (size_t)n;
    r->left -= 4 + (size_t)n;
    return 0;
}

static bool string_is(const unsigned char *s, size_t len, const char *want)
{
    size_t n = strlen(want);
    return len == n && memcmp(s, want, n) == 0;
}

/* A short, printable rendering of untrusted bytes for an error message. */
static const char *printable(char out[48], const unsigned char *s, size_t n)
{
    size_t m = n > 40 ? 40 : n;
    for (size_t i = 0; i < m; i++)
        out[i] = s[i] >= 0x20 && s[i] < 0x7f ? (char)s[i] : '?';
    memcpy(out + m, n > m ? "..." : "", n > m ? 4 : 1);
    return out;
}

struct writer {
    unsigned char *p;
    size_t len, cap;
    bool overflow; /* sticky: checked once at the end */
};

static void put_bytes(struct writer *w, const void *b, size_t n)
{
    if (w->overflow || n > w->cap - w->len) {
        w->overflow = true;
        return;
    }
    if (n == 0) /* b may be NULL then, which memcpy does not allow */
        return;
    memcpy(w->p + w->len, b, n);
    w->len += n;
}

static void put_u32(struct writer *w, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    put_bytes(w, b, 4);
}

static void put_string(struct writer *w, const void *s, size_t n)
{
    if (n > UINT32_MAX) {
        w->overflow = true;
        return;
    }
    put_u32(w, (uint32_t)n);
    put_bytes(w, s, n);
}

/* --- armor --- */

static bool is_base64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/' || c == '=';
}

/* Splits off the next line of text[*pos..len), without its "\n" or "\r\n". Returns false at
 * the end of the text. */
static bool next_line(const char *text, size_t len, size_t *pos, const char **line,
                      size_t *line_len)
{
    if (*pos >= len)
        return false;
    const char *start = text + *pos;
    const char *nl = memchr(start, '\n', len - *pos);
    size_t n = nl ? (size_t)(nl - start) : len - *pos;
    *pos += nl ? n + 1 : n;
    if (nl && n > 0 && start[n - 1] == '\r')
        n--;
    *line = start;
    *line_len = n;
    return true;
}

/* Accepts the BEGIN line, base64 lines of any width and the END line, each line ending in
 * "\n" or "\r\n" (the END line may end the text). Anything else is refused. */
static int sig_dearmor(unsigned char *bin, size_t bin_max, size_t *bin_len, const char *text,
                       size_t len)
{
    char b64[TWIN_SSHSIG_ARMOR_MAX];
    size_t b64_len = 0, pos = 0, n;
    const char *line;
    bool ended = false;

    if (len > TWIN_SSHSIG_ARMOR_MAX)
        return twin_error(TWIN_ELIMIT, "sshsig: armored signature is %zu bytes, more than %d", len,
                          TWIN_SSHSIG_ARMOR_MAX);
    if (!next_line(text, len, &pos, &line, &n) ||
        !string_is((const unsigned char *)line, n, SIG_ARMOR_BEGIN))
        return twin_error(TWIN_EINVALID, "sshsig: armor does not start with \"%s\"",
                          SIG_ARMOR_BEGIN);
    while (next_line(text, len, &pos, &line, &n)) {
        if (string_is((const unsigned char *)line, n, SIG_ARMOR_END)) {
            ended = true;
            break;
        }
        if (n == 0)
            return twin_error(TWIN_EINVALID, "sshsig: blank line inside the armor");
        for (size_t i = 0; i < n; i++) {
            if (!is_base64_char(line[i]))
                return twin_error(TWIN_EINVALID, "sshsig: armor is not valid base64");
        }
        memcpy(b64 + b64_len, line, n); /* lines are disjoint parts of text, len <= sizeof */
        b64_len += n;
    }
    if (!ended)
        return twin_error(TWIN_EINVALID, "sshsig: missing \"%s\" line", SIG_ARMOR_END);
    if (pos != len)
        return twin_error(TWIN_EINVALID, "sshsig: unexpected text after \"%s\"", SIG_ARMOR_END);
    if (b64_len == 0)
        return twin_error(TWIN_EINVALID, "sshsig: armor holds no signature");
    if (sodium_base642bin(bin, bin_max, b64, b64_len, NULL, bin_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return twin_error(TWIN_EINVALID, "sshsig: armor is not valid base64");
    return 0;
}

static int sig_armor(char **out, size_t *out_len, const unsigned char *blob, size_t blob_len)
{
    char b64[sodium_base64_ENCODED_LEN(SIG_BLOB_MAX, sodium_base64_VARIANT_ORIGINAL)];
    size_t b64_len, lines, total, pos;
    char *text;

    if (blob_len > SIG_BLOB_MAX)
        return twin_error(TWIN_ELIMIT, "sshsig: signature blob of %zu bytes is too large",
                          blob_len);
    sodium_bin2base64(b64, sizeof(b64), blob, blob_len, sodium_base64_VARIANT_ORIGINAL);
    b64_len = strlen(b64);
    lines = (b64_len + SIG_LINE_COLUMNS - 1) / SIG_LINE_COLUMNS;
    total = strlen(SIG_ARMOR_BEGIN) + 1 + b64_len + lines + strlen(SIG_ARMOR_END);
    if ((text = malloc(total + 1)) == NULL)
        return twin_error(TWIN_ERROR, "sshsig: out of memory");
    pos = strlen(SIG_ARMOR_BEGIN) + 1;
    memcpy(text, SIG_ARMOR_BEGIN "\n", pos);
    for (size_t i = 0; i < b64_len; i += SIG_LINE_COLUMNS) {
        size_t n = b64_len - i < SIG_LINE_COLUMNS ? b64_len - i : SIG_LINE_COLUMNS;
        memcpy(text + pos, b64 + i, n);
        pos += n;
        text[pos++] = '\n';
    }
    memcpy(text + pos, SIG_ARMOR_END, strlen(SIG_ARMOR_END) + 1);
    pos += strlen(SIG_ARMOR_END);
    *out = text;
    *out_len = pos;
    return 0;
}

/* --- signing and verifying --- */

static int check_namespace(const char *ns, size_t *ns_len)
{
    if (!ns || !*ns)
        return twin_error(TWIN_EINVALID, "sshsig: the namespace must not be empty");
    *ns_len = strnlen(ns, SIG_NAMESPACE_MAX + 1);
    if (*ns_len > SIG_NAMESPACE_MAX)
        return twin_error(TWIN_EINVALID, "sshsig: namespace longer than %d bytes",
                          SIG_NAMESPACE_MAX);
    return 0;
}

/* Builds the bytes the Ed25519 signature covers. */
static int signed_data(struct writer *w, const unsigned char *ns, size_t ns_len,
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
    put_bytes(w, SIG_MAGIC, SIG_MAGIC_LEN);
    put_string(w, ns, ns_len);
    put_string(w, reserved, reserved_len);
    put_string(w, hash_name, strlen(hash_name));
    put_string(w, hash, hash_len);
    if (w->overflow)
        return twin_error(TWIN_ELIMIT, "sshsig: signed data does not fit");
    return 0;
}

int twin_sshsig_sign(char **out, size_t *out_len, const twin_keypair *kp, const char *ns,
                     const void *msg, size_t msg_len)
{
    unsigned char data[SIG_MAGIC_LEN + 4 + SIG_NAMESPACE_MAX + 4 + 4 + 16 + 4 + 64];
    unsigned char blob[256 + SIG_NAMESPACE_MAX];
    unsigned char sig[SIG_ED25519_BYTES];
    struct writer d = {data, 0, sizeof(data), false};
    struct writer b = {blob, 0, sizeof(blob), false};
    size_t ns_len;
    int error;

    if ((error = check_namespace(ns, &ns_len)) < 0)
        return error;
    if (!msg && msg_len > 0)
        return twin_error(TWIN_EINVALID, "sshsig: no message to sign");
    if (sodium_init() < 0)
        return twin_error(TWIN_ERROR, "sshsig: libsodium failed to initialise");
    /* The secret key embeds its public half; a mismatch would sign for a key we don't name. */
    if (sodium_memcmp(kp->pk, kp->sk + 32, TWIN_PUBKEY_BYTES) != 0)
        return twin_error(TWIN_EINVALID, "sshsig: public and secret halves of the key differ");

    if ((error = signed_data(&d, (const unsigned char *)ns, ns_len, NULL, 0, SIG_HASH, msg,
                             msg_len)) < 0)
        return error;
    if (crypto_sign_detached(sig, NULL, data, d.len, kp->sk) != 0)
        return twin_error(TWIN_ERROR, "sshsig: Ed25519 signing failed");

    put_bytes(&b, SIG_MAGIC, SIG_MAGIC_LEN);
    put_u32(&b, SIG_VERSION);
    put_u32(&b, 4 + SIG_KEY_TYPE_LEN + 4 + TWIN_PUBKEY_BYTES);
    put_string(&b, SIG_KEY_TYPE, SIG_KEY_TYPE_LEN);
    put_string(&b, kp->pk, TWIN_PUBKEY_BYTES);
    put_string(&b, ns, ns_len);
    put_string(&b, "", 0);
    put_string(&b, SIG_HASH, strlen(SIG_HASH));
    put_u32(&b, 4 + SIG_KEY_TYPE_LEN + 4 + SIG_ED25519_BYTES);
    put_string(&b, SIG_KEY_TYPE, SIG_KEY_TYPE_LEN);
    put_string(&b, sig, SIG_ED25519_BYTES);
    if (b.overflow)
        return twin_error(TWIN_ERROR, "sshsig: signature blob does not fit");
    return sig_armor(out, out_len, blob, b.len);
}

/* `string "ssh-ed25519" string body[body_len]` filling the whole field. */
static int parse_typed(const unsigned char **body, const unsigned char *field, size_t field_len,
                       size_t body_len, const char *what)
{
    struct reader r = {field, field_len};
    const unsigned char *type, *bytes;
    size_t type_len, bytes_len;
    char shown[48];
    int error;

    if ((error = read_field(&r, &type, &type_len, what)) < 0)
        return error;
    if (!string_is(type, type_len, SIG_KEY_TYPE))
        return twin_error(TWIN_EVERIFY,
                          "sshsig: %s type \"%s\" is not supported; twin verifies ssh-ed25519 "
                          "signatures only",
                          what, printable(shown, type, type_len));
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

int twin_sshsig_verify(unsigned char signer_pk[static TWIN_PUBKEY_BYTES], const char *armor,
                       size_t armor_len, const char *ns, const void *msg, size_t msg_len)
{
    unsigned char blob[SIG_BLOB_MAX];
    unsigned char *data = NULL;
    size_t blob_len = 0, expected_ns_len;
    struct reader r;
    const unsigned char *pubkey, *sig_ns, *reserved, *hash, *signature, *pk, *sig;
    size_t pubkey_len, sig_ns_len, reserved_len, hash_len, signature_len;
    const char *hash_name;
    struct writer d;
    uint32_t version;
    char shown[48], shown_ns[48];
    int error;

    if ((error = check_namespace(ns, &expected_ns_len)) < 0)
        return error;
    if (!msg && msg_len > 0)
        return twin_error(TWIN_EINVALID, "sshsig: no message to verify");
    if ((error = sig_dearmor(blob, sizeof(blob), &blob_len, armor, armor_len)) < 0)
        return error;

    r = (struct reader){blob, blob_len};
    if (r.left < SIG_MAGIC_LEN || memcmp(r.p, SIG_MAGIC, SIG_MAGIC_LEN) != 0)
        return twin_error(TWIN_EINVALID, "sshsig: signature blob does not start with \"%s\"",
                          SIG_MAGIC);
    r.p += SIG_MAGIC_LEN;
    r.left -= SIG_MAGIC_LEN;
    if (!read_u32(&r, &version))
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
    if (!string_is(sig_ns, sig_ns_len, ns))
        return twin_error(TWIN_EVERIFY, "sshsig: signature namespace \"%s\" is not \"%s\"",
                          printable(shown, sig_ns, sig_ns_len),
                          printable(shown_ns, (const unsigned char *)ns, expected_ns_len));
    if (reserved_len != 0)
        return twin_error(TWIN_EINVALID, "sshsig: reserved field is not empty");
    if (string_is(hash, hash_len, "sha512"))
        hash_name = "sha512";
    else if (string_is(hash, hash_len, "sha256"))
        hash_name = "sha256";
    else
        return twin_error(TWIN_EVERIFY,
                          "sshsig: hash algorithm \"%s\" is not supported (sha512 or sha256)",
                          printable(shown, hash, hash_len));
    if ((error = parse_typed(&sig, signature, signature_len, SIG_ED25519_BYTES, "signature")) < 0)
        return error;

    if ((data = malloc(SIG_SIGNED_MAX)) == NULL)
        return twin_error(TWIN_ERROR, "sshsig: out of memory");
    d = (struct writer){data, 0, SIG_SIGNED_MAX, false};
    if ((error = signed_data(&d, sig_ns, sig_ns_len, reserved, reserved_len, hash_name, msg,
                             msg_len)) < 0)
        goto cleanup;
    if (crypto_sign_verify_detached(sig, data, d.len, pk) != 0) {
        error = twin_error(TWIN_EVERIFY, "sshsig: signature does not verify");
        goto cleanup;
    }
    memcpy(signer_pk, pk, TWIN_PUBKEY_BYTES);
    error = 0;

cleanup:
    free(data);
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
