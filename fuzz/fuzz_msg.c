/* The message decoder on arbitrary bytes. Whatever it accepts must encode again and decode to
 * the same type: an asymmetry between the two would be a protocol bug. */
#include <stdint.h>
#include <stdlib.h>

#include "twin/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned char again[TWIN_MSG_MAX];
    twin_msg m, m2;
    size_t len = 0;

    msgpack_unpacked u;
    if (twin_msg_msgpack_unpack(&u, data, size) == 0)
        msgpack_unpacked_destroy(&u);

    if (twin_msg_decode(&m, data, size) != 0)
        return 0;
    if (m.type != TWIN_MSG_UNKNOWN) {
        if (twin_msg_encode(again, sizeof(again), &len, &m) != 0)
            abort(); /* decoded but cannot be sent back */
        if (twin_msg_decode(&m2, again, len) != 0 || m2.type != m.type)
            abort(); /* our own encoding is refused */
        twin_msg_clear(&m2);
    }
    twin_msg_clear(&m);
    return 0;
}
