/* The indexer of received packs (src/git/indexer.c) on any bytes a partner could send, cut into
 * pieces of varying size as they would arrive, checked against libgit2's indexer on the same bytes.
 * twin's indexer keeps the pack in memory (twin_indexer_new_mem): the same reading and checks as
 * for a pack written to a file, without a file per input. libgit2's writes its files into one
 * scratch directory, made once, and only for the packs twin accepts.
 *
 * Input:
 *   byte 0     options: bit 0, the harness appends the pack's correct checksum (so that inputs
 *              reach the end of a pack without having to compute SHA-1); bits 1-7, a seed for
 *              the sizes of the pieces the bytes are appended in
 *   the rest   the pack's bytes
 *
 * Invariants: twin_indexer_append and twin_indexer_finish give 0, TWIN_EINVALID, TWIN_ELIMIT, or
 * TWIN_ERROR for out of memory only; when twin's indexer accepts a pack, libgit2's indexer accepts
 * it too and writes the same index, byte for byte, under the same name. (libgit2 accepts some packs
 * twin refuses: an object twice, a delta of fewer than 4 bytes (git refuses those too), a zlib
 * stream padded far beyond its data.)
 *
 * Seeds in fuzz/corpus/indexer/: small packs of twin (twin_packbuild_stream of a node with a few
 * notes) and of git (`git pack-objects`, with and without --delta-base-offset), with byte 0 = 0
 * (the pack's own checksum kept). */
#include <dirent.h>
#include <git2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "git/indexer.h"
#include "base/sha1.h"
#include "twin/error.h"
#include "twin/global.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char scratch[4096]; /* libgit2's indexer writes here */

/* Removes every file in the scratch directory. */
static void empty_scratch(void)
{
    DIR *d = opendir(scratch);
    struct dirent *e;
    char path[4400];
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", scratch, e->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
}

static void cleanup(void)
{
    empty_scratch();
    rmdir(scratch);
}

static void setup(void)
{
    if (scratch[0])
        return;
    if (twin_global_init(false))
        abort();
    const char *tmp = getenv("TMPDIR");
    snprintf(scratch, sizeof(scratch), "%s/twin-fuzz-indexer-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(scratch))
        abort();
    atexit(cleanup);
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

    char path[4300];
    twin_indexer *ix = NULL;
    char name[41];
    unsigned char *a = NULL;
    size_t a_len = 0;
    if (twin_indexer_new_mem(&ix))
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
        rc = twin_indexer_finish_mem(ix, name, &a, &a_len);
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
        if (git_indexer_new(&gx, scratch, 0, NULL, &o) < 0)
            abort();
        if (git_indexer_append(gx, pack, len, &progress) < 0 ||
            git_indexer_commit(gx, &progress) < 0) {
            fprintf(stderr, "twin accepted a pack libgit2 refuses: %s\n",
                    git_error_last() ? git_error_last()->message : "?");
            abort();
        }
        size_t b_len = 0;
        snprintf(path, sizeof(path), "%s/pack-%s.idx", scratch, git_indexer_name(gx));
        unsigned char *b = read_all(path, &b_len);
        if (!a || !b || a_len != b_len || memcmp(a, b, a_len) != 0 ||
            strcmp(name, git_indexer_name(gx)) != 0) {
            fprintf(stderr, "twin's index or name differs from libgit2's\n");
            abort();
        }
        free(b);
        git_indexer_free(gx);
        empty_scratch();
    }
    free(a);
    free(pack);
    return 0;
}
