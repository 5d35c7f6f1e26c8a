/*
 * Peers in the repository config. Names are restricted so that they are safe as config
 * subsections and on a command line.
 */
#include "twin/peers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "twin/error.h"
#include "base/util.h"

static bool name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > TWIN_PEER_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '-' && c != '_' && c != '.')))
            return false;
    }
    return true;
}

int twin_peers_address_parse(char host[static 256], char port[static 8], const char *address)
{
    const char *colon;
    size_t hlen;
    const char *h = address;
    if (address[0] == '[') {
        const char *end = strchr(address, ']');
        if (!end || end[1] != ':')
            goto bad;
        h = address + 1;
        hlen = (size_t)(end - h);
        colon = end + 1;
    } else {
        colon = strrchr(address, ':');
        if (!colon || strchr(address, ':') != colon)
            goto bad;
        hlen = (size_t)(colon - address);
    }
    if (hlen == 0 || hlen >= 256)
        goto bad;
    const char *p = colon + 1;
    size_t plen = strlen(p);
    if (plen == 0 || plen > 5)
        goto bad;
    long value = 0;
    for (size_t i = 0; i < plen; i++) {
        if (p[i] < '0' || p[i] > '9')
            goto bad;
        value = value * 10 + (p[i] - '0');
    }
    if (value > 65535)
        goto bad;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    memcpy(port, p, plen + 1);
    return 0;
bad:
    return twin_error(TWIN_EINVALID, "'%s' is not HOST:PORT (use [ADDRESS]:PORT for IPv6)",
                      address);
}

int twin_peers_address_parse_reachable(char host[static 256], char port[static 8],
                                       const char *address, const char *what)
{
    int rc = twin_peers_address_parse(host, port, address);
    if (rc)
        return rc;
    /* The port by its value, not its text: "00" is port 0 too. twin_peers_address_parse lets
     * through one to five digits, 0 to 65535, of which a partner reaches 1 to 65535 only. */
    long value = strtol(port, NULL, 10);
    if (value < 1 || value > 65535)
        return twin_error(TWIN_EINVALID, "'%s': %s port cannot be %ld", address, what, value);
    return 0;
}

static int cfg(git_config **out, twin_node *n)
{
    return git_repository_config(out, twin_node_repo(n)) < 0
               ? twin_error_git("opening repository config")
               : 0;
}

int twin_peers_add(twin_node *n, const char *name, const char *address, const char *key)
{
    char host[256], port[8], var[128], line[TWIN_OPENSSH_PUB_MAX];
    unsigned char pk[TWIN_PUBKEY_BYTES];
    struct twin_peer existing;
    int rc;
    if (!name_ok(name))
        return twin_error(TWIN_EINVALID,
                          "peer name '%s': use letters, digits, '-', '_', '.' (at most %d)", name,
                          TWIN_PEER_NAME_MAX);
    if ((rc = twin_peers_address_parse_reachable(host, port, address, "a peer's")))
        return rc;
    if ((rc = twin_key_parse_any(pk, key)))
        return twin_error_wrap(rc, "peer key");
    if (memcmp(pk, twin_node_key(n)->pk, TWIN_PUBKEY_BYTES) == 0)
        return twin_error(TWIN_EINVALID, "that is this node's own key");
    if (twin_peers_get(&existing, n, name) == 0)
        return twin_error(TWIN_EEXISTS, "a peer named %s exists (remove it first)", name);
    twin_key_format_openssh(line, pk);
    char addr_var[128];
    snprintf(addr_var, sizeof(addr_var), "peer.%s.address", name);
    snprintf(var, sizeof(var), "peer.%s.key", name);
    const char *keys[] = {addr_var, var}, *values[] = {address, line};
    if ((rc = twin_node_config_write(n, 2, keys, values)))
        return twin_error_wrap(rc, "writing the peer");
    return 0;
}

int twin_peers_remove(twin_node *n, const char *name)
{
    struct twin_peer p;
    git_config *c = NULL;
    int rc = twin_peers_get(&p, n, name);
    if (rc)
        return rc;
    if ((rc = cfg(&c, n)))
        return rc;
    /* Plain iteration filtered by prefix: libgit2 1.5's regex iteration leaks on every entry
     * that does not match. In "peer.<name>.<key>" the section and the key are case-insensitive
     * (libgit2 hands them back in lower case), the subsection, the peer's name, is not: "south"
     * is not "South". */
    size_t nlen = strlen(name);
    git_config_iterator *it = NULL;
    git_config_entry *e;
    char names[8][128];
    size_t count = 0;
    if (git_config_iterator_new(&it, c) == 0) {
        while (count < 8 && git_config_next(&e, it) == 0)
            if (strncasecmp(e->name, "peer.", 5) == 0 && strncmp(e->name + 5, name, nlen) == 0 &&
                e->name[5 + nlen] == '.')
                snprintf(names[count++], sizeof(names[0]), "%s", e->name);
        git_config_iterator_free(it);
    }
    git_config_free(c);
    const char *keys[8], *none[8] = {NULL};
    for (size_t i = 0; i < count; i++)
        keys[i] = names[i];
    if ((rc = twin_node_config_write(n, count, keys, none)))
        return twin_error_wrap(rc, "removing the peer");
    return 0;
}

