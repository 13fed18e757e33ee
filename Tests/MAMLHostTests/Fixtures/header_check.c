/*
 * header_check.c - compiled by HeaderTests as C99 and as C++11 with
 * -Wall -Wextra -Werror -pedantic: maml_plugin.h must be clean in both, and
 * every type, macro and function-pointer type in it must be usable.
 */
#include "maml_plugin.h"

static maml_status fn_create(const char *c, maml_model **o, char *e, size_t n) { (void)c; (void)o; (void)e; (void)n; return MAML_OK; }
static void fn_destroy(maml_model *m) { (void)m; }
static uint64_t fn_param_count(const maml_model *m) { (void)m; return 1; }
static maml_shape fn_shape(const maml_model *m) { maml_shape s = {1, {1, 0, 0, 0}}; (void)m; return s; }
static int32_t fn_loss_kind(const maml_model *m) { (void)m; return MAML_LOSS_MSE + MAML_LOSS_SOFTMAX_CE - MAML_LOSS_SOFTMAX_CE; }
static maml_status fn_init(maml_model *m, uint64_t s, float *p) { (void)m; (void)s; (void)p; return MAML_ERR_INVALID_ARGUMENT; }
static maml_status fn_forward(maml_model *m, const float *p, const maml_batch *b, float *o) { (void)m; (void)p; (void)b; (void)o; return MAML_ERR_SHAPE_MISMATCH; }
static maml_status fn_loss_grad(maml_model *m, const float *p, const maml_batch *b, float *l, float *g) { (void)m; (void)p; (void)b; (void)l; (void)g; return MAML_ERR_OUT_OF_MEMORY; }
static const char *fn_last_error(const maml_model *m) { (void)m; return ""; }
static const void *fn_get_extension(const maml_model *m, const char *id) { (void)m; (void)id; return 0; }
static maml_status fn_hvp(maml_model *m, const float *p, const maml_batch *b, const float *v, float *o) { (void)m; (void)p; (void)b; (void)v; (void)o; return MAML_ERR_NUMERICAL; }
static maml_status fn_vjp(maml_model *m, const float *p, const maml_batch *b, const float *u, float *g) { (void)m; (void)p; (void)b; (void)u; (void)g; return MAML_ERR_UNSUPPORTED; }
static uint32_t fn_count(const maml_model *m) { (void)m; return 0; }
static const maml_tensor_info *fn_tensor_at(const maml_model *m, uint32_t i) { (void)m; (void)i; return 0; }
static const maml_op *fn_op_at(const maml_model *m, uint32_t i) { (void)m; (void)i; return 0; }
static void fn_log(void *ctx, int32_t level, const char *msg) { (void)ctx; (void)level; (void)msg; }
static const maml_model_desc *fn_model_at(uint32_t i) { (void)i; return 0; }
static void fn_op(void) {}

MAML_EXPORT int header_check(void);
MAML_EXPORT int header_check(void) {
    maml_abi_version version = {MAML_ABI_MAJOR, MAML_ABI_MINOR};
    maml_shape shape = {MAML_MAX_RANK, {1, 2, 3, 4}};
    float x = 0, y = 0;
    int32_t label = 0;
    maml_batch batch = {sizeof(maml_batch), 1, &x, &y, &label};
    maml_host_api host = {sizeof(maml_host_api), {MAML_ABI_MAJOR, MAML_ABI_MINOR}, fn_log, 0};
    maml_model *model = 0;
    maml_model_desc desc = {sizeof(maml_model_desc), "org.test.h", "h", "1.0.0", "mlp", "s", "{}",
                            fn_create, fn_destroy, fn_param_count, fn_shape, fn_shape, fn_loss_kind,
                            fn_init, fn_forward, fn_loss_grad, fn_last_error, fn_get_extension};
    maml_registry registry = {sizeof(maml_registry), {MAML_ABI_MAJOR, MAML_ABI_MINOR}, 0, "org.test.p", "1.0.0",
                              "c", 1, fn_model_at};
    maml_ext_hvp hvp = {sizeof(maml_ext_hvp), fn_hvp};
    maml_ext_vjp vjp = {sizeof(maml_ext_vjp), fn_vjp};
    maml_tensor_info tensor = {sizeof(maml_tensor_info), "w", 0, {1, {1, 0, 0, 0}}, "head"};
    maml_ext_layout layout = {sizeof(maml_ext_layout), fn_count, fn_tensor_at};
    maml_op op = {sizeof(maml_op), "flops", "help", "u64(u64)", fn_op};
    maml_ext_ops ops = {sizeof(maml_ext_ops), fn_count, fn_op_at};
    maml_entry_fn entry = 0;
    maml_status status = MAML_OK + MAML_ERR_UNSUPPORTED - MAML_ERR_INTERNAL + MAML_ERR_INTERNAL - MAML_ERR_UNSUPPORTED;
    const char *names[] = {MAML_ENTRY_SYMBOL, MAML_EXT_HVP, MAML_EXT_LAYOUT, MAML_EXT_OPS, MAML_EXT_VJP};
    int levels = MAML_LOG_DEBUG + MAML_LOG_INFO + MAML_LOG_WARN + MAML_LOG_ERROR;
    host.log(host.log_ctx, MAML_LOG_INFO, names[0]);
    status += desc.loss_grad(model, &x, &batch, &y, 0) + hvp.hvp(model, &x, &batch, &x, &y)
              + vjp.vjp(model, &x, &batch, &x, &y);
    return (int)(status + levels + (int)version.major + (int)shape.rank + (registry.model_at(0) != 0) +
                 (int)tensor.offset + (int)layout.tensor_count(model) + (int)ops.op_count(model) +
                 (op.fn != 0) + (entry != 0));
}
