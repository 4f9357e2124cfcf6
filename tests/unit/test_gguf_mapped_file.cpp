// MappedFile: I/O failures become INFER_ERR_IO naming the path; a real file maps and parses.
// Special files (FIFO, devices) are refused without blocking, through the library and the C API.
#include "gguf_image.h"

#include "infer.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
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

// Runs `body` on a thread and fails the test if it has not returned within a few seconds: a
// blocking open must fail CI, not hang it. `unblock` then lets the thread finish so it can join.
void returns_promptly(const std::function<void()> &body, const std::function<void()> &unblock) {
    std::atomic<bool> done{false};
    std::thread thread([&] {
        body();
        done = true;
    });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (!done) {
        FAIL_CHECK("still blocked after 5 s");
        unblock();
    }
    thread.join();
}

// The write side of a FIFO, which releases a reader blocked in open(). O_RDWR never blocks on
// Linux, whether or not a reader is waiting.
void open_write_side(const std::string &fifo) {
    const int fd = ::open(fifo.c_str(), O_RDWR | O_CLOEXEC);
    REQUIRE(fd >= 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(100)); // the reader sees a writer
    ::close(fd);
}

infer_status load_file(const std::string &path) {
    infer_model_params params;
    infer_model_params_init(&params);
    params.inspect_only = 1;
    infer_model *model = nullptr;
    const infer_status status = infer_model_load_file(path.c_str(), &params, &model);
    infer_model_free(model);
    return status;
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

    CHECK(load_file(missing.path.string()) == INFER_ERR_IO);
    CHECK(load_file(dir.path.string()) == INFER_ERR_IO);
    CHECK(load_file(empty.path.string()) == INFER_ERR_IO);
}

TEST_CASE("mapped file: a GGUF file maps and parses in place") {
    infer::gguf::Writer w;
    w.add("general.name", infer::gguf::MetaValue::str("tiny"));
    w.add_tensor("t", infer::TypeId::F16, {4, 4});
    const std::vector<uint8_t> image = infer::test::build_image(w);

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
    CHECK(file->tensor_data(*t) == mapped->bytes().data() + w.layout().data_start);
}

TEST_CASE("mapped file: a FIFO is refused at once, not opened and waited on") {
    const TempPath fifo("fifo");
    REQUIRE(::mkfifo(fifo.path.c_str(), 0600) == 0);
    const std::string path = fifo.path.string();
    std::unique_ptr<MappedFile> file;
    infer::Status st = infer::Status::ok();
    returns_promptly([&] { st = open_file(path, &file); }, [&] { open_write_side(path); });
    CHECK(st.code() == INFER_ERR_IO);
    CHECK(st.message().find("not a regular file") != std::string::npos);
    CHECK(st.message().find(path) != std::string::npos);
    CHECK(file == nullptr);
    returns_promptly([&] { st = MappedFile::read(path.c_str(), {}, &file); },
                     [&] { open_write_side(path); });
    CHECK(st.code() == INFER_ERR_IO);
    CHECK(st.message().find("not a regular file") != std::string::npos);

    infer_status status = INFER_OK;
    std::string message;
    returns_promptly(
        [&] {
            status = load_file(path);
            message = infer_last_error();
        },
        [&] { open_write_side(path); });
    CHECK(status == INFER_ERR_IO);
    CHECK(message.find("not a regular file") != std::string::npos);
}

TEST_CASE("mapped file: character devices are refused") {
    for (const char *device : {"/dev/null", "/dev/zero"}) {
        CAPTURE(device);
        std::unique_ptr<MappedFile> file;
        const infer::Status st = open_file(device, &file);
        CHECK(st.code() == INFER_ERR_IO);
        CHECK(st.message().find("not a regular file") != std::string::npos);
        CHECK(file == nullptr);
        CHECK(load_file(device) == INFER_ERR_IO);
    }
}

TEST_CASE("mapped file: a symlink to a regular file is followed; a dangling one is missing") {
    infer::gguf::Writer w;
    w.add("general.name", infer::gguf::MetaValue::str("tiny"));
    const std::vector<uint8_t> image = infer::test::build_image(w);
    const TempPath target("link-target.gguf");
    {
        std::ofstream out(target.path, std::ios::binary);
        out.write(reinterpret_cast<const char *>(image.data()), static_cast<std::streamsize>(image.size()));
    }
    const TempPath link("link.gguf");
    std::filesystem::create_symlink(target.path, link.path);
    std::unique_ptr<MappedFile> file;
    infer::Status st = open_file(link.path.string(), &file);
    REQUIRE(st.code() == INFER_OK);
    CHECK(file->bytes().size() == image.size());
    CHECK(load_file(link.path.string()) == INFER_OK);

    const TempPath dangling("dangling.gguf");
    std::filesystem::create_symlink(dangling.path.string() + "-no-such-target", dangling.path);
    file.reset();
    st = open_file(dangling.path.string(), &file);
    CHECK(st.code() == INFER_ERR_IO);
    CHECK(st.message().find("No such file or directory") != std::string::npos);
    CHECK(file == nullptr);
    CHECK(load_file(dangling.path.string()) == INFER_ERR_IO);
}

