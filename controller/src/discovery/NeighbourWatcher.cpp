#include "mudguard/controller/NeighbourWatcher.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <utility>

#include <linux/neighbour.h>
#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/object.h>
#include <netlink/route/link.h>
#include <netlink/route/neighbour.h>
#include <sys/socket.h>

#include "discovery/Handles.h"

namespace mudguard::controller {

using discovery::NlCacheMngrPtr;
using discovery::NlSockPtr;

namespace {

std::string nlError(const std::string& what, int err) { return what + ": " + nl_geterror(err); }

// States in which the entry holds a link-layer address the kernel believes in.
constexpr int kUsableStates = NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT;

} // namespace

std::string_view toString(NeighbourEvent::Kind kind)
{
    switch (kind) {
    case NeighbourEvent::Kind::Add:
        return "add";
    case NeighbourEvent::Kind::Change:
        return "change";
    case NeighbourEvent::Kind::Delete:
        return "delete";
    }
    return "unknown";
}

struct NeighbourWatcher::Impl {
    using Key = std::pair<int, IpAddress>;
    struct Entry {
        MacAddress mac;
        std::uint16_t state = 0;
        std::string interface;
    };

    NeighbourWatcherOptions options;
    NlSockPtr notifySock;
    NlSockPtr syncSock;
    NlCacheMngrPtr mngr; // declared after the sockets: freed first
    nl_cache* cache = nullptr; // owned by mngr
    std::map<Key, Entry> known;
    std::map<int, std::optional<std::string>> interfaceCache; // ifindex -> name if it is a LAN interface
    std::vector<NeighbourEvent> pending;
    NeighbourWatcherStats stats;

    static void onChange(nl_cache*, nl_object* obj, int action, void* arg) noexcept
    {
        // Called from inside libnl: nothing may escape.
        auto* self = static_cast<Impl*>(arg);
        try {
            self->process(obj, action);
        } catch (...) {
            self->needResync = true;
        }
    }
    bool needResync = false;

    std::optional<std::string> lanInterface(int ifindex)
    {
        if (auto it = interfaceCache.find(ifindex); it != interfaceCache.end())
            return it->second;
        // Asked over the watcher's own netlink socket, so the answer comes from the namespace the
        // watcher was created in (if_indextoname() would ask the caller's current namespace).
        rtnl_link* link = nullptr;
        if (rtnl_link_get_kernel(syncSock.get(), ifindex, nullptr, &link) < 0 || !link)
            return std::nullopt; // vanished: not cached, the index may be asked again
        std::string name = rtnl_link_get_name(link) ? rtnl_link_get_name(link) : "";
        rtnl_link_put(link);
        std::optional<std::string> result;
        if (options.interfaces.empty()
            || std::find(options.interfaces.begin(), options.interfaces.end(), name) != options.interfaces.end())
            result = name;
        if (interfaceCache.size() > 4096)
            interfaceCache.clear();
        interfaceCache.emplace(ifindex, result);
        return result;
    }

    /// The key of any IPv4/IPv6 neighbour object (valid or not).
    static std::optional<Key> keyOf(rtnl_neigh* n)
    {
        int family = rtnl_neigh_get_family(n);
        if (family != AF_INET && family != AF_INET6)
            return std::nullopt;
        nl_addr* dst = rtnl_neigh_get_dst(n);
        if (!dst || nl_addr_get_family(dst) != family
            || nl_addr_get_len(dst) != static_cast<unsigned>(family == AF_INET ? 4 : 16))
            return std::nullopt;
        return Key { rtnl_neigh_get_ifindex(n), IpAddress::fromBytes(family, nl_addr_get_binary_addr(dst)) };
    }

    /// The entry if the object is a usable LAN mapping.
    std::optional<Entry> usable(rtnl_neigh* n, const Key& key)
    {
        const auto& ip = key.second;
        int state = rtnl_neigh_get_state(n);
        if (state < 0 || !(state & kUsableStates) || (state & (NUD_NOARP | NUD_INCOMPLETE | NUD_FAILED)))
            return std::nullopt;
        if (rtnl_neigh_get_flags(n) & NTF_PROXY)
            return std::nullopt;
        if (ip.isMulticast() || (!options.includeLinkLocal && ip.isLinkLocal()))
            return std::nullopt;
        static const std::array<std::uint8_t, 16> kZero {};
        if (ip.bytes == kZero)
            return std::nullopt;
        nl_addr* ll = rtnl_neigh_get_lladdr(n);
        if (!ll || nl_addr_get_len(ll) != 6)
            return std::nullopt;
        Entry e;
        std::memcpy(e.mac.bytes.data(), nl_addr_get_binary_addr(ll), 6);
        if (e.mac.isZero() || e.mac.isMulticast())
            return std::nullopt;
        auto iface = lanInterface(key.first);
        if (!iface)
            return std::nullopt;
        e.interface = *iface;
        e.state = static_cast<std::uint16_t>(state);
        return e;
    }

    static NeighbourEvent event(NeighbourEvent::Kind kind, const Key& key, const Entry& e)
    {
        return NeighbourEvent { kind, key.second, e.mac, key.first, e.interface, e.state };
    }

