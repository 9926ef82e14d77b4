#include "Sink.h"

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

} // namespace mudguard::mudparser
