#pragma once
// What the HTTP API serves, as plain typed values: the interface between the API server and the
// daemon. The daemon implements ApiBackend; the API server turns its values into JSON and its
// errors into stable error codes (docs/api.md).
//
// Threading contract
// ------------------
// * Every method may be called from several API threads at once. Implementations must be
//   thread-safe.
// * Read methods (devices(), device(), policies(), policy(), events(), health()) must answer from
//   a snapshot or a per-thread StoreReader and must not wait for the daemon's loop: an auditor
//   reading must never slow down enforcement, and enforcement must never stall a read.
// * Admin methods post the action to the daemon's loop and wait for its outcome. They may block,
//   but for a bounded time: when the loop does not answer in time (or is shutting down) they throw
//   api::Unavailable. The action may still happen later; the caller is told so.
// * The API server validates syntax before calling: MACs arrive canonical (Store's canonicalMac),
//   policy ids match [A-Za-z0-9_.-]{1,64}, authorities are lower-case host names (with an optional
//   port), URLs are https and at most 255 bytes, and a local MUD document is well-formed JSON of
//   bounded size and depth. Semantic checks (a MUD file that fails validation, a device that does
//   not exist) are the backend's.
//
// Errors
// ------
// Throw the api:: errors below; their message is shown to the API client, so it must be written
// for an operator and carry no internal detail. Any other exception becomes a 500 "internal"
// error; its text is logged, never sent.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mudguard/controller/Error.h"
#include "mudguard/controller/Model.h"
#include "mudguard/controller/StateStore.h"
#include "mudguard/mudparser/Diagnostic.h"
#include "mudguard/mudparser/Profile.h"

