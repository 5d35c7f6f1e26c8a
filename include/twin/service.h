/*
 * A node as a service, as `twin serve` runs it, for any front end: a listener serves peers (many
 * at once, admitted as twin/listener.h says) on threads of its own, while the thread that runs
 * the service syncs with every configured peer each interval and within a second of a local
 * change (the branch moving other than by a session). While an invite is open, any key is let
 * in to present it. After `twin key rotate` ran beside the service, new handshakes are answered
 * with the new key, and with the keys it replaced for peers that still expect them.
 *
 * Everything the service does is told in log lines through the front end's callback, each with
 * a level: at info, one line per session served or initiated, per invite claim and per key
 * change, and "listening on ...", "stopping on ..." and "stopped"; at warn, the listener's
 * summaries of refused connections and refused invite claims; at error, sessions that failed and
 * faults of the node or the listener; at debug, each round of sessions and each session as it
 * begins.
 *
 * A front end makes the service (which starts listening), runs it on one thread until a stop
 * is asked for, then frees it:
 *
 *     twin_service_new(&svc, dir, &options);
 *     twin_service_run(svc);       // returns once twin_service_stop(svc, ...) was called
 *     twin_service_free(svc);
 *
 * The listener's threads start in twin_service_new with the caller's signal mask: a front end
 * that takes signals on a thread of its own blocks them before.
 */
#ifndef TWIN_SERVICE_H
#define TWIN_SERVICE_H

#include <stdint.h>

#include "twin/listener.h"
#include "twin/settings.h"

#define TWIN_SERVICE_LISTEN       TWIN_SETTINGS_LISTEN
#define TWIN_SERVICE_INTERVAL     TWIN_SETTINGS_INTERVAL
#define TWIN_SERVICE_INTERVAL_MAX TWIN_SETTINGS_INTERVAL_MAX

typedef struct twin_service twin_service;

/* One log line without a newline, its level (TWIN_LOG_..., twin/listener.h), and when it was
 * logged by this node's clock (seconds since the epoch, the clock twin dates its commits by).
 * Called from the service's and the listener's threads, one call at a time, only for lines at
 * the options' log level or more important. */
typedef void (*twin_service_log_fn)(void *ctx, int64_t when, int level, const char *line);

typedef struct twin_service_options {
    /* Each of these left NULL or 0 is taken from the node's settings (twin/settings.h), or
     * their defaults: TWIN_SERVICE_LISTEN, TWIN_SERVICE_INTERVAL, TWIN_LOG_INFO. */
    const char *listen;      /* HOST:PORT or [V6]:PORT; port 0 lets the system pick one
                                (twin_service_port) */
    int interval;            /* seconds between rounds of sessions with every peer, 1 to
                                TWIN_SERVICE_INTERVAL_MAX */
    int log_level;           /* the most detailed level logged (TWIN_LOG_...) */
    twin_service_log_fn log; /* NULL drops the lines */
    void *log_ctx;
} twin_service_options;

/* Opens the node in dir, takes what the options leave open from its settings (TWIN_EINVALID,
 * naming the setting, for one edited by hand into a value twin refuses), and starts listening:
 * logs "listening on HOST:PORT for network ID"
 * and, unless HOST is a wildcard address, keeps HOST:PORT in the node's settings
 * (twin.address) for the invites it makes. TWIN_EINVALID for a bad address or interval. */
int twin_service_new(twin_service **out, const char *dir, const twin_service_options *options);

/* The TCP port the service listens on (or listened on, once it stopped). */
int twin_service_port(const twin_service *s);

/* Runs the schedule on the calling thread until a stop is asked for (at once, when it was
 * before the call), then logs "stopping on WHY", stops the listener (its sessions get their
 * grace period), and logs "stopped". Runs once per service: 0, or TWIN_EINVALID when it ran
 * already. */
int twin_service_run(twin_service *s);

/* Asks the service to stop; why says what asked ("SIGTERM"; NULL: "request") and must outlive
 * the service. Async-signal-safe and thread-safe, so a signal handler may call it; the first
 * call's why counts. Until the running service takes the stop (within half a second), every
 * wait on the network of this service's sessions, served or initiated, ends ("abandoned": the
 * service gives their channels its stop check as their cancel question), so a round of
 * sessions does not hold the stop up; the current session is the last of its round. Other
 * services and other channels in the process are not affected. Valid until
 * twin_service_free. */
void twin_service_stop(twin_service *s, const char *why);

/* Frees the service, stopping its listener if it never ran. Not while twin_service_run runs.
 * Accepts NULL. */
void twin_service_free(twin_service *s);

#endif
