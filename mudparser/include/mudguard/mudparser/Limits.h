#pragma once
// Every limit that applies to untrusted input, in one place. Each has its own diagnostic code.
// The defaults sit well above real MUD files (public corpora reach about 200 ACEs in a file and
// about 100 in one ACL) and well below what could exhaust a router.

#include <chrono>
#include <cstddef>

namespace mudguard::mudparser {

struct Limits {
    std::size_t maxDocumentBytes = 1 << 20; ///< "limit-size"
    unsigned maxJsonDepth = 32; ///< "limit-depth"
    std::size_t maxStringBytes = 4096; ///< "limit-string" (member names and string values)
    std::size_t maxJsonValues = 200000; ///< "limit-values" (every value, container or scalar)
    unsigned maxAcls = 64; ///< "limit-acls"
    unsigned maxAcesPerAcl = 1024; ///< "limit-aces"
    unsigned maxAcesTotal = 4096; ///< "limit-aces"
};

} // namespace mudguard::mudparser
