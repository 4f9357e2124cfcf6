#include "runtime/cpu_costs.h"

#include "core/types.h"
#include "runtime/cpu_expert_probe.h"
#include "runtime/key_value_text.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sys/stat.h>
#include <unistd.h>

namespace infer {
namespace {

constexpr double kGB = 1e9;
constexpr size_t kMaxCacheBytes = 16 * 1024;

// The ggml id of a type name ("Q4_K"), or false.
bool type_of_name(std::string_view name, uint32_t *out) {
    for (uint32_t id = 0; id < 64; ++id)
        if (const TypeTraits *t = type_traits(id); t && name == t->name) {
            *out = id;
            return true;
        }
    return false;
}

const char *type_name_of(uint32_t type) {
    const TypeTraits *t = type_traits(type);
    return t ? t->name : "unknown";
}

// The cost slot of `shape` in `costs`, made when missing.
CpuExpertCost &expert_slot(CpuCosts *costs, const ExpertShape &shape) {
    for (CpuExpertCost &e : costs->experts)
        if (e.shape == shape) return e;
    CpuExpertCost &e = costs->experts.emplace_back();
    e.shape = shape;
    return e;
}

// "Q4_K.Q4_K.Q6_K.2048x768" back to a shape.
bool parse_expert_shape(std::string_view text, ExpertShape *out) {
    uint32_t *types[3] = {&out->gate_type, &out->up_type, &out->down_type};
    for (uint32_t *type : types) {
        const size_t dot = text.find('.');
        if (dot == std::string_view::npos || !type_of_name(text.substr(0, dot), type)) return false;
        text.remove_prefix(dot + 1);
    }
    const size_t x = text.find('x');
    if (x == std::string_view::npos) return false;
    int64_t *sizes[2] = {&out->n_embd, &out->n_ff};
    const std::string_view parts[2] = {text.substr(0, x), text.substr(x + 1)};
    for (int i = 0; i < 2; ++i) {
        if (parts[i].empty() || parts[i].size() > 9) return false;
        *sizes[i] = 0;
        for (char c : parts[i]) {
            if (c < '0' || c > '9') return false;
            *sizes[i] = *sizes[i] * 10 + (c - '0');
        }
    }
    return expert_shape_bytes(*out) > 0;
}

Status make_dir(const std::string &dir) {
    for (size_t slash = dir.find('/', 1);; slash = dir.find('/', slash + 1)) {
        const std::string prefix = dir.substr(0, slash);
        if (::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST)
            return make_error(INFER_ERR_IO, "cannot create '%s': %s", prefix.c_str(),
                              std::strerror(errno));
        if (slash == std::string::npos) return Status::ok();
    }
}

} // namespace

std::string expert_shape_name(const ExpertShape &s) {
    return std::string(type_name_of(s.gate_type)) + "." + type_name_of(s.up_type) + "." +
           type_name_of(s.down_type) + "." + std::to_string(s.n_embd) + "x" +
           std::to_string(s.n_ff);
}

bool expert_row_bytes(const ExpertShape &s, uint64_t *gate, uint64_t *up, uint64_t *down) {
    return s.n_embd > 0 && s.n_ff > 0 &&
           type_row_bytes(s.gate_type, static_cast<uint64_t>(s.n_embd), gate) &&
           type_row_bytes(s.up_type, static_cast<uint64_t>(s.n_embd), up) &&
           type_row_bytes(s.down_type, static_cast<uint64_t>(s.n_ff), down);
}

uint64_t expert_shape_bytes(const ExpertShape &s) {
    uint64_t gate = 0, up = 0, down = 0;
    if (!expert_row_bytes(s, &gate, &up, &down)) return 0;
    return (gate + up) * static_cast<uint64_t>(s.n_ff) + down * static_cast<uint64_t>(s.n_embd);
}

ExpertShape type_probe_shape(uint32_t type) { return {type, type, type, 2048, 1024}; }

const CpuExpertCost *CpuCosts::expert(const ExpertShape &shape) const {
    for (const CpuExpertCost &e : experts)
        if (e.shape == shape) return &e;
    return nullptr;
}

bool CpuCosts::rate(uint32_t type, CpuTypeRate *out) const {
    const ExpertShape shape = type_probe_shape(type);
    const CpuExpertCost *e = expert(shape);
    if (!e) return false;
    out->decode_bytes_per_s = static_cast<double>(expert_shape_bytes(shape)) / e->expert_s;
    out->prefill_flops_per_s = e->prefill_flops_per_s;
    return true;
}

std::string format_cpu_costs(const CpuCosts &c) {
    std::string s = "# libinfer: this machine's measured CPU costs for the offload cost model.\n"
                    "# Written by the library; delete it (or ask to re-measure) to measure again.\n";
    char line[512];
    std::snprintf(line, sizeof line,
                  "format = %d\ncpu = %s\nthreads = %d\nread_gb_per_s = %.4f\n",
                  kCpuCostsFormatVersion, c.cpu_model.c_str(), c.n_threads,
                  c.read_bytes_per_s / kGB);
    s += line;
    for (const CpuExpertCost &e : c.experts) {
        const std::string key = "expert." + expert_shape_name(e.shape);
        std::snprintf(line, sizeof line,
                      "%s.expert_us = %.3f\n%s.node_us = %.3f\n%s.prefill_gflops = %.3f\n",
                      key.c_str(), e.expert_s * 1e6, key.c_str(), e.node_s * 1e6, key.c_str(),
                      e.prefill_flops_per_s / 1e9);
        s += line;
    }
    return s;
}

Status parse_cpu_costs(std::string_view text, const std::string &what_s, CpuCosts *out) {
    const char *what = what_s.c_str();
    std::vector<KeyValue> kvs;
    INFER_TRY(parse_key_values(text, what, &kvs));
    CpuCosts c;
    double format = 0, threads = 0;
    bool seen[4] = {};
    // Per shape: which of expert_us, node_us and prefill_gflops were given (node_us may be 0).
    std::vector<int> fields;
    for (const KeyValue &kv : kvs) {
        if (kv.key == "cpu") {
            c.cpu_model = kv.value;
            seen[0] = true;
        } else if (kv.key == "format") {
            INFER_TRY(parse_number(kv, what, 0, &format));
            seen[1] = true;
        } else if (kv.key == "threads") {
            INFER_TRY(parse_number(kv, what, 1, &threads));
            seen[2] = true;
        } else if (kv.key == "read_gb_per_s") {
            INFER_TRY(parse_number(kv, what, 1e-6, &c.read_bytes_per_s));
            c.read_bytes_per_s *= kGB;
            seen[3] = true;
        } else if (kv.key.rfind("expert.", 0) == 0) {
            const std::string_view rest = std::string_view(kv.key).substr(7);
            const size_t dot = rest.rfind('.');
            ExpertShape shape;
            if (dot == std::string_view::npos || !parse_expert_shape(rest.substr(0, dot), &shape))
                return make_error(INFER_ERR_INVALID_ARGUMENT, "%s:%d: unknown key '%s'", what,
                                  kv.line, excerpt(kv.key).c_str());
            const std::string_view field = rest.substr(dot + 1);
            CpuExpertCost &e = expert_slot(&c, shape);
            fields.resize(c.experts.size());
            int &have = fields[static_cast<size_t>(&e - c.experts.data())];
            double v = 0;
            if (field == "expert_us") {
                INFER_TRY(parse_number(kv, what, 1e-6, &v));
                e.expert_s = v * 1e-6;
                have |= 1;
            } else if (field == "node_us") {
                INFER_TRY(parse_number(kv, what, 0, &v));
                e.node_s = v * 1e-6;
                have |= 2;
            } else if (field == "prefill_gflops") {
                INFER_TRY(parse_number(kv, what, 1e-6, &v));
                e.prefill_flops_per_s = v * 1e9;
                have |= 4;
            } else {
                return make_error(INFER_ERR_INVALID_ARGUMENT, "%s:%d: unknown key '%s'", what,
                                  kv.line, excerpt(kv.key).c_str());
            }
        } else {
            return make_error(INFER_ERR_INVALID_ARGUMENT, "%s:%d: unknown key '%s'", what, kv.line,
                              excerpt(kv.key).c_str());
        }
    }
    if (!std::all_of(std::begin(seen), std::end(seen), [](bool b) { return b; }))
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "%s: needs format, cpu, threads and read_gb_per_s", what);
    if (format != kCpuCostsFormatVersion)
        return make_error(INFER_ERR_INVALID_ARGUMENT, "%s: format %g, this library writes %d", what,
                          format, kCpuCostsFormatVersion);
    if (threads != static_cast<double>(static_cast<int32_t>(threads)))
        return make_error(INFER_ERR_INVALID_ARGUMENT, "%s: threads must be an integer", what);
    c.n_threads = static_cast<int32_t>(threads);
    for (size_t i = 0; i < c.experts.size(); ++i)
        if (fields[i] != 7)
            return make_error(INFER_ERR_INVALID_ARGUMENT, "%s: expert shape %s lacks a field", what,
                              expert_shape_name(c.experts[i].shape).c_str());
    *out = std::move(c);
    return Status::ok();
}

