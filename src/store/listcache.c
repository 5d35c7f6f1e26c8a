#include "twin/listcache.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "git/gitopts.h"
#include "git/history.h"
#include "git/packread.h"
#include "git/treediff.h"
#include "records/envelope.h"
#include "records/schema.h"
#include "twin/error.h"
#include "twin/record.h"
#include "twin/tree.h"

#define CACHE_VERSION      4 /* 4: the words hold every language of a text in several */
#define CACHE_VERSION_TEXT "4"
#define BUSY_MS            30000
#define MAX_RECORD         (16u << 20)
/* Words split on what is not a letter or digit in any script, matched without case or accents. */
#define SEARCH_TOKENS  "'unicode61 remove_diacritics 2'"
#define UPDATE_GITOPTS (TWIN_GITOPTS_UNCACHED | TWIN_GITOPTS_SMALL_WINDOWS)

struct twin_listcache {
    sqlite3 *db;
    bool on_disk;
    bool failed; /* the database itself failed (not the store): see twin_listcache_open */
    char path[4200];
    git_oid head;
    size_t commits;
};

/* records is narrow, for list's walk in order of id; a clear record's text is apart in texts,
 * read only when asked for; counts follows records through its triggers, for status. */
static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS records(path TEXT PRIMARY KEY, id TEXT NOT NULL,"
    " type TEXT NOT NULL, title TEXT, blob BLOB NOT NULL, sealed INTEGER NOT NULL,"
    " erased INTEGER NOT NULL, withdrawn INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS records_by_id ON records(id, type);"
    "CREATE INDEX IF NOT EXISTS records_sealed ON records(id, type) WHERE sealed;"
    "CREATE TABLE IF NOT EXISTS texts(path TEXT PRIMARY KEY, text TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS counts(type TEXT PRIMARY KEY, records INTEGER NOT NULL,"
    " withdrawn INTEGER NOT NULL);"
    "CREATE TRIGGER IF NOT EXISTS counts_insert AFTER INSERT ON records BEGIN"
    " INSERT INTO counts VALUES(new.type, 1, new.withdrawn) ON CONFLICT(type) DO UPDATE SET"
    " records = records + 1, withdrawn = withdrawn + new.withdrawn; END;"
    "CREATE TRIGGER IF NOT EXISTS counts_delete AFTER DELETE ON records BEGIN"
    " UPDATE counts SET records = records - 1, withdrawn = withdrawn - old.withdrawn"
    " WHERE type = old.type; END;"
    "CREATE TRIGGER IF NOT EXISTS counts_update AFTER UPDATE ON records BEGIN"
    " UPDATE counts SET records = records - 1, withdrawn = withdrawn - old.withdrawn"
    " WHERE type = old.type;"
    " INSERT INTO counts VALUES(new.type, 1, new.withdrawn) ON CONFLICT(type) DO UPDATE SET"
    " records = records + 1, withdrawn = withdrawn + new.withdrawn; END;"
    /* The times each path was first written and last changed, from the history walked. */
    "CREATE TABLE IF NOT EXISTS dates(path TEXT PRIMARY KEY, created INTEGER NOT NULL,"
    " changed INTEGER NOT NULL);"
    /* The records a clear record names in its type's top-level reference fields, in the order
     * of the fields: list prints their names. */
    "CREATE TABLE IF NOT EXISTS refs(path TEXT NOT NULL, pos INTEGER NOT NULL,"
    " field TEXT NOT NULL, target TEXT NOT NULL, PRIMARY KEY(path, pos)) WITHOUT ROWID;"
    /* The words of each clear record (twin_record_words), its row the record's in records: what
     * twin search matches. A sealed record is never here: it is searched where it is read. */
    "CREATE VIRTUAL TABLE IF NOT EXISTS search USING fts5(title, words, tokenize = " SEARCH_TOKENS
    ");";

static int db_error(twin_listcache *c, const char *what)
{
    c->failed = true;
    return twin_error(TWIN_ERROR, "the list cache %s: %s: %s (it is safe to delete)", c->path, what,
                      c->db ? sqlite3_errmsg(c->db) : "cannot open");
}

static int exec(twin_listcache *c, const char *sql, const char *what)
{
    return sqlite3_exec(c->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : db_error(c, what);
}

static int prepare(sqlite3_stmt **st, twin_listcache *c, const char *sql)
{
    return sqlite3_prepare_v2(c->db, sql, -1, st, NULL) == SQLITE_OK ? 0 : db_error(c, "a query");
}

/* meta's value for key into buf (empty when missing). */
static int meta_get(char *buf, size_t size, twin_listcache *c, const char *key)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(&st, c, "SELECT value FROM meta WHERE key = ?1");
    buf[0] = '\0';
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        snprintf(buf, size, "%s", (const char *)sqlite3_column_text(st, 0));
    else if (step != SQLITE_DONE)
        rc = db_error(c, "reading what it describes");
    sqlite3_finalize(st);
    return rc;
}

static int meta_set(twin_listcache *c, const char *key, const char *value)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(&st, c, "INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)");
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_error(c, "writing what it describes");
    sqlite3_finalize(st);
    return rc;
}

