/*
 * The progress display: the library's progress reports (twin/progress.h) drawn on standard error
 * when it is a terminal, one line per step redrawn in place at most ten times a second, shown
 * only once a step has taken half a second, and left with its final count when the step ends:
 * when it reaches its total, when another step begins, or when the command ends.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "twin/progress.h"

#define SHOW_AFTER_MS 500 /* quick steps show nothing; TWIN_PROGRESS_DELAY_MS changes it */
#define REDRAW_MS     100

static long long show_after_ms = SHOW_AFTER_MS;

struct view {
    char step[64], unit[24];
    uint64_t done, total;
    struct timespec start, drawn_at;
    bool drawn;
};

static struct view view;
static pthread_mutex_t view_lock = PTHREAD_MUTEX_INITIALIZER;

static long long ms_between(const struct timespec *a, const struct timespec *b)
{
    return (long long)(b->tv_sec - a->tv_sec) * 1000 + (b->tv_nsec - a->tv_nsec) / 1000000;
}

/* n with thousands separated: "12,345". */
static const char *count_text(char buf[32], uint64_t n)
{
    char digits[24];
    int len = snprintf(digits, sizeof(digits), "%llu", (unsigned long long)n), o = 0;
    for (int i = 0; i < len; i++) {
        if (i && (len - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

/* An amount of the view's unit: bytes as a size, else a count and the unit. */
static const char *amount_text(char buf[48], uint64_t n, const char *unit)
{
    char num[32];
    if (strcmp(unit, "bytes") == 0) {
        if (n >= (1u << 20))
            snprintf(buf, 48, "%.1f MiB", (double)n / (1 << 20));
        else
            snprintf(buf, 48, "%.0f KiB", (double)n / (1 << 10));
    } else {
        snprintf(buf, 48, "%s", count_text(num, n));
    }
    return buf;
}

static void draw(const struct timespec *now, bool final)
{
    char done[48], total[48], rate[48];
    long long ms = ms_between(&view.start, now);
    double per_s = ms > 0 ? (double)view.done * 1000.0 / (double)ms : 0;
    bool bytes = strcmp(view.unit, "bytes") == 0;
    fprintf(stderr, "\r%s: %s", view.step, amount_text(done, view.done, view.unit));
    if (view.total)
        fprintf(stderr, " of %s", amount_text(total, view.total, view.unit));
    if (!bytes) { /* "1 commit", "2 commits": the unit is given in the plural */
        uint64_t last = view.total ? view.total : view.done;
        size_t len = strlen(view.unit);
        int cut = last == 1 && len > 1 && view.unit[len - 1] == 's';
        fprintf(stderr, " %.*s", (int)(len - (size_t)cut), view.unit);
    }
    if (view.total && view.total >= view.done)
        fprintf(stderr, " (%d%%)", (int)(view.done * 100 / view.total));
    fprintf(stderr, ", %s%s/s", amount_text(rate, (uint64_t)per_s, view.unit), "");
    if (final) {
        fprintf(stderr, ", done in %.1f s\033[K\n", (double)ms / 1000.0);
    } else if (view.total > view.done && per_s > 0) {
        long long left = (long long)((double)(view.total - view.done) / per_s + 0.5);
        if (left >= 3600)
            fprintf(stderr, ", about %lld h %02lld min left\033[K", left / 3600, left % 3600 / 60);
        else if (left >= 60)
            fprintf(stderr, ", about %lld min %02lld s left\033[K", left / 60, left % 60);
        else
            fprintf(stderr, ", about %lld s left\033[K", left);
    } else {
        fputs("\033[K", stderr);
    }
    fflush(stderr);
    view.drawn_at = *now;
    view.drawn = true;
}

/* Ends the step on view: its final line, when it was shown or has run long enough to be. */
static void finish(const struct timespec *now)
{
    if (view.step[0] && (view.drawn || ms_between(&view.start, now) >= show_after_ms))
        draw(now, true);
    view.step[0] = '\0';
    view.drawn = false;
}

static void on_progress(const struct twin_progress *p, void *ctx)
{
    (void)ctx;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    pthread_mutex_lock(&view_lock);
    if (strncmp(view.step, p->step, sizeof(view.step) - 1) != 0) {
        finish(&now);
        snprintf(view.step, sizeof(view.step), "%s", p->step);
        snprintf(view.unit, sizeof(view.unit), "%s", p->unit);
        view.start = now;
    }
    view.done = p->done;
    view.total = p->total;
    if (view.total && view.done >= view.total)
        finish(&now); /* before the command prints what it found */
    else if (ms_between(&view.start, &now) >= show_after_ms &&
             (!view.drawn || ms_between(&view.drawn_at, &now) >= REDRAW_MS))
        draw(&now, false);
    pthread_mutex_unlock(&view_lock);
}

void cli_progress_begin(const struct cli *c)
{
    const char *term = getenv("TERM");
    if (c->json || c->quiet || !isatty(STDERR_FILENO) || (term && strcmp(term, "dumb") == 0))
        return;
    memset(&view, 0, sizeof(view));
    const char *delay = getenv("TWIN_PROGRESS_DELAY_MS");
    char *end = NULL;
    long long ms = delay && *delay ? strtoll(delay, &end, 10) : -1;
    show_after_ms = end && *end == '\0' && ms >= 0 ? ms : SHOW_AFTER_MS;
    twin_progress_set(on_progress, NULL);
}

void cli_progress_end(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    pthread_mutex_lock(&view_lock);
    finish(&now);
    pthread_mutex_unlock(&view_lock);
    twin_progress_set(NULL, NULL);
}

void cli_progress_off_on_terminal_output(void)
{
    if (isatty(STDOUT_FILENO))
        twin_progress_set(NULL, NULL);
}
