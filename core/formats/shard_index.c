/* shard_index.c — see shard_index.h. */
#include "shard_index.h"
#include "config.h"
#include "error.h"

#include <string.h>

struct StShardIndex {
    CfgJson *json;    /* owns the strings below */
    GPtrArray *names; /* tensor names, in the index's order */
    GPtrArray *shard; /* names->pdata[i]'s shard file name */
    GPtrArray *paths; /* distinct shard paths (owned), first-named order */
};

/* A shard name must be a plain file name beside the index: no way out of its folder. */
static gboolean shard_name_ok(const char *s)
{
    return s && *s && !strchr(s, '/') && !strchr(s, '\\') && strcmp(s, ".") && strcmp(s, "..");
}

static gboolean read_weight_map(StShardIndex *ix, GError **error)
{
    const char *path = cfg_path(ix->json);
    JsonObject *wm = cfg_obj_member(cfg_object(ix->json), "weight_map");
    if (!wm)
        return error_set(error, FLUX_ERROR_FORMAT, path,
                         "shard index has no \"weight_map\" object");
    g_autofree char *dir = g_path_get_dirname(path);
    g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
    GList *members = json_object_get_members(wm);
    gboolean ok = TRUE;
    for (GList *l = members; l && ok; l = l->next) {
        const char *shard = cfg_str_member(wm, l->data);
        if (!shard_name_ok(shard)) {
            ok = error_set(error, FLUX_ERROR_FORMAT, path, "tensor '%s': invalid shard file name",
                           (const char *)l->data);
            break;
        }
        g_ptr_array_add(ix->names, l->data);
        g_ptr_array_add(ix->shard, (gpointer)shard);
        if (g_hash_table_add(seen, (gpointer)shard))
            g_ptr_array_add(ix->paths, g_build_filename(dir, shard, NULL));
    }
    g_list_free(members);
    return ok;
}

StShardIndex *st_shard_index_load(const char *path, GError **error)
{
    CfgJson *json = cfg_load(path, error);
    if (!json) return NULL;
    StShardIndex *ix = g_new0(StShardIndex, 1);
    ix->json = json;
    ix->names = g_ptr_array_new();
    ix->shard = g_ptr_array_new();
    ix->paths = g_ptr_array_new_with_free_func(g_free);
    if (!read_weight_map(ix, error)) {
        st_shard_index_free(ix);
        return NULL;
    }
    return ix;
}

void st_shard_index_free(StShardIndex *ix)
{
    if (!ix) return;
    g_ptr_array_free(ix->names, TRUE);
    g_ptr_array_free(ix->shard, TRUE);
    g_ptr_array_free(ix->paths, TRUE);
    cfg_free(ix->json);
    g_free(ix);
}

guint st_shard_index_n_shards(const StShardIndex *ix)
{
    return ix->paths->len;
}

const char *st_shard_index_shard_path(const StShardIndex *ix, guint i)
{
    return g_ptr_array_index(ix->paths, i);
}

guint st_shard_index_n_tensors(const StShardIndex *ix)
{
    return ix->names->len;
}

const char *st_shard_index_tensor(const StShardIndex *ix, guint i, const char **shard)
{
    *shard = g_ptr_array_index(ix->shard, i);
    return g_ptr_array_index(ix->names, i);
}