/* What the cache describes. */
struct state {
    bool valid; /* of this version and network, with a head */
    git_oid head;
    bool counted;   /* commits is known (a walk of the history is needed once to know it) */
    size_t commits; /* in the head's history */
    bool dated;     /* dates holds the whole history's (they are walked for only when asked) */
};

static int described(struct state *st, twin_listcache *c, twin_node *n)
{
    char version[16], network[128], hex[64], count[32], dated[8];
    int rc;
    memset(st, 0, sizeof(*st));
    if ((rc = meta_get(version, sizeof(version), c, "version")) ||
        (rc = meta_get(network, sizeof(network), c, "network")) ||
        (rc = meta_get(hex, sizeof(hex), c, "head")) ||
        (rc = meta_get(count, sizeof(count), c, "commits")) ||
        (rc = meta_get(dated, sizeof(dated), c, "dated")))
        return rc;
    char *end = NULL;
    unsigned long long k = strtoull(count, &end, 10);
    if (strcmp(version, CACHE_VERSION_TEXT) != 0 || strcmp(network, twin_node_network_id(n)) != 0 ||
        strlen(hex) != GIT_OID_HEXSZ || git_oid_fromstr(&st->head, hex) < 0)
        return 0;
    st->counted = count[0] >= '0' && count[0] <= '9' && !*end;
    st->commits = st->counted ? (size_t)k : 0;
    st->dated = strcmp(dated, "1") == 0;
    st->valid = true;
    return 0;
}

/* Whether the cache needs no update to answer at head. */
static bool current(const struct state *st, const git_oid *head, unsigned what)
{
    return st->valid && git_oid_equal(&st->head, head) &&
           (st->dated || !(what & TWIN_LISTCACHE_DATES)) &&
           (st->counted || !(what & TWIN_LISTCACHE_COMMITS));
}

/* ---- bringing the cache up to a head ----------------------------------------------------------
 */

struct updater {
    twin_listcache *c;
    git_repository *repo;
    twin_treecache *trees; /* shared by every diff of an update: each tree read once */
    twin_packread *packs;  /* twin's pack reader, as twin_ops_foreach reads records */
    git_odb *odb;          /* for what no pack holds */
    sqlite3_stmt *put, *put_text, *drop, *drop_text, *drop_dates, *date, *put_ref, *drop_refs;
    sqlite3_stmt *drop_words, *put_words;
};

/* Runs st, a statement that takes the path of a record file as ?1, for path. */
static int step_path(struct updater *u, sqlite3_stmt *st, const char *path, const char *what)
{
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    sqlite3_reset(st);
    return step == SQLITE_DONE ? 0 : db_error(u->c, what);
}

/* Keeps what rec (NULL: a sealed record, whose fields are not kept) names in its top-level
 * reference fields, in place of what path held. */
static int put_refs(struct updater *u, const char *path, const json_t *rec)
{
    int rc = step_path(u, u->drop_refs, path, "dropping a record's references");
    if (rc)
        return rc;
    const struct twin_record_type *t =
        rec ? twin_schema_type(json_string_value(json_object_get(rec, "type"))) : NULL;
    int pos = 0;
    for (const struct twin_field *f = t ? t->fields : NULL; f && f->name; f++, pos++) {
        const char *target = json_string_value(json_object_get(rec, f->name));
        if (f->kind != TWIN_F_REF || !target)
            continue;
        sqlite3_stmt *st = u->put_ref;
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, pos);
        sqlite3_bind_text(st, 3, f->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, target, -1, SQLITE_STATIC);
        int step = sqlite3_step(st);
        sqlite3_reset(st);
        if (step != SQLITE_DONE)
            return db_error(u->c, "keeping a record's references");
    }
    return 0;
}

/* Keeps the words of rec (NULL: a sealed record, whose words are not kept) for search, in place
 * of what path held; the record's row in records is already written. */
static int put_words(struct updater *u, const char *path, const json_t *rec)
{
    int rc = step_path(u, u->drop_words, path, "dropping a record's words");
    if (rc || !rec)
        return rc;
    char *words = twin_record_words(rec);
    if (!words)
        return twin_error(TWIN_ERROR, "out of memory");
    sqlite3_stmt *st = u->put_words;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, twin_record_title(rec), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, words, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    sqlite3_reset(st);
    free(words);
    return step == SQLITE_DONE ? 0 : db_error(u->c, "keeping a record's words");
}

