// Expert popularity tables (expert_policy.h): the uniform prior, from counts, and from the stats
// TSV of `infer-bench --expert-stats`, which is read as untrusted input.
#include "runtime/expert_policy.h"

#include "core/checked_math.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <memory>
#include <string_view>

namespace infer {
namespace {

size_t table_size(int32_t n_layer, int32_t n_expert) {
    return static_cast<size_t>(std::max(n_layer, 0)) * static_cast<size_t>(std::max(n_expert, 0));
}

// Each layer's weights become its share of that layer's selections, so that layers compare
// (a layer's total is tokens x k in any trace); a layer without selections gets 1 / n_expert.
void normalize_layers(std::vector<double> *weight, const std::vector<uint64_t> &layer_total,
                      int32_t n_expert) {
    for (size_t layer = 0; layer < layer_total.size(); ++layer) {
        double *w = weight->data() + layer * static_cast<size_t>(n_expert);
        const double total = static_cast<double>(layer_total[layer]);
        for (int32_t e = 0; e < n_expert; ++e)
            w[e] = layer_total[layer] ? w[e] / total : 1.0 / n_expert;
    }
}

// A stats file's lines are short ("47\t127\t18446744073709551615" is 26 bytes); anything longer
// is not one, and reading it whole would let a hostile file choose our memory use.
constexpr size_t kMaxLineBytes = 128;

// Reads one line without its "\n" (and a "\r" before it); false at the end of the file. A line
// over kMaxLineBytes is returned cut, with *too_long set.
bool read_line(std::FILE *f, std::string *line, bool *too_long) {
    line->clear();
    *too_long = false;
    int c = std::getc(f);
    if (c == EOF) return false;
    for (; c != EOF && c != '\n'; c = std::getc(f)) {
        if (line->size() < kMaxLineBytes) line->push_back(static_cast<char>(c));
        else *too_long = true;
    }
    if (!line->empty() && line->back() == '\r') line->pop_back();
    return true;
}

// A non-negative decimal integer that is the whole field: no sign, space or other trailing byte.
bool parse_u64(std::string_view field, uint64_t *out) {
    if (field.empty()) return false;
    const auto [end, err] = std::from_chars(field.data(), field.data() + field.size(), *out);
    return err == std::errc() && end == field.data() + field.size();
}

// "layer\texpert\tcount" -> its three fields; false unless there are exactly three.
bool split_fields(std::string_view line, std::string_view fields[3]) {
    for (int i = 0; i < 2; ++i) {
        const size_t tab = line.find('\t');
        if (tab == std::string_view::npos) return false;
        fields[i] = line.substr(0, tab);
        line.remove_prefix(tab + 1);
    }
    fields[2] = line;
    return line.find('\t') == std::string_view::npos;
}

struct FileCloser {
    void operator()(std::FILE *f) const { std::fclose(f); }
};

// What a stats file holds, gathered in one pass so that a file of another model is reported with
// its whole shape rather than at its first index out of range.
struct StatsScan {
    std::vector<uint64_t> count;      // [layer * n_expert + expert], for in-range pairs
    std::vector<uint8_t> seen;        // same indexing: a pair already read
    uint64_t max_layer = 0, max_expert = 0;
    bool any = false;                 // any data line
    size_t first_out_of_range = 0;    // its line number, 0 if none
};

Status scan_stats(std::FILE *f, const std::string &name, int32_t n_layer, int32_t n_expert,
                  StatsScan *scan) {
    std::string line;
    bool too_long = false;
    size_t line_no = 1;
    if (!read_line(f, &line, &too_long) || too_long || line != "layer\texpert\tcount")
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "stats file %s line 1: expected the header \"layer\\texpert\\tcount\", "
                          "found %s",
                          name.c_str(), excerpt(line).c_str());
    while (read_line(f, &line, &too_long)) {
        ++line_no;
        if (too_long)
            return make_error(INFER_ERR_INVALID_ARGUMENT,
                              "stats file %s line %zu: longer than %zu bytes, not a "
                              "\"layer\\texpert\\tcount\" line",
                              name.c_str(), line_no, kMaxLineBytes);
        if (line.empty()) continue;
        std::string_view fields[3];
        if (!split_fields(line, fields))
            return make_error(INFER_ERR_INVALID_ARGUMENT,
                              "stats file %s line %zu: expected three tab-separated fields "
                              "(layer, expert, count), found %s",
                              name.c_str(), line_no, excerpt(line).c_str());
        static constexpr const char *kField[3] = {"layer", "expert", "count"};
        uint64_t value[3] = {};
        for (int i = 0; i < 3; ++i)
            if (!parse_u64(fields[i], &value[i]))
                return make_error(INFER_ERR_INVALID_ARGUMENT,
                                  "stats file %s line %zu: the %s '%s' is not a non-negative "
                                  "decimal integer below 2^64",
                                  name.c_str(), line_no, kField[i], excerpt(fields[i]).c_str());
        const uint64_t layer = value[0], expert = value[1], count = value[2];
        scan->any = true;
        scan->max_layer = std::max(scan->max_layer, layer);
        scan->max_expert = std::max(scan->max_expert, expert);
        if (layer >= static_cast<uint64_t>(n_layer) || expert >= static_cast<uint64_t>(n_expert)) {
            if (!scan->first_out_of_range) scan->first_out_of_range = line_no;
            continue;
        }
        const size_t i = static_cast<size_t>(layer) * static_cast<size_t>(n_expert) +
                         static_cast<size_t>(expert);
        if (scan->seen[i])
            return make_error(INFER_ERR_INVALID_ARGUMENT,
                              "stats file %s line %zu: layer %llu expert %llu appears a second "
                              "time",
                              name.c_str(), line_no, static_cast<unsigned long long>(layer),
                              static_cast<unsigned long long>(expert));
        scan->seen[i] = 1;
        scan->count[i] = count;
    }
    if (std::ferror(f))
        return make_error(INFER_ERR_INVALID_ARGUMENT, "stats file %s: read error after line %zu",
                          name.c_str(), line_no);
    return Status::ok();
}

} // namespace

