/*
 * Backup and restore of a whole node (twin/backup.h). The archive is a POSIX tar (pax) file that
 * libarchive writes and reads; twin decides which entries go in and which may come out.
 *
 * Format 3 (what twin_backup_write makes): the marker first ("twin backup 3", the network, the
 * member), then the node's files and directories, then the wrap store (TWIN_WRAPS_FILE, a copy
 * SQLite made of one moment of it), then the manifest, TWIN_BACKUP_MANIFEST, last:
 *
 *   twin manifest sha256
 *   file SIZE SHA256-HEX PATH      for each file, the marker included, in archive order
 *   dir PATH                       for each directory, in archive order
 *
 * Tar checks its headers but not the data of its entries, and reads an archive cut at a block
 * boundary as a shorter whole one: the manifest is what tells restore the backup is complete and
 * each file as it was written. A restore of format 2 refuses an archive that ends before its
 * manifest, holds anything after it, or whose entries differ from it in any way.
 *
 * Format 2 is format 3 without the wrap store, and format 1 (backups made before the manifest)
 * format 2 without the manifest: restored with the store check only (README.md, "Backup and
 * restore"). Both still restore; a node restored from them starts with an empty wrap store. A
 * reader of format 2 refuses an entry it does not know, such as the wrap store: hence the new
 * format.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include "twin/backup.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "twin/error.h"
#include "twin/ops.h"
#include "twin/store.h"
#include "base/util.h"
#include "store/storecheck.h"
#include "store/wraps.h"

#define BACKUP_PATH_MAX 512

/* The format twin_backup_write makes, and the oldest that restore still reads. */
#define BACKUP_FORMAT        3
#define BACKUP_FORMAT_OLDEST 1
#define BACKUP_FORMATS_READ  "1, 2 or 3"
/* The first format that carries the wrap store. */
#define BACKUP_FORMAT_WRAPS 3
#define MANIFEST_FIRST_LINE "twin manifest sha256\n"
#define MARKER_MAX          4096
/* The most one manifest line can take: "file", a size, a hash, a path, the spaces and newline. */
#define MANIFEST_LINE_MAX (5 + 21 + 2 * crypto_hash_sha256_BYTES + 1 + BACKUP_PATH_MAX + 1)

/* What a node's directory holds that belongs in a backup: its keys (node.key, node.key.prev,
 * and node.key.new when a rotation is in progress: restore settles it by history like any open),
 * open invites, and the repository (history, reflog, journal of heads, settings and peers in its
 * config). Lock files, temporary files and quarantines are left out. */
static bool top_entry_kept(const char *name)
{
    return strcmp(name, "node.key") == 0 || strcmp(name, "node.key.prev") == 0 ||
           strcmp(name, "node.key.new") == 0 || strcmp(name, "repo.git") == 0 ||
           strcmp(name, "invites") == 0;
}

/* repo.git/hooks holds programs git would run: a backup carries none, and a restore takes
 * none. */
static bool is_hooks(const char *rel)
{
    return strcmp(rel, "repo.git/hooks") == 0 || strncmp(rel, "repo.git/hooks/", 15) == 0;
}

static bool inner_entry_kept(const char *name)
{
    size_t len = strlen(name);
    return !(len >= 5 && strcmp(name + len - 5, ".lock") == 0) && !strstr(name, ".tmp-") &&
           strncmp(name, "incoming-", 9) != 0 && strncmp(name, "tmp_", 4) != 0;
}

struct writer {
    struct archive *a;
    const char *root; /* the node's directory */
    size_t files;
    char *manifest; /* the manifest so far */
    size_t mlen, mcap;
};

