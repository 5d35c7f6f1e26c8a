/*
 * The nodes this node syncs with, kept in its config ([peer "NAME"] address, key), with the
 * outcome of the last session with each.
 */
#ifndef TWIN_PEERS_H
#define TWIN_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "twin/key.h"
#include "twin/node.h"

#define TWIN_PEER_NAME_MAX 63

struct twin_peer {
    char name[TWIN_PEER_NAME_MAX + 1];
    char host[256];
    char port[8];
    unsigned char key[TWIN_PUBKEY_BYTES];
    int64_t last_time;     /* 0: never synced */
    char last_result[512]; /* "ok: ..." or "failed: ..." */
};

/* Adds a peer: a name (letters, digits, '-', '_', '.'), HOST:PORT ([v6]:PORT for IPv6) and its
 * node key (the `twin id` line or the node id). TWIN_EEXISTS when the name is taken. */
int twin_peers_add(twin_node *n, const char *name, const char *address, const char *key);
int twin_peers_remove(twin_node *n, const char *name);

/* All peers, sorted by name. Free *out with free(). */
int twin_peers_list(struct twin_peer **out, size_t *count, twin_node *n);
int twin_peers_get(struct twin_peer *out, twin_node *n, const char *name);

/* Records the outcome of a session with a peer. */
int twin_peers_record(twin_node *n, const char *name, const char *result);

/* Splits "host:port" or "[v6]:port"; port 0 (any free port, for listening) is allowed. */
int twin_peers_address_parse(char host[static 256], char port[static 8], const char *address);

/* The same for an address a partner connects to (a peer's, an invite's): port 0 refused, by its
 * value ("00" is 0 too), naming the address and what it is (what: "a peer's", "an invite's"). */
int twin_peers_address_parse_reachable(char host[static 256], char port[static 8],
                                       const char *address, const char *what);

#endif
