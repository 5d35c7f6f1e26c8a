#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "twin/error.h"

int twin_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q)
        return twin_error(TWIN_ERROR, "out of memory");
    *p = q;
    *cap = n;
    return 0;
}

int twin_read_file(char **out, size_t *len, const char *path, size_t max)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    *out = NULL;
    *len = 0;
    if (!f)
        return twin_error(TWIN_ENOTFOUND, "cannot read %s: %s", path, strerror(errno));
    if (fstat(fileno(f), &st) != 0 || (size_t)st.st_size > max) {
        fclose(f);
        return twin_error(TWIN_ELIMIT, "%s: larger than %zu bytes", path, max);
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t got = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
    fclose(f);
    if (!buf || got != (size_t)st.st_size) {
        free(buf);
        return twin_error(TWIN_ERROR, "cannot read %s", path);
    }
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return 0;
}

int twin_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}