namespace mudguard::controller {

namespace api {

/// One device in the list view.
struct Device {
    std::string mac; ///< canonical
    DeviceState state = DeviceState::Pending;
    std::string reason; ///< why it is in this state (failed, quarantined); may be empty
    std::optional<FailureStage> failureStage; ///< with state failed: where it was refused
    DeviceSource source = DeviceSource::Dhcp; ///< how mudguard learnt it
    std::string mudUrl; ///< the URL bound to the device; empty when none
    std::vector<std::string> addresses; ///< canonical IPv4 and IPv6 addresses
    std::string policyId; ///< the policy in force; empty when none
    Timestamp createdAt {};
    Timestamp stateSince {};
    Timestamp updatedAt {};
};

/// What a MUD file says about itself (RFC 8520 section 3, RFC 9472 transparency).
struct MudMetadata {
    std::string mudUrl;
    unsigned mudVersion = 1;
    std::string lastUpdate; ///< as written in the file
    unsigned cacheValidityHours = 48;
    bool isSupported = true;
    std::optional<std::string> systeminfo, mfgName, modelName, firmwareRev, softwareRev, documentation;
    std::optional<std::string> mudSignature; ///< the signature URL the file names
    std::vector<std::string> extensions;
    std::optional<mudparser::Transparency> transparency;
};

/// The signature of a MUD file and who made it.
struct Signer {
    enum class Status {
        Verified, ///< signed by an accepted signer, chain checked
        Unsigned, ///< no signature (allowed by the trust policy, or a local file)
        Failed, ///< the signature did not verify; the file is not used
        PendingAcceptance, ///< valid, but the signer is new for this authority and waits for an admin
    };
    Status status = Status::Unsigned;
    std::string subject; ///< of the signer certificate; empty when unsigned
    std::string issuer;
    std::string fingerprint; ///< SHA-256 of the signer certificate, hex
    std::optional<Timestamp> notAfter; ///< the certificate's end of validity
    std::vector<std::string> chain; ///< subjects from the signer up to the trust anchor
    std::string message; ///< the verifier's verdict in words (why it failed, ...)
};

/// Hits of one ACE of the device's policy, as read from the kernel counters.
struct AceCounter {
    std::string acl;
    std::string ace;
    std::string direction; ///< "from-device" or "to-device"
    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;
};

struct Counters {
    std::vector<AceCounter> aces;
    std::uint64_t dropPackets = 0; ///< traffic the policy refused
    std::uint64_t dropBytes = 0;
    std::optional<Timestamp> readAt; ///< when the counters were read; empty when never
};

/// Blocked traffic of a device, summarised per peer and port.
struct Violation {
    Timestamp at {}; ///< the last packet of this summary
    std::string direction; ///< "from-device" or "to-device"
    std::string peer; ///< the other end's address
    std::string protocol; ///< "tcp", "udp", "icmp", "icmpv6", "ip protocol 47", ...
    std::optional<std::uint16_t> port; ///< the peer's port (TCP/UDP)
    std::uint64_t count = 0; ///< packets
};

/// Everything an auditor may want to know about one device.
struct DeviceDetail {
    Device device;
    std::vector<StateChange> history; ///< oldest first
    std::vector<AddressRow> addresses;
    std::optional<PendingUrlChangeRow> pendingUrlChange;
    std::optional<MudMetadata> mud; ///< of the policy in force
    std::optional<Signer> signer;
    std::optional<Timestamp> fetchedAt, validUntil; ///< of the MUD file in force
    std::vector<std::string> policySummary; ///< readable lines ("may connect to ...")
    std::string nftRules; ///< the exact nft rules enforced for this device (nft syntax)
    Counters counters;
    std::vector<Violation> violations; ///< most recent first
};

enum class PolicySource {
    Fetched, ///< fetched from its MUD URL
    Local, ///< a MUD file an admin supplied
};

/// A MUD file in force.
struct Policy {
    std::string id; ///< [A-Za-z0-9_.-]{1,64}
    std::string mudUrl;
    PolicySource source = PolicySource::Fetched;
    std::optional<Signer> signer;
    std::optional<Timestamp> fetchedAt;
    std::optional<Timestamp> validUntil;
    bool isSupported = true; ///< false when the router cannot express all of it
    std::string hash; ///< of the document, "sha256:…"
    std::vector<std::string> devices; ///< MACs of the devices it applies to
};

/// One ACE of a policy, in words.
struct PolicyRule {
    std::string acl;
    std::string ace;
    std::string direction; ///< "from-device" or "to-device"
    std::string action; ///< "accept", "drop", "reject"
    std::string match; ///< readable match ("tcp to www.example.com port 443")
};

struct PolicyDetail {
    Policy policy;
    std::optional<MudMetadata> mud;
    std::vector<std::string> summary; ///< readable lines
    std::vector<PolicyRule> rules; ///< in policy order
    std::string nftRules; ///< the policy's chains in nft syntax
};

/// GET /healthz. Reasons are short sentences ("table inet mudguard is missing").
struct Health {
    bool ok = true; ///< false: degraded
    std::vector<std::string> reasons;
    std::optional<Timestamp> lastReconcile;
    std::size_t devices = 0;
};

/// Who asked for an admin action: the name of the API token (never the token).
struct Actor {
    std::string tokenName;
};

/// POST /api/v1/devices: bind a device to a MUD URL, or give it a local MUD file. Exactly one of
/// mudUrl and mudDocument is set.
struct RegisterDevice {
    std::string mac; ///< canonical
    std::optional<std::string> mudUrl; ///< https, at most 255 bytes
    std::optional<std::string> mudDocument; ///< a MUD file (JSON text), used instead of fetching
};

/// What an admin action did.
struct ActionOutcome {
    enum class Kind {
        Done, ///< applied (HTTP 200; 201 for a newly registered device)
        Accepted, ///< queued: it runs in the background, watch the device or the events (HTTP 202)
        Unchanged, ///< nothing to do, already so (HTTP 200)
    };
    Kind kind = Kind::Done;
    bool created = false; ///< register: the device did not exist before
    std::string message; ///< one sentence for the operator
    std::optional<Device> device; ///< the device after the action, when there is one
};

/// 404: the device, policy or pending signer does not exist.
class NotFound : public Error {
public:
    using Error::Error;
};

/// 409: the action contradicts the current state (e.g. releasing a device that is not quarantined
/// when that matters, two pending signers and none named).
class Conflict : public Error {
public:
    using Error::Error;
};

/// 400: a request that is well-formed but not acceptable (a MUD URL this router refuses to fetch).
class InvalidInput : public Error {
public:
    explicit InvalidInput(const std::string& message, std::string field = {})
        : Error(message)
        , m_field(std::move(field))
    {
    }
    /// The request member at fault ("mud-url"), or empty.
    const std::string& field() const noexcept { return m_field; }

private:
    std::string m_field;
};

/// 422: a MUD file (a local document, or the file at the URL when the backend fetches it at once)
/// failed validation.
class InvalidMud : public Error {
public:
    InvalidMud(const std::string& message, std::vector<mudparser::Diagnostic> diagnostics, std::string mudUrl = {})
        : Error(message)
        , m_diagnostics(std::move(diagnostics))
        , m_mudUrl(std::move(mudUrl))
    {
    }
    const std::vector<mudparser::Diagnostic>& diagnostics() const noexcept { return m_diagnostics; }
    const std::string& mudUrl() const noexcept { return m_mudUrl; }

private:
    std::vector<mudparser::Diagnostic> m_diagnostics;
    std::string m_mudUrl;
};

/// 422: a new configuration failed validation; the running one stays in force.
class InvalidConfig : public Error {
public:
    InvalidConfig(const std::string& message, std::vector<mudparser::Diagnostic> diagnostics)
        : Error(message)
        , m_diagnostics(std::move(diagnostics))
    {
    }
    const std::vector<mudparser::Diagnostic>& diagnostics() const noexcept { return m_diagnostics; }

private:
    std::vector<mudparser::Diagnostic> m_diagnostics;
};

/// 503: the daemon cannot answer now (its loop is busy past the deadline, or it is stopping).
class Unavailable : public Error {
public:
    using Error::Error;
};

} // namespace api

/// Implemented by the daemon. See the threading contract and the error rules at the top of this
/// file.
class ApiBackend {
public:
    virtual ~ApiBackend() = default;

