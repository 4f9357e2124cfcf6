// GGUF reader on well-formed images: every value type, nested arrays, versions, alignment,
// tensors, lookups, getter conversions and progress reporting.
#include "gguf_image.h"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>

using infer::TypeId;
using infer::gguf::File;
using infer::gguf::Value;
using infer::gguf::ValueType;
using infer::gguf::MetaValue;
using infer::gguf::Writer;
using infer::test::build_image;

namespace {

std::unique_ptr<File> parse_ok(const std::vector<uint8_t> &image, const infer::gguf::ProgressFn &progress = {}) {
    std::unique_ptr<File> file;
    const infer::Status st = File::parse(image, progress, &file);
    INFO(st.message());
    REQUIRE(st.code() == INFER_OK);
    REQUIRE(file != nullptr);
    return file;
}

int64_t int_of(const File &f, const char *key) {
    const Value *v = f.find(key);
    REQUIRE(v != nullptr);
    int64_t out = 0;
    REQUIRE(v->get_int(&out));
    return out;
}

double float_of(const File &f, const char *key) {
    const Value *v = f.find(key);
    REQUIRE(v != nullptr);
    double out = 0;
    REQUIRE(v->get_float(&out));
    return out;
}

} // namespace

TEST_CASE("gguf: every scalar type decodes and converts") {
    Writer w;
    w.add("u8", MetaValue::u8(200));
    w.add("i8", MetaValue::i8(-100));
    w.add("u16", MetaValue::u16(60000));
    w.add("i16", MetaValue::i16(-30000));
    w.add("u32", MetaValue::u32(4000000000u));
    w.add("i32", MetaValue::i32(-2000000000));
    w.add("u64", MetaValue::u64(uint64_t{1} << 62));
    w.add("u64.big", MetaValue::u64(~uint64_t{0}));
    w.add("i64", MetaValue::i64(INT64_MIN));
    w.add("f32", MetaValue::f32(1.5f));
    w.add("f64", MetaValue::f64(-2.25e300));
    w.add("bool.t", MetaValue::boolean(true));
    w.add("bool.f", MetaValue::boolean(false));
    w.add("str", MetaValue::str("héllo"));
    w.add("str.empty", MetaValue::str(""));
    const std::vector<uint8_t> image = build_image(w);
    const auto file = parse_ok(image);

    CHECK(file->version() == 3);
    CHECK(file->metadata().size() == 15);
    CHECK(file->tensors().empty());
    CHECK(int_of(*file, "u8") == 200);
    CHECK(int_of(*file, "i8") == -100);
    CHECK(int_of(*file, "u16") == 60000);
    CHECK(int_of(*file, "i16") == -30000);
    CHECK(int_of(*file, "u32") == 4000000000LL);
    CHECK(int_of(*file, "i32") == -2000000000LL);
    CHECK(int_of(*file, "u64") == (int64_t{1} << 62));
    CHECK(int_of(*file, "i64") == INT64_MIN);
    CHECK(int_of(*file, "bool.t") == 1);
    CHECK(int_of(*file, "bool.f") == 0);
    CHECK(float_of(*file, "u8") == 200.0);
    CHECK(float_of(*file, "i8") == -100.0);
    CHECK(float_of(*file, "f32") == 1.5);
    CHECK(float_of(*file, "f64") == -2.25e300);
    CHECK(float_of(*file, "u64.big") == std::ldexp(1.0, 64));
    CHECK(file->find("f32")->type() == ValueType::F32);
    CHECK(file->find("bool.t")->type() == ValueType::BOOL);

    int64_t i = 0;
    double d = 0;
    std::string_view s;
    CHECK_FALSE(file->find("u64.big")->get_int(&i)); // above INT64_MAX
    CHECK_FALSE(file->find("f32")->get_int(&i));
    CHECK_FALSE(file->find("str")->get_int(&i));
    CHECK_FALSE(file->find("str")->get_float(&d));
    CHECK_FALSE(file->find("bool.t")->get_float(&d));
    CHECK_FALSE(file->find("u8")->get_string(&s));
    REQUIRE(file->find("str")->get_string(&s));
    CHECK(s == "héllo");
    REQUIRE(file->find("str.empty")->get_string(&s));
    CHECK(s.empty());
    CHECK(file->find("absent") == nullptr);
    CHECK(file->find("") == nullptr);
    CHECK(file->find("u6") == nullptr);
}

