#include "git/history.h"

#include <stdbool.h>
#include <ctype.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "git/packread.h"
#include "twin/error.h"
#include "base/util.h"

#define PARENT_LINE (7 + GIT_OID_HEXSZ + 1) /* "parent " HEX "\n" */

static bool hex_id(git_oid *out, const char *p, const char *end)
{
    return end - p > GIT_OID_HEXSZ && p[GIT_OID_HEXSZ] == '\n' &&
           git_oid_fromstrn(out, p, GIT_OID_HEXSZ) == 0;
}

/* One person line ("author " or "committer ", then "NAME <EMAIL> SECONDS ZONE"): where it ends,
 * or NULL. *who spans "NAME <EMAIL>" and *email what stands between the brackets. */
struct person {
    const char *who, *email;
    size_t who_len, email_len;
};

/* The first '<' or '>' in [p, end), or end. */
static const char *next_bracket(const char *p, const char *end)
{
    while (p < end && *p != '<' && *p != '>')
        p++;
    return p;
}

/* Reads the line as git fsck --strict reads an identity (fsck_ident), so that the predicate
 * refuses every person line fsck refuses: a name before " <", no '<' or '>' in the name or the
 * email, then "> ", a time in digits without leading zeros that fits in 63 bits, a space, and a
 * zone of a sign and exactly four digits ending the line. A line of that form has one '<' and
 * one '>', so libgit2 (which takes the last of each) reads the same person and time. */
static const char *person_line(int64_t *when, struct person *out, const char *p, const char *end,
                               const char *key)
{
    size_t klen = strlen(key);
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol || (size_t)(eol - p) < klen || memcmp(p, key, klen) != 0)
        return NULL;
    const char *who = p + klen, *lt = next_bracket(who, eol);
    if (lt == eol || *lt != '<' || lt == who || lt[-1] != ' ')
        return NULL; /* no name, a '>' in it, no email, or no space before it */
    const char *gt = next_bracket(lt + 1, eol);
    if (gt == eol || *gt != '>' || eol - gt < 2 || gt[1] != ' ')
        return NULL;
    const char *q = gt + 2, *digits = q;
    if (q < eol && *q == '0' && q + 1 < eol && q[1] != ' ')
        return NULL; /* a zero-padded time */
    int64_t t = 0;
    for (; q < eol && *q >= '0' && *q <= '9'; q++) {
        int d = *q - '0';
        if (t > (INT64_MAX - d) / 10)
            return NULL;
        t = t * 10 + d;
    }
    if (q == digits || q == eol || *q != ' ')
        return NULL;
    q++;
    if (eol - q != 5 || (q[0] != '+' && q[0] != '-'))
        return NULL;
    for (int i = 1; i <= 4; i++)
        if (q[i] < '0' || q[i] > '9')
            return NULL;
    *when = t;
    out->who = who;
    out->who_len = (size_t)(gt + 1 - who);
    out->email = lt + 1;
    out->email_len = (size_t)(gt - lt - 1);
    return eol;
}

/* The tree and parent lines; where they end, or NULL. */
static const char *parse_links(struct twin_commit_head *h, const char *data, size_t len)
{
    const char *p = data, *end = data + len;
    memset(h, 0, sizeof(*h));
    if (len < 5 || memcmp(p, "tree ", 5) != 0 || !hex_id(&h->tree, p + 5, end))
        return NULL;
    p += 5 + GIT_OID_HEXSZ + 1;
    h->parent0 = p;
    while (end - p > 7 && memcmp(p, "parent ", 7) == 0) {
        git_oid id;
        if (!hex_id(&id, p + 7, end) || h->nparents == UINT32_MAX)
            return NULL;
        if (h->nparents < 2)
            h->parents[h->nparents] = id;
        h->nparents++;
        p += PARENT_LINE;
    }
    return p;
}

int twin_history_links_parse(struct twin_commit_head *h, const char *data, size_t len)
{
    return parse_links(h, data, len) ? 0 : -1;
}

