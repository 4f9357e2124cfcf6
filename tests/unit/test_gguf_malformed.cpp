// GGUF reader on malformed and hostile images: each case patches one field of a valid image (or
// cuts it short) and asserts the exact status and that the message names the key or tensor.
#include "gguf_writer.h"

#include <doctest/doctest.h>

#include <string>

using infer::TypeId;
using infer::gguf::File;
using infer::gguf::ValueType;
using infer::test::GgufValue;
using infer::test::GgufWriter;
using infer::test::patch;

namespace {

constexpr uint64_t kHuge = ~uint64_t{0};

infer::Status parse(const std::vector<uint8_t> &image) {
    std::unique_ptr<File> file;
    infer::Status st = File::parse(image, {}, &file);
    CHECK(st.is_ok() == (file != nullptr));
    return st;
}

void expect_error(const std::vector<uint8_t> &image, infer_status code, const std::string &needle = "") {
    const infer::Status st = parse(image);
    INFO("message: " << st.message());
    CHECK(st.code() == code);
    CHECK_FALSE(st.message().empty());
    CHECK(st.message().find("at byte") != std::string::npos);
    if (!needle.empty()) CHECK(st.message().find(needle) != std::string::npos);
}

// A small file with a bit of everything; kv/tensor indices below refer to this order.
enum { kArch, kFlag, kList, kNames, kNested, kLongText, kKvCount };
enum { kAttnQ, kOutput, kTensorCount };

GgufWriter base_writer() {
    GgufWriter w;
    w.kv("general.architecture", GgufValue::str("llama"));
    w.kv("flag", GgufValue::boolean(true));
    w.kv("list", GgufValue::array(ValueType::U32, {GgufValue::u32(1), GgufValue::u32(2), GgufValue::u32(3)}));
    w.kv("names", GgufValue::array(ValueType::STRING, {GgufValue::str("a"), GgufValue::str("bb")}));
    w.kv("nested", GgufValue::array(ValueType::ARRAY, {GgufValue::array(ValueType::I8, {GgufValue::i8(1)})}));
    w.kv("long.text", GgufValue::str(std::string(100, 'x')));
    w.tensor("blk.0.attn_q.weight", TypeId::Q4_0, {64, 2});
    w.tensor("output.weight", TypeId::F32, {4, 4});
    return w;
}

} // namespace

TEST_CASE("gguf malformed: every prefix of a valid file fails with the predicted status") {
    GgufWriter w = base_writer();
    const std::vector<uint8_t> image = w.build();
    REQUIRE(parse(image).is_ok());
    int seen_truncated = 0, seen_limit = 0, seen_bounds = 0;
    for (size_t prefix = 0; prefix < image.size(); ++prefix) {
        const std::vector<uint8_t> cut(image.begin(), image.begin() + static_cast<std::ptrdiff_t>(prefix));
        const infer_status expected = w.expected_prefix_status(prefix);
        const infer::Status st = parse(cut);
        INFO("prefix " << prefix << " of " << image.size() << ": " << st.message());
        REQUIRE(st.code() == expected);
        seen_truncated += expected == INFER_ERR_GGUF_TRUNCATED;
        seen_limit += expected == INFER_ERR_GGUF_LIMIT;
        seen_bounds += expected == INFER_ERR_GGUF_OUT_OF_BOUNDS;
    }
    // The rule's three outcomes all occur: cut inside a structure, a count beyond the whole
    // (short) file, and a complete header whose tensor data is missing.
    CHECK(seen_truncated > 0);
    CHECK(seen_limit > 0);
    CHECK(seen_bounds > 0);
    CHECK(w.expected_prefix_status(w.header_end - 1) == INFER_ERR_GGUF_TRUNCATED);
    CHECK(w.expected_prefix_status(w.header_end) == INFER_ERR_GGUF_OUT_OF_BOUNDS);
}

TEST_CASE("gguf malformed: a truncated string or array names its key") {
    // One KV each, so the header's counts fit and the cut lands inside the value.
    GgufWriter text;
    text.kv("long.text", GgufValue::str(std::string(100, 'x')));
    std::vector<uint8_t> image = text.build();
    image.resize(text.kv_layout[0].value + 8 + 50);
    expect_error(image, INFER_ERR_GGUF_TRUNCATED, "'long.text'");

    GgufWriter list;
    list.kv("list", GgufValue::array(ValueType::U32, {GgufValue::u32(1), GgufValue::u32(2), GgufValue::u32(3)}));
    image = list.build();
    image.resize(list.kv_layout[0].value + 12 + 4);
    expect_error(image, INFER_ERR_GGUF_TRUNCATED, "'list'");
}

