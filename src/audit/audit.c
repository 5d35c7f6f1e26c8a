/*
 * Audit. Each commit's verdict depends only on the commit and its parent, so the history is cut
 * into contiguous runs checked on separate threads, each with its own repository handle (libgit2
 * wants one per thread) and its own membership and tree cache.
 */
#include "twin/audit.h"

#include <errno.h>
#include <git2/sys/odb_backend.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rules/checkrun.h"
#include "git/gitopts.h"
#include "git/history.h"
#include "git/packread.h"
#include "twin/listcache.h"
#include "twin/membership.h"
#include "twin/ops.h"
#include "store/storecheck.h"
#include "git/treediff.h"
#include "twin/error.h"
#include "twin/progress.h"
#include "twin/tree.h"
#include "twin/store.h"
#include "twin/global.h"
#include "twin/record.h"
#include "twin/validity.h"
#include "base/util.h"

/* What verify checks: a repository and its branch. A node's (n set: its head and its network
 * come from the node), or a copy of a network's history outside any node, where network_id,
 * when not NULL, is the network the auditor expects. */
struct source {
    git_repository *repo;
    const char *ref;
    twin_node *node;
    const char *network_id;
    const char *network_owner; /* whose network network_id is, for the fault naming both */
};

static int source_head(git_oid *out, const struct source *src)
{
    if (src->node)
        return twin_node_head(out, src->node);
    if (git_reference_name_to_id(out, src->repo, src->ref) < 0)
        return twin_error_git("reading the branch");
    return 0;
}

static void close_repo(git_repository *repo, void *extra, void *ctx)
{
    git_repository_free(repo);
}

/* What verify keeps of each commit's check until the tally, in commit order. The whole struct
 * twin_check is about 800 bytes, mostly room for the reason an invalid commit has: 80 MB over a
 * history of 100k commits, where this is 6 MB. */
struct verdict {
    int64_t time;
    unsigned char signer[TWIN_PUBKEY_BYTES];
    unsigned member; /* 1 + its index in verdicts.orgs; 0: not signed by a member */
    bool valid;
    char *reason; /* only when not valid */
};

struct verdicts {
    const char *repo_path;
    struct verdict *results;
    pthread_mutex_t lock; /* for what follows */
    char (*orgs)[sizeof(((struct twin_check *)0)->org_id)];
    size_t norgs, orgs_cap;
    atomic_bool out_of_memory;
    size_t count; /* commits to check */
};

static int report_verdicts(size_t done, void *ctx)
{
    const struct verdicts *v = ctx;
    twin_progress_report("checking commits", "commits", done, v->count);
    return 0;
}

static int open_verdicts_repo(git_repository **repo, void **extra, void *ctx)
{
    *extra = NULL;
    return git_repository_open_bare(repo, ((struct verdicts *)ctx)->repo_path) < 0
               ? twin_error_git("opening the repository")
               : 0;
}

static void keep_verdict(size_t index, const struct twin_check *check, void *ctx)
{
    struct verdicts *v = ctx;
    struct verdict *d = &v->results[index];
    d->valid = check->valid;
    d->time = check->time;
    memcpy(d->signer, check->signer, sizeof(d->signer));
    if (!check->valid && !(d->reason = strdup(check->reason)))
        atomic_store(&v->out_of_memory, true);
    if (!check->org_id[0])
        return;
    pthread_mutex_lock(&v->lock);
    size_t k = 0;
    while (k < v->norgs && strcmp(v->orgs[k], check->org_id) != 0)
        k++;
    if (k == v->norgs) {
        if (twin_util_grow((void **)&v->orgs, &v->orgs_cap, v->norgs + 1, sizeof(*v->orgs))) {
            atomic_store(&v->out_of_memory, true);
            pthread_mutex_unlock(&v->lock);
            return;
        }
        snprintf(v->orgs[v->norgs++], sizeof(*v->orgs), "%s", check->org_id);
    }
    d->member = (unsigned)k + 1;
    pthread_mutex_unlock(&v->lock);
}

static int add_fault(struct twin_verify_report *r, const git_oid *commit, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int add_fault(struct twin_verify_report *r, const git_oid *commit, const char *fmt, ...)
{
    struct twin_fault *f = twin_util_realloc_array(r->faults, r->nfaults + 1, sizeof(*f));
    if (!f)
        return twin_error(TWIN_ERROR, "out of memory");
    r->faults = f;
    f = &r->faults[r->nfaults++];
    memset(f, 0, sizeof(*f));
    if (commit)
        f->commit = *commit;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->reason, sizeof(f->reason), fmt, ap);
    va_end(ap);
    return 0;
}

static int add_ahead(struct twin_verify_report *r, const git_oid *commit, int64_t t,
                     const char *org_id)
{
    /* Room for 16, then doubled whenever full (at each power of two from 16). */
    if (r->nahead == 0 || (r->nahead >= 16 && (r->nahead & (r->nahead - 1)) == 0)) {
        struct twin_ahead *grown =
            twin_util_realloc_array(r->ahead, r->nahead ? 2 * r->nahead : 16, sizeof(*grown));
        if (!grown)
            return twin_error(TWIN_ERROR, "out of memory");
        r->ahead = grown;
    }
    struct twin_ahead *a = &r->ahead[r->nahead++];
    memset(a, 0, sizeof(*a));
    a->commit = *commit;
    a->time = t;
    snprintf(a->org_id, sizeof(a->org_id), "%s", org_id);
    return 0;
}