int twin_history_head_parse(struct twin_commit_head *h, const char *data, size_t len)
{
    const char *end = data + len, *eol;
    int64_t authored;
    /* git fsck --strict refuses a NUL anywhere in a commit (nulInHeader, nulInCommit). */
    if (memchr(data, 0, len))
        return -1;
    const char *p = parse_links(h, data, len);
    if (!p)
        return -1;
    /* Then the author and at once the committer: the order libgit2 reads, so that no header (a
     * signature among the parents, say) can make the check see another commit than libgit2 and
     * git see. git tolerates a second author line; twin never writes one and refuses it. */
    struct person a, c;
    if (!(eol = person_line(&authored, &a, p, end, "author ")))
        return -1;
    p = eol + 1;
    if (!person_line(&h->time, &c, p, end, "committer "))
        return -1;
    h->author_email_len = a.email_len;
    snprintf(
        h->author_email, sizeof(h->author_email), "%.*s",
        (int)(a.email_len < sizeof(h->author_email) ? a.email_len : sizeof(h->author_email) - 1),
        a.email);
    h->committer_is_author = a.who_len == c.who_len && memcmp(a.who, c.who, a.who_len) == 0;
    return 0;
}

void twin_history_head_parent(git_oid *out, const struct twin_commit_head *h, unsigned i)
{
    if (i < 2)
        *out = h->parents[i];
    else
        git_oid_fromstrn(out, h->parent0 + (size_t)i * PARENT_LINE + 7, GIT_OID_HEXSZ);
}

/* ---- the walk ------------------------------------------------------------------------------- */

/* The commits met so far, with their parents' ids in one flat array, and a map from id to index. */
struct walk {
    twin_packread *packs;
    git_odb *odb;
    git_oid *ids;
    uint32_t *first; /* node i's parents: parents[first[i] .. first[i] + nparents[i]) */
    uint32_t *nparents;
    uint8_t *state; /* 1 on the stack, 2 emitted */
    int64_t *times; /* node i's committer time, when with_times (0 where the header is not whole) */
    bool with_times;
    size_t count, ids_cap, first_cap, n_cap, state_cap, times_cap;
    git_oid *parents;
    size_t parents_count, parents_cap;
    struct twin_idmap map; /* the nodes by id */
    git_oid *stops;        /* commits outside the packs, when the walk stops there */
    size_t nstops, stops_cap;
};

/* An object read through twin's pack reader, or libgit2 where no pack holds it. */
struct view {
    twin_pobj *pobj;
    git_odb_object *obj;
    git_object_t type;
    const char *data;
    size_t size;
};

/* Reads id into v: 0, 1 when no pack holds it and there is no odb to ask, or an error naming the
 * commit that cannot be read. */
static int view_read(struct view *v, twin_packread *packs, git_odb *odb, const git_oid *id)
{
    memset(v, 0, sizeof(*v));
    int rc = twin_packread_get(&v->pobj, packs, id);
    if (rc < 0)
        return rc;
    if (rc == 0 && !odb)
        return 1;
    if (rc == 0 && git_odb_read(&v->obj, odb, id) < 0)
        return twin_error(TWIN_ERROR, "commit %s cannot be read, the store is damaged: %s",
                          git_oid_tostr_s(id),
                          git_error_last() ? git_error_last()->message : "libgit2 error");
    v->type = v->pobj ? v->pobj->type : git_odb_object_type(v->obj);
    v->data = v->pobj ? (const char *)v->pobj->data : git_odb_object_data(v->obj);
    v->size = v->pobj ? v->pobj->size : git_odb_object_size(v->obj);
    return 0;
}

static void view_free(struct view *v)
{
    twin_packread_release(v->pobj);
    git_odb_object_free(v->obj);
}