/* Keeps the record stored at path (records/TYPE/BUCKET/FILE) as blob. */
static int put_record(struct updater *u, const char *path, const git_oid *blob)
{
    char *text = NULL;
    size_t len = 0;
    json_t *rec = NULL;
    twin_pobj *obj = NULL;
    /* Through twin's pack reader where a pack holds it (a rebuild reads every record: libgit2
     * would keep each pack mapped whole), else through libgit2 (a loose object). */
    int rc = u->packs ? twin_packread_get(&obj, u->packs, blob) : 0;
    if (rc < 0)
        rc = twin_error_wrap(rc, "%s", path);
    else if (rc == 1 && (obj->type != GIT_OBJECT_BLOB || obj->size > MAX_RECORD))
        rc = twin_error(TWIN_EINVALID, "%s: blob %s is no record", path, git_oid_tostr_s(blob));
    else if (rc == 1 && !(text = malloc(obj->size + 1)))
        rc = twin_error(TWIN_ERROR, "out of memory");
    else if (rc == 1) {
        memcpy(text, obj->data, obj->size);
        text[len = obj->size] = '\0';
        rc = 0;
    } else
        rc = twin_tree_read_blob(&text, &len, u->repo, blob, MAX_RECORD, path);
    twin_packread_release(obj);
    if (rc == 0 && (rc = twin_record_parse(&rec, text, len)))
        rc = twin_error_wrap(rc, "%s", path);
    if (rc)
        goto done;
    const char *id = json_string_value(json_object_get(rec, "id"));
    const char *type = json_string_value(json_object_get(rec, "type"));
    if (!id || !type) {
        rc = twin_error(TWIN_EINVALID, "%s: a record without an id or type", path);
        goto done;
    }
    bool sealed = twin_envelope_is(rec);
    sqlite3_stmt *st = u->put;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, type, -1, SQLITE_STATIC);
    if (sealed)
        sqlite3_bind_null(st, 4);
    else
        sqlite3_bind_text(st, 4, twin_record_title(rec), -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 5, blob->id, GIT_OID_RAWSZ, SQLITE_STATIC);
    sqlite3_bind_int(st, 6, sealed);
    sqlite3_bind_int(st, 7, sealed && json_object_get(rec, "erased") != NULL);
    sqlite3_bind_int(st, 8, json_is_true(json_object_get(rec, "withdrawn")));
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_error(u->c, "keeping a record");
    sqlite3_reset(st);
    if (rc == 0)
        rc = put_refs(u, path, sealed ? NULL : rec);
    if (rc == 0)
        rc = put_words(u, path, sealed ? NULL : rec);
    /* A sealed record's text is its envelope, opened at list time: never kept here. */
    st = sealed ? u->drop_text : u->put_text;
    if (rc == 0) {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
        if (!sealed)
            sqlite3_bind_text(st, 2, text, (int)len, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = db_error(u->c, "keeping a record's text");
        sqlite3_reset(st);
    }
done:
    json_decref(rec);
    free(text);
    return rc;
}

static int drop_record(struct updater *u, const char *path)
{
    /* The words first: they are found by the record's row. */
    sqlite3_stmt *sts[] = {u->drop_words, u->drop, u->drop_text, u->drop_dates, u->drop_refs};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < 5; i++)
        rc = step_path(u, sts[i], path, "dropping a record");
    return rc;
}

static bool is_record_path(const char *path)
{
    int slashes = 0;
    if (strncmp(path, "records/", 8) != 0)
        return false;
    for (const char *p = path; *p; p++)
        slashes += *p == '/';
    return slashes == 3;
}

/* Every record in root (a whole rebuild), read tree by tree: records/TYPE/BUCKET/FILE. */
static int put_all(struct updater *u, git_tree *root)
{
    int rc = 0;
    for (const char *const *t = twin_record_types(); rc == 0 && *t; t++) {
        char dir[64];
        git_tree *type_tree = NULL;
        snprintf(dir, sizeof(dir), "records/%s", *t);
        rc = twin_tree_open_dir(&type_tree, u->repo, root, dir); /* NULL: no record of the type */
        for (size_t b = 0; rc == 0 && type_tree && b < git_tree_entrycount(type_tree); b++) {
            const git_tree_entry *be = git_tree_entry_byindex(type_tree, b);
            git_tree *bucket = NULL;
            char where[128];
            snprintf(where, sizeof(where), "%s/%s", dir, git_tree_entry_name(be));
            if (git_tree_entry_type(be) != GIT_OBJECT_TREE) {
                rc = twin_error(TWIN_EINVALID, "%s: not a bucket", where);
                break;
            }
            if ((rc = twin_tree_open(&bucket, u->repo, git_tree_entry_id(be), where)))
                break;
            for (size_t i = 0; rc == 0 && i < git_tree_entrycount(bucket); i++) {
                const git_tree_entry *e = git_tree_entry_byindex(bucket, i);
                char path[512];
                snprintf(path, sizeof(path), "%s/%s", where, git_tree_entry_name(e));
                rc = put_record(u, path, git_tree_entry_id(e));
            }
            git_tree_free(bucket);
        }
        git_tree_free(type_tree);
    }
    return rc;
}

/* The records that differ between old_tree and new_tree. */
static int put_changed(struct updater *u, const git_oid *old_tree, const git_oid *new_tree)
{
    struct twin_treediff d = {.repo = u->repo, .cache = u->trees};
    int rc = twin_treediff_run_ids(&d, old_tree, new_tree);
    if (rc == 1)
        rc = twin_error(TWIN_EINVALID, "the head's tree: %s", d.fault);
    for (size_t i = 0; rc == 0 && i < d.count; i++) {
        const struct twin_change *ch = &d.changes[i];
        if (!is_record_path(ch->path))
            continue;
        rc = ch->has_new ? put_record(u, ch->path, &ch->new_id) : drop_record(u, ch->path);
    }
    twin_treediff_clear(&d);
    return rc;
}