static int manifest_add(struct writer *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int manifest_add(struct writer *w, const char *fmt, ...)
{
    char line[MANIFEST_LINE_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(line))
        return twin_error(TWIN_ELIMIT, "a manifest line too long");
    if (twin_util_grow((void **)&w->manifest, &w->mcap, w->mlen + (size_t)n + 1, 1))
        return TWIN_ERROR;
    memcpy(w->manifest + w->mlen, line, (size_t)n + 1);
    w->mlen += (size_t)n;
    return 0;
}

static int manifest_add_file(struct writer *w, const char *rel, uint64_t size,
                             const unsigned char hash[crypto_hash_sha256_BYTES])
{
    char hex[2 * crypto_hash_sha256_BYTES + 1];
    sodium_bin2hex(hex, sizeof(hex), hash, crypto_hash_sha256_BYTES);
    return manifest_add(w, "file %" PRIu64 " %s %s\n", size, hex, rel);
}

/* Writes one regular file's header and its data, held in memory. */
static int add_text(struct writer *w, const char *name, const char *text, size_t len)
{
    struct archive_entry *e = archive_entry_new();
    if (!e)
        return twin_error(TWIN_ERROR, "out of memory");
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0600);
    archive_entry_set_size(e, (la_int64_t)len);
    int rc = archive_write_header(w->a, e) != ARCHIVE_OK ||
                     (len && archive_write_data(w->a, text, len) != (la_ssize_t)len)
                 ? twin_error(TWIN_ERROR, "writing the backup: %s", archive_error_string(w->a))
                 : 0;
    archive_entry_free(e);
    return rc;
}

/* Adds the file at path as the entry rel, with its line in the manifest. */
static int add_file_from(struct writer *w, const char *rel, const char *path, const struct stat *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0; /* went away meanwhile (a key rotation finished): not part of the state */
        return twin_error(TWIN_ERROR, "cannot read %s: %s", path, strerror(errno));
    }
    struct archive_entry *e = archive_entry_new();
    int rc = 0;
    if (!e) {
        close(fd);
        return twin_error(TWIN_ERROR, "out of memory");
    }
    archive_entry_set_pathname(e, rel);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, st->st_mode & 0700);
    archive_entry_set_size(e, st->st_size);
    archive_entry_set_mtime(e, st->st_mtim.tv_sec, 0);
    if (archive_write_header(w->a, e) != ARCHIVE_OK)
        rc = twin_error(TWIN_ERROR, "writing the backup: %s", archive_error_string(w->a));
    char buf[65536];
    off_t left = st->st_size;
    crypto_hash_sha256_state hash;
    crypto_hash_sha256_init(&hash);
    while (rc == 0 && left > 0) {
        ssize_t n = read(fd, buf, sizeof(buf) < (size_t)left ? sizeof(buf) : (size_t)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = twin_error(TWIN_ERROR, "reading %s: %s", path,
                            n < 0 ? strerror(errno) : "it became shorter while being read");
            break;
        }
        if (archive_write_data(w->a, buf, (size_t)n) != n)
            rc = twin_error(TWIN_ERROR, "writing the backup: %s", archive_error_string(w->a));
        crypto_hash_sha256_update(&hash, (const unsigned char *)buf, (unsigned long long)n);
        left -= n;
    }
    archive_entry_free(e);
    close(fd);
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&hash, digest);
    if (rc == 0)
        rc = manifest_add_file(w, rel, (uint64_t)st->st_size, digest);
    if (rc == 0)
        w->files++;
    return rc;
}

static int add_file(struct writer *w, const char *rel, const struct stat *st)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", w->root, rel);
    return add_file_from(w, rel, path, st);
}

/* The wrap store (format 3): not its files, which sessions write outside the writer lock, but a
 * copy SQLite makes of one moment of it, written to a temporary file beside the backup and added
 * as TWIN_WRAPS_FILE. */
static int add_wraps(struct writer *w, twin_node *n, const char *out_path)
{
    char tmp[PATH_MAX];
    twin_wraps *store = NULL;
    struct stat st;
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp-wraps-XXXXXX", out_path) >= sizeof(tmp))
        return twin_error(TWIN_ELIMIT, "%s: path too long", out_path);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return twin_error(TWIN_ERROR, "cannot create a file next to %s: %s", out_path,
                          strerror(errno));
    close(fd);
    int rc = twin_node_wraps(&store, n);
    if (rc == 0)
        rc = twin_wraps_copy(store, tmp);
    if (rc == 0 && stat(tmp, &st) != 0)
        rc = twin_error(TWIN_ERROR, "cannot read %s: %s", tmp, strerror(errno));
    if (rc == 0)
        rc = add_file_from(w, TWIN_WRAPS_FILE, tmp, &st);
    unlink(tmp);
    return rc;
}