/* Reads commit id and records it as node w->count, with its parents. */
static int add_node(struct walk *w, const git_oid *id)
{
    struct view v;
    int rc = view_read(&v, w->packs, w->odb, id);
    if (rc) /* 1: outside the packs, where the walk stops */
        return rc;
    struct twin_commit_head h;
    size_t n = w->count;
    if (v.type != GIT_OBJECT_COMMIT || twin_history_links_parse(&h, v.data, v.size))
        rc = twin_error(TWIN_EVERIFY, "%s is not a commit in git's form (the store is damaged)",
                        git_oid_tostr_s(id));
    else if (n + 1 >= UINT32_MAX || w->parents_count + h.nparents >= UINT32_MAX)
        rc = twin_error(TWIN_ELIMIT, "the history is too long to walk");
    else if (twin_util_grow((void **)&w->ids, &w->ids_cap, n + 1, sizeof(*w->ids)) ||
             twin_util_grow((void **)&w->first, &w->first_cap, n + 1, sizeof(*w->first)) ||
             twin_util_grow((void **)&w->nparents, &w->n_cap, n + 1, sizeof(*w->nparents)) ||
             twin_util_grow((void **)&w->state, &w->state_cap, n + 1, sizeof(*w->state)) ||
             (w->with_times &&
              twin_util_grow((void **)&w->times, &w->times_cap, n + 1, sizeof(*w->times))) ||
             twin_util_grow((void **)&w->parents, &w->parents_cap, w->parents_count + h.nparents,
                            sizeof(*w->parents)))
        rc = TWIN_ERROR;
    if (rc == 0 && w->with_times) {
        struct twin_commit_head whole;
        w->times[n] = twin_history_head_parse(&whole, v.data, v.size) == 0 ? whole.time : 0;
    }
    if (rc == 0) {
        w->ids[n] = *id;
        w->first[n] = (uint32_t)w->parents_count;
        w->nparents[n] = h.nparents;
        w->state[n] = 0;
        for (unsigned i = 0; i < h.nparents; i++)
            twin_history_head_parent(&w->parents[w->parents_count++], &h, i);
        w->count++;
    }
    view_free(&v);
    return rc;
}

/* Records a commit outside the packs as a node without parents, already emitted. */
static int stop_node(struct walk *w, const git_oid *id)
{
    size_t n = w->count;
    if (n + 1 >= UINT32_MAX)
        return twin_error(TWIN_ELIMIT, "the history is too long to walk");
    if (twin_util_grow((void **)&w->ids, &w->ids_cap, n + 1, sizeof(*w->ids)) ||
        twin_util_grow((void **)&w->first, &w->first_cap, n + 1, sizeof(*w->first)) ||
        twin_util_grow((void **)&w->nparents, &w->n_cap, n + 1, sizeof(*w->nparents)) ||
        twin_util_grow((void **)&w->state, &w->state_cap, n + 1, sizeof(*w->state)) ||
        twin_util_grow((void **)&w->stops, &w->stops_cap, w->nstops + 1, sizeof(*w->stops)))
        return TWIN_ERROR;
    w->ids[n] = *id;
    w->first[n] = (uint32_t)w->parents_count;
    w->nparents[n] = 0;
    w->state[n] = 2;
    w->stops[w->nstops++] = *id;
    w->count++;
    return 0;
}

/* The index of id, read in when it is new. */
static int node(uint32_t *out, struct walk *w, const git_oid *id)
{
    long at = twin_util_idmap_find(&w->map, w->ids, sizeof(*w->ids), id->id);
    if (at >= 0) {
        *out = (uint32_t)at;
        return 0;
    }
    int rc = add_node(w, id);
    if (rc == 1) /* a commit where the walk stops: listed, never emitted */
        rc = stop_node(w, id);
    if (rc < 0 ||
        (rc = twin_util_idmap_add(&w->map, w->ids, sizeof(*w->ids), (uint32_t)w->count - 1)))
        return rc;
    *out = (uint32_t)w->count - 1;
    return 0;
}

/* A depth-first walk from head that reads each commit when it first meets it and emits it once
 * every parent has been, parents taken in order. A parent met while still on the stack would
 * close a cycle, which no history of hashed objects holds. */
