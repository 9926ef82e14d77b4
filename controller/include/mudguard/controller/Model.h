#pragma once
// The controller's vocabulary: what a device is to mudguard (its state, how it was learnt, how far
// that is to be believed), why something was refused (a typed failure stage), and the records the
// API shows and the durable store keeps. Storage and the API speak this language; neither owns it.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mudguard::controller {

/// Wall-clock time with millisecond precision, stored as Unix milliseconds.
using Timestamp = std::chrono::sys_time<std::chrono::milliseconds>;

enum class DeviceState {
    Pending, ///< known, no policy in force yet: infrastructure only
    Fetching, ///< its MUD file is being obtained: infrastructure only
    Enforced, ///< its policy is in force
    Failed, ///< no policy could be put in force (see the failure): infrastructure only
    Quarantined, ///< set aside by an admin: infrastructure only
};

/// The channel a device's MUD URL (or its existence) was learnt from.
enum class DeviceSource { Dhcp, Dhcpv6, Lldp, Admin };

/// How far a binding is to be believed: a DHCP or LLDP announcement is a claim any device can make;
/// a certificate backs it with the maker's key; an admin sets it.
enum class Assurance { Asserted, Certificate, Admin };

/// Where on the way from an announcement to rules in the kernel something was refused. Carried by
/// every refusal, shown by the API and counted by the metrics.
enum class FailureStage {
    Url, ///< the announced MUD string or URL itself
    Fetch, ///< obtaining the file or its signature (network, TLS, HTTP, limits of the fetcher)
    Signature, ///< the signature did not verify, or is missing where one is required
    Signer, ///< the same-signer rule: a new signer waits for an admin
    Validation, ///< the file is not a valid MUD file (YANG, RFC 8520 rules, mud-url mismatch)
    Translation, ///< valid, but this router cannot express it
    Kernel, ///< the kernel refused the rules
    Store, ///< the state database refused the write; the device is held until it accepts writes
    Limit, ///< a limit of mudguard's own: the fetch queue, URL changes too frequent
};

const char* toString(DeviceState s) noexcept; ///< "pending", "fetching", ...
const char* toString(DeviceSource s) noexcept; ///< "dhcp", "dhcpv6", "lldp", "admin"
const char* toString(Assurance a) noexcept; ///< "asserted", "certificate", "admin"
const char* toString(FailureStage s) noexcept; ///< "url", "fetch", "signature", ...
std::optional<DeviceState> parseDeviceState(std::string_view s) noexcept;
std::optional<DeviceSource> parseDeviceSource(std::string_view s) noexcept;
std::optional<FailureStage> parseFailureStage(std::string_view s) noexcept;
/// Every stage, in declaration order (metrics, docs tests).
std::vector<FailureStage> allFailureStages();

/// Why something was refused: the stage, a stable code (docs/diagnostics.md, docs/trust.md) and
/// one sentence for an operator.
struct Failure {
    FailureStage stage = FailureStage::Fetch;
    std::string code;
    std::string message;
    bool operator==(const Failure&) const = default;
};

/// "02:00:00:00:00:0a" from any case with ':' or '-' separators; nothing when it is not a MAC.
std::optional<std::string> canonicalMac(std::string_view s);
/// inet_ntop's form of an IPv4 or IPv6 address ("2001:db8::1"); nothing when it is not one.
std::optional<std::string> canonicalIp(std::string_view s);

/// A device as the durable store and the API list it.
struct DeviceRow {
    std::string mac; ///< canonical
    DeviceState state = DeviceState::Pending;
    std::string reason; ///< why it is in this state (failed, quarantined); may be empty
    std::optional<FailureStage> failureStage; ///< with state failed: where it was refused
    DeviceSource source = DeviceSource::Dhcp;
    std::string mudUrl; ///< the MUD URL the device's policy comes from; empty when none
    std::string policyId; ///< the enforcer policy in force; empty when none
    std::optional<std::string> localOverride; ///< an admin-supplied MUD document for this MAC
    /// When the device's last announcement was made (the hook's clock): an older one replayed
    /// from the spool after a newer one was recorded is ignored.
    std::optional<Timestamp> announcedAt;
    /// Set while the device is gone: it is unbound at this time unless it comes back.
    std::optional<Timestamp> leaveAt;
    Timestamp createdAt {}; ///< set by the store
    Timestamp stateSince {}; ///< set by the store when the state changes
    Timestamp updatedAt {}; ///< set by the store
    bool operator==(const DeviceRow&) const = default;
};

