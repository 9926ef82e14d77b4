#include "JsonInput.h"

#include <fmt/format.h>

#include "Codes.h"

namespace mudguard::mudparser {

JsonInput::JsonInput(std::string_view document, const Limits& limits, Sink& sink, std::string_view notObjectMessage)
{
    // A document over the size limit is not copied: the parser refuses it before reading it.
    const bool withinSize = document.size() <= limits.maxDocumentBytes;
    if (withinSize)
        m_text.assign(document);
    const std::string_view input = withinSize ? std::string_view(m_text) : document;
    json::ParseError error;
    m_doc = json::Document::parse(input, limits, error);
    if (!m_doc) {
        sink.atOffset(input, error.offset, Severity::Error, error.code, error.message);
        return;
    }
    json::Document& doc = *m_doc;
    sink.setDocument(&doc);
    for (const auto& dup : doc.duplicates())
        sink.at(dup.node, Severity::Error, codes::kJsonDuplicateMember,
            fmt::format("member \"{}\" appears more than once in this object", doc[dup.node].key));
    if (!doc.isObject(doc.root())) {
        sink.at(doc.root(), Severity::Error, codes::kJsonNotObject, std::string(notObjectMessage));
        return;
    }
    m_object = true;
}

} // namespace mudguard::mudparser
