/*
 * Audit of the whole history: every commit through the validity predicate (on several threads),
 * a check that the branch never moved to a line that drops what it once held, and a summary per
 * member. Also the per-record change log.
 */
#ifndef TWIN_AUDIT_H
#define TWIN_AUDIT_H

#include <git2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "twin/membership.h"
#include "twin/node.h"
#include "twin/validity.h"

struct twin_fault {
    git_oid commit; /* zero for faults not tied to one commit */
    char reason[600];
    /* Damage to the store's files: the file ("pack-<hex>.pack", "pack-<hex>.idx",
     * "objects/<xx>/<rest>"), and the object and offset where known. file is "" otherwise. */
    char file[96];
    bool has_object, has_offset;
    git_oid object;
    uint64_t offset;
};

#define TWIN_SUMMARY_MAX_KEYS 16

struct twin_member_summary {
    char org_id[128];
    size_t commits;
    int64_t first, last; /* commit times, seconds since the epoch */
    size_t nkeys;        /* the keys its valid commits were signed with */
    unsigned char keys[TWIN_SUMMARY_MAX_KEYS][TWIN_PUBKEY_BYTES];
};

/* A key's valid commits: the earliest and latest committer time among them. */
struct twin_key_span {
    unsigned char key[TWIN_PUBKEY_BYTES];
    int64_t first, last;
};

struct twin_verify_report {
    char ref[256]; /* the branch checked */
    git_oid head;
    /* The network the genesis describes ("" when the genesis holds none a reader can take). */
    char network_id[TWIN_NETWORK_ID_LEN + 1];
    bool incremental; /* checked only the commits after `since` */
    git_oid since;
    size_t commits;
    size_t nfaults;
    struct twin_fault *faults;
    size_t nmembers;
    struct twin_member_summary *members;
    size_t nspans;
    struct twin_key_span *spans; /* one per key that signed valid commits */
    int64_t now;                 /* this node's clock when verify began */
    size_t nahead;
    struct twin_ahead *ahead; /* commits dated more than a day after now, oldest first: warnings,
                                 not faults */
    /* The check of the store's files (all of verify but --since): what it read. */
    bool store_checked;
    size_t packs, packed_objects, loose_objects;
};

/* Verifies the whole history of the node's branch with up to threads threads (0: one per
 * core), and the store's files as git fsck does (every pack and index, every loose object,
 * reached or not: storecheck.h). Returns 0 when the check ran, whatever it found; faults are in
 * the report, damage to the store first, and so are the commits dated more than a day ahead of
 * this node's clock. A history that cannot be read on a damaged store is a fault too. */
int twin_audit_verify(struct twin_verify_report **out, twin_node *n, int threads);

/* Verifies only what the history gained after commit since (a commit the branch held before):
 * the new commits, that since is still in the history, and that every head the branch was
 * moved to after since still is. */
int twin_audit_verify_since(struct twin_verify_report **out, twin_node *n, int threads,
                            const git_oid *since);
void twin_audit_verify_report_free(struct twin_verify_report *r);

/* Verifies a copy of a network's history outside any node: a plain git clone (bare or with a
 * working tree), a mirror, or a backup's repository, at path. The checks are twin_audit_verify's
 * but those that need a node: every commit from the genesis through the validity predicate, the
 * branch's past heads (its reflog, and twin's journal where the copy has one), the store's files.
 * The branch is TWIN_BRANCH, or in a clone without it a remote's copy of it
 * (refs/remotes/origin/main first); the report names it (ref), and the network its genesis
 * describes. With network_id, a genesis of another network is a fault naming both. Nothing is
 * written to the repository. TWIN_ENOTFOUND when path does not exist or holds no twin branch,
 * TWIN_EINVALID when it is not a git repository or network_id is not a network id. */
int twin_audit_verify_repo(struct twin_verify_report **out, const char *path,
                           const char *network_id, int threads);

struct twin_log_entry {
    git_oid commit;
    int64_t time;
    char summary[300];
    char org_id[128];               /* the signing member, "" if none */
    char key[TWIN_OPENSSH_PUB_MAX]; /* the signing key, "" if unsigned */
    int valid;                      /* 1 valid, 0 not */
    char reason[600];               /* why not valid */
    bool ahead; /* dated more than a day ahead of this node's clock (TWIN_AHEAD_SECONDS) */
};

typedef int (*twin_log_entry_fn)(const struct twin_log_entry *e, void *ctx);

/* Calls fn for each commit from the head back (newest first) that changed record id (every
 * commit when id is NULL), with its signer and verdict. */
int twin_audit_log(twin_node *n, const char *id, twin_log_entry_fn fn, void *ctx);

/* Which changes a log gives. Commits are dated by their committer time. */
struct twin_log_query {
    const char *id;       /* the changes of this record, or NULL for every change */
    const char *type;     /* only changes to records of this type, or NULL */
    const char *member;   /* only changes signed by this member (an org id), or NULL */
    int64_t since, until; /* only commits dated within these, both included (INT64_MIN, INT64_MAX:
                             no bound) */
    size_t limit;         /* at most this many, 0 for no limit */
};

/* Calls fn for each change q selects, newest first, with its signer and verdict, as it goes.
 * Without a limit, the whole history in topological order (each commit before its parents; of
 * those ready, the latest dated first). With one, by date alone as git log does, reading the
 * history only as far back as the changes given. */
int twin_audit_log_query(twin_node *n, const struct twin_log_query *q, twin_log_entry_fn fn,
                         void *ctx);

/* How many commits the history from head holds. Each one is read, and one that cannot be is
 * named as an error, so a count is always whole. */
int twin_audit_log_count(size_t *count, twin_node *n, const git_oid *head);

/* Where a node's history stands: what `twin status` shows. */
struct twin_status {
    git_oid head;
    int64_t time;                       /* the head commit's committer time */
    char summary[300];                  /* the first line of its message */
    size_t commits;                     /* commits in the history from the head */
    struct twin_membership *membership; /* at the head */
    const struct twin_member *me;       /* this node's institution in it, or NULL */
    size_t *per_type; /* records of each type, in the order of twin_record_types() */
    size_t withdrawn; /* of them, withdrawn */
};

/* Reads where n's history stands: TWIN_ENOHISTORY when it has none yet. Every commit of the
 * history is read to count it, and every record at the head. Free with twin_audit_status_free. */
int twin_audit_status(struct twin_status **out, twin_node *n);
void twin_audit_status_free(struct twin_status *s);

/* The sealed records at the head as this node sees them (proto/SEALED.md): counts, the
 * erasures with their reasons, and findings: content this node opens that breaks the rules the
 * predicate cannot see (reported, never refused), and keys of erased records it still held
 * (deleted as they are found). */
struct twin_erasure {
    char type[32], id[64], reason[1024];
};
struct twin_sealed_finding {
    char text[700];
};
struct twin_sealed_report {
    size_t sealed, opened, closed, erased;
    size_t keys_deleted; /* keys of erased records found and deleted */
    struct twin_erasure *erasures;
    size_t nerasures, erasures_cap;
    struct twin_sealed_finding *findings;
    size_t nfindings, findings_cap;
};
int twin_sealedcheck_run(struct twin_sealed_report **out, twin_node *n);
void twin_sealedcheck_free(struct twin_sealed_report *r);

#endif
