/* Feeds one input to twin_record_assign, as `twin set FIELD=VALUE` and `twin set LIST+=VALUE` do:
 * the first byte picks a record type, the rest is the assignment (split at its first '=' into
 * path and value, "+=" appending), applied to a fresh minimal record of that type, which is then
 * validated. Invariants: an assignment on a record in memory fails only for a reason in the input
 * (TWIN_EINVALID, TWIN_ELIMIT) and then leaves the record exactly as it was, never leaves id or
 * type changed, and a record that validates afterwards round-trips through its canonical form. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "twin/error.h"
#include "twin/record.h"

#define ID  "0190f5a2-7c1e-7a3b-9c4d-5e6f7a8b9c0d"
#define REF "0190f5a2-7c1e-7a3b-8000-000000000001"

static const char *const minimal[] = {
    "{\"id\":\"" ID "\",\"type\":\"institution\",\"name\":\"Ministry of Example\"}",
    "{\"id\":\"" ID "\",\"type\":\"partnership\",\"title\":\"Tax twinning\","
    "\"partnership_type\":\"twinning\"}",
    "{\"id\":\"" ID "\",\"type\":\"activity\",\"partnership\":\"" REF "\",\"kind\":\"workshop\","
    "\"title\":\"Kick-off\"}",
    "{\"id\":\"" ID "\",\"type\":\"person\",\"name\":\"Ada Example\"}",
    "{\"id\":\"" ID "\",\"type\":\"post\",\"title\":\"Liaison officer\",\"institution\":\"" REF
    "\"}",
    "{\"id\":\"" ID "\",\"type\":\"assignment\",\"person\":\"" REF "\",\"post\":\"" REF "\","
    "\"start\":\"2026-01-05\"}",
    "{\"id\":\"" ID "\",\"type\":\"handover\",\"post\":\"" REF "\",\"date\":\"2026-03-01\","
    "\"summary\":\"Files passed on\"}",
    "{\"id\":\"" ID "\",\"type\":\"people_link\",\"person_a\":\"" REF "\",\"person_b\":\"" ID "\","
    "\"kind\":\"counterpart\"}",
    "{\"id\":\"" ID "\",\"type\":\"result\",\"partnership\":\"" REF "\",\"result_type\":\"1\","
    "\"title\":\"Manual adopted\"}",
    "{\"id\":\"" ID "\",\"type\":\"indicator\",\"result\":\"" REF "\",\"title\":\"Audits\","
    "\"measure\":\"1\",\"periods\":[{\"start\":\"2026-01-01\",\"end\":\"2026-12-31\","
    "\"actuals\":[{\"value\":3}]}]}",
    "{\"id\":\"" ID "\",\"type\":\"health_check\",\"partnership\":\"" REF "\","
    "\"date\":\"2026-06-30\",\"scores\":{\"trust\":4}}",
    "{\"id\":\"" ID "\",\"type\":\"document\",\"title\":\"MoU\",\"kind\":\"mou\"}",
    "{\"id\":\"" ID "\",\"type\":\"note\",\"kind\":\"decision\",\"title\":\"Meet monthly\"}",
};
#define NTYPES (sizeof(minimal) / sizeof(minimal[0]))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *rec = NULL, *old = NULL, *back = NULL;
    char *path = NULL, *text = NULL;
    size_t len;
    if (size < 1)
        return 0;
    const char *type_text = minimal[data[0] % NTYPES];
    rec = json_loads(type_text, 0, NULL);
    old = json_loads(type_text, 0, NULL);
    if (!rec || !old)
        abort();

    /* the assignment as a C string, as a command line would give it */
    if (!(path = malloc(size)))
        abort();
    memcpy(path, data + 1, size - 1);
    path[size - 1] = '\0';

    int rc = twin_record_assign(rec, path);
    if (rc != 0 && rc != TWIN_EINVALID && rc != TWIN_ELIMIT)
        abort();
    if (rc != 0 && !json_equal(rec, old))
        abort();
    char *eq = strchr(path, '=');
    if (eq)
        *eq = '\0';
    if (!json_equal(json_object_get(rec, "id"), json_object_get(old, "id")) ||
        !json_equal(json_object_get(rec, "type"), json_object_get(old, "type")))
        abort();
    (void)twin_record_get_path(rec, path);
    (void)twin_record_title(rec);

    if (twin_record_validate(rec, NULL, NULL, NULL) == 0) {
        (void)twin_record_validate(rec, old, NULL, NULL);
        rc = twin_record_canonical(&text, &len, rec);
        if (rc == 0 && twin_record_parse_canonical(&back, text, len) != 0)
            abort();
        if (rc != 0 && rc != TWIN_ELIMIT)
            abort();
    }
    free(text);
    free(path);
    json_decref(back);
    json_decref(old);
    json_decref(rec);
    return 0;
}
