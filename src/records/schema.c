/*
 * Record types and their fields. Names follow the partnership domain; codes follow IATI 2.03
 * (ActivityStatus, OrganisationType, OrganisationRole, Sector, Country, ...), so a partnership
 * exports to a valid IATI activity.
 */
#include "records/schema.h"

#include <string.h>

#include "twin/attachment.h"
#include "twin/schema.h"

#define END                                                                                        \
    {                                                                                              \
        .name = NULL                                                                               \
    }
#define STRING(n, r)                                                                               \
    {                                                                                              \
        .name = n, .kind = TWIN_F_STRING, .required = r                                            \
    }
#define TEXT(n, r)                                                                                 \
    {                                                                                              \
        .name = n, .kind = TWIN_F_TEXT, .required = r                                              \
    }
/* A text that may be given in several languages (struct twin_field's lang). */
#define LSTRING(n, r)                                                                              \
    {                                                                                              \
        .name = n, .kind = TWIN_F_STRING, .required = r, .lang = true                              \
    }
#define LTEXT(n, r)                                                                                \
    {                                                                                              \
        .name = n, .kind = TWIN_F_TEXT, .required = r, .lang = true                                \
    }
#define ENUM(n, r, v)                                                                              \
    {                                                                                              \
        .name = n, .kind = TWIN_F_ENUM, .required = r, .enum_values = v                            \
    }
#define CODE(n, r, l)                                                                              \
    {                                                                                              \
        .name = n, .kind = TWIN_F_CODE, .required = r, .codelist = l                               \
    }
#define DATE(n, r)                                                                                 \
    {                                                                                              \
        .name = n, .kind = TWIN_F_DATE, .required = r                                              \
    }
#define INT(n, r, lo, hi)                                                                          \
    {                                                                                              \
        .name = n, .kind = TWIN_F_INT, .required = r, .min = lo, .max = hi                         \
    }
#define NUMBER(n, r)                                                                               \
    {                                                                                              \
        .name = n, .kind = TWIN_F_NUMBER, .required = r                                            \
    }
#define PERCENT(n, r)                                                                              \
    {                                                                                              \
        .name = n, .kind = TWIN_F_NUMBER, .required = r, .min = 0, .max = 100                      \
    }
#define BOOL(n, r)                                                                                 \
    {                                                                                              \
        .name = n, .kind = TWIN_F_BOOL, .required = r                                              \
    }
#define REF(n, r, t)                                                                               \
    {                                                                                              \
        .name = n, .kind = TWIN_F_REF, .required = r, .ref_type = t                                \
    }
#define URL(n, r)                                                                                  \
    {                                                                                              \
        .name = n, .kind = TWIN_F_URL, .required = r                                               \
    }
#define SHA256(n, r)                                                                               \
    {                                                                                              \
        .name = n, .kind = TWIN_F_SHA256, .required = r                                            \
    }
#define ORG_ID(n, r)                                                                               \
    {                                                                                              \
        .name = n, .kind = TWIN_F_ORG_ID, .required = r                                            \
    }
#define EMAIL(n, r)                                                                                \
    {                                                                                              \
        .name = n, .kind = TWIN_F_EMAIL, .required = r                                             \
    }
#define OBJECT(n, r, f)                                                                            \
    {                                                                                              \
        .name = n, .kind = TWIN_F_OBJECT, .required = r, .fields = f                               \
    }
#define LIST(n, r, i)                                                                              \
    {                                                                                              \
        .name = n, .kind = TWIN_F_LIST, .required = r, .item = i                                   \
    }

/* A value that lost a merge: the field, the losing value and the commit that last set it.
 * Merges write these; `twin resolve` clears them. */
static const struct twin_field conflict[] = {
    STRING("field", true),
    {.name = "value", .kind = TWIN_F_ANY, .required = false},
    {.name = "from", .kind = TWIN_F_COMMIT, .required = true},
    {.name = NULL}};
static const struct twin_field conflict_item[] = {
    {.name = "conflicts[]", .kind = TWIN_F_OBJECT, .fields = conflict}};

