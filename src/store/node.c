/*
 * The node's data directory. A new node is built in a temporary directory beside the target and
 * renamed into place, so a failed or killed `twin init` never leaves half a node behind.
 */
#define _XOPEN_SOURCE 700
#include "twin/node.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "git/gitopts.h"
#include "store/wraps.h"
#include "twin/codes.h"
#include "twin/error.h"
#include "twin/record.h"

struct twin_node {
    char *dir;
    git_repository *repo;
    twin_keypair key;
    char network_id[TWIN_NETWORK_ID_LEN + 1];
    char *org_id;
    char proposal[TWIN_ID_LEN + 1]; /* the proposal the last governed change became, or "" */
    bool limited;                   /* this node's member writes only in its own partnerships */
    bool read_out;                  /* holds TWIN_GITOPTS_UNHASHED (twin_node_read_out) */
    twin_wraps *wraps;              /* opened on first use (twin_node_wraps) */
    struct twin_node *next_left;    /* the node left before it (twin_node_leave) */
};

static char *join_path(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", a, b);
    return p;
}

char *twin_node_default_dir(const char *dir)
{
    if (dir && dir[0])
        return strdup(dir);
    const char *env = getenv("TWIN_DIR");
    if (env && env[0])
        return strdup(env);
    env = getenv("XDG_DATA_HOME");
    if (env && env[0])
        return join_path(env, "twin");
    env = getenv("HOME");
    if (env && env[0])
        return join_path(env, ".local/share/twin");
    return NULL;
}

static int mkdir_parents(const char *path)
{
    char buf[PATH_MAX];
    if (strlen(path) >= sizeof(buf))
        return twin_error(TWIN_EINVALID, "path too long: %s", path);
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return twin_error(TWIN_ERROR, "cannot create %s: %s", buf, strerror(errno));
        *p = '/';
    }
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