static int get_string(char *out, size_t size, git_config *c, const char *name, const char *key)
{
    char var[160];
    git_buf buf = GIT_BUF_INIT;
    snprintf(var, sizeof(var), "peer.%s.%s", name, key);
    int err = git_config_get_string_buf(&buf, c, var);
    if (err == 0)
        snprintf(out, size, "%s", buf.ptr);
    git_buf_dispose(&buf);
    return err;
}

int twin_peers_get(struct twin_peer *out, twin_node *n, const char *name)
{
    git_config *c = NULL;
    char address[300], key[TWIN_OPENSSH_PUB_MAX + 64], when[32] = "";
    int rc;
    memset(out, 0, sizeof(*out));
    if (!name_ok(name))
        return twin_error(TWIN_ENOTFOUND, "no peer named '%s'", name);
    if ((rc = cfg(&c, n)))
        return rc;
    if (get_string(address, sizeof(address), c, name, "address") != 0 ||
        get_string(key, sizeof(key), c, name, "key") != 0) {
        git_config_free(c);
        return twin_error(TWIN_ENOTFOUND, "no peer named '%s' (see: twin peer list)", name);
    }
    get_string(out->last_result, sizeof(out->last_result), c, name, "lastresult");
    get_string(when, sizeof(when), c, name, "lasttime");
    git_config_free(c);
    snprintf(out->name, sizeof(out->name), "%s", name);
    out->last_time = strtoll(when, NULL, 10);
    if ((rc = twin_peers_address_parse(out->host, out->port, address)) ||
        (rc = twin_key_parse_any(out->key, key)))
        return twin_error_wrap(rc, "peer %s in the config", name);
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct twin_peer *)a)->name, ((const struct twin_peer *)b)->name);
}

int twin_peers_list(struct twin_peer **out, size_t *count, twin_node *n)
{
    git_config *c = NULL;
    git_config_iterator *it = NULL;
    git_config_entry *e;
    struct twin_peer *list = NULL;
    size_t len = 0;
    int rc;
    *out = NULL;
    *count = 0;
    if ((rc = cfg(&c, n)))
        return rc;
    if (git_config_iterator_new(&it, c) < 0) {
        git_config_free(c);
        return twin_error_git("reading peers");
    }
    while (rc == 0 && git_config_next(&e, it) == 0) {
        char name[TWIN_PEER_NAME_MAX + 1];
        size_t nlen = strlen(e->name);
        if (strncmp(e->name, "peer.", 5) != 0 || nlen < 14 ||
            strcmp(e->name + nlen - 8, ".address") != 0)
            continue;
        const char *start = e->name + 5, *end = strrchr(e->name, '.');
        if (end <= start || (size_t)(end - start) > TWIN_PEER_NAME_MAX)
            continue;
        memcpy(name, start, (size_t)(end - start));
        name[end - start] = '\0';
        struct twin_peer *grown = twin_util_realloc_array(list, len + 1, sizeof(*list));
        if (!grown) {
            rc = twin_error(TWIN_ERROR, "out of memory");
            break;
        }
        list = grown;
        if (twin_peers_get(&list[len], n, name) == 0)
            len++;
    }
    git_config_iterator_free(it);
    git_config_free(c);
    if (rc) {
        free(list);
        return rc;
    }
    if (len)
        qsort(list, len, sizeof(*list), by_name);
    *out = list;
    *count = len;
    return 0;
}

int twin_peers_record(twin_node *n, const char *name, const char *result)
{
    char result_var[160], time_var[160], when[32];
    snprintf(when, sizeof(when), "%lld", (long long)twin_util_clock_now());
    snprintf(result_var, sizeof(result_var), "peer.%s.lastresult", name);
    snprintf(time_var, sizeof(time_var), "peer.%s.lasttime", name);
    const char *keys[] = {result_var, time_var}, *values[] = {result, when};
    int rc = twin_node_config_write(n, 2, keys, values);
    return rc ? twin_error_wrap(rc, "recording the session") : 0;
}
