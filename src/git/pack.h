/*
 * Packs that twin writes itself. A batch of commits goes to disk as one pack and its index
 * instead of several loose files per commit; a tree that changed by one entry is stored as a
 * delta against its previous version in the same pack, so a batch costs little more than its
 * records. Small packs are later joined into larger ones (twin_pack_consolidate), so lookups
 * never have many packs to search. twin_pack_writer_new_libgit2 writes the same objects through
 * libgit2 instead, the switch back to the library (tools/bench_pack.c measures the two).
 */
#ifndef TWIN_PACK_H
#define TWIN_PACK_H

#include <git2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct twin_packw twin_packw;

/* A git delta from base to data, built in *buf (grown as needed): trees entry by entry (runs of
 * equal entries copied), anything else as common prefix and suffix around an insert. Returns its
 * length, or 0 when it would be more than half of data (store data whole then). */
size_t twin_pack_delta_make(unsigned char **buf, size_t *cap, git_object_t type,
                            const unsigned char *base, size_t base_len, const unsigned char *data,
                            size_t len);

/* Opens a new temporary file in dir (named into path) for a pack or an index being written: a
 * descriptor, or a negative code. */
int twin_pack_open_temp(char *path, size_t size, const char *dir);

/* Makes tmp read-only (fsync'ed first when durable), closes fd and renames tmp to final; on
 * failure tmp is removed. */
int twin_pack_finish_file(int fd, const char *tmp, const char *final, bool durable);

int twin_pack_writer_new(twin_packw **out);
/* A writer of the same objects the library's way, the baseline twin's writer replaced: libgit2
 * names each object again as it takes it, and at the write its packbuilder packs them (its own
 * deltas, every object deflated) and its indexer writes the pack and the index, fsync'ed as
 * libgit2's process-wide setting says (twin_global_init sets it to twin_global_durable). The
 * base an object is added with is not used. Every other call takes either writer. */
int twin_pack_writer_new_libgit2(twin_packw **out);
void twin_pack_writer_free(twin_packw *w);

/* Appends an object named id. With base >= 0 (the index of an earlier object of this pack, whose
 * content is base_data) the object may be stored as a delta against it. Hands back the object's
 * index in this pack. */
int twin_pack_writer_add(twin_packw *w, size_t *index_out, git_object_t type, const git_oid *id,
                         const void *data, size_t len, long base, const void *base_data,
                         size_t base_len);

size_t twin_pack_writer_count(const twin_packw *w);
size_t twin_pack_writer_bytes(const twin_packw *w);

/* Writes the pack and its index into the repository's objects/pack (fsync'ed when durable),
 * makes them visible to the repository's object database, and empties the writer for reuse. */
int twin_pack_writer_write(twin_packw *w, git_repository *repo, bool durable);

/* Joins small packs of objects/pack into one when there are more than max_packs, keeping the
 * number of packs logarithmic in the number of objects, and removes what killed writers left.
 * Needs the writer lock. */
int twin_pack_consolidate(git_repository *repo, size_t max_packs, bool durable);

/* Records pack `name` (pack-<hex>) as one of twin's: the packs twin writes and receives are
 * listed in repo.git/twin-packs, and only those are ever joined; git's own packs are left as
 * they are. */
int twin_pack_register(git_repository *repo, const char *name);

/* The number of packs in objects/pack. */
size_t twin_pack_count(git_repository *repo);

#endif