TEST_CASE("gguf malformed: bad magic") {
    GgufWriter w = base_writer();
    std::vector<uint8_t> image = w.build();
    image[3] = 'X';
    expect_error(image, INFER_ERR_GGUF_BAD_MAGIC, "not a GGUF file");
    expect_error({'G', 'X'}, INFER_ERR_GGUF_BAD_MAGIC);
    expect_error({}, INFER_ERR_GGUF_TRUNCATED);
    expect_error({'G', 'G', 'U'}, INFER_ERR_GGUF_TRUNCATED);
}

TEST_CASE("gguf malformed: unsupported versions and big-endian files") {
    for (uint32_t version : {0u, 1u, 4u, 0xFFFFFFFFu}) {
        GgufWriter w = base_writer();
        w.version = version;
        expect_error(w.build(), INFER_ERR_GGUF_BAD_VERSION, "version " + std::to_string(version));
    }
    for (uint32_t version : {2u, 3u}) {
        GgufWriter w = base_writer();
        w.version = __builtin_bswap32(version);
        expect_error(w.build(), INFER_ERR_GGUF_BAD_VERSION, "big-endian");
    }
}

TEST_CASE("gguf malformed: absurd header counts") {
    for (uint64_t count : {kHuge, uint64_t{1} << 40, uint64_t{1} << 31, uint64_t{1000}}) {
        GgufWriter w = base_writer();
        std::vector<uint8_t> image = w.build();
        patch<uint64_t>(image, 16, count); // KV count
        expect_error(image, INFER_ERR_GGUF_LIMIT, "count");
        image = w.build();
        patch<uint64_t>(image, 8, count); // tensor count
        expect_error(image, INFER_ERR_GGUF_LIMIT, "count");
    }
}

TEST_CASE("gguf malformed: absurd array counts and string lengths") {
    struct Case {
        int kv;
        uint64_t field; // offset of the count or length within the value
        uint64_t value;
        const char *key;
    };
    const Case cases[] = {
        {kList, 4, kHuge, "'list'"},                // u32 array: 4 * count overflows
        {kList, 4, uint64_t{1} << 62, "'list'"},    // exactly overflows
        {kList, 4, uint64_t{1} << 40, "'list'"},    // fits 2^64 but not the file
        {kNames, 4, kHuge, "'names'"},              // string array
        {kNames, 4, uint64_t{1} << 61, "'names'"},  // 8 * count = 2^64: overflow
        {kNested, 4, kHuge / 12, "'nested'"},       // array of arrays
        {kNested, 16, kHuge, "'nested'"},           // the inner array's count
        {kArch, 0, kHuge, "'general.architecture'"}, // string length
        {kArch, 0, kHuge - 8, "'general.architecture'"},
        {kLongText, 0, uint64_t{1} << 32, "'long.text'"},
    };
    for (const Case &c : cases) {
        GgufWriter w = base_writer();
        std::vector<uint8_t> image = w.build();
        patch<uint64_t>(image, w.kv_layout[c.kv].value + c.field, c.value);
        expect_error(image, INFER_ERR_GGUF_LIMIT, c.key);
    }
}

TEST_CASE("gguf malformed: key length limits") {
    for (uint64_t length : {kHuge, infer::gguf::kMaxKeyLength + 1}) {
        GgufWriter w = base_writer();
        std::vector<uint8_t> image = w.build();
        patch<uint64_t>(image, w.kv_layout[kFlag].key, length);
        expect_error(image, INFER_ERR_GGUF_LIMIT, "KV #1");
    }
    GgufWriter w = base_writer();
    std::vector<uint8_t> image = w.build();
    patch<uint64_t>(image, w.tensor_layout[kOutput].name, kHuge);
    expect_error(image, INFER_ERR_GGUF_LIMIT, "tensor info #1");
}

TEST_CASE("gguf malformed: arrays nested too deep") {
    GgufValue chain = GgufValue::array(ValueType::U8, {GgufValue::u8(1)});
    for (uint32_t level = 1; level <= infer::gguf::kMaxArrayNesting; ++level) {
        chain = GgufValue::array(ValueType::ARRAY, {chain});
    }
    GgufWriter w;
    w.kv("too.deep", chain);
    expect_error(w.build(), INFER_ERR_GGUF_LIMIT, "'too.deep'");
}