namespace {

// A file of `size` bytes whose byte i is i * 7 (mod 256).
void write_pattern(const std::filesystem::path &path, size_t size) {
    std::vector<char> bytes(size);
    for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>(i * 7);
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(size));
}

} // namespace

TEST_CASE("mapped file: read copies the file page-aligned, reports progress, and can be cancelled") {
    const TempPath path("read.bin");
    const size_t size = (size_t{40} << 20) + 123; // three 16 MiB chunks, the last one short
    write_pattern(path.path, size);
    std::vector<float> reported;
    std::unique_ptr<MappedFile> file;
    infer::Status st = MappedFile::read(
        path.path.c_str(),
        [&](float p) {
            reported.push_back(p);
            return true;
        },
        &file);
    REQUIRE(st.code() == INFER_OK);
    REQUIRE(file->bytes().size() == size);
    CHECK(reinterpret_cast<uintptr_t>(file->bytes().data()) % 4096 == 0);
    bool same = true;
    for (size_t i = 0; i < size; ++i) same = same && file->bytes()[i] == static_cast<uint8_t>(i * 7);
    CHECK(same);
    REQUIRE(reported.size() == 3);
    CHECK(reported[0] > 0.0f);
    CHECK(reported[0] < reported[1]);
    CHECK(reported[2] == 1.0f);
    std::filesystem::remove(path.path); // the copy is the model's own
    CHECK(file->bytes()[size - 1] == static_cast<uint8_t>((size - 1) * 7));

    write_pattern(path.path, size);
    file.reset();
    st = MappedFile::read(path.path.c_str(), [](float) { return false; }, &file);
    CHECK(st.code() == INFER_ERR_CANCELLED);
    CHECK(file == nullptr);
}

TEST_CASE("mapped file: read fails when the file shrinks or grows during the read") {
    const TempPath path("changing.bin");
    const size_t size = size_t{40} << 20;
    write_pattern(path.path, size);
    std::unique_ptr<MappedFile> file;
    infer::Status st = MappedFile::read(
        path.path.c_str(),
        [&](float) {
            std::filesystem::resize_file(path.path, 1 << 20);
            return true;
        },
        &file);
    CHECK(st.code() == INFER_ERR_IO);
    CHECK(st.message().find("shrank") != std::string::npos);
    CHECK(file == nullptr);

    write_pattern(path.path, size);
    st = MappedFile::read(
        path.path.c_str(),
        [&](float p) {
            if (p == 1.0f) std::ofstream(path.path, std::ios::binary | std::ios::app) << "more";
            return true;
        },
        &file);
    CHECK(st.code() == INFER_ERR_IO);
    CHECK(st.message().find("changed") != std::string::npos);
    CHECK(file == nullptr);
}

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
TEST_CASE("mapped file: read reports OUT_OF_MEMORY when the copy cannot be allocated") {
    // A sparse 1 GiB file, read in a child whose address space is capped at 512 MiB more than it
    // uses now.
    const TempPath path("huge.bin");
    std::ofstream(path.path).close();
    std::filesystem::resize_file(path.path, size_t{1} << 30);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        size_t pages = 0;
        if (FILE *f = std::fopen("/proc/self/statm", "r")) {
            if (std::fscanf(f, "%zu", &pages) != 1) pages = 0;
            std::fclose(f);
        }
        const rlim_t cap = static_cast<rlim_t>(pages) * 4096 + (rlim_t{512} << 20);
        const struct rlimit limit = {cap, cap};
        if (pages == 0 || ::setrlimit(RLIMIT_AS, &limit) != 0) ::_exit(2);
        std::unique_ptr<MappedFile> file;
        const infer::Status st = MappedFile::read(path.path.c_str(), {}, &file);
        ::_exit(st.code() == INFER_ERR_OUT_OF_MEMORY && !file ? 0 : 1);
    }
    int wstatus = 0;
    REQUIRE(::waitpid(child, &wstatus, 0) == child);
    CHECK(WIFEXITED(wstatus));
    CHECK(WEXITSTATUS(wstatus) == 0);
}
#endif