/* Fields every record carries. The node sets id and type; withdrawn is the tombstone. */
#define COMMON                                                                                     \
    STRING("id", true), STRING("type", true), BOOL("withdrawn", false),                            \
        LIST("conflicts", false, conflict_item)

static const char *const sides[] = {"north", "south", "donor", "broker", NULL};
static const char *const sector_groups[] = {
    "government", "business", "civil_society", "academia", "multilateral", "other", NULL};
static const char *const partnership_types[] = {"twinning", "intersectoral", "public_partnership",
                                                "other", NULL};
/* How long a partnership is meant to last, as intersectoral partnership practice tells them. */
static const char *const partnership_forms[] = {"permanent", "semi_permanent", "taskforce", NULL};
/* What a member does in a partnership, beside its IATI role. */
static const char *const member_roles[] = {
    "convener", "secretariat", "sector_representative", "funder", "implementer", "broker", NULL};
static const char *const outcome_areas[] = {"capacity_and_sectoral", "institutional_relationship",
                                            "people_to_people", NULL};
static const char *const agreement_kinds[] = {"mou",    "agreement", "contract",
                                              "letter", "other",     NULL};
static const char *const activity_kinds[] = {"expert_placement_short",
                                             "expert_placement_long",
                                             "study_tour",
                                             "mission",
                                             "systems_development",
                                             "advisory_service",
                                             "training_event",
                                             "workshop",
                                             "steering_meeting",
                                             "review",
                                             "other",
                                             NULL};
static const char *const directions[] = {"north_to_south", "south_to_north", "south_to_south",
                                         "north_to_north", "mutual",         NULL};
static const char *const link_kinds[] = {"counterpart", "mentor", "peer", "alumni", "other", NULL};
static const char *const document_kinds[] = {
    "mou",        "agreement",          "work_plan", "report", "minutes",
    "evaluation", "terms_of_reference", "financial", "other",  NULL};
static const char *const note_kinds[] = {"note",  "decision",       "action", "risk",
                                         "issue", "lesson_learned", NULL};

static const struct twin_field date_range[] = {
    DATE("planned_start", false), DATE("planned_end", false), DATE("actual_start", false),
    DATE("actual_end", false), END};

/* institution */
static const struct twin_field institution_fields[] = {
    COMMON,
    STRING("name", true),
    ORG_ID("org_id", false),
    CODE("org_type", false, TWIN_CODES_ORGANISATION_TYPE),
    ENUM("sector_group", false, sector_groups),
    CODE("country", false, TWIN_CODES_COUNTRY),
    ENUM("side", false, sides),
    URL("website", false),
    LTEXT("description", false),
    END};

/* partnership */
static const struct twin_field member_role_item[] = {ENUM("roles[]", false, member_roles)};
static const struct twin_field partnership_member[] = {
    REF("institution", true, "institution"), ENUM("side", true, sides),
    CODE("iati_role", false, TWIN_CODES_ORGANISATION_ROLE), LIST("roles", false, member_role_item),
    END};
static const struct twin_field partnership_member_item[] = {
    OBJECT("members[]", false, partnership_member)};
static const struct twin_field sector_share[] = {CODE("code", true, TWIN_CODES_SECTOR),
                                                 PERCENT("percentage", false), END};
static const struct twin_field sector_item[] = {OBJECT("sectors[]", false, sector_share)};
static const struct twin_field country_share[] = {CODE("code", true, TWIN_CODES_COUNTRY),
                                                  PERCENT("percentage", false), END};
static const struct twin_field country_item[] = {
    OBJECT("recipient_countries[]", false, country_share)};
static const struct twin_field outcome_item[] = {ENUM("outcome_areas[]", false, outcome_areas)};
static const struct twin_field text_item[] = {TEXT("[]", false)};
static const struct twin_field agreement[] = {ENUM("kind", true, agreement_kinds),
                                              STRING("reference", false), DATE("signed", false),
                                              REF("document", false, "document"), END};
