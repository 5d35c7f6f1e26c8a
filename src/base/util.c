#define _GNU_SOURCE /* sync_file_range */
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "twin/error.h"

int twin_util_array_bytes(size_t *bytes, size_t n, size_t elem)
{
    if (elem && n > TWIN_ARRAY_BYTES_MAX / elem)
        return twin_error(TWIN_ELIMIT,
                          "an array of %zu items of %zu bytes is larger than %zu bytes", n, elem,
                          TWIN_ARRAY_BYTES_MAX);
    *bytes = n * elem;
    return 0;
}

void *twin_util_malloc_array(size_t n, size_t elem)
{
    return twin_util_realloc_array(NULL, n, elem);
}

void *twin_util_realloc_array(void *p, size_t n, size_t elem)
{
    size_t bytes = 0;
    if (twin_util_array_bytes(&bytes, n, elem))
        return NULL;
    void *q = realloc(p, bytes ? bytes : 1);
    if (!q)
        twin_error(TWIN_ERROR, "out of memory");
    return q;
}

int twin_util_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t most = elem ? TWIN_ARRAY_BYTES_MAX / elem : TWIN_ARRAY_BYTES_MAX, bytes = 0;
    if (twin_util_array_bytes(&bytes, need, elem))
        return TWIN_ELIMIT;
    /* Doubled from 16, up to the most an array of these items may hold: past that, just need. */
    size_t n = *cap && *cap <= most ? *cap : 16;
    while (n < need)
        n = n <= most / 2 ? n * 2 : need;
    if (n > most)
        n = need;
    void *q = twin_util_realloc_array(*p, n, elem);
    if (!q)
        return twin_error_wrap(TWIN_ERROR, "growing an array to %zu items", need);
    *p = q;
    *cap = n;
    return 0;
}

int twin_util_read_file(char **out, size_t *len, const char *path, size_t max)
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

int twin_util_write_all(int fd, const void *data, size_t len)
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

size_t twin_util_utf8_invalid_at(const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        unsigned char lo = 0x80, hi = 0xbf; /* the bounds of the second byte */
        size_t more;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            more = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            more = 2;
            lo = c == 0xe0 ? 0xa0 : lo; /* overlong */
            hi = c == 0xed ? 0x9f : hi; /* surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            more = 3;
            lo = c == 0xf0 ? 0x90 : lo; /* overlong */
            hi = c == 0xf4 ? 0x8f : hi; /* above U+10FFFF */
        } else {
            return i;
        }
        if (more > len - i - 1 || p[i + 1] < lo || p[i + 1] > hi)
            return i;
        for (size_t k = 2; k <= more; k++)
            if (p[i + k] < 0x80 || p[i + k] > 0xbf)
                return i;
        i += more + 1;
    }
    return len;
}

size_t twin_util_utf8_chars(const char *s, size_t len)
{
    if (twin_util_utf8_invalid_at(s, len) != len)
        return SIZE_MAX;
    size_t chars = 0;
    for (size_t i = 0; i < len; i++)
        chars += ((unsigned char)s[i] & 0xc0) != 0x80; /* every byte but continuations */
    return chars;
}

static const unsigned char *idmap_key(const void *ids, size_t stride, uint32_t e)
{
    return (const unsigned char *)ids + (size_t)e * stride;
}

static size_t idmap_home(const unsigned char *id, size_t cap)
{
    uint64_t x;
    memcpy(&x, id, sizeof(x));
    return (size_t)x & (cap - 1);
}

long twin_util_idmap_find(const struct twin_idmap *m, const void *ids, size_t stride,
                          const unsigned char id[20])
{
    if (!m->cap)
        return -1;
    for (size_t k = idmap_home(id, m->cap); m->slots[k]; k = (k + 1) & (m->cap - 1))
        if (memcmp(idmap_key(ids, stride, m->slots[k] - 1), id, 20) == 0)
            return (long)m->slots[k] - 1;
    return -1;
}

/* Puts entry plus one in the first free slot from its id's home. */
static void idmap_place(uint32_t *slots, size_t cap, const unsigned char *id, uint32_t plus_one)
{
    size_t k = idmap_home(id, cap);
    while (slots[k])
        k = (k + 1) & (cap - 1);
    slots[k] = plus_one;
}

