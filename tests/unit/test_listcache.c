/* The list cache: built on the first open, brought up to each new head by the records that
 * changed, rebuilt when its head is not an ancestor of the new one, when its file is damaged or
 * another network's, answered from memory where its file cannot be written, and never holding
 * the content of a sealed record. Every answer equals the one of a cache built afresh. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "twin/audit.h"
#include "twin/error.h"
#include "twin/global.h"
#include "twin/listcache.h"
#include "twin/merge.h"
#include "twin/network.h"
#include "twin/node.h"
#include "twin/ops.h"
#include "twin/record.h"
#include "twin/store.h"
#include "unit/helpers.h"

static const struct twin_identity admin_who = {"Ministry of Finance of Exampleland",
                                               "XE-EXAMPLE-MOF", "NL", "north", "10"};

struct env {
    struct fixture *f;
    twin_node *node;
    char cache[256];
};

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    char path[192];
    if (!e || fixture_setup((void **)&e->f))
        return -1;
    snprintf(path, sizeof(path), "%s/node", e->f->dir);
    if (twin_network_create(&e->node, path, &admin_who, "Example Tax Twinning"))
        return -1;
    snprintf(e->cache, sizeof(e->cache), "%s/%s", path, TWIN_LISTCACHE_FILE);
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

static int set_title(json_t *rec, void *ctx)
{
    int rc = twin_record_set_path(rec, "title", ctx);
    return rc ? rc : twin_record_set_path(rec, "kind", "note");
}

static git_oid add_note(twin_node *n, char id[static TWIN_ID_LEN + 1], const char *title)
{
    git_oid commit;
    if (twin_ops_add(id, &commit, n, "note", set_title, (void *)title))
        fail_msg("add: %s", twin_error_last());
    return commit;
}

static int64_t commit_time(twin_node *n, const git_oid *id)
{
    git_commit *c = NULL;
    assert_int_equal(git_commit_lookup(&c, twin_node_repo(n), id), 0);
    int64_t t = (int64_t)git_commit_time(c);
    git_commit_free(c);
    return t;
}

/* Every record the cache gives, one line each, with dates and text. */
struct listing {
    char text[65536];
    size_t len, rows;
};

static int note_row(const struct twin_listcache_row *row, void *ctx)
{
    struct listing *l = ctx;
    int n = snprintf(l->text + l->len, sizeof(l->text) - l->len, "%s %s %s %d%d%d %lld %lld %s\n",
                     row->id, row->type, row->title ? row->title : "-", row->sealed, row->erased,
                     row->withdrawn, (long long)row->created, (long long)row->changed,
                     row->text ? row->text : "-");
    assert_true(n > 0 && (size_t)n < sizeof(l->text) - l->len);
    l->len += (size_t)n;
    l->rows++;
    return 0;
}

static void list_all(struct listing *l, twin_listcache *c, bool dates)
{
    memset(l, 0, sizeof(*l));
    struct twin_listcache_query q = {.all = true, .text = true, .dates = dates};
    if (twin_listcache_each(c, &q, note_row, l))
        fail_msg("each: %s", twin_error_last());
}

/* What a cache opened now lists. */
static void list_now(struct listing *l, twin_node *n, bool dates)
{
    twin_listcache *c = NULL;
    if (twin_listcache_open(&c, n, TWIN_LISTCACHE_COMMITS | (dates ? TWIN_LISTCACHE_DATES : 0)))
        fail_msg("open: %s", twin_error_last());
    list_all(l, c, dates);
    twin_listcache_free(c);
}

/* The cache's answer equals that of one built afresh, and counts every commit. */
static void assert_same_as_fresh(struct env *e, bool dates)
{
    struct listing *kept = malloc(sizeof(*kept)), *fresh = malloc(sizeof(*fresh));
    twin_listcache *c = NULL;
    git_oid head;
    size_t commits = 0;
    assert_non_null(kept);
    assert_non_null(fresh);
    list_now(kept, e->node, dates);
    assert_int_equal(twin_listcache_open(&c, e->node, TWIN_LISTCACHE_COMMITS), 0);
    assert_int_equal(twin_node_head(&head, e->node), 0);
    assert_true(git_oid_equal(twin_listcache_head(c), &head));
    assert_int_equal(twin_audit_log_count(&commits, e->node, &head), 0);
    assert_int_equal(twin_listcache_commits(c), commits);
    twin_listcache_free(c);
    assert_int_equal(run("rm -f '%s' '%s-wal' '%s-shm'", e->cache, e->cache, e->cache), 0);
    list_now(fresh, e->node, dates);
    assert_string_equal(kept->text, fresh->text);
    free(kept);
    free(fresh);
}