static int add_dir_entry(struct writer *w, const char *rel)
{
    struct archive_entry *e = archive_entry_new();
    if (!e)
        return twin_error(TWIN_ERROR, "out of memory");
    archive_entry_set_pathname(e, rel);
    archive_entry_set_filetype(e, AE_IFDIR);
    archive_entry_set_perm(e, 0700);
    int rc = archive_write_header(w->a, e) == ARCHIVE_OK
                 ? 0
                 : twin_error(TWIN_ERROR, "writing the backup: %s", archive_error_string(w->a));
    archive_entry_free(e);
    return rc ? rc : manifest_add(w, "dir %s\n", rel);
}

/* Adds the directory rel (relative to the node's directory) and everything kept under it. */
static int add_tree(struct writer *w, const char *rel, int depth)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", w->root, rel);
    if (depth > 8)
        return twin_error(TWIN_EINVALID, "%s: directories nested too deep for a node", path);
    DIR *d = opendir(path);
    if (!d)
        return twin_error(TWIN_ERROR, "cannot read %s: %s", path, strerror(errno));
    int rc = add_dir_entry(w, rel);
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            !inner_entry_kept(de->d_name))
            continue;
        char child[BACKUP_PATH_MAX];
        if ((size_t)snprintf(child, sizeof(child), "%s/%s", rel, de->d_name) >= sizeof(child)) {
            rc = twin_error(TWIN_ELIMIT, "%s/%s: path too long for a backup", rel, de->d_name);
            break;
        }
        char full[PATH_MAX];
        struct stat st;
        snprintf(full, sizeof(full), "%s/%s", w->root, child);
        if (is_hooks(child) || lstat(full, &st) != 0)
            continue; /* hooks are left out; or it went away meanwhile */
        if (S_ISDIR(st.st_mode))
            rc = add_tree(w, child, depth + 1);
        else if (S_ISREG(st.st_mode))
            rc = add_file(w, child, &st);
        /* Links, sockets and the like are no part of a node. */
    }
    closedir(d);
    return rc;
}

static int add_marker(struct writer *w, twin_node *n)
{
    char text[256];
    unsigned char digest[crypto_hash_sha256_BYTES];
    int len = snprintf(text, sizeof(text), "twin backup %d\nnetwork %s\nmember %s\n", BACKUP_FORMAT,
                       twin_node_network_id(n), twin_node_org_id(n));
    crypto_hash_sha256(digest, (const unsigned char *)text, (unsigned long long)len);
    int rc = manifest_add(w, "%s", MANIFEST_FIRST_LINE);
    if (rc == 0)
        rc = add_text(w, TWIN_BACKUP_MARKER, text, (size_t)len);
    return rc ? rc : manifest_add_file(w, TWIN_BACKUP_MARKER, (uint64_t)len, digest);
}

