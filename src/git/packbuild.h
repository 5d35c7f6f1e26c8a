/*
 * The sending side of moving history between nodes: a git pack of the commits a peer lacks, with
 * their trees and files, built oldest commit first and streamed in chunks as it is made, each tree
 * or file a delta against an earlier version of its path where that pays. The receiving side is
 * the quarantine (twin/quarantine.h).
 *
 * twin_packbuild_stream_libgit2 builds the pack of the same commits with libgit2's packbuilder
 * instead: the switch back to the library that twin's own builder replaced, for comparison
 * (tools/bench_pack.c) and tests. Its bytes differ (libgit2 chooses its own deltas); the receiver
 * takes either and ends with the same objects.
 */
#ifndef TWIN_PACKBUILD_H
#define TWIN_PACKBUILD_H

#include <git2.h>
#include <stddef.h>

/* Called with each chunk of the pack as it is built. A non-zero return stops the build. */
typedef int (*twin_packbuild_sink)(const void *data, size_t len, void *ctx);

/* Builds a pack of every commit reachable from wants but not from haves (haves this node does not
 * have are ignored), with their trees and blobs, and streams it to sink. *commits gets the number
 * of commits in it. An empty set still makes a valid (empty) pack. */
int twin_packbuild_stream(size_t *commits, git_repository *repo, const git_oid *wants,
                          size_t nwants, const git_oid *haves, size_t nhaves,
                          twin_packbuild_sink sink, void *ctx);

/* The same with the number of threads that find each commit's objects given: at most this many
 * (0: one per core, as twin_packbuild_stream does). Histories of fewer than 256 commits are
 * walked on the calling thread whatever threads says. The tests build one history's pack on one
 * thread and on several and compare the bytes. */
int twin_packbuild_stream_threads(size_t *commits, git_repository *repo, const git_oid *wants,
                                  size_t nwants, const git_oid *haves, size_t nhaves, int threads,
                                  twin_packbuild_sink sink, void *ctx);

/* The pack of the same commits, trees and blobs as twin_packbuild_stream's, with the same
 * *commits, built by libgit2: git_revwalk, git_packbuilder_insert_walk (which leaves out the
 * trees and blobs of the haves' trees), deltas by its window search on every core, and
 * git_packbuilder_foreach streaming it to sink. */
int twin_packbuild_stream_libgit2(size_t *commits, git_repository *repo, const git_oid *wants,
                                  size_t nwants, const git_oid *haves, size_t nhaves,
                                  twin_packbuild_sink sink, void *ctx);

#endif
