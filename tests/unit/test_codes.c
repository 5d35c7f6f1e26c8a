#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twin/codes.h"
#include "records/codes_table.h"

/* Reference files under TWIN_TEST_DATA, in the order of enum twin_codelist. */
static const char *const files[TWIN_CODES__COUNT] = {
    [TWIN_CODES_ACTIVITY_STATUS] = "ActivityStatus",
    [TWIN_CODES_ORGANISATION_TYPE] = "OrganisationType",
    [TWIN_CODES_ORGANISATION_ROLE] = "OrganisationRole",
    [TWIN_CODES_SECTOR] = "Sector",
    [TWIN_CODES_COUNTRY] = "Country",
    [TWIN_CODES_CURRENCY] = "Currency",
    [TWIN_CODES_LANGUAGE] = "Language",
    [TWIN_CODES_RESULT_TYPE] = "ResultType",
    [TWIN_CODES_INDICATOR_MEASURE] = "IndicatorMeasure",
    [TWIN_CODES_DOCUMENT_CATEGORY] = "DocumentCategory",
    [TWIN_CODES_ACTIVITY_DATE_TYPE] = "ActivityDateType",
    [TWIN_CODES_TRANSACTION_TYPE] = "TransactionType",
};

static char *read_codelist_file(const char *name)
{
    char path[1024];
    FILE *f;
    char *data;
    long size;

    snprintf(path, sizeof(path), "%s/iati/codelists/%s.xml", TWIN_TEST_DATA, name);
    f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    assert_true(size > 0 && size < 4 * 1024 * 1024);
    assert_int_equal(fseek(f, 0, SEEK_SET), 0);
    data = malloc((size_t)size + 1);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, (size_t)size, f), (size_t)size);
    data[size] = '\0';
    fclose(f);
    return data;
}

struct item_counts {
    size_t active;
    size_t withdrawn;
};

typedef void (*item_check)(enum twin_codelist list, const char *code, bool withdrawn);

/*
 * A plain text scan, deliberately unlike the generator's XML parsing: every <codelist-item>
 * start tag, whether it says status="withdrawn", and the text of the <code> that follows.
 */
static struct item_counts scan_items(enum twin_codelist list, item_check check)
{
    struct item_counts counts = {0, 0};
    char *data = read_codelist_file(files[list]);
    const char *p = data;
    static const char open[] = "<codelist-item";

    while ((p = strstr(p, open)) != NULL) {
        const char *tag_end, *code, *code_end;
        char tag[256], value[32];
        bool withdrawn;

        p += sizeof(open) - 1;
        if (*p != ' ' && *p != '>')
            continue; /* <codelist-items> */
        tag_end = strchr(p, '>');
        assert_non_null(tag_end);
        assert_true((size_t)(tag_end - p) < sizeof(tag));
        memcpy(tag, p, (size_t)(tag_end - p));
        tag[tag_end - p] = '\0';
        withdrawn = strstr(tag, "status=\"withdrawn\"") != NULL;

        code = strstr(tag_end, "<code>");
        assert_non_null(code);
        code += strlen("<code>");
        code_end = strstr(code, "</code>");
        assert_non_null(code_end);
        assert_true((size_t)(code_end - code) < sizeof(value));
        memcpy(value, code, (size_t)(code_end - code));
        value[code_end - code] = '\0';

        if (withdrawn)
            counts.withdrawn++;
        else
            counts.active++;
        if (check != NULL)
            check(list, value, withdrawn);
        p = code_end;
    }
    free(data);
    return counts;
}

static void sizes_match_the_active_items_in_each_file(void **state)
{
    for (int list = 0; list < TWIN_CODES__COUNT; list++) {
        struct item_counts counts = scan_items((enum twin_codelist)list, NULL);

        assert_true(counts.active > 0);
        assert_int_equal(twin_codes_list_size((enum twin_codelist)list), counts.active);
    }
}

