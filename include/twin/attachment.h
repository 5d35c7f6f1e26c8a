/*
 * Attachments: the files documents carry in the shared history (README "Attachments"). A file is
 * a blob at attachments/<xx>/<sha256>, named by the lowercase hex SHA-256 of the blob's bytes (xx:
 * its first two digits), so the same bytes are kept once; the document names it in its `file`.
 */
#ifndef TWIN_ATTACHMENT_H
#define TWIN_ATTACHMENT_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define TWIN_ATTACHMENTS_DIR "attachments"
/* The largest attachment: 25 MiB. A network's policy may set a lower cap
 * (network.json policy.attachment_max_bytes). */
#define TWIN_ATTACHMENT_MAX_BYTES (25 * 1024 * 1024)
/* 64 hex digits and the NUL. */
#define TWIN_SHA256_HEX_LEN 64
/* "attachments/xx/" and the name. */
#define TWIN_ATTACHMENT_PATH_MAX (sizeof(TWIN_ATTACHMENTS_DIR "/xx/") + TWIN_SHA256_HEX_LEN)

/* The path of the attachment whose bytes hash to hex (64 lowercase hex digits). */
void twin_attachment_path(char out[static TWIN_ATTACHMENT_PATH_MAX], const char *hex);
/* Whether path is a well-formed attachment path; hex (when not NULL) gets its name. */
bool twin_attachment_parse_path(char hex[static TWIN_SHA256_HEX_LEN + 1], const char *path);
/* Whether s is 64 lowercase hex digits. */
bool twin_attachment_hex_valid(const char *s);
/* The lowercase hex SHA-256 of data. */
void twin_attachment_sha256_hex(char hex[static TWIN_SHA256_HEX_LEN + 1], const void *data,
                                size_t len);
/* The cap on attachments a network descriptor puts in force: policy.attachment_max_bytes, else
 * TWIN_ATTACHMENT_MAX_BYTES. */
size_t twin_attachment_cap(const json_t *net);
/* A file's size for people: "25 MiB", "1.5 MiB", "300 KiB", "12 bytes". */
void twin_attachment_size_text(char *out, size_t size, size_t bytes);
#endif
