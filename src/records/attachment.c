/*
 * Attachments' names and caps (twin/attachment.h): what the validity predicate, the writer and
 * the reader of a document's file agree on.
 */
#include "twin/attachment.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

static const char hexdigits[] = "0123456789abcdef";

bool twin_attachment_hex_valid(const char *s)
{
    size_t i = 0;
    for (; s[i]; i++)
        if (i >= TWIN_SHA256_HEX_LEN || !strchr(hexdigits, s[i]))
            return false;
    return i == TWIN_SHA256_HEX_LEN;
}

void twin_attachment_path(char out[static TWIN_ATTACHMENT_PATH_MAX], const char *hex)
{
    snprintf(out, TWIN_ATTACHMENT_PATH_MAX, "%s/%.2s/%.64s", TWIN_ATTACHMENTS_DIR, hex, hex);
}

bool twin_attachment_parse_path(char hex[static TWIN_SHA256_HEX_LEN + 1], const char *path)
{
    static const char dir[] = TWIN_ATTACHMENTS_DIR "/";
    size_t n = sizeof(dir) - 1;
    if (strncmp(path, dir, n) != 0 || strlen(path) != n + 3 + TWIN_SHA256_HEX_LEN ||
        path[n + 2] != '/')
        return false;
    const char *name = path + n + 3;
    if (!twin_attachment_hex_valid(name) || memcmp(path + n, name, 2) != 0)
        return false;
    memcpy(hex, name, TWIN_SHA256_HEX_LEN + 1);
    return true;
}

void twin_attachment_sha256_hex(char hex[static TWIN_SHA256_HEX_LEN + 1], const void *data,
                                size_t len)
{
    unsigned char d[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(d, data, len);
    for (size_t i = 0; i < sizeof(d); i++) {
        hex[2 * i] = hexdigits[d[i] >> 4];
        hex[2 * i + 1] = hexdigits[d[i] & 15];
    }
    hex[TWIN_SHA256_HEX_LEN] = '\0';
}

size_t twin_attachment_cap(const json_t *net)
{
    const json_t *cap = json_object_get(json_object_get(net, "policy"), "attachment_max_bytes");
    json_int_t v = json_is_integer(cap) ? json_integer_value(cap) : 0;
    return v > 0 && v < TWIN_ATTACHMENT_MAX_BYTES ? (size_t)v : TWIN_ATTACHMENT_MAX_BYTES;
}

void twin_attachment_size_text(char *out, size_t size, size_t bytes)
{
    if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) == 0)
        snprintf(out, size, "%zu MiB", bytes / (1024 * 1024));
    else if (bytes >= 1024 * 1024)
        snprintf(out, size, "%.1f MiB", (double)bytes / (1024 * 1024));
    else if (bytes >= 1024 && bytes % 1024 == 0)
        snprintf(out, size, "%zu KiB", bytes / 1024);
    else
        snprintf(out, size, "%zu bytes", bytes);
}
