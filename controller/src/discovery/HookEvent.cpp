#include "mudguard/controller/HookEvent.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include <netinet/in.h>
#include <sys/socket.h>

#include "discovery/Hex.h"

namespace mudguard::controller {
namespace {

constexpr std::uint8_t kMagic[4] = { 'M', 'G', 'H', 'K' };
constexpr std::uint8_t kSourceDnsmasq = 1;
constexpr std::size_t kHeaderSize = 6;

// Field types of format version 1. Never renumber: add new types instead.
enum Field : std::uint8_t {
    FAction = 1,
    FMac = 2,
    FAddress = 3,
    FHostname = 4,
    FMudUrl = 5,
    FInterface = 6,
    FTags = 7,
    FFlags = 8,
    FLeaseExpires = 9,
    FTimeRemaining = 10,
    FIaid = 11,
    FClientId = 12,
    FSentAt = 13,
    FSpoolId = 14,
    FVendorClass = 15,
    FRequestedOptions = 16,
};

enum Flag : std::uint8_t {
    FlagDataMissing = 1 << 0,
    FlagMudUrlTooLong = 1 << 1,
    FlagTemporary = 1 << 2,
};

class Writer {
public:
    void field(Field type, const void* data, std::size_t size)
    {
        m_out.push_back(type);
        m_out.push_back(static_cast<std::uint8_t>(size >> 8));
        m_out.push_back(static_cast<std::uint8_t>(size));
        auto* p = static_cast<const std::uint8_t*>(data);
        m_out.insert(m_out.end(), p, p + size);
    }
    void string(Field type, std::string_view s, std::size_t limit)
    {
        if (!s.empty())
            field(type, s.data(), std::min(s.size(), limit));
    }
    template <typename T> void integer(Field type, T value)
    {
        std::uint8_t buf[sizeof(T)];
        for (std::size_t i = 0; i < sizeof(T); ++i)
            buf[i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(value) >> (8 * (sizeof(T) - 1 - i)));
        field(type, buf, sizeof buf);
    }
    std::vector<std::uint8_t> m_out;
};

template <typename T> T readInteger(std::span<const std::uint8_t> v)
{
    std::uint64_t x = 0;
    for (auto b : v)
        x = x << 8 | b;
    return static_cast<T>(x);
}

void expectSize(std::span<const std::uint8_t> v, std::size_t size, const char* what)
{
    if (v.size() != size)
        throw HookFormatError(
            std::string(what) + " field has length " + std::to_string(v.size()) + ", expected " + std::to_string(size));
}

std::string boundedString(std::span<const std::uint8_t> v, std::size_t limit, const char* what)
{
    if (v.size() > limit)
        throw HookFormatError(
            std::string(what) + " field is " + std::to_string(v.size()) + " bytes, limit " + std::to_string(limit));
    return std::string(reinterpret_cast<const char*>(v.data()), v.size());
}

template <typename T> std::optional<T> parseDecimal(std::string_view text)
{
    T value {};
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty())
        return std::nullopt;
    return value;
}

} // namespace

std::string_view toString(LeaseAction action)
{
    switch (action) {
    case LeaseAction::Add:
        return "add";
    case LeaseAction::Old:
        return "old";
    case LeaseAction::Del:
        return "del";
    case LeaseAction::ArpAdd:
        return "arp-add";
    case LeaseAction::ArpDel:
        return "arp-del";
    }
    return "unknown";
}

std::optional<LeaseAction> leaseActionFromString(std::string_view text)
{
    for (auto a : { LeaseAction::Add, LeaseAction::Old, LeaseAction::Del, LeaseAction::ArpAdd, LeaseAction::ArpDel })
        if (toString(a) == text)
            return a;
    return std::nullopt;
}

