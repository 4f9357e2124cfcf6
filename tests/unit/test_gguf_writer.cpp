// The streaming GGUF writer, read back with the library's parser: every metadata type, arrays of
// scalars and strings, tensors of several types and shapes, data in odd-sized pieces, alignment
// (default and custom), the same bytes in memory and in a file, the layout it records, and the
// errors it reports.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "gguf/gguf.h"
#include "tooling/gguf_writer.h"

using namespace infer;
using infer::gguf::ValueType;

namespace {

// Writes through a tmpfile() and reads the whole image back (the file path of infer-synth).
std::vector<uint8_t> write_to_memory(gguf::Writer &w, const std::vector<std::vector<uint8_t>> &data,
                                     size_t piece) {
    FILE *f = std::tmpfile();
    REQUIRE(f);
    REQUIRE(w.begin(f).is_ok());
    for (const auto &d : data)
        for (size_t i = 0; i < d.size(); i += piece)
            REQUIRE(w.write_data(d.data() + i, std::min(piece, d.size() - i)).is_ok());
    const Status s = w.finish();
    REQUIRE_MESSAGE(s.is_ok(), s.message());
    std::vector<uint8_t> image(static_cast<size_t>(std::ftell(f)));
    std::rewind(f);
    REQUIRE(std::fread(image.data(), 1, image.size(), f) == image.size());
    std::fclose(f);
    return image;
}

template <class T> T read_at(const std::vector<uint8_t> &image, uint64_t pos) {
    T v;
    std::memcpy(&v, image.data() + pos, sizeof v);
    return v;
}

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i)
        v[i] = static_cast<uint8_t>(seed + i * 7);
    return v;
}

} // namespace

