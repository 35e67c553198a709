/* config.c — see config.h. */
#include "config.h"
#include "flux.h"

#include <json-glib/json-glib.h>
#include <math.h>

struct CfgJson {
    char *path;
    JsonParser *parser;
    JsonObject *root;
};

static gboolean bad(const CfgJson *c, GError **error, const char *key, const char *what)
{
    g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL, "%s: \"%s\" %s", c->path, key, what);
    return FALSE;
}

/* The parsed document must be an object; frees `c` and fails otherwise. */
static CfgJson *cfg_take_root(CfgJson *c, GError **error)
{
    JsonNode *root = json_parser_get_root(c->parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_FORMAT, "%s: not a JSON object", c->path);
        cfg_free(c);
        return NULL;
    }
    c->root = json_node_get_object(root);
    return c;
}

CfgJson *cfg_load(const char *path, GError **error)
{
    CfgJson *c = g_new0(CfgJson, 1);
    c->path = g_strdup(path);
    c->parser = json_parser_new();
    GError *jerr = NULL;
    if (!json_parser_load_from_mapped_file(c->parser, path, &jerr)) {
        gboolean io = jerr->domain == G_FILE_ERROR;
        g_set_error(error, FLUX_ERROR, io ? FLUX_ERROR_IO : FLUX_ERROR_FORMAT, "%s: %s%s", path,
                    io ? "cannot read: " : "not valid JSON: ", jerr->message);
        g_error_free(jerr);
        cfg_free(c);
        return NULL;
    }
    return cfg_take_root(c, error);
}

CfgJson *cfg_load_data(const char *name, const char *json, gssize len, GError **error)
{
    CfgJson *c = g_new0(CfgJson, 1);
    c->path = g_strdup(name);
    c->parser = json_parser_new();
    GError *jerr = NULL;
    if (!json_parser_load_from_data(c->parser, json, len, &jerr)) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_FORMAT, "%s: not valid JSON: %s", name,
                    jerr->message);
        g_error_free(jerr);
        cfg_free(c);
        return NULL;
    }
    return cfg_take_root(c, error);
}

gboolean cfg_load_optional(const char *path, CfgJson **out, GError **error)
{
    *out = NULL;
    if (!g_file_test(path, G_FILE_TEST_EXISTS)) return TRUE;
    *out = cfg_load(path, error);
    return *out != NULL;
}

void cfg_free(CfgJson *c)
{
    if (!c) return;
    if (c->parser) g_object_unref(c->parser);
    g_free(c->path);
    g_free(c);
}

JsonObject *cfg_object(const CfgJson *c)
{
    return c->root;
}

const char *cfg_path(const CfgJson *c)
{
    return c->path;
}

static JsonNode *member(const CfgJson *c, const char *key)
{
    JsonNode *n = json_object_get_member(c->root, key);
    return (n && !JSON_NODE_HOLDS_NULL(n)) ? n : NULL;
}

gboolean cfg_has(const CfgJson *c, const char *key)
{
    return member(c, key) != NULL;
}

gboolean cfg_node_integral(JsonNode *n, int64_t *out)
{
    if (!JSON_NODE_HOLDS_VALUE(n)) return FALSE;
    GType t = json_node_get_value_type(n);
    if (t == G_TYPE_INT64) {
        *out = json_node_get_int(n);
        return TRUE;
    }
    if (t == G_TYPE_DOUBLE) { /* 3.0 written for an integer field */
        double d = json_node_get_double(n);
        if (d != floor(d) || fabs(d) > 9.0e15) return FALSE;
        *out = (int64_t)d;
        return TRUE;
    }
    return FALSE;
}

static gboolean check_int(const CfgJson *c, const char *key, JsonNode *n, int64_t min, int64_t max,
                          int64_t *out, GError **error)
{
    int64_t v;
    if (!cfg_node_integral(n, &v)) return bad(c, error, key, "is not an integer");
    if (v < min || v > max) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL,
                    "%s: \"%s\" is %" G_GINT64_FORMAT ", expected %" G_GINT64_FORMAT
                    "..%" G_GINT64_FORMAT,
                    c->path, key, v, min, max);
        return FALSE;
    }
    *out = v;
    return TRUE;
}

gboolean cfg_int(const CfgJson *c, const char *key, int64_t min, int64_t max, int64_t *out,
                 GError **error)
{
    JsonNode *n = member(c, key);
    if (!n) return bad(c, error, key, "is missing");
    return check_int(c, key, n, min, max, out, error);
}

gboolean cfg_int_or(const CfgJson *c, const char *key, int64_t def, int64_t min, int64_t max,
                    int64_t *out, GError **error)
{
    JsonNode *n = member(c, key);
    if (!n) {
        *out = def;
        return TRUE;
    }
    return check_int(c, key, n, min, max, out, error);
}

static gboolean check_double(const CfgJson *c, const char *key, JsonNode *n, double min, double max,
                             double *out, GError **error)
{
    if (!JSON_NODE_HOLDS_VALUE(n)) return bad(c, error, key, "is not a number");
    GType t = json_node_get_value_type(n);
    double v;
    if (t == G_TYPE_DOUBLE)
        v = json_node_get_double(n);
    else if (t == G_TYPE_INT64)
        v = (double)json_node_get_int(n);
    else
        return bad(c, error, key, "is not a number");
    if (!(v >= min && v <= max)) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL, "%s: \"%s\" is %g, expected %g..%g",
                    c->path, key, v, min, max);
        return FALSE;
    }
    *out = v;
    return TRUE;
}

gboolean cfg_double(const CfgJson *c, const char *key, double min, double max, double *out,
                    GError **error)
{
    JsonNode *n = member(c, key);
    if (!n) return bad(c, error, key, "is missing");
    return check_double(c, key, n, min, max, out, error);
}

