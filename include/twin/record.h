/*
 * Partnership records: the schema of every record type (mapped to IATI 2.03 where the domain
 * overlaps), validation that names the field and the rule, canonical JSON (the form stored in
 * git), UUIDv7 ids and the storage path records/<type>/<xx>/<id>.json.
 */
#ifndef TWIN_RECORD_H
#define TWIN_RECORD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define TWIN_RECORD_MAX_BYTES (1024 * 1024) /* canonical JSON of one record */
/* The largest record file: a sealed record's envelope (proto/SEALED.md 1), which holds a record
 * of at most TWIN_RECORD_MAX_BYTES, padded and in base64. */
#define TWIN_RECORD_FILE_MAX_BYTES (3 * 1024 * 1024)
#define TWIN_RECORD_MAX_DEPTH      8           /* objects and lists nested inside a record */
#define TWIN_FIELD_MAX_BYTES       (64 * 1024) /* one string value */
#define TWIN_LIST_MAX_ITEMS        10000
#define TWIN_ID_LEN                36 /* UUID text form */
#define TWIN_RECORD_MAX_LANGUAGES  32 /* languages one multilingual text may have */

/* Looks up a record that another record refers to. Returns 0 when it exists (and, if out is
 * non-NULL, hands over its parsed JSON), TWIN_ENOTFOUND when it does not. */
typedef int (*twin_record_lookup_fn)(json_t **out, const char *type, const char *id, void *ctx);

/* The record type names, NULL-terminated, in a fixed order. */
const char *const *twin_record_types(void);
bool twin_record_type_known(const char *type);

/* Mints a new UUIDv7 (time-ordered, 74 random bits). */
void twin_record_new_id(char out[static TWIN_ID_LEN + 1]);
bool twin_record_id_valid(const char *id);

/* "records/<type>/<xx>/<id>.json", where xx is the last two hex digits of the id (random bits). */
int twin_record_path(char *out, size_t out_size, const char *type, const char *id);

/* Parses "records/<type>/<xx>/<id>.json" back; TWIN_EINVALID when the path is not one. */
int twin_record_parse_path(char type[static 32], char id[static TWIN_ID_LEN + 1], const char *path);

/* An IATI organisation identifier as twin accepts it: 2-100 letters, digits, '-', '_', '.',
 * starting with a letter or digit (it also names member files). */
bool twin_record_org_id_valid(const char *s);

/* The first character in s (valid UTF-8) that can make text read otherwise than it is stored,
 * with *name saying what it is: the bidirectional embeddings, overrides and isolates
 * (U+202A-U+202E, U+2066-U+2069), and the invisible characters that can hide text (U+200B,
 * U+2060-U+2064, U+FEFF). Zero-width joiners and non-joiners and the left-to-right and
 * right-to-left marks stay allowed: scripts such as Persian and Hebrew need them. 0 if none. */
unsigned twin_record_hidden_char(const char *s, const char **name);

/* A record changed by anything but a merge keeps its conflict entries or drops some: every
 * entry of rec's `conflicts` must be one of old's (old NULL: a new record has none). Merges,
 * which every node re-derives, are the only commits that add them. TWIN_EINVALID names the
 * entry. */
int twin_record_check_conflicts_kept(const json_t *rec, const json_t *old);

/* Whether code is a language a multilingual text may be given in: an ISO 639-1 code, in small
 * letters, of IATI's Language codelist ("fr"). */
bool twin_record_lang_valid(const char *code);

/* Fills defaults a new record gets (note.kind = "note", ...). */
int twin_record_apply_defaults(json_t *rec);

/* Checks rec against its type's schema and cross-field rules (percentages sum to 100, dates in
 * order); when lookup is non-NULL also that every reference points at an existing record of the
 * right type. When old is non-NULL the change old -> rec must also be an allowed transition
 * (id and type fixed, withdrawal final, indicator actuals only appended). TWIN_EINVALID with
 * "<type>.<field.path>: <rule>" on the first fault. */
int twin_record_validate(const json_t *rec, const json_t *old, twin_record_lookup_fn lookup,
                         void *lookup_ctx);

/* Canonical JSON: sorted keys, two-space indentation, UTF-8, trailing newline. *out is malloc'd. */
int twin_record_canonical(char **out, size_t *out_len, const json_t *rec);

/* Parses a stored record and checks that the bytes are exactly its canonical form. */
int twin_record_parse_canonical(json_t **out, const char *data, size_t len);

/* Parses untrusted JSON text (from a file, an argument or $EDITOR) with the size and depth
 * bounds above. */
int twin_record_parse(json_t **out, const char *data, size_t len);

