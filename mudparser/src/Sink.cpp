#include "Sink.h"

#include <algorithm>

namespace mudguard::mudparser {

Diagnostic& Sink::add(Diagnostic d)
{
    d.file = m_file;
    m_report.diagnostics.push_back(std::move(d));
    return m_report.diagnostics.back();
}

Diagnostic& Sink::at(json::NodeId node, Severity severity, std::string_view code, std::string message)
{
    Diagnostic d;
    d.severity = severity;
    d.code = std::string(code);
    d.message = std::move(message);
    if (m_doc && node != json::kNoNode) {
        d.path = m_doc->pathOf(node);
        auto pos = m_doc->position(node);
        d.line = pos.line;
        d.column = pos.column;
    }
    return add(std::move(d));
}

Diagnostic& Sink::missing(
    std::string path, json::NodeId near, Severity severity, std::string_view code, std::string message)
{
    Diagnostic& d = at(near, severity, code, std::move(message));
    d.path = std::move(path);
    return d;
}

Diagnostic& Sink::atOffset(
    std::string_view source, std::size_t offset, Severity severity, std::string_view code, std::string message)
{
    Diagnostic d;
    d.severity = severity;
    d.code = std::string(code);
    d.message = std::move(message);
    auto pos = json::positionIn(source, offset);
    d.line = pos.line;
    d.column = pos.column;
    return add(std::move(d));
}

bool Sink::hasErrorAt(std::string_view path) const
{
    return std::any_of(m_report.diagnostics.begin(), m_report.diagnostics.end(),
        [&](const Diagnostic& d) { return d.severity == Severity::Error && d.path == path; });
}

void Sink::finish()
{
    auto& diags = m_report.diagnostics;
    std::vector<std::string> errorPaths;
    for (const auto& d : diags)
        if (d.severity == Severity::Error && !d.path.empty())
            errorPaths.push_back(d.path);
    diags.erase(std::remove_if(diags.begin(), diags.end(),
                    [&](const Diagnostic& w) {
                        return w.severity == Severity::Warning
                            && std::find(errorPaths.begin(), errorPaths.end(), w.path) != errorPaths.end();
                    }),
        diags.end());
    std::stable_sort(diags.begin(), diags.end(),
        [](const Diagnostic& a, const Diagnostic& b) { return a.line.value_or(0) < b.line.value_or(0); });
}

} // namespace mudguard::mudparser
