/*
 * SSH wire format buffers shared by the key file and signature modules: a bounded reader of
 * untrusted bytes, a growable writer that cannot exceed the maximum it was created with, the
 * ssh-ed25519 key and signature blobs, and the "-----BEGIN <label>-----" base64 armor.
 */
#ifndef TWIN_SSHBUF_H
#define TWIN_SSHBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TWIN_SSHBUF_ED25519     "ssh-ed25519"
#define TWIN_SSHBUF_ED25519_LEN 11
/* Bytes of `string "ssh-ed25519" string body` for a body of n bytes. */
#define TWIN_SSHBUF_ED25519_BLOB_LEN(n) (4 + TWIN_SSHBUF_ED25519_LEN + 4 + (n))
/* Size of the buffer twin_sshbuf_printable fills. */
#define TWIN_SSHBUF_PRINTABLE_MAX 48

/* --- reading ---
 * A view of bytes that arrived from outside. Every read checks the length it needs, including a
 * declared string length, against the bytes left before it consumes anything, and consumes
 * nothing when it fails. Failures return TWIN_EINVALID with a message that says what was short
 * but not which field: callers replace it with one that names the field. */

struct twin_sshbuf_reader {
    const unsigned char *p; /* the next unread byte */
    size_t left;            /* bytes from p to the end */
};

void twin_sshbuf_reader_init(struct twin_sshbuf_reader *r, const void *data, size_t len);

/* Consumes magic[0..len) if the data starts with exactly those bytes. */
int twin_sshbuf_get_magic(struct twin_sshbuf_reader *r, const void *magic, size_t len);

int twin_sshbuf_get_u32(struct twin_sshbuf_reader *r, uint32_t *v);

/* Reads the big-endian uint32 at the reader without consuming it. */
int twin_sshbuf_peek_u32(const struct twin_sshbuf_reader *r, uint32_t *v);

/* A uint32 length and that many bytes; *s points into the reader's data. */
int twin_sshbuf_get_string(struct twin_sshbuf_reader *r, const unsigned char **s, size_t *len);

/* True when s[0..len) is exactly the C string want. */
bool twin_sshbuf_string_is(const unsigned char *s, size_t len, const char *want);

/* At most 40 bytes of untrusted s, with anything unprintable as '?' and "..." when cut: safe to
 * put in an error message. Returns out. */
const char *twin_sshbuf_printable(char out[static TWIN_SSHBUF_PRINTABLE_MAX],
                                  const unsigned char *s, size_t n);

/* --- writing ---
 * A growable buffer with a maximum fixed at creation. The first failure (TWIN_ELIMIT when a put
 * would pass the maximum, TWIN_ERROR when memory runs out) is kept in `error` and every later
 * put does nothing, so a run of puts can be checked once at the end (what was written before
 * the failure stays, so a failed buffer is only good for freeing). The buffer may hold secret
 * key material: every copy is wiped before it is freed, when growing and in twin_sshbuf_free.
 * Messages do not say what is being written: callers wrap them (twin_error_wrap). */

struct twin_sshbuf {
    unsigned char *data; /* len bytes written; NULL until the first put */
    size_t len;
    size_t alloc;
    size_t max;
    int error; /* 0, or the first failure's code */
};

void twin_sshbuf_init(struct twin_sshbuf *b, size_t max);

/* Wipes and frees the data; the buffer is empty afterwards and may be reused. NULL is allowed. */
void twin_sshbuf_free(struct twin_sshbuf *b);

int twin_sshbuf_put(struct twin_sshbuf *b, const void *data, size_t n);
int twin_sshbuf_put_u32(struct twin_sshbuf *b, uint32_t v);
int twin_sshbuf_put_string(struct twin_sshbuf *b, const void *s, size_t n);

/* Makes room for n more bytes and hands back where they go; they count as written. */
int twin_sshbuf_reserve(struct twin_sshbuf *b, size_t n, unsigned char **where);

/* Fills out with `string "ssh-ed25519" string body`: with the 32-byte public key as body, the
 * public key blob; with the 64-byte signature, the signature blob. out must hold
 * TWIN_SSHBUF_ED25519_BLOB_LEN(body_len) bytes. */
void twin_sshbuf_ed25519_blob(unsigned char *out, const unsigned char *body, size_t body_len);

/* --- armor ---
 * "-----BEGIN <label>-----", the base64 of a blob in 70-column lines, "-----END <label>-----".
 * Every message starts "<context>: ". */

struct twin_sshbuf_armor {
    const char *label;    /* "SSH SIGNATURE", "OPENSSH PRIVATE KEY" */
    const char *context;  /* "sshsig", "key file" */
    const char *noun;     /* what the blob is, for messages: "signature", "key" */
    size_t text_max;      /* longest armored text read or written (TWIN_ELIMIT beyond) */
    bool final_newline;   /* written text ends "-----END ...-----\n" rather than at the dashes */
    bool trailing_blanks; /* when reading, spaces, tabs and blank lines may follow the END line */
    bool public_blob;     /* the blob is public (a signature): decoded by a faster table walk,
                             where a key's is decoded in constant time by libsodium */
};

/* *out is the malloc'd, NUL-terminated armored text of blob and *out_len its length. */
int twin_sshbuf_armor(char **out, size_t *out_len, const struct twin_sshbuf_armor *spec,
                      const unsigned char *blob, size_t blob_len);

/* Decodes armored text onto the end of blob, whose maximum bounds the result. Lines may end in
 * "\n" or "\r\n" and the base64 may be wrapped at any width; blank lines inside the armor and
 * anything before BEGIN are refused. The base64 is gathered in a scratch buffer that is wiped,
 * since a key file's armor encodes its secret key. Empty armor decodes to nothing. */
int twin_sshbuf_dearmor(struct twin_sshbuf *blob, const struct twin_sshbuf_armor *spec,
                        const char *text, size_t len);

#endif
