#pragma once
// Applies the core's plans, always in one order: the kernel (one enforcer batch), then the store
// (one transaction with the audit entries), then memory (the core adopts the plan), then what
// follows (log lines, fetches, the daemon's views). The first refusal stops the rest:
//
//   * the kernel refuses: nothing changed anywhere; the core decides what follows (devices held,
//     the reason recorded) and that plan is applied in turn, without a further fallback;
//   * the store refuses: the kernel is returned to where memory is (the enforcer computes the
//     undo before the batch), new devices are held there, and the daemon is degraded until the
//     store accepts writes again (Core::heal).
//
// The kernel is never left more open than before: a refused step either changed nothing or is
// undone towards memory, and new devices are held (infrastructure only), never left unmanaged.

#include <functional>
#include <string>

#include "mudguard/controller/StateStore.h"
#include "mudguard/enforcer/Enforcer.h"

#include "core/Core.h"

namespace mudguard::controller::core {

/// What the daemon does once a plan took effect (or was refused): start fetches, track names,
/// publish the API's view, remove spool entries, count metrics. Tests record it.
class PlanEffects {
public:
    virtual ~PlanEffects() = default;
    /// The plan took effect (memory adopted it); `plan` still holds its lists (fetches, joined,
    /// enforced, spoolDone, ...).
    virtual void took(const Plan& plan) = 0;
};

class Executor {
public:
    /// `clock` dates the follow-up decisions (tests inject one); default: the system clock.
    Executor(Core& core, enforcer::Enforcer& enforcer, StateStore& store, PlanEffects& effects,
        std::function<Timestamp()> clock = {});

    enum class Outcome {
        Applied, ///< every step took it
        KernelRefused, ///< nothing changed; the follow-up was applied
        StoreRefused, ///< the kernel was returned to memory; new devices are held
    };
    struct Result {
        Outcome outcome = Outcome::Applied;
        std::string reason; ///< why it was refused
        explicit operator bool() const { return outcome == Outcome::Applied; }
    };

    /// Applies `plan`, and on a refusal the core's follow-up (see above).
    Result apply(Plan plan);
    /// Applies `plan` or nothing at all (admin actions: the admin is told). A store refusal
    /// returns the kernel to where it was; no device is held.
    Result applyOrNothing(Plan plan);
    /// The first plan: the enforcer starts with its kernel part. Throws when the kernel refuses
    /// (the daemon cannot run); a store refusal leaves the daemon degraded.
    void start(Plan plan);

    /// Writes a plan's log lines (also used for plans that need nothing else).
    static void writeLogs(const Plan& plan);

private:
    Result run(Plan plan, bool followUps);
    void took(Plan& plan);

    Core& m_core;
    enforcer::Enforcer& m_enforcer;
    StateStore& m_store;
    PlanEffects& m_effects;
    std::function<Timestamp()> m_clock;
};

} // namespace mudguard::controller::core
