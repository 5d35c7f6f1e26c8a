/*
 * What the benchmark programs share: clocks and removing a scratch directory. Include after
 * defining _XOPEN_SOURCE 700 (nftw).
 */
#ifndef TWIN_BENCH_H
#define TWIN_BENCH_H

#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

/* Elapsed seconds on a monotonic clock. */
static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU time of this process: unlike elapsed time, not inflated by whatever else the machine
 * runs. */
static inline double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline int bench_remove_entry(const char *path, const struct stat *st, int flag,
                                     struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes a directory and everything under it. */
static inline void bench_remove_tree(const char *dir)
{
    nftw(dir, bench_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