TEST_CASE("gguf writer: round trip of every value type, tensors and alignment") {
    for (uint32_t alignment : {0u, 64u}) { // 0: the default (32), no general.alignment key
        CAPTURE(alignment);
        gguf::Writer w;
        w.add_u8("t.u8", 200);
        w.add_i8("t.i8", -100);
        w.add_u16("t.u16", 60000);
        w.add_i16("t.i16", -30000);
        w.add_u32("t.u32", 4000000000u);
        w.add_i32("t.i32", -2000000000);
        w.add_u64("t.u64", 1ull << 40);
        w.add_i64("t.i64", -(1ll << 40));
        w.add_f32("t.f32", 1.5f);
        w.add_f64("t.f64", -2.25);
        w.add_bool("t.bool", true);
        w.add_string("t.str", "h\xc3\xa9llo");
        const int32_t ints[] = {1, -2, 3};
        w.add_array("t.arr_i32", ValueType::I32, ints, 3);
        const float floats[] = {0.5f, -1.0f};
        w.add_array("t.arr_f32", ValueType::F32, floats, 2);
        w.add_array("t.arr_empty", ValueType::U8, nullptr, 0);
        const std::vector<std::string> strs = {"a", "", "\xe2\x96\x81z"};
        w.add_string_array("t.arr_str", strs);
        if (alignment) w.set_alignment(alignment);

        // F32 [3] (12 bytes: forces padding), Q8_0 [64, 2], F16 [5, 1, 3].
        w.add_tensor("a", 0, {3});
        w.add_tensor("b", 8, {64, 2});
        w.add_tensor("c", 1, {5, 1, 3});
        const std::vector<std::vector<uint8_t>> data = {pattern(12, 1), pattern(136, 2),
                                                        pattern(30, 3)};
        const std::vector<uint8_t> image = write_to_memory(w, data, 7);
        CHECK(image.size() == w.file_size());

        std::unique_ptr<gguf::File> file;
        const Status s = gguf::File::parse(image, nullptr, &file);
        REQUIRE_MESSAGE(s.is_ok(), s.message());
        CHECK(file->version() == 3);
        CHECK(file->alignment() == (alignment ? alignment : 32));
        CHECK(file->data_offset() % file->alignment() == 0);
        int64_t i = 0;
        double d = 0;
        std::string_view sv;
        REQUIRE(file->find("t.u8")->get_int(&i));
        CHECK(i == 200);
        CHECK(file->find("t.u8")->type() == ValueType::U8);
        REQUIRE(file->find("t.i8")->get_int(&i));
        CHECK(i == -100);
        REQUIRE(file->find("t.u16")->get_int(&i));
        CHECK(i == 60000);
        REQUIRE(file->find("t.i16")->get_int(&i));
        CHECK(i == -30000);
        REQUIRE(file->find("t.u32")->get_int(&i));
        CHECK(i == 4000000000ll);
        REQUIRE(file->find("t.i32")->get_int(&i));
        CHECK(i == -2000000000);
        REQUIRE(file->find("t.u64")->get_int(&i));
        CHECK(i == (1ll << 40));
        REQUIRE(file->find("t.i64")->get_int(&i));
        CHECK(i == -(1ll << 40));
        REQUIRE(file->find("t.f32")->get_float(&d));
        CHECK(d == 1.5);
        CHECK(file->find("t.f32")->type() == ValueType::F32);
        REQUIRE(file->find("t.f64")->get_float(&d));
        CHECK(d == -2.25);
        CHECK(file->find("t.f64")->type() == ValueType::F64);
        REQUIRE(file->find("t.bool")->get_int(&i));
        CHECK(i == 1);
        CHECK(file->find("t.bool")->type() == ValueType::BOOL);
        REQUIRE(file->find("t.str")->get_string(&sv));
        CHECK(sv == "h\xc3\xa9llo");
        const gguf::Value *a = file->find("t.arr_i32");
        REQUIRE(a);
        CHECK(a->elem_type() == ValueType::I32);
        REQUIRE(a->array_size() == 3);
        REQUIRE(a->array_int(1, &i));
        CHECK(i == -2);
        a = file->find("t.arr_f32");
        REQUIRE(a->array_float(0, &d));
        CHECK(d == 0.5);
        CHECK(file->find("t.arr_empty")->array_size() == 0);
        a = file->find("t.arr_str");
        REQUIRE(a->array_size() == 3);
        REQUIRE(a->array_string(1, &sv));
        CHECK(sv.empty());
        REQUIRE(a->array_string(2, &sv));
        CHECK(sv == "\xe2\x96\x81z");

        const char *names[] = {"a", "b", "c"};
        for (size_t t = 0; t < 3; ++t) {
            const gguf::TensorInfo *ti = file->find_tensor(names[t]);
            REQUIRE(ti);
            CHECK(ti->offset % file->alignment() == 0);
            REQUIRE(ti->n_bytes == data[t].size());
            CHECK(std::vector<uint8_t>(file->tensor_data(*ti),
                                       file->tensor_data(*ti) + ti->n_bytes) == data[t]);
        }
        const gguf::TensorInfo *c = file->find_tensor("c");
        CHECK(c->n_dims == 3);
        CHECK(c->dims[0] == 5);
        CHECK(c->dims[2] == 3);
        CHECK(c->type == 1);
    }
}

TEST_CASE("gguf writer: data written in any piece size gives the same file") {
    std::vector<std::vector<uint8_t>> images;
    for (size_t piece : {size_t{1}, size_t{5}, size_t{1000}}) {
        gguf::Writer w;
        w.add_string("general.architecture", "x");
        w.add_tensor("p", 0, {7});
        w.add_tensor("q", 2, {32, 3});
        images.push_back(write_to_memory(w, {pattern(28, 9), pattern(54, 4)}, piece));
    }
    CHECK(images[0] == images[1]);
    CHECK(images[1] == images[2]);
}

