#pragma once
// MUD document parsing: bounded JSON, YANG validation against the project's modules, the RFC
// rules YANG cannot express, and the typed Profile.

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string_view>

#include "mudguard/mudparser/Diagnostic.h"
#include "mudguard/mudparser/Limits.h"
#include "mudguard/mudparser/Profile.h"

namespace mudguard::mudparser {

enum class Mode {
    Strict, ///< RFC 8520/8519 as published
    Lenient, ///< also accepts the legacy forms real files use, each reported as a warning
};

/// Time spent in each stage of one parse (for benchmarks and metrics).
struct PhaseTimings {
    std::chrono::nanoseconds json { 0 }; ///< bounded JSON parse and input limits
    std::chrono::nanoseconds rules { 0 }; ///< legacy forms, extensions, RFC 8520 rules
    std::chrono::nanoseconds yang { 0 }; ///< libyang validation (serialisation included)
    std::chrono::nanoseconds model { 0 }; ///< building the Profile
};

struct ParseOptions {
    Mode mode = Mode::Strict;
    Limits limits;
    std::string fileName = "-"; ///< used in diagnostics
    PhaseTimings* timings = nullptr; ///< when set, filled with the time of each stage
};

struct ParseResult {
    std::optional<Profile> profile; ///< set when the report has no errors
    Report report;
};

/// Owns the libyang context (built once from the schema directory). Not thread-safe: use one
/// Parser per thread.
class Parser {
public:
    /// `schemaDir` holds the project's YANG modules (the installed or source `schemas/`).
    /// Throws Error when the modules cannot be loaded.
    explicit Parser(const std::filesystem::path& schemaDir = defaultSchemaDir());
    ~Parser();
    Parser(const Parser&) = delete;
    Parser& operator=(const Parser&) = delete;

    ParseResult parse(std::string_view document, const ParseOptions& options = {}) const;

    /// Strict wrapper: the profile, or throws InvalidMud.
    Profile parseOrThrow(std::string_view document, const ParseOptions& options = {}) const;

    /// $MUDGUARD_SCHEMA_DIR when set; otherwise the source tree's schemas/ in a build tree, the
    /// installed copy elsewhere.
    static std::filesystem::path defaultSchemaDir();

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

} // namespace mudguard::mudparser
