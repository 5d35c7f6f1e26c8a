/* A node's data directory (src/store/node.c): identities and names, creating a node (founding
 * through a callback, or joining), refusing to overwrite one, opening it (and what is missing
 * then), its settings, its keys across a rotation, and the default directory. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "twin/network.h"
#include "twin/node.h"
#include "twin/record.h"
#include "twin/global.h"

static const struct twin_identity north = {"Ministry of Finance of Exampleland", "XE-EXAMPLE-MOF",
                                           "NL", "north", "10"};
static const struct twin_identity south = {"Revenue Authority of Samplestan", "XE-EXAMPLE-RA", "TZ",
                                           "south", NULL};

#define JOIN_ID "0123456789abcdef0123456789abcdef"

/* ---- identity ------------------------------------------------------------------------------- */

static void assert_identity_refused(const struct twin_identity *who, const char *message)
{
    assert_int_equal(twin_node_identity_check(who), TWIN_EINVALID);
    assert_string_equal(twin_error_last(), message);
}

#define NAME_RULE                                                                                  \
    "name: required, one line of at most 200 characters without '<', '>', or characters that "     \
    "hide or reorder text (bidirectional controls, zero width space)"

static void a_complete_identity_is_accepted(void **state)
{
    assert_int_equal(twin_node_identity_check(&north), 0);
    assert_int_equal(twin_node_identity_check(&south), 0);
}

static void an_identity_needs_a_plain_one_line_name(void **state)
{
    char long_name[202];
    struct twin_identity who = north;
    who.name = NULL;
    assert_identity_refused(&who, NAME_RULE);
    who.name = "";
    assert_identity_refused(&who, NAME_RULE);
    who.name = " Ministry";
    assert_identity_refused(&who, NAME_RULE);
    who.name = "Ministry ";
    assert_identity_refused(&who, NAME_RULE);
    who.name = "Ministry <m@example.org>";
    assert_identity_refused(&who, NAME_RULE);
    who.name = "Ministry\nof Finance";
    assert_identity_refused(&who, NAME_RULE);
    memset(long_name, 'M', 201);
    long_name[201] = '\0';
    who.name = long_name;
    assert_identity_refused(&who, NAME_RULE);
    long_name[200] = '\0';
    assert_int_equal(twin_node_identity_check(&who), 0);
}

static void an_identity_needs_an_organisation_identifier(void **state)
{
    struct twin_identity who = north;
    who.org_id = "X";
    assert_identity_refused(&who, "org-id 'X' is not an organisation identifier (letters, digits, "
                                  "'-', '_', '.'; e.g. XE-EXAMPLE-MINISTRY)");
    who.org_id = "-XE-EXAMPLE";
    assert_int_equal(twin_node_identity_check(&who), TWIN_EINVALID);
    who.org_id = "XE EXAMPLE";
    assert_int_equal(twin_node_identity_check(&who), TWIN_EINVALID);
    who.org_id = "XE/EXAMPLE";
    assert_int_equal(twin_node_identity_check(&who), TWIN_EINVALID);
    who.org_id = NULL;
    assert_identity_refused(&who, "org-id '' is not an organisation identifier (letters, digits, "
                                  "'-', '_', '.'; e.g. XE-EXAMPLE-MINISTRY)");
}

static void an_identity_needs_an_iso_country(void **state)
{
    struct twin_identity who = north;
    who.country = "XX";
    assert_identity_refused(&who, "country 'XX' is not an ISO 3166-1 code (e.g. NL, TZ)");
    who.country = "nl";
    assert_identity_refused(&who, "country 'nl' is not an ISO 3166-1 code (e.g. NL, TZ)");
    who.country = NULL;
    assert_identity_refused(&who, "country '' is not an ISO 3166-1 code (e.g. NL, TZ)");
}

static void an_identity_needs_a_side(void **state)
{
    struct twin_identity who = north;
    who.side = "east";
    assert_identity_refused(&who, "side 'east' is not one of north | south | donor | broker");
    who.side = NULL;
    assert_identity_refused(&who, "side '' is not one of north | south | donor | broker");
    const char *sides[] = {"north", "south", "donor", "broker"};
    for (size_t i = 0; i < 4; i++) {
        who.side = sides[i];
        assert_int_equal(twin_node_identity_check(&who), 0);
    }
}

static void an_identity_organisation_type_is_optional_but_checked(void **state)
{
    struct twin_identity who = north;
    who.org_type = "99";
    assert_identity_refused(&who, "org-type '99' is not an IATI organisation type code");
    who.org_type = NULL;
    assert_int_equal(twin_node_identity_check(&who), 0);
}

/* The first wrong field is the one named. */
static void an_identity_names_its_first_wrong_field(void **state)
{
    struct twin_identity who = {"", "X", "XX", "east", "99"};
    assert_identity_refused(&who, NAME_RULE);
    who.name = "Ministry";
    assert_error(twin_node_identity_check(&who), TWIN_EINVALID, "org-id 'X'");
    who.org_id = "XE-EXAMPLE";
    assert_error(twin_node_identity_check(&who), TWIN_EINVALID, "country 'XX'");
    who.country = "KE";
    assert_error(twin_node_identity_check(&who), TWIN_EINVALID, "side 'east'");
    who.side = "donor";
    assert_error(twin_node_identity_check(&who), TWIN_EINVALID, "org-type '99'");
}

/* ---- network ids and names ------------------------------------------------------------------ */

