#pragma once
// Descriptors and system-call errors for the discovery sources.

#include <string>

#include "mudguard/controller/Fd.h"

namespace mudguard::controller::discovery {

using controller::UniqueFd;

/// `what: strerror(errno)`, for DiscoveryError messages.
std::string systemError(const std::string& what);

} // namespace mudguard::controller::discovery
