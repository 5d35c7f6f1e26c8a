/*
 * Backup and restore of a whole node (twin/backup.h). The archive is a POSIX tar (pax) file that
 * libarchive writes and reads; twin decides which entries go in and which may come out.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include "twin/backup.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
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

#define BACKUP_PATH_MAX 512

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
};

static int add_file(struct writer *w, const char *rel, const struct stat *st)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", w->root, rel);
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
        left -= n;
    }
    archive_entry_free(e);
    close(fd);
    if (rc == 0)
        w->files++;
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
    return rc;
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
    int len = snprintf(text, sizeof(text), "twin backup 1\nnetwork %s\nmember %s\n",
                       twin_node_network_id(n), twin_node_org_id(n));
    struct archive_entry *e = archive_entry_new();
    if (!e)
        return twin_error(TWIN_ERROR, "out of memory");
    archive_entry_set_pathname(e, TWIN_BACKUP_MARKER);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0600);
    archive_entry_set_size(e, len);
    int rc = archive_write_header(w->a, e) != ARCHIVE_OK ||
                     archive_write_data(w->a, text, (size_t)len) != len
                 ? twin_error(TWIN_ERROR, "writing the backup: %s", archive_error_string(w->a))
                 : 0;
    archive_entry_free(e);
    return rc;
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
    if (rc == 0 && archive_write_close(w.a) != ARCHIVE_OK)
        rc = twin_error(TWIN_ERROR, "writing the backup: %s", archive_error_string(w.a));
    if (rc == 0 && fsync(fd) != 0)
        rc = twin_error(TWIN_ERROR, "writing the backup %s: %s", out_path, strerror(errno));
    if (rc == 0 && rename(tmp, out_path) != 0)
        rc = twin_error(TWIN_ERROR, "cannot put the backup at %s: %s", out_path, strerror(errno));
cleanup:
    if (w.a)
        archive_write_free(w.a);
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
        if (start == 0 && !top_entry_kept(part) && strcmp(part, TWIN_BACKUP_MARKER) != 0)
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

static int extract_file(struct archive *a, const char *path, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return twin_error(TWIN_ERROR, "cannot create %s: %s", path, strerror(errno));
    const void *buf;
    size_t size;
    la_int64_t offset, written = 0;
    int rc = 0, r;
    while ((r = archive_read_data_block(a, &buf, &size, &offset)) == ARCHIVE_OK) {
        if (offset != written) {
            rc = twin_error(TWIN_EINVALID, "the backup is damaged: a sparse entry");
            break;
        }
        if (twin_write_all(fd, buf, size) != 0) {
            rc = twin_error(TWIN_ERROR, "writing %s: %s", path, strerror(errno));
            break;
        }
        written += (la_int64_t)size;
    }
    if (rc == 0 && r != ARCHIVE_EOF)
        rc = twin_error(TWIN_EINVALID, "the backup is damaged: %s", archive_error_string(a));
    if (rc == 0 && fsync(fd) != 0)
        rc = twin_error(TWIN_ERROR, "writing %s: %s", path, strerror(errno));
    close(fd);
    return rc;
}

static int check_marker(const char *dir)
{
    char path[PATH_MAX], *text = NULL;
    size_t len;
    snprintf(path, sizeof(path), "%s/%s", dir, TWIN_BACKUP_MARKER);
    int rc = twin_read_file(&text, &len, path, 4096);
    if (rc || strncmp(text, "twin backup 1\n", 14) != 0)
        rc = twin_error(TWIN_EINVALID, "this is not a twin backup (no '%s' entry of version 1)",
                        TWIN_BACKUP_MARKER);
    free(text);
    if (rc == 0)
        unlink(path);
    return rc;
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

int twin_backup_restore(twin_node **out, const char *archive_path, const char *dir)
{
    *out = NULL;
    char tmp[PATH_MAX];
    struct stat st;
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
    struct archive *a = archive_read_new();
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
    int r;
    size_t entries = 0;
    while (rc == 0 && (r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(e);
        char path[PATH_MAX];
        if (!name || !restorable_path(name) || is_hooks(name)) {
            rc = twin_error(TWIN_EINVALID, "the backup holds '%s', which is not part of a node",
                            name ? name : "(no name)");
            break;
        }
        if (entries++ == 0 && strcmp(name, TWIN_BACKUP_MARKER) != 0) {
            rc = twin_error(TWIN_EINVALID, "%s is not a twin backup (it does not begin with '%s')",
                            archive_path, TWIN_BACKUP_MARKER);
            break;
        }
        snprintf(path, sizeof(path), "%s/%s", tmp, name);
        if (archive_entry_filetype(e) == AE_IFDIR) {
            if (mkdir(path, 0700) != 0 && errno != EEXIST)
                rc = twin_error(TWIN_ERROR, "cannot create %s: %s", path, strerror(errno));
        } else if (archive_entry_filetype(e) == AE_IFREG && !archive_entry_hardlink(e)) {
            /* Keys and invites stay the owner's alone; the repository is readable as git makes
             * it. */
            bool secret = strncmp(name, "node.key", 8) == 0 || strncmp(name, "invites", 7) == 0;
            rc = extract_file(a, path, secret ? 0600 : 0644);
        } else {
            rc = twin_error(TWIN_EINVALID,
                            "the backup holds '%s', which is not a plain file or "
                            "directory",
                            name);
        }
    }
    if (rc == 0 && r != ARCHIVE_EOF)
        rc = twin_error(TWIN_EINVALID, "%s is damaged: %s", archive_path, archive_error_string(a));
    if (rc == 0 && entries == 0)
        rc = twin_error(TWIN_EINVALID, "%s is empty: not a twin backup", archive_path);
    if (rc == 0)
        rc = check_marker(tmp);
    if (rc == 0)
        rc = check_restored_store(tmp, archive_path);
    if (rc == 0)
        rc = twin_ops_open(out, tmp);
    if (rc == 0) {
        git_oid head;
        int hr = twin_node_head(&head, *out);
        if (hr && hr != TWIN_ENOHISTORY)
            rc = twin_error_wrap(hr, "the restored history cannot be read");
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
    if (rc)
        nftw(tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}