    /// Applies the new view of one key (nullopt: gone or unusable) and queues the event, if any.
    void update(const Key& key, std::optional<Entry> now)
    {
        auto it = known.find(key);
        if (!now) {
            if (it != known.end()) {
                pending.push_back(event(NeighbourEvent::Kind::Delete, key, it->second));
                known.erase(it);
            }
            return;
        }
        if (it == known.end()) {
            pending.push_back(event(NeighbourEvent::Kind::Add, key, *now));
            known.emplace(key, std::move(*now));
            return;
        }
        bool macChanged = it->second.mac != now->mac;
        bool stateChanged = it->second.state != now->state;
        it->second = std::move(*now);
        if (macChanged || (stateChanged && options.reportStateChanges))
            pending.push_back(event(NeighbourEvent::Kind::Change, key, it->second));
    }

    void process(nl_object* obj, int action)
    {
        if (std::strcmp(nl_object_get_type(obj), "route/neigh") != 0)
            return;
        auto* n = reinterpret_cast<rtnl_neigh*>(obj);
        auto key = keyOf(n);
        if (!key)
            return;
        if (action == NL_ACT_DEL) {
            update(*key, std::nullopt);
            return;
        }
        auto entry = usable(n, *key);
        if (!entry)
            ++stats.ignored;
        update(*key, std::move(entry));
    }

    /// Re-reads the kernel tables and queues the difference to `known`.
    void refill()
    {
        ++stats.resyncs;
        interfaceCache.clear();
        if (int err = nl_cache_refill(syncSock.get(), cache); err < 0)
            throw DiscoveryError(nlError("neighbour table re-read (nl_cache_refill)", err));
        std::map<Key, Entry> now;
        for (nl_object* o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
            auto* n = reinterpret_cast<rtnl_neigh*>(o);
            if (auto key = keyOf(n))
                if (auto e = usable(n, *key))
                    now.emplace(*key, std::move(*e));
        }
        std::vector<Key> gone;
        for (const auto& [key, e] : known)
            if (!now.count(key))
                gone.push_back(key);
        for (const auto& key : gone)
            update(key, std::nullopt);
        for (auto& [key, e] : now)
            update(key, std::move(e));
    }
};

NeighbourWatcher::NeighbourWatcher(NeighbourWatcherOptions options)
    : m_impl(std::make_unique<Impl>())
{
    auto& d = *m_impl;
    d.options = std::move(options);
    d.notifySock.reset(nl_socket_alloc());
    d.syncSock.reset(nl_socket_alloc());
    if (!d.notifySock || !d.syncSock)
        throw DiscoveryError("netlink socket allocation failed");
    if (int err = nl_connect(d.syncSock.get(), NETLINK_ROUTE); err < 0)
        throw DiscoveryError(nlError("netlink connect", err));

    nl_cache_mngr* mngr = nullptr;
    // Flags 0: no NL_AUTO_PROVIDE, which would publish the cache process-wide.
    if (int err = nl_cache_mngr_alloc(d.notifySock.get(), NETLINK_ROUTE, 0, &mngr); err < 0)
        throw DiscoveryError(nlError("netlink cache manager (nl_cache_mngr_alloc)", err));
    d.mngr.reset(mngr);
    // Room for bursts (thousands of devices re-resolving at once); overruns still resync.
    nl_socket_set_buffer_size(d.notifySock.get(), d.options.receiveBuffer, 0);
    if (int err = nl_cache_mngr_add(mngr, "route/neigh", &Impl::onChange, m_impl.get(), &d.cache); err < 0)
        throw DiscoveryError(nlError("neighbour cache (nl_cache_mngr_add route/neigh)", err));

    // The initial dump: everything usable becomes known (snapshot() lists it).
    for (nl_object* o = nl_cache_get_first(d.cache); o; o = nl_cache_get_next(o)) {
        auto* n = reinterpret_cast<rtnl_neigh*>(o);
        if (auto key = d.keyOf(n))
            if (auto e = d.usable(n, *key))
                d.known.emplace(*key, std::move(*e));
    }
}

NeighbourWatcher::~NeighbourWatcher() = default;

std::vector<NeighbourEvent> NeighbourWatcher::snapshot() const
{
    std::vector<NeighbourEvent> out;
    out.reserve(m_impl->known.size());
    for (const auto& [key, e] : m_impl->known)
        out.push_back(Impl::event(NeighbourEvent::Kind::Add, key, e));
    return out;
}

int NeighbourWatcher::fd() const { return nl_cache_mngr_get_fd(m_impl->mngr.get()); }

std::vector<NeighbourEvent> NeighbourWatcher::handleReadable()
{
    auto& d = *m_impl;
    int err = nl_cache_mngr_data_ready(d.mngr.get());
    // An overrun (ENOBUFS: -NLE_NOMEM) or any read error loses notifications: re-read the tables.
    if (err < 0 || d.needResync) {
        d.needResync = false;
        d.refill();
    }
    return std::exchange(d.pending, {});
}

std::vector<NeighbourEvent> NeighbourWatcher::resync()
{
    m_impl->refill();
    return std::exchange(m_impl->pending, {});
}

const NeighbourWatcherStats& NeighbourWatcher::stats() const { return m_impl->stats; }

} // namespace mudguard::controller
