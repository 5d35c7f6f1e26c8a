/*
 * The single validity predicate for commits of the shared history. A commit is valid when its
 * SSH signature verifies, its key belongs to a member allowed to make the change in the
 * membership of its parent (for the genesis: the founder), the key is active there, and every
 * change is well formed. Sync ingest and `twin verify` both call twin_validity_check_commit.
 */
#ifndef TWIN_VALIDITY_H
#define TWIN_VALIDITY_H

#include <git2.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "twin/key.h"
#include "twin/record.h"

struct twin_check {
    bool valid;
    char reason[600]; /* why it is not valid; "" when valid */
    bool has_signer;  /* the signature verified and named a key */
    unsigned char signer[TWIN_PUBKEY_BYTES];
    char org_id[128]; /* the member who signed, "" when not a member */
    bool is_merge;
    size_t changes; /* files the commit changes */
    int64_t time;   /* committer time, seconds since the epoch; 0 when the commit was not read */
    bool damaged;   /* not valid because the store is damaged: an object the check read cannot
                       be read, or does not match its id (reason names it) */
};

/* Commits dated more than this many seconds after the reading node's clock are named, by verify,
 * log and sync (README, "Clocks"); they are judged like any other. */
#define TWIN_AHEAD_SECONDS 86400

/* A commit dated that far ahead. */
struct twin_ahead {
    git_oid commit;
    int64_t time;     /* its committer time */
    char org_id[128]; /* the member who signed it, "" when none */
};

/* Whether a commit dated t is that far ahead of a clock that reads now. */
static inline bool twin_is_ahead(int64_t t, int64_t now)
{
    return now <= INT64_MAX - TWIN_AHEAD_SECONDS && t > now + TWIN_AHEAD_SECONDS;
}

typedef struct twin_check_cache twin_check_cache;

/* A cache of parsed membership and recently read trees, to share between calls on one thread
 * with one repository; free it before the repository. */
int twin_validity_cache_new(twin_check_cache **out);
void twin_validity_cache_free(twin_check_cache *c);

/* Has the cache read objects of repo out of the packs of the directories given, by twin's own
 * reader, before asking libgit2 (for a repository made around an object database). */
int twin_validity_cache_pack_dirs(twin_check_cache *c, git_repository *repo,
                                  const char *const *dirs, size_t ndirs);

/* Takes the objects the cache reads out of the packs of the first directory given to
 * twin_validity_cache_pack_dirs as hashed already: for the check of a received pack the indexer has
 * just hashed. Objects of the other directories (the store), and those read through libgit2, are
 * still hashed: the store's files may have been damaged since their objects were written. */
void twin_validity_cache_trust_received(twin_check_cache *c);

/* Has the cache keep less of the packs in memory, at a few per cent of the time: for the check of
 * received history, whose peak memory counts. */
void twin_validity_cache_lean(twin_check_cache *c);

/* As twin_validity_cache_lean, keeping at most cache_bytes of the objects it read: for each of
 * the threads of a check that runs on every core, whose caches add up. */
void twin_validity_cache_lean_to(twin_check_cache *c, size_t cache_bytes);

/* Keeps at most trees trees in the cache's tree cache (twin_treecache_keep), set before the first
 * check. */
void twin_validity_cache_keep_trees(twin_check_cache *c, size_t trees);

/* Has the cache read trees through trees, a tree cache of the library's own (the one a batch of
 * commits read its trees through, bound to the repository the check reads), which outlives the
 * check's cache, instead of through its own: the trees the writer read are then read once. */
struct twin_treecache;
void twin_validity_cache_share_trees(twin_check_cache *c, struct twin_treecache *trees);

/* Called with each version of a sealed record (its blob id and its envelope as the check read it,
 * valid during the call) that a checked commit brings and the rules for sealed records accept,
 * from the thread that checked it; the rest of the commit may still be refused. */
struct twin_envelope;
typedef void (*twin_validity_sealed_fn)(const git_oid *blob, const struct twin_envelope *envelope,
                                        void *ctx);
void twin_validity_cache_on_sealed(twin_check_cache *c, twin_validity_sealed_fn fn, void *ctx);

/* Checks one commit. Returns 0 when the check ran (the verdict is in *out), or a negative code
 * when it could not run (an object is missing, I/O). cache may be NULL. */
int twin_validity_check_commit(struct twin_check *out, git_repository *repo, const git_oid *commit,
                               twin_check_cache *cache);

/* Checks just the signature: splits the gpgsig header and verifies it under namespace "git". */
int twin_validity_check_signature(unsigned char signer[static TWIN_PUBKEY_BYTES], char *reason,
                                  size_t reason_size, git_repository *repo, const git_oid *commit);

/* The rule for an editor limited to its own partnerships (member.scope): each version of a
 * changed record (old may be NULL) must belong to a partnership that institution org_id takes
 * part in, as lookup (records before the change) shows. Sets fault when it does not. */
int twin_validity_check_scope(char *fault, size_t fault_size, const json_t *old, const json_t *cur,
                              const char *org_id, twin_record_lookup_fn lookup, void *before);

/* The rule for a contribution's "confirmed" (cur a contribution, old its previous version or
 * NULL), for a change made by member org_id: only a member whose org id is the contributing
 * institution's org_id, as lookup shows it, sets, changes or removes it, and only to the status
 * cur has. Sets fault, naming the rule, when the change breaks it; leaves it empty otherwise. */
int twin_validity_check_confirmation(char *fault, size_t fault_size, const json_t *old,
                                     const json_t *cur, const char *org_id,
                                     twin_record_lookup_fn lookup, void *ctx);

/* The rule for a recommendation's "response" (cur a recommendation, old its previous version or
 * NULL), for a change made by member org_id: only a member whose org id is the addressee
 * institution's org_id gives, changes or removes it. Sets fault as
 * twin_validity_check_confirmation does. */
int twin_validity_check_response(char *fault, size_t fault_size, const json_t *old,
                                 const json_t *cur, const char *org_id,
                                 twin_record_lookup_fn lookup, void *ctx);

struct twin_member;
struct twin_membership;

/* The rules for sealed records that every node can judge (proto/SEALED.md 7), on a change from
 * old (NULL: a new record) to cur by member who, on a parent whose membership is m: the
 * envelope's form and audience, the changes allowed over time, and, when the policy seals
 * personal data, that a record in the clear adds or changes no personal field. Sets fault when
 * the change breaks one; *erasure when it is an erasure (which governance then checks). Returns
 * <0 only on an internal error. */
int twin_validity_check_sealed(char *fault, size_t fault_size, bool *erasure, const json_t *cur,
                               const json_t *old, const struct twin_member *who,
                               const struct twin_membership *m);

#endif
