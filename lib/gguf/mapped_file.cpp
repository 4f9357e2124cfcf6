// Read-only private mapping of a whole file. MAP_PRIVATE + PROT_READ: the image cannot change
// under the parser through this mapping, and nothing is ever written back.
#include "gguf/gguf.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <new>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace infer::gguf {
namespace {

Status io_error(const char *path, const char *action, int error) {
    return make_error(INFER_ERR_IO, "%s: %s failed: %s", path, action, std::strerror(error));
}

} // namespace

Status MappedFile::open(const char *path, std::unique_ptr<MappedFile> *out) {
    if (path == nullptr || out == nullptr) {
        return make_error(INFER_ERR_INVALID_ARGUMENT, "MappedFile::open: null argument");
    }
    const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return io_error(path, "open", errno);

    struct stat st;
    if (::fstat(fd, &st) != 0) {
        const int error = errno;
        ::close(fd);
        return io_error(path, "stat", error);
    }
    // Directories open fine with O_RDONLY; mmap of one fails with a less helpful error.
    if (S_ISDIR(st.st_mode)) {
        ::close(fd);
        return io_error(path, "open", EISDIR);
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        return make_error(INFER_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        ::close(fd);
        return make_error(INFER_ERR_IO, "%s: file is empty", path);
    }
    const size_t size = static_cast<size_t>(st.st_size);
    void *data = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    const int map_error = errno;
    ::close(fd); // the mapping keeps the file referenced
    if (data == MAP_FAILED) return io_error(path, "mmap", map_error);

    std::unique_ptr<MappedFile> file(new (std::nothrow) MappedFile());
    if (!file) {
        ::munmap(data, size);
        return make_error(INFER_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    file->data_ = static_cast<const uint8_t *>(data);
    file->size_ = size;
    *out = std::move(file);
    return Status::ok();
}

MappedFile::~MappedFile() {
    if (data_ != nullptr) ::munmap(const_cast<uint8_t *>(data_), size_);
}

} // namespace infer::gguf
