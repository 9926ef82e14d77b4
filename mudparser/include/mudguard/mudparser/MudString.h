#pragma once
// The MUD URL as a device sends it: DHCPv4 option 161, DHCPv6 option 112 (RFC 8520 section 10)
// and the LLDP MUD TLV (section 11).

#include <cstddef>
#include <string>
#include <string_view>

#include "mudguard/mudparser/Url.h"

namespace mudguard::mudparser {

/// RFC 8520 section 10: the option carries at most 255 octets.
inline constexpr std::size_t kMaxMudStringBytes = 255;

struct MudStringResult : UrlResult {
    /// Text after the first space: reserved by RFC 8520 and ignored.
    std::string reserved;
};

/// Extracts the MUD URL from a raw option value. The URL ends at the first space; the rest is
/// reserved and ignored. The value is refused (code mudstring-empty, mudstring-too-long, or one
/// of the url-* codes) when it is empty, longer than 255 octets, or not an acceptable https URL.
MudStringResult parseMudString(std::string_view raw);

} // namespace mudguard::mudparser
