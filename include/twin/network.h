/*
 * Founding a network: the genesis commit holds the network descriptor and the founding admin
 * (twin/membership.h). And a node's settings taken back from its history.
 */
#ifndef TWIN_NETWORK_H
#define TWIN_NETWORK_H

#include <git2.h>

#include "twin/key.h"
#include "twin/membership.h"
#include "twin/node.h"

/* Founds a network: writes the genesis commit (descriptor and founding admin), signed by kp,
 * and points the branch at it. Hands back the network id. */
int twin_network_found(char id_out[static TWIN_NETWORK_ID_LEN + 1], git_repository *repo,
                       const twin_keypair *kp, const struct twin_identity *who, const char *name);

/* Creates a node in dir (twin_node_init) that founds a network named name: the genesis commit
 * holds the network's descriptor and this institution as its first admin. */
int twin_network_create(twin_node **out, const char *dir, const struct twin_identity *who,
                        const char *name);

/* Writes a node's settings ([twin] in its repository's config) from its history: the network id
 * from the descriptor at the head, and the node's identity from the member file that holds its
 * key. For a repository rebuilt from a plain `git clone --mirror` of a node's repo.git with
 * node.key beside it; twin_ops_open passes it to twin_node_open. Peers are not in history. */
int twin_network_settings_from_history(twin_node *n);

#endif
