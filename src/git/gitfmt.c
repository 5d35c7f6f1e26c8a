#include "git/gitfmt.h"

#include <string.h>

#include "base/sha1.h"

/* ---- trees ---------------------------------------------------------------------------------- */

size_t twin_gitfmt_tree_entry_len(const unsigned char *p, size_t left)
{
    const unsigned char *nul = memchr(p, 0, left);
    if (!nul || (size_t)(nul - p) + 1 + TWIN_SHA1_BYTES > left)
        return 0;
    return (size_t)(nul - p) + 1 + TWIN_SHA1_BYTES;
}

int twin_gitfmt_tree_entry_cmp(const unsigned char *a, const unsigned char *b)
{
    const char *an = strchr((const char *)a, ' '), *bn = strchr((const char *)b, ' ');
    if (!an || !bn)
        return 0;
    an++;
    bn++;
    return twin_gitfmt_tree_order(an, strlen(an), a[0] == '4', bn, strlen(bn), b[0] == '4');
}
