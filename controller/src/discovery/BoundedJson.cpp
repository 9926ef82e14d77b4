#include "discovery/BoundedJson.h"

#include <set>
#include <vector>

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

namespace mudguard::controller::discovery {
namespace {

/// Counts nesting and checks object keys, forwarding everything else to the document.
class Filter {
public:
    Filter(rapidjson::Document& doc, unsigned maxDepth)
        : m_doc(doc)
        , m_maxDepth(maxDepth)
    {
    }
    bool Null() { return m_doc.Null(); }
    bool Bool(bool b) { return m_doc.Bool(b); }
    bool Int(int i) { return m_doc.Int(i); }
    bool Uint(unsigned u) { return m_doc.Uint(u); }
    bool Int64(int64_t i) { return m_doc.Int64(i); }
    bool Uint64(uint64_t u) { return m_doc.Uint64(u); }
    bool Double(double d) { return m_doc.Double(d); }
    bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) { return m_doc.RawNumber(s, n, copy); }
    bool String(const char* s, rapidjson::SizeType n, bool copy) { return m_doc.String(s, n, copy); }
    bool StartObject()
    {
        if (!enter())
            return false;
        m_keys.emplace_back();
        m_isObject.push_back(true);
        return m_doc.StartObject();
    }
    bool Key(const char* s, rapidjson::SizeType n, bool copy)
    {
        if (!m_keys.back().emplace(s, n).second) {
            m_error = "duplicate key \"" + std::string(s, n).substr(0, 64) + "\"";
            return false;
        }
        return m_doc.Key(s, n, copy);
    }
    bool EndObject(rapidjson::SizeType n)
    {
        m_keys.pop_back();
        m_isObject.pop_back();
        return m_doc.EndObject(n);
    }
    bool StartArray()
    {
        if (!enter())
            return false;
        m_isObject.push_back(false);
        return m_doc.StartArray();
    }
    bool EndArray(rapidjson::SizeType n)
    {
        m_isObject.pop_back();
        return m_doc.EndArray(n);
    }
    const std::string& error() const { return m_error; }

private:
    bool enter()
    {
        if (m_isObject.size() >= m_maxDepth) {
            m_error = "nesting deeper than " + std::to_string(m_maxDepth);
            return false;
        }
        return true;
    }

    rapidjson::Document& m_doc;
    unsigned m_maxDepth;
    std::vector<std::set<std::string>> m_keys;
    std::vector<bool> m_isObject;
    std::string m_error;
};

} // namespace

std::string parseBoundedJson(std::string_view text, rapidjson::Document& doc, JsonLimits limits)
{
    if (text.size() > limits.maxBytes)
        return "document of " + std::to_string(text.size()) + " bytes exceeds the limit of "
            + std::to_string(limits.maxBytes);
    // NUL-terminated for StringStream, plus padding: with kParseValidateEncodingFlag, RapidJSON
    // 1.1.0 reads the continuation bytes of a multi-byte UTF-8 lead byte without stopping at the
    // terminator, up to 3 bytes past it (found by fuzzing: a lead byte 0xf0 at the very end).
    std::string copy(text);
    copy.append(8, '\0');
    std::string filterError;
    rapidjson::ParseResult result;
    auto generate = [&](rapidjson::Document& handler) {
        Filter filter(handler, limits.maxDepth);
        rapidjson::Reader reader;
        rapidjson::StringStream in(copy.c_str());
        result = reader.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(in, filter);
        filterError = filter.error();
        return !result.IsError();
    };
    doc.Populate(generate);
    if (!filterError.empty())
        return filterError;
    if (result.IsError())
        return std::string("invalid JSON at offset ") + std::to_string(result.Offset()) + ": "
            + rapidjson::GetParseError_En(result.Code());
    return {};
}

} // namespace mudguard::controller::discovery