static int walk_from(git_oid **ids, size_t *count, struct walk *wp, const git_oid *head)
{
    struct walk w = *wp;
    struct frame {
        uint32_t node, next; /* the parent to take next */
    } *stack = NULL;
    size_t depth = 0, stack_cap = 0, emitted = 0, out_cap = 0;
    git_oid *out = NULL;
    uint32_t top;
    *ids = NULL;
    *count = 0;
    int rc = node(&top, &w, head);
    if (rc == 0 && w.state[top] == 2) /* the head itself is outside the packs */
        top = UINT32_MAX;
    if (rc == 0 && twin_util_grow((void **)&stack, &stack_cap, 1, sizeof(*stack)))
        rc = TWIN_ERROR;
    if (rc == 0 && top != UINT32_MAX) {
        stack[depth++] = (struct frame){top, 0};
        w.state[top] = 1;
    }
    while (rc == 0 && depth > 0) {
        struct frame *f = &stack[depth - 1];
        uint32_t n = f->node;
        if (f->next == w.nparents[n]) {
            if (twin_util_grow((void **)&out, &out_cap, emitted + 1, sizeof(*out))) {
                rc = TWIN_ERROR;
                break;
            }
            w.state[n] = 2;
            out[emitted++] = w.ids[n];
            depth--;
            continue;
        }
        git_oid pid = w.parents[w.first[n] + f->next++];
        uint32_t p;
        if ((rc = node(&p, &w, &pid)))
            break;
        if (w.state[p] == 2)
            continue;
        if (w.state[p] == 1) {
            rc = twin_error(TWIN_EVERIFY, "commit %s is its own ancestor (the store is damaged)",
                            git_oid_tostr_s(&pid));
            break;
        }
        if (twin_util_grow((void **)&stack, &stack_cap, depth + 1, sizeof(*stack))) {
            rc = TWIN_ERROR;
            break;
        }
        w.state[p] = 1;
        stack[depth++] = (struct frame){p, 0};
    }
    if (rc == 0) {
        *ids = out;
        *count = emitted;
        out = NULL;
    }
    free(out);
    free(stack);
    free(w.ids);
    free(w.first);
    free(w.nparents);
    free(w.state);
    free(w.parents);
    twin_util_idmap_free(&w.map);
    wp->stops = w.stops;
    wp->nstops = w.nstops;
    return rc;
}

int twin_history_walk(git_oid **ids, size_t *count, git_repository *repo, const git_oid *head)
{
    struct walk w = {0};
    *ids = NULL;
    *count = 0;
    int rc = twin_packread_open(&w.packs, repo);
    if (rc == 0 && git_repository_odb(&w.odb, repo) < 0)
        rc = twin_error_git("opening the object database");
    if (rc == 0)
        rc = walk_from(ids, count, &w, head);
    free(w.stops);
    git_odb_free(w.odb);
    twin_packread_free(w.packs);
    return rc;
}

/* libgit2's walk, the baseline twin_history_walk replaced. libgit2 names a commit it cannot find
 * in its message ("object not found - no match for id (...)"); any other failure (an object that
 * is not a commit, one libgit2 cannot parse) is a damaged store, as twin's walk takes it. */
int twin_history_walk_libgit2(git_oid **ids, size_t *count, git_repository *repo,
                              const git_oid *head)
{
    git_revwalk *walk = NULL;
    git_oid *out = NULL, id;
    size_t n = 0, cap = 0;
    int rc = 0, err;
    *ids = NULL;
    *count = 0;
    if (git_revwalk_new(&walk, repo) < 0)
        return twin_error_git("starting libgit2's walk");
    if ((err = git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE)) == 0 &&
        (err = git_revwalk_push(walk, head)) == 0)
        while ((err = git_revwalk_next(&id, walk)) == 0) {
            if ((rc = twin_util_grow((void **)&out, &cap, n + 1, sizeof(*out))))
                break;
            out[n++] = id;
        }
    if (rc == 0 && err != GIT_ITEROVER) {
        const git_error *e = git_error_last();
        const char *why = e && e->message ? e->message : "libgit2 error";
        char head_hex[GIT_OID_HEXSZ + 1];
        git_oid_tostr(head_hex, sizeof(head_hex), head);
        rc = err == GIT_ENOTFOUND
                 ? twin_error(TWIN_ERROR,
                              "a commit of the history of %s cannot be read, the store is "
                              "damaged: %s",
                              head_hex, why)
                 : twin_error(TWIN_EVERIFY,
                              "the history of %s cannot be walked (the store is damaged): %s",
                              head_hex, why);
    }
    if (rc == 0) {
        *ids = out;
        *count = n;
        out = NULL;
    }
    free(out);
    git_revwalk_free(walk);
    return rc;
}

int twin_history_walk_failed(git_repository *repo, const git_oid *head, const char *context)
{
    char why[512];
    const git_error *e = git_error_last();
    snprintf(why, sizeof(why), "%s", e && e->message ? e->message : "libgit2 error");
    git_oid *ids = NULL;
    size_t count = 0;
    int rc = twin_history_walk(&ids, &count, repo, head);
    free(ids);
    if (rc)
        return twin_error_wrap(rc, "%s", context);
    return twin_error(TWIN_ERROR, "%s: %s", context, why);
}

