/* The index of a tree's entries, made from a similar tree's (twin_treecache_index_like), is exactly
 * the one made by reading every entry (twin_treecache_index): the same verdict on whether the tree
 * is canonical, the same entries at the same offsets. Checked on random trees and random edits of
 * them: a changed id, an entry added, removed or renamed, entries swapped, a file and a directory
 * of one name, names continuing with characters below '/', broken bytes. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "git/gitfmt.h"
#include "git/treecache.h"
#include "unit/helpers.h"

struct entry {
    bool dir;
    char name[24];
    unsigned char id[20];
};

static int entry_cmp(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    return twin_gitfmt_tree_order(x->name, strlen(x->name), x->dir, y->name, strlen(y->name),
                                  y->dir);
}

static void random_entry(struct rng *r, struct entry *e, unsigned names)
{
    static const char alphabet[] = "ab-.0z";
    e->dir = rnd(r, 3) == 0;
    unsigned n = rnd(r, names);
    size_t len = 1 + n % 6;
    for (size_t i = 0; i < len; i++)
        e->name[i] = alphabet[(n >> (3 * i + 3)) % 6];
    e->name[len] = '\0';
    if (strspn(e->name, ".") == len && len <= 2)
        e->name[0] = 'a'; /* "." and ".." are never canonical; other names with dots are */
    for (size_t i = 0; i < 20; i++)
        e->id[i] = (unsigned char)rnd(r, 256);
}

static size_t serialise(unsigned char *out, const struct entry *e, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        len +=
            (size_t)sprintf((char *)out + len, "%s %s", e[i].dir ? "40000" : "100644", e[i].name);
        out[len++] = '\0';
        memcpy(out + len, e[i].id, 20);
        len += 20;
    }
    return len;
}

/* Sorted entries, names mostly unique (sorting ties are left: a name twice is not canonical). */
static size_t random_entries(struct rng *r, struct entry *e, size_t max)
{
    size_t n = rnd(r, (unsigned)max + 1);
    for (size_t i = 0; i < n; i++)
        random_entry(r, &e[i], 1u << 21);
    qsort(e, n, sizeof(*e), entry_cmp);
    return n;
}

static void edit(struct rng *r, struct entry *e, size_t *n, size_t max)
{
    unsigned kind = rnd(r, 6);
    if (*n == 0 || (kind == 0 && *n < max)) { /* add, kept in order */
        random_entry(r, &e[*n], 1u << 21);
        (*n)++;
        qsort(e, *n, sizeof(*e), entry_cmp);
    } else if (kind == 1) { /* remove */
        size_t i = rnd(r, (unsigned)*n);
        memmove(&e[i], &e[i + 1], (*n - i - 1) * sizeof(*e));
        (*n)--;
    } else if (kind == 2) { /* rename, maybe out of order or onto another name */
        random_entry(r, &e[rnd(r, (unsigned)*n)], 64);
    } else if (kind == 3 && *n > 1) { /* swap two */
        size_t i = rnd(r, (unsigned)*n), j = rnd(r, (unsigned)*n);
        struct entry t = e[i];
        e[i] = e[j];
        e[j] = t;
    } else if (kind == 4) { /* a file and a directory of one name, side by side */
        size_t i = rnd(r, (unsigned)*n);
        if (*n < max) {
            e[*n] = e[i];
            e[*n].dir = !e[i].dir;
            (*n)++;
            qsort(e, *n, sizeof(*e), entry_cmp);
        }
    } else { /* a changed id */
        e[rnd(r, (unsigned)*n)].id[rnd(r, 20)] ^= (unsigned char)(1 + rnd(r, 255));
    }
}

static void assert_same_index(struct twin_treecache_tree *like, unsigned char *data, size_t size,
                              unsigned seed)
{
    struct twin_treecache_tree full = {.data = data, .size = size},
                               quick = {.data = data, .size = size};
    assert_int_equal(twin_treecache_index(&full), 0);
    assert_int_equal(twin_treecache_index_like(&quick, like), 0);
    if (full.canonical != quick.canonical)
        fail_msg("seed %u: canonical %d from every entry, %d from the similar tree", seed,
                 full.canonical, quick.canonical);
    if (full.canonical) {
        assert_int_equal(full.n, quick.n);
        for (size_t i = 0; i <= full.n; i++)
            if (full.offsets[i] != quick.offsets[i])
                fail_msg("seed %u: entry %zu at %zu, not %zu", seed, i, quick.offsets[i],
                         full.offsets[i]);
    }
    free(full.offsets);
    free(quick.offsets);
}

static void an_index_made_from_a_similar_tree_is_the_full_index(void **state)
{
    (void)state;
    enum { MAX = 120 };
    static struct entry a[MAX], b[MAX];
    static unsigned char da[MAX * 64], db[MAX * 64];
    size_t canonical = 0, cases = 0;
    for (unsigned seed = 1; seed <= 20000; seed++) {
        struct rng r = {seed};
        size_t na = random_entries(&r, a, rnd(&r, 2) ? MAX - 20 : 8), nb = na;
        memcpy(b, a, sizeof(a));
        size_t edits = 1 + rnd(&r, 3);
        for (size_t k = 0; k < edits; k++)
            edit(&r, b, &nb, MAX);
        size_t la = serialise(da, a, na), lb = serialise(db, b, nb);
        if (rnd(&r, 10) == 0 && lb > 0) /* broken bytes */
            db[rnd(&r, (unsigned)lb)] = (unsigned char)rnd(&r, 256);
        if (rnd(&r, 20) == 0 && lb > 0)
            lb -= 1 + rnd(&r, lb < 30 ? (unsigned)lb : 30u);
        struct twin_treecache_tree like = {.data = da, .size = la};
        assert_int_equal(twin_treecache_index(&like), 0);
        assert_same_index(&like, db, lb, seed);
        canonical += like.canonical;
        cases++;
        free(like.offsets);
    }
    print_message("%zu of %zu similar trees canonical\n", canonical, cases);
    /* Both kinds of similar tree were met, many times. */
    assert_true(canonical > cases / 2 && canonical < cases);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_index_made_from_a_similar_tree_is_the_full_index),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