TEST_CASE("gguf: arrays of every element type") {
    Writer w;
    w.add("a.u8", MetaValue::array(ValueType::U8, {MetaValue::u8(1), MetaValue::u8(255)}));
    w.add("a.i8", MetaValue::array(ValueType::I8, {MetaValue::i8(-1), MetaValue::i8(127)}));
    w.add("a.u16", MetaValue::array(ValueType::U16, {MetaValue::u16(65535)}));
    w.add("a.i16", MetaValue::array(ValueType::I16, {MetaValue::i16(-32768)}));
    w.add("a.u32", MetaValue::array(ValueType::U32, {MetaValue::u32(7), MetaValue::u32(8), MetaValue::u32(9)}));
    w.add("a.i32", MetaValue::array(ValueType::I32, {MetaValue::i32(-5)}));
    w.add("a.u64", MetaValue::array(ValueType::U64, {MetaValue::u64(~uint64_t{0}), MetaValue::u64(3)}));
    w.add("a.i64", MetaValue::array(ValueType::I64, {MetaValue::i64(-7)}));
    w.add("a.f32", MetaValue::array(ValueType::F32, {MetaValue::f32(0.25f), MetaValue::f32(-8.0f)}));
    w.add("a.f64", MetaValue::array(ValueType::F64, {MetaValue::f64(1e-300)}));
    w.add("a.bool", MetaValue::array(ValueType::BOOL, {MetaValue::boolean(true), MetaValue::boolean(false)}));
    w.add("a.str",
         MetaValue::array(ValueType::STRING, {MetaValue::str("a"), MetaValue::str(""), MetaValue::str("xyz")}));
    w.add("a.empty", MetaValue::array(ValueType::U32, {}));
    const std::vector<uint8_t> image = build_image(w);
    const auto file = parse_ok(image);

    int64_t i = 0;
    double d = 0;
    std::string_view s;
    const Value *u8 = file->find("a.u8");
    REQUIRE(u8 != nullptr);
    CHECK(u8->type() == ValueType::ARRAY);
    CHECK(u8->elem_type() == ValueType::U8);
    CHECK(u8->array_size() == 2);
    CHECK((u8->array_int(1, &i) && i == 255));
    CHECK_FALSE(u8->array_int(2, &i));
    CHECK_FALSE(u8->get_int(&i)); // an array is not a scalar
    CHECK((file->find("a.i8")->array_int(0, &i) && i == -1));
    CHECK((file->find("a.u16")->array_int(0, &i) && i == 65535));
    CHECK((file->find("a.i16")->array_int(0, &i) && i == -32768));
    CHECK((file->find("a.u32")->array_int(2, &i) && i == 9));
    CHECK((file->find("a.i32")->array_float(0, &d) && d == -5.0));
    CHECK_FALSE(file->find("a.u64")->array_int(0, &i));
    CHECK((file->find("a.u64")->array_int(1, &i) && i == 3));
    CHECK((file->find("a.i64")->array_int(0, &i) && i == -7));
    CHECK((file->find("a.f32")->array_float(1, &d) && d == -8.0));
    CHECK_FALSE(file->find("a.f32")->array_int(1, &i));
    CHECK((file->find("a.f64")->array_float(0, &d) && d == 1e-300));
    CHECK((file->find("a.bool")->array_int(0, &i) && i == 1));
    CHECK_FALSE(file->find("a.bool")->array_float(0, &d));

    const Value *str = file->find("a.str");
    CHECK(str->array_size() == 3);
    CHECK((str->array_string(2, &s) && s == "xyz"));
    CHECK((str->array_string(1, &s) && s.empty()));
    CHECK_FALSE(str->array_string(3, &s));
    CHECK_FALSE(str->array_int(0, &i));
    CHECK_FALSE(file->find("a.u32")->array_string(0, &s));
    CHECK(file->find("a.u32")->array_nested(0) == nullptr);
    CHECK(file->find("a.empty")->array_size() == 0);
    CHECK_FALSE(file->find("a.empty")->array_int(0, &i));
}

