/*
 * SSH wire format buffers. Integers are big-endian uint32; a string is a uint32 length and that
 * many bytes (RFC 4251 section 5). The armor is what OpenSSH writes around private keys
 * (PROTOCOL.key) and signatures (PROTOCOL.sshsig): a BEGIN line, base64 in 70-column lines, an
 * END line.
 */
#include "crypto/sshbuf.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twin/error.h"

#define ARMOR_COLUMNS    70
#define ARMOR_MARKER_MAX 80 /* "-----BEGIN " label "-----" and its NUL */
#define WRITER_ALLOC_MIN 256

/* --- reading --- */

void twin_sshbuf_reader_init(struct twin_sshbuf_reader *r, const void *data, size_t len)
{
    r->p = data;
    r->left = len;
}

int twin_sshbuf_get_magic(struct twin_sshbuf_reader *r, const void *magic, size_t len)
{
    if (r->left < len || memcmp(r->p, magic, len) != 0)
        return twin_error(TWIN_EINVALID, "data does not start with the expected magic");
    r->p += len;
    r->left -= len;
    return 0;
}

int twin_sshbuf_peek_u32(const struct twin_sshbuf_reader *r, uint32_t *v)
{
    if (r->left < 4)
        return twin_error(TWIN_EINVALID, "uint32 wanted, %zu bytes left", r->left);
    *v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
    return 0;
}

int twin_sshbuf_get_u32(struct twin_sshbuf_reader *r, uint32_t *v)
{
    int error;
    if ((error = twin_sshbuf_peek_u32(r, v)) < 0)
        return error;
    r->p += 4;
    r->left -= 4;
    return 0;
}

int twin_sshbuf_get_string(struct twin_sshbuf_reader *r, const unsigned char **s, size_t *len)
{
    uint32_t n = 0;
    int error;
    if ((error = twin_sshbuf_peek_u32(r, &n)) < 0)
        return error;
    if (n > r->left - 4)
        return twin_error(TWIN_EINVALID, "string length %" PRIu32 " exceeds the %zu bytes left", n,
                          r->left - 4);
    *s = r->p + 4;
    *len = n;
    r->p += 4 + (size_t)n;
    r->left -= 4 + (size_t)n;
    return 0;
}

bool twin_sshbuf_string_is(const unsigned char *s, size_t len, const char *want)
{
    size_t n = strlen(want);
    return len == n && memcmp(s, want, n) == 0;
}

const char *twin_sshbuf_printable(char out[static TWIN_SSHBUF_PRINTABLE_MAX],
                                  const unsigned char *s, size_t n)
{
    size_t m = n > 40 ? 40 : n;
    for (size_t i = 0; i < m; i++)
        out[i] = s[i] >= 0x20 && s[i] < 0x7f ? (char)s[i] : '?';
    memcpy(out + m, n > m ? "..." : "", n > m ? 4 : 1);
    return out;
}

/* --- writing --- */

static void store_u32(unsigned char *out, uint32_t v)
{
    out[0] = (unsigned char)(v >> 24);
    out[1] = (unsigned char)(v >> 16);
    out[2] = (unsigned char)(v >> 8);
    out[3] = (unsigned char)v;
}

void twin_sshbuf_init(struct twin_sshbuf *b, size_t max)
{
    *b = (struct twin_sshbuf){.max = max};
}

void twin_sshbuf_free(struct twin_sshbuf *b)
{
    if (!b)
        return;
    if (b->data) {
        sodium_memzero(b->data, b->alloc);
        free(b->data);
    }
    twin_sshbuf_init(b, b->max);
}

/* Makes room for need more bytes. The buffer moves by copy and wipe rather than realloc, which
 * could leave a copy of a secret behind in freed memory. */
