/*
 * The settings an admin reads and changes with `twin config`: where and how often the service
 * works (listen, interval, log-level), where partners reach the node (address), and, read-only,
 * what the node is (name, org-id, network). Each is kept in the node's repository config
 * (twin/node.h); one left unset has its default.
 */
#ifndef TWIN_SETTINGS_H
#define TWIN_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "twin/listener.h"
#include "twin/node.h"

#define TWIN_SETTINGS_LISTEN       "127.0.0.1:7447" /* where a service listens by default */
#define TWIN_SETTINGS_INTERVAL     60               /* seconds between rounds, by default */
#define TWIN_SETTINGS_INTERVAL_MAX 86400

struct twin_setting {
    const char *key;        /* as `twin config` names it: "log-level" */
    const char *config_key; /* in the repository config: "twin.loglevel" */
    const char *fallback;   /* the value when unset; NULL when there is none */
    const char *flag;       /* the option that overrides it (of `twin serve`; of `twin invite`
                               for address), or NULL */
    bool writable;          /* false: kept by twin itself, only shown */
    const char *about;      /* what it is, in a few words */
};

/* Every setting, in the order `twin config` lists them. */
const struct twin_setting *twin_settings_all(size_t *count);

/* The setting called key, or NULL. */
const struct twin_setting *twin_settings_find(const char *key);

/* Checks that value is valid for the setting key: TWIN_EINVALID naming the setting and what it
 * takes, for an unknown key, a read-only one or a bad value. */
int twin_settings_check(const char *key, const char *value);

/* The value of setting key: *out (malloc'd) is what is set, or its default (*is_set false), or
 * NULL when it is unset and has none. TWIN_EINVALID for an unknown key. */
int twin_settings_get(char **out, bool *is_set, twin_node *n, const char *key);

/* Checks value (twin_settings_check) and sets it; nothing is changed when it is refused. */
int twin_settings_set(twin_node *n, const char *key, const char *value);

/* Returns a writable setting to its default. TWIN_EINVALID for an unknown or read-only key. */
int twin_settings_unset(twin_node *n, const char *key);

/* Log levels by name: "error", "warn", "info", "debug" (TWIN_LOG_..., twin/listener.h).
 * TWIN_EINVALID naming the levels for another name. */
int twin_settings_level_parse(int *out, const char *name);
const char *twin_settings_level_name(int level);

/* The seconds of an interval setting or option: 1 to TWIN_SETTINGS_INTERVAL_MAX, in decimal
 * digits. TWIN_EINVALID saying so for anything else. */
int twin_settings_interval_parse(int *out, const char *text);

#endif