/* Notes the record files commit id changed (for a merge, those that differ from every parent)
 * at its time. The commits are read as the history walk reads them, through twin's pack reader:
 * libgit2 would map windows of the packs of its own. */
static int date_commit(struct updater *u, const git_oid *id)
{
    struct twin_commit_head h, parent;
    struct twin_treediff d = {.repo = u->repo, .cache = u->trees};
    git_commit *merge = NULL;
    int rc = twin_history_read_head(&h, u->packs, u->odb, id);
    if (rc == 0 && h.nparents > 0)
        rc = twin_history_read_head(&parent, u->packs, u->odb, &h.parents[0]);
    if (rc)
        return rc;
    /* Only a merge's changes are compared with every parent, through libgit2. */
    if (h.nparents > 1 && git_commit_lookup(&merge, u->repo, id) < 0)
        return twin_error(TWIN_ERROR, "commit %s cannot be read, the store is damaged: %s",
                          git_oid_tostr_s(id),
                          git_error_last() ? git_error_last()->message : "libgit2 error");
    rc = twin_treediff_run_ids(&d, h.nparents > 0 ? &parent.tree : NULL, &h.tree);
    if (rc == 1)
        rc = twin_error(TWIN_EINVALID, "commit %s: %s", git_oid_tostr_s(id), d.fault);
    for (size_t i = 0; rc == 0 && i < d.count; i++) {
        const struct twin_change *ch = &d.changes[i];
        if (!ch->has_new || !is_record_path(ch->path))
            continue;
        if (merge) {
            int changed = twin_treediff_changed_path(merge, ch->path);
            if (changed < 0) {
                rc = changed;
                break;
            }
            if (!changed)
                continue;
        }
        sqlite3_reset(u->date);
        sqlite3_bind_text(u->date, 1, ch->path, -1, SQLITE_STATIC);
        sqlite3_bind_int64(u->date, 2, (sqlite3_int64)h.time);
        if (sqlite3_step(u->date) != SQLITE_DONE)
            rc = db_error(u->c, "keeping a date");
        sqlite3_reset(u->date);
    }
    twin_treediff_clear(&d);
    git_commit_free(merge);
    return rc;
}

/* Walks the commits reachable from head and not from from (NULL: all), with date dating what each
 * changed; *count gets how many. The whole history is listed by twin's walk, which keeps a few
 * bytes a commit where libgit2's revwalk keeps a few hundred; the commits since a head, few, by
 * libgit2's, which can leave out what from reaches. */
static int walk_new(struct updater *u, size_t *count, const git_oid *head, const git_oid *from,
                    bool date)
{
    git_revwalk *walk = NULL;
    git_oid oid, *ids = NULL;
    int rc = 0, step = GIT_ITEROVER;
    *count = 0;
    if (!from) {
        size_t n = 0;
        rc = twin_history_walk(&ids, &n, u->repo, head);
        for (size_t i = 0; rc == 0 && date && i < n; i++)
            rc = date_commit(u, &ids[i]);
        free(ids);
        *count = n;
        return rc;
    }
    if (git_revwalk_new(&walk, u->repo) < 0 ||
        git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE) < 0 ||
        git_revwalk_push(walk, head) < 0 || git_revwalk_hide(walk, from) < 0) {
        rc = twin_history_walk_failed(u->repo, head, "walking the history for the list cache");
        goto done;
    }
    while (rc == 0 && (step = git_revwalk_next(&oid, walk)) == 0) {
        (*count)++;
        if (date)
            rc = date_commit(u, &oid);
    }
    if (rc == 0 && step != GIT_ITEROVER)
        rc = twin_history_walk_failed(u->repo, head, "walking the history for the list cache");
done:
    git_revwalk_free(walk);
    return rc;
}

/* Brings the cache from what it describes to head (with dates, its dates too), in one
 * transaction. A cache whose head is an ancestor of head takes the commits since and the records
 * that differ between the two heads' trees; any other is rebuilt from head's tree, its commits
 * counted by a walk of the history that reads only commits. Dates need a diff of every commit,
 * so they are walked for the first time they are asked for, and kept up from then on. */
