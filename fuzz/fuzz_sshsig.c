/* Feeds one input to every parser of untrusted signing material: the armored signature, the
 * commit split (and the signature it yields over its payload), the private key file and the
 * public key forms. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "twin/key.h"
#include "twin/sshsig.h"

/* The message the corpus's signatures were made over, so valid seeds reach the Ed25519 check. */
static const char MESSAGE[] = "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
                              "author North Example <north@example.org> 1700000000 +0000\n"
                              "committer North Example <north@example.org> 1700000000 +0000\n"
                              "\n"
                              "XE-EXAMPLE-1: record the steering meeting\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    unsigned char pk[TWIN_PUBKEY_BYTES];
    char *sig = NULL, *payload = NULL, *line;
    size_t sig_len, payload_len;
    twin_keypair kp;

    twin_sshsig_verify(pk, text, size, TWIN_SSHSIG_NAMESPACE_GIT, MESSAGE, sizeof(MESSAGE) - 1);

    if (twin_sshsig_split_commit(&sig, &sig_len, &payload, &payload_len, text, size) == 0) {
        twin_sshsig_verify(pk, sig, sig_len, TWIN_SSHSIG_NAMESPACE_GIT, payload, payload_len);
        free(sig);
        free(payload);
    }

    if (twin_key_parse_private(&kp, text, size) == 0)
        twin_key_wipe(&kp);

    if ((line = malloc(size + 1)) != NULL) {
        memcpy(line, data, size);
        line[size] = '\0';
        twin_key_parse_any(pk, line);
        free(line);
    }
    return 0;
}
