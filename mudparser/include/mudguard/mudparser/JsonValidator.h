#pragma once
// Validation of any JSON document (RFC 7951 encoding) against a set of YANG modules, with the
// same hardening and the same located diagnostics as MUD files: a bounded JSON parse (size,
// depth, string and value limits, UTF-8, duplicate member names refused), then libyang, whose
// errors are reported with file, JSON path, line and column. For documents other than MUD files,
// such as mudguard's own configuration validated by a project YANG module.

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mudguard/mudparser/Diagnostic.h"
#include "mudguard/mudparser/Limits.h"

namespace mudguard::mudparser {

/// A module to load into the YANG context.
struct YangModule {
    std::string name;
    std::string revision; ///< empty: whichever revision the directory holds
    std::vector<std::string> features; ///< for example {"*"}; empty: none
};

/// Owns a libyang context (built once, with the modules loaded in the given order). Not
/// thread-safe: use one per thread.
class JsonValidator {
public:
    /// `schemaDir` may list several directories separated by ':'. Throws Error when a module
    /// cannot be loaded.
    JsonValidator(const std::filesystem::path& schemaDir, const std::vector<YangModule>& modules);
    ~JsonValidator();
    JsonValidator(const JsonValidator&) = delete;
    JsonValidator& operator=(const JsonValidator&) = delete;

    /// All diagnostics for `document`, in file order; the document is valid when none is an
    /// error. libyang stops at its first error: the node concerned is taken out and the document
    /// validated again (a few times), so that one report shows several problems.
    Report validate(std::string_view document, const std::string& fileName, const Limits& limits = {}) const;

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

} // namespace mudguard::mudparser
