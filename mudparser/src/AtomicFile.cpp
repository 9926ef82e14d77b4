#include "AtomicFile.h"

#include <atomic>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include "mudguard/mudparser/Diagnostic.h"

namespace mudguard::mudparser::detail {

namespace {

constexpr std::string_view kTempMarker = ".tmp-";

class Fd {
public:
    explicit Fd(int fd)
        : m_fd(fd)
    {
    }
    ~Fd()
    {
        if (m_fd >= 0)
            ::close(m_fd);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return m_fd; }
    int release()
    {
        int fd = m_fd;
        m_fd = -1;
        return fd;
    }

private:
    int m_fd;
};

[[noreturn]] void fail(const std::string& what, const std::filesystem::path& p)
{
    throw Error(fmt::format("{} {}: {}", what, p.string(), std::strerror(errno)));
}

void writeAll(int fd, std::string_view content, const std::filesystem::path& p)
{
    std::size_t done = 0;
    while (done < content.size()) {
        ssize_t n = ::write(fd, content.data() + done, content.size() - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fail("cannot write", p);
        }
        done += static_cast<std::size_t>(n);
    }
}

} // namespace

void writeFileAtomically(const std::filesystem::path& path, std::string_view content)
{
    static std::atomic<unsigned> counter { 0 };
    auto dir = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
    auto temp = dir / fmt::format(".{}{}{}-{}", path.filename().string(), kTempMarker, ::getpid(), ++counter);
    {
        Fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
        if (fd.get() < 0)
            fail("cannot create", temp);
        try {
            writeAll(fd.get(), content, temp);
            if (::fsync(fd.get()) != 0)
                fail("cannot sync", temp);
        } catch (...) {
            ::unlink(temp.c_str());
            throw;
        }
        if (::close(fd.release()) != 0) {
            ::unlink(temp.c_str());
            fail("cannot close", temp);
        }
    }
    if (::rename(temp.c_str(), path.c_str()) != 0) {
        int saved = errno;
        ::unlink(temp.c_str());
        errno = saved;
        fail("cannot rename into place", path);
    }
    Fd dirFd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dirFd.get() < 0 || ::fsync(dirFd.get()) != 0)
        fail("cannot sync directory", dir);
}

void appendLine(const std::filesystem::path& path, std::string_view line)
{
    Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (fd.get() < 0)
        fail("cannot open", path);
    std::string text(line);
    text += '\n';
    writeAll(fd.get(), text, path);
    if (::fsync(fd.get()) != 0)
        fail("cannot sync", path);
}

std::optional<std::string> readWholeFile(const std::filesystem::path& path)
{
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
        if (errno == ENOENT)
            return std::nullopt;
        fail("cannot open", path);
    }
    std::string out;
    char buf[65536];
    while (true) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fail("cannot read", path);
        }
        if (n == 0)
            break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

void createDirectories(const std::filesystem::path& dir, const char* what)
{
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec)
        throw Error(fmt::format("cannot create {} {}: {}", what, dir.string(), ec.message()));
}

bool isTemporaryFile(const std::filesystem::path& path)
{
    auto name = path.filename().string();
    return name.starts_with(".") && name.find(kTempMarker) != std::string::npos;
}

} // namespace mudguard::mudparser::detail