static void sizes_are_the_counts_verified_by_hand(void **state)
{
    /* grep -c '<codelist-item[ >]' minus grep -c 'status="withdrawn"' per file. */
    assert_int_equal(twin_codes_list_size(TWIN_CODES_ACTIVITY_STATUS), 6);
    assert_int_equal(twin_codes_list_size(TWIN_CODES_ORGANISATION_TYPE), 16);
    assert_int_equal(twin_codes_list_size(TWIN_CODES_ORGANISATION_ROLE), 4);
    assert_int_equal(twin_codes_list_size(TWIN_CODES_SECTOR), 325 - 30);
    assert_int_equal(twin_codes_list_size(TWIN_CODES_COUNTRY), 251 - 1);
    assert_int_equal(twin_codes_list_size(TWIN_CODES_CURRENCY), 176 - 9);
    assert_int_equal(twin_codes_list_size(TWIN_CODES_LANGUAGE), 181);
    assert_int_equal(twin_codes_list_size(TWIN_CODES_RESULT_TYPE), 4);
    assert_int_equal(twin_codes_list_size(TWIN_CODES_INDICATOR_MEASURE), 5);
    assert_int_equal(twin_codes_list_size(TWIN_CODES_DOCUMENT_CATEGORY), 30);
    assert_int_equal(twin_codes_list_size(TWIN_CODES_ACTIVITY_DATE_TYPE), 4);
    assert_int_equal(twin_codes_list_size(TWIN_CODES_TRANSACTION_TYPE), 13);
}

static void expect_validity_matches_status(enum twin_codelist list, const char *code,
                                           bool withdrawn)
{
    if (twin_codes_valid(list, code) == withdrawn)
        fail_msg("%s code %s: valid=%d but withdrawn=%d", files[list], code, !withdrawn, withdrawn);
    assert_true((twin_codes_name(list, code) == NULL) == withdrawn);
}

static void every_active_code_in_the_files_is_valid_and_no_withdrawn_one(void **state)
{
    for (int list = 0; list < TWIN_CODES__COUNT; list++)
        scan_items((enum twin_codelist)list, expect_validity_matches_status);
}

static void the_files_do_have_withdrawn_codes(void **state)
{
    /* Guards the test above against passing vacuously. */
    assert_int_equal(scan_items(TWIN_CODES_SECTOR, NULL).withdrawn, 30);
    assert_int_equal(scan_items(TWIN_CODES_CURRENCY, NULL).withdrawn, 9);
    assert_int_equal(scan_items(TWIN_CODES_COUNTRY, NULL).withdrawn, 1);
}

static void withdrawn_sector_currency_and_country_codes_are_invalid(void **state)
{
    assert_false(twin_codes_valid(TWIN_CODES_SECTOR, "23010"));
    assert_false(twin_codes_valid(TWIN_CODES_SECTOR, "92010"));
    assert_false(twin_codes_valid(TWIN_CODES_CURRENCY, "EEK"));
    assert_false(twin_codes_valid(TWIN_CODES_CURRENCY, "ZMK"));
    assert_false(twin_codes_valid(TWIN_CODES_COUNTRY, "AN"));
    assert_null(twin_codes_name(TWIN_CODES_CURRENCY, "LTL"));
}

static void activity_status_accepts_2_and_rejects_9(void **state)
{
    assert_true(twin_codes_valid(TWIN_CODES_ACTIVITY_STATUS, "2"));
    assert_false(twin_codes_valid(TWIN_CODES_ACTIVITY_STATUS, "9"));
}

static void organisation_type_accepts_10(void **state)
{
    assert_true(twin_codes_valid(TWIN_CODES_ORGANISATION_TYPE, "10"));
    assert_string_equal(twin_codes_name(TWIN_CODES_ORGANISATION_TYPE, "10"), "Government");
}

static void sector_accepts_15110_and_rejects_99999(void **state)
{
    assert_true(twin_codes_valid(TWIN_CODES_SECTOR, "15110"));
    assert_false(twin_codes_valid(TWIN_CODES_SECTOR, "99999"));
}

static void country_accepts_tz_and_nl_and_rejects_xx(void **state)
{
    assert_true(twin_codes_valid(TWIN_CODES_COUNTRY, "TZ"));
    assert_true(twin_codes_valid(TWIN_CODES_COUNTRY, "NL"));
    assert_false(twin_codes_valid(TWIN_CODES_COUNTRY, "XX"));
}

static void codes_are_case_sensitive(void **state)
{
    assert_false(twin_codes_valid(TWIN_CODES_COUNTRY, "tz"));
    assert_false(twin_codes_valid(TWIN_CODES_CURRENCY, "eur"));
    assert_false(twin_codes_valid(TWIN_CODES_LANGUAGE, "EN"));
}

static void currency_accepts_eur_and_language_accepts_en(void **state)
{
    assert_true(twin_codes_valid(TWIN_CODES_CURRENCY, "EUR"));
    assert_true(twin_codes_valid(TWIN_CODES_LANGUAGE, "en"));
    assert_string_equal(twin_codes_name(TWIN_CODES_LANGUAGE, "en"), "English");
}

