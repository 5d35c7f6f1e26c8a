/* The wrap store (src/store/wraps.c, proto/SEALED.md 4): wraps kept once each with a counter that
 * never goes back, read back by version and recipient, by record and recipient, or in order from
 * a place, pages of at most
 * so many; an erasure deletes a record's wraps, leaves no byte of them in any file of the store,
 * and refuses them from then on; a key's wraps dropped; peers' places kept; a copy of one moment
 * of the store, holding nothing deleted, and a new id for it; a store of another version or that
 * is no store refused by name. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>

#include "store/wraps.h"
#include "twin/error.h"
#include "unit/helpers.h"

#define REC_A "0193a5c2-7d1e-7000-8000-00000000000a"
#define REC_B "0193a5c2-7d1e-7000-8000-00000000000b"

static struct twin_wrap make(const char *record, unsigned char blob, unsigned char to,
                             unsigned char box)
{
    struct twin_wrap w = {0};
    snprintf(w.record, sizeof(w.record), "%s", record);
    memset(w.blob, blob, sizeof(w.blob));
    memset(w.to, to, sizeof(w.to));
    randombytes_buf(w.box, sizeof(w.box));
    w.box[0] = box;
    return w;
}

static twin_wraps *open_store(struct fixture *f)
{
    twin_wraps *w = NULL;
    if (twin_wraps_open(&w, f->dir))
        fail_msg("open: %s", twin_error_last());
    return w;
}

static int collect(const struct twin_wrap *wrap, void *ctx)
{
    struct twin_wrap *list = ctx;
    size_t i = 0;
    while (list[i].seq)
        i++;
    list[i] = *wrap;
    return 0;
}

static void a_store_keeps_its_id_and_each_wrap_once(void **state)
{
    struct fixture *f = *state;
    twin_wraps *w = open_store(f);
    unsigned char id1[16], id2[16];
    twin_wraps_store_id(w, id1);
    struct twin_wrap a = make(REC_A, 1, 7, 1), b = make(REC_A, 1, 7, 2);
    b.signed_by = true;
    memset(b.by, 9, sizeof(b.by));
    memset(b.sig, 5, sizeof(b.sig));
    bool added;
    assert_int_equal(twin_wraps_add(w, &a, &added), 0);
    assert_true(added);
    assert_int_equal(twin_wraps_add(w, &b, &added), 0);
    assert_true(added);
    assert_true(b.seq > a.seq);
    struct twin_wrap again = a;
    assert_int_equal(twin_wraps_add(w, &again, &added), 0);
    assert_false(added);
    twin_wraps_free(w);

    w = open_store(f); /* the same store again */
    twin_wraps_store_id(w, id2);
    assert_memory_equal(id1, id2, sizeof(id1));
    struct twin_wrap got[4] = {0};
    assert_int_equal(twin_wraps_each_for(w, REC_A, a.blob, a.to, collect, got), 0);
    assert_int_equal(got[0].seq, a.seq);
    assert_memory_equal(got[0].box, a.box, sizeof(a.box));
    assert_false(got[0].signed_by);
    assert_string_equal(got[0].record, REC_A);
    assert_int_equal(got[1].seq, b.seq);
    assert_true(got[1].signed_by);
    assert_memory_equal(got[1].by, b.by, sizeof(b.by));
    assert_memory_equal(got[1].sig, b.sig, sizeof(b.sig));
    assert_int_equal(got[2].seq, 0);
    size_t later;
    assert_int_equal(twin_wraps_count_later(&later, w, REC_A, a.blob, a.to), 0);
    assert_int_equal(later, 1);
    twin_wraps_free(w);
}

