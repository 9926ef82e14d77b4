#pragma once
// The daemon's side of the HTTP API. Reads come from the database (a reader connection per
// thread, SQLite WAL) and from the snapshot the loop publishes, so an auditor never waits for
// enforcement. Two things only the loop knows are asked of it with a short deadline: the exact
// rules and counters of one device or policy (read from the kernel). Admin actions run on the
// loop and are waited for, within a deadline (api::Unavailable beyond it).

#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

#include "daemon/DaemonImpl.h"

namespace mudguard::controller {

class DaemonApi final : public ApiBackend {
public:
    explicit DaemonApi(Daemon::Impl& daemon);
    ~DaemonApi() override;

    std::vector<api::Device> devices() override;
    api::DeviceDetail device(const std::string& mac) override;
    std::vector<api::Policy> policies() override;
    api::PolicyDetail policy(const std::string& id) override;
    AuditPage events(const AuditQuery& query) override;
    api::Health health() override;

    api::ActionOutcome registerDevice(const api::RegisterDevice& request, const api::Actor& who) override;
    api::ActionOutcome removeDevice(const std::string& mac, const api::Actor& who) override;
    api::ActionOutcome refreshDevice(const std::string& mac, const api::Actor& who) override;
    api::ActionOutcome quarantineDevice(
        const std::string& mac, const std::string& reason, const api::Actor& who) override;
    api::ActionOutcome releaseDevice(const std::string& mac, const api::Actor& who) override;
    api::ActionOutcome acceptSigner(
        const std::string& authority, const std::optional<std::string>& signer, const api::Actor& who) override;
    api::ActionOutcome refuseSigner(
        const std::string& authority, const std::optional<std::string>& signer, const api::Actor& who) override;
    api::ActionOutcome reloadConfig(const api::Actor& who) override;

    /// How long a read waits for the loop's kernel view before answering without it, and how
    /// long an admin action waits for its outcome.
    static constexpr std::chrono::milliseconds kKernelViewDeadline { 1000 };
    static constexpr std::chrono::milliseconds kActionDeadline { 15000 };

private:
    class ReaderLease;
    ReaderLease reader();

    Daemon::Impl& m_daemon;
    std::mutex m_readersMutex;
    std::vector<std::unique_ptr<StateReader>> m_idleReaders;
};

/// A device as the API lists it, from its database row and addresses.
api::Device deviceFromRow(const DeviceRow& row, std::vector<std::string> addresses);

/// The policy as auditors see it: metadata, readable summary and rules (built on the loop).
PolicyView makePolicyView(const core::PolicyRecord& p);

} // namespace mudguard::controller