static const struct twin_field agreement_item[] = {OBJECT("agreements[]", false, agreement)};
static const struct twin_field partnership_fields[] = {
    COMMON,
    LSTRING("title", true),
    ENUM("partnership_type", true, partnership_types),
    ENUM("form", false, partnership_forms),
    STRING("subtype", false),
    LTEXT("summary", false),
    LIST("objectives", false, text_item),
    CODE("status", false, TWIN_CODES_ACTIVITY_STATUS),
    OBJECT("dates", false, date_range),
    LIST("members", false, partnership_member_item),
    LIST("sectors", false, sector_item),
    LIST("recipient_countries", false, country_item),
    LIST("outcome_areas", false, outcome_item),
    LIST("agreements", false, agreement_item),
    STRING("iati_identifier", false),
    CODE("currency", false, TWIN_CODES_CURRENCY),
    CODE("language", false, TWIN_CODES_LANGUAGE),
    END};

/* activity */
static const struct twin_field location[] = {CODE("country", false, TWIN_CODES_COUNTRY),
                                             STRING("place", false), END};
static const struct twin_field participant[] = {REF("person", false, "person"),
                                                REF("institution", false, "institution"),
                                                STRING("role", false), END};
static const struct twin_field participant_item[] = {OBJECT("participants[]", false, participant)};
static const struct twin_field activity_fields[] = {
    COMMON,
    REF("partnership", true, "partnership"),
    ENUM("kind", true, activity_kinds),
    LSTRING("title", true),
    LTEXT("description", false),
    CODE("status", false, TWIN_CODES_ACTIVITY_STATUS),
    OBJECT("dates", false, date_range),
    ENUM("direction", false, directions),
    OBJECT("location", false, location),
    LIST("participants", false, participant_item),
    END};

/* people and continuity */
static const struct twin_field language_item[] = {CODE("languages[]", false, TWIN_CODES_LANGUAGE)};
static const struct twin_field person_fields[] = {COMMON,
                                                  STRING("name", true),
                                                  REF("institution", false, "institution"),
                                                  EMAIL("email", false),
                                                  CODE("country", false, TWIN_CODES_COUNTRY),
                                                  LIST("languages", false, language_item),
                                                  END};
static const struct twin_field post_fields[] = {COMMON,
                                                LSTRING("title", true),
                                                REF("institution", true, "institution"),
                                                REF("partnership", false, "partnership"),
                                                LTEXT("description", false),
                                                END};
static const struct twin_field assignment_fields[] = {COMMON,
                                                      REF("person", true, "person"),
                                                      REF("post", true, "post"),
                                                      REF("partnership", false, "partnership"),
                                                      DATE("start", true),
                                                      DATE("end", false),
                                                      END};
static const struct twin_field document_ref_item[] = {REF("documents[]", false, "document")};
static const struct twin_field handover_fields[] = {COMMON,
                                                    REF("post", true, "post"),
                                                    REF("from_person", false, "person"),
                                                    REF("to_person", false, "person"),
                                                    DATE("date", true),
                                                    LTEXT("summary", true),
                                                    LIST("open_items", false, text_item),
                                                    LIST("documents", false, document_ref_item),
                                                    END};
static const struct twin_field people_link_fields[] = {COMMON,
                                                       REF("person_a", true, "person"),
                                                       REF("person_b", true, "person"),
                                                       REF("partnership", false, "partnership"),
                                                       ENUM("kind", true, link_kinds),
                                                       DATE("since", false),
                                                       TEXT("notes", false),
                                                       END};

/* results */
static const struct twin_field result_fields[] = {COMMON,
                                                  REF("partnership", true, "partnership"),
                                                  CODE("result_type", true, TWIN_CODES_RESULT_TYPE),
                                                  LSTRING("title", true),
                                                  LTEXT("description", false),
                                                  ENUM("outcome_area", false, outcome_areas),
                                                  BOOL("aggregation_status", false),
                                                  END};
