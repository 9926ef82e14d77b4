#pragma once
// Collects diagnostics for one document, locating each through the JSON model (path, line,
// column) and naming the file.

#include <string>
#include <string_view>

#include "mudguard/mudparser/Diagnostic.h"

#include "Json.h"

namespace mudguard::mudparser {

class Sink {
public:
    Sink(Report& report, std::string file)
        : m_report(report)
        , m_file(std::move(file))
    {
    }

    void setDocument(const json::Document* doc) { m_doc = doc; }
    const std::string& file() const { return m_file; }

    /// A diagnostic about `node` (path, line and column from the document).
    Diagnostic& at(json::NodeId node, Severity severity, std::string_view code, std::string message);
    /// A diagnostic about a node that does not exist: `path` names it, `near` locates it.
    Diagnostic& missing(
        std::string path, json::NodeId near, Severity severity, std::string_view code, std::string message);
    /// A diagnostic at a byte offset of the source (JSON syntax errors, before any model exists).
    Diagnostic& atOffset(
        std::string_view source, std::size_t offset, Severity severity, std::string_view code, std::string message);
    Diagnostic& add(Diagnostic d);

    bool hasErrors() const { return m_report.hasErrors(); }
    /// True when an error is reported for exactly this path.
    bool hasErrorAt(std::string_view path) const;
    /// Puts the report in final form: warnings about a node that has an error are dropped (they
    /// add nothing), and diagnostics are sorted by line (those without one first).
    void finish();

private:
    Report& m_report;
    std::string m_file;
    const json::Document* m_doc = nullptr;
};

} // namespace mudguard::mudparser