    // --- read views (role auditor or admin) ---------------------------------------------------

    /// Every device, by MAC.
    virtual std::vector<api::Device> devices() = 0;
    /// Throws api::NotFound for an unknown MAC.
    virtual api::DeviceDetail device(const std::string& mac) = 0;
    /// Every MUD file in force, by id.
    virtual std::vector<api::Policy> policies() = 0;
    /// Throws api::NotFound for an unknown id.
    virtual api::PolicyDetail policy(const std::string& id) = 0;
    /// A page of the audit log (the query is already checked: limit 1..kMaxAuditPage, a
    /// canonical MAC when set).
    virtual AuditPage events(const AuditQuery& query) = 0;
    /// Unauthenticated (GET /healthz): keep reasons free of secrets.
    virtual api::Health health() = 0;

    // --- admin actions (role admin) --------------------------------------------------------------
    // Each records an audit entry (ADMIN_ACTION and its consequences) naming `who`.

    /// Registers the device or overrides what it announces. Throws api::InvalidMud for a local
    /// document that fails validation, api::InvalidInput for a URL the router will not fetch.
    virtual api::ActionOutcome registerDevice(const api::RegisterDevice& request, const api::Actor& who) = 0;
    /// Removes the device, its binding and its rules. Throws api::NotFound.
    virtual api::ActionOutcome removeDevice(const std::string& mac, const api::Actor& who) = 0;
    /// Fetches the device's MUD file again (usually Accepted). Throws api::NotFound, api::Conflict
    /// (no MUD URL to fetch).
    virtual api::ActionOutcome refreshDevice(const std::string& mac, const api::Actor& who) = 0;
    /// Puts the device in quarantine. Throws api::NotFound.
    virtual api::ActionOutcome quarantineDevice(
        const std::string& mac, const std::string& reason, const api::Actor& who)
        = 0;
    /// Takes the device out of quarantine (Unchanged when it was not in quarantine). Throws
    /// api::NotFound.
    virtual api::ActionOutcome releaseDevice(const std::string& mac, const api::Actor& who) = 0;
    /// Accepts a pending signer for an authority (a MUD URL's host). `signer` names it (as in the
    /// pending list: fingerprint or subject); when empty, the only pending signer of the
    /// authority. Throws api::NotFound (nothing pending), api::Conflict (several pending and none
    /// named).
    virtual api::ActionOutcome acceptSigner(
        const std::string& authority, const std::optional<std::string>& signer, const api::Actor& who)
        = 0;
    /// Refuses a pending signer (named as for acceptSigner): URL changes that waited for it are
    /// refused, the devices keep their policies. Throws api::NotFound, api::Conflict.
    virtual api::ActionOutcome refuseSigner(
        const std::string& authority, const std::optional<std::string>& signer, const api::Actor& who)
        = 0;
    /// Reloads the configuration file. Throws api::InvalidConfig when the new file is invalid; the
    /// running configuration then stays in force.
    virtual api::ActionOutcome reloadConfig(const api::Actor& who) = 0;
};

const char* toString(api::Signer::Status s) noexcept; ///< "verified", "unsigned", "failed", "pending-acceptance"
const char* toString(api::PolicySource s) noexcept; ///< "fetched", "local"

} // namespace mudguard::controller
