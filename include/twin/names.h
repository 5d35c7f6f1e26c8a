/*
 * The names of records, for people reading ids: a record's name is the value of its type's title
 * field (a partnership's title, a person's name), and a record's references are the ids its
 * fields hold. Listings print a referenced record's name beside its id.
 */
#ifndef TWIN_NAMES_H
#define TWIN_NAMES_H

#include <git2.h>
#include <jansson.h>

#include "twin/node.h"

typedef struct twin_names twin_names;

/* A lookup of names in the records at commit at (NULL: the head as it is now), each name read
 * once and kept for the lookup's life. */
int twin_names_new(twin_names **out, twin_node *n, const git_oid *at);
void twin_names_free(twin_names *nm);

/* The name of record id of type: *name is its title field's text ("" when the record has none),
 * or NULL when it is sealed and this node cannot read it, or erased. It lives as long as nm.
 * TWIN_ENOTFOUND when there is no such record; another code, naming it, when it cannot be read. */
int twin_names_get(const char **name, twin_names *nm, const char *type, const char *id);

/* Names are given in language lang from now on (NULL: none asked for), as
 * twin_record_title_in chooses with the named record's partnership's language as the fallback.
 * Set it before the first twin_names_get. lang is borrowed for nm's life. */
void twin_names_set_lang(twin_names *nm, const char *lang);

/* The language rec's texts fall back to: a partnership's own `language`, or the `language` of
 * the partnership rec names in its `partnership` field, read at nm's commit; NULL when there is
 * none or that partnership cannot be read (sealed to others, erased, missing). Borrowed: lives
 * as long as nm. */
const char *twin_names_lang(twin_names *nm, const json_t *rec);

/* Calls fn for each reference rec holds, in the order of its type's fields (list items in
 * order): path names the field ("partnership", "participants[0].person", "documents[1]"), id
 * the record it names and type that record's type. Stops at fn's first non-zero return and
 * returns it; 0 otherwise (also for a record of no known type). */
typedef int (*twin_names_ref_fn)(const char *path, const char *id, const char *type, void *ctx);
int twin_names_each_ref(const json_t *rec, twin_names_ref_fn fn, void *ctx);

/* Replaces each reference rec holds that is not a whole id but a prefix of one (as
 * twin_ops_resolve_id takes: 8 or more of its first characters) by the whole id of the record it
 * names at the head, so that a user may write partnership=01a2b3c4. Whole ids and values that
 * cannot begin an id are left for validation to judge. TWIN_EINVALID or TWIN_ENOTFOUND, naming
 * the field, when the prefix is too short, begins several ids, begins none, or names a record of
 * another type than the field takes. */
int twin_names_resolve_refs(json_t *rec, twin_node *n);

#endif