int twin_history_walk_packed(git_oid **ids, size_t *count, git_oid **stops, size_t *nstops,
                             twin_packread *packs, const git_oid *head)
{
    struct walk w = {.packs = packs};
    int rc = walk_from(ids, count, &w, head);
    *stops = w.stops;
    *nstops = w.nstops;
    if (rc) {
        free(w.stops);
        *stops = NULL;
        *nstops = 0;
    }
    return rc;
}

/* ---- newest first --------------------------------------------------------------------------- */

/* A binary heap of nodes, the latest committer time on top. It sifts as libgit2's git_pqueue
 * does (its child on the left first, an equal time never moved past), so that commits of the
 * same second come out in the order libgit2's walk gives them. */
struct heap {
    uint32_t *items;
    size_t count, cap;
};

static int later_first(const int64_t *times, uint32_t a, uint32_t b)
{
    return times[a] < times[b] ? 1 : times[a] > times[b] ? -1 : 0;
}

static int heap_push(struct heap *h, const int64_t *times, uint32_t item)
{
    if (twin_util_grow((void **)&h->items, &h->cap, h->count + 1, sizeof(*h->items)))
        return TWIN_ERROR;
    size_t el = h->count++;
    while (el > 0) {
        size_t up = (el - 1) / 2;
        if (later_first(times, h->items[up], item) <= 0)
            break;
        h->items[el] = h->items[up];
        el = up;
    }
    h->items[el] = item;
    return 0;
}

static uint32_t heap_pop(struct heap *h, const int64_t *times)
{
    uint32_t top = h->items[0], moved = h->items[--h->count];
    size_t el = 0;
    if (h->count == 0)
        return top;
    for (;;) {
        size_t kid = 2 * el + 1;
        if (kid >= h->count)
            break;
        if (kid + 1 < h->count && later_first(times, h->items[kid], h->items[kid + 1]) > 0)
            kid++;
        if (later_first(times, moved, h->items[kid]) <= 0)
            break;
        h->items[el] = h->items[kid];
        el = kid;
    }
    h->items[el] = moved;
    return top;
}

struct twin_history_iter {
    struct walk w;
    bool whole;
    uint32_t *parent_node; /* whole: node of each entry of w.parents */
    uint32_t *children;    /* whole: 1 + the children not yet given, 0 once given */
    struct heap heap;
};

/* Reads every commit reachable from the head (node 0), and counts each one's children. */
static int read_whole(struct twin_history_iter *it)
{
    struct walk *w = &it->w;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < w->count; i++)
        for (uint32_t k = 0; rc == 0 && k < w->nparents[i]; k++) {
            uint32_t p;
            git_oid pid = w->parents[w->first[i] + k];
            rc = node(&p, w, &pid);
        }
    if (rc)
        return rc;
    it->parent_node =
        twin_util_malloc_array(w->parents_count ? w->parents_count : 1, sizeof(*it->parent_node));
    it->children = twin_util_malloc_array(w->count, sizeof(*it->children));
    if (!it->parent_node || !it->children)
        return twin_error(TWIN_ERROR, "out of memory");
    for (size_t i = 0; i < w->count; i++)
        it->children[i] = 1;
    for (size_t e = 0; e < w->parents_count; e++) {
        long at = twin_util_idmap_find(&w->map, w->ids, sizeof(*w->ids), w->parents[e].id);
        it->parent_node[e] = (uint32_t)at;
        it->children[at]++;
    }
    return 0;
}

int twin_history_iter_new(twin_history_iter **out, git_repository *repo, const git_oid *head,
                          bool whole)
{
    *out = NULL;
    struct twin_history_iter *it = calloc(1, sizeof(*it));
    if (!it)
        return twin_error(TWIN_ERROR, "out of memory");
    it->whole = whole;
    it->w.with_times = true;
    uint32_t top;
    int rc = twin_packread_open(&it->w.packs, repo);
    /* Commits lie all over the packs: the pages read are let go often, so that reading every
     * commit of a long history does not keep the packs in memory. */
    if (rc == 0)
        twin_packread_lean(it->w.packs);
    if (rc == 0 && git_repository_odb(&it->w.odb, repo) < 0)
        rc = twin_error_git("opening the object database");
    if (rc == 0)
        rc = node(&top, &it->w, head);
    if (rc == 0 && whole)
        rc = read_whole(it);
    if (rc == 0)
        rc = heap_push(&it->heap, it->w.times, top);
    if (rc == 0)
        it->w.state[top] = 1;
    if (rc) {
        twin_history_iter_free(it);
        return rc;
    }
    *out = it;
    return 0;
}

