/*
 * Node keys. The secret key file is OpenSSH's "openssh-key-v1" format, unencrypted, so the same
 * file works with ssh-keygen (and therefore with stock git's SSH signing). Layout (PROTOCOL.key):
 *
 *   armor:   "-----BEGIN OPENSSH PRIVATE KEY-----", the blob as base64 in 70-column lines,
 *            "-----END OPENSSH PRIVATE KEY-----", every line ending in "\n"
 *   blob:    "openssh-key-v1\0" string cipher("none") string kdf("none") string kdfoptions("")
 *            uint32 nkeys(1) string publickey string private-section
 *   public:  string "ssh-ed25519" string pk[32]
 *   private: uint32 checkint uint32 checkint (equal, random) string "ssh-ed25519"
 *            string pk[32] string sk[64] (seed || pk) string comment,
 *            padded with bytes 1, 2, 3, ... to a multiple of 8
 *
 * Strings are a big-endian uint32 length then the bytes. Every buffer that held the private
 * section or its base64 is wiped before it is freed.
 */
#include "twin/key.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/sshbuf.h"
#include "twin/error.h"
#include "base/util.h"

#define KEY_MAGIC        "openssh-key-v1"
#define KEY_MAGIC_LEN    15   /* including the NUL */
#define KEY_BLOCK_SIZE   8    /* cipher "none" */
#define KEY_FILE_MAX     8192 /* an Ed25519 key file with a long comment is under 2 KiB */
#define KEY_BLOB_MAX     (KEY_FILE_MAX / 4 * 3)
#define KEY_COMMENT_MAX  1024
#define PUB_BLOB_LEN     TWIN_SSHBUF_ED25519_BLOB_LEN(TWIN_PUBKEY_BYTES) /* 51 */
#define OPENSSH_LINE_MAX 8192

static const struct twin_sshbuf_armor key_armor = {
    .label = "OPENSSH PRIVATE KEY",
    .context = "key file",
    .noun = "key",
    .text_max = KEY_FILE_MAX,
    .final_newline = true,
    .trailing_blanks = true, /* editors may leave blank lines at the end of a file */
};

static int sodium_ready(void)
{
    if (sodium_init() < 0)
        return twin_error(TWIN_ERROR, "key: libsodium failed to initialise");
    return 0;
}

/* --- public key blob --- */

/* Parses `string "ssh-ed25519" string pk[32]` filling the whole of blob. */
static int parse_pub_blob(unsigned char pk[TWIN_PUBKEY_BYTES], const unsigned char *blob,
                          size_t len, const char *what)
{
    struct twin_sshbuf_reader r;
    const unsigned char *type, *key;
    size_t type_len, key_len;
    char shown[TWIN_SSHBUF_PRINTABLE_MAX];

    twin_sshbuf_reader_init(&r, blob, len);
    if (twin_sshbuf_get_string(&r, &type, &type_len) < 0)
        return twin_error(TWIN_EINVALID, "%s: public key truncated at key type", what);
    if (!twin_sshbuf_string_is(type, type_len, TWIN_SSHBUF_ED25519))
        return twin_error(TWIN_EINVALID,
                          "%s: key type \"%s\" is not supported; twin uses ssh-ed25519 keys", what,
                          twin_sshbuf_printable(shown, type, type_len));
    if (twin_sshbuf_get_string(&r, &key, &key_len) < 0)
        return twin_error(TWIN_EINVALID, "%s: public key truncated at key bytes", what);
    if (key_len != TWIN_PUBKEY_BYTES)
        return twin_error(TWIN_EINVALID, "%s: ssh-ed25519 key is %zu bytes, not 32", what, key_len);
    if (r.left != 0)
        return twin_error(TWIN_EINVALID, "%s: %zu unexpected bytes after the public key", what,
                          r.left);
    memcpy(pk, key, TWIN_PUBKEY_BYTES);
    return 0;
}

/* --- key pairs --- */

