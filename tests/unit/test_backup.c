/* Backup and restore of a whole node: the restored node has the same head, key, settings, peers
 * and open invites, and reads the sealed records it read (its wrap store, under a new store id,
 * with no key of a record erased at its head); the backup file is the owner's alone; a target that
 * is not empty, a file that is not a backup, an archive with entries outside a node, and a backup
 * cut short or damaged (its wrap store included) are each refused with a message saying so, and
 * leave nothing behind. Backups of the formats before (no wrap store; no manifest) restore. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <sodium.h>

#include "helpers.h"
#include "store/wraps.h"
#include "twin/backup.h"
#include "twin/invite.h"
#include "twin/network.h"
#include "twin/node.h"
#include "twin/ops.h"
#include "twin/peers.h"
#include "twin/record.h"
#include "twin/global.h"

static const struct twin_identity who = {"Ministry of Finance of Exampleland", "XE-EXAMPLE-MOF",
                                         "NL", "north", "10"};

struct env {
    struct fixture *f;
    char dir[160], backup[160], target[160];
    twin_node *node;
    twin_keypair peer;
};

static int set_title(json_t *rec, void *ctx)
{
    return twin_record_set_path(rec, "title", ctx);
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    char id[TWIN_ID_LEN + 1], line[TWIN_OPENSSH_PUB_MAX], *token = NULL;
    git_oid commit;
    if (!e || fixture_setup((void **)&e->f))
        return -1;
    snprintf(e->dir, sizeof(e->dir), "%s/node", e->f->dir);
    snprintf(e->backup, sizeof(e->backup), "%s/node.backup", e->f->dir);
    snprintf(e->target, sizeof(e->target), "%s/restored", e->f->dir);
    keypair_from_seed(&e->peer, 0x77);
    twin_key_format_openssh(line, e->peer.pk);
    /* History, a peer with a recorded session, a setting and an open invite. */
    if (twin_network_create(&e->node, e->dir, &who, "Example Tax Twinning") ||
        twin_ops_add(id, &commit, e->node, "note", set_title, "Before the backup") ||
        twin_ops_add(id, &commit, e->node, "note", set_title, "Also before") ||
        twin_peers_add(e->node, "south", "192.0.2.7:7447", line) ||
        twin_peers_record(e->node, "south", "ok: 2 commits sent") ||
        twin_node_config_set(e->node, "twin.address", "192.0.2.1:7447") ||
        twin_invite_create(&token, NULL, e->node, "192.0.2.1:7447", "editor", 3600, NULL)) {
        print_error("setup: %s\n", twin_error_last());
        return -1;
    }
    free(token);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    twin_node_free(e->node);
    void *f = e->f;
    fixture_teardown(&f);
    free(e);
    return 0;
}

static size_t backup_ok(struct env *e)
{
    size_t files = 0;
    if (twin_backup_write(&files, e->node, e->backup))
        fail_msg("backup: %s", twin_error_last());
    return files;
}

/* The node restored from the backup at path into the fixture's target, at the node's head. */
static twin_node *restore_same_head(struct env *e, const char *path)
{
    twin_node *r = NULL;
    if (twin_backup_restore(&r, path, e->target))
        fail_msg("restore: %s", twin_error_last());
    git_oid a, b;
    assert_int_equal(twin_node_head(&a, e->node), 0);
    assert_int_equal(twin_node_head(&b, r), 0);
    assert_true(git_oid_equal(&a, &b));
    return r;
}

/* Nothing in the fixture's directory but what it held before: no half-restored node, no
 * temporary directory or file beside it. */
static void assert_nothing_left_but(struct env *e, bool target)
{
    DIR *d = opendir(e->f->dir);
    struct dirent *de;
    assert_non_null(d);
    while ((de = readdir(d)))
        if (strstr(de->d_name, ".restore-") || strstr(de->d_name, ".tmp-") ||
            (!target && strcmp(de->d_name, "restored") == 0))
            fail_msg("left behind: %s/%s", e->f->dir, de->d_name);
    closedir(d);
}

static void assert_nothing_left(struct env *e)
{
    assert_nothing_left_but(e, false);
}

static void restore_refused(struct env *e, const char *archive, int code, const char *part)
{
    twin_node *n = (twin_node *)&n;
    assert_error(twin_backup_restore(&n, archive, e->target), code, part);
    assert_null(n);
    assert_nothing_left(e);
}

/* ---- backup and restore --------------------------------------------------------------------- */

static void a_restored_node_has_the_same_head_key_settings_and_peers(void **state)
{
    struct env *e = *state;
    size_t files = backup_ok(e);
    assert_true(files >= 5); /* node.key, the config, HEAD, a ref, objects... */

    twin_node *r = NULL;
    if (twin_backup_restore(&r, e->backup, e->target))
        fail_msg("restore: %s", twin_error_last());
    assert_non_null(r);
    git_oid a, b;
    assert_int_equal(twin_node_head(&a, e->node), 0);
    assert_int_equal(twin_node_head(&b, r), 0);
    assert_true(git_oid_equal(&a, &b));
    assert_memory_equal(twin_node_key(r)->pk, twin_node_key(e->node)->pk, TWIN_PUBKEY_BYTES);
    assert_memory_equal(twin_node_key(r)->sk, twin_node_key(e->node)->sk, TWIN_SECKEY_BYTES);
    assert_string_equal(twin_node_network_id(r), twin_node_network_id(e->node));
    assert_string_equal(twin_node_org_id(r), "XE-EXAMPLE-MOF");
    assert_string_equal(twin_node_dir(r), e->target);

    char *address = NULL;
    assert_int_equal(twin_node_config_get(&address, r, "twin.address"), 0);
    assert_string_equal(address, "192.0.2.1:7447");
    free(address);

    struct twin_peer *peers = NULL;
    size_t count = 0;
    assert_int_equal(twin_peers_list(&peers, &count, r), 0);
    assert_int_equal(count, 1);
    assert_string_equal(peers[0].name, "south");
    assert_string_equal(peers[0].host, "192.0.2.7");
    assert_memory_equal(peers[0].key, e->peer.pk, TWIN_PUBKEY_BYTES);
    assert_string_equal(peers[0].last_result, "ok: 2 commits sent");
    free(peers);
    assert_true(twin_invite_pending(e->target));

    /* The restored node writes on from there, signed with the same key. */
    char id[TWIN_ID_LEN + 1];
    git_oid commit;
    assert_int_equal(twin_ops_add(id, &commit, r, "note", set_title, "After the restore"), 0);
    twin_node_free(r);

    /* Its key and invites stay its owner's alone. */
    char path[256];
    struct stat st;
    snprintf(path, sizeof(path), "%s/node.key", e->target);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_nothing_left_but(e, true);
}

