/* Reading git objects out of the store (src/git/tree.c): trees, the entry at a path, files and
 * blobs of bounded size, and objects that cannot be read, which are errors that name the object
 * and the path it was reached by, never empty content. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "helpers.h"
#include "twin/record.h"
#include "twin/tree.h"
#include "twin/global.h"

struct repo_fixture {
    struct fixture *tmp;
    char path[192];
    git_repository *repo;
    git_oid root;   /* the tree below */
    git_oid c_json; /* blob of a/b/c.json */
    git_oid ab;     /* tree a/b */
};

/*
 * root
 * |-- a/
 * |   |-- b/
 * |   |   `-- c.json      "{\"c\": 1}\n"
 * |   `-- file.txt        "hello\n"
 * |-- binary.bin          "x\0y"
 * |-- empty.txt           ""
 * |-- exact.json          TWIN_RECORD_FILE_MAX_BYTES bytes
 * |-- large.json          one byte more
 * `-- <255 x 'n'>         "long name\n"
 */
static char long_name[256];

static void put_blob(git_tree_update *u, git_repository *repo, const char *path, const void *data,
                     size_t len)
{
    memset(u, 0, sizeof(*u));
    u->action = GIT_TREE_UPDATE_UPSERT;
    u->filemode = GIT_FILEMODE_BLOB;
    u->path = path;
    assert_int_equal(git_blob_create_from_buffer(&u->id, repo, data, len), 0);
}

static int setup_repo(void **state)
{
    struct repo_fixture *f = calloc(1, sizeof(*f));
    void *tmp = NULL;
    git_treebuilder *tb = NULL;
    git_tree *empty = NULL, *root = NULL;
    git_tree_entry *e = NULL;
    git_oid empty_id;
    git_tree_update u[8];
    if (!f || fixture_setup(&tmp))
        return -1;
    f->tmp = tmp;
    snprintf(f->path, sizeof(f->path), "%s/repo.git", f->tmp->dir);
    if (git_repository_init(&f->repo, f->path, 1) < 0 ||
        git_treebuilder_new(&tb, f->repo, NULL) < 0 || git_treebuilder_write(&empty_id, tb) < 0 ||
        git_tree_lookup(&empty, f->repo, &empty_id) < 0)
        return -1;
    git_treebuilder_free(tb);
    char *big = malloc(TWIN_RECORD_FILE_MAX_BYTES + 1);
    if (!big)
        return -1;
    memset(big, 'x', TWIN_RECORD_FILE_MAX_BYTES + 1);
    memset(long_name, 'n', 255);
    long_name[255] = '\0';
    put_blob(&u[0], f->repo, "a/b/c.json", "{\"c\": 1}\n", 9);
    put_blob(&u[1], f->repo, "a/file.txt", "hello\n", 6);
    put_blob(&u[2], f->repo, "binary.bin", "x\0y", 3);
    put_blob(&u[3], f->repo, "empty.txt", "", 0);
    put_blob(&u[4], f->repo, "exact.json", big, TWIN_RECORD_FILE_MAX_BYTES);
    put_blob(&u[5], f->repo, "large.json", big, TWIN_RECORD_FILE_MAX_BYTES + 1);
    put_blob(&u[6], f->repo, long_name, "long name\n", 10);
    free(big);
    f->c_json = u[0].id;
    if (git_tree_create_updated(&f->root, f->repo, empty, 7, u) < 0 ||
        git_tree_lookup(&root, f->repo, &f->root) < 0 || git_tree_entry_bypath(&e, root, "a/b") < 0)
        return -1;
    f->ab = *git_tree_entry_id(e);
    git_tree_entry_free(e);
    git_tree_free(root);
    git_tree_free(empty);
    *state = f;
    return 0;
}

static int teardown_repo(void **state)
{
    struct repo_fixture *f = *state;
    void *tmp = f->tmp;
    git_repository_free(f->repo);
    fixture_teardown(&tmp);
    free(f);
    return 0;
}

static git_tree *open_root(struct repo_fixture *f)
{
    git_tree *t = NULL;
    assert_int_equal(twin_tree_open(&t, f->repo, &f->root, "root"), 0);
    assert_non_null(t);
    return t;
}

/* ---- trees and entries ---------------------------------------------------------------------- */