static void builds_on_first_open_and_lists_in_order_of_id(void **state)
{
    struct env *e = *state;
    char ids[3][TWIN_ID_LEN + 1];
    struct stat st;
    add_note(e->node, ids[0], "Kick-off");
    add_note(e->node, ids[1], "Peer review");
    add_note(e->node, ids[2], "Study visit");
    assert_int_not_equal(stat(e->cache, &st), 0);
    twin_listcache *c = NULL;
    assert_int_equal(twin_listcache_open(&c, e->node, TWIN_LISTCACHE_COMMITS), 0);
    assert_true(twin_listcache_on_disk(c));
    assert_int_equal(stat(e->cache, &st), 0);
    struct listing *l = malloc(sizeof(*l));
    assert_non_null(l);
    list_all(l, c, false);
    assert_int_equal(l->rows, 3);
    char want[256];
    snprintf(want, sizeof(want), "%s note Kick-off 000 0 0", ids[0]);
    assert_memory_equal(l->text, want, strlen(want));
    assert_true(strstr(l->text, ids[0]) < strstr(l->text, ids[1]));
    assert_true(strstr(l->text, ids[1]) < strstr(l->text, ids[2]));
    size_t per_type[64], withdrawn = 9;
    assert_int_equal(twin_listcache_count(per_type, &withdrawn, c), 0);
    for (size_t i = 0; twin_record_types()[i]; i++)
        assert_int_equal(per_type[i], strcmp(twin_record_types()[i], "note") == 0 ? 3 : 0);
    assert_int_equal(withdrawn, 0);
    twin_listcache_free(c);
    free(l);
}

static void follows_adds_changes_and_withdrawals(void **state)
{
    struct env *e = *state;
    char a[TWIN_ID_LEN + 1], b[TWIN_ID_LEN + 1];
    git_oid commit;
    add_note(e->node, a, "Kick-off");
    assert_same_as_fresh(e, true); /* now dated, and kept up from here */
    twin_listcache *c = NULL;
    assert_int_equal(
        twin_listcache_open(&c, e->node, TWIN_LISTCACHE_COMMITS | TWIN_LISTCACHE_DATES), 0);
    size_t before = twin_listcache_commits(c);
    twin_listcache_free(c);

    git_oid added = add_note(e->node, b, "Peer review");
    assert_int_equal(twin_ops_update(&commit, e->node, a, "set", set_title, "Kick-off, moved"), 0);
    assert_int_equal(twin_ops_withdraw(&commit, e->node, b), 0);
    struct listing *l = malloc(sizeof(*l));
    assert_non_null(l);
    assert_int_equal(
        twin_listcache_open(&c, e->node, TWIN_LISTCACHE_COMMITS | TWIN_LISTCACHE_DATES), 0);
    assert_int_equal(twin_listcache_commits(c), before + 3);
    list_all(l, c, true);
    struct twin_listcache_query live = {.all = false};
    size_t rows = 0;
    struct listing *w = malloc(sizeof(*w));
    assert_non_null(w);
    memset(w, 0, sizeof(*w));
    assert_int_equal(twin_listcache_each(c, &live, note_row, w), 0);
    rows = w->rows;
    size_t per_type[64], withdrawn = 0;
    assert_int_equal(twin_listcache_count(per_type, &withdrawn, c), 0);
    twin_listcache_free(c);
    assert_int_equal(l->rows, 2);
    assert_int_equal(rows, 1); /* the withdrawn one only with all */
    assert_int_equal(withdrawn, 1);
    assert_non_null(strstr(l->text, "Kick-off, moved"));
    char want[256];
    snprintf(want, sizeof(want), "%s note Peer review 001 %lld %lld", b,
             (long long)commit_time(e->node, &added), (long long)commit_time(e->node, &commit));
    assert_non_null(strstr(l->text, want));
    assert_same_as_fresh(e, true);
    free(l);
    free(w);
}

