#pragma once
// A scripted ApiBackend for unit tests: canned views, recorded admin calls, injectable errors and
// a gate that holds calls until the test opens it.

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "mudguard/controller/ApiBackend.h"

namespace mudguard::test {

using namespace mudguard::controller;

inline Timestamp at(std::int64_t ms) { return Timestamp(std::chrono::milliseconds(ms)); }

class FakeApiBackend : public ApiBackend {
public:
    FakeApiBackend()
    {
        api::Device lamp;
        lamp.mac = "02:00:00:00:00:01";
        lamp.state = DeviceState::Enforced;
        lamp.source = DeviceSource::Dhcp;
        lamp.mudUrl = "https://mud.example.com/lamp.json";
        lamp.addresses = { "192.0.2.10", "2001:db8::10" };
        lamp.policyId = "p1";
        lamp.createdAt = at(1'700'000'000'000);
        lamp.stateSince = at(1'700'000'001'000);
        lamp.updatedAt = at(1'700'000'002'000);
        api::Device camera;
        camera.mac = "02:00:00:00:00:02";
        camera.state = DeviceState::Failed;
        camera.reason = "signature did not verify";
        camera.source = DeviceSource::Lldp;
        camera.mudUrl = "https://mud.example.org/camera.json";
        camera.createdAt = camera.stateSince = camera.updatedAt = at(1'700'000'003'000);
        deviceList = { lamp, camera };

        api::DeviceDetail d;
        d.device = lamp;
        d.history = { { lamp.mac, at(1'700'000'000'000), std::nullopt, DeviceState::Pending, "joined" },
            { lamp.mac, at(1'700'000'001'000), DeviceState::Pending, DeviceState::Enforced, "" } };
        d.addresses = { { lamp.mac, "192.0.2.10", 4, at(1'700'000'000'500), at(1'700'000'002'000) } };
        api::MudMetadata mud;
        mud.mudUrl = lamp.mudUrl;
        mud.lastUpdate = "2024-01-01T00:00:00+00:00";
        mud.systeminfo = "A lamp";
        mud.mfgName = "Example";
        mud.extensions = { "transparency" };
        mudparser::Transparency t;
        t.sboms = { { std::string("1.0"), "https://mud.example.com/sbom.json" } };
        mud.transparency = t;
        d.mud = mud;
        api::Signer signer;
        signer.status = api::Signer::Status::Verified;
        signer.subject = "CN=Example MUD signer";
        signer.issuer = "CN=Example CA";
        signer.fingerprint = "ab12";
        signer.notAfter = at(1'800'000'000'000);
        signer.chain = { "CN=Example MUD signer", "CN=Example CA" };
        d.signer = signer;
        d.fetchedAt = at(1'700'000'000'800);
        d.validUntil = at(1'700'172'800'800);
        d.policySummary = { "may connect to www.example.com on tcp port 443" };
        d.nftRules = "chain pol_p1_from {\n  ip daddr @dns_www_example_com tcp dport 443 accept\n}\n";
        d.counters.aces = { { "from-ipv4", "cl0-frdev", "from-device", 12, 3400 } };
        d.counters.dropPackets = 3;
        d.counters.dropBytes = 180;
        d.counters.readAt = at(1'700'000'002'500);
        d.violations = { { at(1'700'000'002'400), "from-device", "198.51.100.7", "tcp", std::uint16_t(23), 3 } };
        details[lamp.mac] = d;

        api::Policy p;
        p.id = "p1";
        p.mudUrl = lamp.mudUrl;
        p.signer = signer;
        p.fetchedAt = d.fetchedAt;
        p.validUntil = d.validUntil;
        p.hash = "sha256:00ff";
        p.devices = { lamp.mac };
        policyList = { p };
        api::PolicyDetail pd;
        pd.policy = p;
        pd.mud = mud;
        pd.summary = d.policySummary;
        pd.rules = { { "from-ipv4", "cl0-frdev", "from-device", "accept", "tcp to www.example.com port 443" } };
        pd.nftRules = d.nftRules;
        policyDetails["p1"] = pd;

        for (int i = 1; i <= 5; ++i) {
            AuditEntry e;
            e.seq = i;
            e.at = at(1'700'000'000'000 + i);
            e.event = i == 1 ? "DEVICE_JOINED" : "POLICY_APPLIED";
            e.mac = i % 2 ? lamp.mac : camera.mac;
            e.reason = "r" + std::to_string(i);
            e.detail = i == 2 ? R"({"policy":"p1","ms":3})" : "{}";
            audit.push_back(e);
        }
    }

    // --- scripting ---------------------------------------------------------------------------
    std::vector<api::Device> deviceList;
    std::map<std::string, api::DeviceDetail> details;
    std::vector<api::Policy> policyList;
    std::map<std::string, api::PolicyDetail> policyDetails;
    std::vector<AuditEntry> audit;
    api::Health healthReport;
    /// Thrown by the next call of any method, when set.
    std::function<void()> failNext;

    struct Call {
        std::string method;
        std::string arg; ///< MAC, authority, ...
        std::string extra; ///< URL, document, reason, signer
        std::string actor;
    };
    std::vector<Call> calls() const
    {
        std::lock_guard lock(m_mutex);
        return m_calls;
    }
    std::size_t callCount() const
    {
        std::lock_guard lock(m_mutex);
        return m_calls.size();
    }
    std::optional<AuditQuery> lastQuery() const
    {
        std::lock_guard lock(m_mutex);
        return m_lastQuery;
    }

