#include "discovery/Announcements.h"

#include "mudguard/mudparser/MudString.h"

namespace mudguard::controller::discovery {

using core::Announcement;

namespace {

/// The MUD string as a URL announcement, or a refusal saying why (RFC 8520 section 10).
void setUrl(Announcement& a, std::string_view raw)
{
    auto parsed = mudparser::parseMudString(raw);
    if (!parsed) {
        a.kind = Announcement::Kind::Refused;
        a.refusal = Failure { FailureStage::Url, parsed.code, parsed.message };
        return;
    }
    a.kind = Announcement::Kind::Url;
    a.url = parsed.url->str();
}

} // namespace

std::optional<Announcement> fromLease(const LeaseEvent& e)
{
    if (!e.mac || e.action == LeaseAction::ArpDel)
        return std::nullopt;
    Announcement a;
    a.mac = *e.mac;
    a.source = e.isV6() ? DeviceSource::Dhcpv6 : DeviceSource::Dhcp;
    a.address = e.address;
    a.hostname = e.hostname;
    a.vendorClass = e.vendorClass;
    a.requestList = e.requestedOptions;
    if (e.sentAtMs)
        a.at = Timestamp(std::chrono::milliseconds(*e.sentAtMs));
    a.spoolId = e.spoolId;
    switch (e.action) {
    case LeaseAction::Del:
        a.kind = Announcement::Kind::Gone;
        return a;
    case LeaseAction::ArpAdd:
        a.kind = Announcement::Kind::Address;
        return a;
    case LeaseAction::Add:
    case LeaseAction::Old:
    case LeaseAction::ArpDel:
        break;
    }
    if (e.dataMissing) {
        // dnsmasq's start-up replay carries no MUD URL: the saved binding stands.
        a.kind = Announcement::Kind::Replay;
    } else if (e.mudUrlTooLong) {
        a.kind = Announcement::Kind::Refused;
        a.refusal = Failure { FailureStage::Url, "mud-string-too-long",
            "the MUD string is longer than 255 octets (RFC 8520 section 10)" };
    } else if (!e.mudUrl) {
        a.kind = Announcement::Kind::NoUrl;
        a.renewal = e.action == LeaseAction::Old;
    } else {
        setUrl(a, *e.mudUrl);
    }
    return a;
}

std::optional<Announcement> fromLldp(const LldpEvent& e)
{
    if (e.kind == LldpEvent::Kind::Stopped)
        return std::nullopt;
    auto mac = e.neighbour.mac();
    if (!mac)
        return std::nullopt;
    Announcement a;
    a.mac = *mac;
    a.source = DeviceSource::Lldp;
    if (e.kind == LldpEvent::Kind::Deleted) {
        a.kind = Announcement::Kind::Gone;
        return a;
    }
    if (!e.neighbour.mudUrlError.empty()) {
        a.kind = Announcement::Kind::Refused;
        a.refusal = Failure { FailureStage::Url, "lldp-tlv-malformed", e.neighbour.mudUrlError };
        return a;
    }
    if (!e.neighbour.mudUrl)
        return std::nullopt;
    setUrl(a, *e.neighbour.mudUrl);
    return a;
}

std::optional<Announcement> fromNeighbour(const NeighbourEvent& e)
{
    // Addresses stay bound until another device claims them or the device leaves: removing one
    // when the kernel forgets a neighbour would let traffic to the device bypass its policy.
    if (e.kind == NeighbourEvent::Kind::Delete)
        return std::nullopt;
    Announcement a;
    a.kind = Announcement::Kind::Address;
    a.mac = e.mac;
    a.address = e.address;
    return a;
}

} // namespace mudguard::controller::discovery
