/*
 * The list cache: what `twin list` and `twin status` need of the records at the head, kept in
 * <node>/listcache.db (SQLite) so that they do not read every record and walk the whole history
 * each time. It is only a cache: it records the head it describes and the network it belongs to,
 * is brought up to a new head by comparing the two heads' trees, and is rebuilt whole from the
 * history when it is missing, damaged, of another version or network, or its head is not an
 * ancestor of the new one. Deleting it loses nothing.
 *
 * It holds only what every node sees in the clear: of a sealed record its id, type, whether it is
 * withdrawn or erased, and its blob id, never its content (proto/SEALED.md: erasure deletes the
 * keys and content on every node). Where the node's directory cannot hold it (read-only, another
 * user's), the cache is built in memory for one answer.
 */
#ifndef TWIN_LISTCACHE_H
#define TWIN_LISTCACHE_H

#include <git2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "twin/node.h"

#define TWIN_LISTCACHE_FILE "listcache.db"

typedef struct twin_listcache twin_listcache;

/* One record at the head. The strings live until the next row. */
/* A record a row's record names in one of its type's top-level reference fields. */
struct twin_listcache_ref {
    const char *field;  /* the field ("partnership") */
    const char *target; /* the id it holds */
    const char *type;   /* the type of the record of that id, NULL when the head holds none */
    const char *name;   /* that record's title, NULL when it is sealed (or there is none) */
};
#define TWIN_LISTCACHE_REFS_MAX 8

struct twin_listcache_row {
    const char *id, *type;
    const char *title; /* NULL for a sealed record */
    const char *text;  /* the stored record's canonical JSON; NULL for a sealed record */
    size_t text_len;
    git_oid blob; /* the stored record (for a sealed one, its envelope) */
    bool sealed, erased, withdrawn;
    int64_t created, changed; /* the commit times it was first written and last changed */
    struct twin_listcache_ref refs[TWIN_LISTCACHE_REFS_MAX]; /* with the query's refs */
    size_t nrefs;
};

/* What twin_listcache_open keeps beside the records, each walked for in the whole history the
 * first time it is asked for, and kept up from then on. */
#define TWIN_LISTCACHE_COMMITS 1u /* how many commits the history holds (a walk of commits) */
#define TWIN_LISTCACHE_DATES   2u /* the records' dates (a tree comparison per commit) */

/* Opens node n's cache brought up to the head (in memory when the node's directory cannot hold
 * one), with what (TWIN_LISTCACHE_...) known. TWIN_ENOHISTORY when the node has no history; an
 * object that cannot be read on the way is named, as a read of the store names it. */
int twin_listcache_open(twin_listcache **out, twin_node *n, unsigned what);
void twin_listcache_free(twin_listcache *c);

/* The head the cache describes, and how many commits its history holds (opened with
 * TWIN_LISTCACHE_COMMITS). */
const git_oid *twin_listcache_head(const twin_listcache *c);
size_t twin_listcache_commits(const twin_listcache *c);

/* Whether the cache lives in the node's directory (false: built in memory for this answer). */
bool twin_listcache_on_disk(const twin_listcache *c);

/* Which records twin_listcache_each gives, and what of them. */
struct twin_listcache_query {
    const char *type; /* NULL: every type */
    bool all;         /* withdrawn records too */
    bool text;        /* a clear record's text (else NULL) */
    bool dates;       /* its dates (else 0): open the cache with TWIN_LISTCACHE_DATES */
    bool refs;        /* the records a clear record names in its top-level reference fields */
    bool sealed_only; /* only sealed records */
};

/* Calls fn for each record q selects, in order of id, until fn returns non-zero (returned). */
int twin_listcache_each(twin_listcache *c, const struct twin_listcache_query *q,
                        int (*fn)(const struct twin_listcache_row *row, void *ctx), void *ctx);

/* A record opened for a search beside the cache's (a sealed record this node reads): matched
 * in memory, its words never written to the cache's file. */
struct twin_listcache_doc {
    const char *id, *type, *title, *words; /* words: twin_record_words */
    bool withdrawn;
};

/* What twin_listcache_search looks for. */
struct twin_listcache_search {
    const char *match;                  /* an SQLite FTS5 query over titles and words */
    const char *type;                   /* NULL: every type */
    bool all;                           /* withdrawn records too */
    size_t limit;                       /* the best so many (0: all) */
    const char *mark_open, *mark_close; /* around each word found in the text shown */
    const struct twin_listcache_doc *opened;
    size_t nopened;
};

/* Called for each record found, best first (FTS5's bm25 rank, lower is better; a match in the
 * title counts ten times one elsewhere): its row (no text, dates or references; a record opened
 * for the search has no blob), the text around the words found, with each marked, and its rank. */
typedef int (*twin_listcache_hit_fn)(const struct twin_listcache_row *row, const char *shown,
                                     double rank, void *ctx);

/* Finds the clear records whose title or words (twin_record_words) match q->match, and those of
 * q->opened, until fn returns non-zero (returned). TWIN_EINVALID, naming it, for a query FTS5
 * cannot read. */
int twin_listcache_search(twin_listcache *c, const struct twin_listcache_search *q,
                          twin_listcache_hit_fn fn, void *ctx);

/* How many records of each type (per_type[i] for twin_record_types()[i]) and how many withdrawn. */
int twin_listcache_count(size_t *per_type, size_t *withdrawn, twin_listcache *c);

#endif