static void wraps_are_read_in_order_from_a_place_in_pages(void **state)
{
    struct fixture *f = *state;
    twin_wraps *w = open_store(f);
    struct twin_wrap all[5];
    bool added, more;
    for (int i = 0; i < 5; i++) {
        all[i] = make(i < 3 ? REC_A : REC_B, (unsigned char)(10 + i), 7, (unsigned char)i);
        assert_int_equal(twin_wraps_add(w, &all[i], &added), 0);
    }
    struct twin_wrap page[6] = {0};
    uint64_t upto;
    struct twin_wraps_range r = {.since = 0, .until = UINT64_MAX, .max = 2};
    assert_int_equal(twin_wraps_since(w, &r, collect, page, &upto, &more), 0);
    assert_int_equal(page[0].seq, all[0].seq);
    assert_int_equal(page[1].seq, all[1].seq);
    assert_int_equal(page[2].seq, 0);
    assert_int_equal(upto, all[1].seq);
    assert_true(more);
    memset(page, 0, sizeof(page));
    r.since = upto, r.max = 10;
    assert_int_equal(twin_wraps_since(w, &r, collect, page, &upto, &more), 0);
    assert_int_equal(page[0].seq, all[2].seq);
    assert_int_equal(page[2].seq, all[4].seq);
    assert_int_equal(upto, all[4].seq);
    assert_false(more);
    memset(page, 0, sizeof(page));
    r.since = upto;
    assert_int_equal(twin_wraps_since(w, &r, collect, page, &upto, &more), 0);
    assert_int_equal(page[0].seq, 0);
    assert_int_equal(upto, all[4].seq); /* nothing after: the place stays */
    assert_false(more);
    /* Bounded above: the durable seq is the last kept, and nothing past until comes. */
    uint64_t durable = 0;
    assert_int_equal(twin_wraps_durable(w, &durable), 0);
    assert_int_equal(durable, all[4].seq);
    memset(page, 0, sizeof(page));
    r = (struct twin_wraps_range){.since = 0, .until = all[2].seq, .max = 10};
    assert_int_equal(twin_wraps_since(w, &r, collect, page, &upto, &more), 0);
    assert_int_equal(page[2].seq, all[2].seq);
    assert_int_equal(page[3].seq, 0);
    assert_int_equal(upto, all[2].seq);
    assert_false(more);

    /* A deleted wrap is gone, and the counter never goes back. */
    assert_int_equal(twin_wraps_delete(w, all[4].seq), 0);
    struct twin_wrap next = make(REC_B, 30, 7, 9);
    assert_int_equal(twin_wraps_add(w, &next, &added), 0);
    assert_true(next.seq > all[4].seq);
    twin_wraps_free(w);
}

/* Whether the bytes of needle are anywhere in the file at path (which may be missing). */
static bool file_holds(const char *path, const unsigned char *needle, size_t n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return false;
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *data = malloc(size > 0 ? (size_t)size : 1);
    assert_non_null(data);
    size_t got = fread(data, 1, (size_t)(size > 0 ? size : 0), fp);
    fclose(fp);
    bool found = false;
    for (size_t i = 0; !found && i + n <= got; i++)
        found = memcmp(data + i, needle, n) == 0;
    free(data);
    return found;
}

static bool store_holds(struct fixture *f, const unsigned char *needle, size_t n)
{
    char path[200];
    snprintf(path, sizeof(path), "%s/wraps.db", f->dir);
    bool found = file_holds(path, needle, n);
    snprintf(path, sizeof(path), "%s/wraps.db-wal", f->dir);
    return found || file_holds(path, needle, n);
}

static void an_erasure_leaves_no_byte_of_the_wraps_and_refuses_them_after(void **state)
{
    struct fixture *f = *state;
    twin_wraps *w = open_store(f);
    struct twin_wrap a1 = make(REC_A, 1, 7, 1), a2 = make(REC_A, 2, 8, 2), b = make(REC_B, 3, 7, 3);
    bool added, erased;
    assert_int_equal(twin_wraps_add(w, &a1, &added), 0);
    assert_int_equal(twin_wraps_add(w, &a2, &added), 0);
    assert_int_equal(twin_wraps_add(w, &b, &added), 0);
    /* Closed and opened again: the log is written back, so the wraps are in the store's file. */
    twin_wraps_free(w);
    w = open_store(f);
    char path[200];
    snprintf(path, sizeof(path), "%s/wraps.db", f->dir);
    assert_true(file_holds(path, a1.box, sizeof(a1.box)));
    assert_true(file_holds(path, a2.box, sizeof(a2.box)));
    size_t deleted = 0, count;
    assert_int_equal(twin_wraps_erase(w, REC_A, &deleted), 0);
    assert_int_equal(deleted, 2);
    assert_int_equal(twin_wraps_count_record(&count, w, REC_A), 0);
    assert_int_equal(count, 0);
    assert_int_equal(twin_wraps_count_record(&count, w, REC_B), 0);
    assert_int_equal(count, 1);
    assert_false(store_holds(f, a1.box, sizeof(a1.box)));
    assert_false(store_holds(f, a2.box, sizeof(a2.box)));
    assert_true(store_holds(f, b.box, sizeof(b.box)));
    assert_int_equal(twin_wraps_erased(&erased, w, REC_A), 0);
    assert_true(erased);
    assert_int_equal(twin_wraps_erased(&erased, w, REC_B), 0);
    assert_false(erased);
    struct twin_wrap late = make(REC_A, 1, 9, 4);
    assert_error(twin_wraps_add(w, &late, &added), TWIN_EDENIED, "was erased");
    assert_false(added);
    twin_wraps_free(w);
    w = open_store(f); /* remembered */
    assert_int_equal(twin_wraps_add(w, &late, &added), TWIN_EDENIED);
    twin_wraps_free(w);
}

