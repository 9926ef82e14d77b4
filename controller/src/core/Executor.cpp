#include "core/Executor.h"

#include <fmt/format.h>

namespace mudguard::controller::core {

using log::Category;
using log::Event;
using log::Level;

namespace {

Timestamp systemNow()
{
    return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

} // namespace

Executor::Executor(
    Core& core, enforcer::Enforcer& enforcer, StateStore& store, PlanEffects& effects, std::function<Timestamp()> clock)
    : m_core(core)
    , m_enforcer(enforcer)
    , m_store(store)
    , m_effects(effects)
    , m_clock(clock ? std::move(clock) : std::function<Timestamp()>(systemNow))
{
}

void Executor::writeLogs(const Plan& plan)
{
    std::vector<log::Field> fields;
    for (const auto& r : plan.logs) {
        if (!log::enabled(r.category, r.level))
            continue;
        fields.clear();
        for (const auto& f : r.fields)
            fields.push_back(f.token ? log::Field(f.key, log::Token { f.value }) : log::Field(f.key, f.value));
        log::write(r.category, r.level, r.event, r.message, std::span<const log::Field>(fields));
    }
}

void Executor::took(Plan& plan)
{
    m_core.adopt(plan);
    writeLogs(plan);
    m_effects.took(plan);
}

Executor::Result Executor::apply(Plan plan) { return run(std::move(plan), true); }

Executor::Result Executor::applyOrNothing(Plan plan) { return run(std::move(plan), false); }

Executor::Result Executor::run(Plan plan, bool followUps)
{
    // 1. The kernel.
    enforcer::Transaction undo;
    bool kernelTook = false;
    if (!plan.kernel.empty()) {
        try {
            if (!plan.store.empty())
                undo = m_enforcer.undoOf(plan.kernel); // before the batch: what memory is now
            m_enforcer.commit(plan.kernel);
            kernelTook = true;
        } catch (const std::exception& e) {
            const std::string why = e.what();
            log::write(Category::Enforcer, Level::Error, Event::EnforceFailed,
                "the kernel refused a change; the previous rules stay in force",
                { { "change", plan.what }, { "reason", why } });
            if (followUps) {
                // Repair whatever made the kernel refuse (a set deleted under us), then hold.
                try {
                    m_enforcer.reconcile();
                } catch (const std::exception& r) {
                    log::write(Category::Enforcer, Level::Error, Event::EnforceFailed,
                        "the kernel's tables could not be repaired", { { "reason", r.what() } });
                }
                run(m_core.kernelRefused(plan, why, m_clock()), false);
            }
            return { Outcome::KernelRefused, why };
        }
    }
    // 2. The store, with the audit entries.
    if (!plan.store.empty()) {
        try {
            m_store.commit(plan.store);
        } catch (const std::exception& e) {
            const std::string why = e.what();
            Plan held;
            if (followUps)
                held = m_core.storeRefused(plan, why, m_clock());
            else
                log::write(Category::Store, Level::Error, Event::StoreFailed,
                    "the state database refused a write; the change was undone",
                    { { "change", plan.what }, { "reason", why } });
            // The kernel goes back to where memory is, and holds the new devices.
            enforcer::Transaction back = kernelTook ? std::move(undo) : enforcer::Transaction {};
            back.append(held.kernel);
            if (!back.empty()) {
                try {
                    m_enforcer.commit(back);
                } catch (const std::exception& k) {
                    log::write(Category::Enforcer, Level::Error, Event::EnforceFailed,
                        "the kernel refused to return to the recorded state; repairing it",
                        { { "change", plan.what }, { "reason", k.what() } });
                    try {
                        m_enforcer.reconcile();
                        m_enforcer.commit(back);
                    } catch (const std::exception& again) {
                        log::write(Category::Enforcer, Level::Error, Event::EnforceFailed,
                            "the kernel still refuses; the devices stay confined by the newer rules",
                            { { "reason", again.what() } });
                    }
                }
            }
            if (followUps)
                took(held);
            return { Outcome::StoreRefused, why };
        }
    }
    // 3. Memory, then 4. what follows.
    took(plan);
    return {};
}

void Executor::start(Plan plan)
{
    m_enforcer.start(std::move(plan.kernel));
    plan.kernel = enforcer::Transaction {};
    std::optional<std::string> refused;
    try {
        if (!plan.store.empty())
            m_store.commit(plan.store);
    } catch (const std::exception& e) {
        refused = e.what();
        // What the start decided for devices is not recorded: the heal records it once the store
        // accepts writes (their spool entries go then).
        for (auto& [mac, rec] : plan.changes.devices)
            if (rec) {
                rec->recorded = false;
                rec->unrecordedSpool = plan.spoolDone;
            }
        plan.spoolDone.clear();
    }
    // The kernel now enforces the restored state: memory follows it whatever the store said.
    took(plan);
    if (refused) {
        Plan degraded = m_core.storeRefused(Plan {}, *refused, m_clock());
        took(degraded);
    }
}

} // namespace mudguard::controller::core
