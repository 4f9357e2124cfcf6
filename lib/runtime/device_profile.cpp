#include "runtime/device_profile.h"

#include "runtime/key_value_text.h"

#include <array>
#include <cstring>
#include <strings.h>

namespace infer {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
constexpr double kGB = 1e9;
constexpr double kT = 1e12;
constexpr double kUs = 1e-6;

// Peak figures are the vendors' datasheets; what libinfer reaches of them was measured on an H200
// SXM (2026-12-04, tests/gpu/run.sh: Qwen3-30B-A3B's shape at Q4_K_M with every expert on the
// device, every expert on the CPU, and 30 layers' experts on the CPU) and is assumed alike on the
// other cards:
// - decode reads weights at 80% of peak bandwidth (the card's copy test: 88%), and a MoE layer
//   costs 105 us beyond its bytes (launch and latency of the attention, routing and grouped
//   expert kernels, which at batch 1 do not fill the card: all-resident decode read 337 GB/s);
//   slower clocks (laptops, Jetson) cost proportionally more;
// - a handoff (two small DMAs and an event wait) adds about 5 us on PCIe 5.0 (the fit left 105 +
//   5 us per CPU layer; the split between the two is the least certain figure);
// - MoE prefill reaches 0.65% of the dense fp16 tensor peak (6.4 of 989 TFLOP/s at pp512: the
//   grouped expert GEMMs bound it; dense models' prefill, through cuBLASLt, reaches 105).
// Copies: pinned H2D reaches about 80% of the link (PCIe 5.0 x16: 64 GB/s -> 50; 4.0 x16: 32 ->
// 25; laptops often run x8 -> 12), not yet measured. These are libinfer's figures today, to be
// measured again as the kernels improve; write a profile file with your own.
constexpr double kBandwidthShare = 0.8;
constexpr double kPrefillFlopsShare = 6.4 / 989;

struct Entry {
    const char *key;
    DeviceProfile profile;
};

DeviceProfile profile(const char *name, double mem_gib, double h2d_gbs, double peak_tbs,
                      double fp16_dense_tflops, double layer_us, double handoff_us, bool unified) {
    DeviceProfile p;
    p.name = name;
    p.memory_bytes = mem_gib * kGiB;
    p.h2d_bytes_per_s = h2d_gbs * kGB;
    p.memory_bytes_per_s = kBandwidthShare * peak_tbs * 1000 * kGB;
    p.flops_per_s = kPrefillFlopsShare * fp16_dense_tflops * kT;
    p.layer_overhead_s = layer_us * kUs;
    p.handoff_s = handoff_us * kUs;
    p.unified_memory = unified;
    p.source = "built-in";
    return p;
}

const std::array<Entry, 7> &entries() {
    static const std::array<Entry, 7> table = {{
        // H100 PCIe: 80 GB HBM2e, 2.0 TB/s, 756 TFLOPS fp16 dense, PCIe 5.0 x16.
        {"h100-pcie", profile("H100 PCIe", 80, 50, 2.0, 756, 105, 5, false)},
        // H100 SXM5: 80 GB HBM3, 3.35 TB/s, 989 TFLOPS fp16 dense; the host link is PCIe 5.0 x16.
        {"h100-sxm", profile("H100 SXM", 80, 50, 3.35, 989, 105, 5, false)},
        // H200 NVL (PCIe card): 141 GB HBM3e, 4.8 TB/s, 835 TFLOPS fp16 dense, PCIe 5.0 x16.
        {"h200-pcie", profile("H200 NVL (PCIe)", 141, 50, 4.8, 835, 105, 5, false)},
        // H200 SXM: 141 GB HBM3e, 4.8 TB/s, 989 TFLOPS fp16 dense, PCIe 5.0 x16 to the host.
        {"h200-sxm", profile("H200 SXM", 141, 50, 4.8, 989, 105, 5, false)},
        // RTX 4090: 24 GB GDDR6X, 1.008 TB/s, 165 TFLOPS fp16 dense (fp32 accumulate), PCIe 4.0.
        {"rtx4090", profile("RTX 4090", 24, 25, 1.008, 165, 105, 10, false)},
        // A 16 GB laptop GPU (RTX 4090 Laptop class): 16 GB GDDR6, 576 GB/s, ~80 TFLOPS fp16
        // dense, PCIe 4.0 x8 in many laptops; launches a little slower (mobile clocks).
        {"laptop-16gb", profile("16 GB laptop GPU", 16, 12, 0.576, 80, 130, 15, false)},
        // Jetson AGX Orin 64GB: LPDDR5 204.8 GB/s shared by CPU and GPU (unified: no copies, and
        // "resident" only decides which lane computes), ~42 TFLOPS fp16 dense (Ampere, 2048
        // cores, 64 tensor cores); launches are slower (weaker host cores); a handoff is an event
        // wait only.
        {"jetson-orin", profile("Jetson AGX Orin 64GB", 64, 0, 0.2048, 42, 210, 10, true)},
    }};
    return table;
}

} // namespace