static void the_backup_file_is_readable_by_its_owner_alone(void **state)
{
    struct env *e = *state;
    mode_t old = umask(0);
    backup_ok(e);
    umask(old);
    struct stat st;
    assert_int_equal(stat(e->backup, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    /* A backup written over an older file (readable by all) replaces it whole, 0600 again. */
    write_text(e->backup, "old", 3, 0644);
    backup_ok(e);
    assert_int_equal(stat(e->backup, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_true(st.st_size > 1024);
    assert_nothing_left(e);
}

struct entries {
    size_t count;
    char first[64];
    bool has_key, has_config, has_hooks, has_stray, has_lock, has_wraps;
};

static struct entries list_entries(const char *path)
{
    struct entries out = {0};
    struct archive *a = archive_read_new();
    struct archive_entry *entry;
    archive_read_support_format_tar(a);
    assert_int_equal(archive_read_open_filename(a, path, 65536), ARCHIVE_OK);
    while (archive_read_next_header(a, &entry) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(entry);
        if (out.count++ == 0)
            snprintf(out.first, sizeof(out.first), "%s", name);
        out.has_key |= strcmp(name, "node.key") == 0;
        out.has_config |= strcmp(name, "repo.git/config") == 0;
        out.has_hooks |= strncmp(name, "repo.git/hooks", 14) == 0;
        out.has_stray |= strstr(name, "stray") != NULL;
        out.has_lock |= strstr(name, ".lock") != NULL;
        out.has_wraps |= strcmp(name, TWIN_WRAPS_FILE) == 0;
    }
    archive_read_free(a);
    return out;
}

static void a_backup_holds_the_node_and_nothing_else(void **state)
{
    struct env *e = *state;
    char path[256];
    /* Things a node's directory may hold that are no part of the node. */
    snprintf(path, sizeof(path), "%s/stray-notes.txt", e->dir);
    write_text(path, "mine", 4, 0600);
    snprintf(path, sizeof(path), "%s/repo.git/hooks", e->dir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/repo.git/hooks/post-update", e->dir);
    write_text(path, "#!/bin/sh\nexit 0\n", 17, 0700);
    snprintf(path, sizeof(path), "%s/repo.git/refs/heads/main.lock", e->dir);
    write_text(path, "", 0, 0600);
    size_t files = backup_ok(e);
    unlink(path); /* the lock would stop the node writing */

    struct entries got = list_entries(e->backup);
    assert_string_equal(got.first, TWIN_BACKUP_MARKER);
    assert_true(got.has_key);
    assert_true(got.has_config);
    assert_false(got.has_hooks);
    assert_false(got.has_stray);
    assert_false(got.has_lock);
    assert_true(got.has_wraps);
    assert_true(got.count > files); /* the marker and the directories besides the files */

    twin_node *r = NULL;
    assert_int_equal(twin_backup_restore(&r, e->backup, e->target), 0);
    twin_node_free(r);
    snprintf(path, sizeof(path), "%s/stray-notes.txt", e->target);
    assert_int_not_equal(access(path, F_OK), 0);
    snprintf(path, sizeof(path), "%s/repo.git/hooks/post-update", e->target);
    assert_int_not_equal(access(path, F_OK), 0);
    snprintf(path, sizeof(path), "%s/" TWIN_BACKUP_MARKER, e->target);
    assert_int_not_equal(access(path, F_OK), 0); /* the marker is no part of the node */
}

static void a_backup_cannot_be_written_where_there_is_no_directory(void **state)
{
    struct env *e = *state;
    char path[256];
    size_t files = 99;
    snprintf(path, sizeof(path), "%s/no/such/dir/node.backup", e->f->dir);
    assert_error(twin_backup_write(&files, e->node, path), TWIN_ERROR,
                 "cannot create a file next to");
    assert_int_equal(files, 0);
}

/* ---- where a restore goes ------------------------------------------------------------------- */

static void a_restore_into_a_directory_that_is_not_empty_is_refused(void **state)
{
    struct env *e = *state;
    char path[256], expect[256];
    backup_ok(e);
    assert_int_equal(mkdir(e->target, 0700), 0);
    snprintf(path, sizeof(path), "%s/keep-me", e->target);
    write_text(path, "precious", 8, 0600);
    snprintf(expect, sizeof(expect), "%s exists and is not empty; restore into a new directory",
             e->target);
    twin_node *n = (twin_node *)&n;
    assert_error(twin_backup_restore(&n, e->backup, e->target), TWIN_EEXISTS, expect);
    assert_null(n);
    /* Untouched: the one file, nothing added. */
    char *text = read_text(path, NULL);
    assert_string_equal(text, "precious");
    free(text);
    DIR *d = opendir(e->target);
    struct dirent *de;
    size_t entries = 0;
    while ((de = readdir(d)))
        entries += de->d_name[0] != '.';
    closedir(d);
    assert_int_equal(entries, 1);

    /* The node's own directory is not empty either. */
    snprintf(expect, sizeof(expect), "%s exists and is not empty", e->dir);
    assert_error(twin_backup_restore(&n, e->backup, e->dir), TWIN_EEXISTS, expect);
}

static void a_restore_into_an_empty_directory_fills_it(void **state)
{
    struct env *e = *state;
    char target[200];
    backup_ok(e);
    assert_int_equal(mkdir(e->target, 0700), 0);
    snprintf(target, sizeof(target), "%s/", e->target); /* a trailing slash, as shells add */
    twin_node *r = NULL;
    if (twin_backup_restore(&r, e->backup, target))
        fail_msg("restore: %s", twin_error_last());
    git_oid a, b;
    assert_int_equal(twin_node_head(&a, e->node), 0);
    assert_int_equal(twin_node_head(&b, r), 0);
    assert_true(git_oid_equal(&a, &b));
    twin_node_free(r);
    char path[256];
    snprintf(path, sizeof(path), "%s/node.key", e->target);
    assert_int_equal(access(path, F_OK), 0);
}

/* ---- what is not a backup ------------------------------------------------------------------- */

/* Writes a tar archive of the given entries (a NULL link makes a regular file of text). */
struct crafted {
    const char *name;
    const char *text;
    unsigned type; /* AE_IFREG, AE_IFDIR, AE_IFLNK */
    const char *link;
};

static void craft(const char *path, const struct crafted *entries, size_t n)
{
    struct archive *a = archive_write_new();
    assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
    assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *entry = archive_entry_new();
        archive_entry_set_pathname(entry, entries[i].name);
        archive_entry_set_filetype(entry, entries[i].type);
        archive_entry_set_perm(entry, 0600);
        if (entries[i].link)
            archive_entry_set_symlink(entry, entries[i].link);
        size_t len = entries[i].text ? strlen(entries[i].text) : 0;
        archive_entry_set_size(entry, (la_int64_t)len);
        assert_int_equal(archive_write_header(a, entry), ARCHIVE_OK);
        if (len)
            assert_int_equal(archive_write_data(a, entries[i].text, len), (la_ssize_t)len);
        archive_entry_free(entry);
    }
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
}

#define MARKER                                                                                     \
    {                                                                                              \
        TWIN_BACKUP_MARKER, "twin backup 1\nnetwork x\nmember y\n", AE_IFREG, NULL                 \
    }

static void what_is_not_a_backup_is_refused(void **state)
{
    struct env *e = *state;
    char path[256], missing[256];
    snprintf(path, sizeof(path), "%s/crafted.tar", e->f->dir);

    snprintf(missing, sizeof(missing), "%s/absent.backup", e->f->dir);
    restore_refused(e, missing, TWIN_ENOTFOUND, "cannot read ");

    struct crafted no_marker[] = {{"node.key", "k", AE_IFREG, NULL}, MARKER};
    craft(path, no_marker, 2);
    restore_refused(e, path, TWIN_EINVALID,
                    "is not a twin backup (it does not begin with "
                    "'twin-backup')");

    /* Format 1 (no manifest), 2 (a manifest last) and 3 (the wrap store too) are read; a later
     * one is not. */
    struct crafted new_marker[] = {{TWIN_BACKUP_MARKER, "twin backup 4\n", AE_IFREG, NULL}};
    craft(path, new_marker, 1);
    restore_refused(e, path, TWIN_EINVALID,
                    "this is not a twin backup (no 'twin-backup' entry of version 1, 2 or 3)");

    /* Entries outside a node, whatever else the archive holds. */
    const char *outside[] = {"../evil",
                             "/etc/evil",
                             "repo.git/../../evil",
                             "elsewhere/file",
                             "repo.git/hooks/post-update",
                             "node.key/./x",
                             "repo.git//x",
                             "repo.git/sp ace",
                             TWIN_WRAPS_FILE, /* in a format before the wrap store */
                             TWIN_WRAPS_FILE "/x"};
    for (size_t i = 0; i < sizeof(outside) / sizeof(outside[0]); i++) {
        struct crafted entries[] = {MARKER, {outside[i], "x", AE_IFREG, NULL}};
        char expect[160];
        craft(path, entries, 2);
        snprintf(expect, sizeof(expect), "the backup holds '%s', which is not part of a node",
                 outside[i]);
        restore_refused(e, path, TWIN_EINVALID, expect);
    }
    struct crafted link[] = {MARKER, {"repo.git/config", NULL, AE_IFLNK, "/etc/passwd"}};
    craft(path, link, 2);
    restore_refused(e, path, TWIN_EINVALID,
                    "the backup holds 'repo.git/config', which is not a plain file or directory");
}

/* ---- damaged backups ------------------------------------------------------------------------ */

static unsigned char *read_all(const char *path, size_t *len)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    unsigned char *buf = malloc((size_t)st.st_size);
    FILE *fp = fopen(path, "rb");
    assert_non_null(buf);
    assert_non_null(fp);
    assert_int_equal(fread(buf, 1, (size_t)st.st_size, fp), (size_t)st.st_size);
    fclose(fp);
    *len = (size_t)st.st_size;
    return buf;
}

static void a_file_that_is_not_an_archive_is_invalid(void **state)
{
    struct env *e = *state;
    char path[256];
    snprintf(path, sizeof(path), "%s/text.backup", e->f->dir);
    write_text(path, "just some text, not an archive\n", 31, 0600);
    /* A file that exists but is not a tar (text, nothing, a backup cut inside its first
     * header, a flipped byte in it) is invalid, not missing, whatever errno held before. */
    restore_refused(e, path, TWIN_EINVALID, "text.backup");
    write_text(path, "", 0, 0600);
    restore_refused(e, path, TWIN_EINVALID, "text.backup");
    size_t len;
    backup_ok(e);
    unsigned char *whole = read_all(e->backup, &len);
    write_text(path, whole, 100, 0600); /* cut inside the first header */
    restore_refused(e, path, TWIN_EINVALID, "text.backup");
    whole[0] ^= 0x5a; /* the first header fails its checksum */
    write_text(path, whole, len, 0600);
    restore_refused(e, path, TWIN_EINVALID, "text.backup");
    free(whole);
}

static void a_backup_cut_short_is_refused_and_leaves_nothing(void **state)
{
    struct env *e = *state;
    char path[256];
    size_t len;
    backup_ok(e);
    unsigned char *whole = read_all(e->backup, &len);
    snprintf(path, sizeof(path), "%s/cut.backup", e->f->dir);
    /* Cut inside the data of the first entry, inside the second header, anywhere further on,
     * and just before the end-of-archive blocks. (A cut inside the first header: see
     * a_file_that_is_not_an_archive_is_invalid.) */
    size_t cuts[] = {600, 1024 + 7, len / 3, len / 2 + 33, len - 1024 - 100};
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        write_text(path, whole, cuts[i], 0600);
        twin_node *n = (twin_node *)&n;
        int rc = twin_backup_restore(&n, path, e->target);
        if (rc != TWIN_EINVALID || !strstr(twin_error_last(), "damaged"))
            fail_msg("cut at %zu of %zu: %d \"%s\"", cuts[i], len, rc, twin_error_last());
        assert_null(n);
        assert_nothing_left(e);
    }
    free(whole);
}

/* A tar archive cut at a block boundary ends where an entry would begin: every such cut must be
 * refused all the same, or a restore gives a node that silently lacks files. */
static void a_backup_cut_between_entries_is_refused(void **state)
{
    struct env *e = *state;
    /* libarchive reads a tar cut at a block boundary as a whole, shorter archive: it is the
     * manifest, the last entry, whose absence (or whose list of what came before) tells. */
    char path[256];
    size_t len, accepted = 0, tried = 0;
    backup_ok(e);
    unsigned char *whole = read_all(e->backup, &len);
    snprintf(path, sizeof(path), "%s/cut.backup", e->f->dir);
    for (size_t cut = 1024; cut + 1024 < len; cut += 512) {
        write_text(path, whole, cut, 0600);
        twin_node *n = NULL;
        tried++;
        if (twin_backup_restore(&n, path, e->target) == 0) {
            accepted++;
            twin_node_free(n);
            nftw(e->target, fixture_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        } else if (!strstr(twin_error_last(), "cut.backup is damaged")) {
            fail_msg("cut at %zu of %zu: \"%s\"", cut, len, twin_error_last());
        }
        assert_nothing_left(e);
    }
    free(whole);
    if (accepted)
        fail_msg("%zu of %zu cuts at block boundaries restored as a node", accepted, tried);
}

/* A flipped byte in any header is caught by the tar checksum. */
static void a_flipped_byte_in_a_header_is_refused(void **state)
{
    struct env *e = *state;
    char path[256];
    size_t len;
    backup_ok(e);
    unsigned char *whole = read_all(e->backup, &len);
    snprintf(path, sizeof(path), "%s/flipped.backup", e->f->dir);
    /* Bytes of every field of the second header (node.key's or repo.git's, after the marker's
     * header and its one block of data). (The first header: see
     * a_file_that_is_not_an_archive_is_invalid.) */
    size_t at[] = {1024,       1024 + 50,  1024 + 100, 1024 + 124, 1024 + 136,
                   1024 + 148, 1024 + 156, 1024 + 257, 1024 + 345};
    for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
        whole[at[i]] ^= 0x5a;
        write_text(path, whole, len, 0600);
        whole[at[i]] ^= 0x5a;
        twin_node *n = (twin_node *)&n;
        int rc = twin_backup_restore(&n, path, e->target);
        if (rc != TWIN_EINVALID)
            fail_msg("flip at %zu: %d \"%s\"", at[i], rc, twin_error_last());
        assert_non_null(strstr(twin_error_last(), "flipped.backup"));
        assert_null(n);
        assert_nothing_left(e);
    }
    free(whole);
}

/* A flipped byte in the content of a file (the tar format checks headers, not data) must not
 * restore as a good node. */
static void a_flipped_byte_in_the_data_is_refused(void **state)
{
    struct env *e = *state;
    char path[256];
    size_t len;
    backup_ok(e);
    unsigned char *whole = read_all(e->backup, &len);
    snprintf(path, sizeof(path), "%s/flipped.backup", e->f->dir);
    /* Find node.key's data: the block after its header. */
    size_t key_data = 0;
    for (size_t off = 0; off + 512 <= len; off += 512)
        if (memcmp(whole + off, "node.key\0", 9) == 0) {
            key_data = off + 512;
            break;
        }
    assert_true(key_data > 0);
    whole[key_data + 200] ^= 0x01; /* inside the base64 of the secret key */
    write_text(path, whole, len, 0600);
    twin_node *n = NULL;
    int rc = twin_backup_restore(&n, path, e->target);
    if (rc == 0) {
        twin_node_free(n);
        fail_msg("a backup with a damaged node.key restored");
    }
    assert_null(n);
    assert_nothing_left(e);
    free(whole);
}

/* The data of a git object (which the tar format does not check either) must not restore as a
 * good node. */
static void a_flipped_byte_in_an_object_is_refused(void **state)
{
    struct env *e = *state;
    /* Refused, and the message names the backup and says it is damaged. */
    char path[256];
    size_t len, flipped = 0;
    backup_ok(e);
    unsigned char *whole = read_all(e->backup, &len);
    snprintf(path, sizeof(path), "%s/flipped.backup", e->f->dir);
    /* Each loose object in turn: the byte in the middle of its data. */
    for (size_t off = 0; off + 512 <= len; off += 512) {
        const char *name = (const char *)whole + off;
        if (strncmp(name, "repo.git/objects/", 17) != 0 || whole[off + 156] != '0' ||
            strstr(name, "/pack/") || strstr(name, "/info/"))
            continue;
        size_t size = strtoul((const char *)whole + off + 124, NULL, 8);
        if (size == 0 || off + 512 + size > len)
            continue;
        whole[off + 512 + size / 2] ^= 0x01;
        write_text(path, whole, len, 0600);
        whole[off + 512 + size / 2] ^= 0x01;
        flipped++;
        twin_node *n = NULL;
        int rc = twin_backup_restore(&n, path, e->target);
        if (rc == 0) {
            twin_node_free(n);
            fail_msg("a backup with a damaged %s restored", name);
        }
        assert_int_equal(rc, TWIN_EINVALID);
        assert_non_null(strstr(twin_error_last(), "flipped.backup is damaged"));
        assert_nothing_left(e);
    }
    assert_true(flipped > 0);
    free(whole);
}

/* ---- the manifest, and backups made before it ---------------------------------------------- */

/* Changes an entry as rewrite copies it: its data (*data, malloc'd, *len bytes) may be replaced;
 * false leaves the entry out. */
typedef bool (*edit_fn)(const char *name, char **data, size_t *len, void *ctx);

/* Copies the archive at src to dst entry by entry through edit, then adds extra if given. */
static void rewrite(const char *src, const char *dst, edit_fn edit, void *ctx,
                    const struct crafted *extra)
{
    struct archive *in = archive_read_new(), *out = archive_write_new();
    struct archive_entry *entry;
    archive_read_support_format_tar(in);
    assert_int_equal(archive_read_open_filename(in, src, 65536), ARCHIVE_OK);
    assert_int_equal(archive_write_set_format_pax_restricted(out), ARCHIVE_OK);
    assert_int_equal(archive_write_open_filename(out, dst), ARCHIVE_OK);
    while (archive_read_next_header(in, &entry) == ARCHIVE_OK) {
        size_t len = (size_t)archive_entry_size(entry);
        char *data = malloc(len + 1);
        assert_non_null(data);
        assert_int_equal(archive_read_data(in, data, len), (la_ssize_t)len);
        if (edit && !edit(archive_entry_pathname(entry), &data, &len, ctx)) {
            free(data);
            continue;
        }
        archive_entry_set_size(entry, (la_int64_t)len);
        assert_int_equal(archive_write_header(out, entry), ARCHIVE_OK);
        if (len)
            assert_int_equal(archive_write_data(out, data, len), (la_ssize_t)len);
        free(data);
    }
    archive_read_free(in);
    if (extra) {
        entry = archive_entry_new();
        archive_entry_set_pathname(entry, extra->name);
        archive_entry_set_filetype(entry, extra->type);
        archive_entry_set_perm(entry, 0600);
        archive_entry_set_size(entry, (la_int64_t)strlen(extra->text));
        assert_int_equal(archive_write_header(out, entry), ARCHIVE_OK);
        assert_int_equal(archive_write_data(out, extra->text, strlen(extra->text)),
                         (la_ssize_t)strlen(extra->text));
        archive_entry_free(entry);
    }
    assert_int_equal(archive_write_close(out), ARCHIVE_OK);
    archive_write_free(out);
}

/* A backup as the first version wrote it: marker of format 1, no manifest, no wrap store. */
static bool to_format_1(const char *name, char **data, size_t *len, void *ctx)
{
    (void)ctx;
    if (strcmp(name, TWIN_BACKUP_MANIFEST) == 0 || strcmp(name, TWIN_WRAPS_FILE) == 0)
        return false;
    if (strcmp(name, TWIN_BACKUP_MARKER) == 0) {
        assert_true(*len > 14 && memcmp(*data, "twin backup 3\n", 14) == 0);
        (*data)[12] = '1';
    }
    return true;
}

/* Leaves out the entry named ctx. */
static bool drop_entry(const char *name, char **data, size_t *len, void *ctx)
{
    (void)data, (void)len;
    return strcmp(name, ctx) != 0;
}

/* Where the manifest (data, len bytes, with room for a NUL) lists the file name: the offset of
 * its line, whose length (with its newline) goes to *line_len. */
static size_t manifest_line(char *data, size_t len, const char *name, size_t *line_len)
{
    char tail[128];
    snprintf(tail, sizeof(tail), " %s\n", name);
    data[len] = '\0';
    char *at = strstr(data, tail);
    assert_non_null(at);
    char *start = at;
    while (start > data && start[-1] != '\n')
        start--;
    *line_len = (size_t)(at + strlen(tail) - start);
    return (size_t)(start - data);
}

/* Leaves out the manifest's line for the file named ctx. */
static bool drop_manifest_line(const char *name, char **data, size_t *len, void *ctx)
{
    if (strcmp(name, TWIN_BACKUP_MANIFEST) != 0)
        return true;
    size_t cut, from = manifest_line(*data, *len, ctx, &cut);
    memmove(*data + from, *data + from + cut, *len - from - cut);
    *len -= cut;
    return true;
}

/* Puts in the manifest (*data, *len bytes, with room for a NUL) the line of file name as it
 * would be for content, where its line was. */
static void set_manifest_line(char **data, size_t *len, const char *name, const char *content,
                              size_t clen)
{
    unsigned char hash[crypto_hash_sha256_BYTES];
    char hex[2 * crypto_hash_sha256_BYTES + 1], line[256];
    crypto_hash_sha256(hash, (const unsigned char *)content, clen);
    sodium_bin2hex(hex, sizeof(hex), hash, sizeof(hash));
    int n = snprintf(line, sizeof(line), "file %zu %s %s\n", clen, hex, name);
    size_t old, from = manifest_line(*data, *len, name, &old);
    size_t rest = *len - from - old;
    assert_non_null(*data = realloc(*data, *len - old + (size_t)n + 1));
    memmove(*data + from + (size_t)n, *data + from + old, rest);
    memcpy(*data + from, line, (size_t)n);
    *len = *len - old + (size_t)n;
}

/* A backup as the second version wrote it: marker of format 2, a manifest, no wrap store. ctx is a
 * char[256] that keeps the new marker for the manifest. */
static bool to_format_2(const char *name, char **data, size_t *len, void *ctx)
{
    char *marker = ctx;
    if (strcmp(name, TWIN_WRAPS_FILE) == 0)
        return false;
    if (strcmp(name, TWIN_BACKUP_MARKER) == 0) {
        assert_true(*len > 14 && *len < 256 && memcmp(*data, "twin backup 3\n", 14) == 0);
        (*data)[12] = '2';
        memcpy(marker, *data, *len);
        marker[*len] = '\0';
    }
    if (strcmp(name, TWIN_BACKUP_MANIFEST) != 0)
        return true;
    set_manifest_line(data, len, TWIN_BACKUP_MARKER, marker, strlen(marker));
    return drop_manifest_line(name, data, len, TWIN_WRAPS_FILE);
}

static void a_backup_ends_with_a_manifest_of_every_entry(void **state)
{
    struct env *e = *state;
    size_t files = backup_ok(e);
    struct archive *a = archive_read_new();
    struct archive_entry *entry;
    archive_read_support_format_tar(a);
    assert_int_equal(archive_read_open_filename(a, e->backup, 65536), ARCHIVE_OK);
    size_t entries = 0, file_lines = 0, dir_lines = 0;
    char *manifest = NULL;
    while (archive_read_next_header(a, &entry) == ARCHIVE_OK) {
        assert_null(manifest); /* nothing after the manifest */
        if (strcmp(archive_entry_pathname(entry), TWIN_BACKUP_MANIFEST) == 0) {
            size_t len = (size_t)archive_entry_size(entry);
            manifest = calloc(1, len + 1);
            assert_int_equal(archive_read_data(a, manifest, len), (la_ssize_t)len);
        } else {
            entries++;
        }
    }
    archive_read_free(a);
    assert_non_null(manifest);
    assert_true(strncmp(manifest, "twin manifest sha256\n", 21) == 0);
    for (char *line = strchr(manifest, '\n') + 1; *line; line = strchr(line, '\n') + 1) {
        file_lines += strncmp(line, "file ", 5) == 0;
        dir_lines += strncmp(line, "dir ", 4) == 0;
    }
    /* Every file (the marker too) and every directory, one line each. */
    assert_int_equal(file_lines, files + 1);
    assert_int_equal(file_lines + dir_lines, entries);
    /* The marker first, with its SHA-256 in hex. */
    char *marker = strchr(manifest, '\n') + 1, *end = strchr(marker, '\n');
    *end = '\0';
    assert_true(strncmp(marker, "file ", 5) == 0);
    assert_string_equal(end - strlen(" " TWIN_BACKUP_MARKER), " " TWIN_BACKUP_MARKER);
    char *hash = strchr(marker + 5, ' ') + 1;
    assert_int_equal(strchr(hash, ' ') - hash, 64);
    free(manifest);
}

static void a_backup_that_does_not_match_its_manifest_is_refused(void **state)
{
    struct env *e = *state;
    char path[256];
    backup_ok(e);
    snprintf(path, sizeof(path), "%s/edited.backup", e->f->dir);
    /* A file the manifest does not list, or one it lists that is not there. */
    rewrite(e->backup, path, drop_manifest_line, "node.key", NULL);
    restore_refused(e, path, TWIN_EINVALID, "edited.backup is damaged: its manifest lists");
    rewrite(e->backup, path, drop_entry, "node.key", NULL);
    restore_refused(e, path, TWIN_EINVALID,
                    "edited.backup is damaged: its manifest lists file "
                    "'node.key' where it holds");
    /* Anything after the manifest. */
    struct crafted late = {"node.key.prev", "late\n", AE_IFREG, NULL};
    rewrite(e->backup, path, NULL, NULL, &late);
    restore_refused(e, path, TWIN_EINVALID,
                    "edited.backup is damaged: it holds 'node.key.prev' after its manifest");
    /* A manifest in a backup of format 1, which has none. */
    rewrite(e->backup, path, to_format_1, NULL,
            &(struct crafted){TWIN_BACKUP_MANIFEST, "x\n", AE_IFREG, NULL});
    restore_refused(e, path, TWIN_EINVALID,
                    "the backup holds 'twin-manifest', which is not part of a node");
    /* The manifest's name for anything but the manifest. */
    struct crafted nested[] = {MARKER, {TWIN_BACKUP_MANIFEST "/x", "x", AE_IFREG, NULL}};
    craft(path, nested, 2);
    restore_refused(e, path, TWIN_EINVALID,
                    "the backup holds 'twin-manifest/x', which is not part of a node");
}

/* Backups written before the manifest (format 1) still restore, checked by the store check. */
static void a_backup_of_the_previous_format_restores(void **state)
{
    struct env *e = *state;
    char path[256];
    backup_ok(e);
    snprintf(path, sizeof(path), "%s/old.backup", e->f->dir);
    rewrite(e->backup, path, to_format_1, NULL, NULL);
    twin_node *r = restore_same_head(e, path);
    assert_memory_equal(twin_node_key(r)->sk, twin_node_key(e->node)->sk, TWIN_SECKEY_BYTES);
    twin_node_free(r);
    assert_nothing_left_but(e, true);
}

static void a_backup_of_the_previous_format_with_a_damaged_object_is_refused(void **state)
{
    struct env *e = *state;
    char path[256];
    size_t len;
    backup_ok(e);
    snprintf(path, sizeof(path), "%s/old.backup", e->f->dir);
    rewrite(e->backup, path, to_format_1, NULL, NULL);
    unsigned char *whole = read_all(path, &len);
    size_t flipped = 0;
    for (size_t off = 0; off + 512 <= len && !flipped; off += 512) {
        const char *name = (const char *)whole + off;
        if (strncmp(name, "repo.git/objects/", 17) != 0 || whole[off + 156] != '0' ||
            strstr(name, "/pack/") || strstr(name, "/info/"))
            continue;
        size_t size = strtoul((const char *)whole + off + 124, NULL, 8);
        if (size == 0 || off + 512 + size > len)
            continue;
        whole[off + 512 + size / 2] ^= 0x01;
        flipped++;
    }
    assert_int_equal(flipped, 1);
    write_text(path, whole, len, 0600);
    free(whole);
    restore_refused(e, path, TWIN_EINVALID, "old.backup is damaged: in the store it holds, ");
}

/* ---- the wrap store ------------------------------------------------------------------------ */

static int set_note(json_t *rec, void *ctx)
{
    int rc = twin_record_set_path(rec, "title", ctx);
    return rc ? rc : twin_record_set_path(rec, "kind", "note");
}

/* A note sealed to the node's own institution. */
static void add_sealed(struct env *e, char id[static TWIN_ID_LEN + 1], const char *title)
{
    const char *own[] = {who.org_id};
    const struct twin_audience audience = {own, 1};
    git_oid commit;
    if (twin_ops_add_sealed(id, &commit, e->node, "note", &audience, set_note, (void *)title))
        fail_msg("add sealed: %s", twin_error_last());
}

/* How node n reads record id; its title in *title (malloc'd) when it opens it. */
static enum twin_sealing sealing_of(twin_node *n, const char *id, char **title)
{
    json_t *stored = NULL, *rec = NULL;
    enum twin_sealing how = TWIN_SEALING_CLEAR;
    if (twin_ops_get(&stored, n, NULL, "note", id) || twin_ops_unseal(&rec, &how, n, stored))
        fail_msg("reading %s: %s", id, twin_error_last());
    if (title)
        *title = how == TWIN_SEALING_OPENED
                     ? strdup(json_string_value(json_object_get(rec, "title")))
                     : NULL;
    json_decref(rec);
    json_decref(stored);
    return how;
}

static void a_restored_node_reads_the_sealed_records_it_read(void **state)
{
    struct env *e = *state;
    char id[TWIN_ID_LEN + 1], path[256], *title = NULL;
    add_sealed(e, id, "For the ministry alone");
    assert_int_equal(sealing_of(e->node, id, NULL), TWIN_SEALING_OPENED);
    backup_ok(e);
    assert_true(list_entries(e->backup).has_wraps);

    twin_node *r = NULL;
    if (twin_backup_restore(&r, e->backup, e->target))
        fail_msg("restore: %s", twin_error_last());
    assert_int_equal(sealing_of(r, id, &title), TWIN_SEALING_OPENED);
    assert_string_equal(title, "For the ministry alone");
    free(title);
    /* The restored store is a new one to its peers: its seq went back to the backup's. */
    twin_wraps *before = NULL, *after = NULL;
    unsigned char a[TWIN_WRAPS_STORE_BYTES], b[TWIN_WRAPS_STORE_BYTES];
    assert_int_equal(twin_node_wraps(&before, e->node), 0);
    assert_int_equal(twin_node_wraps(&after, r), 0);
    twin_wraps_store_id(before, a);
    twin_wraps_store_id(after, b);
    assert_memory_not_equal(a, b, sizeof(a));
    twin_node_free(r);
    /* Its wraps stay the owner's alone. */
    struct stat st;
    snprintf(path, sizeof(path), "%s/" TWIN_WRAPS_FILE, e->target);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_nothing_left_but(e, true);
}

static void a_flipped_byte_in_the_wrap_store_is_refused(void **state)
{
    struct env *e = *state;
    char id[TWIN_ID_LEN + 1], path[256];
    size_t len, data = 0, size = 0;
    add_sealed(e, id, "For the ministry alone");
    backup_ok(e);
    unsigned char *whole = read_all(e->backup, &len);
    for (size_t off = 0; off + 512 <= len; off += 512)
        if (memcmp(whole + off, TWIN_WRAPS_FILE "\0", sizeof(TWIN_WRAPS_FILE)) == 0) {
            data = off + 512;
            size = strtoul((const char *)whole + off + 124, NULL, 8);
            break;
        }
    assert_true(data > 0 && size > 0 && data + size <= len);
    whole[data + size / 2] ^= 0x01;
    snprintf(path, sizeof(path), "%s/flipped.backup", e->f->dir);
    write_text(path, whole, len, 0600);
    free(whole);
    restore_refused(e, path, TWIN_EINVALID,
                    "flipped.backup is damaged: 'wraps.db' is not as it was written (its SHA-256 "
                    "differs from the manifest's)");
}

/* What the manifest lists and the archive holds, for a file swapped in by swap_wraps. */
struct swap {
    char *data;
    size_t len;
};

/* The data of entry name of the archive at path (malloc'd). */
static char *entry_data(const char *path, const char *name, size_t *len)
{
    struct archive *a = archive_read_new();
    struct archive_entry *entry;
    char *data = NULL;
    archive_read_support_format_tar(a);
    assert_int_equal(archive_read_open_filename(a, path, 65536), ARCHIVE_OK);
    while (!data && archive_read_next_header(a, &entry) == ARCHIVE_OK)
        if (strcmp(archive_entry_pathname(entry), name) == 0) {
            *len = (size_t)archive_entry_size(entry);
            assert_non_null(data = malloc(*len + 1));
            assert_int_equal(archive_read_data(a, data, *len), (la_ssize_t)*len);
        }
    archive_read_free(a);
    assert_non_null(data);
    return data;
}

/* Puts the wrap store of ctx (a struct swap) in place of the archive's, its manifest line too. */
static bool swap_wraps(const char *name, char **data, size_t *len, void *ctx)
{
    const struct swap *s = ctx;
    if (strcmp(name, TWIN_WRAPS_FILE) == 0) {
        free(*data);
        assert_non_null(*data = malloc(s->len + 1));
        memcpy(*data, s->data, s->len);
        *len = s->len;
    } else if (strcmp(name, TWIN_BACKUP_MANIFEST) == 0) {
        set_manifest_line(data, len, TWIN_WRAPS_FILE, s->data, s->len);
    }
    return true;
}

/* A wraps.db that its manifest lists as it is, but that is no wrap store. */
static void a_wrap_store_that_does_not_open_is_refused(void **state)
{
    struct env *e = *state;
    char path[256];
    char text[] = "this is no database, though the manifest lists it as it is ..........";
    struct swap s = {text, sizeof(text) - 1};
    backup_ok(e);
    snprintf(path, sizeof(path), "%s/swapped.backup", e->f->dir);
    rewrite(e->backup, path, swap_wraps, &s, NULL);
    restore_refused(e, path, TWIN_EINVALID,
                    "swapped.backup is damaged: its 'wraps.db' is no wrap store: ");
}

static void no_key_of_a_record_erased_at_the_restored_head_is_kept(void **state)
{
    struct env *e = *state;
    char id[TWIN_ID_LEN + 1], before[256], path[256];
    git_oid commit;
    size_t held = 9;
    add_sealed(e, id, "Asked to be forgotten");
    backup_ok(e);
    snprintf(before, sizeof(before), "%s/before.backup", e->f->dir);
    assert_int_equal(rename(e->backup, before), 0);
    struct swap s;
    s.data = entry_data(before, TWIN_WRAPS_FILE, &s.len);
    assert_int_equal(twin_ops_erase(&commit, e->node, id, "The person asked"), 0);
    backup_ok(e);
    /* The history after the erasure with the wrap store from before it: a backup taken between a
     * session's move of the branch and its deleting the keys of what it erased. */
    snprintf(path, sizeof(path), "%s/between.backup", e->f->dir);
    rewrite(e->backup, path, swap_wraps, &s, NULL);
    free(s.data);
    twin_node *r = NULL;
    if (twin_backup_restore(&r, path, e->target))
        fail_msg("restore: %s", twin_error_last());
    assert_int_equal(sealing_of(r, id, NULL), TWIN_SEALING_ERASED);
    assert_int_equal(twin_ops_erased_keys(&held, r, id, false), 0);
    assert_int_equal(held, 0);
    twin_wraps *store = NULL;
    bool erased = false;
    assert_int_equal(twin_node_wraps(&store, r), 0);
    assert_int_equal(twin_wraps_erased(&erased, store, id), 0);
    assert_true(erased);
    twin_node_free(r);

    /* The backup from before the erasure restores with the keys, as its history does not erase
     * yet (the sync that brings the erasure deletes them: tests/integration/backup.sh). */
    nftw(e->target, fixture_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (twin_backup_restore(&r, before, e->target))
        fail_msg("restore: %s", twin_error_last());
    assert_int_equal(sealing_of(r, id, NULL), TWIN_SEALING_OPENED);
    twin_node_free(r);
}

/* Backups of format 2 (before the wrap store) restore: the node starts with an empty one. */
static void a_backup_without_the_wrap_store_restores(void **state)
{
    struct env *e = *state;
    char id[TWIN_ID_LEN + 1], path[256];
    add_sealed(e, id, "For the ministry alone");
    backup_ok(e);
    snprintf(path, sizeof(path), "%s/v2.backup", e->f->dir);
    char marker[256];
    rewrite(e->backup, path, to_format_2, marker, NULL);
    assert_false(list_entries(path).has_wraps);
    twin_node *r = restore_same_head(e, path);
    assert_int_equal(sealing_of(r, id, NULL), TWIN_SEALING_CLOSED);
    twin_node_free(r);
    assert_nothing_left_but(e, true);
}

static int setup_global(void **state)
{
    return twin_global_init(false) == 0 ? 0 : -1;
}

static int teardown_global(void **state)
{
    twin_global_shutdown();
    return 0;
}

#define ENV_TEST(t) cmocka_unit_test_setup_teardown(t, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        ENV_TEST(a_restored_node_has_the_same_head_key_settings_and_peers),
        ENV_TEST(the_backup_file_is_readable_by_its_owner_alone),
        ENV_TEST(a_backup_holds_the_node_and_nothing_else),
        ENV_TEST(a_backup_cannot_be_written_where_there_is_no_directory),
        ENV_TEST(a_restore_into_a_directory_that_is_not_empty_is_refused),
        ENV_TEST(a_restore_into_an_empty_directory_fills_it),
        ENV_TEST(what_is_not_a_backup_is_refused),
        ENV_TEST(a_file_that_is_not_an_archive_is_invalid),
        ENV_TEST(a_backup_cut_short_is_refused_and_leaves_nothing),
        ENV_TEST(a_backup_cut_between_entries_is_refused),
        ENV_TEST(a_flipped_byte_in_a_header_is_refused),
        ENV_TEST(a_flipped_byte_in_the_data_is_refused),
        ENV_TEST(a_flipped_byte_in_an_object_is_refused),
        ENV_TEST(a_backup_ends_with_a_manifest_of_every_entry),
        ENV_TEST(a_backup_that_does_not_match_its_manifest_is_refused),
        ENV_TEST(a_backup_of_the_previous_format_restores),
        ENV_TEST(a_backup_of_the_previous_format_with_a_damaged_object_is_refused),
        ENV_TEST(a_restored_node_reads_the_sealed_records_it_read),
        ENV_TEST(a_flipped_byte_in_the_wrap_store_is_refused),
        ENV_TEST(a_wrap_store_that_does_not_open_is_refused),
        ENV_TEST(no_key_of_a_record_erased_at_the_restored_head_is_kept),
        ENV_TEST(a_backup_without_the_wrap_store_restores),
    };
    return cmocka_run_group_tests(tests, setup_global, teardown_global);
}