int twin_backup_write(size_t *files_out, twin_node *n, const char *out_path)
{
    char tmp[PATH_MAX];
    int lock = -1, key_lock = -1, fd = -1, rc = 0;
    *files_out = 0;
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", out_path) >= sizeof(tmp))
        return twin_error(TWIN_ELIMIT, "%s: path too long", out_path);
    if ((fd = mkstemp(tmp)) < 0)
        return twin_error(TWIN_ERROR, "cannot create a file next to %s: %s", out_path,
                          strerror(errno));
    struct writer w = {.a = archive_write_new(), .root = twin_node_dir(n)};
    if (!w.a || fchmod(fd, 0600) != 0) {
        rc = twin_error(TWIN_ERROR, "cannot start the backup: %s", strerror(errno));
        goto cleanup;
    }
    /* The key files hold still under the rotation lock, and the branch and the packs under the
     * writer lock (taken in the order a rotation takes them): the backup is one state, and a
     * node.key.new in it can only be one a crashed rotation left, which its history settles. */
    if ((rc = twin_ops_key_lock(&key_lock, n)) || (rc = twin_store_lock(&lock, twin_node_repo(n))))
        goto cleanup;
    if (archive_write_set_format_pax_restricted(w.a) != ARCHIVE_OK ||
        archive_write_open_fd(w.a, fd) != ARCHIVE_OK) {
        rc = twin_error(TWIN_ERROR, "cannot start the backup: %s", archive_error_string(w.a));
        goto cleanup;
    }
    if ((rc = add_marker(&w, n)))
        goto cleanup;
    DIR *d = opendir(w.root);
    if (!d) {
        rc = twin_error(TWIN_ERROR, "cannot read %s: %s", w.root, strerror(errno));
        goto cleanup;
    }
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        struct stat st;
        char full[PATH_MAX];
        if (!top_entry_kept(de->d_name))
            continue;
        snprintf(full, sizeof(full), "%s/%s", w.root, de->d_name);
        if (lstat(full, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            rc = add_tree(&w, de->d_name, 0);
        else if (S_ISREG(st.st_mode))
            rc = add_file(&w, de->d_name, &st);
    }
    closedir(d);
    if (rc == 0)
        rc = add_wraps(&w, n, out_path);
    /* The manifest last: a backup that holds it holds everything before it. */
    if (rc == 0)
        rc = add_text(&w, TWIN_BACKUP_MANIFEST, w.manifest, w.mlen);
    if (rc == 0 && archive_write_close(w.a) != ARCHIVE_OK)
        rc = twin_error(TWIN_ERROR, "writing the backup: %s", archive_error_string(w.a));
    if (rc == 0 && fsync(fd) != 0)
        rc = twin_error(TWIN_ERROR, "writing the backup %s: %s", out_path, strerror(errno));
    if (rc == 0 && rename(tmp, out_path) != 0)
        rc = twin_error(TWIN_ERROR, "cannot put the backup at %s: %s", out_path, strerror(errno));
cleanup:
    if (w.a)
        archive_write_free(w.a);
    free(w.manifest);
    twin_store_unlock(lock);
    if (key_lock >= 0)
        close(key_lock);
    if (fd >= 0)
        close(fd);
    if (rc)
        unlink(tmp);
    else
        *files_out = w.files;
    return rc;
}

/* ---- restore -------------------------------------------------------------------------------- */

/* Whether an archive path names something a node holds: relative, components of letters,
 * digits, '.', '-' and '_' only, no '.' or '..' component, and under a kept top entry. */
static bool restorable_path(const char *p)
{
    size_t len = strlen(p);
    if (len == 0 || len >= BACKUP_PATH_MAX || p[0] == '/')
        return false;
    if (p[len - 1] == '/')
        len--; /* a directory's trailing slash */
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && p[i] != '/') {
            char c = p[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == '_'))
                return false;
            continue;
        }
        size_t n = i - start;
        char part[BACKUP_PATH_MAX];
        memcpy(part, p + start, n);
        part[n] = '\0';
        if (n == 0 || strcmp(part, ".") == 0 || strcmp(part, "..") == 0)
            return false;
        /* The marker, the manifest and the wrap store are files at the top, with nothing
         * under them. */
        bool marker = strcmp(part, TWIN_BACKUP_MARKER) == 0 ||
                      strcmp(part, TWIN_BACKUP_MANIFEST) == 0 || strcmp(part, TWIN_WRAPS_FILE) == 0;
        if (start == 0 && !top_entry_kept(part) && !(marker && i == len))
            return false;
        start = i + 1;
    }
    return true;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* One entry as restore read it, to hold against the manifest. */
struct read_entry {
    char *path; /* without a directory's trailing '/' */
    bool dir;
    uint64_t size;
    unsigned char hash[crypto_hash_sha256_BYTES];
};

struct reader {
    struct archive *a;
    const char *archive_path;
    struct read_entry *entries;
    size_t count, cap;
    int format;     /* the marker's */
    bool wraps;     /* it held the wrap store */
    char *manifest; /* format 2: its text, once read */
    size_t manifest_len;
};

static void reader_free(struct reader *r)
{
    for (size_t i = 0; i < r->count; i++)
        free(r->entries[i].path);
    free(r->entries);
    free(r->manifest);
}

static int reader_add(struct reader *r, const char *path, bool dir, uint64_t size,
                      const unsigned char *hash)
{
    if (twin_util_grow((void **)&r->entries, &r->cap, r->count + 1, sizeof(*r->entries)))
        return TWIN_ERROR;
    struct read_entry *e = &r->entries[r->count];
    size_t len = strlen(path);
    while (dir && len > 1 && path[len - 1] == '/')
        len--;
    if (!(e->path = strndup(path, len)))
        return twin_error(TWIN_ERROR, "out of memory");
    e->dir = dir;
    e->size = size;
    if (hash)
        memcpy(e->hash, hash, sizeof(e->hash));
    else
        memset(e->hash, 0, sizeof(e->hash));
    r->count++;
    return 0;
}

