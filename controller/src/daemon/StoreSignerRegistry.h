#pragma once
// The same-signer rule's memory in the daemon's database: accepted signers per authority and
// the signer changes waiting for an admin. Fetch workers call it concurrently; it owns its own
// connection (SQLite serialises it with the loop's writer) behind a mutex.

#include <filesystem>
#include <memory>
#include <mutex>

#include "mudguard/controller/Store.h"
#include "mudguard/mudparser/SignerRegistry.h"

namespace mudguard::controller {

class StoreSignerRegistry final : public mudparser::SignerRegistry {
public:
    explicit StoreSignerRegistry(const std::filesystem::path& dbFile);

    mudparser::SignerDecision check(
        const std::string& authority, const mudparser::SignerIdentity& seen, const std::string& url) override;
    void accept(const std::string& authority, const mudparser::SignerIdentity& identity) override;
    std::optional<mudparser::SignerIdentity> find(const std::string& authority) const override;

    /// Accepts the pending signer of `authority` (the only one, or the one whose fingerprint or
    /// subject is `which`), by `who`. Returns the identity accepted; nullopt when nothing matches.
    /// Throws std::invalid_argument when several are pending and `which` is empty.
    std::optional<mudparser::SignerIdentity> acceptPending(
        const std::string& authority, const std::string& which, const std::string& who);

    std::vector<PendingSignerRow> pending() const;

    /// The database form of an identity (a JSON object) and back.
    static std::string encode(const mudparser::SignerIdentity& id);
    static std::optional<mudparser::SignerIdentity> decode(const std::string& text);

private:
    mutable std::mutex m_mutex;
    std::unique_ptr<Store> m_store;
};

} // namespace mudguard::controller
