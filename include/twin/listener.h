/*
 * The TCP side of `twin serve`: accepts peers, runs each handshake on its own thread under a
 * deadline, hands every accepted session to a callback, and stops on request.
 *
 * Admission keeps members reachable under a flood (PROTOCOL.md 3.6):
 * - connections that have not authenticated share a small pool, with a cap per address; a new
 *   connection is always taken, and when the pool (or its address's share) is full the oldest
 *   pending one is dropped, told "busy" if it has not yet been answered;
 * - keys let in only to present an invite have their own small pool and deadline, apart from
 *   members' sessions; members' sessions are capped in all and per key, and a session over a
 *   cap is refused with refuse 7 (busy), which an initiator retries;
 * - refusals are counted and logged as one summary line per interval, not one line each.
 */
#ifndef TWIN_LISTENER_H
#define TWIN_LISTENER_H

#include "twin/channel.h"

typedef struct twin_listener twin_listener;

/* How much a log line matters: syslog's priorities, so that journald takes them from a "<N>"
 * prefix (sd-daemon.h). A front end shows the lines up to the level it was asked for. */
enum twin_log_level {
    TWIN_LOG_ERROR = 3, /* a fault: a session or the listener failed */
    TWIN_LOG_WARN = 4,  /* something refused or amiss that the node goes on past */
    TWIN_LOG_INFO = 6,  /* what the node did: sessions, claims, key changes, start and stop */
    TWIN_LOG_DEBUG = 7, /* the steps in between, for an admin following a sync */
};

/* One log line without a newline, e.g. "refused 192.0.2.7:50312: handshake: ...", and its
 * level. Calls are serialised by the listener. */
typedef void (*twin_log_fn)(void *ctx, int level, const char *line);

/* Runs one authenticated session on the connection's own thread. The listener frees the
 * channel when it returns; the callback says goodbye itself. It should return soon once
 * twin_listener_stopping() is true (its reads then fail at once). */
typedef void (*twin_session_fn)(void *ctx, twin_channel *ch);

typedef struct twin_listener_config {
    const char *host; /* address to bind, e.g. "127.0.0.1" or "::"; NULL for every address */
    const char *port; /* "7447"; "0" lets the system pick (see twin_listener_port) */
    /* Key, network and deadlines; authorize is required. Its cancel question (cancelled,
     * cancel_ctx) is kept by every channel accepted, from the first wait of its handshake on:
     * the listener's owner (a service) ends its own sessions' waits with it. */
    twin_channel_config channel;
    unsigned max_unauthenticated; /* handshakes in progress; 0 means the default */
    unsigned max_per_address;     /* of those, from one address (host); 0 means the default */
    int handshake_timeout_ms;     /* each handshake; 0 means TWIN_LISTENER_HANDSHAKE_MS */
    unsigned max_sessions;        /* members' sessions at once; 0 means the default */
    unsigned max_per_key;         /* of those, with one node key; 0 means the default */
    unsigned max_claims;          /* invite claims at once; 0 means the default */
    int claim_timeout_ms;         /* each wait of a claim session; 0 means the default */
    int summary_ms;               /* refusals are summed up this often; 0 means the default */
    twin_session_fn session;
    void *session_ctx;
    twin_log_fn log; /* NULL writes to stderr */
    void *log_ctx;
} twin_listener_config;

/* Binds, listens and starts accepting on a thread of its own. The key and network id are
 * copied. */
int twin_listener_start(twin_listener **out, const twin_listener_config *cfg);

/* Replaces the keys new handshakes are answered with: key, and others tried after it (at most
 * TWIN_LISTENER_MAX_OTHER_KEYS, repeats dropped). After a key rotation, peers that expect the
 * new key and peers that still expect an old one both get in. Copied. */
void twin_listener_set_keys(twin_listener *l, const twin_keypair *key, const twin_keypair *others,
                            size_t nothers);

/* The bound TCP port. */
int twin_listener_port(const twin_listener *l);

/* True once twin_listener_stop has begun. */
int twin_listener_stopping(const twin_listener *l);

/* Stops accepting, aborts the handshakes in progress, interrupts the sessions, waits for every
 * connection thread to finish, then frees. Safe to call from a signal-handling thread, not
 * from a session callback. Accepts NULL. */
void twin_listener_stop(twin_listener *l);

#endif