/* A merge dates only what differs from both its parents: a record each line wrote keeps the date
 * of its own commit, kept up and built afresh alike. */
static void a_merge_dates_only_what_it_changed(void **state)
{
    struct env *e = *state;
    git_repository *repo = twin_node_repo(e->node);
    char x[TWIN_ID_LEN + 1], a[TWIN_ID_LEN + 1], b[TWIN_ID_LEN + 1], want[256];
    git_oid base, on_a, on_b, merge;
    struct twin_merge_result r;
    setenv("TWIN_TEST_CLOCK_SKEW", "-900", 1);
    base = add_note(e->node, x, "Kick-off");
    assert_same_as_fresh(e, true); /* dated from here: the rest is kept up */
    setenv("TWIN_TEST_CLOCK_SKEW", "-600", 1);
    on_a = add_note(e->node, a, "Line A");
    assert_int_equal(twin_store_advance(repo, &on_a, &base, "test: second line"), 0);
    setenv("TWIN_TEST_CLOCK_SKEW", "-300", 1);
    on_b = add_note(e->node, b, "Line B");
    unsetenv("TWIN_TEST_CLOCK_SKEW");
    assert_int_equal(twin_merge_commit(&merge, &r, e->node, NULL, &on_b, &on_a), 0);
    assert_int_equal(twin_store_advance(repo, &on_b, &merge, "test: merge"), 0);
    assert_true(commit_time(e->node, &merge) > commit_time(e->node, &on_b));
    struct listing *l = calloc(1, sizeof(*l));
    assert_non_null(l);
    list_now(l, e->node, true);
    assert_int_equal(l->rows, 3);
    const char *ids[] = {x, a, b}, *titles[] = {"Kick-off", "Line A", "Line B"};
    const git_oid *commits[] = {&base, &on_a, &on_b};
    for (int i = 0; i < 3; i++) {
        long long t = (long long)commit_time(e->node, commits[i]);
        snprintf(want, sizeof(want), "%s note %s 000 %lld %lld", ids[i], titles[i], t, t);
        assert_non_null(strstr(l->text, want));
    }
    free(l);
    assert_same_as_fresh(e, true);
}

static void rebuilds_when_its_head_is_not_an_ancestor(void **state)
{
    struct env *e = *state;
    char a[TWIN_ID_LEN + 1], b[TWIN_ID_LEN + 1], c2[TWIN_ID_LEN + 1];
    git_oid base, later;
    add_note(e->node, a, "Kick-off");
    assert_int_equal(twin_node_head(&base, e->node), 0);
    add_note(e->node, b, "Abandoned");
    struct listing *l = malloc(sizeof(*l));
    assert_non_null(l);
    list_now(l, e->node, true);
    assert_non_null(strstr(l->text, "Abandoned"));
    /* The branch goes back, as a restore from a backup takes it, and on another way. */
    assert_int_equal(twin_node_head(&later, e->node), 0);
    assert_int_equal(twin_store_advance(twin_node_repo(e->node), &later, &base, "test: back"), 0);
    add_note(e->node, c2, "Taken instead");
    list_now(l, e->node, true);
    assert_null(strstr(l->text, "Abandoned"));
    assert_non_null(strstr(l->text, "Taken instead"));
    assert_same_as_fresh(e, true);
    free(l);
}

static void a_damaged_cache_file_is_made_again(void **state)
{
    struct env *e = *state;
    char id[TWIN_ID_LEN + 1];
    add_note(e->node, id, "Kick-off");
    struct listing *l = malloc(sizeof(*l)), *again = malloc(sizeof(*again));
    assert_non_null(l);
    assert_non_null(again);
    list_now(l, e->node, false);
    assert_int_equal(run("rm -f '%s-wal' '%s-shm' && head -c 8192 /dev/urandom > '%s'", e->cache,
                         e->cache, e->cache),
                     0);
    list_now(again, e->node, false);
    assert_string_equal(l->text, again->text);
    assert_int_equal(l->rows, 1);
    free(l);
    free(again);
}