/* Reads the current entry's data, counting and hashing it: written to fd when fd >= 0 (path
 * names the file in errors), otherwise kept in *mem, NUL-terminated, up to max bytes. */
static int read_data(struct reader *r, int fd, const char *path, char **mem, size_t max,
                     uint64_t *size, unsigned char hash[crypto_hash_sha256_BYTES])
{
    const void *buf;
    size_t n, cap = 0;
    la_int64_t offset;
    uint64_t got = 0;
    char *m = NULL;
    int rc = 0, st;
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    while ((st = archive_read_data_block(r->a, &buf, &n, &offset)) == ARCHIVE_OK) {
        if (offset < 0 || (uint64_t)offset != got) {
            rc = twin_error(TWIN_EINVALID, "%s is damaged: a sparse entry", r->archive_path);
            break;
        }
        if (fd >= 0 && twin_util_write_all(fd, buf, n) != 0) {
            rc = twin_error(TWIN_ERROR, "writing %s: %s", path, strerror(errno));
            break;
        }
        if (fd < 0) {
            if (n > max - got) {
                rc = twin_error(TWIN_EINVALID, "%s is damaged: its '%s' is larger than it can be",
                                r->archive_path, path);
                break;
            }
            if (twin_util_grow((void **)&m, &cap, got + n + 1, 1)) {
                rc = TWIN_ERROR;
                break;
            }
            memcpy(m + got, buf, n);
        }
        crypto_hash_sha256_update(&h, buf, n);
        got += n;
    }
    if (rc == 0 && st != ARCHIVE_EOF)
        rc = twin_error(TWIN_EINVALID, "%s is damaged: %s", r->archive_path,
                        archive_error_string(r->a));
    crypto_hash_sha256_final(&h, hash);
    *size = got;
    if (fd < 0 && rc == 0 && !m && !(m = calloc(1, 1)))
        rc = twin_error(TWIN_ERROR, "out of memory");
    if (fd < 0 && rc == 0) {
        m[got] = '\0';
        *mem = m;
    } else {
        free(m);
    }
    return rc;
}

static int extract_file(struct reader *r, const char *name, const char *path, mode_t mode)
{
    uint64_t size;
    unsigned char hash[crypto_hash_sha256_BYTES];
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return twin_error(TWIN_ERROR, "cannot create %s: %s", path, strerror(errno));
    int rc = read_data(r, fd, path, NULL, 0, &size, hash);
    if (rc == 0 && fsync(fd) != 0)
        rc = twin_error(TWIN_ERROR, "writing %s: %s", path, strerror(errno));
    close(fd);
    return rc ? rc : reader_add(r, name, false, size, hash);
}

/* The first entry: the marker, read (not extracted) for the format it names. */
static int read_marker(struct reader *r, struct archive_entry *e)
{
    const char *name = archive_entry_pathname(e);
    char *text = NULL;
    uint64_t size;
    unsigned char hash[crypto_hash_sha256_BYTES];
    if (strcmp(name, TWIN_BACKUP_MARKER) != 0 || archive_entry_filetype(e) != AE_IFREG)
        return twin_error(TWIN_EINVALID, "%s is not a twin backup (it does not begin with '%s')",
                          r->archive_path, TWIN_BACKUP_MARKER);
    int rc = read_data(r, -1, name, &text, MARKER_MAX, &size, hash);
    if (rc)
        return rc;
    r->format = 0;
    for (int v = BACKUP_FORMAT_OLDEST; v <= BACKUP_FORMAT; v++) {
        char first[32];
        int len = snprintf(first, sizeof(first), "twin backup %d\n", v);
        if (strncmp(text, first, (size_t)len) == 0)
            r->format = v;
    }
    free(text);
    if (!r->format)
        return twin_error(TWIN_EINVALID, "this is not a twin backup (no '%s' entry of version %s)",
                          TWIN_BACKUP_MARKER, BACKUP_FORMATS_READ);
    return reader_add(r, name, false, size, hash);
}

