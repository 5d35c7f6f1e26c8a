/*
 * A node's data directory: the node key (node.key, mode 0600), the bare git repository that
 * holds the shared history (repo.git, branch refs/heads/main), and the node's settings in that
 * repository's own config (section [twin]).
 */
#ifndef TWIN_NODE_H
#define TWIN_NODE_H

#include <git2.h>
#include <stdbool.h>

#include "twin/key.h"

#define TWIN_BRANCH         "refs/heads/main"
#define TWIN_NETWORK_ID_LEN 32 /* hex characters */

typedef struct twin_node twin_node;

struct twin_identity {
    const char *name;     /* the institution's name */
    const char *org_id;   /* its IATI organisation identifier */
    const char *country;  /* ISO 3166-1 alpha-2 */
    const char *side;     /* north | south | donor | broker */
    const char *org_type; /* IATI OrganisationType code, or NULL */
};

/* Whether id is a network id: TWIN_NETWORK_ID_LEN lowercase hex digits. */
bool twin_node_network_id_valid(const char *id);

/* Whether s is a name: one line of 1 to 200 characters (code points of valid UTF-8, however many
 * bytes they take), without '<' or '>' (which would break a commit's author line), leading or
 * trailing spaces, or characters that hide or reorder text. */
bool twin_node_name_valid(const char *s);

/* Checks an institution's identity: TWIN_EINVALID naming the first field that is wrong. */
int twin_node_identity_check(const struct twin_identity *who);

/* Writes the first commit of a new network into the repository of a node being created, signed
 * with key, points the branch at it and hands back the network's id (twin_network_create passes
 * twin_network_found). */
typedef int (*twin_node_found_fn)(char id_out[static TWIN_NETWORK_ID_LEN + 1], git_repository *repo,
                                  const twin_keypair *key, const struct twin_identity *who,
                                  void *ctx);

/* Creates a node: data directory, key, bare repository, all in a directory beside dir that takes
 * its place only when complete. With found, it founds a network (found writes the genesis
 * commit); with join_network_id instead, it belongs to that network and holds no history yet.
 * Refuses to overwrite an existing node (TWIN_EEXISTS). */
int twin_node_init(twin_node **out, const char *dir, const struct twin_identity *who,
                   twin_node_found_fn found, void *found_ctx, const char *join_network_id);

/* Writes the settings of a node whose repository lacks them (twin_network_settings_from_history).
 */
typedef int (*twin_node_settings_fn)(twin_node *n);

/* Opens an existing node. TWIN_ENOTFOUND with a hint to run `twin init` when there is none.
 * When the repository lacks the node's settings, recover writes them, or (NULL) the open fails.
 * A key rotation cut short is not settled here: front ends open nodes with twin_ops_open. */
int twin_node_open(twin_node **out, const char *dir, twin_node_settings_fn recover);

void twin_node_free(twin_node *n);

/* Ends the use of n in a process about to end: its key wiped and its files closed, as
 * twin_node_free does, but its repository's memory and mapped packs left to the process's end,
 * which drops them at once, where freeing them piece by piece costs about a millisecond on a store
 * of several packs. libgit2 is then left as it is too (no twin_global_shutdown). */
void twin_node_leave(twin_node *n);

/* The directory to use: dir if given, else $TWIN_DIR, else $XDG_DATA_HOME/twin, else
 * $HOME/.local/share/twin. Returns malloc'd text. */
char *twin_node_default_dir(const char *dir);

const char *twin_node_dir(const twin_node *n);
git_repository *twin_node_repo(twin_node *n);
const twin_keypair *twin_node_key(const twin_node *n);
const char *twin_node_network_id(const twin_node *n);
const char *twin_node_org_id(const twin_node *n);

/* The head of the shared branch. TWIN_ENOHISTORY when the node has none yet (joined a network
 * and has not synced). */
int twin_node_head(git_oid *out, twin_node *n);

/* The commit of this node's store that rev names: a commit id, a unique prefix of one, or a git
 * revision such as HEAD~3 or refs/heads/twin. TWIN_EINVALID, naming rev, when it names no commit
 * of this node. */
int twin_node_commit(git_oid *out, twin_node *n, const char *rev);

/* A key rotation writes the new key here first (see twin_ops_key_rotate), and holds the lock
 * file while it runs. */
#define TWIN_NODE_NEW_KEY  "node.key.new"
#define TWIN_NODE_KEY_LOCK "node.key.lock"

/* After a rotation, the key it replaced: kept only to open sessions with peers that do not
 * know the new key yet (see twin_sync_peer). */
#define TWIN_NODE_PREV_KEY "node.key.prev"
int twin_node_previous_key(twin_keypair *out, twin_node *n);

/* Puts node.key.new in place of node.key and uses it from now on (the old one becomes
 * node.key.prev). */
int twin_node_adopt_new_key(twin_node *n);

/* Reads node.key again, for a handle that may have outlived another process's rotation. */
int twin_node_reload_key(twin_node *n);

/* Marks the handle as one that only reads records out (list, show, export, status): until it is
 * freed, libgit2 does not hash each object it reads again, as git does outside fsck (twin verify
 * hashes every object it reads). twin's own readers keep their checks. 0, or an error from
 * libgit2. */
int twin_node_read_out(twin_node *n);

/* Whether this node's member may write only in the partnerships it takes part in (member.scope),
 * as last found when checking that it may write. */
bool twin_node_writer_limited(const twin_node *n);
void twin_node_set_writer_limited(twin_node *n, bool limited);

/* When the policy needs several admins, a membership or policy change made through this handle
 * is recorded as a proposal: its id, or NULL when the last such change took effect at once. */
const char *twin_node_last_proposal(const twin_node *n);
void twin_node_set_last_proposal(twin_node *n, const char *id);

/* Reads and writes the node's settings ([twin] section of the repository config). */
int twin_node_config_get(char **out, twin_node *n, const char *key);
int twin_node_config_set(twin_node *n, const char *key, const char *value);
/* Removes a setting; 0 also when it was not set. */
int twin_node_config_unset(twin_node *n, const char *key);
/* Sets each keys[i] to values[i], or removes it when values[i] is NULL, in one turn of the
 * config lock (repo.git/twin-config.lock): twin processes that write the config at once, such as
 * a command run beside serve, queue there instead of failing on git's config.lock. Stops at the
 * first failure. */
int twin_node_config_write(twin_node *n, size_t count, const char *const keys[],
                           const char *const values[]);

/* The node's wrap store (src/store/wraps.h), opened on first use and closed with the node. */
typedef struct twin_wraps twin_wraps;
int twin_node_wraps(twin_wraps **out, twin_node *n);

#endif
