#include "twin/error.h"

#include <git2.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_message[1024];
static _Thread_local bool damage_seen;

const char *twin_error_last(void)
{
    return last_message;
}

void twin_error_clear(void)
{
    last_message[0] = '\0';
}

int twin_error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_message, sizeof(last_message), fmt, ap);
    va_end(ap);
    return code;
}

int twin_error_wrap(int code, const char *fmt, ...)
{
    char prefix[512], old[sizeof(last_message)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, last_message, sizeof(old));
    if (old[0])
        snprintf(last_message, sizeof(last_message), "%s: %s", prefix, old);
    else
        snprintf(last_message, sizeof(last_message), "%s", prefix);
    return code;
}

int twin_error_damage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_message, sizeof(last_message), fmt, ap);
    va_end(ap);
    damage_seen = true;
    return TWIN_EVERIFY;
}

void twin_error_note_damage(void)
{
    damage_seen = true;
}

bool twin_error_damage_seen(void)
{
    return damage_seen;
}

void twin_error_damage_reset(void)
{
    damage_seen = false;
}

int twin_error_git(const char *context)
{
    const git_error *e = git_error_last();
    return twin_error(TWIN_ERROR, "%s: %s", context,
                      e && e->message ? e->message : "libgit2 error");
}