TEST_CASE("gguf writer: reports declaration and streaming errors") {
    FILE *f = std::tmpfile();
    REQUIRE(f);
    // A partial Q4_K block, a zero dim, five dims, a retired type: begin() names the first.
    const std::vector<std::vector<uint64_t>> dims = {{100}, {0}, {1, 1, 1, 1, 1}, {32}};
    const uint32_t types[] = {12, 0, 0, 5};
    for (size_t i = 0; i < dims.size(); ++i) {
        gguf::Writer w;
        w.add_tensor("good", 0, {4});
        w.add_tensor("bad", types[i], dims[i]);
        w.add_tensor("worse", 12, {100});
        const Status s = w.begin(f);
        CHECK(s.code() == INFER_ERR_GGUF_BAD_SHAPE);
        CHECK(s.message().find("'bad'") != std::string::npos);
    }
    {
        gguf::Writer w;
        w.add_u32("k", 1);
        w.add_u32("k", 2);
        CHECK(w.begin(f).code() == INFER_ERR_GGUF_DUPLICATE);
    }
    {
        gguf::Writer w;
        w.add_tensor("t", 0, {4});
        w.add_tensor("t", 0, {4});
        CHECK(w.begin(f).code() == INFER_ERR_GGUF_DUPLICATE);
    }
    {
        gguf::Writer w;
        w.add_array("s", ValueType::STRING, nullptr, 0);
        CHECK(w.begin(f).code() == INFER_ERR_INVALID_ARGUMENT);
    }
    {
        gguf::Writer w;
        w.set_alignment(48);
        CHECK(w.begin(f).code() == INFER_ERR_GGUF_BAD_ALIGNMENT);
    }
    {
        gguf::Writer w;
        w.add_tensor("t", 0, {4});
        w.set_alignment(64); // the tensor was laid out for 32
        CHECK(w.begin(f).code() == INFER_ERR_GGUF_BAD_ALIGNMENT);
    }
    {
        gguf::Writer w;
        w.add_tensor("t", 0, {4});
        REQUIRE(w.begin(f).is_ok());
        const uint8_t bytes[20] = {};
        CHECK(w.write_data(bytes, 8).is_ok());
        CHECK(w.finish().code() == INFER_ERR_INVALID_ARGUMENT);              // 8 of 16 bytes
        CHECK(w.write_data(bytes, 20).code() == INFER_ERR_INVALID_ARGUMENT); // 12 too many
    }
    std::fclose(f);
    gguf::Writer w;
    CHECK(w.begin("/nonexistent-dir/x.gguf").code() == INFER_ERR_IO);
}

TEST_CASE("gguf writer: memory and file outputs agree, and the layout points at each field") {
    const auto declare = [](gguf::Writer &w) {
        w.add_string("k", "vv");
        w.add("n", gguf::MetaValue::array(ValueType::ARRAY,
                                          {gguf::MetaValue::array(ValueType::U16, {gguf::MetaValue::u16(5)})}));
        w.add_tensor("t", 0, {4});
    };
    gguf::Writer to_file;
    declare(to_file);
    const std::vector<uint8_t> from_file = write_to_memory(to_file, {pattern(16, 1)}, 16);

    gguf::Writer w;
    declare(w);
    std::vector<uint8_t> image;
    REQUIRE(w.begin(&image).is_ok());
    REQUIRE(w.write_data(pattern(16, 1).data(), 16).is_ok());
    REQUIRE(w.finish().is_ok());
    CHECK(image == from_file);
    CHECK(image.size() == w.file_size());

    const gguf::Layout &l = w.layout();
    REQUIRE(l.kvs.size() == 2);
    CHECK(l.kvs[0].key == 24); // right after magic, version and the two counts
    CHECK(read_at<uint64_t>(image, l.kvs[0].key) == 1);
    CHECK(read_at<uint32_t>(image, l.kvs[0].type) == static_cast<uint32_t>(ValueType::STRING));
    CHECK(read_at<uint64_t>(image, l.kvs[0].value) == 2);
    CHECK(read_at<uint32_t>(image, l.kvs[1].value) == static_cast<uint32_t>(ValueType::ARRAY));
    CHECK(read_at<uint32_t>(image, l.kvs[1].value + 12) == static_cast<uint32_t>(ValueType::U16));
    REQUIRE(l.tensors.size() == 1);
    CHECK(read_at<uint64_t>(image, l.tensors[0].name) == 1);
    CHECK(read_at<uint32_t>(image, l.tensors[0].rank) == 1);
    CHECK(read_at<uint64_t>(image, l.tensors[0].dims) == 4);
    CHECK(read_at<uint32_t>(image, l.tensors[0].type) == 0);
    CHECK(read_at<uint64_t>(image, l.tensors[0].offset) == 0);
    CHECK(l.tensors[0].bytes == 16);
    CHECK(l.data_start == (l.header_end + 31) / 32 * 32);
    // Fields in file order, the last one ending the header; the first key's length promises its
    // one byte.
    REQUIRE(!l.fields.empty());
    for (size_t i = 1; i < l.fields.size(); ++i)
        CHECK(l.fields[i].end > l.fields[i - 1].end);
    CHECK(l.fields.back().end == l.header_end);
    CHECK(l.fields[4].end == l.kvs[0].key + 8); // after the header's four fields
    CHECK(l.fields[4].need == 1);
}
