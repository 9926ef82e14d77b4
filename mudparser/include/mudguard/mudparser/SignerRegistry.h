#pragma once
// The same-signer rule (RFC 8520 section 13.2): the signer seen for an authority (the MUD URL's
// host) is remembered, and a later file for that authority signed by someone else is refused until
// an admin accepts the new signer.

#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "mudguard/mudparser/Signature.h"

namespace mudguard::mudparser {

struct SignerDecision {
    enum class Outcome {
        FirstUse, ///< nothing was remembered; `seen` is remembered now
        Same, ///< `seen` is the remembered signer
        Changed, ///< another signer is remembered (in `known`); the change was recorded
    };
    Outcome outcome = Outcome::FirstUse;
    std::optional<SignerIdentity> known;
};

/// Where accepted signers live. The daemon backs it with its database; FileSignerRegistry keeps
/// them in the state directory. Implementations are called from several fetch workers at once.
class SignerRegistry {
public:
    virtual ~SignerRegistry() = default;

    /// In one atomic step: remembers `seen` for an authority without a signer, or compares it with
    /// the remembered one. A change is recorded with both identities and `url`, and the remembered
    /// signer stays until accept().
    virtual SignerDecision check(const std::string& authority, const SignerIdentity& seen, const std::string& url) = 0;

    /// An admin accepts `identity` as the signer for `authority`.
    virtual void accept(const std::string& authority, const SignerIdentity& identity) = 0;

    virtual std::optional<SignerIdentity> find(const std::string& authority) const = 0;
};

/// A recorded signer change, waiting for an admin.
struct SignerChange {
    std::chrono::system_clock::time_point at;
    std::string authority;
    std::string url;
    SignerIdentity known;
    SignerIdentity seen;
};

/// The accepted signers in `<dir>/signers.json` (rewritten atomically), and an append-only log of
/// changes and acceptances in `<dir>/signer-events.jsonl`.
class FileSignerRegistry final : public SignerRegistry {
public:
    /// Throws mudparser::Error when the directory cannot be created or signers.json is unreadable
    /// or damaged (the registry never silently forgets a signer).
    explicit FileSignerRegistry(std::filesystem::path dir);

    SignerDecision check(const std::string& authority, const SignerIdentity& seen, const std::string& url) override;
    void accept(const std::string& authority, const SignerIdentity& identity) override;
    std::optional<SignerIdentity> find(const std::string& authority) const override;

    /// Changes recorded and not yet resolved by accept(), oldest first.
    std::vector<SignerChange> pendingChanges() const;

private:
    void save() const;

    std::filesystem::path m_dir;
    mutable std::mutex m_mutex;
    std::map<std::string, SignerIdentity> m_signers;
    std::map<std::string, SignerChange> m_pending;
};

} // namespace mudguard::mudparser