/* Widens the span of key's valid commits to t; *hint is the index the last call found. */
static int note_span(struct twin_verify_report *r, size_t *hint, const unsigned char *key,
                     int64_t t)
{
    size_t i = *hint;
    if (i >= r->nspans || memcmp(r->spans[i].key, key, TWIN_PUBKEY_BYTES) != 0)
        for (i = 0; i < r->nspans && memcmp(r->spans[i].key, key, TWIN_PUBKEY_BYTES) != 0; i++)
            ;
    if (i == r->nspans) {
        struct twin_key_span *s = twin_util_realloc_array(r->spans, r->nspans + 1, sizeof(*s));
        if (!s)
            return twin_error(TWIN_ERROR, "out of memory");
        r->spans = s;
        memcpy(s[i].key, key, TWIN_PUBKEY_BYTES);
        s[i].first = s[i].last = t;
        r->nspans++;
    }
    if (t < r->spans[i].first)
        r->spans[i].first = t;
    if (t > r->spans[i].last)
        r->spans[i].last = t;
    *hint = i;
    return 0;
}

static void note_key(struct twin_member_summary *m, const unsigned char *key)
{
    for (size_t k = 0; k < m->nkeys; k++)
        if (memcmp(m->keys[k], key, TWIN_PUBKEY_BYTES) == 0)
            return;
    if (m->nkeys < TWIN_SUMMARY_MAX_KEYS)
        memcpy(m->keys[m->nkeys++], key, TWIN_PUBKEY_BYTES);
}

static int tally(struct twin_verify_report *r, const char *org_id, int64_t t,
                 const unsigned char *key)
{
    for (size_t i = 0; i < r->nmembers; i++) {
        struct twin_member_summary *m = &r->members[i];
        if (strcmp(m->org_id, org_id) == 0) {
            m->commits++;
            if (t < m->first)
                m->first = t;
            if (t > m->last)
                m->last = t;
            note_key(m, key);
            return 0;
        }
    }
    struct twin_member_summary *m =
        twin_util_realloc_array(r->members, r->nmembers + 1, sizeof(*m));
    if (!m)
        return twin_error(TWIN_ERROR, "out of memory");
    r->members = m;
    m = &r->members[r->nmembers++];
    snprintf(m->org_id, sizeof(m->org_id), "%s", org_id);
    m->commits = 1;
    m->first = m->last = t;
    m->nkeys = 0;
    note_key(m, key);
    return 0;
}

static int oid_cmp(const void *a, const void *b)
{
    return git_oid_cmp(a, b);
}

static bool in_history(const git_oid *sorted, size_t n, const git_oid *id)
{
    return n && bsearch(id, sorted, n, sizeof(*sorted), oid_cmp) != NULL;
}

/* Whether the branch, read again now, holds was: a head recorded after the one being verified
 * (a write or sync that ran beside verify) is newer history, not a rewrite. */
static bool held_now(const struct source *src, const git_oid *verified, const git_oid *was)
{
    git_repository *repo = src->repo;
    git_oid now;
    if (git_reference_name_to_id(&now, repo, src->ref) < 0) {
        git_error_clear();
        return false;
    }
    if (git_oid_equal(&now, was))
        return true;
    if (git_oid_equal(&now, verified))
        return false; /* the branch has not moved: nothing newer to hold it */
    int d = git_graph_descendant_of(repo, &now, was);
    if (d < 0)
        git_error_clear();
    return d == 1;
}

static int rewrite_fault(struct twin_verify_report *r, const struct source *src, const git_oid *was,
                         const char *source)
{
    if (held_now(src, &r->head, was))
        return 0;
    char hex[GIT_OID_HEXSZ + 1];
    git_oid_tostr(hex, sizeof(hex), was);
    for (size_t i = 0; i < r->nfaults; i++)
        if (git_oid_equal(&r->faults[i].commit, was))
            return 0;
    return add_fault(r, was,
                     "history rewritten: the branch once pointed at %s (%s), which the current "
                     "history no longer contains",
                     hex, source);
}

/* Every head the branch has held must still be in the history: a branch reset to another line
 * drops published commits, and that is a rewrite. Two records of past heads are read:
 * - twin's journal (repo.git/twin-heads), appended after each move of the branch, so it never
 *   names a head the branch did not hold;
 * - the branch's reflog (core.logAllRefUpdates=always), which also sees plain git. libgit2 writes
 *   a reflog entry before it moves the ref, so an entry counts only once confirmed: the next
 *   entry starts from its value, or it is the current head. */
static int check_rewrites(struct twin_verify_report *r, const struct source *src,
                          const git_oid *head, const git_oid *sorted, size_t n)
{
    git_repository *repo = src->repo;
    char path[4096];
    int rc = 0;
    snprintf(path, sizeof(path), "%stwin-heads", git_repository_path(repo));
    FILE *f = fopen(path, "r");
    if (f) {
        char line[128];
        while (rc == 0 && fgets(line, sizeof(line), f)) {
            git_oid was;
            if (strlen(line) < 2 * GIT_OID_HEXSZ + 1 ||
                git_oid_fromstrn(&was, line + GIT_OID_HEXSZ + 1, GIT_OID_HEXSZ) < 0)
                continue; /* a line cut short by a crash */
            if (!in_history(sorted, n, &was))
                rc = rewrite_fault(r, src, &was, "twin's journal of published heads");
        }
        fclose(f);
    }
    /* libgit2 creates a missing reflog when asked to read it: only one that exists is read, so
     * that verify writes nothing into the repository it checks. */
    git_reflog *log = NULL;
    struct stat st;
    snprintf(path, sizeof(path), "%slogs/%s", git_repository_path(repo), src->ref);
    if (rc || stat(path, &st) != 0 || git_reflog_read(&log, repo, src->ref) < 0)
        return rc;
    size_t count = git_reflog_entrycount(log);
    /* Index 0 is the newest entry. */
    for (size_t i = 0; i < count && rc == 0; i++) {
        const git_oid *was = git_reflog_entry_id_new(git_reflog_entry_byindex(log, i));
        bool confirmed =
            i == 0
                ? git_oid_equal(was, head)
                : git_oid_equal(git_reflog_entry_id_old(git_reflog_entry_byindex(log, i - 1)), was);
        if (git_oid_is_zero(was) || !confirmed || in_history(sorted, n, was))
            continue;
        rc = rewrite_fault(r, src, was, "the branch's reflog");
    }
    git_reflog_free(log);
    return rc;
}

