/*
 * SHA-1, for naming the git objects and packs twin writes itself, and for checking that stored
 * objects still match their names (verify). The x86 SHA extensions are used when the processor
 * has them (several times faster than libgit2's collision-detecting hash); otherwise a portable
 * implementation. Objects received from peers are named on arrival with libgit2's hash, which
 * also detects collision attacks; this one never names them.
 */
#ifndef TWIN_SHA1_H
#define TWIN_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define TWIN_SHA1_BYTES 20

typedef struct {
    uint32_t h[5];
    uint64_t length; /* bytes hashed so far */
    unsigned char block[64];
    size_t used;
} twin_sha1_ctx;

void twin_sha1_init(twin_sha1_ctx *c);
void twin_sha1_update(twin_sha1_ctx *c, const void *data, size_t len);
void twin_sha1_final(twin_sha1_ctx *c, unsigned char out[TWIN_SHA1_BYTES]);

/* The git object id of data of the given type ("blob", "tree", "commit", "tag"). */
void twin_sha1_object(unsigned char out[TWIN_SHA1_BYTES], const char *type, const void *data,
                      size_t len);

/* Whether the hardware path is in use (for benchmarks and tests). */
int twin_sha1_accelerated(void);

/* Turns the hardware path off (0) or back on where present (1), so tests can check both. Not
 * for use while other threads hash. */
void twin_sha1_use_hardware(int on);

#endif