static int grow(struct twin_sshbuf *b, size_t need)
{
    size_t want, alloc;
    unsigned char *p;

    if (need > b->max - b->len) /* len <= max always, so this cannot wrap */
        return b->error = twin_error(
                   TWIN_ELIMIT, "%zu more bytes would pass the maximum of %zu bytes", need, b->max);
    want = b->len + need;
    if (want <= b->alloc)
        return 0;
    alloc = b->alloc ? b->alloc : WRITER_ALLOC_MIN;
    while (alloc < want)
        alloc = alloc > b->max / 2 ? b->max : alloc * 2;
    if (alloc > b->max)
        alloc = b->max;
    if ((p = malloc(alloc)) == NULL)
        return b->error = twin_error(TWIN_ERROR, "out of memory");
    if (b->data) {
        memcpy(p, b->data, b->len);
        sodium_memzero(b->data, b->alloc);
        free(b->data);
    }
    b->data = p;
    b->alloc = alloc;
    return 0;
}

int twin_sshbuf_reserve(struct twin_sshbuf *b, size_t n, unsigned char **where)
{
    int error;
    if (b->error)
        return b->error;
    if ((error = grow(b, n)) < 0)
        return error;
    *where = b->data ? b->data + b->len : NULL; /* NULL only while nothing was ever written */
    b->len += n;
    return 0;
}

int twin_sshbuf_put(struct twin_sshbuf *b, const void *data, size_t n)
{
    unsigned char *where = NULL;
    int error;
    if ((error = twin_sshbuf_reserve(b, n, &where)) < 0)
        return error;
    if (n > 0) /* data may be NULL then, which memcpy does not allow */
        memcpy(where, data, n);
    return 0;
}

int twin_sshbuf_put_u32(struct twin_sshbuf *b, uint32_t v)
{
    unsigned char bytes[4];
    store_u32(bytes, v);
    return twin_sshbuf_put(b, bytes, 4);
}

int twin_sshbuf_put_string(struct twin_sshbuf *b, const void *s, size_t n)
{
    int error;
    if (b->error)
        return b->error;
    if (n > UINT32_MAX)
        return b->error = twin_error(TWIN_ELIMIT, "a string of %zu bytes is too long", n);
    if ((error = twin_sshbuf_put_u32(b, (uint32_t)n)) < 0)
        return error;
    return twin_sshbuf_put(b, s, n);
}

void twin_sshbuf_ed25519_blob(unsigned char *out, const unsigned char *body, size_t body_len)
{
    store_u32(out, TWIN_SSHBUF_ED25519_LEN);
    memcpy(out + 4, TWIN_SSHBUF_ED25519, TWIN_SSHBUF_ED25519_LEN);
    store_u32(out + 4 + TWIN_SSHBUF_ED25519_LEN, (uint32_t)body_len);
    memcpy(out + 4 + TWIN_SSHBUF_ED25519_LEN + 4, body, body_len);
}

/* --- armor --- */

/* "-----<word> <label>-----" into out; 0 when the label is too long for it. */
static size_t marker(char out[static ARMOR_MARKER_MAX], const char *word, const char *label)
{
    int n = snprintf(out, ARMOR_MARKER_MAX, "-----%s %s-----", word, label);
    return n > 0 && n < ARMOR_MARKER_MAX ? (size_t)n : 0;
}

static bool is_base64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/' || c == '=';
}