/* Notes the network the genesis describes, and names it as a fault when it is not the one
 * expected. */
static int check_network(struct twin_verify_report *r, const struct source *src,
                         const git_oid *root)
{
    git_commit *c = NULL;
    git_tree *tree = NULL;
    struct twin_membership *m = NULL;
    int rc = 0;
    if (git_commit_lookup(&c, src->repo, root) < 0 || git_commit_tree(&tree, c) < 0) {
        rc = twin_error_git("reading the genesis");
        goto cleanup;
    }
    if (twin_membership_load(&m, src->repo, tree)) {
        twin_error_clear(); /* the genesis's own verdict names what is wrong with it */
        goto cleanup;
    }
    snprintf(r->network_id, sizeof(r->network_id), "%s", m->network_id);
    if (src->network_id && strcmp(m->network_id, src->network_id) != 0)
        rc = add_fault(r, root, "the history belongs to network %s, not to %s %s", m->network_id,
                       src->network_owner, src->network_id);
cleanup:
    twin_membership_free(m);
    git_tree_free(tree);
    git_commit_free(c);
    return rc;
}

/* The lines of a file after the last line whose field at `at` (40 hex characters) is since,
 * read from the end backwards, so the cost follows what is new rather than the file's size.
 * *all is set when since was not found and the whole file came back. */
static int read_tail(char **out, size_t *len, bool *all, const char *path, const char *since,
                     size_t at)
{
    FILE *f = fopen(path, "rb");
    *out = NULL;
    *len = 0;
    *all = true;
    if (!f)
        return 0;
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return twin_error(TWIN_ERROR, "cannot read %s", path);
    }
    long size = ftell(f), start = size;
    char *buf = NULL;
    int rc = 0;
    for (long block = 65536; rc == 0 && start > 0; block *= 2) {
        start = size > block ? size - block : 0;
        char *grown = realloc(buf, (size_t)(size - start) + 1);
        if (!grown) {
            rc = twin_error(TWIN_ERROR, "out of memory");
            break;
        }
        buf = grown;
        if (fseek(f, start, SEEK_SET) != 0 ||
            fread(buf, 1, (size_t)(size - start), f) != (size_t)(size - start)) {
            rc = twin_error(TWIN_ERROR, "cannot read %s", path);
            break;
        }
        buf[size - start] = '\0';
        /* The last line naming since, if this block holds one whole. */
        char *found = NULL;
        for (char *line = start ? strchr(buf, '\n') : buf; line && *line;) {
            if (*line == '\n')
                line++;
            if (strlen(line) > at + GIT_OID_HEXSZ && strncmp(line + at, since, GIT_OID_HEXSZ) == 0)
                found = line;
            line = strchr(line, '\n');
        }
        if (found) {
            char *next = strchr(found, '\n');
            next = next ? next + 1 : found + strlen(found);
            memmove(buf, next, strlen(next) + 1);
            *all = false;
            break;
        }
    }
    fclose(f);
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    *len = buf ? strlen(buf) : 0;
    return 0;
}

/* check_rewrites for the heads the branch held after since only. */
static int check_rewrites_since(struct twin_verify_report *r, const struct source *from,
                                const git_oid *head, const git_oid *since)
{
    git_repository *repo = from->repo;
    char path[4096], hex[GIT_OID_HEXSZ + 1], *text = NULL;
    size_t len;
    bool all;
    git_oid_tostr(hex, sizeof(hex), since);
    const char *sources[2] = {"twin's journal of published heads", "the branch's reflog"};
    for (int src = 0; src < 2; src++) {
        if (src == 0)
            snprintf(path, sizeof(path), "%stwin-heads", git_repository_path(repo));
        else
            snprintf(path, sizeof(path), "%slogs/%s", git_repository_path(repo), from->ref);
        int rc = read_tail(&text, &len, &all, path, hex, GIT_OID_HEXSZ + 1);
        if (rc)
            return rc;
        /* Lines hold "<old> <new> ...": each new head must still be in the history; a reflog
         * entry counts once confirmed (the next starts from it, or it is the head). */
        for (char *line = text; rc == 0 && line && *line;) {
            char *end = strchr(line, '\n');
            git_oid was, old_next;
            bool confirmed = true;
            if (strlen(line) >= 2 * GIT_OID_HEXSZ + 1 &&
                git_oid_fromstrn(&was, line + GIT_OID_HEXSZ + 1, GIT_OID_HEXSZ) == 0 &&
                !git_oid_is_zero(&was)) {
                if (src == 1)
                    confirmed = end && end[1]
                                    ? git_oid_fromstrn(&old_next, end + 1, GIT_OID_HEXSZ) == 0 &&
                                          git_oid_equal(&old_next, &was)
                                    : git_oid_equal(&was, head);
                if (confirmed && !git_oid_equal(&was, head) &&
                    git_graph_descendant_of(repo, head, &was) != 1)
                    rc = rewrite_fault(r, from, &was, sources[src]);
            }
            line = end ? end + 1 : NULL;
        }
        free(text);
        text = NULL;
        if (rc)
            return rc;
    }
    return 0;
}

static int verify(struct twin_verify_report **out, const struct source *src, int threads,
                  const git_oid *since);

int twin_audit_verify(struct twin_verify_report **out, twin_node *n, int threads)
{
    return twin_audit_verify_since(out, n, threads, NULL);
}

int twin_audit_verify_since(struct twin_verify_report **out, twin_node *n, int threads,
                            const git_oid *since)
{
    const struct source src = {.repo = twin_node_repo(n),
                               .ref = TWIN_BRANCH,
                               .node = n,
                               .network_id = twin_node_network_id(n),
                               .network_owner = "this node's network"};
    int rc = verify(out, &src, threads, since);
    if (rc == 0)
        snprintf((*out)->ref, sizeof((*out)->ref), "%s", TWIN_BRANCH);
    return rc;
}

