#pragma once
// Diagnostics: what is wrong with a document, where, and who must act.

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace mudguard::mudparser {

enum class Severity { Error, Warning, Info };

/// One finding about a document. `code` is stable (documented in docs/diagnostics.md) so that
/// tools can match on it; `message` is one sentence a device maker understands, quoting the
/// offending user string where that helps.
struct Diagnostic {
    Severity severity = Severity::Error;
    std::string code;
    std::string message;
    std::string file; ///< the document's name as given by the caller ("-" for stdin)
    std::string path; ///< JSON path of the node ("/ietf-mud:mud/cache-validity"), or empty
    std::optional<unsigned> line; ///< 1-based
    std::optional<unsigned> column; ///< 1-based
    bool operator==(const Diagnostic&) const = default;
};

/// All diagnostics for one document.
struct Report {
    std::vector<Diagnostic> diagnostics;
    bool hasErrors() const;
    std::size_t count(Severity s) const;
};

const char* toString(Severity s);

/// "file:line:column: severity: message [code] (at path)", one line, for people.
std::string formatText(const Diagnostic& d);

/// Root of the component's exceptions.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Thrown by the strict wrappers when a document has errors; carries the report.
class InvalidMud : public Error {
public:
    explicit InvalidMud(Report report);
    const Report& report() const noexcept { return m_report; }

private:
    Report m_report;
};

} // namespace mudguard::mudparser
