#pragma once
// What a discovery source says about a device, whatever the source: the dnsmasq hook, the
// neighbour table, LLDP, an admin. Each source only converts what it reads into this; the core
// decides. Adding a source is a converter and its test.

#include <optional>
#include <string>

#include "mudguard/controller/Discovery.h"
#include "mudguard/controller/Model.h"

namespace mudguard::controller::core {

struct Announcement {
    enum class Kind {
        Url, ///< the device names a MUD URL (`url`, normalised)
        Refused, ///< it named something that is not an acceptable MUD URL (`refusal`)
        NoUrl, ///< a lease or a renewal without a MUD URL (`address`)
        Replay, ///< a server's start-up replay, which cannot carry a MUD URL (`address`)
        Address, ///< an address seen for the MAC (the neighbour table)
        Gone, ///< the channel says the device went away (lease released or expired, LLDP aged out)
    };
    Kind kind = Kind::Url;
    MacAddress mac;
    DeviceSource source = DeviceSource::Dhcp;
    Assurance assurance = Assurance::Asserted;
    std::optional<std::string> url;
    std::optional<Failure> refusal;
    std::optional<IpAddress> address;
    bool renewal = false; ///< NoUrl: an existing lease renewed (dnsmasq "old")

    // Facts about the device that assignment rules may use.
    std::string hostname;
    std::string vendorClass; ///< DHCP option 60
    std::string requestList; ///< DHCP option 55, as the server reports it

    /// When the source saw it (the hook's clock); an announcement older than the last one recorded
    /// for the device (replayed from the spool) is ignored.
    std::optional<Timestamp> at;
    /// The spool entry that carries it: removed once the announcement is recorded.
    std::optional<std::string> spoolId;
};

} // namespace mudguard::controller::core
