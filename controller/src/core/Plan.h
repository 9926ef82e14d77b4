#pragma once
// A decision as data: what the kernel, the store and the core's memory become, what is logged and
// what work starts. The core makes plans and touches nothing; the executor applies them in one
// order (kernel, store, memory, then logs and work) and stops at the first refusal.

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "mudguard/controller/Log.h"
#include "mudguard/controller/Metrics.h"
#include "mudguard/controller/StateStore.h"
#include "mudguard/enforcer/Enforcer.h"

#include "core/State.h"

namespace mudguard::controller::core {

/// One log line, written once the plan has taken effect.
struct LogRecord {
    struct Field {
        std::string key, value;
        bool token = false; ///< a value we formatted (a MAC, a number): written bare
    };
    log::Category category = log::Category::Controller;
    log::Level level = log::Level::Info;
    log::Event event = log::Event::None;
    std::string message;
    std::vector<Field> fields;
};

/// A MUD file to obtain.
struct FetchRequest {
    std::string url;
    bool force = false; ///< refresh even a fresh cached copy (an admin asked)
    std::optional<MacAddress> device; ///< the device it is for (fairness between devices)
};

/// What memory becomes: only the entries that change (nullopt: removed).
struct Changes {
    std::map<MacAddress, std::optional<DeviceRecord>> devices;
    std::map<std::string, std::optional<PolicyRecord>> policies;
    std::map<std::string, std::size_t> policyUse; ///< new counts (0: no longer used)
    std::map<IpAddress, std::optional<MacAddress>> owners;
    std::map<std::string, std::vector<mudparser::SignerIdentity>> signers; ///< by authority (empty: none)
    std::optional<std::vector<PendingSigner>> pendingSigners;
    std::optional<std::map<std::string, std::vector<std::string>>> classNameAddresses;
    std::optional<std::set<std::string>> retryUrls;
    std::optional<std::optional<std::string>> storeFailure;
    std::shared_ptr<const Settings> settings; ///< a reload's
};

struct Plan {
    std::string what; ///< what it is for, in a few words ("lease events", "policy https://…")
    std::optional<std::string> verdictFor; ///< the URL whose fetch verdict this plan applies
    enforcer::Transaction kernel;
    /// The kernel part is the enforcer's start (a cold start restores enforcement with it).
    bool start = false;
    StoreBatch store;
    Changes changes;
    std::vector<LogRecord> logs;
    std::vector<FetchRequest> fetches;

    // What follows, for the daemon.
    std::vector<MacAddress> joined; ///< devices seen for the first time
    std::vector<MacAddress> enforced; ///< devices whose policy came into force
    std::vector<MacAddress> failed; ///< devices that became failed
    std::vector<MacAddress> removed; ///< devices forgotten
    std::vector<std::string> spoolDone; ///< spool entries this plan records
    std::vector<FetchOutcome> fetchOutcomes;
    std::vector<VerifyOutcome> verifyOutcomes;
    std::vector<FailureStage> refusals;
    bool policiesChanged = false; ///< the API's policy view changes
    bool namesChanged = false; ///< the DNS names to keep resolved change
    bool healthChanged = false;

    bool empty() const
    {
        return kernel.empty() && store.empty() && logs.empty() && fetches.empty() && changes.devices.empty()
            && changes.policies.empty() && changes.owners.empty() && changes.signers.empty() && !changes.pendingSigners
            && !changes.classNameAddresses && !changes.retryUrls && !changes.storeFailure && !changes.settings
            && spoolDone.empty();
    }
};

} // namespace mudguard::controller::core
