#pragma once
// What the core knows: devices, the policies they use, which device owns which address, the
// accepted signers; and the settings it decides with. Plain values: the core reads them to decide
// and replaces them only by adopting a plan whose every step was applied.

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "mudguard/controller/DaemonConfig.h"
#include "mudguard/controller/Discovery.h"
#include "mudguard/controller/Model.h"
#include "mudguard/enforcer/Config.h"
#include "mudguard/enforcer/Policy.h"
#include "mudguard/mudparser/Diagnostic.h"
#include "mudguard/mudparser/Profile.h"
#include "mudguard/mudparser/Signature.h"

namespace mudguard::controller::core {

/// What the core knows of one device.
struct DeviceRecord {
    MacAddress mac;
    DeviceState state = DeviceState::Pending;
    std::string reason;
    std::optional<FailureStage> stage; ///< with state failed
    DeviceSource source = DeviceSource::Dhcp;
    std::string mudUrl; ///< the URL bound to the device
    std::string policyKey; ///< the policy in force ("" when none)
    std::optional<std::string> pendingUrl; ///< a URL change waiting for its file (or for an admin)
    bool pendingWaitsForSigner = false; ///< the pending URL's file waits for an admin to accept its signer
    std::shared_ptr<const std::string> localDocument; ///< an admin's local MUD file
    bool adminBound = false; ///< registered by an admin (configuration or API): announcements are ignored
    std::vector<IpAddress> addresses; ///< sorted
    std::optional<Timestamp> leaveAt; ///< it left: unbound at this time unless it comes back
    std::optional<Timestamp> announcedAt; ///< when its last announcement was made
    /// False while the store does not hold what memory says of the device: it refused the write
    /// that would have recorded it. The device is held in the kernel and recorded again once the
    /// store accepts writes.
    bool recorded = true;
    std::vector<std::string> unrecordedSpool; ///< spool entries that named it and are not yet recorded
    /// URL changes announced in the current window (a device that changes its URL faster than the
    /// limit is held).
    Timestamp urlChangeWindow {};
    unsigned urlChanges = 0;
};

/// A MUD file in force (or being obtained), shared by every device bound to it.
struct PolicyRecord {
    std::string key; ///< the MUD URL, or "local:<sha256>" for an admin's local file
    std::string url; ///< the MUD URL (for a local file: the mud-url it declares)
    bool local = false;
    std::string id; ///< the enforcer's policy id
    std::shared_ptr<const mudparser::Profile> profile;
    std::shared_ptr<const std::string> document;
    std::string hash; ///< "sha256:<hex>" of the document
    std::optional<mudparser::SignerIdentity> signer;
    std::vector<std::string> signerChain; ///< subjects from the signer up to the trust anchor
    std::optional<Timestamp> fetchedAt;
    unsigned cacheValidityHours = 48;
    bool unsupported = false; ///< the maker marks it is-supported: false (never refreshed)
    bool installed = false; ///< the enforcer has it
    std::optional<Failure> failure; ///< why it cannot be installed (translation)
    std::vector<std::string> dnsNames; ///< names its rules use (resolved while it is installed)
    /// A refresh was asked for: the next one waits until then (a failing server is not hammered).
    std::optional<Timestamp> refreshAfter;
};

struct PendingSigner {
    std::string authority;
    mudparser::SignerIdentity identity;
    std::string mudUrl; ///< the file that brought it
    Timestamp seenAt {};
};

/// Everything the core decides from.
struct State {
    std::map<MacAddress, DeviceRecord> devices;
    std::map<std::string, PolicyRecord> policies; ///< by key
    std::map<std::string, std::size_t> policyUse; ///< devices assigned to each policy key
    std::map<IpAddress, MacAddress> owners; ///< which device an address belongs to
    std::map<std::string, std::vector<mudparser::SignerIdentity>> signers; ///< accepted, by authority
    std::vector<PendingSigner> pendingSigners;
    std::map<std::string, std::vector<std::string>> classNameAddresses; ///< resolved names of classes
    /// URLs whose verdict could not be recorded: fetched again once the store accepts writes.
    std::set<std::string> retryUrls;
    std::optional<std::string> storeFailure; ///< set while the store refuses writes: why
};

/// An admin's local MUD file, read and parsed by the daemon (the core does no I/O).
struct LocalDocument {
    std::shared_ptr<const std::string> document;
    std::string digest; ///< hex SHA-256 of the document
    std::shared_ptr<const mudparser::Profile> profile; ///< null when it is not a valid MUD file
    std::optional<Failure> failure; ///< unreadable or invalid: why
    std::vector<mudparser::Diagnostic> diagnostics;
};

/// A device the configuration registers.
struct ConfiguredDevice {
    MacAddress mac;
    std::optional<std::string> mudUrl;
    std::optional<LocalDocument> file;
};

/// What the core decides with, taken from the configuration (and the interfaces' addresses).
struct Settings {
    std::chrono::seconds leaveGrace { 86400 };
    bool unbindWhenUrlWithdrawn = false;
    std::vector<enforcer::Prefix> lanPrefixes;
    std::vector<enforcer::Prefix> routerAddresses;
    std::optional<enforcer::Prefix> ntpServer;
    std::vector<DaemonConfig::Classes::Controller> controllers;
    std::vector<DaemonConfig::Classes::MyController> myControllers;
    std::vector<ConfiguredDevice> devices;
    enforcer::Config enforcer;
    /// A device may announce this many new MUD URLs per window; beyond that it is held.
    unsigned maxUrlChanges = 5;
    std::chrono::seconds urlChangeWindow { 3600 };
};

/// Hex SHA-256 of `data`.
std::string sha256Hex(std::string_view data);
/// A signer as the store keeps it (a JSON object), and back.
std::string encodeSigner(const mudparser::SignerIdentity& id);
std::optional<mudparser::SignerIdentity> decodeSigner(const std::string& text);

/// The enforcer's types from the controller's (the same bytes).
enforcer::MacAddress toEnforcer(const MacAddress& mac);
enforcer::IpAddress toEnforcer(const IpAddress& ip);
IpAddress fromEnforcer(const enforcer::IpAddress& ip);

} // namespace mudguard::controller::core
