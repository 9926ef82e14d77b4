#pragma once
// Every limit that applies to untrusted input, in one place. Each has its own diagnostic code.

#include <chrono>
#include <cstddef>

namespace mudguard::mudparser {

struct Limits {
    std::size_t maxDocumentBytes = 1 << 20; ///< "limit-size"
    unsigned maxJsonDepth = 32;            ///< "limit-depth"
    std::size_t maxStringBytes = 4096;     ///< "limit-string"
    unsigned maxAcls = 64;                 ///< "limit-acls"
    unsigned maxAcesPerAcl = 1024;         ///< "limit-aces"
    unsigned maxAcesTotal = 4096;          ///< "limit-aces"
};

} // namespace mudguard::mudparser