static bool halves_match(const unsigned char pk[TWIN_PUBKEY_BYTES],
                         const unsigned char sk[TWIN_SECKEY_BYTES])
{
    unsigned char derived_pk[TWIN_PUBKEY_BYTES], derived_sk[TWIN_SECKEY_BYTES];
    bool ok = crypto_sign_seed_keypair(derived_pk, derived_sk, sk) == 0 &&
              sodium_memcmp(derived_pk, pk, TWIN_PUBKEY_BYTES) == 0 &&
              sodium_memcmp(sk + 32, pk, TWIN_PUBKEY_BYTES) == 0;
    sodium_memzero(derived_sk, sizeof(derived_sk));
    return ok;
}

int twin_key_generate(twin_keypair *out)
{
    twin_keypair kp;
    int error;

    if ((error = sodium_ready()) < 0)
        return error;
    if (crypto_sign_keypair(kp.pk, kp.sk) != 0)
        return twin_error(TWIN_ERROR, "key: generating an Ed25519 key failed");
    *out = kp;
    sodium_memzero(&kp, sizeof(kp));
    return 0;
}

void twin_key_wipe(twin_keypair *kp)
{
    if (kp)
        sodium_memzero(kp, sizeof(*kp));
}

int twin_key_parse_private(twin_keypair *out, const char *text, size_t len)
{
    struct twin_sshbuf blob;
    struct twin_sshbuf_reader r, priv;
    const unsigned char *cipher, *kdf, *kdfopts, *pub, *section, *type, *pk, *sk, *comment;
    size_t cipher_len, kdf_len, kdfopts_len, pub_len, section_len, type_len, pk_len, sk_len,
        comment_len;
    unsigned char header_pk[TWIN_PUBKEY_BYTES];
    uint32_t nkeys, check1, check2;
    int error;

    if (len > KEY_FILE_MAX)
        return twin_error(TWIN_ELIMIT, "key file: larger than %d bytes", KEY_FILE_MAX);
    if ((error = sodium_ready()) < 0)
        return error;
    twin_sshbuf_init(&blob, KEY_BLOB_MAX);
    if ((error = twin_sshbuf_dearmor(&blob, &key_armor, text, len)) < 0)
        goto cleanup;

    error = TWIN_EINVALID;
    twin_sshbuf_reader_init(&r, blob.data, blob.len);
    if (twin_sshbuf_get_magic(&r, KEY_MAGIC, KEY_MAGIC_LEN) < 0) {
        twin_error(error, "key file: not an OpenSSH private key (no \"%s\" magic)", KEY_MAGIC);
        goto cleanup;
    }
    if (twin_sshbuf_get_string(&r, &cipher, &cipher_len) < 0 ||
        twin_sshbuf_get_string(&r, &kdf, &kdf_len) < 0 ||
        twin_sshbuf_get_string(&r, &kdfopts, &kdfopts_len) < 0) {
        twin_error(error, "key file: truncated at the cipher header");
        goto cleanup;
    }
    if (!twin_sshbuf_string_is(cipher, cipher_len, "none") ||
        !twin_sshbuf_string_is(kdf, kdf_len, "none")) {
        twin_error(error, "key file is passphrase-protected; twin needs an unencrypted key "
                          "(remove the passphrase with: ssh-keygen -p -N '' -f FILE)");
        goto cleanup;
    }
    if (kdfopts_len != 0) {
        twin_error(error, "key file: kdf \"none\" with kdf options");
        goto cleanup;
    }
    if (twin_sshbuf_get_u32(&r, &nkeys) < 0) {
        twin_error(error, "key file: truncated at the key count");
        goto cleanup;
    }
    if (nkeys != 1) {
        twin_error(error, "key file: holds %" PRIu32 " keys; twin needs exactly one", nkeys);
        goto cleanup;
    }
    if (twin_sshbuf_get_string(&r, &pub, &pub_len) < 0) {
        twin_error(error, "key file: truncated at the public key");
        goto cleanup;
    }
    if (parse_pub_blob(header_pk, pub, pub_len, "key file") < 0)
        goto cleanup;
    if (twin_sshbuf_get_string(&r, &section, &section_len) < 0) {
        twin_error(error, "key file: truncated at the private section");
        goto cleanup;
    }
    if (r.left != 0) {
        twin_error(error, "key file: %zu unexpected bytes after the private section", r.left);
        goto cleanup;
    }
    if (section_len % KEY_BLOCK_SIZE != 0) {
        twin_error(error, "key file: private section is not a multiple of %d bytes",
                   KEY_BLOCK_SIZE);
        goto cleanup;
    }

    twin_sshbuf_reader_init(&priv, section, section_len);
    if (twin_sshbuf_get_u32(&priv, &check1) < 0 || twin_sshbuf_get_u32(&priv, &check2) < 0) {
        twin_error(error, "key file: truncated at the check integers");
        goto cleanup;
    }
    if (check1 != check2) {
        twin_error(error, "key file: check integers differ (the file is corrupt)");
        goto cleanup;
    }
    if (twin_sshbuf_get_string(&priv, &type, &type_len) < 0 ||
        twin_sshbuf_get_string(&priv, &pk, &pk_len) < 0 ||
        twin_sshbuf_get_string(&priv, &sk, &sk_len) < 0 ||
        twin_sshbuf_get_string(&priv, &comment, &comment_len) < 0) {
        twin_error(error, "key file: private section truncated");
        goto cleanup;
    }
    if (!twin_sshbuf_string_is(type, type_len, TWIN_SSHBUF_ED25519) ||
        pk_len != TWIN_PUBKEY_BYTES || sk_len != TWIN_SECKEY_BYTES) {
        twin_error(error, "key file: private section does not hold an ssh-ed25519 key");
        goto cleanup;
    }
    if (priv.left >= KEY_BLOCK_SIZE) {
        twin_error(error, "key file: %zu unexpected bytes after the private key", priv.left);
        goto cleanup;
    }
    for (size_t i = 0; i < priv.left; i++) {
        if (priv.p[i] != (unsigned char)(i + 1)) {
            twin_error(error, "key file: bad padding after the private key");
            goto cleanup;
        }
    }
    if (memcmp(pk, header_pk, TWIN_PUBKEY_BYTES) != 0 || !halves_match(pk, sk)) {
        twin_error(error, "key file: public and secret halves of the key do not match");
        goto cleanup;
    }
    memcpy(out->pk, pk, TWIN_PUBKEY_BYTES);
    memcpy(out->sk, sk, TWIN_SECKEY_BYTES);
    error = 0;

cleanup:
    twin_sshbuf_free(&blob);
    return error;
}