    /// While closed, every call waits until open() (or the gate is destroyed).
    void close()
    {
        std::lock_guard lock(m_mutex);
        m_gateOpen = false;
    }
    void open()
    {
        std::lock_guard lock(m_mutex);
        m_gateOpen = true;
        m_gateCv.notify_all();
    }
    std::size_t waitingAtGate() const
    {
        std::lock_guard lock(m_mutex);
        return m_waiting;
    }

    // --- ApiBackend ------------------------------------------------------------------------------
    std::vector<api::Device> devices() override
    {
        enter("devices");
        return deviceList;
    }
    api::DeviceDetail device(const std::string& mac) override
    {
        enter("device", mac);
        auto it = details.find(mac);
        if (it == details.end())
            throw api::NotFound("no device with MAC " + mac);
        return it->second;
    }
    std::vector<api::Policy> policies() override
    {
        enter("policies");
        return policyList;
    }
    api::PolicyDetail policy(const std::string& id) override
    {
        enter("policy", id);
        auto it = policyDetails.find(id);
        if (it == policyDetails.end())
            throw api::NotFound("no policy " + id);
        return it->second;
    }
    AuditPage events(const AuditQuery& q) override
    {
        enter("events", q.device.value_or(""));
        {
            std::lock_guard lock(m_mutex);
            m_lastQuery = q;
        }
        AuditPage page;
        page.next = q.since;
        for (const auto& e : audit) {
            if (e.seq <= q.since || (q.device && e.mac != *q.device))
                continue;
            if (page.entries.size() == q.limit) {
                page.more = true;
                break;
            }
            page.entries.push_back(e);
            page.next = e.seq;
        }
        return page;
    }
    api::Health health() override
    {
        enter("health");
        return healthReport;
    }

    api::ActionOutcome registerDevice(const api::RegisterDevice& r, const api::Actor& who) override
    {
        enter("register", r.mac, r.mudUrl ? *r.mudUrl : r.mudDocument.value_or(""), who.tokenName);
        api::ActionOutcome o;
        o.created = true;
        o.message = "registered";
        api::Device d;
        d.mac = r.mac;
        d.source = DeviceSource::Admin;
        d.mudUrl = r.mudUrl.value_or("");
        o.device = d;
        return o;
    }
    api::ActionOutcome removeDevice(const std::string& mac, const api::Actor& who) override
    {
        enter("remove", mac, "", who.tokenName);
        if (!details.count(mac))
            throw api::NotFound("no device with MAC " + mac);
        return { api::ActionOutcome::Kind::Done, false, "removed", std::nullopt };
    }
    api::ActionOutcome refreshDevice(const std::string& mac, const api::Actor& who) override
    {
        enter("refresh", mac, "", who.tokenName);
        return { api::ActionOutcome::Kind::Accepted, false, "refresh scheduled", std::nullopt };
    }
    api::ActionOutcome quarantineDevice(
        const std::string& mac, const std::string& reason, const api::Actor& who) override
    {
        enter("quarantine", mac, reason, who.tokenName);
        return { api::ActionOutcome::Kind::Done, false, "quarantined", std::nullopt };
    }
    api::ActionOutcome releaseDevice(const std::string& mac, const api::Actor& who) override
    {
        enter("release", mac, "", who.tokenName);
        return { api::ActionOutcome::Kind::Unchanged, false, "not in quarantine", std::nullopt };
    }
    api::ActionOutcome acceptSigner(
        const std::string& authority, const std::optional<std::string>& signer, const api::Actor& who) override
    {
        enter("accept-signer", authority, signer.value_or("<only>"), who.tokenName);
        return { api::ActionOutcome::Kind::Done, false, "accepted", std::nullopt };
    }
    api::ActionOutcome refuseSigner(
        const std::string& authority, const std::optional<std::string>& signer, const api::Actor& who) override
    {
        enter("refuse-signer", authority, signer.value_or("<only>"), who.tokenName);
        return { api::ActionOutcome::Kind::Done, false, "refused", std::nullopt };
    }
    api::ActionOutcome reloadConfig(const api::Actor& who) override
    {
        enter("reload", "", "", who.tokenName);
        return { api::ActionOutcome::Kind::Done, false, "reloaded", std::nullopt };
    }

private:
    void enter(std::string method, std::string arg = {}, std::string extra = {}, std::string actor = {})
    {
        std::function<void()> fail;
        {
            std::unique_lock lock(m_mutex);
            m_calls.push_back({ std::move(method), std::move(arg), std::move(extra), std::move(actor) });
            ++m_waiting;
            m_gateCv.wait(lock, [&] { return m_gateOpen; });
            --m_waiting;
            std::swap(fail, failNext);
        }
        if (fail)
            fail();
    }

    mutable std::mutex m_mutex;
    std::condition_variable m_gateCv;
    bool m_gateOpen = true;
    std::size_t m_waiting = 0;
    std::vector<Call> m_calls;
    std::optional<AuditQuery> m_lastQuery;
};

} // namespace mudguard::test
