/*
 * SSH signatures (OpenSSH PROTOCOL.sshsig) made and checked with libsodium's Ed25519, and the
 * split of a git commit object into its signature and the bytes that signature covers. Commits
 * use namespace "git" and hash sha512, which stock `git verify-commit` accepts.
 */
#ifndef TWIN_SSHSIG_H
#define TWIN_SSHSIG_H

#include <stddef.h>

#include "twin/key.h"

#define TWIN_SSHSIG_NAMESPACE_GIT "git"
#define TWIN_SSHSIG_ARMOR_MAX     4096      /* any armored signature longer than this is refused */
#define TWIN_SSHSIG_COMMIT_MAX    (1 << 20) /* commit objects longer than this are refused */

/* Signs msg under namespace. *out is a NUL-terminated armored signature
 * ("-----BEGIN SSH SIGNATURE-----\n...\n-----END SSH SIGNATURE-----", no final newline),
 * allocated with malloc; *out_len is its length. */
int twin_sshsig_sign(char **out, size_t *out_len, const twin_keypair *kp, const char *ns,
                     const void *msg, size_t msg_len);

/* Verifies an armored signature over msg under namespace and hands back the signer's public
 * key. Every length is checked against the bytes present before it is used. Returns
 * TWIN_EVERIFY (bad signature, wrong namespace, unsupported algorithm), TWIN_EINVALID
 * (malformed armor or blob) or TWIN_ELIMIT (armor longer than TWIN_SSHSIG_ARMOR_MAX) with a
 * message naming the fault. Hash "sha512" (what twin and git make) and "sha256" are accepted. */
int twin_sshsig_verify(unsigned char signer_pk[static TWIN_PUBKEY_BYTES], const char *armor,
                       size_t armor_len, const char *ns, const void *msg, size_t msg_len);

/* Splits a raw commit object (as stored, without the "commit <len>\0" header) the way git does
 * (parse_buffer_signed_by_header): the "gpgsig" header and its continuation lines are removed
 * from the header section only (never from the message), giving the signed payload. *sig gets
 * the signature text with continuation spaces removed and no final newline. Both outputs are
 * malloc'd and NUL-terminated. TWIN_ENOTFOUND when the commit carries no gpgsig header,
 * TWIN_EINVALID when it carries two, TWIN_ELIMIT when raw is longer than
 * TWIN_SSHSIG_COMMIT_MAX or the signature longer than TWIN_SSHSIG_ARMOR_MAX. */
int twin_sshsig_split_commit(char **sig, size_t *sig_len, char **payload, size_t *payload_len,
                             const char *raw, size_t raw_len);

#endif