int twin_key_load(twin_keypair *out, const char *path)
{
    char *text = NULL;
    size_t len = 0;
    struct stat st;
    int fd, error;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENOENT)
            return twin_error(TWIN_ENOTFOUND, "key file %s does not exist", path);
        return twin_error(TWIN_ERROR, "cannot open key file %s: %s", path, strerror(errno));
    }
    if (fstat(fd, &st) != 0) {
        error = twin_error(TWIN_ERROR, "cannot stat key file %s: %s", path, strerror(errno));
        goto cleanup;
    }
    if (!S_ISREG(st.st_mode)) {
        error = twin_error(TWIN_EINVALID, "key file %s is not a regular file", path);
        goto cleanup;
    }
    if ((st.st_mode & 077) != 0) {
        error = twin_error(TWIN_EINVALID,
                           "key file %s is accessible by group or others (mode %04o); "
                           "protect it with: chmod 600 %s",
                           path, (unsigned)(st.st_mode & 07777), path);
        goto cleanup;
    }
    /* One byte more than the bound, so an oversize file is noticed without trusting st_size. */
    if ((text = malloc(KEY_FILE_MAX + 1)) == NULL) {
        error = twin_error(TWIN_ERROR, "reading key file %s: out of memory", path);
        goto cleanup;
    }
    while (len < KEY_FILE_MAX + 1) {
        ssize_t n = read(fd, text + len, KEY_FILE_MAX + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            error = twin_error(TWIN_ERROR, "reading key file %s: %s", path, strerror(errno));
            goto cleanup;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > KEY_FILE_MAX) {
        error = twin_error(TWIN_ELIMIT, "key file %s is larger than %d bytes", path, KEY_FILE_MAX);
        goto cleanup;
    }
    if ((error = twin_key_parse_private(out, text, len)) < 0)
        twin_error_wrap(error, "reading key %s", path);

cleanup:
    if (text) {
        sodium_memzero(text, KEY_FILE_MAX + 1);
        free(text);
    }
    close(fd);
    return error;
}