/* The wraps to keys no longer active are dropped, however many keys: 150 of them here, in two
 * scans, the wraps to the last one among them; those to other keys stay. */
static void a_keys_wraps_are_dropped(void **state)
{
    struct fixture *f = *state;
    twin_wraps *w = open_store(f);
    struct twin_wrap a = make(REC_A, 1, 7, 1), b = make(REC_A, 1, 8, 2), c = make(REC_B, 2, 7, 3),
                     d = make(REC_B, 2, 149, 4);
    bool added;
    size_t deleted, count;
    assert_int_equal(twin_wraps_add(w, &a, &added), 0);
    assert_int_equal(twin_wraps_add(w, &b, &added), 0);
    assert_int_equal(twin_wraps_add(w, &c, &added), 0);
    assert_int_equal(twin_wraps_add(w, &d, &added), 0);
    unsigned char keys[150][TWIN_PUBKEY_BYTES];
    for (size_t i = 0; i < 150; i++)
        memset(keys[i], i == 8 ? 200 : (int)i, TWIN_PUBKEY_BYTES); /* key 8 stays active */
    assert_int_equal(twin_wraps_drop_recipients(w, keys, 150, &deleted), 0);
    assert_int_equal(deleted, 3);
    assert_int_equal(twin_wraps_count_record(&count, w, REC_A), 0);
    assert_int_equal(count, 1);
    assert_int_equal(twin_wraps_count_record(&count, w, REC_B), 0);
    assert_int_equal(count, 0);
    twin_wraps_free(w);
}

static void peers_places_are_kept(void **state)
{
    struct fixture *f = *state;
    twin_wraps *w = open_store(f);
    unsigned char node[32], store[16], got[16];
    uint64_t upto;
    memset(node, 3, sizeof(node));
    randombytes_buf(store, sizeof(store));
    assert_int_equal(twin_wraps_peer_get(w, node, got, &upto), 0);
    assert_int_equal(upto, 0);
    unsigned char zero[16] = {0};
    assert_memory_equal(got, zero, sizeof(zero));
    assert_int_equal(twin_wraps_peer_set(w, node, store, 42), 0);
    assert_int_equal(twin_wraps_peer_set(w, node, store, 43), 0);
    twin_wraps_free(w);
    w = open_store(f);
    assert_int_equal(twin_wraps_peer_get(w, node, got, &upto), 0);
    assert_int_equal(upto, 43);
    assert_memory_equal(got, store, sizeof(store));
    twin_wraps_free(w);
}

