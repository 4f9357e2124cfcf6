// GGUF reader on malformed and hostile images: each case patches one field of a valid image (or
// cuts it short) and asserts the exact status and that the message names the key or tensor. The
// images come from the GGUF writer, whose layout() says where every field lies.
#include "gguf_image.h"

#include <doctest/doctest.h>

#include <string>

using infer::TypeId;
using infer::gguf::File;
using infer::gguf::Layout;
using infer::gguf::ValueType;
using infer::gguf::MetaValue;
using infer::gguf::Writer;
using infer::test::build_image;
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

// The status a parse of the first `prefix` bytes of a valid image must give, by the rule in
// gguf.h: a field cut short is TRUNCATED; a length or count whose promise runs past the prefix is
// LIMIT when even the whole image could not hold it, else TRUNCATED; a whole header whose tensor
// data is cut is OUT_OF_BOUNDS.
infer_status expected_prefix_status(const Layout &layout, uint64_t image_size, uint64_t prefix) {
    for (const Layout::Field &field : layout.fields) {
        if (field.end > prefix) return INFER_ERR_GGUF_TRUNCATED;
        if (field.end + field.need > prefix)
            return field.need > prefix ? INFER_ERR_GGUF_LIMIT : INFER_ERR_GGUF_TRUNCATED;
    }
    return prefix < image_size && !layout.tensors.empty() ? INFER_ERR_GGUF_OUT_OF_BOUNDS : INFER_OK;
}

// A small file with a bit of everything; kv/tensor indices below refer to this order.
enum { kArch, kFlag, kList, kNames, kNested, kLongText, kKvCount };
enum { kAttnQ, kOutput, kTensorCount };

Writer base_writer() {
    Writer w;
    w.add("general.architecture", MetaValue::str("llama"));
    w.add("flag", MetaValue::boolean(true));
    w.add("list", MetaValue::array(ValueType::U32, {MetaValue::u32(1), MetaValue::u32(2), MetaValue::u32(3)}));
    w.add("names", MetaValue::array(ValueType::STRING, {MetaValue::str("a"), MetaValue::str("bb")}));
    w.add("nested", MetaValue::array(ValueType::ARRAY, {MetaValue::array(ValueType::I8, {MetaValue::i8(1)})}));
    w.add("long.text", MetaValue::str(std::string(100, 'x')));
    w.add_tensor("blk.0.attn_q.weight", TypeId::Q4_0, {64, 2});
    w.add_tensor("output.weight", TypeId::F32, {4, 4});
    return w;
}

} // namespace