/* Makes the new directory entry durable; the file's own data was synced before the link.
 * Returns 0 or an errno value. */
static int sync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    int fd, err = 0;

    if (!slash)
        dir = strdup(".");
    else if (slash == path)
        dir = strdup("/");
    else
        dir = strndup(path, (size_t)(slash - path));
    if (!dir)
        return ENOMEM;
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0)
        err = errno;
    if (fd >= 0)
        close(fd);
    free(dir);
    return err;
}

/* The openssh-key-v1 blob of kp onto blob. */
static int build_private_blob(struct twin_sshbuf *blob, const twin_keypair *kp, const char *comment)
{
    unsigned char pub[PUB_BLOB_LEN];
    struct twin_sshbuf section;
    uint32_t check = randombytes_random();
    int error;

    twin_sshbuf_ed25519_blob(pub, kp->pk, TWIN_PUBKEY_BYTES);
    twin_sshbuf_init(&section, KEY_BLOB_MAX);
    twin_sshbuf_put_u32(&section, check);
    twin_sshbuf_put_u32(&section, check);
    twin_sshbuf_put(&section, pub, sizeof(pub)); /* type and public key, as in the header */
    twin_sshbuf_put_string(&section, kp->sk, TWIN_SECKEY_BYTES);
    twin_sshbuf_put_string(&section, comment, strlen(comment));
    for (unsigned char pad = 1; section.error == 0 && section.len % KEY_BLOCK_SIZE != 0; pad++)
        twin_sshbuf_put(&section, &pad, 1);

    twin_sshbuf_put(blob, KEY_MAGIC, KEY_MAGIC_LEN);
    twin_sshbuf_put_string(blob, "none", 4);
    twin_sshbuf_put_string(blob, "none", 4);
    twin_sshbuf_put_string(blob, "", 0);
    twin_sshbuf_put_u32(blob, 1);
    twin_sshbuf_put_string(blob, pub, sizeof(pub));
    twin_sshbuf_put_string(blob, section.data, section.len);
    error = section.error < 0 ? section.error : blob->error;
    twin_sshbuf_free(&section);
    if (error < 0)
        return twin_error_wrap(TWIN_ERROR, "key file: private key blob");
    return 0;
}

