#pragma once
// The first stage of every document mudguard validates with YANG: one NUL-terminated copy of the
// bytes (libyang needs the terminator; RapidJSON and libyang then read the same memory), the
// bounded JSON parse, and the JSON-level diagnostics (syntax, duplicate members, a root that is
// not an object). On success the sink locates later diagnostics through the document.

#include <optional>
#include <string>
#include <string_view>

#include "mudguard/mudparser/Limits.h"

#include "Json.h"
#include "Sink.h"

namespace mudguard::mudparser {

class JsonInput {
public:
    JsonInput(std::string_view document, const Limits& limits, Sink& sink, std::string_view notObjectMessage);
    JsonInput(const JsonInput&) = delete;
    JsonInput& operator=(const JsonInput&) = delete;

    /// The parsed document, or nullptr when it is not a well-formed JSON object within limits.
    json::Document* document() { return m_object ? &*m_doc : nullptr; }
    /// The text `document()` was parsed from, NUL-terminated.
    const std::string& text() const { return m_text; }

private:
    std::string m_text;
    std::optional<json::Document> m_doc;
    bool m_object = false;
};

} // namespace mudguard::mudparser