TEST_CASE("gguf malformed: unknown value types") {
    for (uint32_t type : {13u, 100u, 0xFFFFFFFFu}) {
        GgufWriter w = base_writer();
        std::vector<uint8_t> image = w.build();
        patch<uint32_t>(image, w.kv_layout[kFlag].type, type);
        expect_error(image, INFER_ERR_GGUF_BAD_VALUE_TYPE, "'flag'");
        image = w.build();
        patch<uint32_t>(image, w.kv_layout[kList].value, type); // element type
        expect_error(image, INFER_ERR_GGUF_BAD_VALUE_TYPE, "'list'");
        image = w.build();
        patch<uint32_t>(image, w.kv_layout[kNested].value + 12, type); // inner element type
        expect_error(image, INFER_ERR_GGUF_BAD_VALUE_TYPE, "'nested'");
    }
}

TEST_CASE("gguf malformed: bool values other than 0 and 1") {
    GgufWriter w = base_writer();
    std::vector<uint8_t> image = w.build();
    image[w.kv_layout[kFlag].value] = 2;
    expect_error(image, INFER_ERR_GGUF_BAD_VALUE_TYPE, "'flag'");

    GgufWriter arr;
    arr.kv("bools", GgufValue::array(ValueType::BOOL, {GgufValue::boolean(false), GgufValue::boolean(true)}));
    image = arr.build();
    image[arr.kv_layout[0].value + 12 + 1] = 0xFF;
    expect_error(image, INFER_ERR_GGUF_BAD_VALUE_TYPE, "'bools'");
}

