/*
 * The node's settings as `twin config` shows them: each read with its default until set, set
 * only to a valid value, returned to its default by unset; unknown and read-only keys refused
 * with nothing changed; log levels and intervals parsed by name and in decimal.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "helpers.h"
#include "twin/global.h"
#include "twin/settings.h"

static const struct twin_identity south = {"Office of Examples", "XE-EXAMPLE-S", "TZ", "south",
                                           NULL};
#define JOIN_ID "0123456789abcdef0123456789abcdef"

static twin_node *new_node(const struct fixture *f)
{
    char path[192];
    twin_node *n = NULL;
    snprintf(path, sizeof(path), "%s/node", f->dir);
    if (twin_node_init(&n, path, &south, NULL, NULL, JOIN_ID))
        fail_msg("init: %s", twin_error_last());
    return n;
}

/* The value of key, which must be read without error; "(none)" when it has none. */
static void assert_setting(twin_node *n, const char *key, const char *want, bool want_set)
{
    char *v = NULL;
    bool is_set = !want_set;
    if (twin_settings_get(&v, &is_set, n, key))
        fail_msg("get %s: %s", key, twin_error_last());
    assert_string_equal(v ? v : "(none)", want);
    assert_int_equal(is_set, want_set);
    free(v);
}

static void every_setting_reads_its_default_until_set(void **state)
{
    twin_node *n = new_node(*state);
    assert_setting(n, "listen", "127.0.0.1:7447", false);
    assert_setting(n, "interval", "60", false);
    assert_setting(n, "log-level", "info", false);
    assert_setting(n, "address", "(none)", false);
    assert_setting(n, "name", "Office of Examples", true);
    assert_setting(n, "org-id", "XE-EXAMPLE-S", true);
    assert_setting(n, "network", JOIN_ID, true);
    twin_node_free(n);
}

static void a_valid_value_is_set_and_unset_returns_the_default(void **state)
{
    twin_node *n = new_node(*state);
    assert_int_equal(twin_settings_set(n, "listen", "0.0.0.0:7448"), 0);
    assert_int_equal(twin_settings_set(n, "listen", "[::1]:0"), 0);
    assert_int_equal(twin_settings_set(n, "interval", "86400"), 0);
    assert_int_equal(twin_settings_set(n, "log-level", "debug"), 0);
    assert_int_equal(twin_settings_set(n, "address", "north.example:7447"), 0);
    assert_setting(n, "listen", "[::1]:0", true);
    assert_setting(n, "interval", "86400", true);
    assert_setting(n, "log-level", "debug", true);
    assert_setting(n, "address", "north.example:7447", true);
    /* Kept where twin's other modules read them. */
    char *v = NULL;
    assert_int_equal(twin_node_config_get(&v, n, "twin.loglevel"), 0);
    assert_string_equal(v, "debug");
    free(v);

    assert_int_equal(twin_settings_unset(n, "interval"), 0);
    assert_int_equal(twin_settings_unset(n, "interval"), 0);
    assert_int_equal(twin_settings_unset(n, "address"), 0);
    assert_setting(n, "interval", "60", false);
    assert_setting(n, "address", "(none)", false);
    assert_setting(n, "listen", "[::1]:0", true);
    twin_node_free(n);
}

struct refusal {
    const char *key, *value, *message;
};

