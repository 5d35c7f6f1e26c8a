/*
 * twin serve: runs the node as a service (twin/service.h) and prints its log, one line each with
 * the time (or, to the journal, the level), until SIGTERM or SIGINT.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "twin/error.h"
#include "twin/service.h"
#include "twin/settings.h"

/* Whether stdout is the journal: systemd names the stream it gave a service in JOURNAL_STREAM
 * ("DEVICE:INODE", sd_journal_stream_fd(3)), which then must be the file stdout is. */
static bool stdout_is_journal(void)
{
    const char *stream = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    char end;
    struct stat st;
    return stream && sscanf(stream, "%llu:%llu%c", &dev, &ino, &end) == 2 &&
           fstat(STDOUT_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
           (unsigned long long)st.st_ino == ino;
}

/* To the journal, each line goes with its level as sd-daemon.h's "<N>" prefix and no time of its
 * own, since journald stamps every line; elsewhere, with the time it was logged. */
static void print_line(void *ctx, int64_t when, int level, const char *line)
{
    const bool *journal = ctx;
    if (*journal) {
        printf("<%d>%s\n", level, line);
    } else {
        char stamp[32];
        time_t t = (time_t)when;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
        printf("%s %s\n", stamp, line);
    }
    fflush(stdout);
}

struct signals {
    sigset_t set;
    twin_service *service;
};

/* Takes the stop signal on a thread of its own: every other thread keeps it blocked, so no
 * system call of a session or of the schedule is interrupted by it. */
static void *take_signal(void *arg)
{
    struct signals *s = arg;
    int sig = 0;
    if (sigwait(&s->set, &sig) == 0)
        twin_service_stop(s->service, sig == SIGINT ? "SIGINT" : "SIGTERM");
    return NULL;
}

int cmd_serve(struct cli *c, int argc, char **argv)
{
    /* What no option says is taken from the node's settings (twin config). */
    const char *listen = NULL, *interval_text = NULL, *level_text = NULL;
    for (int i = 1; i < argc; i++) {
        int m;
        if ((m = cli_option(&listen, &i, argc, argv, "--listen")) ||
            (m = cli_option(&interval_text, &i, argc, argv, "--interval")) ||
            (m = cli_option(&level_text, &i, argc, argv, "--log-level"))) {
            if (m < 0)
                return CLI_USAGE;
            continue;
        }
        return cli_usage_error("serve", "unexpected argument '%s'", argv[i]);
    }
    int interval = 0, level = 0;
    if (interval_text && twin_settings_interval_parse(&interval, interval_text))
        return cli_usage_error("serve", "--interval: %s", twin_error_last());
    if (level_text && twin_settings_level_parse(&level, level_text))
        return cli_usage_error("serve", "--log-level: %s", twin_error_last());
    char *dir = cli_node_dir(c);
    if (!dir)
        return CLI_USAGE;

    /* Blocked before the service starts any thread, which inherits the mask. */
    struct signals sig = {.service = NULL};
    sigemptyset(&sig.set);
    sigaddset(&sig.set, SIGTERM);
    sigaddset(&sig.set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sig.set, NULL);
    signal(SIGPIPE, SIG_IGN);

    bool journal = stdout_is_journal();
    twin_service_options options = {.listen = listen,
                                    .interval = interval,
                                    .log_level = level,
                                    .log = print_line,
                                    .log_ctx = &journal};
    int rc = twin_service_new(&sig.service, dir, &options);
    free(dir);
    if (rc)
        return cli_fail(rc);
    pthread_t taker;
    if (pthread_create(&taker, NULL, take_signal, &sig) != 0) {
        twin_service_free(sig.service);
        fprintf(stderr, "twin: cannot start a thread to take signals\n");
        return CLI_CHECK_FAILED;
    }
    rc = twin_service_run(sig.service);
    if (rc) /* no stop was asked for: end the wait for one */
        pthread_kill(taker, SIGTERM);
    pthread_join(taker, NULL);
    twin_service_free(sig.service);
    return rc ? cli_fail(rc) : CLI_OK;
}