static const struct twin_field baseline[] = {INT("year", false, 1900, 2200), DATE("date", false),
                                             NUMBER("value", false), TEXT("comment", false), END};
static const struct twin_field target[] = {NUMBER("value", true), TEXT("comment", false), END};
static const struct twin_field actual[] = {NUMBER("value", true), DATE("recorded", false),
                                           TEXT("comment", false), END};
static const struct twin_field actual_item[] = {OBJECT("actuals[]", false, actual)};
static const struct twin_field period[] = {DATE("start", true), DATE("end", true),
                                           OBJECT("target", false, target),
                                           LIST("actuals", false, actual_item), END};
static const struct twin_field period_item[] = {OBJECT("periods[]", false, period)};
static const struct twin_field indicator_fields[] = {
    COMMON,
    REF("result", true, "result"),
    LSTRING("title", true),
    CODE("measure", true, TWIN_CODES_INDICATOR_MEASURE),
    BOOL("ascending", false),
    LTEXT("description", false),
    OBJECT("baseline", false, baseline),
    LIST("periods", false, period_item),
    END};
static const struct twin_field scores[] = {
    INT("trust", false, 1, 5),      INT("transparency", false, 1, 5),
    INT("openness", false, 1, 5),   INT("understanding", false, 1, 5),
    INT("integrity", false, 1, 5),  INT("human_contact", false, 1, 5),
    INT("continuity", false, 1, 5), END};
static const struct twin_field health_check_fields[] = {COMMON,
                                                        REF("partnership", true, "partnership"),
                                                        DATE("date", true),
                                                        OBJECT("scores", true, scores),
                                                        REF("respondent", false, "institution"),
                                                        TEXT("comment", false),
                                                        END};

/* documents and notes */
/* The file a document carries in the shared history (twin attach; README "Attachments"): the
 * SHA-256 and size of its bytes, its base name and, optionally, its media type. */
static const struct twin_field document_file[] = {SHA256("sha256", true),
                                                  INT("size", true, 0, TWIN_ATTACHMENT_MAX_BYTES),
                                                  STRING("name", true), STRING("media_type", false),
                                                  /* a sealed document's (SEALED.md 10) */
                                                  STRING("key", false), SHA256("blob", false), END};
static const struct twin_field document_fields[] = {
    COMMON,
    LSTRING("title", true),
    ENUM("kind", true, document_kinds),
    CODE("category", false, TWIN_CODES_DOCUMENT_CATEGORY),
    SHA256("sha256", false),
    OBJECT("file", false, document_file),
    URL("url", false),
    REF("partnership", false, "partnership"),
    CODE("language", false, TWIN_CODES_LANGUAGE),
    DATE("date", false),
    END};
static const char *const action_statuses[] = {"open", "done", "dropped", NULL};
static const struct twin_field note_fields[] = {
    COMMON, ENUM("kind", true, note_kinds), LSTRING("title", true), LTEXT("body", false),
    REF("partnership", false, "partnership"), DATE("date", false),
    /* where it was decided (a steering meeting) */
    REF("activity", false, "activity"),
    /* an action's: who owns it, by when, how far */
    REF("owner_person", false, "person"), REF("owner_institution", false, "institution"),
    DATE("due", false), ENUM("status", false, action_statuses), END};

/* evaluations: what a review or an evaluation recommends, and the addressee's answer */
static const char *const response_decisions[] = {"accepted", "partially", "rejected", NULL};
static const struct twin_field response[] = {ENUM("decision", true, response_decisions),
                                             TEXT("comment", false), DATE("date", false), END};
static const struct twin_field action_ref_item[] = {REF("actions[]", false, "note")};
static const struct twin_field recommendation_fields[] = {
    COMMON, STRING("title", true), TEXT("text", true), REF("partnership", false, "partnership"),
    /* where it comes from: an evaluation document, a review activity, or both */
    REF("document", false, "document"), REF("activity", false, "activity"),
    REF("addressee", true, "institution"), DATE("date", false),
    /* the management response, the addressee's alone */
    OBJECT("response", false, response),
    /* the follow-up: notes of kind action */
    LIST("actions", false, action_ref_item), END};