struct StateChange {
    std::string mac;
    Timestamp at {};
    std::optional<DeviceState> from; ///< empty for the device's first state
    DeviceState to = DeviceState::Pending;
    std::string reason;
};

struct AddressRow {
    std::string mac;
    std::string ip; ///< canonical
    int family = 4; ///< 4 or 6
    Timestamp firstSeen {}, lastSeen {};
};

struct BindingRow {
    std::string mac;
    std::string mudUrl;
    DeviceSource source = DeviceSource::Dhcp;
    Timestamp boundAt {}; ///< when this URL was first bound to this MAC
    Timestamp updatedAt {}; ///< last confirmation (a renewal with the same URL)
    std::optional<Timestamp> unbindAfter; ///< set while the device is gone: the end of its grace time
};

/// What is known of one MUD URL: its last known good file (with its signature and how it was
/// verified) and the last failure.
struct MudCacheRow {
    std::string url;
    std::string hash; ///< of the document, e.g. "sha256:…"
    std::string signer; ///< who signed it, in words
    std::optional<Timestamp> validUntil; ///< fetchedAt + the file's cache-validity
    std::optional<Timestamp> fetchedAt; ///< last fetch or confirmation (304)
    std::optional<Timestamp> verifiedAt; ///< when its signature was last found valid
    unsigned cacheValidityHours = 48;
    std::string etag, lastModified;
    bool supported = true; ///< false when the maker marks it is-supported: false
    std::string lastError; ///< the last fetch/verify/validate failure, empty after a success
    std::optional<Timestamp> lastErrorAt;
    std::optional<std::string> document; ///< the last known good MUD file
    std::optional<std::string> signature; ///< and its detached signature (DER)
    std::string signatureUrl;
    std::string signerIdentity; ///< the signer as a JSON object (subject, issuer, fingerprint, notAfter)
    std::vector<std::string> chain; ///< subjects from the signer up to the trust anchor
};

struct SignerRow {
    std::string authority; ///< the MUD URL's host
    std::string signer; ///< the signer as a JSON object
    Timestamp acceptedAt {};
    std::string acceptedBy; ///< "first-use", an admin token's name, "config"
};

struct PendingSignerRow {
    std::string authority, signer;
    std::string mudUrl; ///< the file that brought it
    Timestamp seenAt {};
    std::string detail;
};

struct PendingUrlChangeRow {
    std::string mac;
    std::string oldUrl, newUrl;
    std::string reason;
    Timestamp requestedAt {};
};

struct AuditEntry {
    std::int64_t seq = 0; ///< assigned by the store: strictly increasing, never reused
    Timestamp at {}; ///< the store's clock when left at zero
    std::string event; ///< an event ID from docs/events.md, e.g. "POLICY_APPLIED"
    std::string mac; ///< empty when the entry is not about one device
    std::string mudUrl;
    std::string reason;
    std::string detail = "{}"; ///< a JSON value (checked by the database)
};

struct AuditQuery {
    std::int64_t since = 0; ///< entries with seq > since
    std::optional<std::string> device; ///< canonical MAC
    std::size_t limit = 100; ///< capped at kMaxAuditPage
};

struct AuditPage {
    std::vector<AuditEntry> entries; ///< ascending seq
    std::int64_t next = 0; ///< pass as `since` for the next page (the last seq, or the query's since)
    bool more = false; ///< true when more entries follow
};

inline constexpr std::size_t kMaxAuditPage = 1000;
inline constexpr std::size_t kMaxHistoryPerDevice = 200;

} // namespace mudguard::controller
