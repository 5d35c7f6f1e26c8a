/*
 * The allowed-signers file (ssh-keygen's ALLOWED SIGNERS format, git's
 * gpg.ssh.allowedSignersFile) for auditing a node's history with stock git.
 */
#ifndef TWIN_SIGNERS_H
#define TWIN_SIGNERS_H

#include <stdio.h>

#include "twin/node.h"

/* Writes one line per key any member ever held, in the form
 *   <org-id> namespaces="git,twin-checkpoint",valid-after=T[,valid-before=T] ssh-ed25519 AAAA..
 * the window being the committer times between the commit that made the key active and the
 * one that retired or revoked it. */
int twin_allowed_signers(FILE *out, twin_node *n);

#endif
