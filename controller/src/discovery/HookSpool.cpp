#include "mudguard/controller/HookSpool.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include "discovery/Fd.h"

namespace mudguard::controller {

namespace {

constexpr std::string_view kSuffix = ".ev";

std::string errnoText(const std::string& what) { return what + ": " + std::strerror(errno); }

/// "<20 digits>-<pid>.ev" without the suffix, and its time.
std::optional<std::chrono::system_clock::time_point> timeOf(const std::string& id)
{
    if (id.size() < 22 || id[20] != '-')
        return std::nullopt;
    std::int64_t ns = 0;
    for (std::size_t i = 0; i < 20; ++i) {
        if (id[i] < '0' || id[i] > '9')
            return std::nullopt;
        ns = ns * 10 + (id[i] - '0');
    }
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(ns)));
}

} // namespace

std::filesystem::path spoolDirFor(const std::filesystem::path& socket)
{
    return (socket.has_parent_path() ? socket.parent_path() : std::filesystem::path(".")) / "spool";
}

std::optional<std::string> spoolHookEvent(const std::filesystem::path& dir, LeaseEvent& event)
{
    try {
        auto now = std::chrono::system_clock::now();
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
        event.sentAtMs = ns / 1'000'000;
        std::string id = fmt::format("{:020d}-{}", ns, ::getpid());
        if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
            return errnoText("mkdir(" + dir.string() + ")");
        event.spoolId = id;
        auto bytes = encodeHookDatagram(event);
        auto tmp = dir / (".tmp-" + id);
        discovery::UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
        if (!fd) {
            event.spoolId.reset();
            return errnoText("open(" + tmp.string() + ")");
        }
        if (::write(fd.get(), bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) {
            auto why = errnoText("write(" + tmp.string() + ")");
            ::unlink(tmp.c_str());
            event.spoolId.reset();
            return why;
        }
        // The spool lives in /run (memory): it survives the daemon, not the router; no fsync.
        fd.reset();
        if (::rename(tmp.c_str(), (dir / (id + std::string(kSuffix))).c_str()) != 0) {
            auto why = errnoText("rename(" + tmp.string() + ")");
            ::unlink(tmp.c_str());
            event.spoolId.reset();
            return why;
        }
        return std::nullopt;
    } catch (const std::exception& e) {
        event.spoolId.reset();
        return std::string(e.what());
    }
}

HookSpool::HookSpool(std::filesystem::path dir, std::vector<uid_t> allowedUids)
    : m_dir(std::move(dir))
    , m_allowed(std::move(allowedUids))
{
    std::error_code ec;
    std::filesystem::create_directories(m_dir, ec);
    if (ec)
        throw DiscoveryError(fmt::format("cannot create the spool {}: {}", m_dir.string(), ec.message()));
    ::chmod(m_dir.c_str(), 0700);
}

HookSpool::Listing HookSpool::list(std::size_t limit)
{
    Listing out;
    std::vector<std::string> ids;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(m_dir, ec)) {
        auto name = e.path().filename().string();
        if (name.rfind(".tmp-", 0) == 0) {
            // A hook that died between writing and renaming; older than a minute: gone for good.
            struct stat st { };
            if (::lstat(e.path().c_str(), &st) == 0 && std::time(nullptr) - st.st_mtime > 60)
                ::unlink(e.path().c_str());
            continue;
        }
        if (name.size() <= kSuffix.size() || name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0)
            continue;
        ids.push_back(name.substr(0, name.size() - kSuffix.size()));
    }
    std::sort(ids.begin(), ids.end());
    if (ids.size() > limit) {
        for (std::size_t i = 0; i < ids.size() - limit; ++i) {
            out.rejected.push_back(ids[i] + ": more entries than the spool keeps; the oldest were dropped");
            remove(ids[i]);
        }
        ids.erase(ids.begin(), ids.end() - static_cast<std::ptrdiff_t>(limit));
    }
    for (const auto& id : ids) {
        auto reject = [&](const std::string& why) {
            out.rejected.push_back(id + ": " + why);
            remove(id);
        };
        auto at = timeOf(id);
        if (!isSpoolId(id) || !at) {
            reject("not a spool entry's name");
            continue;
        }
        auto path = m_dir / (id + std::string(kSuffix));
        discovery::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
        if (!fd)
            continue; // removed meanwhile
        struct stat st { };
        if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
            reject("not a regular file");
            continue;
        }
        if (st.st_uid != 0 && std::find(m_allowed.begin(), m_allowed.end(), st.st_uid) == m_allowed.end()) {
            reject(fmt::format("owned by uid {}, which may not send lease events", st.st_uid));
            continue;
        }
        if (st.st_size <= 0 || static_cast<std::size_t>(st.st_size) > kMaxHookDatagram) {
            reject(fmt::format("{} bytes", st.st_size));
            continue;
        }
        std::vector<std::uint8_t> bytes(static_cast<std::size_t>(st.st_size));
        if (::read(fd.get(), bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) {
            reject("short read");
            continue;
        }
        try {
            Entry e { id, decodeHookDatagram(bytes), *at };
            e.event.spoolId = id;
            out.entries.push_back(std::move(e));
        } catch (const std::exception& ex) {
            reject(ex.what());
        }
    }
    return out;
}

void HookSpool::remove(const std::string& id)
{
    if (!isSpoolId(id))
        return;
    ::unlink((m_dir / (id + std::string(kSuffix))).c_str());
}

} // namespace mudguard::controller
