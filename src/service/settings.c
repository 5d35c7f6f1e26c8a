/*
 * The node's settings as `twin config` shows them (twin/settings.h): a table of what each is,
 * where the repository config keeps it and what it takes, read and written through twin/node.h.
 */
#include "twin/settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twin/error.h"
#include "twin/peers.h"

#define STR2(x) #x
#define STR(x)  STR2(x)

static const struct twin_setting settings[] = {
    {"listen", "twin.listen", TWIN_SETTINGS_LISTEN, "--listen", true,
     "where twin serve listens (HOST:PORT; port 0 picks a free one)"},
    {"interval", "twin.interval", STR(TWIN_SETTINGS_INTERVAL), "--interval", true,
     "seconds between twin serve's rounds of sessions with every peer (1-" STR(
         TWIN_SETTINGS_INTERVAL_MAX) ")"},
    {"log-level", "twin.loglevel", "info", "--log-level", true,
     "the most detailed lines twin serve logs: error, warn, info or debug"},
    {"address", "twin.address", NULL, "--address", true,
     "where partners reach this node, put in the invites it makes (twin serve sets it to where "
     "it listens, unless that is every address)"},
    {"name", "twin.name", NULL, NULL, false,
     "the institution's name, which this node's commits carry (change it with: twin member set "
     "ORG-ID --name NAME)"},
    {"org-id", "twin.orgid", NULL, NULL, false, "the institution's organisation id"},
    {"network", "twin.network", NULL, NULL, false, "the network this node belongs to"},
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

static const char *const level_names[] = {
    [TWIN_LOG_ERROR] = "error",
    [TWIN_LOG_WARN] = "warn",
    [TWIN_LOG_INFO] = "info",
    [TWIN_LOG_DEBUG] = "debug",
};

#define NLEVELS (sizeof(level_names) / sizeof(level_names[0]))

const struct twin_setting *twin_settings_all(size_t *count)
{
    *count = NSETTINGS;
    return settings;
}

const struct twin_setting *twin_settings_find(const char *key)
{
    for (size_t i = 0; i < NSETTINGS; i++)
        if (strcmp(settings[i].key, key) == 0)
            return &settings[i];
    return NULL;
}

/* The setting called key, or TWIN_EINVALID naming the settings there are. */
static int find(const struct twin_setting **out, const char *key)
{
    if ((*out = twin_settings_find(key)))
        return 0;
    char names[200] = "";
    size_t len = 0;
    for (size_t i = 0; i < NSETTINGS && len < sizeof(names); i++)
        len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s", i ? ", " : "",
                                settings[i].key);
    return twin_error(TWIN_EINVALID, "'%.64s' is not a setting (the settings: %s)", key, names);
}

int twin_settings_level_parse(int *out, const char *name)
{
    for (size_t i = 0; i < NLEVELS; i++)
        if (level_names[i] && strcmp(level_names[i], name) == 0) {
            *out = (int)i;
            return 0;
        }
    return twin_error(TWIN_EINVALID, "'%.64s' is not a log level (error, warn, info or debug)",
                      name);
}

const char *twin_settings_level_name(int level)
{
    if (level < 0 || (size_t)level >= NLEVELS || !level_names[level])
        return NULL;
    return level_names[level];
}

int twin_settings_interval_parse(int *out, const char *text)
{
    long v = 0;
    size_t len = strlen(text);
    /* Digits only: no sign, space or exponent, and never so many that strtol could overflow. */
    bool digits = len > 0 && len <= 9 && strspn(text, "0123456789") == len;
    if (digits)
        v = strtol(text, NULL, 10);
    if (!digits || v < 1 || v > TWIN_SETTINGS_INTERVAL_MAX)
        return twin_error(TWIN_EINVALID, "interval '%.64s' is not a number of seconds from 1 to %d",
                          text, TWIN_SETTINGS_INTERVAL_MAX);
    *out = (int)v;
    return 0;
}

int twin_settings_check(const char *key, const char *value)
{
    const struct twin_setting *s;
    char host[256], port[8];
    int rc = find(&s, key), unused;
    if (rc)
        return rc;
    if (!s->writable)
        return twin_error(TWIN_EINVALID, "%s is kept by twin and cannot be set here: %s", s->key,
                          s->about);
    if (strcmp(key, "listen") == 0) {
        if (strlen(value) > 300 || twin_peers_address_parse(host, port, value) != 0)
            return twin_error(TWIN_EINVALID,
                              "listen '%.300s' is not an address to listen on (HOST:PORT, "
                              "[ADDRESS]:PORT for IPv6, the port 0-65535)",
                              value);
        return 0;
    }
    if (strcmp(key, "interval") == 0)
        return twin_settings_interval_parse(&unused, value);
    if (strcmp(key, "log-level") == 0)
        return twin_settings_level_parse(&unused, value);
    /* address */
    if (strlen(value) > 300 ||
        twin_peers_address_parse_reachable(host, port, value, "this node's") != 0)
        return twin_error(TWIN_EINVALID,
                          "address '%.300s' is not where partners can reach this node "
                          "(HOST:PORT, [ADDRESS]:PORT for IPv6, the port 1-65535)",
                          value);
    return 0;
}

int twin_settings_get(char **out, bool *is_set, twin_node *n, const char *key)
{
    const struct twin_setting *s;
    *out = NULL;
    *is_set = false;
    int rc = find(&s, key);
    if (rc)
        return rc;
    rc = twin_node_config_get(out, n, s->config_key);
    if (rc == 0) {
        *is_set = true;
        return 0;
    }
    if (rc != TWIN_ENOTFOUND)
        return rc;
    twin_error_clear();
    if (s->fallback && !(*out = strdup(s->fallback)))
        return twin_error(TWIN_ERROR, "out of memory");
    return 0;
}

int twin_settings_set(twin_node *n, const char *key, const char *value)
{
    int rc = twin_settings_check(key, value);
    if (rc)
        return rc;
    return twin_node_config_set(n, twin_settings_find(key)->config_key, value);
}

int twin_settings_unset(twin_node *n, const char *key)
{
    const struct twin_setting *s;
    int rc = find(&s, key);
    if (rc)
        return rc;
    if (!s->writable)
        return twin_error(TWIN_EINVALID, "%s is kept by twin and cannot be unset: %s", s->key,
                          s->about);
    return twin_node_config_unset(n, s->config_key);
}