/* Reads one manifest line ("file SIZE HASH PATH" or "dir PATH") into its parts: 0, or -1. */
static int parse_manifest_line(char *line, struct read_entry *out)
{
    memset(out, 0, sizeof(*out));
    if (strncmp(line, "dir ", 4) == 0) {
        out->dir = true;
        out->path = line + 4;
        return *out->path ? 0 : -1;
    }
    if (strncmp(line, "file ", 5) != 0)
        return -1;
    char *p = line + 5, *end;
    if (*p < '0' || *p > '9')
        return -1;
    errno = 0;
    unsigned long long size = strtoull(p, &end, 10);
    if (errno || *end != ' ')
        return -1;
    out->size = size;
    p = end + 1;
    size_t bin_len = 0;
    const char *hex_end = NULL;
    if (sodium_hex2bin(out->hash, sizeof(out->hash), p, 2 * crypto_hash_sha256_BYTES, NULL,
                       &bin_len, &hex_end) != 0 ||
        bin_len != sizeof(out->hash) || hex_end != p + 2 * crypto_hash_sha256_BYTES ||
        *hex_end != ' ')
        return -1;
    out->path = (char *)hex_end + 1;
    return *out->path ? 0 : -1;
}

/* Holds the entries read against the manifest: the same entries in the same order, each file
 * of the size and SHA-256 the manifest gives. */
static int check_manifest(const struct reader *r)
{
    const char *p = r->manifest, *end = r->manifest + r->manifest_len;
    size_t first = strlen(MANIFEST_FIRST_LINE);
    if (r->manifest_len < first || memcmp(p, MANIFEST_FIRST_LINE, first) != 0)
        return twin_error(TWIN_EINVALID, "%s is damaged: its manifest does not begin as one does",
                          r->archive_path);
    p += first;
    for (size_t i = 0;; i++) {
        if (p == end)
            return i == r->count
                       ? 0
                       : twin_error(TWIN_EINVALID,
                                    "%s is damaged: it holds '%s', which its manifest does not "
                                    "list",
                                    r->archive_path, r->entries[i].path);
        char line[MANIFEST_LINE_MAX + 1];
        struct read_entry want;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl || (size_t)(nl - p) >= sizeof(line) || memchr(p, '\0', (size_t)(nl - p))) {
            return twin_error(TWIN_EINVALID, "%s is damaged: line %zu of its manifest is not one",
                              r->archive_path, i + 2);
        }
        memcpy(line, p, (size_t)(nl - p));
        line[nl - p] = '\0';
        p = nl + 1;
        if (parse_manifest_line(line, &want) != 0)
            return twin_error(TWIN_EINVALID, "%s is damaged: line %zu of its manifest is not one",
                              r->archive_path, i + 2);
        if (i >= r->count)
            return twin_error(TWIN_EINVALID,
                              "%s is damaged or incomplete: it lacks '%s', which its manifest "
                              "lists",
                              r->archive_path, want.path);
        const struct read_entry *got = &r->entries[i];
        if (want.dir != got->dir || strcmp(want.path, got->path) != 0)
            return twin_error(TWIN_EINVALID,
                              "%s is damaged: its manifest lists %s '%s' where it holds %s '%s'",
                              r->archive_path, want.dir ? "directory" : "file", want.path,
                              got->dir ? "directory" : "file", got->path);
        if (!want.dir &&
            (want.size != got->size || sodium_memcmp(want.hash, got->hash, sizeof(want.hash)) != 0))
            return twin_error(TWIN_EINVALID,
                              "%s is damaged: '%s' is not as it was written (its %s differs from "
                              "the manifest's)",
                              r->archive_path, got->path,
                              want.size != got->size ? "size" : "SHA-256");
    }
}

/* The first damage the store check finds refuses the restore: it names it and stops the check. */
static int refuse_damage(const struct twin_store_damage *d, void *ctx)
{
    const char *archive_path = ctx;
    char hex[GIT_OID_HEXSZ + 1] = "", where[128] = "";
    if (d->has_object)
        git_oid_tostr(hex, sizeof(hex), &d->object);
    if (d->has_object && strncmp(d->file, "objects/", 8) != 0)
        snprintf(where, sizeof(where), ", object %s", hex);
    else if (d->has_offset)
        snprintf(where, sizeof(where), " at offset %llu", (unsigned long long)d->offset);
    return twin_error(TWIN_EINVALID, "%s is damaged: in the store it holds, %s%s: %s", archive_path,
                      d->file, where, d->what);
}