int twin_key_save(const char *path, const twin_keypair *kp, const char *comment)
{
    struct twin_sshbuf blob;
    size_t text_len = 0, path_len = strlen(path);
    char *text = NULL, *tmp = NULL;
    int fd = -1, sync_err, error;
    struct stat st;

    if (!comment)
        comment = "";
    if (strlen(comment) > KEY_COMMENT_MAX)
        return twin_error(TWIN_EINVALID, "key comment is longer than %d bytes", KEY_COMMENT_MAX);
    if (strpbrk(comment, "\r\n"))
        return twin_error(TWIN_EINVALID, "key comment must be a single line");
    if ((error = sodium_ready()) < 0)
        return error;
    if (!halves_match(kp->pk, kp->sk))
        return twin_error(TWIN_EINVALID, "key: public and secret halves do not match");
    if (lstat(path, &st) == 0)
        return twin_error(TWIN_EEXISTS, "key file %s already exists; twin will not replace it",
                          path);

    twin_sshbuf_init(&blob, KEY_BLOB_MAX);
    if ((error = build_private_blob(&blob, kp, comment)) < 0)
        goto cleanup;
    if ((error = twin_sshbuf_armor(&text, &text_len, &key_armor, blob.data, blob.len)) < 0)
        goto cleanup;
    if (path_len > SIZE_MAX - 16 || (tmp = malloc(path_len + 16)) == NULL) {
        error = twin_error(TWIN_ERROR, "saving key %s: out of memory", path);
        goto cleanup;
    }
    snprintf(tmp, path_len + 16, "%s.tmp-XXXXXX", path);
    if ((fd = mkstemp(tmp)) < 0) {
        error = twin_error(TWIN_ERROR, "cannot create a temporary file next to %s: %s", path,
                           strerror(errno));
        free(tmp);
        tmp = NULL;
        goto cleanup;
    }
    if (fchmod(fd, 0600) != 0 || twin_util_write_all(fd, text, text_len) != 0 || fsync(fd) != 0) {
        error = twin_error(TWIN_ERROR, "writing key file %s: %s", tmp, strerror(errno));
        goto cleanup;
    }
    if (close(fd) != 0) {
        fd = -1;
        error = twin_error(TWIN_ERROR, "writing key file %s: %s", tmp, strerror(errno));
        goto cleanup;
    }
    fd = -1;
    twin_util_test_stop("key-save-tmp");
    /* link() fails with EEXIST instead of replacing, unlike rename(). */
    if (link(tmp, path) != 0) {
        if (errno == EEXIST)
            error = twin_error(TWIN_EEXISTS, "key file %s already exists; twin will not replace it",
                               path);
        else
            error = twin_error(TWIN_ERROR, "cannot create key file %s: %s", path, strerror(errno));
        goto cleanup;
    }
    if ((sync_err = sync_parent_dir(path)) != 0) {
        error = twin_error(TWIN_ERROR, "syncing the directory of key file %s: %s", path,
                           strerror(sync_err));
        goto cleanup;
    }
    error = 0;

cleanup:
    if (fd >= 0)
        close(fd);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    if (text) {
        sodium_memzero(text, text_len);
        free(text);
    }
    twin_sshbuf_free(&blob);
    return error;
}

/* --- public forms --- */

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

void twin_key_format_openssh(char out[static TWIN_OPENSSH_PUB_MAX],
                             const unsigned char pk[static TWIN_PUBKEY_BYTES])
{
    unsigned char blob[PUB_BLOB_LEN];
    size_t prefix = TWIN_SSHBUF_ED25519_LEN + 1;

    twin_sshbuf_ed25519_blob(blob, pk, TWIN_PUBKEY_BYTES);
    memcpy(out, TWIN_SSHBUF_ED25519 " ", prefix);
    sodium_bin2base64(out + prefix, TWIN_OPENSSH_PUB_MAX - prefix, blob, sizeof(blob),
                      sodium_base64_VARIANT_ORIGINAL);
}

