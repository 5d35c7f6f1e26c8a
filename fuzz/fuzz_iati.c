/* Feeds one input to twin's IATI reader (libxml2, no DTD, no network). Invariants: it never
 * crashes, fails only with TWIN_EINVALID or TWIN_ELIMIT, and every record it hands over is a
 * JSON object with a known type and an id. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "twin/error.h"
#include "twin/iati.h"
#include "twin/record.h"

static int check_record(size_t activity, json_t *rec, void *ctx)
{
    const char *type = json_string_value(json_object_get(rec, "type"));
    const char *id = json_string_value(json_object_get(rec, "id"));
    if (!json_is_object(rec) || !type || !twin_record_type_known(type) || !id ||
        !twin_record_id_valid(id) || activity == 0)
        abort();
    (void)twin_record_validate(rec, NULL, NULL, NULL); /* may refuse; must not crash */
    twin_error_clear();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *known = json_object();
    size_t skipped = 0;
    int rc = twin_iati_read((const char *)data, size, known, check_record, NULL, NULL, &skipped);
    if (rc != 0 && rc != TWIN_EINVALID && rc != TWIN_ELIMIT)
        abort();
    json_decref(known);
    twin_error_clear();
    return 0;
}