std::vector<std::uint8_t> encodeHookDatagram(const LeaseEvent& e)
{
    Writer w;
    w.m_out.assign(kMagic, kMagic + 4);
    w.m_out.push_back(kHookFormatVersion);
    w.m_out.push_back(kSourceDnsmasq);
    w.integer(FAction, static_cast<std::uint8_t>(e.action));
    if (e.address.family == AF_INET || e.address.family == AF_INET6)
        w.field(FAddress, e.address.bytes.data(), e.address.size());
    if (e.mac)
        w.field(FMac, e.mac->bytes.data(), e.mac->bytes.size());
    w.string(FHostname, e.hostname, kMaxHookHostname);
    bool urlTooLong = e.mudUrlTooLong || (e.mudUrl && e.mudUrl->size() > kMaxHookMudUrl);
    // An empty option is still an option: encode it with length 0.
    if (e.mudUrl && !urlTooLong)
        w.field(FMudUrl, e.mudUrl->data(), e.mudUrl->size());
    w.string(FInterface, e.interface, kMaxHookInterface);
    w.string(FTags, e.tags, kMaxHookTags);
    std::uint8_t flags = (e.dataMissing ? FlagDataMissing : 0) | (urlTooLong ? FlagMudUrlTooLong : 0)
        | (e.temporary ? FlagTemporary : 0);
    if (flags)
        w.integer(FFlags, flags);
    if (e.leaseExpires)
        w.integer(FLeaseExpires, static_cast<std::uint64_t>(*e.leaseExpires));
    if (e.timeRemaining)
        w.integer(FTimeRemaining, *e.timeRemaining);
    if (e.iaid)
        w.integer(FIaid, *e.iaid);
    if (!e.clientId.empty())
        w.field(FClientId, e.clientId.data(), std::min(e.clientId.size(), kMaxHookClientId));
    if (e.sentAtMs)
        w.integer(FSentAt, static_cast<std::uint64_t>(*e.sentAtMs));
    if (e.spoolId)
        w.string(FSpoolId, *e.spoolId, kMaxHookSpoolId);
    w.string(FVendorClass, e.vendorClass, kMaxHookVendorClass);
    w.string(FRequestedOptions, e.requestedOptions, kMaxHookRequestedOptions);
    return std::move(w.m_out); // at most 6 + 12 * 3 + 4 + 16 + 6 + 255 + 1024 + 15 + 1024 + 1 + 8 + 4 + 4 + 255 bytes
}

LeaseEvent decodeHookDatagram(std::span<const std::uint8_t> d)
{
    if (d.size() > kMaxHookDatagram)
        throw HookFormatError("datagram of " + std::to_string(d.size()) + " bytes exceeds the limit");
    if (d.size() < kHeaderSize || !std::equal(kMagic, kMagic + 4, d.begin()))
        throw HookFormatError("not a mudguard hook datagram (bad magic)");
    if (d[4] != kHookFormatVersion)
        throw HookFormatError("unsupported hook format version " + std::to_string(d[4]));
    if (d[5] != kSourceDnsmasq)
        throw HookFormatError("unknown hook source " + std::to_string(d[5]));

    LeaseEvent e;
    std::uint32_t seen = 0;
    bool haveAction = false;
    for (std::size_t pos = kHeaderSize; pos < d.size();) {
        if (d.size() - pos < 3)
            throw HookFormatError("truncated field header at offset " + std::to_string(pos));
        std::uint8_t type = d[pos];
        std::size_t len = std::size_t(d[pos + 1]) << 8 | d[pos + 2];
        pos += 3;
        if (d.size() - pos < len)
            throw HookFormatError("field " + std::to_string(type) + " overruns the datagram");
        auto v = d.subspan(pos, len);
        pos += len;
        if (type < 32) {
            if (seen & (1u << type))
                throw HookFormatError("duplicate field " + std::to_string(type));
            seen |= 1u << type;
        }
        switch (type) {
        case FAction: {
            expectSize(v, 1, "action");
            if (v[0] < 1 || v[0] > static_cast<std::uint8_t>(LeaseAction::ArpDel))
                throw HookFormatError("unknown action " + std::to_string(v[0]));
            e.action = static_cast<LeaseAction>(v[0]);
            haveAction = true;
            break;
        }
        case FMac: {
            expectSize(v, 6, "mac");
            MacAddress mac;
            std::copy(v.begin(), v.end(), mac.bytes.begin());
            e.mac = mac;
            break;
        }
        case FAddress:
            if (v.size() != 4 && v.size() != 16)
                throw HookFormatError("address field has length " + std::to_string(v.size()));
            e.address = IpAddress::fromBytes(v.size() == 4 ? AF_INET : AF_INET6, v.data());
            break;
        case FHostname:
            e.hostname = boundedString(v, kMaxHookHostname, "hostname");
            break;
        case FMudUrl:
            e.mudUrl = boundedString(v, kMaxHookMudUrl, "mud-url");
            break;
        case FInterface:
            e.interface = boundedString(v, kMaxHookInterface, "interface");
            if (e.interface.find('\0') != std::string::npos || e.interface.find('/') != std::string::npos)
                throw HookFormatError("interface name contains a forbidden character");
            break;
        case FTags:
            e.tags = boundedString(v, kMaxHookTags, "tags");
            break;
        case FFlags:
            expectSize(v, 1, "flags");
            e.dataMissing = v[0] & FlagDataMissing;
            e.mudUrlTooLong = v[0] & FlagMudUrlTooLong;
            e.temporary = v[0] & FlagTemporary;
            break;
        case FLeaseExpires:
            expectSize(v, 8, "lease-expires");
            e.leaseExpires = readInteger<std::int64_t>(v);
            break;
        case FTimeRemaining:
            expectSize(v, 4, "time-remaining");
            e.timeRemaining = readInteger<std::uint32_t>(v);
            break;
        case FIaid:
            expectSize(v, 4, "iaid");
            e.iaid = readInteger<std::uint32_t>(v);
            break;
        case FClientId:
            if (v.size() > kMaxHookClientId)
                throw HookFormatError("client-id field is too long");
            e.clientId.assign(v.begin(), v.end());
            break;
        case FSentAt:
            expectSize(v, 8, "sent-at");
            e.sentAtMs = readInteger<std::int64_t>(v);
            break;
        case FSpoolId: {
            auto id = boundedString(v, kMaxHookSpoolId, "spool-id");
            if (!isSpoolId(id))
                throw HookFormatError("spool-id field is not a spool entry's name");
            e.spoolId = std::move(id);
            break;
        }
        case FVendorClass:
            e.vendorClass = boundedString(v, kMaxHookVendorClass, "vendor-class");
            break;
        case FRequestedOptions:
            e.requestedOptions = boundedString(v, kMaxHookRequestedOptions, "requested-options");
            break;
        default:
            break; // a field added later within version 1
        }
    }
    if (!haveAction)
        throw HookFormatError("missing action field");
    if (e.address.family == 0)
        throw HookFormatError("missing address field");
    if (e.mudUrl && e.mudUrlTooLong)
        throw HookFormatError("mud-url present although flagged as too long");
    return e;
}