/* Field paths: names joined by '.', each optionally followed by [N] for item N (from 0) of a
 * list ("periods[0].target.value"), at most 200 bytes. A value is given as text: for a text field
 * (as the schema says) the text itself, else JSON when it parses as a JSON array, object, number,
 * true, false or null, else a string. Every refusal (TWIN_EINVALID, TWIN_ELIMIT) names the path and
 * leaves rec as it was: a path that is not one, a negative or non-numeric index, an index past
 * the end of a list or into one that is absent, an index or a name below a value (or schema
 * field) that is not a list or an object, id or type. */

/* Sets the value at path, creating the objects on the way. null removes the field, or the item
 * (those after it move up one). An item is replaced in place; it is never added by an index. */
int twin_record_set_path(json_t *rec, const char *path, const char *value_text);

/* Appends the value as a new item to the list at path, creating the list (and the objects on the
 * way) when absent; refused on a value or schema field that is not a list, and for null. */
int twin_record_append_path(json_t *rec, const char *path, const char *value_text);

/* "PATH=VALUE" or "PATH+=VALUE", split at the first '=': value points into the text. */
struct twin_record_assignment {
    char path[256];
    bool append; /* += */
    const char *value;
};
int twin_record_assignment_parse(struct twin_record_assignment *out, const char *text);

/* Parses and applies one assignment (set or append, as above). A text that may be given in
 * several languages (title, summary, description, body) takes one language by its code
 * (title.fr=...): a plain string there becomes a map keeping its text under plain_lang (NULL:
 * the record's own language, else "en"); and a whole map as JSON ({"en": ..., "fr": ...}). */
int twin_record_assign(json_t *rec, const char *text);
int twin_record_assign_in(json_t *rec, const char *text, const char *plain_lang);

/* The value at a dotted path, or NULL. */
json_t *twin_record_get_path(const json_t *rec, const char *path);

/* Whether the field at path holds want: a text field as it is, anything else as compact JSON
 * (what `--where FIELD=VALUE` means). */
bool twin_record_field_is(const json_t *rec, const char *path, const char *want);

/* Adds the leaves of rec to flat, each at its dotted path ({"dates.planned_start": "2026-01-01"}):
 * every value that is not an object, lists whole, and empty objects below the top. */
int twin_record_flatten(json_t *flat, const json_t *rec);

/* As twin_record_flatten, but a text in several languages is one leaf, its map whole ({"title":
 * {"en": ..., "fr": ...}}): a CSV export's columns. */
int twin_record_flatten_texts(json_t *flat, const json_t *rec);

/* The dotted paths of the leaves (as twin_record_flatten has them) whose values differ between
 * records a and b, present in one and not the other included: a new array of strings, sorted;
 * NULL when out of memory. */
json_t *twin_record_diff(const json_t *a, const json_t *b);

/* The text of a field that may be given in several languages (the schema's "languages"): a plain
 * string as it is; of a map of ISO 639-1 codes to text, the text in lang when the map has it,
 * else in fallback (the partnership's language), else in "en", else in the first language in
 * code order. lang and fallback may be NULL. *chosen (when chosen is non-NULL) gets the language
 * of the text given, NULL for a plain string. NULL when value holds no text; borrowed from value.
 */
const char *twin_record_text(const json_t *value, const char *lang, const char *fallback,
                             const char **chosen);

/* The language rec's own texts fall back to when it says one itself: a partnership's
 * `language`; NULL for other records (their partnership's is looked up: twin_names_lang). */
const char *twin_record_own_lang(const json_t *rec);

/* A one-line human title for the record ("Kick-off"), borrowed from rec; "" when none. A title in
 * several languages gives the text in lang, else fallback (NULL: rec's own language), as
 * twin_record_text chooses. twin_record_title chooses with no lang and no fallback. */
const char *twin_record_title(const json_t *rec);
const char *twin_record_title_in(const json_t *rec, const char *lang, const char *fallback);

/* Called by twin_record_localise for each text in several languages it replaced: the field's
 * path and the language of the text it kept. */
typedef void (*twin_record_shown_fn)(const char *path, const char *lang, void *ctx);

/* A copy of rec with every text in several languages replaced by the one twin_record_text
 * chooses for lang and fallback (NULL: rec's own language); NULL when out of memory. */
json_t *twin_record_localise(const json_t *rec, const char *lang, const char *fallback,
                             twin_record_shown_fn shown, void *ctx);

/* The words of rec that people search by: the text of every field of one line or free text
 * (within objects and lists too) other than its title, one piece a line, in the order of its
 * type's fields, each language's of a text in several; of a title in several languages, those
 * that twin_record_title does not give; "" for a record of no known type. malloc'd; NULL when
 * out of memory. */
char *twin_record_words(const json_t *rec);

#endif