static void network_ids_are_lowercase_hex(void **state)
{
    /* From the former roles_and_network_ids_parse of test_network.c. */
    assert_true(twin_node_network_id_valid("0123456789abcdef0123456789abcdef"));
    assert_false(twin_node_network_id_valid("0123456789ABCDEF0123456789abcdef"));
    assert_false(twin_node_network_id_valid("0123456789abcdef0123456789abcde"));
    assert_false(twin_node_network_id_valid(NULL));
    /* And around it: one digit more, a letter past f, nothing. */
    assert_false(twin_node_network_id_valid("0123456789abcdef0123456789abcdef0"));
    assert_false(twin_node_network_id_valid("0123456789abcdef0123456789abcdeg"));
    assert_false(twin_node_network_id_valid(" 123456789abcdef0123456789abcdef"));
    assert_false(twin_node_network_id_valid(""));
    assert_true(twin_node_network_id_valid("ffffffffffffffffffffffffffffffff"));
}

static void names_are_one_plain_line(void **state)
{
    char name[256];
    assert_true(twin_node_name_valid("Ministry of Finance"));
    assert_true(twin_node_name_valid("M"));
    assert_false(twin_node_name_valid(NULL));
    assert_false(twin_node_name_valid(""));
    assert_false(twin_node_name_valid(" "));
    assert_false(twin_node_name_valid(" Ministry"));
    assert_false(twin_node_name_valid("Ministry "));
    assert_true(twin_node_name_valid("Ministry  of  Finance")); /* spaces inside are fine */
    /* Characters that would break a commit's author line, or are no text. */
    assert_false(twin_node_name_valid("Ministry <x>"));
    assert_false(twin_node_name_valid("Ministry >"));
    assert_false(twin_node_name_valid("Ministry\nof Finance"));
    assert_false(twin_node_name_valid("Ministry\rof Finance"));
    assert_false(twin_node_name_valid("Ministry\tof Finance"));
    assert_false(twin_node_name_valid("Ministry\x01"));
    assert_false(twin_node_name_valid("Ministry\x1f"));
    assert_false(twin_node_name_valid("Ministry\x7f"));
    /* 200 characters, and no more. */
    memset(name, 'a', 201);
    name[201] = '\0';
    assert_false(twin_node_name_valid(name));
    name[200] = '\0';
    assert_true(twin_node_name_valid(name));
}

static void names_may_not_hide_or_reorder_text(void **state)
{
    /* Bidirectional overrides and isolates, and invisible characters. */
    assert_false(twin_node_name_valid("Ministry \xe2\x80\xae"
                                      "ecnaniF")); /* U+202E */
    assert_false(twin_node_name_valid("Ministry \xe2\x80\xaa"
                                      "x")); /* U+202A */
    assert_false(twin_node_name_valid("Ministry \xe2\x81\xa6"
                                      "x"));                    /* U+2066 */
    assert_false(twin_node_name_valid("Mini\xe2\x80\x8bstry")); /* U+200B */
    assert_false(twin_node_name_valid("Mini\xe2\x81\xa0stry")); /* U+2060 */
    assert_false(twin_node_name_valid("\xef\xbb\xbfMinistry")); /* U+FEFF */
    /* Joiners and direction marks that scripts need stay allowed, as does plain non-ASCII. */
    assert_true(twin_node_name_valid("\xd9\x88\xd8\xb2\xd8\xa7\xd8\xb1\xd8\xaa\xe2\x80\x8c"
                                     "\xd8\xae\xd8\xa7\xd9\x86\xd9\x87")); /* ZWNJ in Persian */
    assert_true(twin_node_name_valid("Mini\xe2\x80\x8dstry"));             /* U+200D */
    assert_true(twin_node_name_valid("\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d\xe2\x80\x8f")); /* RLM */
    assert_true(twin_node_name_valid("Minist\xc3\xa8re des Finances"));
}

/* The rule says "at most 200 characters"; a name of 150 characters in a script whose letters take
 * two bytes each should pass. */
static void a_name_is_measured_in_characters(void **state)
{
    char name[401];
    for (int i = 0; i < 150; i++)
        memcpy(name + 2 * i, "\xd0\x9c", 2); /* U+041C CYRILLIC CAPITAL LETTER EM */
    name[300] = '\0';
    assert_true(twin_node_name_valid(name));
    /* 200 characters of three bytes each (600 bytes) pass; one more does not. */
    char wide[3 * 201 + 1];
    for (int i = 0; i < 201; i++)
        memcpy(wide + 3 * i, "\xe2\x82\xac", 3); /* U+20AC EURO SIGN */
    wide[3 * 201] = '\0';
    assert_false(twin_node_name_valid(wide));
    wide[3 * 200] = '\0';
    assert_true(twin_node_name_valid(wide));
    /* Four-byte characters count once each too. */
    char astral[4 * 200 + 1];
    for (int i = 0; i < 200; i++)
        memcpy(astral + 4 * i, "\xf0\x9d\x90\x80", 4); /* U+1D400 */
    astral[4 * 200] = '\0';
    assert_true(twin_node_name_valid(astral));
}

/* A name is text: bytes that are not UTF-8 are refused, and the identity check says so. */
static void a_name_that_is_not_utf8_is_refused(void **state)
{
    assert_false(twin_node_name_valid("Minist\xe8re"));              /* Latin-1, not UTF-8 */
    assert_false(twin_node_name_valid("Ministry \xd0"));             /* cut short */
    assert_false(twin_node_name_valid("Ministry \xc0\xaf"));         /* overlong '/' */
    assert_false(twin_node_name_valid("Ministry \xed\xa0\x80"));     /* a surrogate */
    assert_false(twin_node_name_valid("Ministry \xf4\x90\x80\x80")); /* above U+10FFFF */
    assert_false(twin_node_name_valid("\xff"));
    struct twin_identity who = north;
    who.name = "Minist\xe8re des Finances";
    assert_identity_refused(&who, "name: not valid UTF-8");
}

