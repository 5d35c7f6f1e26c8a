/*
 * The IATI 2.03 schema check built into the library (twin_iati_validate): hand-made documents,
 * valid and not, checked against the embedded activity schema and what it includes
 * (iati-common.xsd) and imports (xml.xsd); libxml2's entity loader is left as it was found; and
 * the embedded bytes are exactly the files in tests/data.
 */
#define _XOPEN_SOURCE 700
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <libxml/parser.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "twin/error.h"
#include "twin/iati.h"

/* Written by cmake/embed.cmake into the library. */
extern const size_t twin_iati_schema_count;
extern const char *const twin_iati_schema_names[];
extern const unsigned char *const twin_iati_schema_data[];
extern const size_t twin_iati_schema_sizes[];

/* One activity with what IATI 2.03 requires; BEFORE_ORG goes where a description belongs, EXTRA
 * after the activity date, LANG is the activity's xml:lang. */
static char *activity(const char *lang, const char *before_org, const char *extra)
{
    static char doc[4096];
    snprintf(doc, sizeof(doc),
             "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
             "<iati-activities version=\"2.03\">\n"
             "  <iati-activity xml:lang=\"%s\" default-currency=\"EUR\">\n"
             "    <iati-identifier>XE-EXAMPLE-MOW-1</iati-identifier>\n"
             "    <reporting-org ref=\"XE-EXAMPLE-MOW\" type=\"10\">\n"
             "      <narrative>Ministry of Water</narrative>\n"
             "    </reporting-org>\n"
             "    <title><narrative>Water twinning</narrative></title>\n"
             "%s"
             "    <participating-org ref=\"XE-EXAMPLE-MOW\" type=\"10\" role=\"4\">\n"
             "      <narrative>Ministry of Water</narrative>\n"
             "    </participating-org>\n"
             "    <activity-status code=\"2\"/>\n"
             "    <activity-date type=\"1\" iso-date=\"2026-01-01\"/>\n"
             "%s"
             "  </iati-activity>\n"
             "</iati-activities>\n",
             lang, before_org, extra);
    return doc;
}

#define DESCRIPTION                                                                                \
    "    <description type=\"1\"><narrative>Utilities learn</narrative></description>\n"

static int check(const char *doc)
{
    return twin_iati_validate(doc, strlen(doc));
}

static void a_complete_activity_is_valid(void **state)
{
    assert_int_equal(check(activity("en", DESCRIPTION, "")), 0);
    assert_int_equal(check(activity("en", DESCRIPTION,
                                    "    <sector vocabulary=\"1\" code=\"14010\" "
                                    "percentage=\"100\"/>\n"
                                    "    <document-link url=\"https://example.org/mou.pdf\" "
                                    "format=\"application/pdf\">\n"
                                    "      <title><narrative>MoU</narrative></title>\n"
                                    "      <category code=\"A09\"/>\n"
                                    "    </document-link>\n")),
                     0);
}

/* IATI needs a description; the error names the element found where it belonged, its line (the
 * participating-org on line 9) and the activity it is in. */
static void a_missing_description_is_named_with_its_line(void **state)
{
    assert_error(check(activity("en", "", "")), TWIN_EINVALID,
                 "line 9 (activity XE-EXAMPLE-MOW-1): Element 'participating-org': This "
                 "element is not expected. Expected is ( description ).");
}

/* Outside any activity, the line alone. */
static void an_error_outside_activities_has_its_line(void **state)
{
    assert_error(check("<?xml version=\"1.0\"?>\n<iati-activities version=\"2.03\"/>\n"),
                 TWIN_EINVALID,
                 "line 2: Element 'iati-activities': Missing child element(s). Expected is ( "
                 "iati-activity ).");
}

static void an_attribute_of_the_wrong_type_is_named(void **state)
{
    assert_error(check(activity("en", DESCRIPTION,
                                "    <sector vocabulary=\"1\" code=\"14010\" "
                                "percentage=\"1e-5\"/>\n")),
                 TWIN_EINVALID,
                 "line 15 (activity XE-EXAMPLE-MOW-1): Element 'sector', attribute 'percentage'");
}

/* document-link is defined in iati-common.xsd, which the activity schema includes; xml:lang in
 * xml.xsd, which it imports: both are checked, from the embedded copies. */
static void the_included_and_imported_schemas_are_checked(void **state)
{
    assert_error(check(activity("en", DESCRIPTION,
                                "    <document-link format=\"application/pdf\">\n"
                                "      <title><narrative>MoU</narrative></title>\n"
                                "      <category code=\"A09\"/>\n"
                                "    </document-link>\n")),
                 TWIN_EINVALID,
                 "Element 'document-link': The attribute 'url' is required but missing.");
    assert_error(check(activity("e n", DESCRIPTION, "")), TWIN_EINVALID,
                 "line 3 (activity XE-EXAMPLE-MOW-1): Element 'iati-activity', attribute "
                 "'{http://www.w3.org/XML/1998/namespace}lang'");
}

static void what_is_not_xml_is_refused(void **state)
{
    assert_error(check("<iati-activities version=\"2.03\"><iati-activity>"), TWIN_EINVALID,
                 "not well-formed XML");
    assert_error(check(""), TWIN_EINVALID, "not well-formed XML");
}

