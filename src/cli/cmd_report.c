/* twin report contributions: what each institution pledged and delivered to each partnership,
 * confirmed and unconfirmed apart (twin/report.h), as aligned columns or as data. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "twin/error.h"
#include "twin/report.h"

#define FIG_MAX 48

/* A figure as the report gives it: whole numbers without decimals, others without trailing
 * zeros. */
static void fig_text(char out[static FIG_MAX], const json_t *v)
{
    if (json_is_integer(v)) {
        snprintf(out, FIG_MAX, "%lld", (long long)json_integer_value(v));
        return;
    }
    snprintf(out, FIG_MAX, "%.6f", json_number_value(v));
    char *end = out + strlen(out);
    while (end > out && end[-1] == '0')
        *--end = '\0';
    if (end > out && end[-1] == '.')
        end[-1] = '\0';
}

static const char *str(const json_t *j, const char *key)
{
    return json_string_value(json_object_get(j, key));
}

/* "Name (ORG-ID)", or what there is of it. */
static void inst_label(char *out, size_t size, const json_t *inst)
{
    const char *name = str(inst, "name"), *org = str(inst, "org_id");
    if (name && org)
        snprintf(out, size, "%s (%s)", name, org);
    else if (name)
        snprintf(out, size, "%s (no org_id)", name);
    else
        snprintf(out, size, "institution %s", str(inst, "id"));
}

static const char *const fig_paths[4][2] = {{"pledged", "confirmed"},
                                            {"pledged", "unconfirmed"},
                                            {"delivered", "confirmed"},
                                            {"delivered", "unconfirmed"}};

static const json_t *fig(const json_t *amount, int col)
{
    return json_object_get(json_object_get(amount, fig_paths[col][0]), fig_paths[col][1]);
}

static const char *measure(const json_t *amount)
{
    const char *m = str(amount, "currency");
    return m ? m : str(amount, "unit");
}

static void print_text(const json_t *data)
{
    size_t i, k, a;
    json_t *p, *inst, *amount;
    int w_inst = (int)strlen("institution"), w_kind = (int)strlen("in kind");
    int w_in = (int)strlen("in"), w_num = (int)strlen("unconfirmed");
    char label[512], num[FIG_MAX];
    json_array_foreach(json_object_get(data, "partnerships"), i, p)
    {
        json_array_foreach(json_object_get(p, "institutions"), k, inst)
        {
            inst_label(label, sizeof(label), inst);
            if ((int)strlen(label) > w_inst)
                w_inst = (int)strlen(label);
            json_array_foreach(json_object_get(inst, "amounts"), a, amount)
            {
                if ((int)strlen(measure(amount)) > w_in)
                    w_in = (int)strlen(measure(amount));
                for (int col = 0; col < 4; col++) {
                    fig_text(num, fig(amount, col));
                    if ((int)strlen(num) > w_num)
                        w_num = (int)strlen(num);
                }
            }
        }
    }
    if (json_array_size(json_object_get(data, "partnerships")) == 0)
        printf("No contributions are recorded.\n");
    json_array_foreach(json_object_get(data, "partnerships"), i, p)
    {
        const char *title = str(p, "title");
        printf("%s%s (partnership %s)\n", i ? "\n" : "", title ? title : "(untitled)",
               str(p, "id"));
        if (json_array_size(json_object_get(p, "institutions")) == 0) {
            printf("  no contributions\n");
            continue;
        }
        /* Each pair's name starts where its "confirmed" does. */
        int pad = w_num - (int)strlen("confirmed");
        printf("  %-*s  %-*s  %-*s  %*s%-*s  %*s%s\n", w_inst, "", w_kind, "", w_in, "", pad, "",
               2 * w_num + 2 - pad, "pledged", pad, "", "delivered");
        printf("  %-*s  %-*s  %-*s  %*s  %*s  %*s  %*s\n", w_inst, "institution", w_kind, "kind",
               w_in, "in", w_num, "confirmed", w_num, "unconfirmed", w_num, "confirmed", w_num,
               "unconfirmed");
        json_array_foreach(json_object_get(p, "institutions"), k, inst)
        {
            inst_label(label, sizeof(label), inst);
            json_array_foreach(json_object_get(inst, "amounts"), a, amount)
            {
                const char *kind = str(amount, "kind");
                printf("  %-*s  %-*s  %-*s", w_inst, label, w_kind,
                       kind && strcmp(kind, "in_kind") == 0 ? "in kind" : "cash", w_in,
                       measure(amount));
                for (int col = 0; col < 4; col++) {
                    fig_text(num, fig(amount, col));
                    printf("  %*s", w_num, num);
                }
                printf("\n");
            }
        }
    }
}

int cmd_report(struct cli *c, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("report", "say which report: contributions");
    if (strcmp(argv[1], "contributions") != 0)
        return cli_usage_error("report", "no report '%s' (there is: contributions)", argv[1]);
    if (argc > 3 || (argc == 3 && argv[2][0] == '-'))
        return cli_usage_error("report", "contributions takes at most a partnership's id");
    int code = cli_open(c);
    if (code)
        return code;
    char idbuf[TWIN_ID_LEN + 1];
    char *partnership = argc == 3 ? argv[2] : NULL;
    if (partnership && (code = cli_record_id(idbuf, &partnership, c->node, NULL)))
        return code;
    json_t *data = NULL;
    int rc = twin_report_contributions(&data, c->node, partnership);
    if (rc)
        return cli_fail(rc);
    if (c->json)
        cli_print_json(data);
    else
        print_text(data);
    json_int_t skipped = json_integer_value(json_object_get(data, "skipped"));
    if (skipped > 0)
        fprintf(stderr,
                "twin: %lld contribution record%s could not be counted (sealed, withdrawn, or "
                "without what the figures need) and %s left out\n",
                (long long)skipped, cli_s((size_t)skipped), skipped == 1 ? "is" : "are");
    json_decref(data);
    return CLI_OK;
}