static void a_copy_holds_the_store_at_one_moment_and_nothing_deleted(void **state)
{
    struct fixture *f = *state;
    twin_wraps *w = open_store(f);
    struct twin_wrap a = make(REC_A, 1, 7, 1), b = make(REC_B, 2, 7, 2);
    bool added;
    unsigned char id[16], copied_id[16];
    size_t count;
    assert_int_equal(twin_wraps_add(w, &a, &added), 0);
    assert_int_equal(twin_wraps_add(w, &b, &added), 0);
    assert_int_equal(twin_wraps_erase(w, REC_A, NULL), 0);
    /* Copied while the store is open and its log not written back, into an empty file (as
     * mkstemp makes one); a file already holding something is refused. */
    char dir[200], path[260];
    snprintf(dir, sizeof(dir), "%s/copy", f->dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof(path), "%s/" TWIN_WRAPS_FILE, dir);
    write_text(path, "", 0, 0600);
    assert_int_equal(twin_wraps_copy(w, path), 0);
    twin_wraps_store_id(w, id);
    assert_error(twin_wraps_copy(w, path), TWIN_ERROR, "copying it");
    struct twin_wrap late = make(REC_B, 3, 7, 3); /* after the copy: not in it */
    assert_int_equal(twin_wraps_add(w, &late, &added), 0);
    twin_wraps_free(w);
    assert_false(file_holds(path, a.box, sizeof(a.box)));

    twin_wraps *c = NULL;
    assert_int_equal(twin_wraps_open(&c, dir), 0);
    twin_wraps_store_id(c, copied_id);
    assert_memory_equal(id, copied_id, sizeof(id));
    assert_int_equal(twin_wraps_count_record(&count, c, REC_B), 0);
    assert_int_equal(count, 1);
    bool erased = false;
    assert_int_equal(twin_wraps_erased(&erased, c, REC_A), 0);
    assert_true(erased);
    /* A new id for the copy, kept when it opens again; its wraps stay. */
    assert_int_equal(twin_wraps_new_id(c), 0);
    twin_wraps_store_id(c, copied_id);
    assert_memory_not_equal(id, copied_id, sizeof(id));
    twin_wraps_free(c);
    assert_int_equal(twin_wraps_open(&c, dir), 0);
    unsigned char again[16];
    twin_wraps_store_id(c, again);
    assert_memory_equal(again, copied_id, sizeof(again));
    assert_int_equal(twin_wraps_count_record(&count, c, REC_B), 0);
    assert_int_equal(count, 1);
    twin_wraps_free(c);
}

static void what_is_no_store_is_refused_by_name(void **state)
{
    struct fixture *f = *state;
    char path[200];
    twin_wraps *w = NULL;
    snprintf(path, sizeof(path), "%s/wraps.db", f->dir);
    write_text(path, "this is no database, not even close to one ..........", 53, 0600);
    assert_error(twin_wraps_open(&w, f->dir), TWIN_ERROR, "wraps.db");
    assert_null(w);
    remove(path);
    w = open_store(f);
    twin_wraps_free(w);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "UPDATE meta SET value = x'04' WHERE key = 'version'", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    assert_error(twin_wraps_open(&w, f->dir), TWIN_EINVALID, "is of version 4, not 3");
    assert_null(w);
}

static int collect_one(const struct twin_wrap *wrap, void *ctx)
{
    *(struct twin_wrap *)ctx = *wrap;
    return 1;
}

/* A node's own wraps are kept all together or, when one cannot be, none of them. */
static void own_wraps_are_kept_all_or_none(void **state)
{
    struct fixture *f = *state;
    twin_wraps *w = open_store(f);
    struct twin_wrap two[2] = {make(REC_A, 1, 7, 1), make(REC_A, 1, 8, 2)};
    assert_int_equal(twin_wraps_add_own(w, two, 2), 0);
    assert_true(two[0].seq > 0 && two[1].seq > two[0].seq);
    assert_int_equal(twin_wraps_erase(w, REC_B, NULL), 0);
    struct twin_wrap mixed[2] = {make(REC_A, 2, 7, 3), make(REC_B, 3, 7, 4)};
    assert_error(twin_wraps_add_own(w, mixed, 2), TWIN_EDENIED, "was erased");
    size_t count = 9;
    assert_int_equal(twin_wraps_count_record(&count, w, REC_A), 0);
    assert_int_equal(count, 2); /* the first of the failed pair was not kept either */
    twin_wraps_free(w);
}

/* A store as twin wrote it at version 1 (no origin_store) or 2 (the unique key led by the blob,
 * with indexes on the record and the recipient): three wraps, the last deleted, so the counter
 * is above the last seq kept, or all of them deleted when emptied. */
