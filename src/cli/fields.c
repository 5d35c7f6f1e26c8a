/* Shared by add, set and edit: FIELD=VALUE assignments and bounded reading of JSON input. */
#include "fields.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twin/error.h"
#include "twin/names.h"
#include "twin/record.h"

int cli_apply_assignments(json_t *rec, int argc, char **argv, twin_node *n)
{
    twin_names *names = NULL;
    int rc = 0;
    for (int i = 0; rc == 0 && i < argc; i++) {
        /* title.fr=... on a plain title keeps that text in the partnership's language */
        const char *plain = NULL;
        if (n && strchr(argv[i], '.') && (names || twin_names_new(&names, n, NULL) == 0))
            plain = twin_names_lang(names, rec);
        rc = twin_record_assign_in(rec, argv[i], plain);
    }
    twin_names_free(names);
    return rc;
}

int cli_read_input(char **out, size_t *out_len, const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    *out = NULL;
    if (!f)
        return twin_error(TWIN_ENOTFOUND, "cannot open %s", path);
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    int rc = 0;
    while (buf) {
        if (len == cap - 1) {
            if (cap > TWIN_RECORD_MAX_BYTES) {
                rc = twin_error(TWIN_ELIMIT, "%s: larger than %d bytes", path,
                                TWIN_RECORD_MAX_BYTES);
                break;
            }
            char *grown = realloc(buf, cap * 2);
            if (!grown)
                break;
            buf = grown;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - 1 - len, f);
        len += got;
        if (got == 0)
            break;
    }
    if (!buf)
        rc = twin_error(TWIN_ERROR, "out of memory");
    else if (rc == 0 && ferror(f))
        rc = twin_error(TWIN_ERROR, "reading %s failed", path);
    else if (rc == 0 && len > TWIN_RECORD_MAX_BYTES)
        rc = twin_error(TWIN_ELIMIT, "%s: larger than %d bytes", path, TWIN_RECORD_MAX_BYTES);
    if (f != stdin)
        fclose(f);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return 0;
}

int cli_merge_fields(json_t *rec, const json_t *from)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)from, key, v)
    {
        if (strcmp(key, "id") == 0 || strcmp(key, "type") == 0) {
            if (!json_equal(json_object_get(rec, key), v))
                return twin_error(TWIN_EINVALID, "%s: set by twin, cannot be given", key);
            continue;
        }
        if (json_object_set(rec, key, v))
            return twin_error(TWIN_ERROR, "out of memory");
    }
    return 0;
}
