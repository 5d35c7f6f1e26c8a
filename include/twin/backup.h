/*
 * Backup and restore of a whole node: history, key, settings, peers and the wrap store of sealed
 * records in one file (a tar archive written and read with libarchive), taken under the writer
 * lock so that it holds one consistent state, and restored into a new directory only once every
 * entry has been checked.
 */
#ifndef TWIN_BACKUP_H
#define TWIN_BACKUP_H

#include "twin/node.h"

/* The first entry of every backup: a short text naming the format, the network and the
 * member, so that restore can refuse a file that is not a twin backup. */
#define TWIN_BACKUP_MARKER "twin-backup"

/* The last entry of a backup of format 2 or 3: every file with its size and SHA-256 and every
 * directory, in archive order, so that restore can refuse a backup that was cut short (even
 * between two entries, which tar alone cannot tell) or whose data was damaged. */
#define TWIN_BACKUP_MANIFEST "twin-manifest"

/* Writes the node's backup to out_path (mode 0600: it holds the secret key), replacing the file
 * only once the backup is whole. *files_out counts the files it holds. */
int twin_backup_write(size_t *files_out, twin_node *n, const char *out_path);

/* Restores a backup into dir, which must not exist or be empty; nothing appears in dir unless the
 * whole archive was read, every entry is a file a node holds (no absolute paths, `..`, links or
 * devices), the entries are exactly those its manifest lists with the sizes and SHA-256 it gives
 * (a backup of format 1, made before the manifest, has none to check), the restored store
 * passes the store check and the wrap store (format 3) opens. Otherwise TWIN_EINVALID says what
 * is wrong, and nothing is left behind. The wrap store gets a new store id and loses the keys of
 * records erased at the restored head (twin_ops_upkeep_head); a backup of format 1 or 2 restores
 * with an empty one. The restored node is then opened: on success *out is it. */
int twin_backup_restore(twin_node **out, const char *archive_path, const char *dir);

#endif
