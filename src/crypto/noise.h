/*
 * What only tests see of the Noise module: fixed ephemeral keys, so that a handshake can be
 * replayed byte for byte (the published known-answer vector, the recorded fuzz corpus).
 *
 * It exists only where noise.c is compiled with TWIN_NOISE_TEST_HOOKS defined: the object library
 * twin_noise_test_hooks (CMakeLists.txt), which the tests that need it link ahead of the library.
 * libtwin itself is compiled without it, so no production path can choose an ephemeral key; a
 * program that calls it without those objects does not link.
 */
#ifndef TWIN_CRYPTO_NOISE_H
#define TWIN_CRYPTO_NOISE_H

#include "twin/noise.h"

/* Queues an ephemeral private key (at most four at a time) for the next handshake message that
 * needs one, in place of a random one. */
void twin_noise_test_push_ephemeral(const unsigned char sk[static TWIN_NOISE_DH_BYTES]);

#endif