/* ---- creating a node ------------------------------------------------------------------------ */

struct found_call {
    int calls;
    git_repository *repo;
    twin_keypair key;
    const struct twin_identity *who;
    void *ctx;
    int fail; /* return this instead of founding */
};

static int found_recorded(char id_out[static TWIN_NETWORK_ID_LEN + 1], git_repository *repo,
                          const twin_keypair *key, const struct twin_identity *who, void *ctx)
{
    struct found_call *c = ctx;
    c->calls++;
    c->repo = repo;
    c->key = *key;
    c->who = who;
    c->ctx = ctx;
    if (c->fail)
        return twin_error(c->fail, "founding failed on purpose");
    return twin_network_found(id_out, repo, key, who, "Recorded Network");
}

static void path_in(char *out, size_t size, const struct fixture *f, const char *name)
{
    snprintf(out, size, "%s/%s", f->dir, name);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void init_founds_through_the_callback(void **state)
{
    struct fixture *f = *state;
    char path[192], keypath[256];
    struct found_call call = {0};
    twin_node *n = NULL;
    twin_keypair on_disk;
    git_oid head;
    path_in(path, sizeof(path), f, "north");
    assert_int_equal(twin_node_init(&n, path, &north, found_recorded, &call, NULL), 0);
    assert_non_null(n);
    assert_int_equal(call.calls, 1);
    assert_ptr_equal(call.who, &north);
    assert_ptr_equal(call.ctx, &call);
    assert_non_null(call.repo);
    /* The callback founded with the node's own key, and the node took its network id. */
    assert_memory_equal(call.key.pk, twin_node_key(n)->pk, TWIN_PUBKEY_BYTES);
    snprintf(keypath, sizeof(keypath), "%s/node.key", path);
    assert_int_equal(twin_key_load(&on_disk, keypath), 0);
    assert_memory_equal(on_disk.pk, twin_node_key(n)->pk, TWIN_PUBKEY_BYTES);
    assert_true(twin_node_network_id_valid(twin_node_network_id(n)));
    assert_int_equal(twin_node_head(&head, n), 0);
    assert_string_equal(twin_node_dir(n), path);
    assert_string_equal(twin_node_org_id(n), north.org_id);
    twin_node_free(n);
}

static void a_failed_founding_leaves_nothing_behind(void **state)
{
    struct fixture *f = *state;
    char path[192];
    struct found_call call = {.fail = TWIN_EVERIFY};
    twin_node *n = (twin_node *)1;
    path_in(path, sizeof(path), f, "north");
    assert_error(twin_node_init(&n, path, &north, found_recorded, &call, NULL), TWIN_EVERIFY,
                 "founding failed on purpose");
    assert_null(n);
    assert_int_equal(call.calls, 1);
    assert_false(exists(path));
    /* Nor the directory it was built in beside it. */
    DIR *d = opendir(f->dir);
    struct dirent *e;
    assert_non_null(d);
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            fail_msg("%s/%s was left behind", f->dir, e->d_name);
    closedir(d);
}

static void init_joins_a_network_without_history(void **state)
{
    struct fixture *f = *state;
    char path[192], *v = NULL;
    twin_node *n = NULL;
    git_oid head;
    path_in(path, sizeof(path), f, "deep/er/south");
    assert_int_equal(twin_node_init(&n, path, &south, NULL, NULL, JOIN_ID), 0);
    assert_string_equal(twin_node_network_id(n), JOIN_ID);
    assert_string_equal(twin_node_org_id(n), south.org_id);
    assert_error(twin_node_head(&head, n), TWIN_ENOHISTORY,
                 "no history yet: it joined network " JOIN_ID);
    /* The identity is in the settings; an absent org-type is not written. */
    assert_int_equal(twin_node_config_get(&v, n, "twin.name"), 0);
    assert_string_equal(v, south.name);
    free(v);
    assert_int_equal(twin_node_config_get(&v, n, "twin.country"), 0);
    assert_string_equal(v, "TZ");
    free(v);
    assert_int_equal(twin_node_config_get(&v, n, "twin.side"), 0);
    assert_string_equal(v, "south");
    free(v);
    assert_error(twin_node_config_get(&v, n, "twin.orgtype"), TWIN_ENOTFOUND, "twin.orgtype");
    assert_null(v);
    twin_node_free(n);
}

static void init_checks_its_arguments_first(void **state)
{
    struct fixture *f = *state;
    char path[192];
    struct found_call call = {0};
    twin_node *n = NULL;
    struct twin_identity bad = south;
    path_in(path, sizeof(path), f, "south");
    assert_error(twin_node_init(&n, path, &south, NULL, NULL, NULL), TWIN_EINVALID,
                 "give either a network to found or an id to join");
    assert_error(twin_node_init(&n, path, &south, found_recorded, &call, JOIN_ID), TWIN_EINVALID,
                 "give either a network to found or an id to join");
    assert_error(twin_node_init(&n, path, &south, NULL, NULL, "0123"), TWIN_EINVALID,
                 "'0123' is not a network id (32 hex digits)");
    assert_error(twin_node_init(&n, path, &south, NULL, NULL, "0123456789ABCDEF0123456789ABCDEF"),
                 TWIN_EINVALID, "is not a network id");
    bad.country = "XX";
    assert_error(twin_node_init(&n, path, &bad, NULL, NULL, JOIN_ID), TWIN_EINVALID,
                 "country 'XX'");
    assert_int_equal(call.calls, 0);
    assert_false(exists(path));
}

static void init_refuses_to_overwrite(void **state)
{
    struct fixture *f = *state;
    char path[192], other[192], file[256];
    twin_node *n = NULL, *again = (twin_node *)1;
    path_in(path, sizeof(path), f, "south");
    assert_int_equal(twin_node_init(&n, path, &south, NULL, NULL, JOIN_ID), 0);
    twin_keypair before = *twin_node_key(n);
    twin_node_free(n);
    assert_error(twin_node_init(&again, path, &south, NULL, NULL, JOIN_ID), TWIN_EEXISTS,
                 "a node already exists in");
    assert_null(again);
    assert_int_equal(twin_node_open(&n, path, NULL), 0);
    assert_memory_equal(twin_node_key(n)->pk, before.pk, TWIN_PUBKEY_BYTES);
    twin_node_free(n);

    /* A directory holding something else is not replaced either, and keeps what it holds. */
    path_in(other, sizeof(other), f, "papers");
    assert_int_equal(mkdir(other, 0700), 0);
    snprintf(file, sizeof(file), "%s/notes.txt", other);
    write_text(file, "mine\n", 5, 0600);
    assert_error(twin_node_init(&n, other, &south, NULL, NULL, JOIN_ID), TWIN_EEXISTS,
                 "exists and is not empty; choose another --dir");
    assert_null(n);
    char *text = read_text(file, NULL);
    assert_string_equal(text, "mine\n");
    free(text);

    /* An empty directory is taken. */
    path_in(other, sizeof(other), f, "empty");
    assert_int_equal(mkdir(other, 0700), 0);
    assert_int_equal(twin_node_init(&n, other, &south, NULL, NULL, JOIN_ID), 0);
    twin_node_free(n);
}

/* ---- opening a node ------------------------------------------------------------------------- */

static void open_without_a_node_says_how_to_make_one(void **state)
{
    struct fixture *f = *state;
    char path[192], message[300];
    twin_node *n = (twin_node *)1;
    path_in(path, sizeof(path), f, "nothing");
    snprintf(message, sizeof(message), "no twin node in %s (create one with: twin init)", path);
    assert_error(twin_node_open(&n, path, NULL), TWIN_ENOTFOUND, message);
    assert_null(n);
}

static void open_without_the_key_says_how_to_recover(void **state)
{
    struct fixture *f = *state;
    char path[192], key[256];
    twin_node *n = NULL;
    path_in(path, sizeof(path), f, "south");
    assert_int_equal(twin_node_init(&n, path, &south, NULL, NULL, JOIN_ID), 0);
    twin_node_free(n);
    snprintf(key, sizeof(key), "%s/node.key", path);
    assert_int_equal(unlink(key), 0);
    n = (twin_node *)1;
    assert_error(twin_node_open(&n, path, NULL), TWIN_ENOTFOUND, key);
    assert_null(n);
    assert_error(twin_node_open(&n, path, NULL), TWIN_ENOTFOUND,
                 "restore it from the node's backup, or ask an admin to add a new key");
}

static void open_names_a_key_file_others_can_read(void **state)
{
    struct fixture *f = *state;
    char path[192], key[256];
    twin_node *n = NULL;
    path_in(path, sizeof(path), f, "south");
    assert_int_equal(twin_node_init(&n, path, &south, NULL, NULL, JOIN_ID), 0);
    twin_node_free(n);
    snprintf(key, sizeof(key), "%s/node.key", path);
    assert_int_equal(chmod(key, 0644), 0);
    assert_error(twin_node_open(&n, path, NULL), TWIN_EINVALID, "node key ");
    assert_error(twin_node_open(&n, path, NULL), TWIN_EINVALID, "chmod 600");
    assert_null(n);
}

/* A node in the fixture's "south" whose setting key is value after init (NULL: deleted). */
static void south_with_setting(struct fixture *f, char *path, size_t size, const char *key,
                               const char *value)
{
    twin_node *n = NULL;
    git_config *cfg = NULL;
    path_in(path, size, f, "south");
    assert_int_equal(twin_node_init(&n, path, &south, NULL, NULL, JOIN_ID), 0);
    assert_int_equal(git_repository_config(&cfg, twin_node_repo(n)), 0);
    if (value)
        assert_int_equal(git_config_set_string(cfg, key, value), 0);
    else
        assert_int_equal(git_config_delete_entry(cfg, key), 0);
    git_config_free(cfg);
    twin_node_free(n);
}

struct recover_call {
    int calls;
    const char *write; /* the twin.network it writes, or NULL to fail */
};

static struct recover_call recover_state;

static int recover_settings(twin_node *n)
{
    recover_state.calls++;
    if (!recover_state.write)
        return twin_error(TWIN_ENOTFOUND, "nothing to recover from");
    return twin_node_config_set(n, "twin.network", recover_state.write);
}

static void open_without_settings_needs_a_recovery(void **state)
{
    struct fixture *f = *state;
    char path[192];
    twin_node *n = (twin_node *)1;
    south_with_setting(f, path, sizeof(path), "twin.network", NULL);
    assert_error(twin_node_open(&n, path, NULL), TWIN_ENOTFOUND,
                 "node settings: setting twin.network is not set");
    assert_null(n);

    recover_state = (struct recover_call){0, NULL};
    assert_error(twin_node_open(&n, path, recover_settings), TWIN_ENOTFOUND,
                 "node settings: nothing to recover from");
    assert_int_equal(recover_state.calls, 1);
    assert_null(n);

    recover_state = (struct recover_call){0, "ffffffffffffffffffffffffffffffff"};
    assert_int_equal(twin_node_open(&n, path, recover_settings), 0);
    assert_int_equal(recover_state.calls, 1);
    assert_string_equal(twin_node_network_id(n), "ffffffffffffffffffffffffffffffff");
    twin_node_free(n);

    /* With the settings in place, the recovery is not called. */
    recover_state = (struct recover_call){0, JOIN_ID};
    assert_int_equal(twin_node_open(&n, path, recover_settings), 0);
    assert_int_equal(recover_state.calls, 0);
    assert_string_equal(twin_node_network_id(n), "ffffffffffffffffffffffffffffffff");
    twin_node_free(n);
}

static void open_refuses_settings_that_are_wrong(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *key, *value;
        int code;
        const char *message;
    } cases[] = {
        {"twin.network", "0123", TWIN_EINVALID, "node settings: twin.network is not a network id"},
        {"twin.orgid", NULL, TWIN_ENOTFOUND, "node settings: setting twin.orgid is not set"},
        {"twin.orgid", "not an id", TWIN_EINVALID,
         "node settings: twin.orgid 'not an id' is not an organisation id"},
        {"twin.name", "Two\nlines", TWIN_EINVALID,
         "node settings: twin.name holds a line break, which no commit may carry (fix it with: "
         "git --git-dir=repo.git config twin.name 'One line')"},
        {"twin.name", "Ministry <x>", TWIN_EINVALID, "twin.name holds a '<' or '>'"},
        {"twin.name", "Bell\x07", TWIN_EINVALID, "twin.name holds a control character"},
        {"twin.name", "", TWIN_EINVALID, "node settings: twin.name is empty"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[192];
        twin_node *n = (twin_node *)1;
        south_with_setting(f, path, sizeof(path), cases[i].key, cases[i].value);
        assert_error(twin_node_open(&n, path, NULL), cases[i].code, cases[i].message);
        assert_null(n);
        assert_int_equal(run("rm -rf '%s'", path), 0);
    }
}

static void open_takes_a_node_without_a_name_setting(void **state)
{
    struct fixture *f = *state;
    char path[192];
    twin_node *n = NULL;
    south_with_setting(f, path, sizeof(path), "twin.name", NULL);
    assert_int_equal(twin_node_open(&n, path, NULL), 0);
    assert_string_equal(twin_node_org_id(n), south.org_id);
    twin_node_free(n);
}

/* ---- a node's handle ------------------------------------------------------------------------ */

static void the_handle_reports_what_the_directory_holds(void **state)
{
    struct fixture *f = *state;
    char path[192], key[256];
    twin_node *n = NULL;
    twin_keypair on_disk;
    git_oid head, ref;
    path_in(path, sizeof(path), f, "north");
    assert_int_equal(twin_network_create(&n, path, &north, "Example"), 0);
    twin_node_free(n);
    assert_int_equal(twin_node_open(&n, path, NULL), 0);
    assert_string_equal(twin_node_dir(n), path);
    assert_non_null(twin_node_repo(n));
    assert_true(git_repository_is_bare(twin_node_repo(n)));
    snprintf(key, sizeof(key), "%s/node.key", path);
    assert_int_equal(twin_key_load(&on_disk, key), 0);
    assert_memory_equal(twin_node_key(n)->pk, on_disk.pk, TWIN_PUBKEY_BYTES);
    assert_memory_equal(twin_node_key(n)->sk, on_disk.sk, TWIN_SECKEY_BYTES);
    assert_true(twin_node_network_id_valid(twin_node_network_id(n)));
    assert_string_equal(twin_node_org_id(n), north.org_id);
    assert_int_equal(twin_node_head(&head, n), 0);
    assert_int_equal(git_reference_name_to_id(&ref, twin_node_repo(n), TWIN_BRANCH), 0);
    assert_true(git_oid_equal(&head, &ref));
    twin_node_free(n);
    twin_node_free(NULL);
}

static void the_writer_limit_and_last_proposal_are_kept_on_the_handle(void **state)
{
    struct fixture *f = *state;
    char path[192], id[TWIN_ID_LEN + 8];
    twin_node *n = NULL;
    path_in(path, sizeof(path), f, "south");
    assert_int_equal(twin_node_init(&n, path, &south, NULL, NULL, JOIN_ID), 0);
    assert_false(twin_node_writer_limited(n));
    twin_node_set_writer_limited(n, true);
    assert_true(twin_node_writer_limited(n));
    twin_node_set_writer_limited(n, false);
    assert_false(twin_node_writer_limited(n));

    assert_null(twin_node_last_proposal(n));
    twin_node_set_last_proposal(n, "0190a4b8-0000-7000-8000-000000000001");
    assert_string_equal(twin_node_last_proposal(n), "0190a4b8-0000-7000-8000-000000000001");
    /* Longer text is cut to an id's length; "" and NULL clear it. */
    snprintf(id, sizeof(id), "%s", "0190a4b8-0000-7000-8000-000000000002xyz");
    twin_node_set_last_proposal(n, id);
    assert_int_equal(strlen(twin_node_last_proposal(n)), TWIN_ID_LEN);
    twin_node_set_last_proposal(n, "");
    assert_null(twin_node_last_proposal(n));
    twin_node_set_last_proposal(n, "0190a4b8-0000-7000-8000-000000000003");
    twin_node_set_last_proposal(n, NULL);
    assert_null(twin_node_last_proposal(n));
    twin_node_free(n);
}

static void settings_are_read_and_written_in_the_repository_config(void **state)
{
    struct fixture *f = *state;
    char path[192], *v = (char *)1;
    twin_node *n = NULL;
    path_in(path, sizeof(path), f, "south");
    assert_int_equal(twin_node_init(&n, path, &south, NULL, NULL, JOIN_ID), 0);
    assert_error(twin_node_config_get(&v, n, "twin.nothing"), TWIN_ENOTFOUND,
                 "setting twin.nothing is not set");
    assert_null(v);
    assert_int_equal(twin_node_config_set(n, "twin.colour", "blue"), 0);
    assert_int_equal(twin_node_config_get(&v, n, "twin.colour"), 0);
    assert_string_equal(v, "blue");
    free(v);
    assert_int_equal(twin_node_config_set(n, "twin.colour", "green"), 0);
    /* NULL writes nothing. */
    assert_int_equal(twin_node_config_set(n, "twin.colour", NULL), 0);
    twin_node_free(n);
    /* Written to disk: another handle reads it. */
    assert_int_equal(twin_node_open(&n, path, NULL), 0);
    assert_int_equal(twin_node_config_get(&v, n, "twin.colour"), 0);
    assert_string_equal(v, "green");
    free(v);
    /* A malformed key is libgit2's error, reported as one. */
    assert_int_equal(twin_node_config_set(n, "no section", "x"), TWIN_ERROR);
    assert_non_null(strstr(twin_error_last(), "writing repository config"));
    twin_node_free(n);
}

static void a_setting_unset_is_gone_and_unsetting_it_again_is_no_error(void **state)
{
    struct fixture *f = *state;
    char path[192], *v = NULL;
    twin_node *n = NULL;
    path_in(path, sizeof(path), f, "south");
    assert_int_equal(twin_node_init(&n, path, &south, NULL, NULL, JOIN_ID), 0);
    assert_int_equal(twin_node_config_set(n, "twin.colour", "blue"), 0);
    assert_int_equal(twin_node_config_set(n, "twin.shape", "round"), 0);
    assert_int_equal(twin_node_config_unset(n, "twin.colour"), 0);
    assert_error(twin_node_config_get(&v, n, "twin.colour"), TWIN_ENOTFOUND,
                 "setting twin.colour is not set");
    assert_int_equal(twin_node_config_unset(n, "twin.colour"), 0);
    twin_node_free(n);
    /* On disk, and only that setting: another handle still reads the other one. */
    assert_int_equal(twin_node_open(&n, path, NULL), 0);
    assert_int_equal(twin_node_config_get(&v, n, "twin.colour"), TWIN_ENOTFOUND);
    assert_int_equal(twin_node_config_get(&v, n, "twin.shape"), 0);
    assert_string_equal(v, "round");
    free(v);
    assert_int_equal(twin_node_config_unset(n, "no section"), TWIN_ERROR);
    assert_non_null(strstr(twin_error_last(), "writing repository config"));
    twin_node_free(n);
}

/* A command run beside serve writes the config while serve records a session: both land. */
static void two_processes_writing_settings_at_once_both_land(void **state)
{
    struct fixture *f = *state;
    char path[192], key[64], *v = NULL;
    twin_node *n = NULL;
    enum { WRITES = 40 };
    path_in(path, sizeof(path), f, "south");
    assert_int_equal(twin_node_init(&n, path, &south, NULL, NULL, JOIN_ID), 0);
    twin_node_free(n);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        int failed = twin_node_open(&n, path, NULL) != 0;
        for (int i = 0; !failed && i < WRITES; i++) {
            snprintf(key, sizeof(key), "twin.child%d", i);
            failed = twin_node_config_set(n, key, "c") != 0;
        }
        _exit(failed);
    }
    assert_int_equal(twin_node_open(&n, path, NULL), 0);
    for (int i = 0; i < WRITES; i++) {
        snprintf(key, sizeof(key), "twin.parent%d", i);
        assert_int_equal(twin_node_config_set(n, key, "p"), 0);
    }
    int status = -1;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    twin_node_free(n);
    assert_int_equal(twin_node_open(&n, path, NULL), 0);
    for (int i = 0; i < 2 * WRITES; i++) {
        snprintf(key, sizeof(key), i < WRITES ? "twin.child%d" : "twin.parent%d", i % WRITES);
        assert_int_equal(twin_node_config_get(&v, n, key), 0);
        assert_string_equal(v, i < WRITES ? "c" : "p");
        free(v);
    }
    twin_node_free(n);
}