static void write_old_store(struct fixture *f, int version, bool emptied)
{
    char path[200];
    sqlite3 *db = NULL;
    snprintf(path, sizeof(path), "%s/wraps.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char ddl[1500];
    snprintf(ddl, sizeof(ddl),
             "CREATE TABLE meta(key TEXT PRIMARY KEY, value BLOB NOT NULL);"
             "CREATE TABLE wraps(seq INTEGER PRIMARY KEY AUTOINCREMENT, record TEXT NOT NULL,"
             " blob BLOB NOT NULL, recipient BLOB NOT NULL, box BLOB NOT NULL, maker BLOB,"
             " sig BLOB, origin BLOB,%s UNIQUE(blob, recipient, box));"
             "CREATE INDEX wraps_record ON wraps(record);"
             "CREATE INDEX wraps_recipient ON wraps(recipient);"
             "CREATE TABLE erased(record TEXT PRIMARY KEY);"
             "CREATE TABLE peers(node BLOB PRIMARY KEY, store BLOB NOT NULL,"
             " upto INTEGER NOT NULL);"
             "INSERT INTO meta VALUES ('store', x'00112233445566778899aabbccddeeff'),"
             " ('version', x'0%d');",
             version == 2 ? " origin_store BLOB," : "", version);
    assert_int_equal(sqlite3_exec(db, ddl, NULL, NULL, NULL), SQLITE_OK);
    for (int i = 1; i <= 3; i++) {
        struct twin_wrap w = make(REC_A, 1, (unsigned char)(6 + i), (unsigned char)i);
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_prepare_v2(db,
                                            "INSERT INTO wraps(record, blob, recipient, box,"
                                            " origin) VALUES (?1, ?2, ?3, ?4, ?5)",
                                            -1, &st, NULL),
                         SQLITE_OK);
        sqlite3_bind_text(st, 1, w.record, -1, SQLITE_TRANSIENT);
        sqlite3_bind_blob(st, 2, w.blob, sizeof(w.blob), SQLITE_TRANSIENT);
        sqlite3_bind_blob(st, 3, w.to, sizeof(w.to), SQLITE_TRANSIENT);
        sqlite3_bind_blob(st, 4, w.box, sizeof(w.box), SQLITE_TRANSIENT);
        memset(w.origin, 0x21, sizeof(w.origin));
        sqlite3_bind_blob(st, 5, w.origin, sizeof(w.origin), SQLITE_TRANSIENT);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_finalize(st);
    }
    assert_int_equal(sqlite3_exec(db,
                                  emptied ? "DELETE FROM wraps" : "DELETE FROM wraps WHERE seq = 3",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
}

/* What sqlite reports of the store's file: the version in meta, and the indexes on wraps. */
static void assert_store_file(struct fixture *f, int version, int indexes)
{
    char path[200];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    snprintf(path, sizeof(path), "%s/wraps.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'version'", -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(((const unsigned char *)sqlite3_column_blob(st, 0))[0], version);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
                                        " AND tbl_name = 'wraps'",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), indexes);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* Stores of versions 1 and 2 open as version 3: each wrap kept with its seq and where it came
 * from (no store id before version 2), the one index of version 3 in place of three, and the
 * counter where it was, so the seq of a deleted wrap is not given again, even when no wrap is
 * left. */
static void stores_of_versions_1_and_2_are_brought_to_version_3(void **state)
{
    struct fixture *f = *state;
    char path[200];
    snprintf(path, sizeof(path), "%s/wraps.db", f->dir);
    for (int round = 0; round < 3; round++) { /* versions 1 and 2, and 2 with no wrap left */
        remove(path);
        write_old_store(f, round == 0 ? 1 : 2, round == 2);
        twin_wraps *w = open_store(f);
        unsigned char id[16];
        twin_wraps_store_id(w, id);
        assert_int_equal(id[15], 0xff); /* its id kept */
        struct twin_wrap got[4] = {0}, one = {0};
        struct twin_wraps_range all = {.until = UINT64_MAX, .max = 10};
        uint64_t upto;
        bool more;
        assert_int_equal(twin_wraps_since(w, &all, collect, got, &upto, &more), 0);
        if (round < 2) {
            assert_int_equal(got[0].seq, 1);
            assert_int_equal(got[1].seq, 2);
            assert_int_equal(got[2].seq, 0);
            assert_true(got[0].from_peer && got[1].from_peer);
            assert_false(got[0].has_origin_store);
            assert_int_equal(
                twin_wraps_each_for(w, REC_A, got[1].blob, got[1].to, collect_one, &one), 1);
            assert_memory_equal(one.box, got[1].box, sizeof(one.box));
        } else {
            assert_int_equal(got[0].seq, 0);
        }
        struct twin_wrap next = make(REC_B, 2, 7, 9);
        bool added;
        assert_int_equal(twin_wraps_add(w, &next, &added), 0);
        assert_true(added);
        assert_int_equal(next.seq, 4);
        twin_wraps_free(w);
        assert_store_file(f, 3, 1);
    }
}

/* Where each wrap came from is kept: the peer and the store of the answer, a peer's store made
 * again, none (a wrap of before store ids), or nowhere (made here). */
static void where_each_wrap_came_from_is_kept(void **state)
{
    struct fixture *f = *state;
    twin_wraps *w = open_store(f);
    struct twin_wrap in[5];
    for (int i = 0; i < 5; i++) {
        in[i] = make(REC_A, 1, (unsigned char)(10 + i), (unsigned char)i);
        in[i].from_peer = i < 4;
        memset(in[i].origin, i < 2 ? 0x21 : 0x22, sizeof(in[i].origin));
        in[i].has_origin_store = i != 3;
        memset(in[i].origin_store, i == 1 ? 0x32 : 0x31, sizeof(in[i].origin_store));
    }
    in[3].origin[0] = 0x21; /* peer 0x21.. again with another key byte: a peer of its own */
    bool added;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(twin_wraps_add(w, &in[i], &added), 0);
        assert_true(added);
    }
    twin_wraps_free(w);
    w = open_store(f);
    struct twin_wrap got[6] = {0};
    struct twin_wraps_range all = {.until = UINT64_MAX, .max = 10};
    uint64_t upto;
    bool more;
    assert_int_equal(twin_wraps_since(w, &all, collect, got, &upto, &more), 0);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(got[i].seq, in[i].seq);
        assert_int_equal(got[i].from_peer, in[i].from_peer);
        if (in[i].from_peer)
            assert_memory_equal(got[i].origin, in[i].origin, sizeof(in[i].origin));
        assert_int_equal(got[i].has_origin_store, in[i].from_peer && in[i].has_origin_store);
        if (got[i].has_origin_store)
            assert_memory_equal(got[i].origin_store, in[i].origin_store,
                                sizeof(in[i].origin_store));
    }
    twin_wraps_free(w);
}

