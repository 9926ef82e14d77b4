#pragma once
// The enforcer's exceptions. Callers react differently to each: a CompileError names the ACE the
// router cannot express (the operator must know, the policy is refused); an ApplyError means the
// kernel refused a batch (nothing of it was applied, the previous state is still in force).

#include <stdexcept>
#include <string>

namespace mudguard::enforcer {

/// Root of the component's exceptions.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// A policy (or configuration) that cannot be expressed in nftables. `rule()` names the ACE
/// ("acl/ace") or the configuration item.
class CompileError : public Error {
public:
    CompileError(std::string rule, const std::string& reason)
        : Error(rule.empty() ? reason : "'" + rule + "': " + reason)
        , m_rule(std::move(rule))
        , m_reason(reason)
    {
    }
    const std::string& rule() const noexcept { return m_rule; }
    const std::string& reason() const noexcept { return m_reason; }

private:
    std::string m_rule, m_reason;
};

/// The kernel refused a batch. The whole batch was aborted: nothing of it is in force.
/// `object()` describes the operation the kernel named ("add rule inet mudguard p_x_from"),
/// `errnum()` is the kernel's errno (0 when the failure was local, e.g. a socket error).
class ApplyError : public Error {
public:
    ApplyError(std::string object, int errnum, const std::string& message)
        : Error(message)
        , m_object(std::move(object))
        , m_errnum(errnum)
    {
    }
    const std::string& object() const noexcept { return m_object; }
    int errnum() const noexcept { return m_errnum; }

private:
    std::string m_object;
    int m_errnum;
};

/// The kernel lacks something mudguard cannot work without (nf_tables, conntrack in inet).
class KernelUnsupported : public Error {
public:
    using Error::Error;
};

} // namespace mudguard::enforcer