/* A config.lock left by a killed writer does not block the settings for good. */
static void a_config_lock_left_behind_is_cleared(void **state)
{
    struct fixture *f = *state;
    char path[192], lock[256], *v = NULL;
    twin_node *n = NULL;
    path_in(path, sizeof(path), f, "south");
    assert_int_equal(twin_node_init(&n, path, &south, NULL, NULL, JOIN_ID), 0);
    snprintf(lock, sizeof(lock), "%s/repo.git/config.lock", path);
    FILE *fp = fopen(lock, "w");
    assert_non_null(fp);
    fputs("[half written\n", fp);
    fclose(fp);
    struct timespec old[2] = {{time(NULL) - 60, 0}, {time(NULL) - 60, 0}};
    assert_int_equal(utimensat(AT_FDCWD, lock, old, 0), 0);
    assert_int_equal(twin_node_config_set(n, "twin.colour", "blue"), 0);
    assert_int_equal(access(lock, F_OK), -1);
    assert_int_equal(twin_node_config_get(&v, n, "twin.colour"), 0);
    assert_string_equal(v, "blue");
    free(v);
    twin_node_free(n);
}

/* ---- keys across a rotation ----------------------------------------------------------------- */

static void node_file(char *out, size_t size, twin_node *n, const char *name)
{
    snprintf(out, size, "%s/%s", twin_node_dir(n), name);
}

