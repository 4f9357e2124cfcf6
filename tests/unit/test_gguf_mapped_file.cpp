// MappedFile: I/O failures become INFER_ERR_IO naming the path; a real file maps and parses.
#include "gguf_writer.h"

#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

using infer::gguf::File;
using infer::gguf::MappedFile;

namespace {

// A unique path under the temp directory, removed when the scope ends.
struct TempPath {
    std::filesystem::path path;
    explicit TempPath(const char *tag)
        : path(std::filesystem::temp_directory_path() /
               ("infer-gguf-test-" + std::to_string(::getpid()) + "-" + tag)) {}
    ~TempPath() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

infer::Status open_file(const std::string &path, std::unique_ptr<MappedFile> *out) {
    return MappedFile::open(path.c_str(), out);
}

} // namespace

TEST_CASE("mapped file: missing path, directory and empty file are I/O errors") {
    std::unique_ptr<MappedFile> file;
    const TempPath missing("missing");
    infer::Status st = open_file(missing.path.string(), &file);
    CHECK(st.code() == INFER_ERR_IO);
    CHECK(st.message().find(missing.path.string()) != std::string::npos);
    CHECK(st.message().find("No such file or directory") != std::string::npos);
    CHECK(file == nullptr);

    const TempPath dir("dir");
    std::filesystem::create_directory(dir.path);
    st = open_file(dir.path.string(), &file);
    CHECK(st.code() == INFER_ERR_IO);
    CHECK(st.message().find("Is a directory") != std::string::npos);

    const TempPath empty("empty");
    std::ofstream(empty.path).close();
    st = open_file(empty.path.string(), &file);
    CHECK(st.code() == INFER_ERR_IO);
    CHECK(st.message().find("empty") != std::string::npos);
    CHECK(file == nullptr);
}

TEST_CASE("mapped file: a GGUF file maps and parses in place") {
    infer::test::GgufWriter w;
    w.kv("general.name", infer::test::GgufValue::str("tiny"));
    w.tensor("t", infer::TypeId::F16, {4, 4});
    const std::vector<uint8_t> image = w.build();

    const TempPath path("valid.gguf");
    {
        std::ofstream out(path.path, std::ios::binary);
        out.write(reinterpret_cast<const char *>(image.data()), static_cast<std::streamsize>(image.size()));
    }
    std::unique_ptr<MappedFile> mapped;
    infer::Status st = open_file(path.path.string(), &mapped);
    REQUIRE(st.code() == INFER_OK);
    REQUIRE(mapped->bytes().size() == image.size());
    CHECK(std::equal(image.begin(), image.end(), mapped->bytes().begin()));

    std::unique_ptr<File> file;
    st = File::parse(mapped->bytes(), {}, &file);
    REQUIRE(st.code() == INFER_OK);
    const infer::gguf::TensorInfo *t = file->find_tensor("t");
    REQUIRE(t != nullptr);
    CHECK(file->tensor_data(*t) == mapped->bytes().data() + w.data_offset);
}