/* Checks every pack and loose object of the restored repository as twin verify does (the
 * objects' bytes, checksums and ids; store/storecheck.h): a backup whose store is damaged is
 * refused rather than restored as a node that verify would find broken later. */
static int check_restored_store(const char *tmp, const char *archive_path)
{
    char objects[PATH_MAX];
    struct twin_store_stats stats;
    if ((size_t)snprintf(objects, sizeof(objects), "%s/repo.git/objects", tmp) >= sizeof(objects))
        return twin_error(TWIN_ELIMIT, "%s: path too long", tmp);
    return twin_storecheck_run(&stats, objects, refuse_damage, (void *)archive_path);
}

/* The restored wrap store is opened (a file that is no wrap store is refused, naming it), given
 * a new id, since its seq went back to what it was at the backup (proto/SEALED.md 4), and brought
 * up to the restored head: a backup taken while a session was between moving the branch and
 * deleting the keys of what it erased still holds those keys. (A backup taken before an erasure
 * holds them too, with a history that does not yet erase: the sync that brings the erasure deletes
 * them.) */
static int restore_wraps(twin_node *n, const char *archive_path)
{
    twin_wraps *store = NULL;
    size_t deleted;
    int rc = twin_node_wraps(&store, n);
    if (rc == 0)
        rc = twin_wraps_new_id(store);
    if (rc)
        return twin_error_wrap(TWIN_EINVALID, "%s is damaged: its '%s' is no wrap store",
                               archive_path, TWIN_WRAPS_FILE);
    return twin_ops_upkeep_head(n, &deleted);
}

