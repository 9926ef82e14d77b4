#pragma once
// The stateful enforcer the daemon drives from its event-loop thread. It keeps the desired state
// in memory (policies, devices, class and DNS sets, posture) and keeps the kernel equal to it:
// every commit is one atomic batch, computed from what changed only. A device join, leave or
// address change and a DNS update touch set elements only; a policy change replaces the
// policy's chains and moves its devices in the same batch.
//
// Not thread-safe: one thread owns the Enforcer (and its netlink sockets).

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "mudguard/enforcer/Applier.h"
#include "mudguard/enforcer/Config.h"
#include "mudguard/enforcer/Layout.h"
#include "mudguard/enforcer/Policy.h"

namespace mudguard::enforcer {

/// What a device's traffic is held to.
struct Assignment {
    enum class Kind {
        Pending, ///< no policy in force yet (or it failed): infrastructure only
        Quarantine, ///< put aside by an administrator: infrastructure only
        Policy, ///< the policy `policyId`
    };
    Kind kind = Kind::Pending;
    std::string policyId;
    static Assignment pending() { return { Kind::Pending, {} }; }
    static Assignment quarantine() { return { Kind::Quarantine, {} }; }
    static Assignment policy(std::string id) { return { Kind::Policy, std::move(id) }; }
    bool operator==(const Assignment&) const = default;
};

/// A managed device as the enforcer knows it.
struct Device {
    MacAddress mac;
    Assignment assignment;
    std::vector<IpAddress> addresses; ///< sorted
    /// Class memberships: the authority of the device's MUD URL (manufacturer and
    /// same-manufacturer sets of other devices' policies) and the MUD URL itself (model sets).
    std::optional<std::string> manufacturer, model;
    bool operator==(const Device&) const = default;
};

/// One address from a DNS answer and how long it may be used.
struct DnsAddress {
    IpAddress address;
    std::chrono::seconds ttl { 0 };
};

/// Changes collected by the caller and committed as one batch. Operations apply in order;
/// nothing is checked against the enforcer's state before commit, except that policies are
/// compiled here (so a CompileError names the ACE at the call).
class Transaction {
public:
    /// Installs a policy, or replaces the one with the same id (its devices stay on it).
    /// Throws CompileError when the policy cannot be expressed.
    Transaction& installPolicy(Policy policy);
    /// Removes a policy; devices still assigned to it become pending (fail closed).
    Transaction& removePolicy(std::string id);

    /// Creates the device if needed and assigns it. Assigning an unknown policy fails the commit.
    Transaction& setDevice(const MacAddress& mac, Assignment assignment);
    Transaction& removeDevice(const MacAddress& mac);
    /// The device's addresses (IPv4 and IPv6), replacing the previous ones. An address another
    /// device had moves to this one.
    Transaction& setAddresses(const MacAddress& mac, std::vector<IpAddress> addresses);
    Transaction& addAddress(const MacAddress& mac, const IpAddress& address);
    Transaction& removeAddress(const MacAddress& mac, const IpAddress& address);
    /// The device's MUD URL authority and MUD URL (its manufacturer and model classes).
    Transaction& setClasses(
        const MacAddress& mac, std::optional<std::string> manufacturer, std::optional<std::string> model);

    /// Adds or refreshes addresses of a DNS name; each expires after its TTL (set element
    /// timeouts), so the kernel closes access by itself.
    Transaction& setDnsAddresses(std::string name, std::vector<DnsAddress> addresses);
    /// Withdraws addresses of a DNS name at once.
    Transaction& removeDnsAddresses(std::string name, std::vector<IpAddress> addresses);
    /// The contents of local-networks, a controller class (key: class URI) or my-controller
    /// (key: MUD URL), replacing the previous ones.
    Transaction& setClassPrefixes(SetRef ref, std::vector<Prefix> prefixes);

    Transaction& setConfig(Config config);

    /// Appends the operations of `other`, after this one's.
    Transaction& append(const Transaction& other);

    bool empty() const { return m_ops.empty(); }
    std::size_t size() const { return m_ops.size(); }