static void names_are_the_english_narratives(void **state)
{
    /* The French narrative for ActivityStatus 2 is "Actif". */
    assert_string_equal(twin_codes_name(TWIN_CODES_ACTIVITY_STATUS, "2"), "Implementation");
    assert_string_equal(twin_codes_name(TWIN_CODES_DOCUMENT_CATEGORY, "A09"),
                        "Memorandum of understanding (If agreed by all parties)");
    assert_string_equal(twin_codes_name(TWIN_CODES_SECTOR, "15110"),
                        "Public sector policy and administrative management");
    assert_string_equal(twin_codes_name(TWIN_CODES_COUNTRY, "TZ"),
                        "Tanzania, the United Republic of");
}

static void names_keep_non_ascii_letters_as_utf8(void **state)
{
    assert_string_equal(twin_codes_name(TWIN_CODES_COUNTRY, "CI"), "C\xc3\xb4te d'Ivoire");
}

static void near_misses_are_not_codes(void **state)
{
    assert_false(twin_codes_valid(TWIN_CODES_CURRENCY, "EUR "));
    assert_false(twin_codes_valid(TWIN_CODES_CURRENCY, "EU"));
    assert_false(twin_codes_valid(TWIN_CODES_CURRENCY, "EURO"));
    assert_false(twin_codes_valid(TWIN_CODES_SECTOR, "1511"));
    assert_false(twin_codes_valid(TWIN_CODES_SECTOR, "151100"));
    assert_false(twin_codes_valid(TWIN_CODES_ACTIVITY_STATUS, "02"));
    assert_false(twin_codes_valid(TWIN_CODES_ACTIVITY_STATUS, ""));
}

static void null_code_is_not_valid_and_has_no_name(void **state)
{
    assert_false(twin_codes_valid(TWIN_CODES_COUNTRY, NULL));
    assert_null(twin_codes_name(TWIN_CODES_COUNTRY, NULL));
}

static void unknown_list_has_no_codes_no_name_and_size_zero(void **state)
{
    enum twin_codelist bogus = TWIN_CODES__COUNT;

    assert_false(twin_codes_valid(bogus, "1"));
    assert_null(twin_codes_name(bogus, "1"));
    assert_null(twin_codes_list_name(bogus));
    assert_int_equal(twin_codes_list_size(bogus), 0);
    assert_null(twin_codes_list_name((enum twin_codelist) - 1));
}

static void codelist_names_are_the_iati_names(void **state)
{
    for (int list = 0; list < TWIN_CODES__COUNT; list++)
        assert_string_equal(twin_codes_list_name((enum twin_codelist)list), files[list]);
}

static void tables_are_strictly_sorted_so_binary_search_finds_every_entry(void **state)
{
    for (int list = 0; list < TWIN_CODES__COUNT; list++) {
        const struct twin_codelist_table *table = &twin_codes_tables[list];

        for (size_t i = 0; i < table->count; i++) {
            const struct twin_code_entry *e = &table->entries[i];

            if (i > 0)
                assert_true(strcmp(table->entries[i - 1].code, e->code) < 0);
            assert_true(twin_codes_valid((enum twin_codelist)list, e->code));
            assert_ptr_equal(twin_codes_name((enum twin_codelist)list, e->code), e->name);
            assert_true(e->name[0] != '\0');
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sizes_match_the_active_items_in_each_file),
        cmocka_unit_test(sizes_are_the_counts_verified_by_hand),
        cmocka_unit_test(every_active_code_in_the_files_is_valid_and_no_withdrawn_one),
        cmocka_unit_test(the_files_do_have_withdrawn_codes),
        cmocka_unit_test(withdrawn_sector_currency_and_country_codes_are_invalid),
        cmocka_unit_test(activity_status_accepts_2_and_rejects_9),
        cmocka_unit_test(organisation_type_accepts_10),
        cmocka_unit_test(sector_accepts_15110_and_rejects_99999),
        cmocka_unit_test(country_accepts_tz_and_nl_and_rejects_xx),
        cmocka_unit_test(codes_are_case_sensitive),
        cmocka_unit_test(currency_accepts_eur_and_language_accepts_en),
        cmocka_unit_test(names_are_the_english_narratives),
        cmocka_unit_test(names_keep_non_ascii_letters_as_utf8),
        cmocka_unit_test(near_misses_are_not_codes),
        cmocka_unit_test(null_code_is_not_valid_and_has_no_name),
        cmocka_unit_test(unknown_list_has_no_codes_no_name_and_size_zero),
        cmocka_unit_test(codelist_names_are_the_iati_names),
        cmocka_unit_test(tables_are_strictly_sorted_so_binary_search_finds_every_entry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