static bool is_blank_or_newline(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
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

int twin_sshbuf_armor(char **out, size_t *out_len, const struct twin_sshbuf_armor *spec,
                      const unsigned char *blob, size_t blob_len)
{
    char begin[ARMOR_MARKER_MAX], end[ARMOR_MARKER_MAX];
    size_t begin_len = marker(begin, "BEGIN", spec->label);
    size_t end_len = marker(end, "END", spec->label);
    size_t b64_size = 0, b64_len, lines, total, pos;
    char *b64 = NULL, *text = NULL;
    int error = 0;

    if (begin_len == 0 || end_len == 0)
        return twin_error(TWIN_ERROR, "%s: armor label \"%s\" is too long", spec->context,
                          spec->label);
    /* A blob whose base64 alone passes the limit is refused first, so no sum below can wrap. */
    if (blob_len > spec->text_max / 4 * 3)
        return twin_error(TWIN_ELIMIT, "%s: armored %s would be more than %zu bytes", spec->context,
                          spec->noun, spec->text_max);
    b64_size = sodium_base64_ENCODED_LEN(blob_len, sodium_base64_VARIANT_ORIGINAL);
    b64_len = b64_size - 1;
    lines = (b64_len + ARMOR_COLUMNS - 1) / ARMOR_COLUMNS;
    total = begin_len + 1 + b64_len + lines + end_len + (spec->final_newline ? 1 : 0);
    if (total > spec->text_max)
        return twin_error(TWIN_ELIMIT, "%s: armored %s would be more than %zu bytes", spec->context,
                          spec->noun, spec->text_max);

    b64 = malloc(b64_size);
    text = malloc(total + 1);
    if (!b64 || !text) {
        error = twin_error(TWIN_ERROR, "%s: out of memory", spec->context);
        goto cleanup;
    }
    sodium_bin2base64(b64, b64_size, blob, blob_len, sodium_base64_VARIANT_ORIGINAL);
    memcpy(text, begin, begin_len);
    pos = begin_len;
    text[pos++] = '\n';
    for (size_t i = 0; i < b64_len; i += ARMOR_COLUMNS) {
        size_t n = b64_len - i < ARMOR_COLUMNS ? b64_len - i : ARMOR_COLUMNS;
        memcpy(text + pos, b64 + i, n);
        pos += n;
        text[pos++] = '\n';
    }
    memcpy(text + pos, end, end_len);
    pos += end_len;
    if (spec->final_newline)
        text[pos++] = '\n';
    text[pos] = '\0';
    *out = text;
    *out_len = pos;
    text = NULL;

cleanup:
    if (b64) {
        sodium_memzero(b64, b64_size);
        free(b64);
    }
    free(text);
    return error;
}

static int base64_value(unsigned char c)
{
    return c >= 'A' && c <= 'Z'   ? c - 'A'
           : c >= 'a' && c <= 'z' ? c - 'a' + 26
           : c >= '0' && c <= '9' ? c - '0' + 52
           : c == '+'             ? 62
           : c == '/'             ? 63
                                  : -1;
}

/* Padded base64 of the standard alphabet, as strictly as libsodium's decoder reads it (the
 * padding in place, the unused bits of the last group zero), for public data: its time depends
 * on the data. 0 with *out_len, or -1. */
static int base64_decode_public(unsigned char *out, size_t room, const char *in, size_t len,
                                size_t *out_len)
{
    size_t n = 0;
    if (len % 4 != 0)
        return -1;
    for (size_t i = 0; i < len; i += 4) {
        const unsigned char *q = (const unsigned char *)in + i;
        bool last = i + 4 == len;
        int a = base64_value(q[0]), b = base64_value(q[1]);
        int c = last && q[2] == '=' && q[3] == '=' ? -2 : base64_value(q[2]);
        int d = last && c >= 0 && q[3] == '=' ? -2 : base64_value(q[3]);
        if (a < 0 || b < 0 || c == -1 || (c >= 0 && d == -1))
            return -1;
        size_t take = c == -2 ? 1 : d == -2 ? 2 : 3;
        if ((c == -2 && (b & 15)) || (c >= 0 && d == -2 && (c & 3)) || room - n < take)
            return -1;
        out[n++] = (unsigned char)(a << 2 | b >> 4);
        if (take > 1)
            out[n++] = (unsigned char)((b & 15) << 4 | c >> 2);
        if (take > 2)
            out[n++] = (unsigned char)((c & 3) << 6 | d);
    }
    *out_len = n;
    return 0;
}

int twin_sshbuf_dearmor(struct twin_sshbuf *blob, const struct twin_sshbuf_armor *spec,
                        const char *text, size_t len)
{
    char begin[ARMOR_MARKER_MAX], end[ARMOR_MARKER_MAX];
    size_t begin_len = marker(begin, "BEGIN", spec->label);
    size_t end_len = marker(end, "END", spec->label);
    size_t b64_len = 0, pos = 0, n, pad, room, bin_len = 0, start = blob->len;
    const char *line;
    unsigned char *bin;
    char *b64 = NULL;
    bool ended = false;
    int error;

    if (begin_len == 0 || end_len == 0)
        return twin_error(TWIN_ERROR, "%s: armor label \"%s\" is too long", spec->context,
                          spec->label);
    if (len > spec->text_max)
        return twin_error(TWIN_ELIMIT, "%s: armored %s is %zu bytes, more than %zu", spec->context,
                          spec->noun, len, spec->text_max);
    if (!next_line(text, len, &pos, &line, &n) ||
        !twin_sshbuf_string_is((const unsigned char *)line, n, begin))
        return twin_error(TWIN_EINVALID, "%s: armor does not start with \"%s\"", spec->context,
                          begin);
    if ((b64 = malloc(len)) == NULL)
        return twin_error(TWIN_ERROR, "%s: out of memory", spec->context);
    while (next_line(text, len, &pos, &line, &n)) {
        if (twin_sshbuf_string_is((const unsigned char *)line, n, end)) {
            ended = true;
            break;
        }
        if (n == 0) {
            error = twin_error(TWIN_EINVALID, "%s: blank line inside the armor", spec->context);
            goto cleanup;
        }
        for (size_t i = 0; i < n; i++) {
            if (!is_base64_char(line[i])) {
                error = twin_error(TWIN_EINVALID, "%s: armor is not valid base64", spec->context);
                goto cleanup;
            }
        }
        memcpy(b64 + b64_len, line, n); /* b64_len + n <= len: lines are disjoint parts */
        b64_len += n;
    }
    if (!ended) {
        error = twin_error(TWIN_EINVALID, "%s: missing \"%s\" line", spec->context, end);
        goto cleanup;
    }
    /* Editors may leave blank lines at the end of a file; anything else is suspect. */
    while (spec->trailing_blanks && pos < len && is_blank_or_newline(text[pos]))
        pos++;
    if (pos != len) {
        error = twin_error(TWIN_EINVALID, "%s: unexpected text after \"%s\"", spec->context, end);
        goto cleanup;
    }
    if (b64_len > 0) {
        /* Four base64 characters make three bytes, less one for each '=' of padding: exactly
         * the decoded size of valid base64, so the writer's maximum bounds the blob itself. */
        pad = b64[b64_len - 1] != '=' ? 0 : b64_len >= 2 && b64[b64_len - 2] == '=' ? 2 : 1;
        room = b64_len / 4 * 3 + b64_len % 4 * 3 / 4;
        if (room <= pad) {
            error = twin_error(TWIN_EINVALID, "%s: armor is not valid base64", spec->context);
            goto cleanup;
        }
        room -= pad;
        if ((error = twin_sshbuf_reserve(blob, room, &bin)) < 0) {
            twin_error_wrap(error, "%s", spec->context);
            goto cleanup;
        }
        if (spec->public_blob ? base64_decode_public(bin, room, b64, b64_len, &bin_len) != 0
                              : sodium_base642bin(bin, room, b64, b64_len, NULL, &bin_len, NULL,
                                                  sodium_base64_VARIANT_ORIGINAL) != 0) {
            sodium_memzero(bin, room);
            blob->len = start;
            error = twin_error(TWIN_EINVALID, "%s: armor is not valid base64", spec->context);
            goto cleanup;
        }
        blob->len = start + bin_len;
    }
    error = 0;

cleanup:
    sodium_memzero(b64, len);
    free(b64);
    return error;
}
