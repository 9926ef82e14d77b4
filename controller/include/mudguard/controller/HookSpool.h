#pragma once
// Lease events that must not be lost: before `mudguard hook dnsmasq` sends an event to the
// daemon's socket, it writes it to the spool, a directory beside the socket
// (/run/mudguard/spool). The daemon removes an entry once the event is recorded in its state
// database; whatever is left (the daemon was down, killed, or its store refused the write) is
// read at the next start, oldest first, and entries the daemon missed while running are picked up
// within seconds. The hook itself never waits for the daemon: dnsmasq is never held up.
//
// An entry is one file named "<nanoseconds since the epoch, 20 digits>-<pid>.ev" holding the
// event's datagram (HookEvent.h), written under a temporary name and renamed, so that a reader
// never sees half an entry. The directory is the daemon's (mode 0700); only root (or the users
// allowed to send hook datagrams) may own an entry.

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

#include "mudguard/controller/HookEvent.h"

namespace mudguard::controller {

/// The spool of the hook socket at `socket`: "spool" beside it.
std::filesystem::path spoolDirFor(const std::filesystem::path& socket);

/// Hook side: dates the event, writes it to the spool in `dir` (created when missing) and sets
/// its spoolId. Returns an error sentence when it could not (the event is then only sent).
/// Never throws.
std::optional<std::string> spoolHookEvent(const std::filesystem::path& dir, LeaseEvent& event);

class HookSpool {
public:
    /// Creates `dir` (0700) when it is missing. `allowedUids`: owners accepted besides root.
    explicit HookSpool(std::filesystem::path dir, std::vector<uid_t> allowedUids = {});

    struct Entry {
        std::string id;
        LeaseEvent event;
        std::chrono::system_clock::time_point at; ///< when the hook wrote it
    };
    struct Listing {
        std::vector<Entry> entries; ///< oldest first
        std::vector<std::string> rejected; ///< "id: reason" for entries removed as unusable
    };
    /// The entries, oldest first, at most `limit` (the oldest beyond it are removed as stale).
    /// Unusable entries (malformed, too large, foreign owner) are removed and listed.
    Listing list(std::size_t limit = 100000);
    /// Removes an entry (recorded). Unknown ids are ignored.
    void remove(const std::string& id);
    const std::filesystem::path& directory() const { return m_dir; }

private:
    std::filesystem::path m_dir;
    std::vector<uid_t> m_allowed;
};

} // namespace mudguard::controller
