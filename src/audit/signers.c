/*
 * The allowed-signers file for stock git: every key any member ever held, with a window of
 * committer times. git checks a signature against the commit's committer time, which the signer's
 * clock sets, while twin's own check is positional (the membership in the parent), so windows
 * taken from the membership changes alone fail whenever clocks disagree: an admin whose clock is
 * a day fast adds a partner, and the partner's honest commits carry earlier dates than the add.
 *
 * So each window covers the commits twin accepts that the key signed, as the validity predicate
 * finds them (twin verify), as well as the membership changes: it runs from the earlier of the
 * commit that first lists the key active and the earliest commit it validly signed, and, for a key
 * no longer active, to the later of the commit that first lists it retired or revoked (or its
 * member removed) and the latest commit it validly signed. Stock git then accepts every commit of
 * the history twin accepts (but for dates past the year 9999, which git cannot check at all).
 */
#include "twin/signers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "twin/membership.h"
#include "twin/audit.h"
#include "twin/error.h"
#include "base/util.h"

struct window {
    char org[128];
    unsigned char pk[TWIN_PUBKEY_BYTES];
    int64_t after, before; /* before < 0: still active */
};

struct windows {
    struct window *w;
    size_t count, cap;
};

static struct window *find(struct windows *ws, const unsigned char *pk)
{
    for (size_t i = 0; i < ws->count; i++)
        if (memcmp(ws->w[i].pk, pk, TWIN_PUBKEY_BYTES) == 0)
            return &ws->w[i];
    return NULL;
}

/* Folds the membership of a commit made at `when` into the windows. */
static int note_membership(struct windows *ws, const struct twin_membership *m, int64_t when)
{
    for (size_t i = 0; i < m->count; i++) {
        const struct twin_member *mm = &m->members[i];
        for (size_t k = 0; k < mm->nkeys; k++) {
            bool active = !mm->removed && mm->keys[k].state == TWIN_KEY_ACTIVE;
            struct window *w = find(ws, mm->keys[k].pk);
            if (!w) {
                if (ws->count == ws->cap) {
                    size_t cap = ws->cap ? ws->cap * 2 : 16;
                    struct window *n = twin_util_realloc_array(ws->w, cap, sizeof(*n));
                    if (!n)
                        return twin_error(TWIN_ERROR, "out of memory");
                    ws->w = n;
                    ws->cap = cap;
                }
                w = &ws->w[ws->count++];
                memset(w, 0, sizeof(*w));
                snprintf(w->org, sizeof(w->org), "%s", mm->org_id);
                memcpy(w->pk, mm->keys[k].pk, TWIN_PUBKEY_BYTES);
                w->after = when;
                w->before = active ? -1 : when;
            } else if (!active && w->before < 0) {
                w->before = when;
            }
        }
    }
    return 0;
}

static const git_oid *members_id(const git_tree *t)
{
    const git_tree_entry *e = git_tree_entry_byname(t, TWIN_MEMBERS_DIR);
    return e ? git_tree_entry_id(e) : NULL;
}

/* ssh-keygen's form of a time, which has a four-digit year: t is within 1 and TWIN_LAST_DATE. */
static void stamp(char out[32], int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 32, "%Y%m%d%H%M%SZ", &tm);
}

int twin_signers_allowed(FILE *out, twin_node *n)
{
    git_repository *repo = twin_node_repo(n);
    git_revwalk *walk = NULL;
    struct windows ws = {0};
    git_oid head, id;
    int rc = twin_node_head(&head, n);
    if (rc)
        return rc;
    if (git_revwalk_new(&walk, repo) < 0 ||
        git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE) < 0 ||
        git_revwalk_push(walk, &head) < 0) {
        git_revwalk_free(walk);
        return twin_error_git("walking the history");
    }
    while (rc == 0 && git_revwalk_next(&id, walk) == 0) {
        git_commit *c = NULL, *p = NULL;
        git_tree *t = NULL, *pt = NULL;
        if (git_commit_lookup(&c, repo, &id) < 0 || git_commit_tree(&t, c) < 0) {
            rc = twin_error_git("reading a commit");
        } else {
            /* Only commits whose members/ differs from their first parent's change anything. */
            const git_oid *mine = members_id(t), *theirs = NULL;
            if (git_commit_parentcount(c) > 0 && git_commit_parent(&p, c, 0) == 0 &&
                git_commit_tree(&pt, p) == 0)
                theirs = members_id(pt);
            bool changed = mine && (!theirs || !git_oid_equal(mine, theirs));
            struct twin_membership *m = NULL;
            if (changed && twin_membership_load(&m, repo, t) == 0)
                rc = note_membership(&ws, m, (int64_t)git_commit_time(c));
            twin_error_clear(); /* an unreadable membership is verify's to report */
            twin_membership_free(m);
        }
        git_tree_free(pt);
        git_commit_free(p);
        git_tree_free(t);
        git_commit_free(c);
    }
    git_revwalk_free(walk);
    /* Every window also covers the commits twin accepts that its key signed. */
    struct twin_verify_report *r = NULL;
    if (rc == 0)
        rc = twin_audit_verify(&r, n, 0);
    for (size_t i = 0; rc == 0 && i < r->nspans; i++) {
        struct window *w = find(&ws, r->spans[i].key);
        if (!w)
            continue; /* a valid commit's key is in the membership: not reached */
        if (r->spans[i].first < w->after)
            w->after = r->spans[i].first;
        if (w->before >= 0 && r->spans[i].last > w->before)
            w->before = r->spans[i].last;
    }
    twin_audit_verify_report_free(r);
    for (size_t i = 0; rc == 0 && i < ws.count; i++) {
        char line[TWIN_OPENSSH_PUB_MAX], after[32] = "", before[32] = "";
        int64_t from = ws.w[i].after, to = ws.w[i].before;
        twin_key_format_openssh(line, ws.w[i].pk);
        /* ssh-keygen refuses a start of 0 (and git checks a commit dated 0 at no time at all),
         * and reads four-digit years only. */
        if (from > TWIN_LAST_DATE - 1)
            from = TWIN_LAST_DATE - 1;
        if (from >= 1)
            stamp(after, from);
        /* It wants the end after the start: a key retired in the second it was added gets a
         * window of one second. */
        if (to >= 0) {
            to = to > from ? to : from + 1;
            stamp(before, to > TWIN_LAST_DATE ? TWIN_LAST_DATE : to);
        }
        fprintf(out, "%s namespaces=\"git,twin-checkpoint\"%s%s%s%s%s%s %s\n", ws.w[i].org,
                after[0] ? ",valid-after=\"" : "", after, after[0] ? "\"" : "",
                before[0] ? ",valid-before=\"" : "", before, before[0] ? "\"" : "", line);
    }
    free(ws.w);
    return rc;
}