/* resources: money and staff time, recorded and never overwritten (a correction is a new entry
 * naming the one it corrects) */
static const char *const contribution_kinds[] = {"cash", "in_kind", NULL};
static const char *const contribution_categories[] = {
    "staff_time", "expert_days", "equipment", "venue", "travel", "funding", "other", NULL};
static const char *const contribution_statuses[] = {"pledged", "delivered", "cancelled", NULL};
static const struct twin_field contribution_fields[] = {
    COMMON, REF("partnership", true, "partnership"), REF("institution", true, "institution"),
    ENUM("kind", true, contribution_kinds), ENUM("category", true, contribution_categories),
    NUMBER("quantity", false), STRING("unit", false), NUMBER("value", false),
    CODE("currency", false, TWIN_CODES_CURRENCY), DATE("date", true),
    ENUM("status", true, contribution_statuses), LTEXT("description", false),
    REF("corrects", false, "contribution"),
    /* the status the contributing institution has confirmed, set only by that institution */
    ENUM("confirmed", false, contribution_statuses), END};
static const char *const budget_types[] = {"original", "revised", NULL};
static const char *const budget_statuses[] = {"indicative", "committed", NULL};
static const struct twin_field budget_fields[] = {COMMON,
                                                  REF("partnership", true, "partnership"),
                                                  ENUM("budget_type", true, budget_types),
                                                  ENUM("status", false, budget_statuses),
                                                  DATE("period_start", true),
                                                  DATE("period_end", true),
                                                  NUMBER("value", true),
                                                  CODE("currency", true, TWIN_CODES_CURRENCY),
                                                  DATE("value_date", false),
                                                  LTEXT("description", false),
                                                  REF("corrects", false, "budget"),
                                                  END};
static const struct twin_field transaction_fields[] = {
    COMMON,
    REF("partnership", true, "partnership"),
    CODE("transaction_type", true, TWIN_CODES_TRANSACTION_TYPE),
    NUMBER("value", true),
    CODE("currency", true, TWIN_CODES_CURRENCY),
    DATE("date", true),
    DATE("value_date", false),
    REF("provider", false, "institution"),
    REF("receiver", false, "institution"),
    LTEXT("description", false),
    REF("corrects", false, "transaction"),
    END};

#define TYPE(n, f, t)                                                                              \
    {                                                                                              \
        .name = n, .fields = f, .title_field = t                                                   \
    }
static const struct twin_record_type types[] = {
    TYPE("institution", institution_fields, "name"),
    TYPE("partnership", partnership_fields, "title"),
    TYPE("activity", activity_fields, "title"),
    TYPE("person", person_fields, "name"),
    TYPE("post", post_fields, "title"),
    TYPE("assignment", assignment_fields, "start"),
    TYPE("handover", handover_fields, "summary"),
    TYPE("people_link", people_link_fields, "kind"),
    TYPE("result", result_fields, "title"),
    TYPE("indicator", indicator_fields, "title"),
    TYPE("health_check", health_check_fields, "date"),
    TYPE("document", document_fields, "title"),
    TYPE("note", note_fields, "title"),
    TYPE("contribution", contribution_fields, "category"),
    TYPE("budget", budget_fields, "period_start"),
    TYPE("transaction", transaction_fields, "date"),
    TYPE("recommendation", recommendation_fields, "title"),
};

static const struct twin_record_type *const type_list[] = {
    &types[0],  &types[1],  &types[2],  &types[3],  &types[4],  &types[5],
    &types[6],  &types[7],  &types[8],  &types[9],  &types[10], &types[11],
    &types[12], &types[13], &types[14], &types[15], &types[16], NULL};
_Static_assert(sizeof(type_list) / sizeof(type_list[0]) == sizeof(types) / sizeof(types[0]) + 1,
               "type_list names every type once, in order, and ends in NULL");

const struct twin_record_type *const *twin_schema_types(void)
{
    return type_list;
}