int twin_util_idmap_add(struct twin_idmap *m, const void *ids, size_t stride, uint32_t e)
{
    /* A slot holds the entry plus one, which for the last uint32_t would be 0: an empty slot. */
    if (e == UINT32_MAX)
        return twin_error(TWIN_ELIMIT, "an id map holds entries below %" PRIu32, UINT32_MAX);
    if ((m->used + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 4096;
        uint32_t *slots = calloc(cap, sizeof(*slots));
        if (!slots)
            return twin_error(TWIN_ERROR, "out of memory");
        for (size_t i = 0; i < m->cap; i++)
            if (m->slots[i])
                idmap_place(slots, cap, idmap_key(ids, stride, m->slots[i] - 1), m->slots[i]);
        free(m->slots);
        m->slots = slots;
        m->cap = cap;
    }
    idmap_place(m->slots, m->cap, idmap_key(ids, stride, e), e + 1);
    m->used++;
    return 0;
}

void twin_util_idmap_free(struct twin_idmap *m)
{
    free(m->slots);
    memset(m, 0, sizeof(*m));
}

void twin_util_test_stop(const char *step)
{
    const char *at = getenv("TWIN_TEST_STOP");
    if (at && strcmp(at, step) == 0)
        raise(SIGSTOP);
}

int64_t twin_util_clock_now(void)
{
    int64_t now = (int64_t)time(NULL);
    const char *skew = getenv("TWIN_TEST_CLOCK_SKEW");
    if (skew && *skew) {
        char *end;
        errno = 0;
        long long s = strtoll(skew, &end, 10);
        /* Bounded so that the sum cannot overflow: far beyond any date anyone writes. */
        if (!*end && errno == 0 && s > -(INT64_C(1) << 50) && s < (INT64_C(1) << 50))
            now += (int64_t)s;
    }
    return now;
}

int64_t twin_util_commit_time_now(void)
{
    int64_t now = twin_util_clock_now();
    return now < 0 ? 0 : now > TWIN_LAST_DATE ? TWIN_LAST_DATE : now;
}

void twin_util_format_time(char out[static TWIN_UTIL_TIME_BYTES], int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) ||
        strftime(out, TWIN_UTIL_TIME_BYTES, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(out, TWIN_UTIL_TIME_BYTES, "@%lld", (long long)t);
}

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* n decimal digits at p, as a number, or -1. */
static long digits(const char *p, int n)
{
    long v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

static int parse_absolute(int64_t *out, const char *s, bool end)
{
    static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    long y = digits(s, 4), mo, d, h = 0, mi = 0, sec = 0, off = 0;
    if (y < 0 || s[4] != '-' || (mo = digits(s + 5, 2)) < 1 || mo > 12 || s[7] != '-' ||
        (d = digits(s + 8, 2)) < 1)
        return -1;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if ((unsigned long)d > mdays[mo - 1] + (mo == 2 && leap))
        return -1;
    const char *p = s + 10;
    bool has_time = *p == 'T' || *p == ' ';
    if (has_time) {
        if ((h = digits(p + 1, 2)) < 0 || h > 23 || p[3] != ':' || (mi = digits(p + 4, 2)) < 0 ||
            mi > 59)
            return -1;
        p += 6;
        if (*p == ':') {
            if ((sec = digits(p + 1, 2)) < 0 || sec > 59)
                return -1;
            p += 3;
        }
        if (*p == 'Z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            long oh = digits(p + 1, 2), om;
            if (oh < 0 || oh > 23)
                return -1; /* before p[3]: the text may end within the hours */
            const char *q = p + 3 + (p[3] == ':');
            if ((om = digits(q, 2)) < 0 || om > 59)
                return -1;
            off = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
            p = q + 2;
        }
    }
    if (*p)
        return -1;
    int64_t t = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec;
    *out = t - off + (!has_time && end ? 86399 : 0);
    return 0;
}

/* "N UNIT ago" with the words apart by one space or one dot. */
static int parse_relative(int64_t *out, const char *s)
{
    static const struct {
        const char *name;
        int64_t seconds;
    } units[] = {{"second", 1}, {"minute", 60}, {"hour", 3600}, {"day", 86400}, {"week", 604800}};
    char *rest;
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long long n = strtoull(s, &rest, 10);
    if (errno || n > (1ULL << 40) || (*rest != ' ' && *rest != '.'))
        return -1;
    char sep = *rest++;
    const char *word = rest, *ago = strchr(word, sep);
    if (!ago || strcmp(ago + 1, "ago") != 0)
        return -1;
    size_t len = (size_t)(ago - word);
    if (len > 1 && word[len - 1] == 's')
        len--;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (strlen(units[i].name) == len && memcmp(word, units[i].name, len) == 0) {
            *out = twin_util_clock_now() - (int64_t)n * units[i].seconds;
            return 0;
        }
    if ((len == 5 && memcmp(word, "month", 5) == 0) || (len == 4 && memcmp(word, "year", 4) == 0))
        return -2;
    return -1;
}

int twin_util_parse_date(int64_t *out, const char *text, bool end)
{
    int rc = -1;
    if (text[0] == '@' && text[1] >= '0' && text[1] <= '9') {
        char *rest;
        errno = 0;
        long long v = strtoll(text + 1, &rest, 10);
        rc = *rest || errno ? -1 : 0;
        *out = (int64_t)v;
    } else if (strlen(text) >= 10 && text[4] == '-') {
        rc = parse_absolute(out, text, end);
    } else {
        rc = parse_relative(out, text);
    }
    if (rc == -2)
        return twin_error(TWIN_EINVALID,
                          "'%s': months and years are not of one length; give a "
                          "date (2026-11-22) or days or weeks",
                          text);
    if (rc)
        return twin_error(TWIN_EINVALID,
                          "'%s' is not a date: give 2026-11-22, 2026-11-22T07:21:33 (UTC, or "
                          "with Z or an offset like +02:00), @SECONDS, or 3.days.ago",
                          text);
    return 0;
}

int twin_util_flock(int *fd_out, const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return twin_error(TWIN_ERROR, "cannot open the lock %s: %s", path, strerror(errno));
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            int rc = twin_error(TWIN_ERROR, "cannot take the lock %s: %s", path, strerror(errno));
            close(fd);
            return rc;
        }
    }
    *fd_out = fd;
    return 0;
}

#define STALE_LOCK_MS 1000

void twin_util_clear_stale_lock(const char *path)
{
    struct stat st;
    for (int waited = 0; stat(path, &st) == 0; waited += 50) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        long long age_ms = ((long long)now.tv_sec - (long long)st.st_mtim.tv_sec) * 1000 +
                           (now.tv_nsec - st.st_mtim.tv_nsec) / 1000000;
        if (age_ms >= STALE_LOCK_MS || waited >= STALE_LOCK_MS) {
            unlink(path);
            return;
        }
        struct timespec pause = {0, 50 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
}

void twin_util_start_writeback(int fd)
{
#ifdef SYNC_FILE_RANGE_WRITE
    /* Only a hint: whatever it fails to start, the fsync that follows still writes. */
    (void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#else
    (void)fd;
#endif
}

int twin_util_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}