static int update(twin_listcache *c, twin_node *n, const git_oid *head, unsigned what)
{
    git_repository *repo = twin_node_repo(n);
    struct updater u = {.c = c, .repo = repo};
    git_commit *new_commit = NULL, *old_commit = NULL;
    git_tree *new_tree = NULL;
    struct state st;
    size_t walked = 0;
    bool gitopts = false;
    int rc = exec(c, "BEGIN IMMEDIATE", "starting an update");
    if (rc)
        return rc;
    /* Another reader may have brought it up while this one waited. */
    if ((rc = described(&st, c, n)) || current(&st, head, what))
        goto done;
    if (st.valid && !git_oid_equal(&st.head, head) &&
        (git_graph_descendant_of(repo, head, &st.head) != 1 ||
         git_commit_lookup(&old_commit, repo, &st.head) < 0))
        st.valid = false; /* a rewritten history, or a head this store no longer holds */
    twin_error_clear();
    if (git_commit_lookup(&new_commit, repo, head) < 0) {
        rc = twin_error(TWIN_ERROR, "commit %s cannot be read, the store is damaged: %s",
                        git_oid_tostr_s(head),
                        git_error_last() ? git_error_last()->message : "libgit2 error");
        goto done;
    }
    if (!st.valid) {
        st.commits = 0;
        st.counted = st.dated = false;
        if ((rc = exec(c,
                       "DELETE FROM records; DELETE FROM texts; DELETE FROM dates;"
                       " DELETE FROM counts; DELETE FROM refs; DELETE FROM search;",
                       "clearing it")))
            goto done;
    }
    /* Read out as list reads records (twin_node_read_out): twin verify hashes every object. */
    if (twin_treecache_new(&u.trees) < 0) {
        rc = twin_error(TWIN_ERROR, "out of memory");
        goto done;
    }
    twin_treecache_trust_store(u.trees);

    if ((rc = twin_packread_open(&u.packs, repo)))
        goto done;
    if (git_repository_odb(&u.odb, repo) < 0) {
        rc = twin_error_git("opening the object database");
        goto done;
    }
    /* Records lie all over the packs: their pages are let go by the objects read, not bytes. */
    twin_packread_scattered(u.packs);
    /* An update may read every tree and commit once: libgit2 keeps none of them, and maps little
     * of the packs at a time, as the log reads. */
    if ((rc = twin_gitopts_begin(UPDATE_GITOPTS)))
        goto done;
    gitopts = true;
    if ((rc = prepare(&u.put, c,
                      "INSERT INTO records(path, id, type, title, blob, sealed, erased, withdrawn)"
                      " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(path) DO UPDATE SET"
                      " id = ?2, type = ?3, title = ?4, blob = ?5, sealed = ?6, erased = ?7,"
                      " withdrawn = ?8")) ||
        (rc = prepare(&u.put_text, c, "INSERT OR REPLACE INTO texts(path, text) VALUES(?1, ?2)")) ||
        (rc = prepare(&u.drop, c, "DELETE FROM records WHERE path = ?1")) ||
        (rc = prepare(&u.drop_text, c, "DELETE FROM texts WHERE path = ?1")) ||
        (rc = prepare(&u.drop_dates, c, "DELETE FROM dates WHERE path = ?1")) ||
        (rc = prepare(&u.drop_refs, c, "DELETE FROM refs WHERE path = ?1")) ||
        (rc = prepare(
             &u.drop_words, c,
             "DELETE FROM search WHERE rowid = (SELECT rowid FROM records WHERE path = ?1)")) ||
        (rc = prepare(&u.put_words, c,
                      "INSERT INTO search(rowid, title, words) VALUES((SELECT rowid FROM records"
                      " WHERE path = ?1), ?2, ?3)")) ||
        (rc = prepare(&u.put_ref, c,
                      "INSERT INTO refs(path, pos, field, target) VALUES(?1, ?2, ?3, ?4)")) ||
        (rc = prepare(&u.date, c,
                      "INSERT INTO dates(path, created, changed) VALUES(?1, ?2, ?2)"
                      " ON CONFLICT(path) DO UPDATE SET created = min(created, ?2),"
                      " changed = max(changed, ?2)")))
        goto done;
    if (st.valid && !git_oid_equal(&st.head, head)) {
        /* The new commits are walked only to keep up what is kept: a count, dates. */
        if ((st.counted || st.dated) && (rc = walk_new(&u, &walked, head, &st.head, st.dated)) == 0)
            st.commits += walked;
        if (rc == 0)
            rc = put_changed(&u, git_commit_tree_id(old_commit), git_commit_tree_id(new_commit));
    } else if (!st.valid && (rc = twin_tree_open(&new_tree, repo, git_commit_tree_id(new_commit),
                                                 "the head's tree")) == 0) {
        rc = put_all(&u, new_tree);
    }
    if (rc == 0 && (what & TWIN_LISTCACHE_DATES) && !st.dated) {
        if ((rc = exec(c, "DELETE FROM dates", "clearing its dates")) == 0 &&
            (rc = walk_new(&u, &walked, head, NULL, true)) == 0)
            /* Dates of files no longer at the head (none are removed today, but a tree may). */
            rc = exec(c, "DELETE FROM dates WHERE path NOT IN (SELECT path FROM records)",
                      "dropping old dates");
        st.dated = st.counted = true;
        st.commits = walked;
    }
    if (rc == 0 && (what & TWIN_LISTCACHE_COMMITS) && !st.counted) {
        /* twin's walk, which reads only commits: the count status shows. */
        git_oid *ids = NULL;
        rc = twin_history_walk(&ids, &st.commits, repo, head);
        free(ids);
        st.counted = true;
    }
    char count[32];
    snprintf(count, sizeof(count), st.counted ? "%zu" : "unknown", st.commits);
    if (rc == 0 && (rc = meta_set(c, "version", CACHE_VERSION_TEXT)) == 0 &&
        (rc = meta_set(c, "network", twin_node_network_id(n))) == 0 &&
        (rc = meta_set(c, "head", git_oid_tostr_s(head))) == 0 &&
        (rc = meta_set(c, "dated", st.dated ? "1" : "0")) == 0)
        rc = meta_set(c, "commits", count);
done:
    sqlite3_finalize(u.put);
    sqlite3_finalize(u.put_text);
    sqlite3_finalize(u.drop);
    sqlite3_finalize(u.drop_text);
    sqlite3_finalize(u.drop_dates);
    sqlite3_finalize(u.drop_refs);
    sqlite3_finalize(u.put_ref);
    sqlite3_finalize(u.drop_words);
    sqlite3_finalize(u.put_words);
    sqlite3_finalize(u.date);
    git_tree_free(new_tree);
    git_commit_free(new_commit);
    git_commit_free(old_commit);
    twin_treecache_free(u.trees);
    twin_packread_free(u.packs);
    git_odb_free(u.odb);
    if (gitopts)
        twin_gitopts_end(UPDATE_GITOPTS);
    if (rc == 0)
        rc = exec(c, "COMMIT", "ending an update");
    if (rc)
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* Opens the database at c->path (":memory:" for one in memory), its tables made. */
static int open_db(twin_listcache *c)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(c->path, &c->db, flags, NULL) != SQLITE_OK)
        return db_error(c, "opening");
    sqlite3_busy_timeout(c->db, BUSY_MS);
    int rc = exec(c,
                  c->on_disk ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                               " PRAGMA temp_store=MEMORY;"
                             : "PRAGMA journal_mode=OFF; PRAGMA temp_store=MEMORY;",
                  "setting it up");
    /* A cache of another version is made again (twin_listcache_open deletes it on a failure of
     * the database's own). */
    sqlite3_stmt *st = NULL;
    int version = 0;
    if (rc == 0 && (rc = prepare(&st, c, "PRAGMA user_version")) == 0) {
        if (sqlite3_step(st) == SQLITE_ROW)
            version = sqlite3_column_int(st, 0);
        else
            rc = db_error(c, "reading its version");
        sqlite3_finalize(st);
    }
    if (rc == 0 && version != 0 && version != CACHE_VERSION)
        rc = db_error(c, "a cache of another version");
    if (rc == 0 && version == 0)
        rc = exec(c, schema, "making its tables");
    if (rc == 0 && version == 0)
        rc = exec(c, "PRAGMA user_version = " CACHE_VERSION_TEXT, "setting its version");
    return rc;
}