/* Only ever called on the temporary directory twin_node_init created. */
static void remove_tree(const char *path)
{
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* libgit2 writes repo.git/config through config.lock and fails at once when that file is there.
 * twin's writers (a command run beside serve, which records each session) first queue on
 * repo.git/twin-config.lock; a config.lock found while holding it is plain git's, given a
 * second, or a killed twin's, removed. */
static int config_write(git_repository *repo, size_t count, const char *const keys[],
                        const char *const values[])
{
    git_config *cfg = NULL;
    char path[4096];
    int fd;
    snprintf(path, sizeof(path), "%stwin-config.lock", git_repository_path(repo));
    int rc = twin_util_flock(&fd, path);
    if (rc)
        return rc;
    snprintf(path, sizeof(path), "%sconfig.lock", git_repository_path(repo));
    twin_util_clear_stale_lock(path);
    if (git_repository_config(&cfg, repo) < 0)
        rc = twin_error_git("opening repository config");
    for (size_t i = 0; rc == 0 && i < count; i++) {
        int err = values[i] ? git_config_set_string(cfg, keys[i], values[i])
                            : git_config_delete_entry(cfg, keys[i]);
        if (err < 0 && !(err == GIT_ENOTFOUND && !values[i]))
            rc = twin_error_git("writing repository config");
    }
    git_config_free(cfg);
    close(fd);
    return rc;
}

static int set_config(git_repository *repo, const char *key, const char *value)
{
    return value ? config_write(repo, 1, &key, &value) : 0;
}

/* A setting that goes into every commit (the author line) must be one line of text. */
static int check_setting_text(twin_node *n, const char *key)
{
    char *v = NULL;
    int rc = twin_node_config_get(&v, n, key);
    if (rc == TWIN_ENOTFOUND) {
        twin_error_clear();
        return 0;
    }
    for (const unsigned char *p = (const unsigned char *)v; rc == 0 && p && *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == '<' || *p == '>')
            rc = twin_error(TWIN_EINVALID,
                            "node settings: %s holds a %s, which no commit may carry (fix it with: "
                            "git --git-dir=repo.git config %s 'One line')",
                            key,
                            *p == '\n'               ? "line break"
                            : *p == '<' || *p == '>' ? "'<' or '>'"
                                                     : "control character",
                            key);
    if (rc == 0 && v && !*v)
        rc = twin_error(TWIN_EINVALID, "node settings: %s is empty", key);
    free(v);
    return rc;
}

static const char *const side_names[] = {"north", "south", "donor", "broker", NULL};

bool twin_node_network_id_valid(const char *id)
{
    if (!id || strlen(id) != TWIN_NETWORK_ID_LEN)
        return false;
    for (const char *p = id; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

bool twin_node_name_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    /* At most 200 characters, whatever bytes they take; not UTF-8 is no name. */
    size_t chars = twin_util_utf8_chars(s, n);
    if (n == 0 || chars == SIZE_MAX || chars > 200)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == '<' || *p == '>')
            return false;
    const char *what;
    return s[0] != ' ' && s[n - 1] != ' ' && !twin_record_hidden_char(s, &what);
}

static bool side_ok(const char *s)
{
    for (int i = 0; side_names[i]; i++)
        if (s && strcmp(s, side_names[i]) == 0)
            return true;
    return false;
}

int twin_node_identity_check(const struct twin_identity *who)
{
    if (who->name && twin_util_utf8_chars(who->name, strlen(who->name)) == SIZE_MAX)
        return twin_error(TWIN_EINVALID, "name: not valid UTF-8");
    if (!twin_node_name_valid(who->name))
        return twin_error(TWIN_EINVALID, "name: required, one line of at most 200 characters "
                                         "without '<', '>', or characters that hide or reorder "
                                         "text (bidirectional controls, zero width space)");
    if (!who->org_id || !twin_record_org_id_valid(who->org_id))
        return twin_error(TWIN_EINVALID,
                          "org-id '%s' is not an organisation identifier (letters, digits, "
                          "'-', '_', '.'; e.g. XE-EXAMPLE-MINISTRY)",
                          who->org_id ? who->org_id : "");
    if (!who->country || !twin_codes_valid(TWIN_CODES_COUNTRY, who->country))
        return twin_error(TWIN_EINVALID, "country '%s' is not an ISO 3166-1 code (e.g. NL, TZ)",
                          who->country ? who->country : "");
    if (!side_ok(who->side))
        return twin_error(TWIN_EINVALID, "side '%s' is not one of north | south | donor | broker",
                          who->side ? who->side : "");
    if (who->org_type && !twin_codes_valid(TWIN_CODES_ORGANISATION_TYPE, who->org_type))
        return twin_error(TWIN_EINVALID, "org-type '%s' is not an IATI organisation type code",
                          who->org_type);
    return 0;
}

static int load_settings(twin_node *n, twin_node_settings_fn recover)
{
    char *net = NULL;
    int rc = twin_node_config_get(&net, n, "twin.network");
    if (rc == TWIN_ENOTFOUND && recover) {
        twin_error_clear();
        if ((rc = recover(n)) == 0)
            rc = twin_node_config_get(&net, n, "twin.network");
    }
    if (rc)
        return twin_error_wrap(rc, "node settings");
    if (!twin_node_network_id_valid(net)) {
        free(net);
        return twin_error(TWIN_EINVALID, "node settings: twin.network is not a network id");
    }
    memcpy(n->network_id, net, TWIN_NETWORK_ID_LEN + 1);
    free(net);
    if ((rc = twin_node_config_get(&n->org_id, n, "twin.orgid")))
        return twin_error_wrap(rc, "node settings");
    if (!twin_record_org_id_valid(n->org_id))
        return twin_error(TWIN_EINVALID, "node settings: twin.orgid '%s' is not an organisation id",
                          n->org_id);
    return check_setting_text(n, "twin.name");
}

int twin_node_init(twin_node **out, const char *dir, const struct twin_identity *who,
                   twin_node_found_fn found, void *found_ctx, const char *join_network_id)
{
    *out = NULL;
    int rc = 0;
    char *tmp = NULL, *keypath = NULL, *repopath = NULL;
    twin_node *n = NULL;
    git_repository *repo = NULL;
    struct stat st;

    if ((found != NULL) == (join_network_id != NULL))
        return twin_error(TWIN_EINVALID, "give either a network to found or an id to join");
    if ((rc = twin_node_identity_check(who)))
        return rc;
    if (join_network_id && !twin_node_network_id_valid(join_network_id))
        return twin_error(TWIN_EINVALID, "'%s' is not a network id (%d hex digits)",
                          join_network_id, TWIN_NETWORK_ID_LEN);
    if (stat(dir, &st) == 0) {
        char *probe = join_path(dir, "node.key");
        bool has_key = probe && stat(probe, &st) == 0;
        free(probe);
        if (has_key)
            return twin_error(TWIN_EEXISTS, "a node already exists in %s", dir);
    }
    if ((rc = mkdir_parents(dir)))
        return rc;

    size_t tlen = strlen(dir) + 16;
    if (!(tmp = malloc(tlen)))
        return twin_error(TWIN_ERROR, "out of memory");
    snprintf(tmp, tlen, "%s.init-XXXXXX", dir);
    if (!mkdtemp(tmp)) {
        rc =
            twin_error(TWIN_ERROR, "cannot create a directory beside %s: %s", dir, strerror(errno));
        free(tmp);
        return rc;
    }
    if (!(keypath = join_path(tmp, "node.key")) || !(repopath = join_path(tmp, "repo.git"))) {
        rc = twin_error(TWIN_ERROR, "out of memory");
        goto cleanup;
    }
    if (!(n = calloc(1, sizeof(*n)))) {
        rc = twin_error(TWIN_ERROR, "out of memory");
        goto cleanup;
    }
    if ((rc = twin_key_generate(&n->key)) || (rc = twin_key_save(keypath, &n->key, who->org_id)))
        goto cleanup;

    git_repository_init_options opts = GIT_REPOSITORY_INIT_OPTIONS_INIT;
    opts.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH;
    opts.initial_head = "main";
    if (git_repository_init_ext(&repo, repopath, &opts) < 0) {
        rc = twin_error_git("creating the repository");
        goto cleanup;
    }
    const char *keys[] = {"twin.name", "twin.orgid",   "twin.country",
                          "twin.side", "twin.orgtype", "core.logallrefupdates"};
    const char *values[] = {who->name, who->org_id,   who->country,
                            who->side, who->org_type, "always"};
    if ((rc = config_write(repo, 6, keys, values)))
        goto cleanup;

    if (found) {
        if ((rc = found(n->network_id, repo, &n->key, who, found_ctx)))
            goto cleanup;
    } else {
        memcpy(n->network_id, join_network_id, TWIN_NETWORK_ID_LEN + 1);
    }
    if ((rc = set_config(repo, "twin.network", n->network_id)))
        goto cleanup;
    git_repository_free(repo);
    repo = NULL;

    if (rename(tmp, dir) != 0) {
        rc = errno == ENOTEMPTY || errno == EEXIST
                 ? twin_error(TWIN_EEXISTS, "%s exists and is not empty; choose another --dir", dir)
                 : twin_error(TWIN_ERROR, "cannot move the new node into %s: %s", dir,
                              strerror(errno));
        goto cleanup;
    }
    twin_node_free(n);
    n = NULL;
    rc = twin_node_open(out, dir, NULL);

cleanup:
    git_repository_free(repo);
    twin_node_free(n);
    if (rc)
        remove_tree(tmp);
    free(tmp);
    free(keypath);
    free(repopath);
    return rc;
}

int twin_node_open(twin_node **out, const char *dir, twin_node_settings_fn recover)
{
    *out = NULL;
    int rc = 0;
    twin_node *n = calloc(1, sizeof(*n));
    char *keypath = join_path(dir, "node.key"), *repopath = join_path(dir, "repo.git");
    struct stat st;
    if (!n || !keypath || !repopath) {
        rc = twin_error(TWIN_ERROR, "out of memory");
        goto cleanup;
    }
    if (stat(repopath, &st) != 0) {
        rc = twin_error(TWIN_ENOTFOUND, "no twin node in %s (create one with: twin init)", dir);
        goto cleanup;
    }
    if (stat(keypath, &st) != 0) {
        rc = twin_error(TWIN_ENOTFOUND,
                        "the node key %s is missing: this node cannot sign or sync without it "
                        "(restore it from the node's backup, or ask an admin to add a new key "
                        "for your institution)",
                        keypath);
        goto cleanup;
    }
    if (!(n->dir = strdup(dir))) {
        rc = twin_error(TWIN_ERROR, "out of memory");
        goto cleanup;
    }
    if ((rc = twin_key_load(&n->key, keypath))) {
        rc = twin_error_wrap(rc, "node key %s", keypath);
        goto cleanup;
    }
    if (git_repository_open_bare(&n->repo, repopath) < 0) {
        rc = twin_error_git("opening the node's repository");
        goto cleanup;
    }
    if ((rc = load_settings(n, recover)))
        goto cleanup;
    *out = n;
    n = NULL;
cleanup:
    twin_node_free(n);
    free(keypath);
    free(repopath);
    return rc;
}

int twin_node_previous_key(twin_keypair *out, twin_node *n)
{
    char *path = join_path(n->dir, TWIN_NODE_PREV_KEY);
    struct stat st;
    int rc = !path                  ? twin_error(TWIN_ERROR, "out of memory")
             : stat(path, &st) != 0 ? TWIN_ENOTFOUND
                                    : twin_key_load(out, path);
    free(path);
    return rc;
}

int twin_node_adopt_new_key(twin_node *n)
{
    char *from = join_path(n->dir, TWIN_NODE_NEW_KEY), *to = join_path(n->dir, "node.key");
    twin_keypair kp;
    int rc = 0;
    if (!from || !to)
        rc = twin_error(TWIN_ERROR, "out of memory");
    else if ((rc = twin_key_load(&kp, from)) == 0) {
        /* The key being replaced stays as node.key.prev, to open sessions with peers that have
         * not seen the rotation yet; it signs nothing. */
        char *prev = join_path(n->dir, TWIN_NODE_PREV_KEY);
        if (prev) {
            unlink(prev);
            if (link(to, prev) != 0) {
                /* Without it, peers learn the new key through other members instead. */
            }
        }
        free(prev);
        twin_util_test_stop("rotate-linked");
        if (rename(from, to) != 0) {
            rc = twin_error(TWIN_ERROR, "cannot put the new key in place: %s", strerror(errno));
        } else {
            int fd = open(n->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (fd >= 0) {
                fsync(fd);
                close(fd);
            }
            twin_key_wipe(&n->key);
            n->key = kp;
        }
        if (rc)
            twin_key_wipe(&kp);
    }
    free(from);
    free(to);
    return rc;
}

int twin_node_reload_key(twin_node *n)
{
    char *path = join_path(n->dir, "node.key");
    twin_keypair kp;
    int rc = path ? twin_key_load(&kp, path) : twin_error(TWIN_ERROR, "out of memory");
    if (rc == 0) {
        twin_key_wipe(&n->key);
        n->key = kp;
    }
    free(path);
    return rc;
}

/* The nodes left to the process's end, kept reachable: what is left is not lost. */
static twin_node *left;

void twin_node_leave(twin_node *n)
{
    if (!n)
        return;
    twin_wraps_free(n->wraps);
    n->wraps = NULL;
    twin_key_wipe(&n->key);
    n->next_left = left;
    left = n;
}

void twin_node_free(twin_node *n)
{
    if (!n)
        return;
    twin_wraps_free(n->wraps);
    git_repository_free(n->repo);
    if (n->read_out)
        twin_gitopts_end(TWIN_GITOPTS_UNHASHED);
    twin_key_wipe(&n->key);
    free(n->dir);
    free(n->org_id);
    free(n);
}

int twin_node_wraps(twin_wraps **out, twin_node *n)
{
    int rc = n->wraps ? 0 : twin_wraps_open(&n->wraps, n->dir);
    *out = n->wraps;
    return rc;
}

int twin_node_read_out(twin_node *n)
{
    int rc = n->read_out ? 0 : twin_gitopts_begin(TWIN_GITOPTS_UNHASHED);
    if (rc == 0)
        n->read_out = true;
    return rc;
}

bool twin_node_writer_limited(const twin_node *n)
{
    return n->limited;
}

void twin_node_set_writer_limited(twin_node *n, bool limited)
{
    n->limited = limited;
}

const char *twin_node_last_proposal(const twin_node *n)
{
    return n->proposal[0] ? n->proposal : NULL;
}

void twin_node_set_last_proposal(twin_node *n, const char *id)
{
    snprintf(n->proposal, sizeof(n->proposal), "%s", id ? id : "");
}

const char *twin_node_dir(const twin_node *n)
{
    return n->dir;
}

git_repository *twin_node_repo(twin_node *n)
{
    return n->repo;
}

const twin_keypair *twin_node_key(const twin_node *n)
{
    return &n->key;
}

const char *twin_node_network_id(const twin_node *n)
{
    return n->network_id;
}

const char *twin_node_org_id(const twin_node *n)
{
    return n->org_id;
}

int twin_node_head(git_oid *out, twin_node *n)
{
    int err = git_reference_name_to_id(out, n->repo, TWIN_BRANCH);
    if (err == GIT_ENOTFOUND)
        return twin_error(TWIN_ENOHISTORY,
                          "this node has no history yet: it joined network %s and must first "
                          "sync with a partner that has added its key (twin sync)",
                          n->network_id);
    if (err < 0)
        return twin_error_git("reading the branch");
    return 0;
}

int twin_node_commit(git_oid *out, twin_node *n, const char *rev)
{
    git_object *obj = NULL;
    int rc = 0;
    if (git_revparse_single(&obj, n->repo, rev) < 0 || git_object_type(obj) != GIT_OBJECT_COMMIT)
        rc = twin_error(TWIN_EINVALID, "%s: not a commit of this node", rev);
    else
        *out = *git_object_id(obj);
    git_object_free(obj);
    return rc;
}

int twin_node_config_get(char **out, twin_node *n, const char *key)
{
    *out = NULL;
    git_config *cfg = NULL;
    git_buf buf = GIT_BUF_INIT;
    int rc = 0;
    if (git_repository_config(&cfg, n->repo) < 0)
        return twin_error_git("opening repository config");
    int err = git_config_get_string_buf(&buf, cfg, key);
    if (err == GIT_ENOTFOUND)
        rc = twin_error(TWIN_ENOTFOUND, "setting %s is not set", key);
    else if (err < 0)
        rc = twin_error_git("reading repository config");
    else if (!(*out = strdup(buf.ptr)))
        rc = twin_error(TWIN_ERROR, "out of memory");
    git_buf_dispose(&buf);
    git_config_free(cfg);
    return rc;
}

int twin_node_config_set(twin_node *n, const char *key, const char *value)
{
    return set_config(n->repo, key, value);
}

int twin_node_config_unset(twin_node *n, const char *key)
{
    const char *none = NULL;
    return config_write(n->repo, 1, &key, &none);
}

int twin_node_config_write(twin_node *n, size_t count, const char *const keys[],
                           const char *const values[])
{
    return config_write(n->repo, count, keys, values);
}