TEST_CASE("gguf malformed: every prefix of a valid file fails with the predicted status") {
    Writer w = base_writer();
    const std::vector<uint8_t> image = build_image(w);
    REQUIRE(parse(image).is_ok());
    int seen_truncated = 0, seen_limit = 0, seen_bounds = 0;
    for (size_t prefix = 0; prefix < image.size(); ++prefix) {
        const std::vector<uint8_t> cut(image.begin(), image.begin() + static_cast<std::ptrdiff_t>(prefix));
        const infer_status expected = expected_prefix_status(w.layout(), image.size(), prefix);
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
    const uint64_t header_end = w.layout().header_end;
    CHECK(expected_prefix_status(w.layout(), image.size(), header_end - 1) == INFER_ERR_GGUF_TRUNCATED);
    CHECK(expected_prefix_status(w.layout(), image.size(), header_end) == INFER_ERR_GGUF_OUT_OF_BOUNDS);
}

TEST_CASE("gguf malformed: a truncated string or array names its key") {
    // One KV each, so the header's counts fit and the cut lands inside the value.
    Writer text;
    text.add("long.text", MetaValue::str(std::string(100, 'x')));
    std::vector<uint8_t> image = build_image(text);
    image.resize(text.layout().kvs[0].value + 8 + 50);
    expect_error(image, INFER_ERR_GGUF_TRUNCATED, "'long.text'");

    Writer list;
    list.add("list", MetaValue::array(ValueType::U32, {MetaValue::u32(1), MetaValue::u32(2), MetaValue::u32(3)}));
    image = build_image(list);
    image.resize(list.layout().kvs[0].value + 12 + 4);
    expect_error(image, INFER_ERR_GGUF_TRUNCATED, "'list'");
}

TEST_CASE("gguf malformed: bad magic") {
    Writer w = base_writer();
    std::vector<uint8_t> image = build_image(w);
    image[3] = 'X';
    expect_error(image, INFER_ERR_GGUF_BAD_MAGIC, "not a GGUF file");
    expect_error({'G', 'X'}, INFER_ERR_GGUF_BAD_MAGIC);
    expect_error({}, INFER_ERR_GGUF_TRUNCATED);
    expect_error({'G', 'G', 'U'}, INFER_ERR_GGUF_TRUNCATED);
}

TEST_CASE("gguf malformed: unsupported versions and big-endian files") {
    Writer w = base_writer();
    const std::vector<uint8_t> valid = build_image(w);
    for (uint32_t version : {0u, 1u, 4u, 0xFFFFFFFFu}) {
        std::vector<uint8_t> image = valid;
        patch<uint32_t>(image, 4, version);
        expect_error(image, INFER_ERR_GGUF_BAD_VERSION, "version " + std::to_string(version));
    }
    for (uint32_t version : {2u, 3u}) {
        std::vector<uint8_t> image = valid;
        patch<uint32_t>(image, 4, __builtin_bswap32(version));
        expect_error(image, INFER_ERR_GGUF_BAD_VERSION, "big-endian");
    }
}

TEST_CASE("gguf malformed: absurd header counts") {
    for (uint64_t count : {kHuge, uint64_t{1} << 40, uint64_t{1} << 31, uint64_t{1000}}) {
        Writer w = base_writer();
        const std::vector<uint8_t> valid = build_image(w);
        std::vector<uint8_t> image = valid;
        patch<uint64_t>(image, 16, count); // KV count
        expect_error(image, INFER_ERR_GGUF_LIMIT, "count");
        image = valid;
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
        Writer w = base_writer();
        std::vector<uint8_t> image = build_image(w);
        patch<uint64_t>(image, w.layout().kvs[c.kv].value + c.field, c.value);
        expect_error(image, INFER_ERR_GGUF_LIMIT, c.key);
    }
}

TEST_CASE("gguf malformed: key length limits") {
    for (uint64_t length : {kHuge, infer::gguf::kMaxKeyLength + 1}) {
        Writer w = base_writer();
        std::vector<uint8_t> image = build_image(w);
        patch<uint64_t>(image, w.layout().kvs[kFlag].key, length);
        expect_error(image, INFER_ERR_GGUF_LIMIT, "KV #1");
    }
    Writer w = base_writer();
    std::vector<uint8_t> image = build_image(w);
    patch<uint64_t>(image, w.layout().tensors[kOutput].name, kHuge);
    expect_error(image, INFER_ERR_GGUF_LIMIT, "tensor info #1");
}

TEST_CASE("gguf malformed: arrays nested too deep") {
    MetaValue chain = MetaValue::array(ValueType::U8, {MetaValue::u8(1)});
    for (uint32_t level = 1; level <= infer::gguf::kMaxArrayNesting; ++level) {
        chain = MetaValue::array(ValueType::ARRAY, {chain});
    }
    Writer w;
    w.add("too.deep", chain);
    expect_error(build_image(w), INFER_ERR_GGUF_LIMIT, "'too.deep'");
}

TEST_CASE("gguf malformed: unknown value types") {
    for (uint32_t type : {13u, 100u, 0xFFFFFFFFu}) {
        Writer w = base_writer();
        const std::vector<uint8_t> valid = build_image(w);
        std::vector<uint8_t> image = valid;
        patch<uint32_t>(image, w.layout().kvs[kFlag].type, type);
        expect_error(image, INFER_ERR_GGUF_BAD_VALUE_TYPE, "'flag'");
        image = valid;
        patch<uint32_t>(image, w.layout().kvs[kList].value, type); // element type
        expect_error(image, INFER_ERR_GGUF_BAD_VALUE_TYPE, "'list'");
        image = valid;
        patch<uint32_t>(image, w.layout().kvs[kNested].value + 12, type); // inner element type
        expect_error(image, INFER_ERR_GGUF_BAD_VALUE_TYPE, "'nested'");
    }
}

TEST_CASE("gguf malformed: bool values other than 0 and 1") {
    Writer w = base_writer();
    std::vector<uint8_t> image = build_image(w);
    image[w.layout().kvs[kFlag].value] = 2;
    expect_error(image, INFER_ERR_GGUF_BAD_VALUE_TYPE, "'flag'");

    Writer arr;
    arr.add("bools", MetaValue::array(ValueType::BOOL, {MetaValue::boolean(false), MetaValue::boolean(true)}));
    image = build_image(arr);
    image[arr.layout().kvs[0].value + 12 + 1] = 0xFF;
    expect_error(image, INFER_ERR_GGUF_BAD_VALUE_TYPE, "'bools'");
}

TEST_CASE("gguf malformed: empty and non-UTF-8 keys and names") {
    const char *bad_names[] = {"", "\xff", "a\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "ab\xe2\x82"};
    for (const char *name : bad_names) {
        Writer w = base_writer();
        w.add(name, MetaValue::u8(0));
        expect_error(build_image(w), INFER_ERR_GGUF_BAD_STRING, "KV #6");
        Writer t = base_writer();
        t.add_tensor(name, TypeId::F32, {1});
        expect_error(build_image(t), INFER_ERR_GGUF_BAD_STRING, "tensor info #2");
    }
    Writer ok = base_writer();
    ok.add("ключ.日本.😀", MetaValue::u8(0)); // valid multi-byte UTF-8 is fine
    CHECK(parse(build_image(ok)).is_ok());
}

TEST_CASE("gguf malformed: duplicate keys and tensor names") {
    // The writer refuses duplicates: a last key or name one letter off is patched into one.
    Writer w = base_writer();
    w.add("flaG", MetaValue::u8(3));
    std::vector<uint8_t> image = build_image(w);
    image[w.layout().kvs[kKvCount].key + 8 + 3] = 'g';
    expect_error(image, INFER_ERR_GGUF_DUPLICATE, "'flag'");

    Writer t = base_writer();
    t.add_tensor("output.weighT", TypeId::F32, {4});
    image = build_image(t);
    image[t.layout().tensors[kTensorCount].name + 8 + 12] = 't';
    expect_error(image, INFER_ERR_GGUF_DUPLICATE, "'output.weight'");
}

TEST_CASE("gguf malformed: unknown and retired tensor types") {
    for (uint32_t type : {4u, 5u, 31u, 36u, 38u, 40u, 1000u, 0xFFFFFFFFu}) {
        Writer w = base_writer();
        std::vector<uint8_t> image = build_image(w);
        patch<uint32_t>(image, w.layout().tensors[kOutput].type, type);
        expect_error(image, INFER_ERR_GGUF_BAD_TENSOR_TYPE, "'output.weight'");
    }
}

TEST_CASE("gguf malformed: bad ranks and dimensions") {
    for (uint32_t rank : {0u, 5u, 0xFFFFFFFFu}) {
        Writer w = base_writer();
        std::vector<uint8_t> image = build_image(w);
        patch<uint32_t>(image, w.layout().tensors[kAttnQ].rank, rank);
        expect_error(image, INFER_ERR_GGUF_BAD_SHAPE, "'blk.0.attn_q.weight'");
    }
    {
        Writer w = base_writer();
        std::vector<uint8_t> image = build_image(w);
        patch<uint64_t>(image, w.layout().tensors[kOutput].dims + 8, 0);
        expect_error(image, INFER_ERR_GGUF_BAD_SHAPE, "dimension 1 is 0");
    }
    // Element counts: 2^32 * 2^32 overflows; 2^32 * 2^31 = 2^63 exceeds INT64_MAX.
    for (uint64_t dim1 : {uint64_t{1} << 32, uint64_t{1} << 31}) {
        Writer w;
        w.add_tensor("big", TypeId::F32, {4, 1});
        std::vector<uint8_t> image = build_image(w);
        patch<uint64_t>(image, w.layout().tensors[0].dims, uint64_t{1} << 32);
        patch<uint64_t>(image, w.layout().tensors[0].dims + 8, dim1);
        expect_error(image, INFER_ERR_GGUF_BAD_SHAPE, "'big'");
    }
    {
        // 2^62 elements fit int64, but 8 bytes each do not fit 2^64.
        Writer w;
        w.add_tensor("wide", TypeId::F64, {1, 1});
        std::vector<uint8_t> image = build_image(w);
        patch<uint64_t>(image, w.layout().tensors[0].dims, uint64_t{1} << 31);
        patch<uint64_t>(image, w.layout().tensors[0].dims + 8, uint64_t{1} << 31);
        expect_error(image, INFER_ERR_GGUF_BAD_SHAPE, "'wide'");
    }
    {
        Writer w = base_writer();
        std::vector<uint8_t> image = build_image(w);
        patch<uint64_t>(image, w.layout().tensors[kAttnQ].dims, 48); // 1.5 Q4_0 blocks
        expect_error(image, INFER_ERR_GGUF_BAD_SHAPE, "Q4_0");
    }
}

TEST_CASE("gguf malformed: general.alignment values") {
    const MetaValue bad[] = {MetaValue::u32(0), MetaValue::u32(3), MetaValue::u32(48), MetaValue::u64(32),
                             MetaValue::i32(32), MetaValue::str("32")};
    for (const MetaValue &value : bad) {
        Writer w = base_writer();
        w.add("general.alignment", value);
        expect_error(build_image(w), INFER_ERR_GGUF_BAD_ALIGNMENT, "'general.alignment'");
    }
}

TEST_CASE("gguf malformed: misaligned tensor offsets") {
    Writer w = base_writer();
    std::vector<uint8_t> image = build_image(w);
    patch<uint64_t>(image, w.layout().tensors[kOutput].offset, w.layout().tensors[kOutput].data + 16);
    expect_error(image, INFER_ERR_GGUF_BAD_ALIGNMENT, "'output.weight'");

    // Aligned to the default 32 but not to a declared 64.
    Writer a;
    a.set_alignment(64);
    a.add_tensor("x", TypeId::F32, {8});
    a.add_tensor("y", TypeId::F32, {8});
    image = build_image(a);
    patch<uint64_t>(image, a.layout().tensors[1].offset, 96);
    expect_error(image, INFER_ERR_GGUF_BAD_ALIGNMENT, "'y'");
}

TEST_CASE("gguf malformed: tensor data past the end of the file") {
    Writer w = base_writer();
    const std::vector<uint8_t> valid = build_image(w);
    std::vector<uint8_t> image = valid;
    const uint64_t offset = 1 << 20;
    patch<uint64_t>(image, w.layout().tensors[kAttnQ].offset, offset);
    const uint64_t begin = w.layout().data_start + offset;
    const std::string message = "tensor 'blk.0.attn_q.weight' at byte " +
                                std::to_string(w.layout().tensors[kAttnQ].offset) +
                                ": data [" + std::to_string(begin) + ", " + std::to_string(begin + 72) +
                                ") ends past the file end (" + std::to_string(image.size()) + " bytes)";
    const infer::Status st = parse(image);
    CHECK(st.code() == INFER_ERR_GGUF_OUT_OF_BOUNDS);
    CHECK(st.message() == message);

    image = valid;
    patch<uint64_t>(image, w.layout().tensors[kOutput].offset, kHuge - 31); // multiple of 32; sum overflows
    expect_error(image, INFER_ERR_GGUF_OUT_OF_BOUNDS, "'output.weight'");

    // Shape fits int64 but not the file.
    image = valid;
    patch<uint64_t>(image, w.layout().tensors[kOutput].dims, uint64_t{1} << 20);
    patch<uint64_t>(image, w.layout().tensors[kOutput].dims + 8, uint64_t{1} << 20);
    expect_error(image, INFER_ERR_GGUF_OUT_OF_BOUNDS, "'output.weight'");
}

TEST_CASE("gguf malformed: overlapping tensors") {
    // b moved onto a.
    Writer same;
    same.add_tensor("a", TypeId::F32, {8});
    same.add_tensor("b", TypeId::F32, {8});
    std::vector<uint8_t> image = build_image(same);
    patch<uint64_t>(image, same.layout().tensors[1].offset, 0);
    expect_error(image, INFER_ERR_GGUF_OVERLAP, "'a'");

    // Listed out of offset order: c [0, 64) contains d [32, 64).
    Writer partial;
    partial.add_tensor("d", TypeId::F32, {8});
    partial.add_tensor("c", TypeId::F32, {16});
    image = build_image(partial);
    patch<uint64_t>(image, partial.layout().tensors[0].offset, 32);
    patch<uint64_t>(image, partial.layout().tensors[1].offset, 0);
    const infer::Status st = parse(image);
    CHECK(st.code() == INFER_ERR_GGUF_OVERLAP);
    CHECK(st.message().find("'d'") != std::string::npos);
    CHECK(st.message().find("'c'") != std::string::npos);
}

TEST_CASE("gguf malformed: null output pointer") {
    Writer w = base_writer();
    const std::vector<uint8_t> image = build_image(w);
    CHECK(File::parse(image, {}, nullptr).code() == INFER_ERR_INVALID_ARGUMENT);
}