static void a_fresh_node_has_no_previous_key(void **state)
{
    struct fixture *f = *state;
    char path[192];
    twin_node *n = NULL;
    twin_keypair prev;
    path_in(path, sizeof(path), f, "south");
    assert_int_equal(twin_node_init(&n, path, &south, NULL, NULL, JOIN_ID), 0);
    assert_int_equal(twin_node_previous_key(&prev, n), TWIN_ENOTFOUND);
    twin_node_free(n);
}

static void adopting_a_new_key_keeps_the_old_one_as_previous(void **state)
{
    struct fixture *f = *state;
    char path[192], file[256];
    twin_node *n = NULL;
    twin_keypair fresh, prev, on_disk;
    path_in(path, sizeof(path), f, "south");
    assert_int_equal(twin_node_init(&n, path, &south, NULL, NULL, JOIN_ID), 0);
    twin_keypair old = *twin_node_key(n);
    keypair_from_seed(&fresh, 0x31);
    node_file(file, sizeof(file), n, TWIN_NODE_NEW_KEY);
    assert_int_equal(twin_key_save(file, &fresh, south.org_id), 0);

    assert_int_equal(twin_node_adopt_new_key(n), 0);
    assert_memory_equal(twin_node_key(n)->pk, fresh.pk, TWIN_PUBKEY_BYTES);
    assert_false(exists(file));
    node_file(file, sizeof(file), n, "node.key");
    assert_int_equal(twin_key_load(&on_disk, file), 0);
    assert_memory_equal(on_disk.pk, fresh.pk, TWIN_PUBKEY_BYTES);
    assert_int_equal(twin_node_previous_key(&prev, n), 0);
    assert_memory_equal(prev.pk, old.pk, TWIN_PUBKEY_BYTES);

    /* Nothing to adopt: an error, and the key in use stays. */
    assert_error(twin_node_adopt_new_key(n), TWIN_ENOTFOUND, TWIN_NODE_NEW_KEY);
    assert_memory_equal(twin_node_key(n)->pk, fresh.pk, TWIN_PUBKEY_BYTES);
    twin_node_free(n);
}