int twin_key_parse_openssh(unsigned char pk[static TWIN_PUBKEY_BYTES], const char *line)
{
    unsigned char blob[PUB_BLOB_LEN + 3]; /* room to notice an oversize blob */
    size_t len, type_len, b64_len, blob_len;
    const char *p, *b64;
    char shown[TWIN_SSHBUF_PRINTABLE_MAX];

    len = strnlen(line, OPENSSH_LINE_MAX + 1);
    if (len > OPENSSH_LINE_MAX)
        return twin_error(TWIN_EINVALID, "public key: line longer than %d bytes", OPENSSH_LINE_MAX);
    /* One line: a final "\n" or "\r\n" is allowed, nothing after it. */
    if (len > 0 && line[len - 1] == '\n')
        len--;
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (memchr(line, '\n', len) || memchr(line, '\r', len))
        return twin_error(TWIN_EINVALID, "public key: expected a single line");

    for (type_len = 0; type_len < len && !is_blank(line[type_len]); type_len++)
        ;
    if (type_len == 0)
        return twin_error(TWIN_EINVALID,
                          "public key: empty line (expected \"ssh-ed25519 AAAA...\")");
    if (!twin_sshbuf_string_is((const unsigned char *)line, type_len, TWIN_SSHBUF_ED25519))
        return twin_error(TWIN_EINVALID,
                          "public key: key type \"%s\" is not supported; twin uses ssh-ed25519 "
                          "keys",
                          twin_sshbuf_printable(shown, (const unsigned char *)line, type_len));
    p = line + type_len;
    while (p < line + len && is_blank(*p))
        p++;
    b64 = p;
    while (p < line + len && !is_blank(*p))
        p++;
    b64_len = (size_t)(p - b64);
    if (b64_len == 0)
        return twin_error(TWIN_EINVALID, "public key: missing base64 key after \"%s\"",
                          TWIN_SSHBUF_ED25519);
    if (sodium_base642bin(blob, sizeof(blob), b64, b64_len, NULL, &blob_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return twin_error(TWIN_EINVALID, "public key: key is not valid base64 of an ssh-ed25519 "
                                         "key");
    return parse_pub_blob(pk, blob, blob_len, "public key");
}

void twin_key_node_id(char out[static TWIN_NODE_ID_LEN + 1],
                      const unsigned char pk[static TWIN_PUBKEY_BYTES])
{
    sodium_bin2hex(out, TWIN_NODE_ID_LEN + 1, pk, TWIN_PUBKEY_BYTES);
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int twin_key_parse_any(unsigned char pk[static TWIN_PUBKEY_BYTES], const char *text)
{
    size_t len = strnlen(text, OPENSSH_LINE_MAX + 1), start = 0, end, i;

    while (start < len && (is_blank(text[start]) || text[start] == '\n' || text[start] == '\r'))
        start++;
    end = len;
    while (end > start &&
           (is_blank(text[end - 1]) || text[end - 1] == '\n' || text[end - 1] == '\r'))
        end--;
    if (end - start >= 4 && memcmp(text + start, "ssh-", 4) == 0)
        return twin_key_parse_openssh(pk, text + start);
    for (i = start; i < end && is_hex(text[i]); i++)
        ;
    if (i == end && end - start == TWIN_NODE_ID_LEN) {
        if (sodium_hex2bin(pk, TWIN_PUBKEY_BYTES, text + start, TWIN_NODE_ID_LEN, NULL, NULL,
                           NULL) != 0)
            return twin_error(TWIN_EINVALID, "node id: not valid hex");
        return 0;
    }
    if (i == end && end > start)
        return twin_error(TWIN_EINVALID, "node id: %zu hex characters, expected %d", end - start,
                          TWIN_NODE_ID_LEN);
    return twin_error(TWIN_EINVALID,
                      "expected a node id (%d hex characters) or an OpenSSH public key line "
                      "(\"ssh-ed25519 AAAA...\")",
                      TWIN_NODE_ID_LEN);
}

void twin_key_fingerprint(char out[static 64], const unsigned char pk[static TWIN_PUBKEY_BYTES])
{
    /* The hash covers the SSH wire form of the key: string "ssh-ed25519", string pk. */
    unsigned char blob[51], h[crypto_hash_sha256_BYTES];
    static const char type[] = "ssh-ed25519";
    blob[0] = blob[1] = blob[2] = 0;
    blob[3] = 11;
    memcpy(blob + 4, type, 11);
    blob[15] = blob[16] = blob[17] = 0;
    blob[18] = 32;
    memcpy(blob + 19, pk, 32);
    crypto_hash_sha256(h, blob, sizeof(blob));
    char b64[sodium_base64_ENCODED_LEN(sizeof(h), sodium_base64_VARIANT_ORIGINAL_NO_PADDING)];
    sodium_bin2base64(b64, sizeof(b64), h, sizeof(h), sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    snprintf(out, 64, "SHA256:%s", b64);
}