std::string this_cpu_model() {
    std::string info;
    if (!read_small_file("/proc/cpuinfo", size_t{4} << 20, &info).is_ok()) return "unknown CPU";
    const size_t at = info.find("model name");
    if (at == std::string::npos) return "unknown CPU";
    const size_t colon = info.find(':', at), end = info.find('\n', at);
    if (colon == std::string::npos || colon > end) return "unknown CPU";
    std::string model = info.substr(colon + 1, end - colon - 1);
    while (!model.empty() && (model.front() == ' ' || model.front() == '\t')) model.erase(0, 1);
    while (!model.empty() && model.back() == ' ') model.pop_back();
    return model.empty() ? "unknown CPU" : model;
}

std::string default_cache_dir() {
    if (const char *xdg = std::getenv("XDG_CACHE_HOME"); xdg && xdg[0] == '/')
        return std::string(xdg) + "/libinfer";
    if (const char *home = std::getenv("HOME"); home && home[0] == '/')
        return std::string(home) + "/.cache/libinfer";
    return {};
}

std::string cpu_costs_cache_path(const std::string &dir, const std::string &cpu_model,
                                 int32_t n_threads) {
    // The model string made file-name safe; the full string inside the file is what is checked.
    std::string slug;
    for (char c : cpu_model) {
        const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (keep) slug += c;
        else if (!slug.empty() && slug.back() != '-') slug += '-';
        if (slug.size() >= 64) break;
    }
    return dir + "/cpu-costs-v" + std::to_string(kCpuCostsFormatVersion) + "-" + slug + "-t" +
           std::to_string(n_threads) + ".txt";
}

