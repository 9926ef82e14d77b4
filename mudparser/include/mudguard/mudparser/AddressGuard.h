#pragma once
// Server-side request forgery guard: a MUD URL comes from an untrusted device, so the addresses
// its host resolves to are checked before any connection is made, and the checked address is the
// one connected to.

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "mudguard/mudparser/IpAddress.h"

namespace mudguard::mudparser {

/// The router's own view of its networks. The daemon fills it from its configuration and from
/// netlink address events; the command line takes it from the interfaces (fromInterfaces()).
struct LocalNetworks {
    std::vector<IpAddress> ownAddresses;
    std::vector<IpPrefix> lanNetworks;

    /// Every address of this host's interfaces, and the network each one sits on (getifaddrs).
    static LocalNetworks fromInterfaces();
};

enum class AddressClass {
    Public,
    Unspecified, ///< 0.0.0.0/8, ::
    Loopback, ///< 127.0.0.0/8, ::1
    LinkLocal, ///< 169.254.0.0/16, fe80::/10
    Multicast, ///< 224.0.0.0/4, ff00::/8
    Reserved, ///< 240.0.0.0/4 including the limited broadcast address
    Private, ///< 10/8, 172.16/12, 192.168/16, 100.64/10 (shared), fc00::/7 (ULA), fec0::/10
    OwnAddress, ///< an address of the router itself
    LanNetwork, ///< inside one of the router's LAN networks
};

/// "loopback", "link-local", ... as used in refusal messages.
const char* toString(AddressClass c);

struct AddressPolicy {
    /// Prefixes admitted even though their class is refused (for a MUD server on the LAN).
    std::vector<IpPrefix> allow;
    /// Admit every address (the command line's --allow-private, for testing a local server).
    bool allowAll = false;
    /// Refuse private-use ranges too; on by default because MUD files live on the internet.
    bool refusePrivate = true;
};

/// Thread-safe: the fetch workers check addresses while the daemon updates the local networks.
class AddressGuard {
public:
    explicit AddressGuard(AddressPolicy policy = {}, LocalNetworks local = {});

    void setLocalNetworks(LocalNetworks local);
    void setPolicy(AddressPolicy policy);

    AddressClass classify(const IpAddress& a) const;

    /// nullopt when a connection to `a` is allowed; otherwise the reason, e.g.
    /// "127.0.0.1 is a loopback address".
    std::optional<std::string> check(const IpAddress& a) const;

private:
    struct State {
        AddressPolicy policy;
        LocalNetworks local;
    };
    std::shared_ptr<const State> state() const;

    mutable std::mutex m_mutex;
    std::shared_ptr<const State> m_state;
};

} // namespace mudguard::mudparser