    struct InstallPolicy {
        Policy policy;
    };
    struct RemovePolicy {
        std::string id;
    };
    struct SetAssignment {
        MacAddress mac;
        Assignment assignment;
    };
    struct RemoveDevice {
        MacAddress mac;
    };
    struct SetAddresses {
        MacAddress mac;
        std::vector<IpAddress> addresses;
    };
    struct AddAddress {
        MacAddress mac;
        IpAddress address;
    };
    struct RemoveAddress {
        MacAddress mac;
        IpAddress address;
    };
    struct SetClasses {
        MacAddress mac;
        std::optional<std::string> manufacturer, model;
    };
    struct SetDns {
        std::string name;
        std::vector<DnsAddress> addresses;
    };
    struct RemoveDns {
        std::string name;
        std::vector<IpAddress> addresses;
    };
    struct SetClassPrefixes {
        SetRef ref;
        std::vector<Prefix> prefixes;
    };
    struct SetConfig {
        Config config;
    };
    using Op = std::variant<InstallPolicy, RemovePolicy, SetAssignment, RemoveDevice, SetAddresses, AddAddress,
        RemoveAddress, SetClasses, SetDns, RemoveDns, SetClassPrefixes, SetConfig>;
    const std::vector<Op>& ops() const { return m_ops; }

private:
    std::vector<Op> m_ops;
};

/// Per-ACE hit counters of a policy, summed over both tables and address families.
struct AceCounter {
    Direction direction = Direction::FromDevice;
    std::string ace; ///< "acl/ace", or "default deny"
    Counter counter;
};

/// Packets and bytes denied to a device, from it (by MAC) and to it (by MAC in the bridge, by
/// its current addresses in the inet table).
struct DeviceCounters {
    Counter deniedFrom, deniedTo;
};

/// What one commit or restore did, for logs and metrics.
struct CommitStats {
    std::size_t operations = 0, elements = 0;
    bool structural = false; ///< chains or sets were created, replaced or deleted
};

class Enforcer {
public:
    using Clock = std::function<std::chrono::steady_clock::time_point()>;

    /// Owns the applier. `clock` drives DNS expiry (tests inject their own).
    explicit Enforcer(std::unique_ptr<Applier> applier, Config config = {}, Clock clock = {});
    ~Enforcer();
    Enforcer(const Enforcer&) = delete;
    Enforcer& operator=(const Enforcer&) = delete;

    /// Probes the kernel, applies `initial` to the desired state (a restart restores its saved
    /// state here), reads the existing tables once and brings them to the desired state in one
    /// batch. What the kernel already enforces stays in force until that batch commits: there
    /// is no window without protection. Throws like commit.
    CommitStats start(Transaction initial = {});

    /// Applies a transaction as one batch. On any exception (Error, CompileError, ApplyError)
    /// nothing changed: the kernel and the in-memory state are as before.
    CommitStats commit(const Transaction& transaction);

    /// Reads the kernel and repairs any difference from the desired state in one batch (what
    /// start() does, without changing the desired state).
    CommitStats reconcile();

    /// The transaction that, committed after `transaction`, brings the desired state back to what
    /// it is now: every policy, device, class set and setting it touches is set back, what it
    /// added is removed. DNS addresses it added are withdrawn and those it withdrew come back with
    /// the time they had left (refreshed timeouts stay). Throws like commit() when `transaction`
    /// cannot be applied. Touches nothing.
    Transaction undoOf(const Transaction& transaction) const;

    /// Readable when the nftables ruleset changed; call handleEvents() then. Our own batches
    /// are recognised and ignored.
    int eventFd() const;
    /// Drains the events; when another process changed or deleted mudguard's tables, restores
    /// them (reconcile). Returns whether it restored.
    bool handleEvents();

    const Config& config() const;
    const KernelFeatures& features() const;
    const Policy* policy(const std::string& id) const;
    std::vector<std::string> policyIds() const;
    std::optional<Device> device(const MacAddress& mac) const;
    std::size_t deviceCount() const;
    /// The addresses of a DNS name that have not expired.
    std::vector<IpAddress> dnsAddresses(const std::string& name) const;

    /// Counters, read from the kernel on demand (the audit path, never the join path).
    std::vector<AceCounter> policyCounters(const std::string& policyId);
    DeviceCounters deviceCounters(const MacAddress& mac);

    /// The desired tables as `nft -s list table` prints them (with elements).
    std::string render() const;
    /// The rules in force for one device: the base and dispatch chains as they apply to it,
    /// its policy's chains and the sets it is matched through. Empty for an unknown device.
    std::string renderDevice(const MacAddress& mac) const;
    /// The compiled structure (no elements).
    const Layout& layout() const;

private:
    struct State;
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

} // namespace mudguard::enforcer