static void a_tree_opens_by_its_id(void **state)
{
    struct repo_fixture *f = *state;
    git_tree *t = open_root(f);
    assert_true(git_oid_equal(git_tree_id(t), &f->root));
    assert_int_equal(git_tree_entrycount(t), 6);
    git_tree_free(t);
    assert_int_equal(twin_tree_open(&t, f->repo, &f->ab, "a/b"), 0);
    assert_int_equal(git_tree_entrycount(t), 1);
    git_tree_free(t);
}

static void an_object_that_is_no_tree_does_not_open_as_one(void **state)
{
    struct repo_fixture *f = *state;
    git_tree *t = (git_tree *)1;
    char hex[GIT_OID_HEXSZ + 1], message[128];
    git_oid_tostr(hex, sizeof(hex), &f->c_json);
    snprintf(message, sizeof(message), "tree %s (a/b/c.json) cannot be read, the store is damaged",
             hex);
    assert_error(twin_tree_open(&t, f->repo, &f->c_json, "a/b/c.json"), TWIN_ERROR, message);
    assert_null(t);
}

static void entries_are_found_at_nested_paths(void **state)
{
    struct repo_fixture *f = *state;
    git_tree *root = open_root(f);
    git_tree_entry *e = NULL;
    assert_int_equal(twin_tree_entry_at(&e, f->repo, root, "a/b/c.json"), 0);
    assert_string_equal(git_tree_entry_name(e), "c.json");
    assert_int_equal(git_tree_entry_type(e), GIT_OBJECT_BLOB);
    assert_true(git_oid_equal(git_tree_entry_id(e), &f->c_json));
    git_tree_entry_free(e);
    /* A directory is an entry too. */
    assert_int_equal(twin_tree_entry_at(&e, f->repo, root, "a/b"), 0);
    assert_int_equal(git_tree_entry_type(e), GIT_OBJECT_TREE);
    assert_true(git_oid_equal(git_tree_entry_id(e), &f->ab));
    git_tree_entry_free(e);
    assert_int_equal(twin_tree_entry_at(&e, f->repo, root, "empty.txt"), 0);
    git_tree_entry_free(e);
    assert_int_equal(twin_tree_entry_at(&e, f->repo, root, long_name), 0);
    git_tree_entry_free(e);
    git_tree_free(root);
}

static void assert_not_found(struct repo_fixture *f, git_tree *root, const char *path)
{
    git_tree_entry *e = (git_tree_entry *)1;
    char message[600];
    snprintf(message, sizeof(message), "%s: not found", path);
    assert_error(twin_tree_entry_at(&e, f->repo, root, path), TWIN_ENOTFOUND, message);
    assert_null(e);
}

static void a_missing_entry_is_not_found(void **state)
{
    struct repo_fixture *f = *state;
    git_tree *root = open_root(f);
    assert_not_found(f, root, "nothing.json");
    assert_not_found(f, root, "a/nothing.json");
    assert_not_found(f, root, "a/b/c.jsonx");
    assert_not_found(f, root, "a/x/c.json");
    assert_not_found(f, root, "A/b/c.json");
    /* Empty names on the way. */
    assert_not_found(f, root, "");
    assert_not_found(f, root, "/a");
    assert_not_found(f, root, "a//b");
    assert_not_found(f, root, "a/");
    git_tree_free(root);
}

static void a_file_where_a_directory_is_expected_is_not_found(void **state)
{
    struct repo_fixture *f = *state;
    git_tree *root = open_root(f);
    assert_not_found(f, root, "a/file.txt/c.json");
    assert_not_found(f, root, "a/b/c.json/x");
    assert_not_found(f, root, "empty.txt/");
    git_tree_free(root);
}

static void a_name_longer_than_any_file_name_is_not_found(void **state)
{
    struct repo_fixture *f = *state;
    git_tree *root = open_root(f);
    char name[300];
    memset(name, 'n', 299);
    name[299] = '\0';
    assert_not_found(f, root, name);
    git_tree_free(root);
}

/* ---- files ---------------------------------------------------------------------------------- */

