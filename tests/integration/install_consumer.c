/*
 * A program of an institution's own, built by install.sh against an installed libtwin (its
 * headers and pkg-config file): prints the library's version and a record id it minted.
 */
#include <stdio.h>

#include <twin/global.h>
#include <twin/record.h>

int main(void)
{
    if (twin_global_init(false) != 0) {
        fprintf(stderr, "consumer: twin_global_init failed\n");
        return 1;
    }
    char id[TWIN_ID_LEN + 1];
    twin_record_new_id(id);
    printf("libtwin %s\n", twin_global_version());
    printf("record id %s\n", id);
    twin_global_shutdown();
    return 0;
}