static void another_networks_cache_is_not_taken(void **state)
{
    struct env *e = *state;
    char id[TWIN_ID_LEN + 1], other_id[TWIN_ID_LEN + 1], path[256];
    twin_node *other = NULL;
    add_note(e->node, id, "Ours");
    snprintf(path, sizeof(path), "%s/other", e->f->dir);
    assert_int_equal(twin_network_create(&other, path, &admin_who, "Another Partnership"), 0);
    add_note(other, other_id, "Theirs");
    struct listing *l = malloc(sizeof(*l));
    assert_non_null(l);
    list_now(l, other, false);
    assert_int_equal(run("cp '%s/%s' '%s'", path, TWIN_LISTCACHE_FILE, e->cache), 0);
    list_now(l, e->node, false);
    assert_non_null(strstr(l->text, "Ours"));
    assert_null(strstr(l->text, "Theirs"));
    twin_node_free(other);
    free(l);
}

static void a_directory_that_cannot_hold_it_gets_an_answer_from_memory(void **state)
{
    struct env *e = *state;
    char id[TWIN_ID_LEN + 1];
    add_note(e->node, id, "Kick-off");
    /* Where the cache's file should be, something no database can be made in. */
    assert_int_equal(mkdir(e->cache, 0700), 0);
    twin_listcache *c = NULL;
    assert_int_equal(
        twin_listcache_open(&c, e->node, TWIN_LISTCACHE_COMMITS | TWIN_LISTCACHE_DATES), 0);
    assert_false(twin_listcache_on_disk(c));
    struct listing *l = malloc(sizeof(*l));
    assert_non_null(l);
    list_all(l, c, true);
    twin_listcache_free(c);
    assert_int_equal(l->rows, 1);
    assert_non_null(strstr(l->text, "Kick-off"));
    free(l);
}

static void holds_no_content_of_a_sealed_record(void **state)
{
    struct env *e = *state;
    char id[TWIN_ID_LEN + 1];
    const char *own[] = {admin_who.org_id};
    const struct twin_audience audience = {own, 1};
    git_oid commit;
    assert_int_equal(twin_ops_add_sealed(id, &commit, e->node, "note", &audience, set_title,
                                         "Confidential staffing plan"),
                     0);
    struct listing *l = malloc(sizeof(*l));
    assert_non_null(l);
    list_now(l, e->node, true);
    char want[256];
    snprintf(want, sizeof(want), "%s note - 100 ", id);
    assert_memory_equal(l->text, want, strlen(want));
    assert_null(strstr(l->text, "Confidential"));
    /* Nor in any file of the cache. */
    assert_int_equal(run("! grep -a -r Confidential '%s'*", e->cache), 0);
    free(l);
}

/* Sets the fields of a JSON object text on the record. */
static int set_fields(json_t *rec, void *ctx)
{
    json_t *fields = json_loads(ctx, 0, NULL);
    int rc = fields && json_object_update(rec, fields) == 0 ? 0 : TWIN_ERROR;
    json_decref(fields);
    return rc;
}

struct refs_seen {
    char id[TWIN_ID_LEN + 1];
    char text[512];
};

/* The references of the record refs->id, as "field target type name;" (type and name "-" when
 * unknown). */
static int note_refs(const struct twin_listcache_row *row, void *ctx)
{
    struct refs_seen *r = ctx;
    if (strcmp(row->id, r->id) != 0)
        return 0;
    size_t len = 0;
    for (size_t i = 0; i < row->nrefs; i++) {
        const struct twin_listcache_ref *f = &row->refs[i];
        len += (size_t)snprintf(r->text + len, sizeof(r->text) - len, "%s %s %s %s;", f->field,
                                f->target, f->type ? f->type : "-", f->name ? f->name : "-");
        assert_true(len < sizeof(r->text));
    }
    return 0;
}