gboolean cfg_double_or(const CfgJson *c, const char *key, double def, double min, double max,
                       double *out, GError **error)
{
    JsonNode *n = member(c, key);
    if (!n) {
        *out = def;
        return TRUE;
    }
    return check_double(c, key, n, min, max, out, error);
}

gboolean cfg_bool_or(const CfgJson *c, const char *key, gboolean def, gboolean *out, GError **error)
{
    JsonNode *n = member(c, key);
    if (!n) {
        *out = def;
        return TRUE;
    }
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_BOOLEAN)
        return bad(c, error, key, "is not true or false");
    *out = json_node_get_boolean(n);
    return TRUE;
}

gboolean cfg_string_or(const CfgJson *c, const char *key, const char *def, const char **out,
                       GError **error)
{
    JsonNode *n = member(c, key);
    if (!n) {
        *out = def;
        return TRUE;
    }
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
        return bad(c, error, key, "is not a string");
    *out = json_node_get_string(n);
    return TRUE;
}

gboolean cfg_int_array(const CfgJson *c, const char *key, int64_t min, int64_t max, int64_t *out,
                       gsize max_n, gsize *n, GError **error)
{
    JsonNode *node = member(c, key);
    *n = 0;
    if (!node) return TRUE;
    if (!JSON_NODE_HOLDS_ARRAY(node)) return bad(c, error, key, "is not an array");
    JsonArray *a = json_node_get_array(node);
    guint len = json_array_get_length(a);
    if (len == 0 || len > max_n) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL,
                    "%s: \"%s\" has %u elements, expected 1..%zu", c->path, key, len,
                    (size_t)max_n);
        return FALSE;
    }
    for (guint i = 0; i < len; i++)
        if (!check_int(c, key, json_array_get_element(a, i), min, max, &out[i], error))
            return FALSE;
    *n = len;
    return TRUE;
}

gboolean cfg_string_array(const CfgJson *c, const char *key, const char **out, gsize max_n,
                          gsize *n, GError **error)
{
    JsonNode *node = member(c, key);
    *n = 0;
    if (!node) return TRUE;
    JsonArray *a = JSON_NODE_HOLDS_ARRAY(node) ? json_node_get_array(node) : NULL;
    if (!a) return bad(c, error, key, "is not an array");
    guint len = json_array_get_length(a);
    if (len == 0 || len > max_n) {
        g_set_error(error, FLUX_ERROR, FLUX_ERROR_MODEL,
                    "%s: \"%s\" has %u elements, expected 1..%zu", c->path, key, len,
                    (size_t)max_n);
        return FALSE;
    }
    for (guint i = 0; i < len; i++) {
        JsonNode *e = json_array_get_element(a, i);
        if (!JSON_NODE_HOLDS_VALUE(e) || json_node_get_value_type(e) != G_TYPE_STRING)
            return bad(c, error, key, "is not an array of strings");
        out[i] = json_node_get_string(e);
    }
    *n = len;
    return TRUE;
}

gboolean cfg_pair(const CfgJson *c, const char *key, const char **lib, const char **cls,
                  GError **error)
{
    JsonNode *n = member(c, key);
    if (!n) return bad(c, error, key, "is missing");
    JsonArray *a = JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
    if (!a || json_array_get_length(a) != 2) return bad(c, error, key, "is not a pair");
    JsonNode *x = json_array_get_element(a, 0), *y = json_array_get_element(a, 1);
    if (!JSON_NODE_HOLDS_VALUE(x) || json_node_get_value_type(x) != G_TYPE_STRING ||
        !JSON_NODE_HOLDS_VALUE(y) || json_node_get_value_type(y) != G_TYPE_STRING)
        return bad(c, error, key, "is not a pair of strings");
    *lib = json_node_get_string(x);
    *cls = json_node_get_string(y);
    return TRUE;
}

/* ------------------------------------------------------------------------------------- */
/* Walking deeper documents                                                              */

JsonObject *cfg_obj_member(JsonObject *o, const char *key)
{
    JsonNode *n = o ? json_object_get_member(o, key) : NULL;
    return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

JsonArray *cfg_arr_member(JsonObject *o, const char *key)
{
    JsonNode *n = o ? json_object_get_member(o, key) : NULL;
    return n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

JsonObject *cfg_arr_obj(JsonArray *a, guint i)
{
    JsonNode *n = a && i < json_array_get_length(a) ? json_array_get_element(a, i) : NULL;
    return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

const char *cfg_node_str(JsonNode *n)
{
    return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING
               ? json_node_get_string(n)
               : NULL;
}

const char *cfg_str_member(JsonObject *o, const char *key)
{
    return cfg_node_str(o ? json_object_get_member(o, key) : NULL);
}

gboolean cfg_node_int(JsonNode *n, int64_t *out)
{
    if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64)
        return FALSE;
    *out = json_node_get_int(n);
    return TRUE;
}

gboolean cfg_int_member(JsonObject *o, const char *key, int64_t *out)
{
    return cfg_node_int(o ? json_object_get_member(o, key) : NULL, out);
}

gboolean cfg_node_number(JsonNode *n, double *out)
{
    if (!n || !JSON_NODE_HOLDS_VALUE(n)) return FALSE;
    GType ty = json_node_get_value_type(n);
    if (ty != G_TYPE_INT64 && ty != G_TYPE_DOUBLE) return FALSE;
    *out = json_node_get_double(n);
    return TRUE;
}

gboolean cfg_bool_member(JsonObject *o, const char *key, gboolean def)
{
    JsonNode *n = o ? json_object_get_member(o, key) : NULL;
    if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_BOOLEAN)
        return def;
    return json_node_get_boolean(n);
}
