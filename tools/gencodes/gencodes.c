/*
 * gencodes: writes src/records/codes_table.c, the sorted tables of active IATI 2.03 codes behind
 * include/twin/codes.h, from the IATI codelist XML files. With --check it compares instead of
 * writing, so a test can show that the checked-in table still matches the codelists.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "records/codes_table.h"

/* Far above any real codelist, so a damaged file fails instead of growing the table. */
#define MAX_ITEMS      4096
#define MAX_TABLE_FILE (4 * 1024 * 1024)

struct list_spec {
    const char *iati_name;  /* codelist/@name and the file's stem */
    const char *enumerator; /* its enum twin_codelist constant, as text */
    const char *array;      /* identifier of its table in the output */
};

#define LIST(e, iati, arr) [e] = {iati, #e, arr}

/* Indexed by the enum so the generated table cannot fall out of step with the header. */
static const struct list_spec lists[] = {
    LIST(TWIN_CODES_ACTIVITY_STATUS, "ActivityStatus", "activity_status"),
    LIST(TWIN_CODES_ORGANISATION_TYPE, "OrganisationType", "organisation_type"),
    LIST(TWIN_CODES_ORGANISATION_ROLE, "OrganisationRole", "organisation_role"),
    LIST(TWIN_CODES_SECTOR, "Sector", "sector"),
    LIST(TWIN_CODES_COUNTRY, "Country", "country"),
    LIST(TWIN_CODES_CURRENCY, "Currency", "currency"),
    LIST(TWIN_CODES_LANGUAGE, "Language", "language"),
    LIST(TWIN_CODES_RESULT_TYPE, "ResultType", "result_type"),
    LIST(TWIN_CODES_INDICATOR_MEASURE, "IndicatorMeasure", "indicator_measure"),
    LIST(TWIN_CODES_DOCUMENT_CATEGORY, "DocumentCategory", "document_category"),
    LIST(TWIN_CODES_ACTIVITY_DATE_TYPE, "ActivityDateType", "activity_date_type"),
    LIST(TWIN_CODES_TRANSACTION_TYPE, "TransactionType", "transaction_type"),
};

_Static_assert(sizeof(lists) / sizeof(lists[0]) == TWIN_CODES__COUNT,
               "one list_spec per enum twin_codelist");

struct code_item {
    char *code;
    char *name;
};