static const char *refs_of(struct refs_seen *r, twin_node *n, const char *id)
{
    twin_listcache *c = NULL;
    struct twin_listcache_query q = {.all = true, .refs = true};
    snprintf(r->id, sizeof(r->id), "%s", id);
    r->text[0] = '\0';
    assert_int_equal(twin_listcache_open(&c, n, 0), 0);
    assert_int_equal(twin_listcache_each(c, &q, note_refs, r), 0);
    twin_listcache_free(c);
    return r->text;
}

/* A record's top-level references come with the type and title of the records they name at the
 * head: none for a sealed one (its title is not kept), nor for an id the head does not hold. */
static void gives_the_names_a_record_refers_to(void **state)
{
    struct env *e = *state;
    char inst[TWIN_ID_LEN + 1], part[TWIN_ID_LEN + 1], sealed[TWIN_ID_LEN + 1];
    char post[TWIN_ID_LEN + 1], act[TWIN_ID_LEN + 1], json[512], want[512];
    const char *own[] = {admin_who.org_id};
    const struct twin_audience audience = {own, 1};
    struct refs_seen r;
    git_oid commit;
    assert_int_equal(twin_ops_add(inst, &commit, e->node, "institution", set_fields,
                                  "{\"name\": \"Example Revenue Authority\", \"side\": "
                                  "\"south\", \"country\": \"TZ\"}"),
                     0);
    assert_int_equal(twin_ops_add(part, &commit, e->node, "partnership", set_fields,
                                  "{\"title\": \"Tax twinning\", \"partnership_type\": "
                                  "\"twinning\"}"),
                     0);
    assert_int_equal(twin_ops_add_sealed(sealed, &commit, e->node, "partnership", &audience,
                                         set_fields,
                                         "{\"title\": \"Restructuring\", \"partnership_type\": "
                                         "\"twinning\"}"),
                     0);
    snprintf(json, sizeof(json),
             "{\"title\": \"Adviser\", \"institution\": \"%s\", \"partnership\": \"%s\"}", inst,
             part);
    assert_int_equal(twin_ops_add(post, &commit, e->node, "post", set_fields, json), 0);
    snprintf(json, sizeof(json),
             "{\"title\": \"Review\", \"kind\": \"review\", \"partnership\": \"%s\"}", sealed);
    assert_int_equal(twin_ops_add(act, &commit, e->node, "activity", set_fields, json), 0);

    snprintf(want, sizeof(want),
             "institution %s institution Example Revenue Authority;partnership %s partnership "
             "Tax twinning;",
             inst, part);
    assert_string_equal(refs_of(&r, e->node, post), want);
    snprintf(want, sizeof(want), "partnership %s partnership -;", sealed);
    assert_string_equal(refs_of(&r, e->node, act), want);
    assert_string_equal(refs_of(&r, e->node, part), "");
    assert_string_equal(refs_of(&r, e->node, sealed), ""); /* its fields are not kept */

    /* A new title shows at once; a reference moved to another record follows it. */
    assert_int_equal(twin_ops_update(&commit, e->node, part, "set", set_fields,
                                     "{\"title\": \"Tax twinning II\"}"),
                     0);
    snprintf(json, sizeof(json), "{\"partnership\": \"%s\"}", part);
    assert_int_equal(twin_ops_update(&commit, e->node, act, "set", set_fields, json), 0);
    snprintf(want, sizeof(want), "partnership %s partnership Tax twinning II;", part);
    assert_string_equal(refs_of(&r, e->node, act), want);
    assert_same_as_fresh(e, false);
}

struct found {
    char text[1024];
    size_t len;
};

static int note_found(const struct twin_listcache_row *row, const char *shown, double rank,
                      void *ctx)
{
    struct found *f = ctx;
    int n = snprintf(f->text + f->len, sizeof(f->text) - f->len, "%s %s %d%d <%s>\n", row->type,
                     row->title ? row->title : "-", row->sealed, row->withdrawn, shown);
    assert_true(n > 0 && (size_t)n < sizeof(f->text) - f->len);
    assert_true(rank < 0); /* bm25: the better, the lower */
    f->len += (size_t)n;
    return 0;
}

