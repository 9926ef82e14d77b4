#pragma once
// The DHCP lease event that `mudguard hook dnsmasq` forwards to the daemon, and its datagram
// encoding (format version 1, described in docs/dnsmasq.md):
//
//   offset 0  4 bytes  magic "MGHK"
//   offset 4  1 byte   format version (1)
//   offset 5  1 byte   source (1 = dnsmasq)
//   offset 6  TLVs:    type (1 byte), length (2 bytes, big endian), value
//
// A datagram is at most kMaxHookDatagram bytes. Each field appears at most once and has its own
// length limit; unknown field types are skipped (fields may be added within version 1), anything
// else malformed rejects the whole datagram.

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mudguard/controller/Discovery.h"

namespace mudguard::controller {

inline constexpr std::size_t kMaxHookDatagram = 4096;
inline constexpr std::uint8_t kHookFormatVersion = 1;
/// Longest MUD string carried. RFC 8520 allows 255 octets; longer values are carried (up to this
/// limit) so that the daemon can refuse them with a precise reason.
inline constexpr std::size_t kMaxHookMudUrl = 1024;
inline constexpr std::size_t kMaxHookHostname = 255;
inline constexpr std::size_t kMaxHookTags = 1024;
inline constexpr std::size_t kMaxHookClientId = 255;
inline constexpr std::size_t kMaxHookInterface = 15; // IFNAMSIZ - 1
inline constexpr std::size_t kMaxHookSpoolId = 64;
inline constexpr std::size_t kMaxHookVendorClass = 255;
inline constexpr std::size_t kMaxHookRequestedOptions = 1024;

/// The lease actions dnsmasq reports (`--dhcp-script` first argument).
enum class LeaseAction : std::uint8_t {
    Add = 1, ///< "add": a lease was created
    Old = 2, ///< "old": an existing lease (start-up replay, renewal with --script-on-renewal, SIGHUP)
    Del = 3, ///< "del": a lease was destroyed or expired
    ArpAdd = 4, ///< "arp-add" (--script-arp): an address appeared in the ARP/ND table
    ArpDel = 5, ///< "arp-del"
};

std::string_view toString(LeaseAction action);
std::optional<LeaseAction> leaseActionFromString(std::string_view text);

/// One lease event, as dnsmasq describes it. Strings are raw bytes from the client: the MUD
/// string in particular is passed on exactly as received (RFC 8520 section 10 parsing is the
/// daemon's job).
struct LeaseEvent {
    LeaseAction action = LeaseAction::Add;
    IpAddress address; ///< IPv4 or IPv6 lease address
    std::optional<MacAddress> mac; ///< absent for non-Ethernet clients and for DHCPv6 without DNSMASQ_MAC
    std::string hostname;
    std::optional<std::string> mudUrl; ///< DNSMASQ_MUD_URL (option 161 or 112), raw
    bool mudUrlTooLong = false; ///< the client sent a MUD string longer than kMaxHookMudUrl
    std::string interface; ///< DNSMASQ_INTERFACE (empty on start-up replay)
    std::string tags; ///< DNSMASQ_TAGS, space separated
    bool dataMissing = false; ///< DNSMASQ_DATA_MISSING: start-up replay, no MUD URL available
    std::optional<std::int64_t> leaseExpires; ///< DNSMASQ_LEASE_EXPIRES (seconds since the epoch)
    std::optional<std::uint32_t> timeRemaining; ///< DNSMASQ_TIME_REMAINING (seconds)
    std::optional<std::uint32_t> iaid; ///< DNSMASQ_IAID (DHCPv6)
    bool temporary = false; ///< DHCPv6 temporary address ('T' prefix of the IAID)
    std::vector<std::uint8_t> clientId; ///< DHCPv6: the client DUID; DHCPv4: DNSMASQ_CLIENT_ID
    std::string vendorClass; ///< DNSMASQ_VENDOR_CLASS (DHCPv4 option 60)
    std::string requestedOptions; ///< DNSMASQ_REQUESTED_OPTIONS (option 55, "1,3,6,15")
    /// When the hook ran (milliseconds since the epoch): orders events replayed from the spool.
    std::optional<std::int64_t> sentAtMs;
    /// The spool entry that keeps the event until the daemon recorded it (HookSpool.h).
    std::optional<std::string> spoolId;

    bool isV6() const { return address.family != 0 && !address.isV4(); }
    bool operator==(const LeaseEvent&) const = default;
};

/// Why a datagram was refused.
class HookFormatError : public DiscoveryError {
public:
    using DiscoveryError::DiscoveryError;
};

/// Encodes an event as one datagram (at most kMaxHookDatagram bytes). Fields over their limit are
/// truncated, except the MUD string, which is then dropped and `mudUrlTooLong` set.
std::vector<std::uint8_t> encodeHookDatagram(const LeaseEvent& event);
/// Decodes and validates a datagram; throws HookFormatError with the reason.
LeaseEvent decodeHookDatagram(std::span<const std::uint8_t> datagram);

/// A spool entry's name: [0-9a-z.-], not starting with '.', at most kMaxHookSpoolId bytes.
bool isSpoolId(std::string_view id);

/// Parses a hex string as dnsmasq prints DUIDs and client ids ("00:01:0a" or "00010a").
std::optional<std::vector<std::uint8_t>> parseHexBytes(std::string_view text, std::size_t maxBytes);

/// Builds the event for one `--dhcp-script` invocation from its arguments (action first, without
/// the program name) and the environment (`getenv`-like: nullptr when a variable is not set).
/// Returns nothing for actions that carry no lease ("init", "tftp", "relay-snoop" and unknown
/// future ones); throws HookFormatError for malformed arguments.
std::optional<LeaseEvent> leaseEventFromDnsmasq(
    const std::vector<std::string>& args, const std::function<const char*(const char*)>& getenv);

} // namespace mudguard::controller
