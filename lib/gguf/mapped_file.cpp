// A whole file's bytes, mapped read-only (MAP_PRIVATE + PROT_READ: nothing is ever written back)
// or copied into anonymous memory. Both are page-aligned, as the GGUF reader and the kernels
// assume of tensor data, and both are released with munmap.
#include "gguf/gguf.h"

#include <algorithm>
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

// Closes the descriptor on every return path.
struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

// Opens `path` for reading and checks it is a non-empty regular file. O_NONBLOCK: opening a FIFO
// with no writer (or some devices) would otherwise block before the type check; it is cleared
// again, since it means nothing for a regular file's reads but is not ours to leave set.
Status open_regular(const char *path, Fd *fd, struct stat *st) {
    fd->fd = ::open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd->fd < 0) return io_error(path, "open", errno);
    if (::fstat(fd->fd, st) != 0) return io_error(path, "stat", errno);
    // Directories open fine with O_RDONLY; mmap of one fails with a less helpful error.
    if (S_ISDIR(st->st_mode)) return io_error(path, "open", EISDIR);
    if (!S_ISREG(st->st_mode)) {
        const char *kind = S_ISFIFO(st->st_mode)  ? "a FIFO"
                           : S_ISCHR(st->st_mode) ? "a character device"
                           : S_ISBLK(st->st_mode) ? "a block device"
                           : S_ISSOCK(st->st_mode) ? "a socket"
                                                   : "not a regular file";
        return make_error(INFER_ERR_IO, "%s: not a regular file (%s)", path, kind);
    }
    const int flags = ::fcntl(fd->fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd->fd, F_SETFL, flags & ~O_NONBLOCK) != 0)
        return io_error(path, "fcntl", errno);
    if (st->st_size == 0) return make_error(INFER_ERR_IO, "%s: file is empty", path);
    return Status::ok();
}

// Fills data[0, size) from the descriptor in chunks, reporting progress, and fails unless the
// file is exactly the `st` it was when opened: a file that shrank, grew or was rewritten while it
// was read is not one consistent image.
Status read_whole(const char *path, int fd, const struct stat &st, const ProgressFn &progress,
                  uint8_t *data) {
    const size_t size = static_cast<size_t>(st.st_size);
    // Chunks bound the time between progress reports (and a cancel), not memory.
    constexpr size_t kChunk = size_t{16} << 20;
    size_t done = 0;
    while (done < size) {
        const ssize_t n = ::read(fd, data + done, std::min(kChunk, size - done));
        if (n < 0) {
            if (errno == EINTR) continue;
            return io_error(path, "read", errno);
        }
        if (n == 0)
            return make_error(INFER_ERR_IO, "%s: the file shrank from %zu to %zu bytes while it was read",
                              path, size, done);
        done += static_cast<size_t>(n);
        if (progress && !progress(static_cast<float>(static_cast<double>(done) / static_cast<double>(size))))
            return make_error(INFER_ERR_CANCELLED, "%s: read cancelled by the progress callback", path);
    }
    uint8_t extra;
    ssize_t n;
    do n = ::read(fd, &extra, 1);
    while (n < 0 && errno == EINTR);
    struct stat after;
    if (n != 0 || ::fstat(fd, &after) != 0 || after.st_size != st.st_size ||
        after.st_mtim.tv_sec != st.st_mtim.tv_sec || after.st_mtim.tv_nsec != st.st_mtim.tv_nsec)
        return make_error(INFER_ERR_IO, "%s: the file changed while it was read", path);
    return Status::ok();
}

} // namespace

Status MappedFile::open(const char *path, std::unique_ptr<MappedFile> *out) {
    return load(path, nullptr, out);
}

Status MappedFile::read(const char *path, const ProgressFn &progress,
                        std::unique_ptr<MappedFile> *out) {
    return load(path, &progress, out);
}

Status MappedFile::load(const char *path, const ProgressFn *progress,
                        std::unique_ptr<MappedFile> *out) {
    if (path == nullptr || out == nullptr)
        return make_error(INFER_ERR_INVALID_ARGUMENT, "MappedFile: null argument");
    Fd fd;
    struct stat st;
    INFER_TRY(open_regular(path, &fd, &st));
    std::unique_ptr<MappedFile> file(new (std::nothrow) MappedFile());
    if (!file) return make_error(INFER_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    const size_t size = static_cast<size_t>(st.st_size);
    if (!progress) {
        void *data = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd.fd, 0);
        if (data == MAP_FAILED) return io_error(path, "mmap", errno);
        // The mapping keeps the file referenced after the descriptor closes.
        file->data_ = static_cast<const uint8_t *>(data);
        file->size_ = size;
        file->maps_file_ = true;
    } else {
        // Anonymous memory: page-aligned like a mapping, and ENOMEM is a clean failure here.
        void *data =
            ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (data == MAP_FAILED)
            return make_error(INFER_ERR_OUT_OF_MEMORY,
                              "%s: cannot allocate %zu bytes to read the file: %s", path, size,
                              std::strerror(errno));
        file->data_ = static_cast<const uint8_t *>(data); // freed by the destructor from here on
        file->size_ = size;
        INFER_TRY(read_whole(path, fd.fd, st, *progress, static_cast<uint8_t *>(data)));
        ::mprotect(data, size, PROT_READ); // read-only from here, as a mapping is
    }
    *out = std::move(file);
    return Status::ok();
}

void MappedFile::drop_pages(const void *p, uint64_t n) const {
    const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    const auto begin = reinterpret_cast<uintptr_t>(p), end = begin + n;
    const uintptr_t first = (begin + page - 1) / page * page, last = end / page * page;
    const auto lo = reinterpret_cast<uintptr_t>(data_);
    if (first < last && first >= lo && last <= lo + size_)
        (void)::madvise(reinterpret_cast<void *>(first), last - first, MADV_DONTNEED);
}

MappedFile::~MappedFile() {
    if (data_ != nullptr) ::munmap(const_cast<uint8_t *>(data_), size_);
}

} // namespace infer::gguf