static void reloading_reads_a_key_another_process_put_in_place(void **state)
{
    struct fixture *f = *state;
    char path[192], file[256];
    twin_node *n = NULL;
    twin_keypair other;
    path_in(path, sizeof(path), f, "south");
    assert_int_equal(twin_node_init(&n, path, &south, NULL, NULL, JOIN_ID), 0);
    keypair_from_seed(&other, 0x52);
    node_file(file, sizeof(file), n, "node.key");
    assert_int_equal(unlink(file), 0);
    assert_int_equal(twin_key_save(file, &other, south.org_id), 0);
    assert_int_equal(twin_node_reload_key(n), 0);
    assert_memory_equal(twin_node_key(n)->pk, other.pk, TWIN_PUBKEY_BYTES);
    /* A key that cannot be read leaves the one in use. */
    assert_int_equal(unlink(file), 0);
    assert_error(twin_node_reload_key(n), TWIN_ENOTFOUND, file);
    assert_memory_equal(twin_node_key(n)->pk, other.pk, TWIN_PUBKEY_BYTES);
    twin_node_free(n);
}

/* ---- the default directory ------------------------------------------------------------------ */

struct saved_env {
    char *twin_dir, *xdg, *home;
};

static char *dup_env(const char *name)
{
    const char *v = getenv(name);
    return v ? strdup(v) : NULL;
}

