// softmax.cpp - a maml-zoo plugin in C++17: multinomial logistic regression
// (one linear layer and a softmax) for N-way classification, with the exact
// gradient and Hessian-vector product, the layout and the flops op.
//
// What C++ changes against the C tutorial (docs/authoring.md, section 9):
// - the entry point and every function the host calls have C linkage (the
//   header declares its types inside extern "C"; the functions here are
//   static, reached only through the descriptor, so only the entry is
//   exported, with MAML_EXPORT);
// - no exception crosses the boundary: every call that can throw (allocation,
//   the config parser) runs inside guarded(), which turns an exception into a
//   status and a message;
// - the descriptor and registry are built by a lambda once, in declaration
//   order (C++17 has no designated initialisers).
//
// Its config keys "input" and "classes" are marked "task" in the schema, so
// `maml-host train --model softmax-cpp --task glyphs --ways 5` needs no
// --config: the host sets them from the task (docs/abi.md, section 6).
#include "maml_plugin.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <vector>

// MARK: - The model

struct maml_model {
    std::vector<uint32_t> input;   // the shape of one example; d = its element count
    uint32_t d = 0, k = 0;         // features, classes
    uint64_t p = 0;                // k * d weights, then k biases
    std::vector<double> z, pr, rz, acc;  // logits, probabilities, R{logits}, a gradient accumulator
    std::string error;
    maml_tensor_info tensors[2];
};