static const char *search_for(struct found *f, twin_node *n, const char *match,
                              const struct twin_listcache_doc *opened, size_t nopened)
{
    twin_listcache *c = NULL;
    memset(f, 0, sizeof(*f));
    assert_int_equal(twin_listcache_open(&c, n, 0), 0);
    struct twin_listcache_search q = {
        .match = match, .mark_open = "[", .mark_close = "]", .opened = opened, .nopened = nopened};
    int rc = twin_listcache_search(c, &q, note_found, f);
    twin_listcache_free(c);
    return rc ? NULL : f->text;
}

/* Clear records are found by the words of their title and text, the title's first; a sealed
 * record only when opened for the search, and its words never reach the cache's file. */
static void finds_records_by_their_words(void **state)
{
    struct env *e = *state;
    char a[TWIN_ID_LEN + 1], b[TWIN_ID_LEN + 1], s[TWIN_ID_LEN + 1];
    const char *own[] = {admin_who.org_id};
    const struct twin_audience audience = {own, 1};
    struct found f;
    git_oid commit;
    assert_int_equal(twin_ops_add(a, &commit, e->node, "note", set_fields,
                                  "{\"title\": \"Budget review\", \"kind\": \"note\", \"body\": "
                                  "\"Line items for the customs reform\"}"),
                     0);
    assert_int_equal(twin_ops_add(b, &commit, e->node, "note", set_fields,
                                  "{\"title\": \"Customs visit\", \"kind\": \"note\"}"),
                     0);
    assert_int_equal(twin_ops_add_sealed(s, &commit, e->node, "note", &audience, set_fields,
                                         "{\"title\": \"Staffing\", \"kind\": \"note\", "
                                         "\"body\": \"Customs secondment\"}"),
                     0);
    assert_string_equal(search_for(&f, e->node, "customs", NULL, 0),
                        "note Customs visit 00 <[Customs] visit>\n"
                        "note Budget review 00 <Line items for the [customs] reform\n>\n");
    assert_string_equal(search_for(&f, e->node, "secondment", NULL, 0), "");
    const struct twin_listcache_doc opened = {s, "note", "Staffing", "Customs secondment\n", false};
    assert_string_equal(search_for(&f, e->node, "secondment", &opened, 1),
                        "note Staffing 10 <Customs [secondment]\n>\n");
    assert_int_equal(run("! grep -a -r secondment '%s'*", e->cache), 0);
    /* The opened record is forgotten after the search. */
    assert_string_equal(search_for(&f, e->node, "secondment", NULL, 0), "");
    /* A query FTS5 cannot read is the searcher's error, named. */
    assert_null(search_for(&f, e->node, "\"unclosed", NULL, 0));
    assert_non_null(strstr(twin_error_last(), "cannot search for '\"unclosed'"));
}

static void a_node_without_history_has_no_cache(void **state)
{
    struct env *e = *state;
    twin_node *joined = NULL;
    char path[256];
    snprintf(path, sizeof(path), "%s/joined", e->f->dir);
    assert_int_equal(
        twin_node_init(&joined, path, &admin_who, NULL, NULL, twin_node_network_id(e->node)), 0);
    twin_listcache *c = NULL;
    assert_int_equal(twin_listcache_open(&c, joined, 0), TWIN_ENOHISTORY);
    assert_null(c);
    twin_node_free(joined);
}

static int setup_global(void **state)
{
    (void)state;
    return twin_global_init(false) == 0 ? 0 : -1;
}

#define TEST(t) cmocka_unit_test_setup_teardown(t, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(builds_on_first_open_and_lists_in_order_of_id),
        TEST(follows_adds_changes_and_withdrawals),
        TEST(a_merge_dates_only_what_it_changed),
        TEST(gives_the_names_a_record_refers_to),
        TEST(finds_records_by_their_words),
        TEST(rebuilds_when_its_head_is_not_an_ancestor),
        TEST(a_damaged_cache_file_is_made_again),
        TEST(another_networks_cache_is_not_taken),
        TEST(a_directory_that_cannot_hold_it_gets_an_answer_from_memory),
        TEST(holds_no_content_of_a_sealed_record),
        TEST(a_node_without_history_has_no_cache),
    };
    return cmocka_run_group_tests(tests, setup_global, NULL);
}