Status save_cpu_costs(const std::string &path, const CpuCosts &costs) {
    const size_t slash = path.rfind('/');
    if (slash != std::string::npos && slash > 0) INFER_TRY(make_dir(path.substr(0, slash)));
    const std::string tmp = path + ".tmp." + std::to_string(::getpid());
    FILE *f = std::fopen(tmp.c_str(), "wb");
    if (!f) return make_error(INFER_ERR_IO, "cannot write '%s'", tmp.c_str());
    const std::string text = format_cpu_costs(costs);
    const bool wrote = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    if (std::fclose(f) != 0 || !wrote || std::rename(tmp.c_str(), path.c_str()) != 0) {
        std::remove(tmp.c_str());
        return make_error(INFER_ERR_IO, "cannot write '%s'", path.c_str());
    }
    return Status::ok();
}

Status cpu_costs_for(const std::vector<ExpertShape> &shapes, const std::vector<uint32_t> &types,
                     int32_t n_threads, const std::string &cache_dir, bool remeasure,
                     CpuCosts *out) {
    const std::string cpu = this_cpu_model();
    const std::string path = cache_dir.empty() ? "" : cpu_costs_cache_path(cache_dir, cpu, n_threads);
    CpuCosts costs;
    std::string text;
    const bool cached = !remeasure && !path.empty() &&
                        read_small_file(path, kMaxCacheBytes, &text).is_ok() &&
                        parse_cpu_costs(text, path, &costs).is_ok() && costs.cpu_model == cpu &&
                        costs.n_threads == n_threads;
    bool measured = false;
    if (!cached) {
        costs = CpuCosts{};
        costs.cpu_model = cpu;
        costs.n_threads = n_threads;
        INFER_TRY(measure_cpu_read_bandwidth(n_threads, &costs.read_bytes_per_s));
        measured = true;
    }
    std::vector<ExpertShape> wanted = shapes;
    for (uint32_t type : types) wanted.push_back(type_probe_shape(type));
    for (const ExpertShape &shape : wanted) {
        if (costs.expert(shape)) continue;
        CpuExpertCost cost;
        INFER_TRY(measure_cpu_expert_cost(shape, n_threads, &cost));
        costs.experts.push_back(cost);
        measured = true;
    }
    // A cache that cannot be written costs a re-measurement next time, nothing more.
    if (measured && !path.empty()) (void)save_cpu_costs(path, costs);
    costs.from_cache = !measured;
    *out = std::move(costs);
    return Status::ok();
}

} // namespace infer