static void close_db(twin_listcache *c)
{
    sqlite3_close_v2(c->db);
    c->db = NULL;
}

/* Deletes the cache file of c and its log. */
static void remove_files(const twin_listcache *c)
{
    char p[4300];
    unlink(c->path);
    snprintf(p, sizeof(p), "%s-wal", c->path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", c->path);
    unlink(p);
}

/* Brings the open cache up to head: nothing to do when it describes head already. */
static int bring_up(twin_listcache *c, twin_node *n, const git_oid *head, unsigned what)
{
    struct state st;
    int rc = described(&st, c, n);
    if (rc == 0 && !current(&st, head, what) && (rc = update(c, n, head, what)) == 0 &&
        (rc = described(&st, c, n)) == 0 && !current(&st, head, what))
        rc = twin_error(TWIN_ERROR, "the list cache %s did not take the head", c->path);
    if (rc == 0) {
        c->head = st.head;
        c->commits = st.commits;
    }
    return rc;
}

int twin_listcache_open(twin_listcache **out, twin_node *n, unsigned what)
{
    git_oid head;
    *out = NULL;
    int rc = twin_node_head(&head, n);
    if (rc)
        return rc;
    twin_listcache *c = calloc(1, sizeof(*c));
    if (!c)
        return twin_error(TWIN_ERROR, "out of memory");
    c->on_disk = true;
    snprintf(c->path, sizeof(c->path), "%s/%s", twin_node_dir(n), TWIN_LISTCACHE_FILE);
    /* A cache that cannot be used is deleted and made again once; where even that fails (a
     * directory this user cannot write), the answer comes from a cache in memory. */
    for (int attempt = 0; attempt < 3; attempt++) {
        if (attempt == 2) {
            c->on_disk = false;
            snprintf(c->path, sizeof(c->path), ":memory:");
        }
        c->failed = false;
        rc = open_db(c);
        if (rc == 0)
            rc = bring_up(c, n, &head, what);
        if (rc == 0)
            break;
        close_db(c);
        /* The database's own failure (damaged, unwritable, busy past waiting) makes the cache
         * again; the store's (a damaged object) is the answer. */
        if (!c->failed || !c->on_disk)
            break; /* the store's error (a damaged object): the answer is that error */
        if (attempt == 0)
            remove_files(c);
        twin_error_clear();
    }
    if (rc) {
        twin_listcache_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void twin_listcache_free(twin_listcache *c)
{
    if (!c)
        return;
    close_db(c);
    free(c);
}

const git_oid *twin_listcache_head(const twin_listcache *c)
{
    return &c->head;
}

size_t twin_listcache_commits(const twin_listcache *c)
{
    return c->commits;
}

bool twin_listcache_on_disk(const twin_listcache *c)
{
    return c->on_disk;
}

/* Splits refs, as the query gives them (per reference "field US target US type US 0|1title", RS
 * between), into row's references, in place. */
static void split_refs(struct twin_listcache_row *row, char *refs)
{
    row->nrefs = 0;
    for (char *next, *p = refs; p && *p && row->nrefs < TWIN_LISTCACHE_REFS_MAX; p = next) {
        if ((next = strchr(p, '\x1e')))
            *next++ = '\0';
        char *part[4] = {p, NULL, NULL, NULL};
        for (int i = 1; i < 4 && part[i - 1]; i++)
            if ((part[i] = strchr(part[i - 1], '\x1f')))
                *part[i]++ = '\0';
        if (!part[3])
            continue; /* not as written: left out */
        row->refs[row->nrefs++] = (struct twin_listcache_ref){
            .field = part[0],
            .target = part[1],
            .type = *part[2] ? part[2] : NULL,
            .name = part[3][0] == '1' ? part[3] + 1 : NULL,
        };
    }
}

int twin_listcache_each(twin_listcache *c, const struct twin_listcache_query *q,
                        int (*fn)(const struct twin_listcache_row *row, void *ctx), void *ctx)
{
    sqlite3_stmt *st = NULL;
    char sql[1200];
    snprintf(sql, sizeof(sql),
             "SELECT r.id, r.type, r.title, %s, r.blob, r.sealed, r.erased, r.withdrawn, %s, %s"
             " FROM records r%s%s WHERE (?1 IS NULL OR r.type = ?1) AND (?2 OR NOT r.withdrawn)%s"
             " ORDER BY r.id, r.type",
             q->text ? "t.text" : "NULL", q->dates ? "d.created, d.changed" : "0, 0",
             q->refs ? "(SELECT group_concat(x, char(30)) FROM (SELECT f.field || char(31) ||"
                       " f.target || char(31) || ifnull(n.type, '') || char(31) ||"
                       " CASE WHEN n.title IS NULL THEN '0' ELSE '1' || n.title END AS x"
                       " FROM refs f LEFT JOIN records n ON n.id = f.target"
                       " WHERE f.path = r.path ORDER BY f.pos))"
                     : "NULL",
             q->text ? " LEFT JOIN texts t ON t.path = r.path" : "",
             q->dates ? " LEFT JOIN dates d ON d.path = r.path" : "",
             q->sealed_only ? " AND r.sealed" : "");
    int rc = prepare(&st, c, sql);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, q->type, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, q->all);
    char *refs = NULL;
    /* One statement, one read transaction: an update by another process meanwhile is not seen. */
    int step = SQLITE_DONE;
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        struct twin_listcache_row row = {
            .id = (const char *)sqlite3_column_text(st, 0),
            .type = (const char *)sqlite3_column_text(st, 1),
            .title = (const char *)sqlite3_column_text(st, 2),
            .text = (const char *)sqlite3_column_text(st, 3),
            .text_len = (size_t)sqlite3_column_bytes(st, 3),
            .sealed = sqlite3_column_int(st, 5) != 0,
            .erased = sqlite3_column_int(st, 6) != 0,
            .withdrawn = sqlite3_column_int(st, 7) != 0,
            .created = sqlite3_column_int64(st, 8),
            .changed = sqlite3_column_int64(st, 9),
        };
        if (sqlite3_column_bytes(st, 4) != GIT_OID_RAWSZ || !row.id || !row.type ||
            (q->text && !row.sealed && !row.text)) {
            rc = db_error(c, "reading a record");
            break;
        }
        git_oid_fromraw(&row.blob, sqlite3_column_blob(st, 4));
        const char *listed = (const char *)sqlite3_column_text(st, 10);
        if (listed) {
            free(refs);
            if (!(refs = strdup(listed))) {
                rc = twin_error(TWIN_ERROR, "out of memory");
                break;
            }
            split_refs(&row, refs);
        }
        rc = fn(&row, ctx);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = db_error(c, "reading the records");
    free(refs);
    sqlite3_finalize(st);
    return rc;
}

/* Puts the records opened for this search in temp.opened, an FTS5 table in memory only
 * (temp_store=MEMORY): their words never reach the cache's file. */
static int put_opened(twin_listcache *c, const struct twin_listcache_search *q)
{
    sqlite3_stmt *st = NULL;
    int rc = exec(c,
                  "CREATE VIRTUAL TABLE IF NOT EXISTS temp.opened USING fts5(id UNINDEXED,"
                  " type UNINDEXED, withdrawn UNINDEXED, title, words, tokenize = " SEARCH_TOKENS
                  "); DELETE FROM temp.opened;",
                  "making a table of opened records");
    if (rc == 0)
        rc = prepare(&st, c,
                     "INSERT INTO temp.opened(id, type, withdrawn, title, words)"
                     " VALUES(?1, ?2, ?3, ?4, ?5)");
    for (size_t i = 0; rc == 0 && i < q->nopened; i++) {
        const struct twin_listcache_doc *d = &q->opened[i];
        sqlite3_bind_text(st, 1, d->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, d->type, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, d->withdrawn);
        sqlite3_bind_text(st, 4, d->title, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, d->words, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = db_error(c, "keeping an opened record's words");
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return rc;
}

int twin_listcache_search(twin_listcache *c, const struct twin_listcache_search *q,
                          twin_listcache_hit_fn fn, void *ctx)
{
    sqlite3_stmt *st = NULL;
    int rc = put_opened(c, q);
    /* FTS5's bm25, a match in the title counting ten times one elsewhere; the two tables' ranks
     * are each their own table's, merged in one order. */
    if (rc == 0 &&
        sqlite3_prepare_v2(
            c->db,
            "SELECT r.id, r.type, r.title, r.blob, r.sealed, r.erased, r.withdrawn,"
            " snippet(search, -1, ?5, ?6, '...', 12) AS shown, bm25(search, 10.0, 1.0) AS score"
            " FROM search JOIN records r ON r.rowid = search.rowid WHERE search MATCH ?1"
            " AND (?2 IS NULL OR r.type = ?2) AND (?3 OR NOT r.withdrawn)"
            " UNION ALL SELECT o.id, o.type, o.title, NULL, 1, 0, o.withdrawn,"
            " snippet(opened, -1, ?5, ?6, '...', 12), bm25(opened, 0, 0, 0, 10.0, 1.0)"
            " FROM temp.opened o WHERE opened MATCH ?1 AND (?2 IS NULL OR o.type = ?2)"
            " AND (?3 OR NOT o.withdrawn)"
            " ORDER BY score, 1 LIMIT ?4",
            -1, &st, NULL) != SQLITE_OK)
        rc = db_error(c, "a search");
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, q->match, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, q->type, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, q->all);
    sqlite3_bind_int64(st, 4, q->limit ? (sqlite3_int64)q->limit : -1);
    sqlite3_bind_text(st, 5, q->mark_open ? q->mark_open : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, q->mark_close ? q->mark_close : "", -1, SQLITE_STATIC);
    int step = SQLITE_DONE;
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        struct twin_listcache_row row = {
            .id = (const char *)sqlite3_column_text(st, 0),
            .type = (const char *)sqlite3_column_text(st, 1),
            .title = (const char *)sqlite3_column_text(st, 2),
            .sealed = sqlite3_column_int(st, 4) != 0,
            .erased = sqlite3_column_int(st, 5) != 0,
            .withdrawn = sqlite3_column_int(st, 6) != 0,
        };
        if (!row.id || !row.type) {
            rc = db_error(c, "reading a record found");
            break;
        }
        if (sqlite3_column_bytes(st, 3) == GIT_OID_RAWSZ)
            git_oid_fromraw(&row.blob, sqlite3_column_blob(st, 3));
        const char *shown = (const char *)sqlite3_column_text(st, 7);
        rc = fn(&row, shown ? shown : "", sqlite3_column_double(st, 8), ctx);
    }
    if (rc == 0 && step != SQLITE_DONE) {
        /* A query FTS5 cannot read (a plain SQLITE_ERROR) is the searcher's to change; any other
         * failure is the cache's. */
        rc = sqlite3_errcode(c->db) == SQLITE_ERROR
                 ? twin_error(TWIN_EINVALID, "cannot search for '%s': %s", q->match,
                              sqlite3_errmsg(c->db))
                 : db_error(c, "searching");
    }
    sqlite3_finalize(st);
    /* Not exec: a failure here must neither hide the search's error nor mark the cache failed
     * (the table lives in memory and goes with the connection anyway). */
    sqlite3_exec(c->db, "DELETE FROM temp.opened", NULL, NULL, NULL);
    return rc;
}

int twin_listcache_count(size_t *per_type, size_t *withdrawn, twin_listcache *c)
{
    const char *const *types = twin_record_types();
    sqlite3_stmt *st = NULL;
    *withdrawn = 0;
    for (size_t i = 0; types[i]; i++)
        per_type[i] = 0;
    int rc = prepare(&st, c, "SELECT type, records, withdrawn FROM counts");
    if (rc)
        return rc;
    int step = SQLITE_DONE;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *type = (const char *)sqlite3_column_text(st, 0);
        for (size_t i = 0; type && types[i]; i++)
            if (strcmp(types[i], type) == 0)
                per_type[i] += (size_t)sqlite3_column_int64(st, 1);
        *withdrawn += (size_t)sqlite3_column_int64(st, 2);
    }
    if (step != SQLITE_DONE)
        rc = db_error(c, "counting the records");
    sqlite3_finalize(st);
    return rc;
}
