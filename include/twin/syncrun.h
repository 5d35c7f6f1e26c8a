/*
 * Sync sessions with configured peers as front ends run them (`twin sync`, a node's service): a
 * session that lost a race is run again after a short jittered pause, the outcome is recorded
 * in the peer's entry, and each run is summed up in one line.
 */
#ifndef TWIN_SYNCRUN_H
#define TWIN_SYNCRUN_H

#include <stddef.h>

#include "twin/node.h"
#include "twin/peers.h"
#include "twin/sync.h"

/* Connects to peer p and runs a session as the initiator (twin_sync_peer, cancelled as opts
 * says; NULL: never), again while it loses a race (TWIN_ECONFLICT), a few times at most; records
 * the outcome in the peer's entry (twin_peers_record) and writes a one-line summary to line, e.g.
 * "sync with south: ok, received 1 commit, sent 0, head 1a2b3c4d5e6f (12 ms)" or "sync with south
 * (127.0.0.1:7447): failed: ... (2 sessions, 830 ms)". Returns the last session's result. */
int twin_syncrun_peer(char *line, size_t line_size, twin_node *n, const struct twin_peer *p,
                      const struct twin_sync_opts *opts);

/* twin_syncrun_peer that also gives, after a session that succeeded, the head both nodes held
 * when it ended (agreed is left as it was otherwise). */
int twin_syncrun_peer_head(char *line, size_t line_size, twin_node *n, const struct twin_peer *p,
                           const struct twin_sync_opts *opts, git_oid *agreed);

/* twin_syncrun_peer that also gives what the last session run did (*stats: all of it after a
 * session that succeeded, and as far as it got after one that failed). */
int twin_syncrun_peer_stats(char *line, size_t line_size, twin_node *n, const struct twin_peer *p,
                            const struct twin_sync_opts *opts, struct twin_sync_stats *stats);

/* What a session moved, in words: "received 3 commits, sent 1, merged, head 1a2b3c4d5e6f",
 * then, when any moved, the sealed records' wraps ("; wraps: 12 received, 12 kept, 0 dropped, 4
 * sent": of those received, the ones kept and the ones the rules dropped, the rest held already),
 * naming received commits dated more than a day ahead of this node's clock. */
void twin_syncrun_describe(char *out, size_t size, const struct twin_sync_stats *st);

#endif
