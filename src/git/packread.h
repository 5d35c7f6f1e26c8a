/*
 * A reader of the repository's packs for walks that read most of a history once (verify, the
 * check of received history): objects found through the packs' version-2 indexes, deltas
 * resolved against a cache of recently resolved objects, without libgit2's locks and caches.
 *
 * It checks every zlib stream it reads to its end (its adler32), as git's reads do, so damage to
 * an object's stored bytes is named; it never checks that an object hashes to its id: the caller
 * does (with twin_sha1_object), as it must for every object it trusts. An object it cannot find (a
 * loose object, or a pack written after it opened) is for the caller to read through libgit2. One
 * reader per thread.
 *
 * The baseline it replaced stays beside it: a reader opened with twin_packread_open_libgit2 reads
 * the same packs through libgit2 (git_odb_read, git_odb_exists), with the same interface and the
 * same objects, so that its callers can be run either way and tools/bench_read.c can measure the
 * gain. Such a reader names damage in libgit2's words, and whether it hashes what it reads is
 * libgit2's process-wide setting (gitopts.h).
 */
#ifndef TWIN_PACKREAD_H
#define TWIN_PACKREAD_H

#include <git2.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct twin_packread twin_packread;

/* An object read out of a pack, counted by reference. */
typedef struct twin_pobj {
    size_t refs;
    git_object_t type;
    bool trusted; /* read out of a trusted pack (twin_packread_trust) */
    size_t size;
    unsigned char data[];
} twin_pobj;

/* Opens every pack of repo's object directory that has an index. A pack whose files are not
 * well-formed is left out (libgit2 then reads its objects and reports the damage). */
int twin_packread_open(twin_packread **out, git_repository *repo);

/* The same for the packs of the directories given. */
int twin_packread_open_dirs(twin_packread **out, const char *const *dirs, size_t ndirs);

/* The same packs read through libgit2: each directory's packs (pack-<40 hex>.idx and .pack)
 * become one object database of libgit2's readers of one pack, searched in the order of the
 * directories; an object is copied out of libgit2's into a twin_pobj. A pack libgit2 cannot open
 * is left out. twin_packread_lean does nothing to such a reader (libgit2 keeps its own caches);
 * twin_packread_trust and twin_packread_trust_dir mark its objects as they mark twin's. */
int twin_packread_open_libgit2(twin_packread **out, git_repository *repo);
int twin_packread_open_dirs_libgit2(twin_packread **out, const char *const *dirs, size_t ndirs);

/* A pack held in memory: the bytes of its .pack file and of its version-2 .idx, each whole. */
struct twin_packread_mem {
    const char *name; /* for messages, as a file would be named: "pack-<hex>" (63 bytes at most) */
    const void *pack, *idx;
    size_t pack_len, idx_len;
};

/* The same for packs held in memory: their bytes are checked and read as those of the files
 * would be (a pack not well-formed is left out), in place, never copied, so they must stay as
 * they are until twin_packread_free. */
int twin_packread_open_mem(twin_packread **out, const struct twin_packread_mem *packs, size_t n);
void twin_packread_free(twin_packread *r);

/* Opens the packs written to the reader's directories since it opened (or last refreshed), such
 * as the pack of commits just written, keeping every pack it holds (one joined away since stays
 * readable as it was mapped). Nothing for a reader of packs in memory, or one served by libgit2,
 * whose callers read what it does not hold through libgit2. */
int twin_packread_refresh(twin_packread *r);

/* 1 with *out holding a reference to the object; 0 when no opened pack holds it; TWIN_EVERIFY
 * when a pack that holds it is damaged (the error names the object, the pack and the offset);
 * TWIN_ERROR when out of memory. */
int twin_packread_get(twin_pobj **out, twin_packread *r, const git_oid *id);

/* 1 when an opened pack holds id, 0 when none does, TWIN_EVERIFY when an index is damaged. */
int twin_packread_has(twin_packread *r, const git_oid *id);

void twin_packread_release(twin_pobj *o);

/* Keeps half the cache and lets the pages read go sixteen times as often (a pack's pages can be
 * mapped 2 MiB at a time): for the check of a received pack, whose peak memory counts more than
 * the few per cent of its time this costs. */
void twin_packread_lean(twin_packread *r);

/* For a reader of objects that lie all over the packs (the records at a head, read in path
 * order): the kernel maps 64 KiB or more of a file's pages around each page it faults in, so each
 * object read counts as 512 KiB towards letting the pages go, and the memory a read of every
 * record keeps stays near the trim's bound instead of near the packs' size. */
void twin_packread_scattered(twin_packread *r);

/* As twin_packread_lean, with a cache of at most cache_bytes (0: the lean reader's own): for each
 * of the readers one operation runs on several threads, whose caches add up. */
void twin_packread_lean_to(twin_packread *r, size_t cache_bytes);

/* Marks the objects of every pack as hashed against their ids already (twin_pobj.trusted):
 * readers that hash what they read to check it may skip that. Only the sync sender does, whose
 * receiver hashes everything it is sent; verify never does. */
void twin_packread_trust(twin_packread *r);

/* The same for the packs of one directory only (its index among those given to
 * twin_packread_open_dirs): the check of received history trusts the received pack, which the
 * indexer has just hashed, but not the store beside it, whose files may have been damaged since
 * their objects were hashed on their way in. */
void twin_packread_trust_dir(twin_packread *r, size_t dir);

/* A libgit2 object-database backend reading through r, which it takes over (freed with the
 * backend, or at once when making it fails): libgit2 then maps none of the packs r reads, whose
 * maps would count a second time in the resident set next to r's own, and whose pages the page
 * cache may hold 2 MiB at a time, each faulted in whole. It reads objects and their headers and
 * tells whether one exists, one call at a time (a lock: libgit2 does not promise a backend the
 * thread it was made on). */
int twin_packread_backend(git_odb_backend **out, twin_packread *r);

#endif