TEST_CASE("gguf: nested arrays up to the nesting limit") {
    // [[1, 2], [], [3]] of u16, and a chain nested exactly kMaxArrayNesting deep.
    Writer w;
    w.add("nested", MetaValue::array(ValueType::ARRAY,
                                    {MetaValue::array(ValueType::U16, {MetaValue::u16(1), MetaValue::u16(2)}),
                                     MetaValue::array(ValueType::U16, {}),
                                     MetaValue::array(ValueType::U16, {MetaValue::u16(3)})}));
    w.add("nested.str", MetaValue::array(ValueType::ARRAY,
                                        {MetaValue::array(ValueType::STRING, {MetaValue::str("deep")})}));
    MetaValue chain = MetaValue::array(ValueType::I32, {MetaValue::i32(42)});
    for (uint32_t level = 1; level < infer::gguf::kMaxArrayNesting; ++level) {
        chain = MetaValue::array(ValueType::ARRAY, {chain});
    }
    w.add("chain", chain);
    const std::vector<uint8_t> image = build_image(w);
    const auto file = parse_ok(image);

    const Value *nested = file->find("nested");
    REQUIRE(nested != nullptr);
    CHECK(nested->elem_type() == ValueType::ARRAY);
    CHECK(nested->array_size() == 3);
    int64_t i = 0;
    CHECK_FALSE(nested->array_int(0, &i));
    CHECK(nested->array_nested(3) == nullptr);
    const Value *first = nested->array_nested(0);
    REQUIRE(first != nullptr);
    CHECK(first->type() == ValueType::ARRAY);
    CHECK((first->array_int(1, &i) && i == 2));
    CHECK(nested->array_nested(1)->array_size() == 0);
    CHECK((nested->array_nested(2)->array_int(0, &i) && i == 3));

    std::string_view s;
    CHECK((file->find("nested.str")->array_nested(0)->array_string(0, &s) && s == "deep"));

    const Value *v = file->find("chain");
    for (uint32_t level = 1; level < infer::gguf::kMaxArrayNesting; ++level) {
        REQUIRE(v != nullptr);
        v = v->array_nested(0);
    }
    REQUIRE(v != nullptr);
    CHECK((v->array_int(0, &i) && i == 42));
}

TEST_CASE("gguf: versions 2 and 3 parse alike") {
    for (uint32_t version : {2u, 3u}) {
        Writer w; // writes version 3; version 2 differs only in that field
        w.add("general.architecture", MetaValue::str("llama"));
        w.add_tensor("token_embd.weight", TypeId::F32, {8, 2});
        std::vector<uint8_t> image = build_image(w);
        infer::test::patch<uint32_t>(image, 4, version);
        const auto file = parse_ok(image);
        CHECK(file->version() == version);
        CHECK(file->tensors().size() == 1);
    }
}

