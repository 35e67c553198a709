/* config.h — the one way JSON files are read (json-glib): diffusers/transformers config.json
 * files, and the files with more structure: tokenizer.json, vocab.json, tokenizer_config.json,
 * special_tokens_map.json, model_index.json, the shard index (*.safetensors.index.json) and
 * the JSON header inside a .safetensors file.
 *
 * Every key → value getter validates type and range and fails with a GError naming the file
 * and key, so a hostile or foreign config can never produce a silly dimension. Deeper
 * documents are walked with the NULL-safe lookups at the end, whose callers name the file
 * (cfg_path) and the member in their own message. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdint.h>

typedef struct CfgJson CfgJson;

/* Parses `path` (must hold a JSON object). Caller owns: cfg_free (NULL-safe). */
CfgJson *cfg_load(const char *path, GError **error);
/* Parses a JSON object held in memory (`len` bytes, or -1 when NUL-terminated), e.g. a
 * built-in default config or a safetensors header; `name` stands for the path in every
 * message. */
CfgJson *cfg_load_data(const char *name, const char *json, gssize len, GError **error);
/* An optional file: TRUE with *out = NULL when `path` does not exist; otherwise as cfg_load
 * (FALSE with `error` set when it exists but cannot be read or is not a JSON object). */
gboolean cfg_load_optional(const char *path, CfgJson **out, GError **error);
void cfg_free(CfgJson *c);
const char *cfg_path(const CfgJson *c); /* the path, or the name given to cfg_load_data */
gboolean cfg_has(const CfgJson *c, const char *key); /* present and not null */
/* The whole object, for files with more structure than key → value (tokenizer.json, the
 * shard index): one loading path and one set of messages for every JSON file. Owned by c. */
JsonObject *cfg_object(const CfgJson *c);

/* Required integer in [min, max]. */
gboolean cfg_int(const CfgJson *c, const char *key, int64_t min, int64_t max, int64_t *out,
                 GError **error);
/* Optional integer: `def` when absent or null. */
gboolean cfg_int_or(const CfgJson *c, const char *key, int64_t def, int64_t min, int64_t max,
                    int64_t *out, GError **error);
gboolean cfg_double(const CfgJson *c, const char *key, double min, double max, double *out,
                    GError **error);
gboolean cfg_double_or(const CfgJson *c, const char *key, double def, double min, double max,
                       double *out, GError **error);
gboolean cfg_bool_or(const CfgJson *c, const char *key, gboolean def, gboolean *out,
                     GError **error);
/* Optional string; *out = def when absent or null. Result owned by the config (or def). */
gboolean cfg_string_or(const CfgJson *c, const char *key, const char *def, const char **out,
                       GError **error);
/* Integer array of 1..max_n elements, each in [min, max]; absent/null → *n = 0. */
gboolean cfg_int_array(const CfgJson *c, const char *key, int64_t min, int64_t max, int64_t *out,
                       gsize max_n, gsize *n, GError **error);
/* String array of 1..max_n elements (owned by c); absent/null → *n = 0. */
gboolean cfg_string_array(const CfgJson *c, const char *key, const char **out, gsize max_n,
                          gsize *n, GError **error);
/* For model_index.json: the two strings of `"key": ["library", "ClassName"]` (owned by c). */
gboolean cfg_pair(const CfgJson *c, const char *key, const char **lib, const char **cls,
                  GError **error);

/* ------------------------------------------------------------------------------------- */
/* Walking deeper documents: each lookup is NULL-safe (a NULL object or array gives NULL /  */
/* FALSE) and gives NULL / FALSE when the member is absent, null or of another type.      */

JsonObject *cfg_obj_member(JsonObject *o, const char *key);
JsonArray *cfg_arr_member(JsonObject *o, const char *key);
/* Element i of `a` when it is an object. */
JsonObject *cfg_arr_obj(JsonArray *a, guint i);
const char *cfg_str_member(JsonObject *o, const char *key);
/* An integer member: a JSON integer (a number written 3.0 is not one here). */
gboolean cfg_int_member(JsonObject *o, const char *key, int64_t *out);
/* A true/false member; `def` when absent, null or not a boolean. */
gboolean cfg_bool_member(JsonObject *o, const char *key, gboolean def);
/* The node's string, or NULL when it is not a string. */
const char *cfg_node_str(JsonNode *n);
/* A JSON integer node (not 3.0). */
gboolean cfg_node_int(JsonNode *n, int64_t *out);
/* An integer as the config getters read one: a JSON integer, or a number written with a zero
 * fraction (3.0, as some writers emit) up to 9e15. */
gboolean cfg_node_integral(JsonNode *n, int64_t *out);
/* A JSON number node, integer or not. */
gboolean cfg_node_number(JsonNode *n, double *out);