static void bad_values_unknown_and_read_only_keys_are_refused_and_change_nothing(void **state)
{
    static const struct refusal cases[] = {
        {"colour", "blue",
         "'colour' is not a setting (the settings: listen, interval, "
         "log-level, address, name, org-id, network)"},
        {"listen", "nowhere", "listen 'nowhere' is not an address to listen on"},
        {"listen", "127.0.0.1:65536", "listen '127.0.0.1:65536'"},
        {"interval", "0", "interval '0' is not a number of seconds from 1 to 86400"},
        {"interval", "86401", "interval '86401'"},
        {"interval", "-5", "interval '-5'"},
        {"interval", " 60", "interval ' 60'"},
        {"interval", "60s", "interval '60s'"},
        {"interval", "", "interval ''"},
        {"interval", "99999999999999999999", "interval '99999999999999999999'"},
        {"log-level", "verbose", "'verbose' is not a log level (error, warn, info or debug)"},
        {"log-level", "INFO", "'INFO' is not a log level"},
        {"address", "north.example:0",
         "address 'north.example:0' is not where partners can "
         "reach this node"},
        {"name", "Another Office",
         "name is kept by twin and cannot be set here: the "
         "institution's name"},
        {"org-id", "XE-EXAMPLE-X", "org-id is kept by twin"},
        {"network", JOIN_ID, "network is kept by twin"},
    };
    twin_node *n = new_node(*state);
    assert_int_equal(twin_settings_set(n, "interval", "30"), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_error(twin_settings_check(cases[i].key, cases[i].value), TWIN_EINVALID,
                     cases[i].message);
        assert_error(twin_settings_set(n, cases[i].key, cases[i].value), TWIN_EINVALID,
                     cases[i].message);
    }
    assert_setting(n, "interval", "30", true);
    assert_setting(n, "listen", "127.0.0.1:7447", false);
    assert_setting(n, "name", "Office of Examples", true);

    char *v = (char *)1;
    bool is_set = true;
    assert_error(twin_settings_get(&v, &is_set, n, "colour"), TWIN_EINVALID,
                 "'colour' is not a setting");
    assert_null(v);
    assert_false(is_set);
    assert_error(twin_settings_unset(n, "colour"), TWIN_EINVALID, "'colour' is not a setting");
    assert_error(twin_settings_unset(n, "org-id"), TWIN_EINVALID,
                 "org-id is kept by twin and cannot be unset");
    assert_setting(n, "org-id", "XE-EXAMPLE-S", true);
    twin_node_free(n);
}

static void the_table_names_each_setting_once_with_its_flag(void **state)
{
    size_t count = 0;
    const struct twin_setting *all = twin_settings_all(&count);
    assert_int_equal(count, 7);
    for (size_t i = 0; i < count; i++) {
        assert_ptr_equal(twin_settings_find(all[i].key), &all[i]);
        assert_non_null(all[i].about);
        assert_int_equal(strncmp(all[i].config_key, "twin.", 5), 0);
        /* What can be set has a flag that overrides it; what twin keeps has none. */
        assert_int_equal(all[i].flag != NULL, all[i].writable);
    }
    assert_string_equal(twin_settings_find("log-level")->flag, "--log-level");
    assert_null(twin_settings_find("loglevel"));
}

static void levels_and_intervals_parse_exactly(void **state)
{
    int v = 0;
    const char *names[] = {"error", "warn", "info", "debug"};
    const int levels[] = {TWIN_LOG_ERROR, TWIN_LOG_WARN, TWIN_LOG_INFO, TWIN_LOG_DEBUG};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(twin_settings_level_parse(&v, names[i]), 0);
        assert_int_equal(v, levels[i]);
        assert_string_equal(twin_settings_level_name(levels[i]), names[i]);
    }
    assert_error(twin_settings_level_parse(&v, ""), TWIN_EINVALID, "'' is not a log level");
    assert_null(twin_settings_level_name(5));
    assert_null(twin_settings_level_name(-1));
    assert_null(twin_settings_level_name(8));

    assert_int_equal(twin_settings_interval_parse(&v, "1"), 0);
    assert_int_equal(v, 1);
    assert_int_equal(twin_settings_interval_parse(&v, "0086400"), 0);
    assert_int_equal(v, 86400);
    assert_error(twin_settings_interval_parse(&v, "+60"), TWIN_EINVALID, "interval '+60'");
}

int main(void)
{
    if (twin_global_init(false))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(every_setting_reads_its_default_until_set, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(a_valid_value_is_set_and_unset_returns_the_default,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(
            bad_values_unknown_and_read_only_keys_are_refused_and_change_nothing, fixture_setup,
            fixture_teardown),
        cmocka_unit_test(the_table_names_each_setting_once_with_its_flag),
        cmocka_unit_test(levels_and_intervals_parse_exactly),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    twin_global_shutdown();
    return rc;
}