static xmlParserInputPtr a_loader(const char *url, const char *id, xmlParserCtxtPtr ctxt)
{
    return NULL;
}

/* The check sets libxml2's process-wide entity loader only while it parses the schema. */
static void the_entity_loader_is_left_as_it_was(void **state)
{
    xmlExternalEntityLoader before = xmlGetExternalEntityLoader();
    assert_int_equal(check(activity("en", DESCRIPTION, "")), 0);
    assert_ptr_equal(xmlGetExternalEntityLoader(), before);
    assert_int_equal(check(activity("en", "", "")), TWIN_EINVALID);
    assert_ptr_equal(xmlGetExternalEntityLoader(), before);
    xmlSetExternalEntityLoader(a_loader);
    assert_int_equal(check(activity("en", DESCRIPTION, "")), 0);
    assert_ptr_equal(xmlGetExternalEntityLoader(), a_loader);
    xmlSetExternalEntityLoader(before);
}

/* Files named as the schema's include and import in the working directory are not read. */
static void files_beside_it_are_not_read(void **state)
{
    struct fixture *f = *state;
    char cwd[PATH_MAX], path[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(f->dir), 0);
    const char *names[] = {"iati-common.xsd", "xml.xsd", "iati-activities-schema.xsd"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", f->dir, names[i]);
        write_text(path, "not a schema", 12, 0644);
    }
    int rc = check(activity("en", DESCRIPTION, ""));
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(rc, 0);
}

static void the_embedded_schemas_are_the_files_in_tests_data(void **state)
{
    const char *want[] = {"iati-activities-schema.xsd", "iati-common.xsd", "xml.xsd"};
    assert_int_equal(twin_iati_schema_count, 3);
    for (size_t i = 0; i < 3; i++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/iati/%s", TWIN_TEST_DATA, want[i]);
        assert_string_equal(twin_iati_schema_names[i], want[i]);
        FILE *fp = fopen(path, "rb");
        assert_non_null(fp);
        char *buf = malloc(1 << 20);
        assert_non_null(buf);
        size_t n = fread(buf, 1, 1 << 20, fp);
        fclose(fp);
        assert_int_equal(twin_iati_schema_sizes[i], n);
        assert_memory_equal(twin_iati_schema_data[i], buf, n);
        assert_int_equal(twin_iati_schema_data[i][n], 0);
        free(buf);
    }
}

/* Keeps the partnership an import reads. */
static int keep_partnership(size_t activity, json_t *rec, void *ctx)
{
    (void)activity;
    const char *type = json_string_value(json_object_get(rec, "type"));
    if (type && strcmp(type, "partnership") == 0)
        *(json_t **)ctx = json_incref(rec);
    return 0;
}

/* Narratives in several languages become a map of them, each in its xml:lang or the activity's;
 * one narrative stays plain text, and so do two in one language. Narratives so are valid. */
static void narratives_in_several_languages_are_read_as_a_map(void **state)
{
    (void)state;
    const char *more = "    <description type=\"1\"><narrative>Appui entre pairs</narrative>"
                       "<narrative xml:lang=\"en\">Peer support</narrative></description>\n";
    char doc[4096];
    snprintf(doc, sizeof(doc), "%s", activity("fr", more, ""));
    assert_int_equal(check(doc), 0);
    json_t *known = json_object(), *p = NULL;
    size_t skipped = 0;
    assert_int_equal(twin_iati_read(doc, strlen(doc), known, keep_partnership, NULL, &p, &skipped), 0);
    assert_non_null(p);
    assert_string_equal(json_string_value(json_object_get(p, "title")), "Water twinning");
    const json_t *summary = json_object_get(p, "summary");
    assert_int_equal(json_object_size(summary), 2);
    assert_string_equal(json_string_value(json_object_get(summary, "fr")), "Appui entre pairs");
    assert_string_equal(json_string_value(json_object_get(summary, "en")), "Peer support");
    json_decref(p);
    p = NULL;
    more = "    <description type=\"1\"><narrative>One</narrative>"
           "<narrative>Two</narrative></description>\n";
    snprintf(doc, sizeof(doc), "%s", activity("fr", more, ""));
    assert_int_equal(twin_iati_read(doc, strlen(doc), known, keep_partnership, NULL, &p, &skipped), 0);
    assert_string_equal(json_string_value(json_object_get(p, "summary")), "One");
    json_decref(p);
    json_decref(known);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(narratives_in_several_languages_are_read_as_a_map),
        cmocka_unit_test(a_complete_activity_is_valid),
        cmocka_unit_test(a_missing_description_is_named_with_its_line),
        cmocka_unit_test(an_error_outside_activities_has_its_line),
        cmocka_unit_test(an_attribute_of_the_wrong_type_is_named),
        cmocka_unit_test(the_included_and_imported_schemas_are_checked),
        cmocka_unit_test(what_is_not_xml_is_refused),
        cmocka_unit_test(the_entity_loader_is_left_as_it_was),
        cmocka_unit_test_setup_teardown(files_beside_it_are_not_read, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test(the_embedded_schemas_are_the_files_in_tests_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
