/*
 * Error reporting shared by every twin module. Functions return 0 on success or one of the
 * negative codes below, and leave a thread-local message that says what went wrong.
 */
#ifndef TWIN_ERROR_H
#define TWIN_ERROR_H

#include <stdbool.h>

enum twin_error_code {
    TWIN_OK = 0,
    TWIN_ERROR = -1,      /* an unexpected failure: I/O, allocation, a library error */
    TWIN_EINVALID = -2,   /* input that breaks a rule: a record, an argument, a file */
    TWIN_ENOTFOUND = -3,  /* the named thing does not exist */
    TWIN_EEXISTS = -4,    /* the thing to create is already there */
    TWIN_ECONFLICT = -5,  /* the branch moved under us: retry on the new head */
    TWIN_EVERIFY = -6,    /* a signature or authorisation check failed */
    TWIN_ENOHISTORY = -7, /* the node has joined a network but holds no history yet */
    TWIN_EDENIED = -8,    /* the member is not allowed to make this change */
    TWIN_ELIMIT = -9,     /* a size or count bound was exceeded */
    TWIN_EPENDING = -10,  /* done as far as it can be: the rest waits for others' approval */
};

/* The message of the last error on this thread; never NULL ("" when none). */
const char *twin_error_last(void);

/* Records an error message (printf-style) and returns code, so callers can `return
 * twin_error(...)`. */
int twin_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefixes the current message with context: "reading key: <old message>". Returns code. */
int twin_error_wrap(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records libgit2's last error under context and returns TWIN_ERROR. */
int twin_error_git(const char *context);

/* Records an error (printf-style) that found the store damaged: an object that cannot be read,
 * or whose content does not match its id. Returns TWIN_EVERIFY, and notes the damage for
 * twin_error_damage_seen, so that a caller that turns errors into verdicts can still tell a
 * damaged store from an invalid commit. */
int twin_error_damage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void twin_error_note_damage(void);
bool twin_error_damage_seen(void);
void twin_error_damage_reset(void);

void twin_error_clear(void);

#endif
