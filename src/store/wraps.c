#include "store/wraps.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "twin/error.h"

#define SCHEMA_VERSION 3 /* 2: origin_store; 3: one index, led by the record */
#define BUSY_MS        10000

struct twin_wraps {
    sqlite3 *db;
    char path[4200];
    unsigned char store[TWIN_WRAPS_STORE_BYTES];
    /* The statements a session runs for every wrap, prepared once: SQL parsed for each of
     * thousands of wraps cost more than the rest of their check. twin_wraps_add has its own
     * statement for the erased records, so that it may run beside twin_wraps_erased. */
    sqlite3_stmt *erased_st, *add_erased_st, *add_st;
    /* The source (in sources) of the last received wrap kept. */
    sqlite3_int64 source_id; /* 0: none yet */
    unsigned char source_node[TWIN_PUBKEY_BYTES], source_store[TWIN_WRAPS_STORE_BYTES];
    size_t source_nstore;
    bool relaxed; /* the open transaction is not synced to disk at its commit */
};

static int db_error(twin_wraps *w, const char *what)
{
    return twin_error(TWIN_ERROR, "the wrap store %s: %s: %s", w->path, what,
                      w->db ? sqlite3_errmsg(w->db) : "cannot open");
}

static int exec(twin_wraps *w, const char *sql, const char *what)
{
    return sqlite3_exec(w->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : db_error(w, what);
}

static int prepare(sqlite3_stmt **st, twin_wraps *w, const char *sql)
{
    return sqlite3_prepare_v2(w->db, sql, -1, st, NULL) == SQLITE_OK ? 0 : db_error(w, "a query");
}

/* A statement kept for reuse in *kept, prepared the first time; put it back with
 * sqlite3_reset once done. */
static int prepared(sqlite3_stmt **kept, twin_wraps *w, const char *sql)
{
    if (*kept) {
        sqlite3_clear_bindings(*kept);
        return 0;
    }
    return sqlite3_prepare_v3(w->db, sql, -1, SQLITE_PREPARE_PERSISTENT, kept, NULL) == SQLITE_OK
               ? 0
               : db_error(w, "a query");
}

static int change(twin_wraps *w, const char *sql, const void *param, int len, size_t *changed,
                  const char *what);

/* One index: wraps are looked up by record (a record's versions, an erasure) and by version
 * within a record, and the unique key that keeps each wrap once leads with the record, whose ids
 * grow with time (UUIDv7), so a session's inserts land near the end of the index rather than all
 * over it, as a key leading with the blob id did (version 2, with two more indexes). The key
 * holds a wrap's digest (SEALED.md 1: what an envelope lists), not its key and box, and where a
 * wrap came from is a number in sources: a fresh member's first 20k wraps write a quarter of the
 * bytes of version 2, and cost a third of its time. Wraps to one key are read by a scan, for a
 * key rotation or a key that is no longer active. */
#define WRAPS_COLUMNS                                                                              \
    "(seq INTEGER PRIMARY KEY AUTOINCREMENT, record TEXT NOT NULL, blob BLOB NOT NULL,"            \
    " recipient BLOB NOT NULL, box BLOB NOT NULL, digest BLOB NOT NULL, maker BLOB, sig BLOB,"     \
    " source INTEGER, UNIQUE(record, blob, digest));"

/* A wrap's source: the node key of the peer it came from, and the store id of the answer it came
 * in (empty for wraps kept before stores had ids, version 1); a wrap made here has none. */
static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS wraps" WRAPS_COLUMNS
    "CREATE TABLE IF NOT EXISTS sources(id INTEGER PRIMARY KEY, node BLOB NOT NULL,"
    " store BLOB NOT NULL, UNIQUE(node, store));"
    "CREATE TABLE IF NOT EXISTS erased(record TEXT PRIMARY KEY);"
    "CREATE TABLE IF NOT EXISTS peers(node BLOB PRIMARY KEY, store BLOB NOT NULL,"
    " upto INTEGER NOT NULL);";

/* wrap_digest(recipient, box) in SQL: twin_seal_wrap_digest, for stores brought to version 3. A
 * damaged wrap, its key or box of another size, gets a digest of its own bytes. */
static void wrap_digest_sql(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
    (void)argc;
    unsigned char d[TWIN_SEAL_DIGEST_BYTES];
    const unsigned char *to = sqlite3_value_blob(argv[0]), *box = sqlite3_value_blob(argv[1]);
    int nto = sqlite3_value_bytes(argv[0]), nbox = sqlite3_value_bytes(argv[1]);
    if (to && box && nto == TWIN_PUBKEY_BYTES && nbox == TWIN_SEAL_BOX_BYTES) {
        twin_seal_wrap_digest(d, to, box);
    } else {
        crypto_hash_sha256_state st;
        crypto_hash_sha256_init(&st);
        crypto_hash_sha256_update(&st, (const unsigned char *)"damaged wrap", 12);
        if (to)
            crypto_hash_sha256_update(&st, to, (unsigned long long)nto);
        if (box)
            crypto_hash_sha256_update(&st, box, (unsigned long long)nbox);
        crypto_hash_sha256_final(&st, d);
    }
    sqlite3_result_blob(cx, d, sizeof(d), SQLITE_TRANSIENT);
}

/* Version 2 to 3: the wraps table made again with its one index and each wrap's digest and
 * source, every wrap with its seq, and the counter where it was (sqlite_sequence: a seq deleted
 * at the top is never given again). */
static int to_version_3(twin_wraps *w)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(&st, w, "SELECT seq FROM sqlite_sequence WHERE name = 'wraps'");
    sqlite3_int64 counter = 0;
    if (rc)
        return rc;
    if (sqlite3_step(st) == SQLITE_ROW)
        counter = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (sqlite3_create_function_v2(w->db, "wrap_digest", 2,
                                   SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY, NULL,
                                   wrap_digest_sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_error(w, "bringing it to version 3");
    rc = exec(w,
              "INSERT OR IGNORE INTO sources(node, store) SELECT origin,"
              " coalesce(origin_store, x'') FROM wraps WHERE origin IS NOT NULL;"
              "CREATE TABLE wraps_v3" WRAPS_COLUMNS
              "INSERT OR IGNORE INTO wraps_v3 SELECT seq, record, blob, recipient, box,"
              " wrap_digest(recipient, box), maker, sig, (SELECT id FROM sources"
              " WHERE node = origin AND store = coalesce(origin_store, x'')) FROM wraps"
              " ORDER BY seq;"
              "DROP TABLE wraps;"
              "ALTER TABLE wraps_v3 RENAME TO wraps;",
              "bringing it to version 3");
    sqlite3_create_function_v2(w->db, "wrap_digest", 2, SQLITE_UTF8, NULL, NULL, NULL, NULL, NULL);
    if (rc)
        return rc;
    if ((rc =
             prepare(&st, w, "UPDATE sqlite_sequence SET seq = max(seq, ?1) WHERE name = 'wraps'")))
        return rc;
    sqlite3_bind_int64(st, 1, counter);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_error(w, "keeping its counter");
    else if (sqlite3_changes(w->db) == 0 && counter > 0) { /* no wrap left: no row to update */
        sqlite3_finalize(st);
        if ((rc = prepare(&st, w, "INSERT INTO sqlite_sequence(name, seq) VALUES ('wraps', ?1)")))
            return rc;
        sqlite3_bind_int64(st, 1, counter);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = db_error(w, "keeping its counter");
    }
    sqlite3_finalize(st);
    return rc == 0 ? exec(w, "UPDATE meta SET value = x'03' WHERE key = 'version'",
                          "bringing it to version 3")
                   : rc;
}

/* The store's id and schema version: made with the store, checked when it opens. */
static int load_meta(twin_wraps *w)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(&st, w, "SELECT key, value FROM meta");
    int version = 0;
    bool has_id = false;
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(st, 0);
        const void *v = sqlite3_column_blob(st, 1);
        int n = sqlite3_column_bytes(st, 1);
        if (key && strcmp(key, "store") == 0 && n == TWIN_WRAPS_STORE_BYTES) {
            memcpy(w->store, v, TWIN_WRAPS_STORE_BYTES);
            has_id = true;
        } else if (key && strcmp(key, "version") == 0 && n == 1) {
            version = ((const unsigned char *)v)[0];
        }
    }
    sqlite3_finalize(st);
    if (rc)
        return rc;
    if (has_id && version == 1) { /* before origin_store: the wraps kept so far have none */
        rc = exec(w,
                  "ALTER TABLE wraps ADD COLUMN origin_store BLOB;"
                  "UPDATE meta SET value = x'02' WHERE key = 'version';",
                  "bringing it to version 2");
        if (rc)
            return rc;
        version = 2;
    }
    if (has_id && version == 2) {
        if ((rc = to_version_3(w)))
            return rc;
        version = SCHEMA_VERSION;
    }
    if (has_id && version != SCHEMA_VERSION)
        return twin_error(TWIN_EINVALID, "the wrap store %s is of version %d, not %d", w->path,
                          version, SCHEMA_VERSION);
    if (has_id)
        return 0;
    randombytes_buf(w->store, sizeof(w->store));
    unsigned char v = SCHEMA_VERSION;
    if ((rc =
             prepare(&st, w, "INSERT INTO meta(key, value) VALUES ('store', ?1), ('version', ?2)")))
        return rc;
    sqlite3_bind_blob(st, 1, w->store, sizeof(w->store), SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, &v, 1, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_error(w, "making its id");
    sqlite3_finalize(st);
    return rc;
}

int twin_wraps_open(twin_wraps **out, const char *dir)
{
    *out = NULL;
    twin_wraps *w = calloc(1, sizeof(*w));
    if (!w)
        return twin_error(TWIN_ERROR, "out of memory");
    snprintf(w->path, sizeof(w->path), "%s/%s", dir, TWIN_WRAPS_FILE);
    int rc = 0;
    if (sqlite3_open_v2(w->path, &w->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK)
        rc = db_error(w, "opening");
    if (rc == 0) {
        sqlite3_busy_timeout(w->db, BUSY_MS);
        /* Deleted rows overwritten; the log emptied after an erasure (twin_wraps_erase). */
        rc = exec(w,
                  "PRAGMA secure_delete=ON; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                  "PRAGMA foreign_keys=OFF;",
                  "setting it up");
    }
    if (rc == 0)
        rc = exec(w, "BEGIN IMMEDIATE", "starting");
    if (rc == 0 && (rc = exec(w, schema, "making its tables")) == 0 && (rc = load_meta(w)) == 0)
        rc = exec(w, "COMMIT", "making it");
    if (rc) {
        twin_wraps_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

void twin_wraps_free(twin_wraps *w)
{
    if (!w)
        return;
    sqlite3_finalize(w->erased_st);
    sqlite3_finalize(w->add_erased_st);
    sqlite3_finalize(w->add_st);
    sqlite3_close_v2(w->db);
    free(w);
}

void twin_wraps_store_id(const twin_wraps *w, unsigned char out[TWIN_WRAPS_STORE_BYTES])
{
    memcpy(out, w->store, TWIN_WRAPS_STORE_BYTES);
}

int twin_wraps_copy(twin_wraps *w, const char *path)
{
    /* VACUUM INTO reads the store in one transaction, so the copy is one moment of it even while
     * sessions write, and writes only the pages in use: nothing deleted comes along. */
    sqlite3_stmt *st = NULL;
    int rc = prepare(&st, w, "VACUUM INTO ?1");
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_error(w, "copying it");
    sqlite3_finalize(st);
    return rc;
}

int twin_wraps_new_id(twin_wraps *w)
{
    unsigned char store[TWIN_WRAPS_STORE_BYTES];
    randombytes_buf(store, sizeof(store));
    int rc = change(w, "UPDATE meta SET value = ?1 WHERE key = 'store'", store, sizeof(store), NULL,
                    "giving it a new id");
    if (rc == 0)
        memcpy(w->store, store, sizeof(store));
    return rc;
}

/* Whether record was erased, by the statement kept in *kept. */
static int erased_by(bool *erased, sqlite3_stmt **kept, twin_wraps *w, const char *record)
{
    int rc = prepared(kept, w, "SELECT 1 FROM erased WHERE record = ?1");
    if (rc)
        return rc;
    sqlite3_stmt *st = *kept;
    sqlite3_bind_text(st, 1, record, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    *erased = step == SQLITE_ROW;
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = db_error(w, "reading the erased records");
    sqlite3_reset(st);
    return rc;
}

int twin_wraps_erased(bool *erased, twin_wraps *w, const char *record)
{
    return erased_by(erased, &w->erased_st, w, record);
}

int twin_wraps_each_erased(twin_wraps *w, int (*fn)(const char *record, void *ctx), void *ctx)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(&st, w, "SELECT record FROM erased ORDER BY record"), step = SQLITE_DONE;
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *record = (const char *)sqlite3_column_text(st, 0);
        rc = fn(record ? record : "", ctx);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = db_error(w, "reading the erased records");
    sqlite3_finalize(st);
    return rc;
}

/* The id in sources of where a received wrap came from, made when new; the last one is kept in
 * memory (a source's id never changes). */
static int source_of(sqlite3_int64 *id, twin_wraps *w, const struct twin_wrap *wrap)
{
    size_t nstore = wrap->has_origin_store ? sizeof(wrap->origin_store) : 0;
    if (w->source_id && memcmp(w->source_node, wrap->origin, sizeof(w->source_node)) == 0 &&
        w->source_nstore == nstore && memcmp(w->source_store, wrap->origin_store, nstore) == 0) {
        *id = w->source_id;
        return 0;
    }
    static const unsigned char none[1];
    sqlite3_stmt *st = NULL;
    int rc = prepare(&st, w, "INSERT OR IGNORE INTO sources(node, store) VALUES (?1, ?2)");
    for (int pass = 0; rc == 0 && pass < 2; pass++) {
        sqlite3_bind_blob(st, 1, wrap->origin, sizeof(wrap->origin), SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, nstore ? wrap->origin_store : none, (int)nstore, SQLITE_STATIC);
        int step = sqlite3_step(st);
        if (pass == 1 && step == SQLITE_ROW)
            *id = sqlite3_column_int64(st, 0);
        else if (step != SQLITE_DONE)
            rc = db_error(w, "keeping where a wrap came from");
        sqlite3_finalize(st);
        st = NULL;
        if (rc == 0 && pass == 0)
            rc = prepare(&st, w, "SELECT id FROM sources WHERE node = ?1 AND store = ?2");
    }
    if (rc)
        return rc;
    w->source_id = *id;
    memcpy(w->source_node, wrap->origin, sizeof(w->source_node));
    memcpy(w->source_store, wrap->origin_store, nstore);
    w->source_nstore = nstore;
    return 0;
}

int twin_wraps_add(twin_wraps *w, struct twin_wrap *wrap, bool *added)
{
    *added = false;
    bool erased;
    int rc = erased_by(&erased, &w->add_erased_st, w, wrap->record);
    if (rc)
        return rc;
    if (erased)
        return twin_error(TWIN_EDENIED, "record %s was erased: its wraps are not kept",
                          wrap->record);
    sqlite3_int64 source = 0;
    if (wrap->from_peer && (rc = source_of(&source, w, wrap)))
        return rc;
    if ((rc = prepared(&w->add_st, w,
                       "INSERT OR IGNORE INTO wraps(record, blob, recipient, box, digest, maker,"
                       " sig, source) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")))
        return rc;
    unsigned char digest[TWIN_SEAL_DIGEST_BYTES];
    twin_seal_wrap_digest(digest, wrap->to, wrap->box);
    sqlite3_stmt *st = w->add_st;
    sqlite3_bind_text(st, 1, wrap->record, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, wrap->blob, sizeof(wrap->blob), SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, wrap->to, sizeof(wrap->to), SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, wrap->box, sizeof(wrap->box), SQLITE_STATIC);
    sqlite3_bind_blob(st, 5, digest, sizeof(digest), SQLITE_STATIC);
    if (wrap->signed_by) {
        sqlite3_bind_blob(st, 6, wrap->by, sizeof(wrap->by), SQLITE_STATIC);
        sqlite3_bind_blob(st, 7, wrap->sig, sizeof(wrap->sig), SQLITE_STATIC);
    }
    if (wrap->from_peer)
        sqlite3_bind_int64(st, 8, source);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_error(w, "keeping a wrap");
    else if (sqlite3_changes(w->db) == 1) {
        *added = true;
        wrap->seq = (uint64_t)sqlite3_last_insert_rowid(w->db);
    }
    sqlite3_reset(st);
    return rc;
}

/* Back to syncing every commit, and to moving the log into the database once it holds 1000 pages
 * (SQLite's default), after a received transaction. */
static void relax_end(twin_wraps *w)
{
    if (w->relaxed && sqlite3_get_autocommit(w->db) &&
        sqlite3_exec(w->db, "PRAGMA synchronous=FULL; PRAGMA wal_autocheckpoint=1000", NULL, NULL,
                     NULL) == SQLITE_OK)
        w->relaxed = false; /* else it stays set, and the next twin_wraps_begin tries again */
}

int twin_wraps_begin(twin_wraps *w)
{
    relax_end(w);
    if (w->relaxed) /* a node's own wraps are never committed without a sync */
        return db_error(w, "syncing every commit again");
    return exec(w, "BEGIN IMMEDIATE", "starting a transaction");
}

int twin_wraps_add_own(twin_wraps *w, struct twin_wrap *wraps, size_t n)
{
    int rc = twin_wraps_begin(w);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = twin_wraps_add(w, &wraps[i], &(bool){false});
    if (rc == 0)
        rc = twin_wraps_commit(w);
    else
        twin_wraps_rollback(w);
    return rc;
}

int twin_wraps_begin_received(twin_wraps *w)
{
    w->relaxed = true; /* set first: whatever the pragmas did, relax_end undoes it */
    int rc = exec(w, "PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0",
                  "setting up a transaction");
    if (rc == 0)
        rc = exec(w, "BEGIN IMMEDIATE", "starting a transaction");
    if (rc)
        relax_end(w);
    return rc;
}

int twin_wraps_commit(twin_wraps *w)
{
    int rc = exec(w, "COMMIT", "committing a transaction");
    if (rc == 0)
        relax_end(w);
    return rc;
}

void twin_wraps_rollback(twin_wraps *w)
{
    char saved[1024];
    snprintf(saved, sizeof(saved), "%s", twin_error_last());
    if (!sqlite3_get_autocommit(w->db))
        (void)exec(w, "ROLLBACK", "undoing a transaction");
    relax_end(w);
    twin_error(0, "%s", saved); /* the error that made the caller roll back stays the one told */
}

int twin_wraps_count_later(size_t *count, twin_wraps *w, const char *record,
                           const unsigned char *blob, const unsigned char *to)
{
    sqlite3_stmt *st = NULL;
    *count = 0;
    int rc = prepare(&st, w,
                     "SELECT count(*) FROM wraps WHERE record = ?1 AND blob = ?2 AND recipient = ?3"
                     " AND maker IS NOT NULL");
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, record, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, blob, TWIN_SEAL_BLOB_BYTES, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, to, TWIN_PUBKEY_BYTES, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        *count = (size_t)sqlite3_column_int64(st, 0);
    else
        rc = db_error(w, "counting wraps");
    sqlite3_finalize(st);
    return rc;
}

/* Copies a blob column of exactly n bytes; false when it is not that. */
static bool column(unsigned char *out, sqlite3_stmt *st, int col, size_t n)
{
    if (sqlite3_column_type(st, col) != SQLITE_BLOB || (size_t)sqlite3_column_bytes(st, col) != n)
        return false;
    memcpy(out, sqlite3_column_blob(st, col), n);
    return true;
}

/* Whether an answer to the asker of r passes over wrap: one received from the asker, unless
 * the asker names its own store and the wrap came from another store of it. */
static bool passed_over(const struct twin_wraps_range *r, const struct twin_wrap *wr)
{
    if (!r || !r->skip || !wr->from_peer || memcmp(wr->origin, r->skip, sizeof(wr->origin)) != 0)
        return false;
    return !(r->mine && wr->has_origin_store &&
             memcmp(wr->origin_store, r->mine, sizeof(wr->origin_store)) != 0);
}

/* The wraps a query over ROW_COLUMNS gives, to fn, less those r passes over (r may be NULL). */
static int each_row(twin_wraps *w, sqlite3_stmt *st, size_t max, const struct twin_wraps_range *r,
                    int (*fn)(const struct twin_wrap *wrap, void *ctx), void *ctx, uint64_t *last,
                    size_t *given)
{
    int step = SQLITE_DONE, rc = 0;
    *given = 0;
    while (rc == 0 && *given < max && (step = sqlite3_step(st)) == SQLITE_ROW) {
        struct twin_wrap wr = {0};
        const char *record = (const char *)sqlite3_column_text(st, 1);
        wr.seq = (uint64_t)sqlite3_column_int64(st, 0);
        wr.from_peer = sqlite3_column_type(st, 7) != SQLITE_NULL &&
                       column(wr.origin, st, 7, sizeof(wr.origin));
        wr.has_origin_store = sqlite3_column_type(st, 8) != SQLITE_NULL &&
                              column(wr.origin_store, st, 8, sizeof(wr.origin_store));
        if (passed_over(r, &wr)) {
            if (last)
                *last = wr.seq; /* passed over, as sent */
            continue;
        }
        snprintf(wr.record, sizeof(wr.record), "%s", record ? record : "");
        wr.signed_by = sqlite3_column_type(st, 5) != SQLITE_NULL;
        if (!column(wr.blob, st, 2, sizeof(wr.blob)) || !column(wr.to, st, 3, sizeof(wr.to)) ||
            !column(wr.box, st, 4, sizeof(wr.box)) ||
            (wr.signed_by &&
             (!column(wr.by, st, 5, sizeof(wr.by)) || !column(wr.sig, st, 6, sizeof(wr.sig)))))
            return twin_error(TWIN_EINVALID, "the wrap store %s holds a damaged wrap (seq %llu)",
                              w->path, (unsigned long long)wr.seq);
        rc = fn(&wr, ctx);
        if (last)
            *last = wr.seq;
        (*given)++;
    }
    if (rc == 0 && *given < max && step != SQLITE_DONE)
        rc = db_error(w, "reading wraps");
    return rc;
}

/* The columns each_row reads, FROM the wraps with their sources. */
#define ROW_COLUMNS                                                                                \
    "seq, record, blob, recipient, box, maker, sig, node, store FROM wraps LEFT JOIN sources"      \
    " ON sources.id = source"

/* Calls fn for each wrap to key to of record (of its version blob, when that is not NULL), in seq
 * order, until fn returns non-zero (returned). */
static int each_of(twin_wraps *w, const char *record, const unsigned char *blob,
                   const unsigned char *to, int (*fn)(const struct twin_wrap *wrap, void *ctx),
                   void *ctx)
{
    sqlite3_stmt *st = NULL;
    size_t given;
    int rc = prepare(&st, w,
                     blob ? "SELECT " ROW_COLUMNS " WHERE record = ?1 AND blob = ?3"
                            " AND recipient = ?2 ORDER BY seq"
                          : "SELECT " ROW_COLUMNS " WHERE record = ?1"
                            " AND recipient = ?2 ORDER BY seq");
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, record, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, to, TWIN_PUBKEY_BYTES, SQLITE_STATIC);
    if (blob)
        sqlite3_bind_blob(st, 3, blob, TWIN_SEAL_BLOB_BYTES, SQLITE_STATIC);
    rc = each_row(w, st, SIZE_MAX, NULL, fn, ctx, NULL, &given);
    sqlite3_finalize(st);
    return rc;
}

int twin_wraps_each_for(twin_wraps *w, const char *record, const unsigned char *blob,
                        const unsigned char *to, int (*fn)(const struct twin_wrap *wrap, void *ctx),
                        void *ctx)
{
    return each_of(w, record, blob, to, fn, ctx);
}

int twin_wraps_each_of_record(twin_wraps *w, const char *record, const unsigned char *to,
                              int (*fn)(const struct twin_wrap *wrap, void *ctx), void *ctx)
{
    return each_of(w, record, NULL, to, fn, ctx);
}

int twin_wraps_each_to(twin_wraps *w, const unsigned char *to,
                       int (*fn)(const struct twin_wrap *wrap, void *ctx), void *ctx)
{
    sqlite3_stmt *st = NULL;
    size_t given;
    int rc = prepare(&st, w, "SELECT " ROW_COLUMNS " WHERE recipient = ?1 ORDER BY seq");
    if (rc)
        return rc;
    sqlite3_bind_blob(st, 1, to, TWIN_PUBKEY_BYTES, SQLITE_STATIC);
    rc = each_row(w, st, SIZE_MAX, NULL, fn, ctx, NULL, &given);
    sqlite3_finalize(st);
    return rc;
}

int twin_wraps_since(twin_wraps *w, const struct twin_wraps_range *r,
                     int (*fn)(const struct twin_wrap *wrap, void *ctx), void *ctx, uint64_t *upto,
                     bool *more)
{
    sqlite3_stmt *st = NULL;
    size_t given;
    *upto = r->since;
    *more = false;
    if (r->since > INT64_MAX)
        return twin_error(TWIN_EINVALID, "no wrap comes after %llu", (unsigned long long)r->since);
    int rc = prepare(&st, w, "SELECT " ROW_COLUMNS " WHERE seq > ?1 AND seq <= ?2 ORDER BY seq");
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)r->since);
    sqlite3_bind_int64(st, 2, r->until > INT64_MAX ? INT64_MAX : (sqlite3_int64)r->until);
    rc = each_row(w, st, r->max, r, fn, ctx, upto, &given);
    if (rc == 0 && given == r->max)
        *more = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return rc;
}

int twin_wraps_durable(twin_wraps *w, uint64_t *seq)
{
    sqlite3_stmt *st = NULL;
    *seq = 0;
    int rc = prepare(&st, w, "SELECT coalesce(max(seq), 0) FROM wraps");
    if (rc)
        return rc;
    if (sqlite3_step(st) == SQLITE_ROW)
        *seq = (uint64_t)sqlite3_column_int64(st, 0);
    else
        rc = db_error(w, "reading its last seq");
    sqlite3_finalize(st);
    if (rc)
        return rc;
    /* Every commit up to that seq is in the log (or moved into the database by a checkpoint,
     * which syncs both): syncing the log makes them all durable. */
    char log[sizeof(w->path) + 8];
    snprintf(log, sizeof(log), "%s-wal", w->path);
    int fd = open(log, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT
                   ? 0
                   : twin_error(TWIN_ERROR, "the wrap store's log %s: %s", log, strerror(errno));
    if (fdatasync(fd) != 0)
        rc = twin_error(TWIN_ERROR, "syncing the wrap store's log %s: %s", log, strerror(errno));
    close(fd);
    return rc;
}

/* Runs a statement with one text or blob parameter that changes rows; *changed gets how many. */
static int change(twin_wraps *w, const char *sql, const void *param, int len, size_t *changed,
                  const char *what)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(&st, w, sql);
    if (rc)
        return rc;
    if (len < 0)
        sqlite3_bind_text(st, 1, param, -1, SQLITE_STATIC);
    else
        sqlite3_bind_blob(st, 1, param, len, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_error(w, what);
    else if (changed)
        *changed = (size_t)sqlite3_changes(w->db);
    sqlite3_finalize(st);
    return rc;
}

int twin_wraps_delete(twin_wraps *w, uint64_t seq)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(&st, w, "DELETE FROM wraps WHERE seq = ?1");
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_error(w, "deleting a wrap");
    sqlite3_finalize(st);
    return rc;
}

int twin_wraps_erase(twin_wraps *w, const char *record, size_t *deleted)
{
    int rc = exec(w, "BEGIN IMMEDIATE", "starting an erasure");
    if (rc)
        return rc;
    size_t n = 0;
    if ((rc = change(w, "DELETE FROM wraps WHERE record = ?1", record, -1, &n,
                     "deleting an erased record's wraps")) == 0)
        rc = change(w, "INSERT OR IGNORE INTO erased(record) VALUES (?1)", record, -1, NULL,
                    "remembering an erased record");
    if (rc) {
        exec(w, "ROLLBACK", "undoing an erasure");
        return rc;
    }
    if ((rc = exec(w, "COMMIT", "committing an erasure")))
        return rc;
    /* The deleted wraps' pages were overwritten in the log; the log is written back into the
     * store and emptied, so no copy of them is left in either file. */
    int log = 0, done = 0;
    if (sqlite3_wal_checkpoint_v2(w->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log, &done) !=
        SQLITE_OK)
        return db_error(w, "emptying its log after an erasure");
    if (deleted)
        *deleted = n;
    return 0;
}

int twin_wraps_count_record(size_t *count, twin_wraps *w, const char *record)
{
    sqlite3_stmt *st = NULL;
    *count = 0;
    int rc = prepare(&st, w, "SELECT count(*) FROM wraps WHERE record = ?1");
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, record, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        *count = (size_t)sqlite3_column_int64(st, 0);
    else
        rc = db_error(w, "counting a record's wraps");
    sqlite3_finalize(st);
    return rc;
}

int twin_wraps_drop_recipients(twin_wraps *w, const unsigned char (*keys)[TWIN_PUBKEY_BYTES],
                               size_t n, size_t *deleted)
{
    /* One scan of the store for up to 100 keys: no index leads with the recipient. */
    enum { PER_SCAN = 100 };
    char sql[64 + PER_SCAN * 4];
    *deleted = 0;
    for (size_t from = 0; from < n; from += PER_SCAN) {
        size_t k = n - from < PER_SCAN ? n - from : PER_SCAN, o;
        o = (size_t)snprintf(sql, sizeof(sql), "DELETE FROM wraps WHERE recipient IN (?");
        for (size_t i = 1; i < k; i++)
            o += (size_t)snprintf(sql + o, sizeof(sql) - o, ",?");
        snprintf(sql + o, sizeof(sql) - o, ")");
        sqlite3_stmt *st = NULL;
        int rc = prepare(&st, w, sql);
        if (rc)
            return rc;
        for (size_t i = 0; i < k; i++)
            sqlite3_bind_blob(st, (int)i + 1, keys[from + i], TWIN_PUBKEY_BYTES, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = db_error(w, "deleting the wraps to keys");
        else
            *deleted += (size_t)sqlite3_changes(w->db);
        sqlite3_finalize(st);
        if (rc)
            return rc;
    }
    return 0;
}

int twin_wraps_peer_get(twin_wraps *w, const unsigned char node[TWIN_PUBKEY_BYTES],
                        unsigned char store[TWIN_WRAPS_STORE_BYTES], uint64_t *upto)
{
    sqlite3_stmt *st = NULL;
    memset(store, 0, TWIN_WRAPS_STORE_BYTES);
    *upto = 0;
    int rc = prepare(&st, w, "SELECT store, upto FROM peers WHERE node = ?1");
    if (rc)
        return rc;
    sqlite3_bind_blob(st, 1, node, TWIN_PUBKEY_BYTES, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW && column(store, st, 0, TWIN_WRAPS_STORE_BYTES) &&
        sqlite3_column_int64(st, 1) >= 0)
        *upto = (uint64_t)sqlite3_column_int64(st, 1);
    else if (step == SQLITE_ROW)
        memset(store, 0, TWIN_WRAPS_STORE_BYTES); /* damaged: start that peer again */
    else if (step != SQLITE_DONE)
        rc = db_error(w, "reading a peer's place");
    sqlite3_finalize(st);
    return rc;
}

int twin_wraps_peer_set(twin_wraps *w, const unsigned char node[TWIN_PUBKEY_BYTES],
                        const unsigned char store[TWIN_WRAPS_STORE_BYTES], uint64_t upto)
{
    sqlite3_stmt *st = NULL;
    if (upto > INT64_MAX)
        return twin_error(TWIN_EINVALID, "a peer's place %llu is out of range",
                          (unsigned long long)upto);
    int rc = prepare(&st, w, "INSERT OR REPLACE INTO peers(node, store, upto) VALUES (?1, ?2, ?3)");
    if (rc)
        return rc;
    sqlite3_bind_blob(st, 1, node, TWIN_PUBKEY_BYTES, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, store, TWIN_WRAPS_STORE_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)upto);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = db_error(w, "keeping a peer's place");
    sqlite3_finalize(st);
    return rc;
}
