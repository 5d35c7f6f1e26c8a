/*
 * The allowed-signers file (ssh-keygen's ALLOWED SIGNERS format, git's
 * gpg.ssh.allowedSignersFile) for auditing a node's history with stock git.
 */
#ifndef TWIN_SIGNERS_H
#define TWIN_SIGNERS_H

#include <stdio.h>

#include "twin/node.h"

/* Writes one line per key any member ever held, in the form
 *   <org-id> namespaces="git,twin-checkpoint"[,valid-after=T][,valid-before=T] ssh-ed25519 AAAA..
 * the window being the committer times from the earlier of the commit that made the key active
 * and the first commit twin accepts that it signed, to (for a key no longer active) the later of
 * the commit that retired or revoked it and the last commit twin accepts that it signed. It runs
 * the validity predicate over the whole history (twin_audit_verify) to know which commits twin
 * accepts. Without valid-after when the window starts at 0 (ssh-keygen refuses that start). */
int twin_signers_allowed(FILE *out, twin_node *n);

#endif