std::span<const DeviceProfile> builtin_device_profiles() {
    static const std::vector<DeviceProfile> profiles = [] {
        std::vector<DeviceProfile> v;
        for (const Entry &e : entries()) v.push_back(e.profile);
        return v;
    }();
    return profiles;
}

const char *builtin_device_profile_key(size_t i) {
    return i < entries().size() ? entries()[i].key : "";
}

const DeviceProfile *find_builtin_device_profile(std::string_view key) {
    const std::span<const DeviceProfile> profiles = builtin_device_profiles();
    for (size_t i = 0; i < entries().size(); ++i)
        if (std::strlen(entries()[i].key) == key.size() &&
            strncasecmp(entries()[i].key, key.data(), key.size()) == 0)
            return &profiles[i];
    return nullptr;
}

Status parse_device_profile(std::string_view text, const std::string &source, DeviceProfile *out) {
    std::vector<KeyValue> kvs;
    const char *what = source.c_str();
    INFER_TRY(parse_key_values(text, what, &kvs));
    struct Number {
        const char *key;
        double *value;
        double scale, minimum;
        bool seen;
    };
    DeviceProfile p;
    p.name = source;
    p.source = source;
    double unified = 0;
    Number numbers[] = {
        {"memory_gib", &p.memory_bytes, kGiB, 0, false},
        {"h2d_gb_per_s", &p.h2d_bytes_per_s, kGB, 0, false},
        {"memory_gb_per_s", &p.memory_bytes_per_s, kGB, 1e-9, false},
        {"fp16_tflops", &p.flops_per_s, kT, 1e-9, false},
        {"layer_overhead_us", &p.layer_overhead_s, kUs, 0, false},
        {"handoff_us", &p.handoff_s, kUs, 0, false},
        {"unified_memory", &unified, 1, 0, true}, // optional
    };
    for (const KeyValue &kv : kvs) {
        if (kv.key == "name") {
            p.name = kv.value;
            continue;
        }
        Number *n = nullptr;
        for (Number &candidate : numbers)
            if (kv.key == candidate.key) n = &candidate;
        if (!n)
            return make_error(INFER_ERR_INVALID_ARGUMENT, "%s:%d: unknown key '%s'", what,
                              kv.line, excerpt(kv.key).c_str());
        double v = 0;
        INFER_TRY(parse_number(kv, what, n->minimum, &v));
        *n->value = v * n->scale;
        n->seen = true;
    }
    for (const Number &n : numbers)
        if (!n.seen)
            return make_error(INFER_ERR_INVALID_ARGUMENT, "%s: key '%s' is missing", what, n.key);
    if (unified != 0 && unified != 1)
        return make_error(INFER_ERR_INVALID_ARGUMENT, "%s: unified_memory must be 0 or 1", what);
    p.unified_memory = unified == 1;
    if (!p.unified_memory && p.h2d_bytes_per_s <= 0)
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "%s: h2d_gb_per_s must be > 0 unless unified_memory = 1", what);
    *out = std::move(p);
    return Status::ok();
}

Status load_device_profile(const std::string &name_or_path, DeviceProfile *out) {
    if (const DeviceProfile *builtin = find_builtin_device_profile(name_or_path)) {
        *out = *builtin;
        return Status::ok();
    }
    std::string text;
    const Status read = read_small_file(name_or_path, 64 * 1024, &text);
    if (read.code() == INFER_ERR_IO) {
        std::string names;
        for (size_t i = 0; i < builtin_device_profiles().size(); ++i)
            names += std::string(i ? ", " : "") + builtin_device_profile_key(i);
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "device profile '%s': neither a built-in profile (%s) nor a readable "
                          "file",
                          excerpt(name_or_path).c_str(), names.c_str());
    }
    INFER_TRY(read);
    return parse_device_profile(text, name_or_path, out);
}

} // namespace infer