const struct twin_record_type *twin_schema_type(const char *name)
{
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(types[i].name, name) == 0)
            return &types[i];
    return NULL;
}

static const char *kind_name(enum twin_field_kind k)
{
    static const char *const names[] = {
        [TWIN_F_STRING] = "string", [TWIN_F_TEXT] = "text",     [TWIN_F_ENUM] = "enum",
        [TWIN_F_CODE] = "code",     [TWIN_F_DATE] = "date",     [TWIN_F_INT] = "int",
        [TWIN_F_NUMBER] = "number", [TWIN_F_BOOL] = "bool",     [TWIN_F_REF] = "ref",
        [TWIN_F_URL] = "url",       [TWIN_F_SHA256] = "sha256", [TWIN_F_ORG_ID] = "org_id",
        [TWIN_F_EMAIL] = "email",   [TWIN_F_OBJECT] = "object", [TWIN_F_LIST] = "list",
        [TWIN_F_ANY] = "any",       [TWIN_F_COMMIT] = "commit",
    };
    return (size_t)k < sizeof(names) / sizeof(names[0]) && names[k] ? names[k] : "any";
}

static json_t *describe_fields(const struct twin_field *fields, const char *prefix);

/* One field's description; path is where it is in a record ("periods[]" for a list's item,
 * which is named only when shown). */
static json_t *describe_field(const struct twin_field *f, const char *path, bool shown)
{
    json_t *d = json_object();
    if (shown) {
        const char *dot = strrchr(path, '.');
        json_object_set_new(d, "name", json_string(dot ? dot + 1 : path));
        json_object_set_new(d, "path", json_string(path));
    }
    json_object_set_new(d, "kind", json_string(kind_name(f->kind)));
    json_object_set_new(d, "required", json_boolean(f->required));
    if (f->lang)
        json_object_set_new(d, "languages", json_true());
    char inner[256];
    switch (f->kind) {
    case TWIN_F_ENUM: {
        json_t *values = json_array();
        for (const char *const *v = f->enum_values; v && *v; v++)
            json_array_append_new(values, json_string(*v));
        json_object_set_new(d, "values", values);
        break;
    }
    case TWIN_F_CODE:
        json_object_set_new(d, "codelist", json_string(twin_codes_list_name(f->codelist)));
        json_object_set_new(d, "codes",
                            json_integer((json_int_t)twin_codes_list_size(f->codelist)));
        break;
    case TWIN_F_REF:
        json_object_set_new(d, "ref", json_string(f->ref_type));
        break;
    case TWIN_F_INT:
    case TWIN_F_NUMBER:
        if (f->min != 0 || f->max != 0) {
            json_object_set_new(d, "min",
                                f->kind == TWIN_F_INT ? json_integer((json_int_t)f->min)
                                                      : json_real(f->min));
            json_object_set_new(d, "max",
                                f->kind == TWIN_F_INT ? json_integer((json_int_t)f->max)
                                                      : json_real(f->max));
        }
        break;
    case TWIN_F_OBJECT:
        json_object_set_new(d, "fields", describe_fields(f->fields, path));
        break;
    case TWIN_F_LIST:
        /* The item's fields are reached through the list: periods[].start. */
        snprintf(inner, sizeof(inner), "%s[]", path);
        if (f->item)
            json_object_set_new(d, "item", describe_field(f->item, inner, false));
        break;
    default:
        break;
    }
    return d;
}

static json_t *describe_fields(const struct twin_field *fields, const char *prefix)
{
    json_t *list = json_array();
    char path[256];
    for (const struct twin_field *f = fields; f && f->name; f++) {
        snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", f->name);
        json_array_append_new(list, describe_field(f, path, true));
    }
    return list;
}

json_t *twin_schema_describe(const char *type)
{
    const struct twin_record_type *t = type ? twin_schema_type(type) : NULL;
    if (!t)
        return NULL;
    return json_pack("{s:s, s:s, s:o}", "type", t->name, "title_field", t->title_field, "fields",
                     describe_fields(t->fields, ""));
}
