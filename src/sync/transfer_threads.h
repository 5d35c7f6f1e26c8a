/*
 * twin_pack_build with the number of threads that find each commit's objects given: the tests
 * build one history's pack on one thread and on several and compare the bytes.
 */
#ifndef TWIN_TRANSFER_THREADS_H
#define TWIN_TRANSFER_THREADS_H

#include "twin/transfer.h"

/* threads: at most this many (0: one per core, as twin_pack_build does). Histories of fewer than
 * 256 commits are walked on the calling thread whatever threads says. */
int twin_pack_build_threads(size_t *commits, git_repository *repo, const git_oid *wants,
                            size_t nwants, const git_oid *haves, size_t nhaves, int threads,
                            twin_pack_sink sink, void *ctx);

#endif