int twin_backup_restore(twin_node **out, const char *archive_path, const char *dir)
{
    *out = NULL;
    char tmp[PATH_MAX];
    struct stat st;
    struct reader r = {.archive_path = archive_path};
    int rc = 0, fd = -1;
    if (stat(dir, &st) == 0) {
        DIR *d = opendir(dir);
        bool empty = d != NULL;
        struct dirent *de;
        while (d && empty && (de = readdir(d)) != NULL)
            empty = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;
        if (d)
            closedir(d);
        if (!empty)
            return twin_error(TWIN_EEXISTS,
                              "%s exists and is not empty; restore into a new "
                              "directory",
                              dir);
    }
    /* The temporary directory stands beside the target: a trailing '/' would put it inside. */
    size_t dlen = strlen(dir);
    while (dlen > 1 && dir[dlen - 1] == '/')
        dlen--;
    if ((size_t)snprintf(tmp, sizeof(tmp), "%.*s.restore-XXXXXX", (int)dlen, dir) >= sizeof(tmp))
        return twin_error(TWIN_ELIMIT, "%s: path too long", dir);
    if (!mkdtemp(tmp))
        return twin_error(TWIN_ERROR, "cannot create a directory next to %s: %s", dir,
                          strerror(errno));
    struct archive *a = r.a = archive_read_new();
    if (!a) {
        rc = twin_error(TWIN_ERROR, "out of memory");
        goto cleanup;
    }
    archive_read_support_format_tar(a);
    /* The file is opened here, not by libarchive, so that what failed decides the code: the
     * file cannot be had (TWIN_ENOTFOUND when it is not there), or what it holds is no archive
     * (TWIN_EINVALID), which libarchive reports with no errno to go by. */
    if ((fd = open(archive_path, O_RDONLY | O_CLOEXEC)) < 0) {
        rc = twin_error(errno == ENOENT ? TWIN_ENOTFOUND : TWIN_ERROR, "cannot read %s: %s",
                        archive_path, strerror(errno));
        goto cleanup;
    }
    if (archive_read_open_fd(a, fd, 65536) != ARCHIVE_OK) {
        rc = twin_error(TWIN_EINVALID, "%s is not a twin backup: %s", archive_path,
                        archive_error_string(a));
        goto cleanup;
    }
    struct archive_entry *e;
    int st_next = ARCHIVE_OK;
    while (rc == 0 && (st_next = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(e);
        char path[PATH_MAX];
        if (!name || !restorable_path(name) || is_hooks(name) ||
            (r.format < 2 && r.count && strcmp(name, TWIN_BACKUP_MANIFEST) == 0) ||
            (r.format < BACKUP_FORMAT_WRAPS && r.count && strcmp(name, TWIN_WRAPS_FILE) == 0)) {
            rc = twin_error(TWIN_EINVALID, "the backup holds '%s', which is not part of a node",
                            name ? name : "(no name)");
            break;
        }
        if (r.count == 0) {
            rc = read_marker(&r, e);
            continue;
        }
        if (r.manifest) {
            rc = twin_error(TWIN_EINVALID, "%s is damaged: it holds '%s' after its manifest",
                            archive_path, name);
            break;
        }
        bool is_file = archive_entry_filetype(e) == AE_IFREG && !archive_entry_hardlink(e);
        if (strcmp(name, TWIN_BACKUP_MARKER) == 0 ||
            (strcmp(name, TWIN_BACKUP_MANIFEST) == 0 && !is_file)) {
            rc = twin_error(TWIN_EINVALID, "%s is damaged: it holds a second '%s'", archive_path,
                            name);
            break;
        }
        if (strcmp(name, TWIN_BACKUP_MANIFEST) == 0) {
            /* Read, not extracted: at most a line for each entry before it, and its first. */
            uint64_t size;
            unsigned char hash[crypto_hash_sha256_BYTES];
            size_t max = (r.count + 1) * MANIFEST_LINE_MAX;
            if ((rc = read_data(&r, -1, name, &r.manifest, max, &size, hash)) == 0)
                r.manifest_len = (size_t)size;
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", tmp, name);
        if (archive_entry_filetype(e) == AE_IFDIR) {
            if (mkdir(path, 0700) != 0 && errno != EEXIST)
                rc = twin_error(TWIN_ERROR, "cannot create %s: %s", path, strerror(errno));
            else
                rc = reader_add(&r, name, true, 0, NULL);
        } else if (is_file) {
            /* Keys, invites and the wrap store stay the owner's alone; the repository is
             * readable as git makes it. */
            bool wraps = strcmp(name, TWIN_WRAPS_FILE) == 0;
            bool secret =
                strncmp(name, "node.key", 8) == 0 || strncmp(name, "invites", 7) == 0 || wraps;
            rc = extract_file(&r, name, path, secret ? 0600 : 0644);
            r.wraps = r.wraps || (rc == 0 && wraps);
        } else {
            rc = twin_error(TWIN_EINVALID,
                            "the backup holds '%s', which is not a plain file or "
                            "directory",
                            name);
        }
    }
    if (rc == 0 && st_next != ARCHIVE_EOF)
        rc = twin_error(TWIN_EINVALID, "%s is damaged: %s", archive_path, archive_error_string(a));
    if (rc == 0 && r.count == 0)
        rc = twin_error(TWIN_EINVALID, "%s is empty: not a twin backup", archive_path);
    /* Format 2 promises a manifest: an archive that ends without it was cut short, if only at
     * the boundary between two entries, which tar reads as a whole, shorter archive. */
    if (rc == 0 && r.format >= 2 && !r.manifest)
        rc = twin_error(TWIN_EINVALID,
                        "%s is damaged or incomplete: it ends before its manifest (cut short?)",
                        archive_path);
    if (rc == 0 && r.format >= 2)
        rc = check_manifest(&r);
    if (rc == 0)
        rc = check_restored_store(tmp, archive_path);
    if (rc == 0)
        rc = twin_ops_open(out, tmp);
    if (rc == 0) {
        git_oid head;
        int hr = twin_node_head(&head, *out);
        if (hr && hr != TWIN_ENOHISTORY)
            rc = twin_error_wrap(hr, "the restored history cannot be read");
        if (rc == 0 && r.wraps)
            rc = restore_wraps(*out, archive_path);
        twin_node_free(*out);
        *out = NULL;
    }
    if (rc == 0) {
        /* An empty directory given as the target is replaced by the restored node. */
        rmdir(dir);
        if (rename(tmp, dir) != 0)
            rc = twin_error(TWIN_ERROR, "cannot move the restored node into %s: %s", dir,
                            strerror(errno));
    }
    if (rc == 0)
        rc = twin_ops_open(out, dir);
cleanup:
    if (a)
        archive_read_free(a);
    if (fd >= 0)
        close(fd);
    reader_free(&r);
    if (rc)
        nftw(tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}