bool isSpoolId(std::string_view id)
{
    if (id.empty() || id.size() > kMaxHookSpoolId || id.front() == '.')
        return false;
    return std::all_of(id.begin(), id.end(),
        [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-' || c == '.'; });
}

std::optional<std::vector<std::uint8_t>> parseHexBytes(std::string_view text, std::size_t maxBytes)
{
    return discovery::decodeHex(text, ":", maxBytes);
}

std::optional<LeaseEvent> leaseEventFromDnsmasq(
    const std::vector<std::string>& args, const std::function<const char*(const char*)>& getenv)
{
    if (args.empty())
        throw HookFormatError("no action argument");
    auto action = leaseActionFromString(args[0]);
    if (!action)
        return std::nullopt; // init, tftp, relay-snoop, or an action added after this was written
    if (args.size() < 3)
        throw HookFormatError("'" + args[0] + "' needs at least MAC/DUID and address arguments");

    LeaseEvent e;
    e.action = *action;
    auto address = IpAddress::parse(args[2]);
    if (!address)
        throw HookFormatError("invalid address argument");
    e.address = *address;
    bool v6 = !address->isV4();
    if (v6 && (*action == LeaseAction::Add || *action == LeaseAction::Old || *action == LeaseAction::Del)) {
        // DHCPv6: the second argument is the client's DUID; the MAC comes from DNSMASQ_MAC.
        if (auto duid = parseHexBytes(args[1], kMaxHookClientId))
            e.clientId = std::move(*duid);
        if (const char* mac = getenv("DNSMASQ_MAC"))
            e.mac = MacAddress::parse(mac);
    } else {
        // "06-01:23:..." is a non-Ethernet hardware address: no MAC then.
        e.mac = MacAddress::parse(args[1]);
        if (!v6)
            if (const char* cid = getenv("DNSMASQ_CLIENT_ID"))
                if (auto bytes = parseHexBytes(cid, kMaxHookClientId))
                    e.clientId = std::move(*bytes);
    }
    if (args.size() >= 4)
        e.hostname = args[3].substr(0, kMaxHookHostname);

    if (const char* url = getenv("DNSMASQ_MUD_URL")) {
        std::string_view s(url);
        if (s.size() > kMaxHookMudUrl)
            e.mudUrlTooLong = true;
        else
            e.mudUrl = std::string(s);
    }
    if (const char* v = getenv("DNSMASQ_VENDOR_CLASS"))
        e.vendorClass = std::string(v).substr(0, kMaxHookVendorClass);
    if (const char* v = getenv("DNSMASQ_REQUESTED_OPTIONS"))
        e.requestedOptions = std::string(v).substr(0, kMaxHookRequestedOptions);
    if (const char* v = getenv("DNSMASQ_INTERFACE"))
        e.interface = std::string(v).substr(0, kMaxHookInterface);
    if (const char* v = getenv("DNSMASQ_TAGS"))
        e.tags = std::string(v).substr(0, kMaxHookTags);
    if (const char* v = getenv("DNSMASQ_DATA_MISSING"))
        e.dataMissing = std::string_view(v) == "1";
    if (const char* v = getenv("DNSMASQ_LEASE_EXPIRES"))
        e.leaseExpires = parseDecimal<std::int64_t>(v);
    if (const char* v = getenv("DNSMASQ_TIME_REMAINING"))
        e.timeRemaining = parseDecimal<std::uint32_t>(v);
    if (const char* v = getenv("DNSMASQ_IAID")) {
        std::string_view s(v);
        if (!s.empty() && s[0] == 'T') {
            e.temporary = true;
            s.remove_prefix(1);
        }
        e.iaid = parseDecimal<std::uint32_t>(s);
    }
    return e;
}

} // namespace mudguard::controller