ExpertPopularity uniform_popularity(int32_t n_layer, int32_t n_expert) {
    ExpertPopularity p;
    p.n_layer = std::max(n_layer, 0);
    p.n_expert = std::max(n_expert, 0);
    p.weight.assign(table_size(n_layer, n_expert), p.n_expert ? 1.0 / p.n_expert : 0.0);
    p.source = "uniform prior";
    return p;
}

ExpertPopularity popularity_from_counts(std::span<const uint64_t> counts, int32_t n_layer,
                                        int32_t n_expert, std::string source) {
    ExpertPopularity p;
    p.n_layer = std::max(n_layer, 0);
    p.n_expert = std::max(n_expert, 0);
    p.weight.assign(table_size(n_layer, n_expert), 0.0);
    p.source = std::move(source);
    std::vector<uint64_t> layer_total(static_cast<size_t>(p.n_layer), 0);
    for (size_t i = 0; i < p.weight.size() && i < counts.size(); ++i) {
        p.weight[i] = static_cast<double>(counts[i]);
        uint64_t &total = layer_total[i / static_cast<size_t>(p.n_expert)];
        // A total past 2^64 only scales the shares; saturating keeps them in [0, 1].
        if (!checked_add(total, counts[i], &total)) total = UINT64_MAX;
    }
    normalize_layers(&p.weight, layer_total, p.n_expert);
    return p;
}

Status load_expert_stats(const std::string &path, int32_t n_layer, int32_t n_expert,
                         ExpertPopularity *out) {
    // Appended rather than "'" + excerpt + "'", which trips GCC 12's -Wrestrict at -O3.
    std::string name = "'";
    name += excerpt(path, 256);
    name += '\'';
    if (n_layer <= 0 || n_expert <= 0)
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "stats file %s: the model has no routed experts (%d layers x %d "
                          "experts)",
                          name.c_str(), n_layer, n_expert);
    std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
    if (!f)
        return make_error(INFER_ERR_INVALID_ARGUMENT, "stats file %s: cannot open it",
                          name.c_str());
    StatsScan scan;
    scan.count.assign(table_size(n_layer, n_expert), 0);
    scan.seen.assign(scan.count.size(), 0);
    INFER_TRY(scan_stats(f.get(), name, n_layer, n_expert, &scan));
    if (!scan.any)
        return make_error(INFER_ERR_INVALID_ARGUMENT, "stats file %s: no counts after the header",
                          name.c_str());
    // The file's shape is its highest indices + 1: infer-bench writes every pair, so a file
    // that stops short of this model's last layer or expert is another model's too.
    const auto extent = [](uint64_t max_index) {
        return max_index == UINT64_MAX ? max_index : max_index + 1;
    };
    const uint64_t file_layers = extent(scan.max_layer), file_experts = extent(scan.max_expert);
    if (file_layers != static_cast<uint64_t>(n_layer) ||
        file_experts != static_cast<uint64_t>(n_expert)) {
        char where[64] = "";
        if (scan.first_out_of_range)
            std::snprintf(where, sizeof where, " (line %zu is the first out of range)",
                          scan.first_out_of_range);
        return make_error(INFER_ERR_INVALID_ARGUMENT,
                          "stats file %s is of a model with %llu layers x %llu experts; this "
                          "model has %d layers x %d experts%s",
                          name.c_str(), static_cast<unsigned long long>(file_layers),
                          static_cast<unsigned long long>(file_experts), n_layer, n_expert,
                          where);
    }
    uint64_t selections = 0;
    for (uint64_t c : scan.count)
        if (!checked_add(selections, c, &selections))
            return make_error(INFER_ERR_INVALID_ARGUMENT,
                              "stats file %s: the counts add up to more than 2^64",
                              name.c_str());
    *out = popularity_from_counts(scan.count, n_layer, n_expert,
                                  "stats file " + name + " (" + std::to_string(selections) +
                                      " selections)");
    return Status::ok();
}

} // namespace infer
