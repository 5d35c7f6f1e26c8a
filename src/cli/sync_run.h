#ifndef TWIN_CLI_SYNC_RUN_H
#define TWIN_CLI_SYNC_RUN_H

#include <stddef.h>

#include "twin/node.h"
#include "twin/peers.h"
#include "twin/sync.h"

/* Connects to peer p, runs a session as initiator, records the outcome in the peer's config and
 * writes a one-line summary to line. */
int cli_sync_peer(char *line, size_t line_size, twin_node *n, const struct twin_peer *p);

/* "received 3 commits, sent 1, merged, head 1a2b3c4d5e6f" */
void cli_describe_sync(char *out, size_t size, const struct twin_sync_stats *st);

#endif
