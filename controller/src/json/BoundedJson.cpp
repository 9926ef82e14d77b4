#include "json/BoundedJson.h"

#include <unordered_set>
#include <vector>

#include <fmt/format.h>
#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

namespace mudguard::controller::json {

namespace {

// A SAX handler between the reader and the document: it limits nesting and refuses a member name
// seen before in the same object, and forwards everything else.
class Guard {
public:
    Guard(rapidjson::Document& target, unsigned maxDepth)
        : m_target(target)
        , m_maxDepth(maxDepth)
    {
    }

    bool Null() { return m_target.Null(); }
    bool Bool(bool b) { return m_target.Bool(b); }
    bool Int(int i) { return m_target.Int(i); }
    bool Uint(unsigned u) { return m_target.Uint(u); }
    bool Int64(std::int64_t i) { return m_target.Int64(i); }
    bool Uint64(std::uint64_t u) { return m_target.Uint64(u); }
    bool Double(double d) { return m_target.Double(d); }
    bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) { return m_target.RawNumber(s, n, copy); }
    bool String(const char* s, rapidjson::SizeType n, bool copy) { return m_target.String(s, n, copy); }

    bool StartObject()
    {
        if (!open())
            return false;
        m_names.emplace_back();
        return m_target.StartObject();
    }
    bool Key(const char* s, rapidjson::SizeType n, bool copy)
    {
        std::string name(s, n);
        if (!m_names.back().insert(name).second) {
            if (name.size() > 64)
                name = name.substr(0, 64) + "...";
            m_problem = fmt::format("duplicate member \"{}\"", name);
            return false;
        }
        return m_target.Key(s, n, copy);
    }
    bool EndObject(rapidjson::SizeType n)
    {
        m_names.pop_back();
        --m_depth;
        return m_target.EndObject(n);
    }
    bool StartArray()
    {
        if (!open())
            return false;
        return m_target.StartArray();
    }
    bool EndArray(rapidjson::SizeType n)
    {
        --m_depth;
        return m_target.EndArray(n);
    }

    const std::string& problem() const { return m_problem; }

private:
    bool open()
    {
        if (++m_depth > m_maxDepth) {
            m_problem = fmt::format("nested deeper than {} levels", m_maxDepth);
            return false;
        }
        return true;
    }

    rapidjson::Document& m_target;
    unsigned m_maxDepth;
    unsigned m_depth = 0;
    std::vector<std::unordered_set<std::string>> m_names;
    std::string m_problem;
};

} // namespace

std::string parse(std::string_view text, rapidjson::Document& doc, const Limits& limits)
{
    if (text.size() > limits.maxBytes)
        return fmt::format("the document has {} bytes, more than the limit of {}", text.size(), limits.maxBytes);
    // The reader takes a NUL byte for the end of the input and would ignore what follows it; a
    // raw NUL is never valid JSON anyway.
    if (auto nul = text.find('\0'); nul != std::string_view::npos)
        return fmt::format("NUL byte at offset {}", nul);
    // StringStream needs a terminating NUL, and padding: with kParseValidateEncodingFlag, RapidJSON
    // 1.1.0 reads the continuation bytes of a multi-byte UTF-8 lead byte without stopping at the
    // terminator, up to 3 bytes past it (a lead byte 0xf0 at the very end).
    std::string input(text);
    input.append(8, '\0');
    std::string problem;
    rapidjson::ParseResult result;
    auto generate = [&](rapidjson::Document& target) {
        Guard guard(target, limits.maxDepth);
        rapidjson::Reader reader;
        rapidjson::StringStream stream(input.c_str());
        result = reader.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(stream, guard);
        problem = guard.problem();
        return !result.IsError();
    };
    doc.Populate(generate);
    if (!problem.empty())
        return fmt::format("{} at offset {}", problem, result.Offset());
    if (result.IsError())
        return fmt::format("{} at offset {}", rapidjson::GetParseError_En(result.Code()), result.Offset());
    return {};
}

std::size_t utf8SequenceLength(std::string_view s, std::size_t i)
{
    auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
    const unsigned char c = b(0);
    const std::size_t len = c < 0x80 ? 1
        : (c >= 0xc2 && c <= 0xdf)   ? 2
        : (c >= 0xe0 && c <= 0xef)   ? 3
        : (c >= 0xf0 && c <= 0xf4)   ? 4
                                     : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (std::size_t k = 1; ok && k < len; ++k)
        ok = (b(k) & 0xc0) == 0x80;
    if (ok && len == 3)
        ok = !(c == 0xe0 && b(1) < 0xa0) && !(c == 0xed && b(1) >= 0xa0);
    if (ok && len == 4)
        ok = !(c == 0xf0 && b(1) < 0x90) && !(c == 0xf4 && b(1) >= 0x90);
    return ok ? len : 0;
}

const rapidjson::Value* member(const rapidjson::Value& v, std::string_view name)
{
    if (!v.IsObject())
        return nullptr;
    for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it)
        if (std::string_view(it->name.GetString(), it->name.GetStringLength()) == name)
            return &it->value;
    return nullptr;
}

} // namespace mudguard::controller::json