int twin_history_iter_next(git_oid *id, int64_t *time, twin_history_iter *it)
{
    struct walk *w = &it->w;
    if (it->heap.count == 0)
        return 1;
    uint32_t n = heap_pop(&it->heap, w->times);
    *id = w->ids[n];
    *time = w->times[n];
    for (uint32_t k = 0; k < w->nparents[n]; k++) {
        uint32_t e = w->first[n] + k, p;
        int rc = 0;
        if (it->whole) {
            /* Kahn's order: a parent is ready once its last child has been given. */
            p = it->parent_node[e];
            if (it->children[p] == 0 || --it->children[p] != 1)
                continue;
        } else {
            git_oid pid = w->parents[e];
            if ((rc = node(&p, w, &pid)))
                return rc;
            if (w->state[p])
                continue;
            w->state[p] = 1;
        }
        if ((rc = heap_push(&it->heap, w->times, p)))
            return rc;
    }
    if (it->whole)
        it->children[n] = 0;
    return 0;
}

int twin_history_read_head(struct twin_commit_head *h, twin_packread *packs, git_odb *odb,
                           const git_oid *id)
{
    struct view v;
    int rc = view_read(&v, packs, odb, id);
    if (rc)
        return rc;
    if (v.type != GIT_OBJECT_COMMIT || twin_history_head_parse(h, v.data, v.size))
        rc = twin_error(TWIN_EVERIFY, "%s is not a commit in git's form (the store is damaged)",
                        git_oid_tostr_s(id));
    h->parent0 = NULL; /* it pointed into data */
    view_free(&v);
    return rc;
}

/* git's summary of a commit (git_commit_summary): the message's first paragraph, leading blank
 * lines left out; a run of white space that holds a line break becomes one space, any other run
 * is kept as it is, and white space after the last word is dropped. */
static void summary_of(char *out, size_t size, const char *data, size_t len)
{
    const char *end = data + len, *p = NULL, *space = NULL;
    size_t n = 0;
    bool broke = false;
    for (const char *q = data; q + 1 < end && !p; q++)
        if (q[0] == '\n' && q[1] == '\n')
            p = q + 2;
    if (!p && len > 0 && data[len - 1] == '\n')
        p = end; /* headers alone: no message */
    out[0] = '\0';
    if (!p || size == 0)
        return;
    while (p < end && *p == '\n')
        p++;
    for (; p < end && *p; p++) {
        if (*p == '\n') {
            const char *next = p + 1;
            while (next < end && (*next == ' ' || *next == '\t' || *next == '\v' || *next == '\f' ||
                                  *next == '\r'))
                next++;
            if (next >= end || *next == '\n' || *next == '\0')
                break; /* the paragraph ends at a line that is empty or only white space */
        }
        if (isspace((unsigned char)*p)) {
            if (!space) {
                space = p;
                broke = false;
            }
            broke |= *p == '\n';
            continue;
        }
        if (space) {
            if (broke) {
                if (n + 1 < size)
                    out[n++] = ' ';
            } else {
                for (const char *s = space; s < p && n + 1 < size; s++)
                    out[n++] = *s;
            }
            space = NULL;
        }
        if (n + 1 < size)
            out[n++] = *p;
    }
    out[n] = '\0';
}

int twin_history_iter_summary(char *out, size_t size, twin_history_iter *it, const git_oid *id)
{
    struct view v;
    int rc = view_read(&v, it->w.packs, it->w.odb, id);
    if (rc)
        return rc;
    if (v.type != GIT_OBJECT_COMMIT)
        rc = twin_error(TWIN_EVERIFY, "%s is not a commit (the store is damaged)",
                        git_oid_tostr_s(id));
    else
        summary_of(out, size, v.data, v.size);
    view_free(&v);
    return rc;
}

void twin_history_iter_free(twin_history_iter *it)
{
    if (!it)
        return;
    free(it->w.ids);
    free(it->w.first);
    free(it->w.nparents);
    free(it->w.state);
    free(it->w.times);
    free(it->w.parents);
    free(it->w.stops);
    twin_util_idmap_free(&it->w.map);
    git_odb_free(it->w.odb);
    twin_packread_free(it->w.packs);
    free(it->parent_node);
    free(it->children);
    free(it->heap.items);
    free(it);
}
