#pragma once
// RFC 3339 timestamps, as used on the command line (--at) and in the cache.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace mudguard::mudparser {

/// "2019-01-01T00:00:00Z", "2019-01-01T01:00:00+01:00", fractions of a second ignored; a
/// time zone (Z or an offset) is required. nullopt for anything else.
std::optional<std::chrono::system_clock::time_point> parseRfc3339(std::string_view text);

/// UTC with a "Z", to the second.
std::string formatRfc3339(std::chrono::system_clock::time_point t);

} // namespace mudguard::mudparser