TEST_CASE("gguf malformed: empty and non-UTF-8 keys and names") {
    const char *bad_names[] = {"", "\xff", "a\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "ab\xe2\x82"};
    for (const char *name : bad_names) {
        GgufWriter w = base_writer();
        w.kv(name, GgufValue::u8(0));
        expect_error(w.build(), INFER_ERR_GGUF_BAD_STRING, "KV #6");
        GgufWriter t = base_writer();
        t.tensor(name, TypeId::F32, {1});
        expect_error(t.build(), INFER_ERR_GGUF_BAD_STRING, "tensor info #2");
    }
    GgufWriter ok = base_writer();
    ok.kv("ключ.日本.😀", GgufValue::u8(0)); // valid multi-byte UTF-8 is fine
    CHECK(parse(ok.build()).is_ok());
}

TEST_CASE("gguf malformed: duplicate keys and tensor names") {
    GgufWriter w = base_writer();
    w.kv("flag", GgufValue::u8(3));
    expect_error(w.build(), INFER_ERR_GGUF_DUPLICATE, "'flag'");

    GgufWriter t = base_writer();
    t.tensor("output.weight", TypeId::F32, {4});
    expect_error(t.build(), INFER_ERR_GGUF_DUPLICATE, "'output.weight'");
}

TEST_CASE("gguf malformed: unknown and retired tensor types") {
    for (uint32_t type : {4u, 5u, 31u, 36u, 38u, 40u, 1000u, 0xFFFFFFFFu}) {
        GgufWriter w = base_writer();
        std::vector<uint8_t> image = w.build();
        patch<uint32_t>(image, w.tensor_layout[kOutput].type, type);
        expect_error(image, INFER_ERR_GGUF_BAD_TENSOR_TYPE, "'output.weight'");
    }
}

TEST_CASE("gguf malformed: bad ranks and dimensions") {
    for (uint32_t rank : {0u, 5u, 0xFFFFFFFFu}) {
        GgufWriter w = base_writer();
        std::vector<uint8_t> image = w.build();
        patch<uint32_t>(image, w.tensor_layout[kAttnQ].rank, rank);
        expect_error(image, INFER_ERR_GGUF_BAD_SHAPE, "'blk.0.attn_q.weight'");
    }
    {
        GgufWriter w = base_writer();
        std::vector<uint8_t> image = w.build();
        patch<uint64_t>(image, w.tensor_layout[kOutput].dims + 8, 0);
        expect_error(image, INFER_ERR_GGUF_BAD_SHAPE, "dimension 1 is 0");
    }
    // Element counts: 2^32 * 2^32 overflows; 2^32 * 2^31 = 2^63 exceeds INT64_MAX.
    for (uint64_t dim1 : {uint64_t{1} << 32, uint64_t{1} << 31}) {
        GgufWriter w;
        w.tensor("big", TypeId::F32, {4, 1});
        std::vector<uint8_t> image = w.build();
        patch<uint64_t>(image, w.tensor_layout[0].dims, uint64_t{1} << 32);
        patch<uint64_t>(image, w.tensor_layout[0].dims + 8, dim1);
        expect_error(image, INFER_ERR_GGUF_BAD_SHAPE, "'big'");
    }
    {
        // 2^62 elements fit int64, but 8 bytes each do not fit 2^64.
        GgufWriter w;
        w.tensor("wide", TypeId::F64, {1, 1});
        std::vector<uint8_t> image = w.build();
        patch<uint64_t>(image, w.tensor_layout[0].dims, uint64_t{1} << 31);
        patch<uint64_t>(image, w.tensor_layout[0].dims + 8, uint64_t{1} << 31);
        expect_error(image, INFER_ERR_GGUF_BAD_SHAPE, "'wide'");
    }
    {
        GgufWriter w = base_writer();
        std::vector<uint8_t> image = w.build();
        patch<uint64_t>(image, w.tensor_layout[kAttnQ].dims, 48); // 1.5 Q4_0 blocks
        expect_error(image, INFER_ERR_GGUF_BAD_SHAPE, "Q4_0");
    }
}

TEST_CASE("gguf malformed: general.alignment values") {
    const GgufValue bad[] = {GgufValue::u32(0), GgufValue::u32(3), GgufValue::u32(48), GgufValue::u64(32),
                             GgufValue::i32(32), GgufValue::str("32")};
    for (const GgufValue &value : bad) {
        GgufWriter w = base_writer();
        w.kv("general.alignment", value);
        expect_error(w.build(), INFER_ERR_GGUF_BAD_ALIGNMENT, "'general.alignment'");
    }
}

TEST_CASE("gguf malformed: misaligned tensor offsets") {
    GgufWriter w = base_writer();
    std::vector<uint8_t> image = w.build();
    patch<uint64_t>(image, w.tensor_layout[kOutput].offset, w.tensor_offsets[kOutput] + 16);
    expect_error(image, INFER_ERR_GGUF_BAD_ALIGNMENT, "'output.weight'");

    // Aligned to the default 32 but not to a declared 64.
    GgufWriter a;
    a.kv("general.alignment", GgufValue::u32(64));
    a.data_alignment = 64;
    a.tensor("x", TypeId::F32, {8});
    a.tensor("y", TypeId::F32, {8}, 96);
    expect_error(a.build(), INFER_ERR_GGUF_BAD_ALIGNMENT, "'y'");
}

TEST_CASE("gguf malformed: tensor data past the end of the file") {
    GgufWriter w = base_writer();
    std::vector<uint8_t> image = w.build();
    const uint64_t offset = 1 << 20;
    patch<uint64_t>(image, w.tensor_layout[kAttnQ].offset, offset);
    const uint64_t begin = w.data_offset + offset;
    const std::string message = "tensor 'blk.0.attn_q.weight' at byte " +
                                std::to_string(w.tensor_layout[kAttnQ].offset) +
                                ": data [" + std::to_string(begin) + ", " + std::to_string(begin + 72) +
                                ") ends past the file end (" + std::to_string(image.size()) + " bytes)";
    const infer::Status st = parse(image);
    CHECK(st.code() == INFER_ERR_GGUF_OUT_OF_BOUNDS);
    CHECK(st.message() == message);

    image = w.build();
    patch<uint64_t>(image, w.tensor_layout[kOutput].offset, kHuge - 31); // multiple of 32; sum overflows
    expect_error(image, INFER_ERR_GGUF_OUT_OF_BOUNDS, "'output.weight'");

    // Shape fits int64 but not the file.
    image = w.build();
    patch<uint64_t>(image, w.tensor_layout[kOutput].dims, uint64_t{1} << 20);
    patch<uint64_t>(image, w.tensor_layout[kOutput].dims + 8, uint64_t{1} << 20);
    expect_error(image, INFER_ERR_GGUF_OUT_OF_BOUNDS, "'output.weight'");
}

TEST_CASE("gguf malformed: overlapping tensors") {
    GgufWriter same;
    same.tensor("a", TypeId::F32, {8});
    same.tensor("b", TypeId::F32, {8}, 0);
    expect_error(same.build(), INFER_ERR_GGUF_OVERLAP, "'a'");

    // Listed out of offset order: c [0, 64) contains d [32, 64).
    GgufWriter partial;
    partial.tensor("d", TypeId::F32, {8}, 32);
    partial.tensor("c", TypeId::F32, {16}, 0);
    const infer::Status st = parse(partial.build());
    CHECK(st.code() == INFER_ERR_GGUF_OVERLAP);
    CHECK(st.message().find("'d'") != std::string::npos);
    CHECK(st.message().find("'c'") != std::string::npos);
}

TEST_CASE("gguf malformed: null output pointer") {
    GgufWriter w = base_writer();
    const std::vector<uint8_t> image = w.build();
    CHECK(File::parse(image, {}, nullptr).code() == INFER_ERR_INVALID_ARGUMENT);
}
