/* The indexer of received packs (src/indexer.c) on any bytes a partner could send, cut into pieces
 * of varying size as they would arrive, checked against libgit2's indexer on the same bytes.
 *
 * Input:
 *   byte 0     options: bit 0, the harness appends the pack's correct checksum (so that inputs
 *              reach the end of a pack without having to compute SHA-1); bits 1-7, a seed for
 *              the sizes of the pieces the bytes are appended in
 *   the rest   the pack's bytes
 *
 * Invariants: twin_indexer_append and twin_indexer_finish give 0, TWIN_EINVALID, TWIN_ELIMIT, or
 * TWIN_ERROR for out of memory only; when twin's indexer accepts a pack, libgit2's indexer accepts
 * it too and writes the same index, byte for byte. (libgit2 accepts some packs twin refuses: an
 * object twice, a delta of fewer than 4 bytes (git refuses those too), a zlib stream padded far
 * beyond its data.)
 *
 * Seeds in fuzz/corpus/indexer/: small packs of twin (twin_pack_build of a node with a few notes)
 * and of git (`git pack-objects`, with and without --delta-base-offset), with byte 0 = 0 (the
 * pack's own checksum kept). */
#define _XOPEN_SOURCE 700 /* nftw */
#include <ftw.h>
#include <git2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "indexer.h"
#include "sha1.h"
#include "twin/error.h"
#include "twin/twin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char scratch[4096];

static int rm_entry(const char *p, const struct stat *s, int f, struct FTW *w)
{
    (void)s, (void)f, (void)w;
    return remove(p);
}

static void setup(void)
{
    if (scratch[0])
        return;
    if (twin_global_init(false))
        abort();
    snprintf(scratch, sizeof(scratch), "%s/twin-fuzz-indexer-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(scratch))
        abort();
}

static void clean(const char *dir)
{
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *p = malloc(n > 0 ? (size_t)n : 1);
    if (p && fread(p, 1, (size_t)n, fp) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(fp);
    *len = (size_t)n;
    return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    if (size < 1)
        return 0;
    unsigned opts = data[0];
    const unsigned char *body = data + 1;
    size_t len = size - 1;
    unsigned char *pack = malloc(len + 20);
    if (!pack)
        return 0;
    memcpy(pack, body, len);
    if (opts & 1) {
        twin_sha1_ctx c;
        twin_sha1_init(&c);
        twin_sha1_update(&c, pack, len);
        twin_sha1_final(&c, pack + len);
        len += 20;
    }

    char dir[4200], gdir[4200], path[4300];
    snprintf(dir, sizeof(dir), "%s/twin", scratch);
    snprintf(gdir, sizeof(gdir), "%s/libgit2", scratch);
    clean(dir);
    clean(gdir);
    if (mkdir(dir, 0700) || mkdir(gdir, 0700))
        abort();

    twin_indexer *ix = NULL;
    char name[41];
    if (twin_indexer_new(&ix, dir))
        abort();
    int rc = 0;
    unsigned seed = opts >> 1;
    for (size_t at = 0; rc == 0 && at < len;) {
        seed = seed * 1103515245u + 12345u;
        size_t n = 1 + (seed >> 16) % 4096;
        if (n > len - at)
            n = len - at;
        rc = twin_indexer_append(ix, pack + at, n);
        at += n;
    }
    if (rc == 0)
        rc = twin_indexer_finish(ix, name);
    twin_indexer_free(ix);
    if (rc != 0 && rc != TWIN_EINVALID && rc != TWIN_ELIMIT &&
        !(rc == TWIN_ERROR && strstr(twin_error_last(), "out of memory"))) {
        fprintf(stderr, "unexpected result %d: %s\n", rc, twin_error_last());
        abort();
    }

    if (rc == 0) {
        git_indexer *gx = NULL;
        git_indexer_options o = GIT_INDEXER_OPTIONS_INIT;
        git_indexer_progress progress;
        if (git_indexer_new(&gx, gdir, 0, NULL, &o) < 0)
            abort();
        if (git_indexer_append(gx, pack, len, &progress) < 0 ||
            git_indexer_commit(gx, &progress) < 0) {
            fprintf(stderr, "twin accepted a pack libgit2 refuses: %s\n",
                    git_error_last() ? git_error_last()->message : "?");
            abort();
        }
        size_t a_len = 0, b_len = 0;
        snprintf(path, sizeof(path), "%s/pack-%s.idx", dir, name);
        unsigned char *a = read_all(path, &a_len);
        snprintf(path, sizeof(path), "%s/pack-%s.idx", gdir, git_indexer_name(gx));
        unsigned char *b = read_all(path, &b_len);
        if (!a || !b || a_len != b_len || memcmp(a, b, a_len) != 0) {
            fprintf(stderr, "twin's index differs from libgit2's\n");
            abort();
        }
        free(a);
        free(b);
        git_indexer_free(gx);
    }
    free(pack);
    return 0;
}