static void restore(const char *name, char *value)
{
    if (value)
        setenv(name, value, 1);
    else
        unsetenv(name);
    free(value);
}

static int save_env(void **state)
{
    struct saved_env *s = calloc(1, sizeof(*s));
    if (!s)
        return -1;
    s->twin_dir = dup_env("TWIN_DIR");
    s->xdg = dup_env("XDG_DATA_HOME");
    s->home = dup_env("HOME");
    *state = s;
    return 0;
}

static int restore_env(void **state)
{
    struct saved_env *s = *state;
    restore("TWIN_DIR", s->twin_dir);
    restore("XDG_DATA_HOME", s->xdg);
    restore("HOME", s->home);
    free(s);
    return 0;
}

static void assert_default_dir(const char *dir, const char *want)
{
    char *got = twin_node_default_dir(dir);
    if (!want) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void the_default_dir_comes_from_the_environment_in_order(void **state)
{
    setenv("TWIN_DIR", "/srv/twin", 1);
    setenv("XDG_DATA_HOME", "/home/u/.data", 1);
    setenv("HOME", "/home/u", 1);
    assert_default_dir("/given", "/given");
    assert_default_dir(NULL, "/srv/twin");
    assert_default_dir("", "/srv/twin"); /* an empty --dir is no directory */
    setenv("TWIN_DIR", "", 1);
    assert_default_dir(NULL, "/home/u/.data/twin");
    unsetenv("TWIN_DIR");
    assert_default_dir(NULL, "/home/u/.data/twin");
    setenv("XDG_DATA_HOME", "", 1);
    assert_default_dir(NULL, "/home/u/.local/share/twin");
    unsetenv("XDG_DATA_HOME");
    assert_default_dir(NULL, "/home/u/.local/share/twin");
    setenv("HOME", "", 1);
    assert_default_dir(NULL, NULL);
    unsetenv("HOME");
    assert_default_dir(NULL, NULL);
    assert_default_dir("/given", "/given");
}

static int setup_global(void **state)
{
    return twin_global_init(false) == 0 ? 0 : -1;
}

/* A revision names a commit of the node's store by id, unique prefix or git revision; anything
 * else, a tree included, is refused by name. */
static void a_revision_names_a_commit_of_this_node(void **state)
{
    struct fixture *f = *state;
    char path[192], hex[GIT_OID_HEXSZ + 1], rev[64];
    twin_node *n = NULL;
    git_oid head, got, parent;
    path_in(path, sizeof(path), f, "north");
    assert_int_equal(twin_network_create(&n, path, &north, "Example"), 0);
    assert_int_equal(twin_node_head(&head, n), 0);
    git_oid_tostr(hex, sizeof(hex), &head);
    assert_int_equal(twin_node_commit(&got, n, hex), 0);
    assert_true(git_oid_equal(&got, &head));
    snprintf(rev, sizeof(rev), "%.10s", hex);
    assert_int_equal(twin_node_commit(&got, n, rev), 0);
    assert_true(git_oid_equal(&got, &head));
    assert_int_equal(twin_node_commit(&got, n, TWIN_BRANCH), 0);
    assert_true(git_oid_equal(&got, &head));
    git_commit *c = NULL;
    assert_int_equal(git_commit_lookup(&c, twin_node_repo(n), &head), 0);
    if (git_commit_parentcount(c) > 0) {
        parent = *git_commit_parent_id(c, 0);
        snprintf(rev, sizeof(rev), "%s~1", TWIN_BRANCH);
        assert_int_equal(twin_node_commit(&got, n, rev), 0);
        assert_true(git_oid_equal(&got, &parent));
    }
    snprintf(rev, sizeof(rev), "%s^{tree}", hex);
    assert_error(twin_node_commit(&got, n, rev), TWIN_EINVALID, "not a commit of this node");
    assert_error(twin_node_commit(&got, n, "0000000000"), TWIN_EINVALID,
                 "0000000000: not a commit of this node");
    assert_error(twin_node_commit(&got, n, "no-such-branch"), TWIN_EINVALID, "no-such-branch");
    git_commit_free(c);
    twin_node_free(n);
}

#define DIR_TEST(t) cmocka_unit_test_setup_teardown(t, fixture_setup, fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_complete_identity_is_accepted),
        cmocka_unit_test(an_identity_needs_a_plain_one_line_name),
        cmocka_unit_test(an_identity_needs_an_organisation_identifier),
        cmocka_unit_test(an_identity_needs_an_iso_country),
        cmocka_unit_test(an_identity_needs_a_side),
        cmocka_unit_test(an_identity_organisation_type_is_optional_but_checked),
        cmocka_unit_test(an_identity_names_its_first_wrong_field),
        cmocka_unit_test(network_ids_are_lowercase_hex),
        cmocka_unit_test(names_are_one_plain_line),
        cmocka_unit_test(names_may_not_hide_or_reorder_text),
        cmocka_unit_test(a_name_is_measured_in_characters),
        cmocka_unit_test(a_name_that_is_not_utf8_is_refused),
        DIR_TEST(init_founds_through_the_callback),
        DIR_TEST(a_failed_founding_leaves_nothing_behind),
        DIR_TEST(init_joins_a_network_without_history),
        DIR_TEST(init_checks_its_arguments_first),
        DIR_TEST(init_refuses_to_overwrite),
        DIR_TEST(open_without_a_node_says_how_to_make_one),
        DIR_TEST(open_without_the_key_says_how_to_recover),
        DIR_TEST(open_names_a_key_file_others_can_read),
        DIR_TEST(open_without_settings_needs_a_recovery),
        DIR_TEST(open_refuses_settings_that_are_wrong),
        DIR_TEST(open_takes_a_node_without_a_name_setting),
        DIR_TEST(the_handle_reports_what_the_directory_holds),
        DIR_TEST(a_revision_names_a_commit_of_this_node),
        DIR_TEST(the_writer_limit_and_last_proposal_are_kept_on_the_handle),
        DIR_TEST(settings_are_read_and_written_in_the_repository_config),
        DIR_TEST(a_setting_unset_is_gone_and_unsetting_it_again_is_no_error),
        DIR_TEST(two_processes_writing_settings_at_once_both_land),
        DIR_TEST(a_config_lock_left_behind_is_cleared),
        DIR_TEST(a_fresh_node_has_no_previous_key),
        DIR_TEST(adopting_a_new_key_keeps_the_old_one_as_previous),
        DIR_TEST(reloading_reads_a_key_another_process_put_in_place),
        cmocka_unit_test_setup_teardown(the_default_dir_comes_from_the_environment_in_order,
                                        save_env, restore_env),
    };
    return cmocka_run_group_tests(tests, setup_global, NULL);
}