static int verify_run(struct twin_verify_report **out, const struct source *src, int threads,
                      const git_oid *since);

/* The branch of twin's history in a copy of it: twin's own, as a bare clone or a mirror holds
 * it, or, in a clone that has no local branch of that name, the remote's copy of it (origin's
 * first, then the only other one). */
static int find_branch(char *ref, size_t size, git_repository *repo, const char *path)
{
    const char *prefix = "refs/remotes/", *suffix = strrchr(TWIN_BRANCH, '/');
    git_reference_iterator *it = NULL;
    const char *name;
    char remote_copy[256], found[3][256];
    size_t nfound = 0;
    git_oid id;
    int rc = 0;
    if (git_reference_name_to_id(&id, repo, TWIN_BRANCH) == 0) {
        snprintf(ref, size, "%s", TWIN_BRANCH);
        return 0;
    }
    snprintf(remote_copy, sizeof(remote_copy), "%sorigin%s", prefix, suffix);
    if (git_reference_name_to_id(&id, repo, remote_copy) == 0) {
        snprintf(ref, size, "%s", remote_copy);
        return 0;
    }
    git_error_clear();
    if (git_reference_iterator_glob_new(&it, repo, "refs/remotes/*") < 0)
        return twin_error_git("listing the repository's branches");
    while ((rc = git_reference_next_name(&name, it)) == 0) {
        const char *remote = name + strlen(prefix);
        size_t len = strlen(remote);
        /* refs/remotes/<remote>/main, with a remote name of one path component */
        if (len <= strlen(suffix) || strcmp(remote + len - strlen(suffix), suffix) != 0 ||
            memchr(remote, '/', len - strlen(suffix)) != NULL ||
            git_reference_name_to_id(&id, repo, name) < 0)
            continue;
        if (nfound < 3)
            snprintf(found[nfound], sizeof(found[nfound]), "%s", name);
        nfound++;
    }
    git_reference_iterator_free(it);
    if (rc != GIT_ITEROVER)
        return twin_error_git("listing the repository's branches");
    git_error_clear();
    if (nfound == 1) {
        snprintf(ref, size, "%s", found[0]);
        return 0;
    }
    if (nfound > 1)
        return twin_error(TWIN_EINVALID,
                          "%s holds several copies of twin's branch (%s, %s%s): clone the "
                          "network's history on its own, or make its branch %s",
                          path, found[0], found[1], nfound > 2 ? ", ..." : "", TWIN_BRANCH);
    return twin_error(TWIN_ENOTFOUND,
                      "%s holds no twin history: no branch %s, nor a remote's copy of it "
                      "(refs/remotes/<remote>%s)",
                      path, TWIN_BRANCH, suffix);
}