TEST_CASE("gguf: tensors of several types with a custom alignment") {
    Writer w;
    w.set_alignment(64);
    w.add_tensor("a.f32", TypeId::F32, {3, 5});
    w.add_tensor("b.q4_0", TypeId::Q4_0, {64, 2});
    w.add_tensor("c.q4_k", TypeId::Q4_K, {256, 1, 2});
    w.add_tensor("d.f16", TypeId::F16, {7, 1, 1, 3});
    w.add_tensor("e.mxfp4", TypeId::MXFP4, {32});
    w.add_tensor("f.bf16", TypeId::BF16, {1});
    const std::vector<uint8_t> image = build_image(w);
    const auto file = parse_ok(image);

    CHECK(file->alignment() == 64);
    CHECK(file->data_offset() % 64 == 0);
    CHECK(file->data_offset() == w.layout().data_start);
    CHECK(file->data_offset() >= w.layout().header_end);
    CHECK(file->image().data() == image.data());
    REQUIRE(file->tensors().size() == 6);

    const uint64_t expect_bytes[6] = {60, 4 * 18, 2 * 144, 21 * 2, 17, 2};
    const uint64_t expect_elems[6] = {15, 128, 512, 21, 32, 1};
    for (size_t i = 0; i < 6; ++i) {
        const infer::gguf::TensorInfo &t = file->tensors()[i];
        CHECK(t.n_bytes == expect_bytes[i]);
        CHECK(t.n_elements == expect_elems[i]);
        CHECK(t.offset == w.layout().tensors[i].data);
        CHECK(t.offset % 64 == 0);
        CHECK(file->find_tensor(t.name) == &t);
        const uint8_t *data = file->tensor_data(t);
        CHECK(data == image.data() + w.layout().data_start + w.layout().tensors[i].data);
        CHECK(data[0] == static_cast<uint8_t>(i * 31));
        CHECK(data[t.n_bytes - 1] == static_cast<uint8_t>(i * 31 + t.n_bytes - 1));
    }
    const infer::gguf::TensorInfo *q4k = file->find_tensor("c.q4_k");
    REQUIRE(q4k != nullptr);
    CHECK(q4k->type == static_cast<uint32_t>(TypeId::Q4_K));
    CHECK(q4k->n_dims == 3);
    CHECK(q4k->dims[0] == 256);
    CHECK(q4k->dims[2] == 2);
    CHECK(q4k->dims[3] == 1);
    CHECK(file->find_tensor("c.q4") == nullptr);
    CHECK(file->find_tensor("z") == nullptr);
}

TEST_CASE("gguf: the default alignment is 32 and adjacent tensors may touch") {
    Writer w;
    w.add_tensor("x", TypeId::F32, {8});  // 32 bytes: the next tensor starts exactly where it ends
    w.add_tensor("y", TypeId::F32, {8});
    const std::vector<uint8_t> image = build_image(w);
    const auto file = parse_ok(image);
    CHECK(file->alignment() == 32);
    CHECK(file->tensors()[1].offset == 32);
}

TEST_CASE("gguf: a header-only file without padding parses") {
    Writer w;
    w.add("k", MetaValue::u8(1));
    std::vector<uint8_t> image = build_image(w);
    image.resize(w.layout().header_end); // no padding after the header
    const auto file = parse_ok(image);
    CHECK(file->metadata().size() == 1);
}

TEST_CASE("gguf: progress is reported and can cancel") {
    Writer w;
    w.add("k", MetaValue::u8(1));
    for (int i = 0; i < 40; ++i) w.add_tensor(std::to_string(i) + ".t", TypeId::F32, {8});
    const std::vector<uint8_t> image = build_image(w);

    std::vector<float> seen;
    parse_ok(image, [&seen](float p) {
        seen.push_back(p);
        return true;
    });
    REQUIRE(seen.size() >= 3);
    CHECK(seen.size() <= 20);
    CHECK(seen.back() == 1.0f);
    for (size_t i = 1; i < seen.size(); ++i) CHECK(seen[i] >= seen[i - 1]);

    for (size_t cancel_at = 0; cancel_at < seen.size(); ++cancel_at) {
        size_t calls = 0;
        std::unique_ptr<File> file;
        const infer::Status st = File::parse(image, [&](float) { return calls++ < cancel_at; }, &file);
        CHECK(st.code() == INFER_ERR_CANCELLED);
        CHECK(file == nullptr);
    }
}

TEST_CASE("gguf: an exception from the progress callback does not escape") {
    Writer w;
    w.add("k", MetaValue::u8(1));
    std::unique_ptr<File> file;
    const infer::Status st = File::parse(build_image(w), [](float) -> bool { throw std::bad_alloc(); }, &file);
    CHECK(st.code() == INFER_ERR_OUT_OF_MEMORY);
}
