/*
 * libgit2's settings that hold for the whole process (git_libgit2_opts), set in this one place
 * and only for as long as an operation that asks for them runs.
 *
 * - UNHASHED: libgit2 does not hash each object it reads to compare it with its id
 *   (GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION), as git does outside fsck. Operations that read a
 *   whole history once (verify, sync) or only read records out (list, show, export, status) ask
 *   for it. It is libgit2's check only: twin's own readers (treecache.c, validity.c) hash what they
 *   read by their own flags, whether it came out of twin's pack reader or out of libgit2, and never
 *   count on libgit2 having done it.
 * - UNCACHED: libgit2 keeps no object cache (GIT_OPT_ENABLE_CACHING): a walk that reads each
 *   object about once keeps what it needs itself, and runs faster and in less memory without it.
 * - SMALL_WINDOWS: libgit2 maps packs in windows of 16 MiB, at most 32 MiB at a time, and keeps
 *   at most 16 MiB of objects in its cache, in place of 1 GiB windows and 256 MiB: a walk over a
 *   long history (verify, log, sending and receiving history) or an export reads in order, and
 *   its memory stays bounded. Whatever was set before comes back when the last holder ends.
 *
 * A setting holds while at least one operation that asked for it runs, on any thread (libgit2
 * cannot set it for one thread or one repository); libgit2's default comes back when the last
 * of them ends. Operations that run meanwhile on other threads read with it too, which costs
 * them nothing of their checks (see above).
 */
#ifndef TWIN_GITOPTS_H
#define TWIN_GITOPTS_H

enum {
    TWIN_GITOPTS_UNHASHED = 1,
    TWIN_GITOPTS_UNCACHED = 2,
    TWIN_GITOPTS_SMALL_WINDOWS = 4,
};

/* Takes the settings in what (TWIN_GITOPTS_* or'ed) for an operation that starts: 0, or an error
 * from libgit2 (nothing then taken). Every successful call is matched by twin_gitopts_end with
 * the same what. */
int twin_gitopts_begin(unsigned what);

/* Gives them back as the operation ends. */
void twin_gitopts_end(unsigned what);

#endif
