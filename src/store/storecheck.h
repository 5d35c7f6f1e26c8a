/*
 * The check of a store's files as a whole, as git fsck checks them below the objects' meaning:
 * every pack and its index, and every loose object, whether any commit reaches it or not.
 *
 * For each pack, in one sequential pass over the two files:
 * - the index: its format (version 1 or 2), its trailing SHA-1 over its content, a fan-out that
 *   never falls and ends at the object count, ids in strictly increasing order and each in its
 *   fan-out bucket, a size that fits the count, every offset (and large offset) inside the pack;
 * - the pack: its header ("PACK", version 2 or 3, the object count the index has), its trailing
 *   SHA-1 over its content, and that the index names that checksum;
 * - each object, taken in the order of the pack: that no two entries share an offset, the CRC32
 *   of its bytes (up to the next object) against the index's, a well-formed header (type, size,
 *   delta base), an offset delta's base at the start of an object before it, and its zlib stream
 *   inflated to its end (zlib header, deflate data, adler32) to exactly the size its header
 *   states, within its bytes; an object stored whole is also hashed against its id.
 * Each loose object is inflated whole (nothing may follow its stream), its header read, and its
 * content hashed against the id its path names.
 *
 * A delta's result is not rebuilt and hashed here: the check of the history (verify) hashes
 * every object it reaches, and a delta whose bytes match the CRC32 and checksums of its files is
 * as its writer made it.
 */
#ifndef TWIN_STORECHECK_H
#define TWIN_STORECHECK_H

#include <git2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One damage found. */
struct twin_store_damage {
    char file[96]; /* "pack-<hex>.pack", "pack-<hex>.idx", or "objects/<xx>/<rest>" */
    bool has_object;
    git_oid object;
    bool has_offset;
    uint64_t offset;
    char what[240]; /* what is wrong, e.g. "its CRC32 does not match the index's" */
};

/* Called for each damage; a non-zero return stops the check and is returned. */
typedef int (*twin_store_damage_fn)(const struct twin_store_damage *d, void *ctx);

struct twin_store_stats {
    size_t packs, packed_objects, loose_objects, damages;
};

/* Checks every pack of objects_dir/pack and every loose object of objects_dir. Returns 0 when the
 * check ran (whatever it found), or a negative code when it could not (out of memory). */
int twin_storecheck_run(struct twin_store_stats *stats, const char *objects_dir,
                        twin_store_damage_fn fn, void *ctx);

/* Whether every index of objects_dir/pack can be read and points only inside its pack: the part
 * of the check that needs no inflation, quick enough to run before anything reads through the
 * indexes (libgit2 follows an offset past its pack's end without a check). *sound is false when
 * one is damaged; twin_storecheck_run names what. */
int twin_storecheck_indexes(bool *sound, const char *objects_dir);

/* The same for one pack: the files dir/name.pack and dir/name.idx. */
int twin_storecheck_pack(struct twin_store_stats *stats, const char *dir, const char *name,
                         twin_store_damage_fn fn, void *ctx);

/* At most this many damages are reported for one file; a line then says how many more. */
#define TWIN_STORE_DAMAGES_PER_FILE 20

#endif
