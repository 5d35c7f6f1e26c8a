/*
 * Blame: for each field and list item of a record, the change that last set it — commit, member,
 * key and time — found by replaying the record's history from its creation.
 */
#ifndef TWIN_BLAME_H
#define TWIN_BLAME_H

#include <git2.h>
#include <jansson.h>
#include <stdint.h>

#include "twin/key.h"
#include "twin/node.h"
#include "twin/ops.h"

struct twin_blame_line {
    /* The path (as twin_record_set_path takes it) of a leaf field ("dates.planned_start") or of
     * a list item ("periods[0]", "periods[0].actuals[1]"). A leaf is a value that is neither an
     * object nor a list, or an empty one. An item is credited to the change that last altered
     * anything in it, a field to the change that last set it. Between two versions a list's
     * items are matched: equal items at its start and end, then the longest run of equal items
     * in order, and items left between two matched ones are paired in order and compared field
     * by field. So an item keeps its credit when items before it are added or removed; an item
     * that is gone has no line (twin log names the change that removed it). */
    char *field;
    json_t *value;
    git_oid commit;
    int64_t time;
    char org_id[128];               /* the member who signed that change, "" if none */
    char key[TWIN_OPENSSH_PUB_MAX]; /* its key, "" if the commit is unsigned */
    int valid;                      /* 1 when that commit is valid */
};

struct twin_blame {
    char type[32];
    size_t count;
    struct twin_blame_line *lines; /* fields by name, items in order, an item before its fields */
    size_t changes;                /* commits that changed the record */
    /* Sealed records (proto/SEALED.md): fields come only from the versions this node opens. A
     * field set in a version it cannot open is credited to the next version it opens; the version
     * at the head unreadable here gives no lines at all. */
    enum twin_sealing sealing; /* of the version at the head */
    size_t unreadable;         /* versions this node could not open (sealed to others, erased) */
};

/* Blames record id at the head (a sealed one in its content, as far as this node can open its
 * versions). TWIN_ENOTFOUND when there is no such record. */
int twin_blame(struct twin_blame **out, twin_node *n, const char *id);
void twin_blame_free(struct twin_blame *b);

#endif