namespace {

maml_status fail(maml_model *m, maml_status status, const char *format, ...) {
    char text[256];
    va_list args;
    va_start(args, format);
    std::vsnprintf(text, sizeof text, format, args);
    va_end(args);
    m->error = text;
    return status;
}

// Runs body; an exception becomes a status and a message on the instance.
template <class Body> maml_status guarded(maml_model *m, Body body) {
    try { return body(); }
    catch (const std::bad_alloc &) { return fail(m, MAML_ERR_OUT_OF_MEMORY, "out of memory"); }
    catch (const std::exception &e) { return fail(m, MAML_ERR_INTERNAL, "internal error: %s", e.what()); }
    catch (...) { return fail(m, MAML_ERR_INTERNAL, "internal error: unknown exception"); }
}

// MARK: - Config: {"input": [dims...], "classes": k}, both optional

struct ConfigError { std::string message; };

struct Parser {
    const char *s;
    void space() { while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++; }
    [[noreturn]] void fail(const std::string &what) { throw ConfigError{what + " at: " + std::string(s).substr(0, 30)}; }
    uint32_t integer(const std::string &key, long lo, long hi) {
        space();
        char *end = nullptr;
        long value = std::strtol(s, &end, 10);
        if (end == s || *end == '.' || *end == 'e' || *end == 'E') fail("config key \"" + key + "\": expected an integer");
        if (value < lo || value > hi) {
            throw ConfigError{"config key \"" + key + "\": " + std::to_string(value) + " is out of range [" +
                              std::to_string(lo) + ", " + std::to_string(hi) + "]"};
        }
        s = end;
        return uint32_t(value);
    }
};

void parse_config(const char *json, maml_model &m) {
    Parser in{json ? json : ""};
    in.space();
    if (*in.s == 0) return;                                   // NULL or "": the defaults
    if (*in.s != '{') throw ConfigError{"config must be a JSON object"};
    in.s++;
    in.space();
    if (*in.s == '}') { in.s++; in.space(); if (*in.s) in.fail("text after the config object"); return; }
    for (;;) {
        in.space();
        if (*in.s != '"') in.fail("config: expected a quoted key");
        const char *start = ++in.s;
        while (*in.s && *in.s != '"') in.s++;
        if (*in.s != '"') in.fail("config: unterminated key");
        std::string key(start, in.s++);
        in.space();
        if (*in.s++ != ':') in.fail("config key \"" + key + "\": expected ':'");
        in.space();
        if (key == "classes") {
            m.k = in.integer(key, 2, 65536);
        } else if (key == "input") {
            if (*in.s++ != '[') in.fail("config key \"input\": expected an array of 1 to 4 integers");
            m.input.clear();
            for (;;) {
                if (m.input.size() == MAML_MAX_RANK) in.fail("config key \"input\": more than 4 dimensions");
                m.input.push_back(in.integer("input", 1, 65536));
                in.space();
                if (*in.s == ',') { in.s++; continue; }
                if (*in.s++ == ']') break;
                in.fail("config key \"input\": expected ',' or ']'");
            }
        } else {
            throw ConfigError{"unknown config key \"" + key + "\" (known: classes, input)"};
        }
        in.space();
        if (*in.s == ',') { in.s++; continue; }
        if (*in.s == '}') { in.s++; in.space(); if (*in.s) in.fail("text after the config object"); return; }
        in.fail("config: expected ',' or '}'");
    }
}

// MARK: - Create, destroy, queries

void destroy(maml_model *m) { delete m; }

maml_status create(const char *config, maml_model **out, char *err, size_t err_len) {
    auto refuse = [&](maml_status status, const std::string &message) {
        if (err && err_len) std::snprintf(err, err_len, "%s", message.c_str());
        return status;
    };
    if (!out) return refuse(MAML_ERR_INVALID_ARGUMENT, "create: out is NULL");
    *out = nullptr;
    maml_model *m = nullptr;
    try {
        m = new maml_model;
        m->input = {1, 28, 28};
        m->k = 5;
        parse_config(config, *m);
        uint64_t d = 1;
        for (uint32_t n : m->input) d *= n;
        if (d > (1u << 24)) throw ConfigError{"config key \"input\": more than 2^24 features"};
        m->d = uint32_t(d);
        m->p = uint64_t(m->k) * m->d + m->k;
        m->z.resize(m->k); m->pr.resize(m->k); m->rz.resize(m->k); m->acc.resize(m->p);
    } catch (const ConfigError &e) {
        delete m;
        return refuse(MAML_ERR_INVALID_ARGUMENT, e.message);
    } catch (const std::bad_alloc &) {
        delete m;
        return refuse(MAML_ERR_OUT_OF_MEMORY, "out of memory");
    }
    maml_shape w{2, {m->k, m->d, 0, 0}}, b{1, {m->k, 0, 0, 0}};
    // No nonlinearity follows the one layer: all of it is the head.
    m->tensors[0] = {sizeof(maml_tensor_info), "linear.weight", 0, w, "head"};
    m->tensors[1] = {sizeof(maml_tensor_info), "linear.bias", uint64_t(m->k) * m->d, b, "head"};
    *out = m;
    return MAML_OK;
}

uint64_t param_count(const maml_model *m) { return m->p; }
maml_shape input_shape(const maml_model *m) {
    maml_shape s{uint32_t(m->input.size()), {0, 0, 0, 0}};
    for (size_t i = 0; i < m->input.size(); i++) s.dims[i] = m->input[i];
    return s;
}
maml_shape output_shape(const maml_model *m) { return maml_shape{1, {m->k, 0, 0, 0}}; }
int32_t loss_kind(const maml_model *) { return MAML_LOSS_SOFTMAX_CE; }
const char *last_error(const maml_model *m) { return m->error.c_str(); }

// splitmix64: init must be a pure function of the seed.
uint64_t splitmix64(uint64_t &state) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

maml_status init_params(maml_model *m, uint64_t seed, float *params) {
    if (!params) return fail(m, MAML_ERR_INVALID_ARGUMENT, "init_params: params is NULL");
    uint64_t state = seed;
    double limit = 1 / std::sqrt(double(m->d));                // weights and biases uniform in +-1/sqrt(d)
    for (uint64_t i = 0; i < m->p; i++) params[i] = float((2 * double(splitmix64(state) >> 11) * 0x1p-53 - 1) * limit);
    return MAML_OK;
}

// MARK: - The network: z = W x + b, p = softmax(z), loss = -log p[label]

maml_status check_batch(maml_model *m, const char *call, const float *params, const maml_batch *b) {
    if (!params) return fail(m, MAML_ERR_INVALID_ARGUMENT, "%s: params is NULL", call);
    if (!b) return fail(m, MAML_ERR_INVALID_ARGUMENT, "%s: batch is NULL", call);
    if (b->n == 0) return fail(m, MAML_ERR_INVALID_ARGUMENT, "%s: batch has n = 0 examples", call);
    if (!b->x) return fail(m, MAML_ERR_INVALID_ARGUMENT, "%s: batch x is NULL", call);
    return MAML_OK;
}

maml_status check_labels(maml_model *m, const char *call, const maml_batch *b) {
    if (!b->y_class) return fail(m, MAML_ERR_INVALID_ARGUMENT, "%s: batch y_class is NULL (softmax-ce loss)", call);
    for (uint64_t e = 0; e < b->n; e++) {
        if (b->y_class[e] < 0 || uint32_t(b->y_class[e]) >= m->k) {
            return fail(m, MAML_ERR_INVALID_ARGUMENT, "%s: label %d of example %llu is not in [0, %u)", call,
                        int(b->y_class[e]), (unsigned long long)e, m->k);
        }
    }
    return MAML_OK;
}

// Logits of one example into m->z (double), or R{logits} along v into m->rz.
void logits(const maml_model *m, const float *p, const float *x, std::vector<double> &into) {
    const float *w = p, *bias = p + uint64_t(m->k) * m->d;
    for (uint32_t c = 0; c < m->k; c++) {
        double s = bias[c];
        for (uint32_t i = 0; i < m->d; i++) s += double(w[uint64_t(c) * m->d + i]) * x[i];
        into[c] = s;
    }
}

// Softmax of m->z into m->pr; returns log(sum exp z) (stable: the max is taken out).
double softmax(maml_model *m) {
    double top = m->z[0];
    for (double v : m->z) top = std::max(top, v);
    double sum = 0;
    for (uint32_t c = 0; c < m->k; c++) sum += (m->pr[c] = std::exp(m->z[c] - top));
    for (double &v : m->pr) v /= sum;
    return top + std::log(sum);
}

// Adds the outer product dz x^T (and dz to the biases) into m->acc.
void accumulate(maml_model *m, const float *x, const std::vector<double> &dz) {
    double *gb = m->acc.data() + uint64_t(m->k) * m->d;
    for (uint32_t c = 0; c < m->k; c++) {
        double *gw = m->acc.data() + uint64_t(c) * m->d;
        for (uint32_t i = 0; i < m->d; i++) gw[i] += dz[c] * x[i];
        gb[c] += dz[c];
    }
}

maml_status copy_out(maml_model *m, const char *call, float *out) {
    for (uint64_t i = 0; i < m->p; i++) {
        out[i] = float(m->acc[i]);
        if (!std::isfinite(out[i])) return fail(m, MAML_ERR_NUMERICAL, "%s: element %llu is not finite", call, (unsigned long long)i);
    }
    return MAML_OK;
}

maml_status forward(maml_model *m, const float *params, const maml_batch *b, float *out) {
    return guarded(m, [&] {
        maml_status status = check_batch(m, "forward", params, b);
        if (status != MAML_OK) return status;
        if (!out) return fail(m, MAML_ERR_INVALID_ARGUMENT, "forward: out is NULL");
        for (uint64_t e = 0; e < b->n; e++) {
            logits(m, params, b->x + e * m->d, m->z);
            for (uint32_t c = 0; c < m->k; c++) out[e * m->k + c] = float(m->z[c]);
        }
        return MAML_OK;
    });
}

// Mean cross-entropy; its gradient: d loss / d z = (p - onehot(label)) / n.
maml_status loss_grad(maml_model *m, const float *params, const maml_batch *b, float *loss, float *grad) {
    return guarded(m, [&] {
        maml_status status = check_batch(m, "loss_grad", params, b);
        if (status == MAML_OK) status = check_labels(m, "loss_grad", b);
        if (status != MAML_OK) return status;
        if (!loss) return fail(m, MAML_ERR_INVALID_ARGUMENT, "loss_grad: loss is NULL");
        double total = 0, scale = 1.0 / double(b->n);
        std::fill(m->acc.begin(), m->acc.end(), 0.0);
        for (uint64_t e = 0; e < b->n; e++) {
            const float *x = b->x + e * m->d;
            logits(m, params, x, m->z);
            total += softmax(m) - m->z[b->y_class[e]];
            if (!grad) continue;
            for (uint32_t c = 0; c < m->k; c++) m->pr[c] = scale * (m->pr[c] - (int32_t(c) == b->y_class[e]));
            accumulate(m, x, m->pr);
        }
        *loss = float(total * scale);
        if (!std::isfinite(*loss)) return fail(m, MAML_ERR_NUMERICAL, "loss_grad: the loss is not finite");
        return grad ? copy_out(m, "loss_grad", grad) : MAML_OK;
    });
}

// H v: R{z} = V x + c, R{p} = p * (R{z} - p . R{z}), R{d loss / d z} = R{p} / n.
maml_status hvp(maml_model *m, const float *params, const maml_batch *b, const float *v, float *out) {
    return guarded(m, [&] {
        maml_status status = check_batch(m, "hvp", params, b);
        if (status == MAML_OK) status = check_labels(m, "hvp", b);
        if (status != MAML_OK) return status;
        if (!v || !out) return fail(m, MAML_ERR_INVALID_ARGUMENT, "hvp: %s is NULL", v ? "out" : "v");
        double scale = 1.0 / double(b->n);
        std::fill(m->acc.begin(), m->acc.end(), 0.0);
        for (uint64_t e = 0; e < b->n; e++) {
            const float *x = b->x + e * m->d;
            logits(m, params, x, m->z);
            softmax(m);
            logits(m, v, x, m->rz);
            double mean = 0;
            for (uint32_t c = 0; c < m->k; c++) mean += m->pr[c] * m->rz[c];
            for (uint32_t c = 0; c < m->k; c++) m->rz[c] = scale * m->pr[c] * (m->rz[c] - mean);
            accumulate(m, x, m->rz);
        }
        return copy_out(m, "hvp", out);
    });
}

// MARK: - Extensions, descriptor, registry

const maml_ext_hvp hvp_table = {sizeof(maml_ext_hvp), hvp};

uint32_t tensor_count(const maml_model *) { return 2; }
const maml_tensor_info *tensor_at(const maml_model *m, uint32_t i) { return i < 2 ? &m->tensors[i] : nullptr; }
const maml_ext_layout layout_table = {sizeof(maml_ext_layout), tensor_count, tensor_at};

// flops(n): 2 per multiply-add of the logits and of the weight gradient, 1 per bias; exp not counted.
uint64_t flops(maml_model *m, uint64_t n) { return n * (2 * 2 * uint64_t(m->k) * m->d + 2 * uint64_t(m->k)); }
const maml_op ops[] = {{sizeof(maml_op), "flops", "floating-point operations of one loss_grad on a batch of the given size",
                        "u64(u64)", reinterpret_cast<void (*)(void)>(flops)}};
uint32_t op_count(const maml_model *) { return 1; }
const maml_op *op_at(const maml_model *, uint32_t i) { return i < 1 ? &ops[i] : nullptr; }
const maml_ext_ops ops_table = {sizeof(maml_ext_ops), op_count, op_at};

const void *get_extension(const maml_model *, const char *id) {
    if (!id) return nullptr;
    if (std::strcmp(id, MAML_EXT_HVP) == 0) return &hvp_table;
    if (std::strcmp(id, MAML_EXT_LAYOUT) == 0) return &layout_table;
    if (std::strcmp(id, MAML_EXT_OPS) == 0) return &ops_table;
    return nullptr;
}

const maml_model_desc descriptor = [] {
    maml_model_desc d{};
    d.struct_size = sizeof(maml_model_desc);
    d.id = "org.example.softmax-cpp";
    d.name = "softmax-cpp";
    d.version = "1.0.0";
    d.family = "linear";
    d.summary = "multinomial logistic regression for N-way classification, in C++ (docs/examples/cpp)";
    d.config_schema =
        "{\"type\": \"object\", \"properties\": {"
        "\"input\": {\"type\": \"array\", \"task\": \"input-shape\", \"items\": {\"type\": \"integer\", \"minimum\": 1,"
        " \"maximum\": 65536}, \"minItems\": 1, \"maxItems\": 4, \"default\": [1, 28, 28],"
        " \"description\": \"shape of one input example (flattened)\"},"
        "\"classes\": {\"type\": \"integer\", \"task\": \"output-size\", \"minimum\": 2, \"maximum\": 65536,"
        " \"default\": 5, \"description\": \"classes per task\"}},"
        " \"examples\": [{\"classes\": 20}, {\"input\": [16], \"classes\": 3}]}";
    d.create = create;
    d.destroy = destroy;
    d.param_count = param_count;
    d.input_shape = input_shape;
    d.output_shape = output_shape;
    d.loss_kind = loss_kind;
    d.init_params = init_params;
    d.forward = forward;
    d.loss_grad = loss_grad;
    d.last_error = last_error;
    d.get_extension = get_extension;
    return d;
}();

const maml_model_desc *model_at(uint32_t index) { return index == 0 ? &descriptor : nullptr; }

const maml_registry registry = [] {
    maml_registry r{};
    r.struct_size = sizeof(maml_registry);
    r.abi = {MAML_ABI_MAJOR, MAML_ABI_MINOR};
    r.requires_minor = 0;
    r.plugin_id = "org.example.softmax-cpp-plugin";
    r.plugin_version = "1.0.0";
    r.built_with = "c++";
    r.model_count = 1;
    r.model_at = model_at;
    return r;
}();

}  // namespace

extern "C" MAML_EXPORT const maml_registry *maml_plugin_registry(uint32_t major, uint32_t, const maml_host_api *) {
    return major == MAML_ABI_MAJOR ? &registry : nullptr;
}