struct codelist {
    struct code_item *items;
    size_t count;
    size_t withdrawn;
};

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void report(const char *fmt, ...)
{
    va_list ap;

    fputs("gencodes: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void codelist_clear(struct codelist *list)
{
    for (size_t i = 0; i < list->count; i++) {
        free(list->items[i].code);
        free(list->items[i].name);
    }
    free(list->items);
    memset(list, 0, sizeof(*list));
}

static bool is_element(const xmlNode *node, const char *name)
{
    return node->type == XML_ELEMENT_NODE && node->ns == NULL &&
           xmlStrEqual(node->name, (const xmlChar *)name);
}

/* How many child elements are called name; *first receives the first of them. */
static size_t children_named(xmlNode *parent, const char *name, xmlNode **first)
{
    size_t n = 0;

    *first = NULL;
    for (xmlNode *child = parent->children; child != NULL; child = child->next) {
        if (!is_element(child, name))
            continue;
        if (n++ == 0)
            *first = child;
    }
    return n;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The element's text without surrounding whitespace, as a malloc'd string (NULL: no memory). */
static char *trimmed_text(xmlNode *node)
{
    xmlChar *content = xmlNodeGetContent(node);
    const char *start = content != NULL ? (const char *)content : "";
    size_t len;
    char *out;

    while (is_space(*start))
        start++;
    len = strlen(start);
    while (len > 0 && is_space(start[len - 1]))
        len--;
    out = malloc(len + 1);
    if (out != NULL) {
        memcpy(out, start, len);
        out[len] = '\0';
    }
    xmlFree(content);
    return out;
}

/* xml:lang is inherited, so an unmarked narrative takes the language of <codelist>. */
static bool is_english(xmlNode *narrative)
{
    xmlChar *lang = xmlNodeGetLang(narrative);
    bool english = lang == NULL || xmlStrcasecmp(lang, (const xmlChar *)"en") == 0 ||
                   xmlStrncasecmp(lang, (const xmlChar *)"en-", 3) == 0;

    xmlFree(lang);
    return english;
}

/* Codes go into C string literals and fixed-size slots; anything unusual deserves a look. */
static bool code_is_plain(const char *code)
{
    size_t len = strlen(code);

    if (len == 0 || len >= TWIN_CODE_MAX)
        return false;
    for (const char *p = code; *p != '\0'; p++) {
        char c = *p;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_'))
            return false;
    }
    return true;
}

static int read_item(struct code_item *out, xmlNode *item, const char *path)
{
    struct code_item got = {NULL, NULL};
    xmlNode *code_el, *name_el;
    long line = xmlGetLineNo(item);
    int rc = -1;

    if (children_named(item, "code", &code_el) != 1) {
        report("%s:%ld: codelist-item needs exactly one <code>", path, line);
        goto cleanup;
    }
    if ((got.code = trimmed_text(code_el)) == NULL) {
        report("out of memory");
        goto cleanup;
    }
    if (!code_is_plain(got.code)) {
        report("%s:%ld: code \"%s\" is empty, longer than %d bytes or has characters other "
               "than letters, digits, '.', '-' and '_'",
               path, line, got.code, TWIN_CODE_MAX - 1);
        goto cleanup;
    }
    if (children_named(item, "name", &name_el) != 1) {
        report("%s:%ld: code %s needs exactly one <name>", path, line, got.code);
        goto cleanup;
    }
    for (xmlNode *n = name_el->children; n != NULL; n = n->next) {
        if (is_element(n, "narrative") && is_english(n)) {
            if ((got.name = trimmed_text(n)) == NULL) {
                report("out of memory");
                goto cleanup;
            }
            break;
        }
    }
    if (got.name == NULL || got.name[0] == '\0') {
        report("%s:%ld: code %s has no English name", path, line, got.code);
        goto cleanup;
    }
    *out = got;
    got.code = got.name = NULL;
    rc = 0;

cleanup:
    free(got.code);
    free(got.name);
    return rc;
}

static int compare_items(const void *a, const void *b)
{
    return strcmp(((const struct code_item *)a)->code, ((const struct code_item *)b)->code);
}

static int read_codelist(struct codelist *out, const char *dir, const struct list_spec *spec)
{
    struct codelist list = {NULL, 0, 0};
    size_t cap = 0;
    char *path = NULL;
    size_t path_len;
    xmlDoc *doc = NULL;
    xmlNode *root, *items;
    xmlChar *list_name = NULL;
    int rc = -1;

    path_len = strlen(dir) + 1 + strlen(spec->iati_name) + sizeof(".xml");
    if ((path = malloc(path_len)) == NULL) {
        report("out of memory");
        goto cleanup;
    }
    snprintf(path, path_len, "%s/%s.xml", dir, spec->iati_name);

    /* No network, no DTD loading, no entity substitution: the files are data, nothing more. */
    doc = xmlReadFile(path, NULL, XML_PARSE_NONET);
    if (doc == NULL) {
        report("%s: cannot read it as XML", path);
        goto cleanup;
    }
    if (doc->intSubset != NULL) {
        report("%s: has a DOCTYPE; codelists are read without DTDs or entities", path);
        goto cleanup;
    }
    root = xmlDocGetRootElement(doc);
    if (root == NULL || !is_element(root, "codelist")) {
        report("%s: root element is not <codelist>", path);
        goto cleanup;
    }
    list_name = xmlGetNoNsProp(root, (const xmlChar *)"name");
    if (list_name == NULL || strcmp((const char *)list_name, spec->iati_name) != 0) {
        report("%s: codelist is named \"%s\", expected \"%s\"", path,
               list_name != NULL ? (const char *)list_name : "", spec->iati_name);
        goto cleanup;
    }
    if (children_named(root, "codelist-items", &items) != 1) {
        report("%s: needs exactly one <codelist-items>", path);
        goto cleanup;
    }

    for (xmlNode *item = items->children; item != NULL; item = item->next) {
        xmlChar *status;
        bool withdrawn;

        if (item->type != XML_ELEMENT_NODE)
            continue;
        if (!is_element(item, "codelist-item")) {
            report("%s:%ld: unexpected <%s> in <codelist-items>", path, xmlGetLineNo(item),
                   (const char *)item->name);
            goto cleanup;
        }
        status = xmlGetNoNsProp(item, (const xmlChar *)"status");
        withdrawn = status != NULL && xmlStrEqual(status, (const xmlChar *)"withdrawn");
        if (status != NULL && !withdrawn && !xmlStrEqual(status, (const xmlChar *)"active")) {
            report("%s:%ld: unknown status \"%s\"", path, xmlGetLineNo(item), (const char *)status);
            xmlFree(status);
            goto cleanup;
        }
        xmlFree(status);
        if (withdrawn) {
            list.withdrawn++;
            continue;
        }
        if (list.count == cap) {
            size_t new_cap = cap == 0 ? 64 : cap * 2;
            struct code_item *grown;

            if (new_cap > MAX_ITEMS) {
                report("%s: more than %d active codes", path, MAX_ITEMS);
                goto cleanup;
            }
            grown = realloc(list.items, new_cap * sizeof(*grown));
            if (grown == NULL) {
                report("out of memory");
                goto cleanup;
            }
            list.items = grown;
            cap = new_cap;
        }
        if (read_item(&list.items[list.count], item, path) < 0)
            goto cleanup;
        list.count++;
    }
    if (list.count == 0) {
        report("%s: has no active codes", path);
        goto cleanup;
    }

    /* Codes are unique, so the order is total and the output does not depend on qsort. */
    qsort(list.items, list.count, sizeof(*list.items), compare_items);
    for (size_t i = 1; i < list.count; i++) {
        if (strcmp(list.items[i - 1].code, list.items[i].code) == 0) {
            report("%s: code %s appears more than once among the active codes", path,
                   list.items[i].code);
            goto cleanup;
        }
    }

    *out = list;
    memset(&list, 0, sizeof(list));
    rc = 0;

cleanup:
    codelist_clear(&list);
    xmlFree(list_name);
    xmlFreeDoc(doc);
    free(path);
    return rc;
}

/* A C string literal; trigraph-forming '?' and control bytes escaped, UTF-8 kept as it is. */
static void emit_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\' || *p == '?')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(out, "\\%03o", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

static void emit_table(FILE *out, const struct codelist *tables)
{
    fputs("/*\n"
          " * Generated by tools/gencodes from the IATI 2.03 codelists. Do not edit.\n"
          " * Regenerate after the codelists change with\n"
          " *     cmake --build build --target regen-codes\n"
          " * which runs gencodes -o src/records/codes_table.c tests/data/iati/codelists;\n"
          " * the test codes.tables_match_codelists fails while this file is out of date.\n"
          " * Active codes only (withdrawn ones are left out), each list sorted by strcmp.\n"
          " */\n"
          "// clang-format off\n"
          "#include \"records/codes_table.h\"\n",
          out);
    for (size_t l = 0; l < TWIN_CODES__COUNT; l++) {
        const struct codelist *list = &tables[l];

        fprintf(out, "\n/* %s.xml: %zu active codes, %zu withdrawn left out */\n",
                lists[l].iati_name, list->count, list->withdrawn);
        fprintf(out, "static const struct twin_code_entry %s[] = {\n", lists[l].array);
        for (size_t i = 0; i < list->count; i++) {
            fputs("    {", out);
            emit_string(out, list->items[i].code);
            fputs(", ", out);
            emit_string(out, list->items[i].name);
            fputs("},\n", out);
        }
        fputs("};\n", out);
    }
    fputs("\nconst struct twin_codelist_table twin_codes_tables[TWIN_CODES__COUNT] = {\n", out);
    for (size_t l = 0; l < TWIN_CODES__COUNT; l++)
        fprintf(out, "    [%s] = {\"%s\", %s, %zu},\n", lists[l].enumerator, lists[l].iati_name,
                lists[l].array, tables[l].count);
    fputs("};\n", out);
}

static int read_file(char **out, size_t *out_len, const char *path)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    size_t len = 0;
    int rc = -1;

    if (f == NULL) {
        report("%s: %s", path, strerror(errno));
        goto cleanup;
    }
    if ((data = malloc(MAX_TABLE_FILE + 1)) == NULL) {
        report("out of memory");
        goto cleanup;
    }
    len = fread(data, 1, MAX_TABLE_FILE + 1, f);
    if (ferror(f)) {
        report("%s: read error", path);
        goto cleanup;
    }
    if (len > MAX_TABLE_FILE) {
        report("%s: larger than %d bytes, not a code table", path, MAX_TABLE_FILE);
        goto cleanup;
    }
    data[len] = '\0';
    *out = data;
    *out_len = len;
    data = NULL;
    rc = 0;

cleanup:
    free(data);
    if (f != NULL)
        fclose(f);
    return rc;
}

/* Names the first line where the file and the fresh output part, so the fix is obvious. */
static int check_matches(const char *path, const char *want, size_t want_len)
{
    char *have = NULL;
    size_t have_len = 0, i = 0, line = 1, line_start = 0;
    int rc = -1;

    if (read_file(&have, &have_len, path) < 0)
        goto cleanup;
    while (i < have_len && i < want_len && have[i] == want[i]) {
        if (have[i] == '\n') {
            line++;
            line_start = i + 1;
        }
        i++;
    }
    if (i == have_len && i == want_len) {
        rc = 0;
        goto cleanup;
    }
    {
        /* Both texts end in a NUL, so each line ends at its newline or at the end. */
        const char *h = have + line_start, *w = want + line_start;
        int h_len = (int)strcspn(h, "\n"), w_len = (int)strcspn(w, "\n");

        report("%s is out of date with the codelists, first at line %zu:\n"
               "  checked in: %.*s\n"
               "  generated:  %.*s\n"
               "regenerate it with: cmake --build <build dir> --target regen-codes",
               path, line, h_len, h, w_len, w);
    }

cleanup:
    free(have);
    return rc;
}

/* Through a temporary file and rename, so a failed run never leaves half a table behind. */
static int write_file(const char *path, const char *data, size_t len)
{
    size_t tmp_len = strlen(path) + sizeof(".tmp");
    char *tmp = malloc(tmp_len);
    FILE *f = NULL;
    int rc = -1;

    if (tmp == NULL) {
        report("out of memory");
        goto cleanup;
    }
    snprintf(tmp, tmp_len, "%s.tmp", path);
    if ((f = fopen(tmp, "wb")) == NULL) {
        report("%s: %s", tmp, strerror(errno));
        goto cleanup;
    }
    if (fwrite(data, 1, len, f) != len) {
        report("%s: write error", tmp);
        goto cleanup;
    }
    if (fclose(f) != 0) {
        f = NULL;
        report("%s: write error", tmp);
        goto cleanup;
    }
    f = NULL;
    if (rename(tmp, path) != 0) {
        report("cannot replace %s: %s", path, strerror(errno));
        goto cleanup;
    }
    rc = 0;

cleanup:
    if (f != NULL)
        fclose(f);
    if (rc != 0 && tmp != NULL)
        remove(tmp);
    free(tmp);
    return rc;
}

static void usage(FILE *to)
{
    fputs(
        "usage: gencodes [-o FILE | --check FILE] CODELIST_DIR\n"
        "Writes the IATI code tables (src/records/codes_table.c) generated from the codelist XML\n"
        "files in CODELIST_DIR to standard output, or to FILE with -o. With --check, exits\n"
        "with status 1 and names the first difference when FILE does not match.\n",
        to);
}

int main(int argc, char **argv)
{
    struct codelist tables[TWIN_CODES__COUNT];
    const char *dir = NULL, *out_path = NULL, *check_path = NULL;
    char *text = NULL;
    size_t text_len = 0;
    FILE *mem = NULL;
    int status = 1;

    memset(tables, 0, sizeof(tables));
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc && out_path == NULL &&
                   check_path == NULL) {
            out_path = argv[++i];
        } else if (strcmp(argv[i], "--check") == 0 && i + 1 < argc && out_path == NULL &&
                   check_path == NULL) {
            check_path = argv[++i];
        } else if (argv[i][0] != '-' && dir == NULL) {
            dir = argv[i];
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (dir == NULL) {
        usage(stderr);
        return 2;
    }

    LIBXML_TEST_VERSION
    for (size_t l = 0; l < TWIN_CODES__COUNT; l++) {
        if (read_codelist(&tables[l], dir, &lists[l]) < 0)
            goto cleanup;
    }

    if ((mem = open_memstream(&text, &text_len)) == NULL) {
        report("out of memory");
        goto cleanup;
    }
    emit_table(mem, tables);
    if (fclose(mem) != 0) {
        mem = NULL;
        report("out of memory");
        goto cleanup;
    }
    mem = NULL;

    if (check_path != NULL) {
        if (check_matches(check_path, text, text_len) < 0)
            goto cleanup;
    } else if (out_path != NULL) {
        if (write_file(out_path, text, text_len) < 0)
            goto cleanup;
    } else if (fwrite(text, 1, text_len, stdout) != text_len || fflush(stdout) != 0) {
        report("cannot write to standard output");
        goto cleanup;
    }
    status = 0;

cleanup:
    if (mem != NULL)
        fclose(mem);
    free(text);
    for (size_t l = 0; l < TWIN_CODES__COUNT; l++)
        codelist_clear(&tables[l]);
    xmlCleanupParser();
    return status;
}