int twin_audit_verify_repo(struct twin_verify_report **out, const char *path,
                           const char *network_id, int threads)
{
    git_repository *repo = NULL;
    struct stat st;
    char ref[256];
    int rc;
    *out = NULL;
    if (network_id && !twin_node_network_id_valid(network_id))
        return twin_error(TWIN_EINVALID, "'%s' is not a network id (%d lowercase hex digits)",
                          network_id, TWIN_NETWORK_ID_LEN);
    if (stat(path, &st) != 0)
        return twin_error(errno == ENOENT ? TWIN_ENOTFOUND : TWIN_ERROR, "%s: %s", path,
                          strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return twin_error(TWIN_EINVALID,
                          "%s is a file, not a git repository (give the directory of a clone)",
                          path);
    /* Read-only: nothing below writes to the repository, and libgit2 writes nothing when it
     * opens one or reads its objects, references and reflogs. */
    int err = git_repository_open_ext(&repo, path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
    if (err == GIT_ENOTFOUND) {
        git_error_clear();
        return twin_error(TWIN_EINVALID,
                          "%s is not a git repository (give a clone of the network's history, "
                          "bare or with a working tree)",
                          path);
    }
    if (err < 0)
        return twin_error_git(path);
    if ((rc = find_branch(ref, sizeof(ref), repo, path)) == 0) {
        const struct source src = {.repo = repo,
                                   .ref = ref,
                                   .network_id = network_id,
                                   .network_owner = "the expected network"};
        if ((rc = verify(out, &src, threads, NULL)) == 0)
            snprintf((*out)->ref, sizeof((*out)->ref), "%s", ref);
    }
    git_repository_free(repo);
    return rc;
}

/* Every object verify reads is hashed and compared with its id: by twin (validity.c,
 * treecache.c) with the processor's SHA extensions rather than by libgit2's slower
 * collision-detecting hash, which twin's strict formats have no room to exploit; and objects
 * received from peers were hashed with collision detection by the indexer (indexer.c). Verify reads
 * each object about once and keeps the trees it needs in its own cache (treecache.c), so
 * libgit2's object cache only costs it time and memory. */
static int verify(struct twin_verify_report **out, const struct source *src, int threads,
                  const git_oid *since)
{
    const unsigned opts =
        TWIN_GITOPTS_UNHASHED | TWIN_GITOPTS_UNCACHED | TWIN_GITOPTS_SMALL_WINDOWS;
    int rc = twin_gitopts_begin(opts);
    if (rc)
        return rc;
    rc = verify_run(out, src, threads, since);
    twin_gitopts_end(opts);
    return rc;
}

/* The check of the store's files, on a thread of its own beside the check of the history. */
struct store_run {
    char objects[4200];
    struct twin_store_stats stats;
    struct twin_fault *faults;
    size_t nfaults, cap;
    int rc;
    char error[512];
};

static int keep_damage(const struct twin_store_damage *d, void *ctx)
{
    struct store_run *s = ctx;
    if (twin_util_grow((void **)&s->faults, &s->cap, s->nfaults + 1, sizeof(*s->faults)))
        return twin_error(TWIN_ERROR, "out of memory");
    struct twin_fault *f = &s->faults[s->nfaults++];
    memset(f, 0, sizeof(*f));
    snprintf(f->file, sizeof(f->file), "%s", d->file);
    f->has_object = d->has_object;
    f->object = d->object;
    f->has_offset = d->has_offset;
    f->offset = d->offset;
    char hex[GIT_OID_HEXSZ + 1] = "", where[128] = "";
    if (d->has_object)
        git_oid_tostr(hex, sizeof(hex), &d->object);
    if (d->has_object && d->has_offset)
        snprintf(where, sizeof(where), ": object %s at offset %llu", hex,
                 (unsigned long long)d->offset);
    else if (d->has_object && strncmp(d->file, "objects/", 8) != 0)
        snprintf(where, sizeof(where), ": object %s", hex);
    else if (d->has_offset)
        snprintf(where, sizeof(where), " at offset %llu", (unsigned long long)d->offset);
    snprintf(f->reason, sizeof(f->reason), "%s%s: %s", d->file, where, d->what);
    return 0;
}

static void *store_thread(void *arg)
{
    struct store_run *s = arg;
    s->rc = twin_storecheck_run(&s->stats, s->objects, keep_damage, s);
    if (s->rc)
        snprintf(s->error, sizeof(s->error), "%s", twin_error_last());
    return NULL;
}

static int history_run(struct twin_verify_report **out, const struct source *src, int threads,
                       const git_oid *since);

/* The history's check, and for a whole verify the store's beside it. No history is read through
 * a damaged index: libgit2 follows an index's offset without checking that it lies inside the
 * pack, and has crashed reading past the end of one (a version-1 index with an offset moved), so
 * the indexes are checked first, which takes no inflation, and a damaged one is named by the
 * store's check instead. */
static int verify_run(struct twin_verify_report **out, const struct source *src, int threads,
                      const git_oid *since)
{
    struct store_run store = {0};
    pthread_t t;
    bool store_started = false, sound = false;
    char objects[4200];
    *out = NULL;
    snprintf(objects, sizeof(objects), "%sobjects", git_repository_path(src->repo));
    int rc = twin_storecheck_indexes(&sound, objects);
    if (rc)
        return rc;
    if (!sound && since)
        return twin_error(TWIN_EVERIFY, "an index of the store's packs is damaged: twin verify "
                                        "without --since names it");
    if (!since) {
        snprintf(store.objects, sizeof(store.objects), "%s", objects);
        if (pthread_create(&t, NULL, store_thread, &store) == 0)
            store_started = true;
        else
            store_thread(&store);
    }
    struct twin_verify_report *r = NULL;
    char why[600] = "";
    if (sound)
        rc = history_run(&r, src, threads, since);
    else
        rc = twin_error(TWIN_EVERIFY, "an index of its packs is damaged (named above), and "
                                      "reading through it could read outside its pack");
    snprintf(why, sizeof(why), "%s", twin_error_last());
    if (store_started)
        pthread_join(t, NULL);
    if (since)
        goto done;
    if (store.rc) {
        twin_audit_verify_report_free(r);
        r = NULL;
        rc = twin_error(store.rc, "checking the store: %s", store.error);
        goto done;
    }
    /* On a damaged store, a history that cannot be read is one more fault, after the damage
     * that explains it. */
    if (rc && store.nfaults) {
        if (!(r = calloc(1, sizeof(*r)))) {
            rc = twin_error(TWIN_ERROR, "out of memory");
            goto done;
        }
        if (source_head(&r->head, src))
            twin_error_clear();
        rc = add_fault(r, NULL, "the history could not be checked: %s", why);
    }
    if (rc)
        goto done;
    struct twin_fault *all = twin_util_malloc_array(store.nfaults + r->nfaults + 1, sizeof(*all));
    if (!all) {
        rc = twin_error(TWIN_ERROR, "out of memory");
        goto done;
    }
    if (store.nfaults)
        memcpy(all, store.faults, store.nfaults * sizeof(*all));
    if (r->nfaults)
        memcpy(all + store.nfaults, r->faults, r->nfaults * sizeof(*all));
    free(r->faults);
    r->faults = all;
    r->nfaults += store.nfaults;
    r->store_checked = true;
    r->packs = store.stats.packs;
    r->packed_objects = store.stats.packed_objects;
    r->loose_objects = store.stats.loose_objects;
done:
    free(store.faults);
    if (rc) {
        twin_audit_verify_report_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

static int history_run(struct twin_verify_report **out, const struct source *src, int threads,
                       const git_oid *since)
{
    git_repository *repo = src->repo;
    git_revwalk *walk = NULL;
    git_oid *ids = NULL, id;
    struct verdict *results = NULL;
    struct verdicts v = {.repo_path = git_repository_path(repo)};
    pthread_mutex_init(&v.lock, NULL);
    size_t count = 0, cap = 0;
    int rc;
    *out = NULL;
    struct twin_verify_report *r = calloc(1, sizeof(*r));
    if (!r)
        return twin_error(TWIN_ERROR, "out of memory");
    r->now = twin_util_clock_now();
    if ((rc = source_head(&r->head, src)))
        goto cleanup;
    if (since) {
        git_commit *c = NULL;
        r->incremental = true;
        r->since = *since;
        if (git_commit_lookup(&c, repo, since) < 0) {
            rc = twin_error(TWIN_ENOTFOUND, "--since: no commit %s in this node",
                            git_oid_tostr_s(since));
            goto cleanup;
        }
        git_commit_free(c);
        if (!git_oid_equal(since, &r->head) &&
            git_graph_descendant_of(repo, &r->head, since) != 1) {
            rc = rewrite_fault(r, src, since, "the commit verify started from");
            if (rc == 0) {
                *out = r;
                r = NULL;
            }
            goto cleanup;
        }
    }
    /* The whole history: twin's own walk, which reads each commit out of the packs once (a
     * tenth of the time libgit2 takes, and before any check can start). From a commit on:
     * libgit2's, which stops where the history below the commit begins. */
    if (!since) {
        if ((rc = twin_history_walk(&ids, &count, repo, &r->head)))
            goto cleanup;
    } else if (git_revwalk_new(&walk, repo) < 0 ||
               git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE) < 0 ||
               git_revwalk_push(walk, &r->head) < 0 || git_revwalk_hide(walk, since) < 0) {
        rc = twin_error_git("walking the history");
        goto cleanup;
    }
    while (walk && (rc = git_revwalk_next(&id, walk)) == 0) {
        if (count == cap) {
            cap = cap ? cap * 2 : 1024;
            git_oid *grown = twin_util_realloc_array(ids, cap, sizeof(*ids));
            if (!grown) {
                rc = twin_error(TWIN_ERROR, "out of memory");
                goto cleanup;
            }
            ids = grown;
        }
        ids[count++] = id;
    }
    if (walk && rc != GIT_ITEROVER) {
        rc = twin_error_git("walking the history");
        goto cleanup;
    }
    rc = 0;
    r->commits = count;
    if (!(results = calloc(count ? count : 1, sizeof(*results)))) {
        rc = twin_error(TWIN_ERROR, "out of memory");
        goto cleanup;
    }
    v.results = results;
    v.count = count;
    struct twin_checkrun run = {.ids = ids,
                                .count = count,
                                .threads = threads,
                                .open = open_verdicts_repo,
                                .close = close_repo,
                                .result = keep_verdict,
                                .progress = report_verdicts,
                                .ctx = &v};
    size_t done;
    if ((rc = twin_checkrun(&done, &run)))
        goto cleanup;
    twin_progress_report("checking commits", "commits", done, count);
    if (atomic_load(&v.out_of_memory)) {
        rc = twin_error(TWIN_ERROR, "out of memory");
        goto cleanup;
    }
    if (!since && count > 0 && (rc = check_network(r, src, &ids[0])))
        goto cleanup;
    size_t hint = 0;
    for (size_t i = 0; i < count; i++) {
        const struct verdict *d = &results[i];
        if (d->member && d->valid && (rc = tally(r, v.orgs[d->member - 1], d->time, d->signer)))
            goto cleanup;
        if (d->valid && (rc = note_span(r, &hint, d->signer, d->time)))
            goto cleanup;
        if (!d->valid && (rc = add_fault(r, &ids[i], "%s", d->reason)))
            goto cleanup;
        if (twin_is_ahead(d->time, r->now) &&
            (rc = add_ahead(r, &ids[i], d->time, d->member ? v.orgs[d->member - 1] : "")))
            goto cleanup;
    }
    if (since)
        rc = check_rewrites_since(r, src, &r->head, since);
    else {
        qsort(ids, count, sizeof(*ids), oid_cmp);
        rc = check_rewrites(r, src, &r->head, ids, count);
    }
    if (rc)
        goto cleanup;
    *out = r;
    r = NULL;
cleanup:
    git_revwalk_free(walk);
    free(ids);
    for (size_t i = 0; results && i < count; i++)
        free(results[i].reason);
    free(results);
    free(v.orgs);
    pthread_mutex_destroy(&v.lock);
    twin_audit_verify_report_free(r);
    return rc;
}

void twin_audit_verify_report_free(struct twin_verify_report *r)
{
    if (!r)
        return;
    free(r->faults);
    free(r->members);
    free(r->ahead);
    free(r->spans);
    free(r);
}

/* ---- log ------------------------------------------------------------------------------------ */

static int unreadable_commit(const git_oid *id)
{
    char hex[GIT_OID_HEXSZ + 1];
    git_oid_tostr(hex, sizeof(hex), id);
    return twin_error(TWIN_ERROR, "commit %s cannot be read, the store is damaged: %s", hex,
                      git_error_last() ? git_error_last()->message : "libgit2 error");
}

int twin_audit_log_count(size_t *count, twin_node *n, const git_oid *head)
{
    git_oid *ids = NULL;
    int rc = twin_history_walk(&ids, count, twin_node_repo(n), head);
    if (rc)
        *count = 0;
    free(ids);
    return rc;
}

/* The commits of a log are checked a window at a time on every core, then given in order, so
 * that the output streams and memory stays bounded whatever the history's length. */
#define LOG_WINDOW  4096
#define LOG_GITOPTS (TWIN_GITOPTS_UNCACHED | TWIN_GITOPTS_SMALL_WINDOWS)

struct log_item {
    git_oid id;
    char summary[300];
    struct twin_check check;
};

struct log_run {
    const char *repo_path;
    struct log_item *items;
    size_t count;
    git_oid *ids; /* the window's commits, oldest first, as checkrun takes them */
    /* Each thread's repository and cache, from one window to the next: opened, and the
     * membership read, once a thread instead of once a window. */
    twin_checkrun_kept *kept;
};

/* Each thread's cache keeps little of the packs: a log's memory stays small whatever the history.
 * On a 100k history a lean reader's own cache (16 MiB a thread) held 40 MB more at the peak than
 * this one, and the log took no less time. */
#define LOG_CACHE_BYTES ((size_t)2 << 20)

/* And each thread's tree cache keeps 300 trees, not 512: the current version of 256 buckets and
 * the directories above them. A thread takes chunks of a window between the other's, so the
 * versions it keeps from one chunk are mostly stale in its next; the 212 more slots were filled
 * with versions already replaced. On a 100k history: 70 MB at the peak instead of 84, in the same
 * CPU time. */
#define LOG_TREES 300

/* Each thread reads the store through a repository made around an object database of twin's pack
 * reader and the loose objects, never through libgit2's maps of the packs: a store freshly
 * written sits in the page cache in 2 MiB folios, each mapped whole on a fault, and the few
 * objects a thread reads through libgit2 (the membership, loose commits) left its windows and
 * index maps holding 12-19 MB of a 100k history to the end of the log. */
static int open_log_repo(git_repository **repo, void **extra, void *ctx)
{
    const char *path = ((struct log_run *)ctx)->repo_path;
    char objects[4200], packdir[4200];
    git_odb *odb = NULL;
    git_odb_backend *packed = NULL, *loose = NULL;
    twin_packread *packs = NULL;
    *repo = NULL;
    *extra = NULL;
    snprintf(objects, sizeof(objects), "%sobjects", path);
    snprintf(packdir, sizeof(packdir), "%sobjects/pack", path);
    const char *dirs[] = {packdir};
    int rc = twin_packread_open_dirs(&packs, dirs, 1);
    if (rc)
        return rc;
    twin_packread_lean_to(packs, LOG_CACHE_BYTES);
    if (git_odb_new(&odb) < 0) {
        twin_packread_free(packs);
        return twin_error_git("opening the object database");
    }
    if ((rc = twin_packread_backend(&packed, packs)))
        goto fail;
    if (git_odb_add_backend(odb, packed, 2) < 0) {
        packed->free(packed); /* not the database's when adding failed */
        rc = twin_error_git("opening the object database");
        goto fail;
    }
    if (git_odb_backend_loose(&loose, objects, -1, 0, 0, 0) < 0) {
        rc = twin_error_git("opening the loose objects");
        goto fail;
    }
    if (git_odb_add_backend(odb, loose, 1) < 0) {
        loose->free(loose);
        rc = twin_error_git("opening the loose objects");
        goto fail;
    }
    if (git_repository_wrap_odb(repo, odb) < 0) {
        rc = twin_error_git("opening the repository");
        goto fail;
    }
    *extra = odb;
    return 0;
fail:
    git_odb_free(odb);
    return rc;
}

static void close_log_repo(git_repository *repo, void *extra, void *ctx)
{
    git_repository_free(repo);
    git_odb_free(extra);
}

static int lean_log_cache(twin_check_cache *cache, git_repository *repo, void *ctx)
{
    char packdir[4200];
    snprintf(packdir, sizeof(packdir), "%sobjects/pack", ((struct log_run *)ctx)->repo_path);
    const char *dirs[] = {packdir};
    twin_validity_cache_lean_to(cache, LOG_CACHE_BYTES);
    twin_validity_cache_keep_trees(cache, LOG_TREES);
    /* The repository has no path to find the packs by: they are named. */
    return twin_validity_cache_pack_dirs(cache, repo, dirs, 1);
}

static void keep_log_check(size_t index, const struct twin_check *check, void *ctx)
{
    struct log_run *r = ctx;
    r->items[r->count - 1 - index].check = *check;
}

/* Checks the window's commits and gives those the query keeps; *given counts them. */
static int log_flush(struct log_run *r, const struct twin_log_query *q, int64_t now, size_t *given,
                     twin_log_entry_fn fn, void *ctx)
{
    for (size_t i = 0; i < r->count; i++)
        r->ids[i] = r->items[r->count - 1 - i].id;
    struct twin_checkrun run = {.ids = r->ids,
                                .count = r->count,
                                .open = open_log_repo,
                                .close = close_log_repo,
                                .bind = lean_log_cache,
                                .result = keep_log_check,
                                .ctx = r,
                                .kept = r->kept};
    size_t done;
    int rc = twin_checkrun(&done, &run);
    for (size_t i = 0; rc == 0 && i < r->count && !(q->limit && *given >= q->limit); i++) {
        const struct log_item *it = &r->items[i];
        const struct twin_check *chk = &it->check;
        if (chk->damaged) /* no verdict on the commit: what it is made of cannot be read */
            return twin_error(TWIN_EVERIFY, "commit %s: %s", git_oid_tostr_s(&it->id), chk->reason);
        if (q->member && strcmp(chk->org_id, q->member) != 0)
            continue;
        struct twin_log_entry e;
        memset(&e, 0, sizeof(e));
        e.commit = it->id;
        e.time = chk->time;
        e.ahead = twin_is_ahead(e.time, now);
        snprintf(e.summary, sizeof(e.summary), "%s", it->summary);
        e.valid = chk->valid;
        snprintf(e.reason, sizeof(e.reason), "%s", chk->reason);
        snprintf(e.org_id, sizeof(e.org_id), "%s", chk->org_id);
        if (chk->has_signer)
            twin_key_format_openssh(e.key, chk->signer);
        (*given)++;
        rc = fn(&e, ctx);
    }
    r->count = 0;
    return rc;
}

/* The path of record id at the head, in *path: TWIN_ENOTFOUND when there is none. */
static int record_path_at_head(char *path, size_t size, git_repository *repo, const git_oid *head,
                               const char *id)
{
    git_commit *head_commit = NULL;
    git_tree *head_tree = NULL;
    int rc = 0;
    path[0] = '\0';
    if (!twin_record_id_valid(id))
        return twin_error(TWIN_EINVALID, "'%s' is not a record id", id);
    if (git_commit_lookup(&head_commit, repo, head) < 0)
        return unreadable_commit(head);
    if ((rc = twin_tree_open(&head_tree, repo, git_commit_tree_id(head_commit), "the head's tree")))
        goto cleanup;
    for (const char *const *t = twin_record_types(); *t && !path[0]; t++) {
        git_tree_entry *e = NULL;
        twin_record_path(path, size, *t, id);
        rc = twin_tree_entry_at(&e, repo, head_tree, path);
        git_tree_entry_free(e);
        if (rc == TWIN_ENOTFOUND)
            path[0] = '\0';
        else if (rc)
            goto cleanup;
    }
    rc = path[0] ? 0 : twin_error(TWIN_ENOTFOUND, "no record %s", id);
cleanup:
    git_tree_free(head_tree);
    git_commit_free(head_commit);
    return rc;
}

int twin_audit_log(twin_node *n, const char *id, twin_log_entry_fn fn, void *ctx)
{
    struct twin_log_query q = {.id = id, .since = INT64_MIN, .until = INT64_MAX};
    return twin_audit_log_query(n, &q, fn, ctx);
}

int twin_audit_log_query(twin_node *n, const struct twin_log_query *q, twin_log_entry_fn fn,
                         void *ctx)
{
    git_repository *repo = twin_node_repo(n);
    twin_history_iter *iter = NULL;
    git_oid head, oid;
    int64_t now = twin_util_clock_now(), t;
    char path[128] = "", type_path[128] = "";
    struct log_run r = {.repo_path = git_repository_path(repo)};
    size_t given = 0;
    bool uncached = false;
    int rc;
    if ((rc = twin_node_head(&head, n)))
        return rc;
    if (q->type && !twin_record_type_known(q->type))
        return twin_error(TWIN_EINVALID, "unknown record type '%s'", q->type);
    if (q->type)
        snprintf(type_path, sizeof(type_path), "records/%s", q->type);
    if (q->id && (rc = record_path_at_head(path, sizeof(path), repo, &head, q->id)))
        return rc;
    /* Each commit is read about once: libgit2 keeps none of them, and maps little of the packs
     * at a time, which a log of a long history reads all over. */
    if ((rc = twin_gitopts_begin(LOG_GITOPTS)))
        return rc;
    uncached = true;
    r.items = twin_util_malloc_array(LOG_WINDOW, sizeof(*r.items));
    r.ids = twin_util_malloc_array(LOG_WINDOW, sizeof(*r.ids));
    if (!r.items || !r.ids || twin_checkrun_kept_new(&r.kept)) {
        rc = twin_error(TWIN_ERROR, "out of memory");
        goto cleanup;
    }
    /* With a limit, newest by date, reading no further than needed; without, the whole history
     * in topological order, newest first. */
    if ((rc = twin_history_iter_new(&iter, repo, &head, q->limit == 0)))
        goto cleanup;
    size_t read = 0;
    while (!(q->limit && given >= q->limit) && (rc = twin_history_iter_next(&oid, &t, iter)) == 0) {
        if (++read % 1024 == 0)
            twin_progress_report("reading the history", "commits", read, 0);
        if (t < q->since || t > q->until)
            continue;
        /* Only a log of one record or type reads the commit through libgit2, to compare its
         * trees with its parents'. */
        if (path[0] || type_path[0]) {
            git_commit *c = NULL;
            if (git_commit_lookup(&c, repo, &oid) < 0) {
                rc = unreadable_commit(&oid);
                goto cleanup;
            }
            int keep = 1;
            if (path[0])
                keep = twin_treediff_changed_path(c, path);
            if (keep > 0 && type_path[0])
                keep = twin_treediff_changed_path(c, type_path);
            git_commit_free(c);
            if (keep <= 0) {
                if ((rc = keep) < 0)
                    goto cleanup;
                continue;
            }
        }
        struct log_item *it = &r.items[r.count];
        it->id = oid;
        /* Read as the walk read it: libgit2 would map windows of its own over the packs. */
        if ((rc = twin_history_iter_summary(it->summary, sizeof(it->summary), iter, &oid)))
            goto cleanup;
        r.count++;
        /* With a limit and no member to match, a window need hold no more than is left. */
        size_t want = q->limit && !q->member ? q->limit - given : LOG_WINDOW;
        if ((r.count >= want || r.count == LOG_WINDOW) &&
            (rc = log_flush(&r, q, now, &given, fn, ctx)))
            goto cleanup;
    }
    if (rc < 0)
        goto cleanup;
    twin_progress_report("reading the history", "commits", read, 0);
    rc = r.count ? log_flush(&r, q, now, &given, fn, ctx) : 0;
cleanup:
    twin_history_iter_free(iter);
    twin_checkrun_kept_free(r.kept);
    free(r.items);
    free(r.ids);
    if (uncached)
        twin_gitopts_end(LOG_GITOPTS);
    return rc;
}

/* ---- status ---------------------------------------------------------------------------------- */

int twin_audit_status(struct twin_status **out, twin_node *n)
{
    git_repository *repo = twin_node_repo(n);
    git_commit *commit = NULL;
    git_tree *tree = NULL;
    size_t ntypes = 0;
    *out = NULL;
    while (twin_record_types()[ntypes])
        ntypes++;
    struct twin_status *s = calloc(1, sizeof(*s));
    if (!s || !(s->per_type = calloc(ntypes ? ntypes : 1, sizeof(size_t)))) {
        free(s);
        return twin_error(TWIN_ERROR, "out of memory");
    }
    /* The counts come from the list cache, brought up to the head: no walk of the whole
     * history, no read of every record. */
    twin_listcache *cache = NULL;
    int rc = twin_listcache_open(&cache, n, TWIN_LISTCACHE_COMMITS);
    if (rc == 0) {
        s->head = *twin_listcache_head(cache);
        s->commits = twin_listcache_commits(cache);
        rc = twin_listcache_count(s->per_type, &s->withdrawn, cache);
    }
    twin_listcache_free(cache);
    if (rc == 0 && git_commit_lookup(&commit, repo, &s->head) < 0)
        rc = unreadable_commit(&s->head);
    if (rc == 0 &&
        (rc = twin_tree_open(&tree, repo, git_commit_tree_id(commit), "the head's tree")) == 0 &&
        (rc = twin_membership_load(&s->membership, repo, tree)) == 0) {
        enum twin_key_state state;
        s->me = twin_membership_find_key(s->membership, twin_node_key(n)->pk, &state);
        s->time = (int64_t)git_commit_time(commit);
        const char *summary = git_commit_summary(commit);
        snprintf(s->summary, sizeof(s->summary), "%s", summary ? summary : "");
    }
    git_tree_free(tree);
    git_commit_free(commit);
    if (rc)
        twin_audit_status_free(s);
    else
        *out = s;
    return rc;
}

void twin_audit_status_free(struct twin_status *s)
{
    if (!s)
        return;
    twin_membership_free(s->membership);
    free(s->per_type);
    free(s);
}
