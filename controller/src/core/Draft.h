#pragma once
// A decision in the making: the core's state as it would be after the decision, without touching
// it. Reads go through the changes made so far to the state; writes land in the plan. Only the
// entries a decision touches are copied, so a join costs the same whatever the number of devices.

#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/Plan.h"
#include "core/State.h"

namespace mudguard::controller::core {

class Draft {
public:
    Draft(const State& state, const Settings& settings, Timestamp now, std::string what);

    const State& base;
    const Settings& settings;
    const Timestamp now;

    // --- devices ----------------------------------------------------------------------------------
    const DeviceRecord* device(const MacAddress& mac) const;
    /// The device, copied into the plan on first edit. It must exist.
    DeviceRecord& edit(const MacAddress& mac);
    DeviceRecord& create(DeviceRecord d);
    void erase(const MacAddress& mac);
    /// Every device as the draft sees it.
    void forEachDevice(const std::function<void(const DeviceRecord&)>& f) const;
    /// The devices for which `pick` is true (MACs, so that the caller may edit them).
    std::vector<MacAddress> devicesWhere(const std::function<bool(const DeviceRecord&)>& pick) const;

    // --- policies ---------------------------------------------------------------------------------
    const PolicyRecord* policy(const std::string& key) const;
    PolicyRecord& editPolicy(const std::string& key);
    PolicyRecord& createPolicy(PolicyRecord p);
    void erasePolicy(const std::string& key);
    void forEachPolicy(const std::function<void(const PolicyRecord&)>& f) const;
    std::size_t use(const std::string& key) const;
    void setUse(const std::string& key, std::size_t n);

    // --- addresses, signers, classes ------------------------------------------------------------------
    std::optional<MacAddress> owner(const IpAddress& ip) const;
    void setOwner(const IpAddress& ip, std::optional<MacAddress> mac);
    const std::vector<mudparser::SignerIdentity>& signers(const std::string& authority) const;
    void setSigners(const std::string& authority, std::vector<mudparser::SignerIdentity> list);
    const std::vector<PendingSigner>& pendingSigners() const;
    std::vector<PendingSigner>& editPendingSigners();
    const std::map<std::string, std::vector<std::string>>& classNameAddresses() const;
    std::map<std::string, std::vector<std::string>>& editClassNameAddresses();
    const std::set<std::string>& retryUrls() const;
    std::set<std::string>& editRetryUrls();
    const std::optional<std::string>& storeFailure() const;
    void setStoreFailure(std::optional<std::string> why);

    // --- what the plan says and starts ------------------------------------------------------------------
    Plan& plan() { return m_plan; }
    void log(log::Category c, log::Level l, log::Event e, std::string message,
        std::initializer_list<LogRecord::Field> fields = {});
    /// An audit entry (written with the plan's store batch).
    void audit(
        log::Event e, const std::string& mac, const std::string& url, std::string reason, std::string detail = "{}");
    void fetch(const std::string& url, bool force, std::optional<MacAddress> device = std::nullopt);

    /// The durable row of a device as the draft sees it.
    DeviceRow rowOf(const DeviceRecord& d) const;

    /// Ends the decision: every device whose durable row changed is written (one row each), and
    /// each state change is logged once.
    Plan finish() &&;

private:
    Plan m_plan;
};

// Field helpers for log records.
LogRecord::Field macField(const MacAddress& mac);
LogRecord::Field urlField(const std::string& url);
LogRecord::Field textField(std::string key, std::string value);
LogRecord::Field numberField(std::string key, std::int64_t value);

/// A JSON object with string members, for the audit log's detail column.
std::string detailJson(std::initializer_list<std::pair<std::string_view, std::string_view>> members);

} // namespace mudguard::controller::core