/* A record's wraps to one key, of every version: what opens a merged envelope, whose blob no
 * wrap names. */
static void a_records_wraps_to_a_key_are_read_across_its_versions(void **state)
{
    struct fixture *f = *state;
    twin_wraps *w = open_store(f);
    struct twin_wrap mine1 = make(REC_A, 1, 7, 1), mine2 = make(REC_A, 2, 7, 2),
                     theirs = make(REC_A, 2, 8, 3), other = make(REC_B, 3, 7, 4);
    bool added;
    assert_int_equal(twin_wraps_add(w, &mine1, &added), 0);
    assert_int_equal(twin_wraps_add(w, &theirs, &added), 0);
    assert_int_equal(twin_wraps_add(w, &other, &added), 0);
    assert_int_equal(twin_wraps_add(w, &mine2, &added), 0);
    struct twin_wrap got[5] = {0};
    assert_int_equal(twin_wraps_each_of_record(w, REC_A, mine1.to, collect, got), 0);
    assert_int_equal(got[0].seq, mine1.seq);
    assert_int_equal(got[1].seq, mine2.seq);
    assert_memory_equal(got[1].blob, mine2.blob, sizeof(mine2.blob));
    assert_int_equal(got[2].seq, 0);
    memset(got, 0, sizeof(got));
    assert_int_equal(twin_wraps_each_of_record(w, "0193a5c2-7d1e-7000-8000-00000000000c", mine1.to,
                                               collect, got),
                     0);
    assert_int_equal(got[0].seq, 0);
    twin_wraps_free(w);
}

#define T(t) cmocka_unit_test_setup_teardown(t, fixture_setup, fixture_teardown)

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        T(a_store_keeps_its_id_and_each_wrap_once),
        T(wraps_are_read_in_order_from_a_place_in_pages),
        T(a_records_wraps_to_a_key_are_read_across_its_versions),
        T(where_each_wrap_came_from_is_kept),
        T(an_erasure_leaves_no_byte_of_the_wraps_and_refuses_them_after),
        T(a_keys_wraps_are_dropped),
        T(peers_places_are_kept),
        T(a_copy_holds_the_store_at_one_moment_and_nothing_deleted),
        T(what_is_no_store_is_refused_by_name),
        T(stores_of_versions_1_and_2_are_brought_to_version_3),
        T(own_wraps_are_kept_all_or_none),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
