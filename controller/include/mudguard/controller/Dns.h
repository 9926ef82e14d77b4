#pragma once
// DNS wire format (RFC 1035, RFC 3596 AAAA, RFC 6891 EDNS): A/AAAA queries, a hardened response
// parser, CNAME-chain answer extraction with TTLs, negative TTLs (RFC 2308), and the reading of
// DNS answers copied from the network (an IPv4/IPv6 + UDP packet, e.g. from nflog).
//
// Everything here is pure: no sockets, no clock, no globals. Responses are hostile input: every
// length is checked against the message, compression pointers may only jump to strictly earlier
// targets (so they cannot loop), names are limited to 255 octets, and label bytes that could be
// confused with structure ('.', '\', controls, non-ASCII) come out escaped as \DDD, so a single
// label "evil.example" never equals the two-label name evil.example.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mudguard/controller/Error.h"

namespace mudguard::controller::dns {

/// A malformed message or packet; the message says what and where ("answer 2: rdata runs past the
/// end of the message").
class ParseError : public Error {
public:
    using Error::Error;
};

enum class Type : std::uint16_t { A = 1, Ns = 2, Cname = 5, Soa = 6, Ptr = 12, Aaaa = 28, Opt = 41 };
inline constexpr std::uint16_t kClassIn = 1;

/// Response codes (RFC 1035 4.1.1, RFC 6895).
enum class Rcode : std::uint8_t { NoError = 0, FormErr = 1, ServFail = 2, NxDomain = 3, NotImp = 4, Refused = 5 };

inline constexpr std::size_t kMaxNameOctets = 255; ///< RFC 1035 2.3.4, in wire form
inline constexpr std::size_t kMaxLabelOctets = 63;
inline constexpr unsigned kMaxCnameChain = 16;
/// RFC 2181 8: TTLs with the top bit set are treated as zero.
inline constexpr std::uint32_t kMaxTtl = 0x7fffffff;

struct IpAddress {
    int family = 4; ///< 4 or 6
    std::array<std::uint8_t, 16> bytes {}; ///< network order; the first 4 for IPv4
    std::string toString() const; ///< inet_ntop form
    static std::optional<IpAddress> parse(std::string_view text);
    bool operator==(const IpAddress&) const = default;
};

struct Question {
    std::string name; ///< presentation form, lower case, no trailing dot ("" is the root)
    std::uint16_t type = 0;
    std::uint16_t qclass = 0;
};

struct Record {
    std::string name; ///< owner, as Question::name
    std::uint16_t type = 0;
    std::uint16_t rclass = 0;
    std::uint32_t ttl = 0; ///< seconds, already clamped per RFC 2181
    std::optional<IpAddress> address; ///< A and AAAA
    std::string target; ///< CNAME
    std::uint32_t soaMinimum = 0; ///< SOA
};

struct Message {
    std::uint16_t id = 0;
    bool response = false, authoritative = false, truncated = false, recursionDesired = false,
         recursionAvailable = false;
    std::uint8_t opcode = 0;
    std::uint8_t rcode = 0; ///< the header's 4 bits
    std::vector<Question> questions;
    std::vector<Record> answers;
    std::vector<Record> authority;
    /// With TC set, sections may end early; what was complete is kept and this is true.
    bool incomplete = false;
};

/// Parses a whole DNS message (the additional section is bounds-checked only). Throws ParseError.
Message parseMessage(std::span<const std::uint8_t> wire);

/// A recursive query (RD) for `name` (a host name; a trailing dot is allowed), with an EDNS OPT
/// record advertising `ednsUdpSize` unless it is 0. Throws std::invalid_argument for a name that
/// is not a valid host name.
std::vector<std::uint8_t> buildQuery(
    std::uint16_t id, std::string_view name, Type type, std::uint16_t ednsUdpSize = 1232);

/// True for names made of 1..63-octet labels of letters, digits, '-' and '_', at most 253
/// characters (a trailing dot allowed).
bool isValidHostName(std::string_view name) noexcept;
/// Lower case, without the trailing dot.
std::string normalizeName(std::string_view name);

struct AnswerAddress {
    IpAddress address;
    std::uint32_t ttl = 0; ///< the smallest TTL along the CNAME chain and of the record itself
    bool operator==(const AnswerAddress&) const = default;
};

struct Answer {
    std::string name; ///< the name asked for
    std::vector<std::string> cnameChain; ///< the aliases followed, in order (not including `name`)
    std::vector<AnswerAddress> addresses; ///< A or AAAA (as asked), IN class, without duplicates
    /// The smallest address TTL; 0 when there are no addresses.
    std::uint32_t ttl = 0;
};

/// Follows the CNAME chain from `name` through the answer section (at most kMaxCnameChain links,
/// loops stop it) and collects the addresses of `type` owned by the names reached. Records for
/// other names are ignored, as a resolver must (RFC 1034 5.3.3).
Answer extractAnswer(const Message& m, std::string_view name, Type type);

/// The negative-caching TTL of an NXDOMAIN or NODATA answer (RFC 2308 5): min(SOA TTL, SOA
/// MINIMUM) of the SOA in the authority section; nothing without one.
std::optional<std::uint32_t> negativeTtl(const Message& m);

/// A DNS answer seen on the wire, on its way to a client.
struct ObservedAnswer {
    IpAddress client; ///< the packet's destination (the device that asked)
    IpAddress server; ///< the packet's source (check it is the resolver the devices use)
    std::uint16_t clientPort = 0;
    Type type = Type::A;
    Answer answer;
};

/// Reads an IPv4 or IPv6 packet carrying a UDP datagram from port 53. Returns the answer when the
/// packet is a successful (NOERROR) response to one A or AAAA question; nothing when the packet is
/// something else (another protocol or port, a fragment, a query, an error response). Throws
/// ParseError when the packet or the DNS message in it is malformed.
std::optional<ObservedAnswer> parseObservedPacket(std::span<const std::uint8_t> packet);

} // namespace mudguard::controller::dns