static void a_file_is_read_whole_and_ended_by_a_nul(void **state)
{
    struct repo_fixture *f = *state;
    git_tree *root = open_root(f);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(twin_tree_read(&text, &len, f->repo, root, "a/b/c.json"), 0);
    assert_int_equal(len, 9);
    assert_string_equal(text, "{\"c\": 1}\n");
    free(text);
    assert_int_equal(twin_tree_read(&text, &len, f->repo, root, "binary.bin"), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(text, "x\0y", 4); /* and the NUL after it */
    free(text);
    assert_int_equal(twin_tree_read(&text, &len, f->repo, root, "empty.txt"), 0);
    assert_int_equal(len, 0);
    assert_string_equal(text, "");
    free(text);
    git_tree_free(root);
}

static void a_file_is_read_up_to_the_record_limit(void **state)
{
    struct repo_fixture *f = *state;
    git_tree *root = open_root(f);
    char *text = NULL, message[64];
    size_t len = 0;
    assert_int_equal(twin_tree_read(&text, &len, f->repo, root, "exact.json"), 0);
    assert_int_equal(len, TWIN_RECORD_FILE_MAX_BYTES);
    assert_int_equal(text[len], '\0');
    free(text);
    text = (char *)1;
    snprintf(message, sizeof(message), "large.json: larger than %d bytes",
             TWIN_RECORD_FILE_MAX_BYTES);
    assert_error(twin_tree_read(&text, &len, f->repo, root, "large.json"), TWIN_ELIMIT, message);
    assert_null(text);
    git_tree_free(root);
}

static void a_directory_or_missing_path_is_not_read_as_a_file(void **state)
{
    struct repo_fixture *f = *state;
    git_tree *root = open_root(f);
    char *text = (char *)1;
    size_t len;
    assert_error(twin_tree_read(&text, &len, f->repo, root, "a/b"), TWIN_EINVALID,
                 "a/b: not a file");
    assert_null(text);
    assert_error(twin_tree_read(&text, &len, f->repo, root, "a/b/d.json"), TWIN_ENOTFOUND,
                 "a/b/d.json: not found");
    assert_null(text);
    git_tree_free(root);
}

static void a_blob_is_read_by_id_within_the_bound_given(void **state)
{
    struct repo_fixture *f = *state;
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(twin_tree_read_blob(&text, &len, f->repo, &f->c_json, 9, "the c record"), 0);
    assert_int_equal(len, 9);
    assert_string_equal(text, "{\"c\": 1}\n");
    free(text);
    text = (char *)1;
    assert_error(twin_tree_read_blob(&text, &len, f->repo, &f->c_json, 8, "the c record"),
                 TWIN_ELIMIT, "the c record: larger than 8 bytes");
    assert_null(text);
    /* A tree is no blob, and says which object it is. */
    char hex[GIT_OID_HEXSZ + 1], message[128];
    git_oid_tostr(hex, sizeof(hex), &f->ab);
    snprintf(message, sizeof(message), "blob %s (the b tree) cannot be read", hex);
    assert_error(twin_tree_read_blob(&text, &len, f->repo, &f->ab, 100, "the b tree"), TWIN_ERROR,
                 message);
    assert_null(text);
}

/* ---- objects that cannot be read ------------------------------------------------------------ */

/* Deletes the loose object id and opens the repository again, so no cache still holds it. */
static void lose_object(struct repo_fixture *f, const git_oid *id)
{
    char hex[GIT_OID_HEXSZ + 1], path[512];
    git_oid_tostr(hex, sizeof(hex), id);
    snprintf(path, sizeof(path), "%sobjects/%.2s/%s", git_repository_path(f->repo), hex, hex + 2);
    assert_int_equal(unlink(path), 0);
    git_repository_free(f->repo);
    f->repo = NULL;
    assert_int_equal(git_repository_open_bare(&f->repo, f->path), 0);
}

static void a_directory_opens_and_an_absent_one_is_null(void **state)
{
    struct repo_fixture *f = *state;
    git_tree *root = open_root(f), *t = (git_tree *)1;
    assert_int_equal(twin_tree_open_dir(&t, f->repo, root, "a/b"), 0);
    assert_non_null(t);
    assert_true(git_oid_equal(git_tree_id(t), &f->ab));
    git_tree_free(t);
    t = (git_tree *)1;
    assert_int_equal(twin_tree_open_dir(&t, f->repo, root, "a/nothing"), 0);
    assert_null(t);
    assert_error(twin_tree_open_dir(&t, f->repo, root, "a/b/c.json"), TWIN_EINVALID,
                 "a/b/c.json: not a directory");
    assert_null(t);
    git_tree_free(root);
}

static void a_missing_tree_on_the_way_is_named_not_taken_for_absent(void **state)
{
    struct repo_fixture *f = *state;
    char hex[GIT_OID_HEXSZ + 1], message[128];
    git_tree_entry *e = (git_tree_entry *)1;
    char *text = (char *)1;
    size_t len;
    lose_object(f, &f->ab);
    git_tree *root = open_root(f);
    git_oid_tostr(hex, sizeof(hex), &f->ab);
    snprintf(message, sizeof(message), "tree %s (a/b) cannot be read, the store is damaged", hex);
    assert_error(twin_tree_entry_at(&e, f->repo, root, "a/b/c.json"), TWIN_ERROR, message);
    assert_null(e);
    assert_error(twin_tree_read(&text, &len, f->repo, root, "a/b/c.json"), TWIN_ERROR, message);
    assert_null(text);
    /* The entry naming the lost tree is still there; only reading into it fails. */
    assert_int_equal(twin_tree_entry_at(&e, f->repo, root, "a/b"), 0);
    git_tree_entry_free(e);
    git_tree *t = (git_tree *)1;
    assert_error(twin_tree_open(&t, f->repo, &f->ab, "a/b"), TWIN_ERROR, message);
    assert_null(t);
    git_tree_free(root);
}

static void a_missing_blob_is_named_not_read_as_empty(void **state)
{
    struct repo_fixture *f = *state;
    char hex[GIT_OID_HEXSZ + 1], message[128];
    char *text = (char *)1;
    size_t len;
    lose_object(f, &f->c_json);
    git_tree *root = open_root(f);
    git_oid_tostr(hex, sizeof(hex), &f->c_json);
    snprintf(message, sizeof(message), "blob %s (a/b/c.json) cannot be read, the store is damaged",
             hex);
    assert_error(twin_tree_read(&text, &len, f->repo, root, "a/b/c.json"), TWIN_ERROR, message);
    assert_null(text);
    assert_error(twin_tree_read_blob(&text, &len, f->repo, &f->c_json, 100, "a/b/c.json"),
                 TWIN_ERROR, message);
    git_tree_free(root);
}

static void a_missing_root_tree_is_named(void **state)
{
    struct repo_fixture *f = *state;
    char hex[GIT_OID_HEXSZ + 1], message[128];
    git_tree *t = (git_tree *)1;
    lose_object(f, &f->root);
    git_oid_tostr(hex, sizeof(hex), &f->root);
    snprintf(message, sizeof(message), "tree %s (the head) cannot be read", hex);
    assert_error(twin_tree_open(&t, f->repo, &f->root, "the head"), TWIN_ERROR, message);
    assert_null(t);
}

static int setup_global(void **state)
{
    return twin_global_init(false) == 0 ? 0 : -1;
}

#define REPO_TEST(t) cmocka_unit_test_setup_teardown(t, setup_repo, teardown_repo)

int main(void)
{
    const struct CMUnitTest tests[] = {
        REPO_TEST(a_tree_opens_by_its_id),
        REPO_TEST(an_object_that_is_no_tree_does_not_open_as_one),
        REPO_TEST(entries_are_found_at_nested_paths),
        REPO_TEST(a_missing_entry_is_not_found),
        REPO_TEST(a_file_where_a_directory_is_expected_is_not_found),
        REPO_TEST(a_name_longer_than_any_file_name_is_not_found),
        REPO_TEST(a_file_is_read_whole_and_ended_by_a_nul),
        REPO_TEST(a_file_is_read_up_to_the_record_limit),
        REPO_TEST(a_directory_or_missing_path_is_not_read_as_a_file),
        REPO_TEST(a_blob_is_read_by_id_within_the_bound_given),
        REPO_TEST(a_directory_opens_and_an_absent_one_is_null),
        REPO_TEST(a_missing_tree_on_the_way_is_named_not_taken_for_absent),
        REPO_TEST(a_missing_blob_is_named_not_read_as_empty),
        REPO_TEST(a_missing_root_tree_is_named),
    };
    return cmocka_run_group_tests(tests, setup_global, NULL);
}
