#include "Json.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <unordered_set>

#include <fmt/format.h>
#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

#include "Codes.h"

namespace mudguard::mudparser::json {

namespace {

/// A bounded input stream over [begin, end): '\0' past the end, never past it.
class BoundedStream {
public:
    using Ch = char;
    BoundedStream(const char* begin, const char* end)
        : m_head(begin)
        , m_cur(begin)
        , m_end(end)
    {
    }
    Ch Peek() const { return m_cur < m_end ? *m_cur : '\0'; }
    Ch Take() { return m_cur < m_end ? *m_cur++ : '\0'; }
    std::size_t Tell() const { return static_cast<std::size_t>(m_cur - m_head); }

    // Output functions required by the concept; never used for reading.
    Ch* PutBegin() { return nullptr; }
    void Put(Ch) { }
    void Flush() { }
    std::size_t PutEnd(Ch*) { return 0; }

private:
    const char* m_head;
    const char* m_cur;
    const char* m_end;
};

constexpr unsigned kFlags
    = rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag | rapidjson::kParseNumbersAsStringsFlag;

/// Objects with more members than this get a hash set for the duplicate check.
constexpr std::size_t kLinearDuplicateScan = 24;

} // namespace

class Builder : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, Builder> {
public:
    Builder(Document& doc, const Limits& limits, BoundedStream& stream)
        : m_doc(doc)
        , m_limits(limits)
        , m_stream(stream)
    {
    }

    bool Null() { return scalar(Type::Null, {}, m_stream.Tell() - 4); }
    bool Bool(bool b) { return scalar(b ? Type::True : Type::False, {}, m_stream.Tell() - (b ? 4 : 5)); }
    bool RawNumber(const char*, rapidjson::SizeType len, bool)
    {
        auto end = m_stream.Tell();
        return scalar(Type::Number, m_doc.m_source.substr(end - len, len), end - len);
    }
    bool String(const char* str, rapidjson::SizeType len, bool)
    {
        std::size_t start = stringStart();
        if (!checkString(len, start))
            return false;
        return scalar(Type::String, view(str, len, start), start);
    }
    bool Key(const char* str, rapidjson::SizeType len, bool)
    {
        std::size_t start = stringStart();
        if (!checkString(len, start))
            return false;
        m_key = view(str, len, start);
        m_keyOffset = static_cast<std::uint32_t>(start);
        m_lastEnd = m_stream.Tell();
        return true;
    }
    bool StartObject() { return open(Type::Object); }
    bool StartArray() { return open(Type::Array); }
    bool EndObject(rapidjson::SizeType)
    {
        m_frames.pop_back();
        m_lastEnd = m_stream.Tell();
        return true;
    }
    bool EndArray(rapidjson::SizeType)
    {
        m_frames.pop_back();
        m_lastEnd = m_stream.Tell();
        return true;
    }

    /// Set when a handler callback stopped the parse.
    std::optional<ParseError> stopped;

private:
    struct Frame {
        NodeId node;
        std::size_t members = 0;
        std::unique_ptr<std::unordered_set<std::string_view>> names;
    };

    /// Where the string just parsed began. Only whitespace and punctuation lie between the end of
    /// the previous token and the opening quote, so the first quote after that end is it.
    std::size_t stringStart() const
    {
        auto start = m_doc.m_source.find('"', m_lastEnd);
        return start == std::string_view::npos ? m_lastEnd : start;
    }

    bool checkString(std::size_t len, std::size_t start)
    {
        if (len <= m_limits.maxStringBytes)
            return true;
        stopped = ParseError { std::string(codes::kLimitString),
            fmt::format("a string of {} bytes exceeds the limit of {} bytes", len, m_limits.maxStringBytes), start };
        return false;
    }

    /// The decoded string as a view: into the source when it was written without escapes
    /// (then the decoded text is the raw text), into the pool otherwise.
    std::string_view view(const char* str, std::size_t len, std::size_t start)
    {
        std::size_t rawLen = m_stream.Tell() - 2 - start;
        if (rawLen == len)
            return m_doc.m_source.substr(start + 1, len);
        return m_doc.keep(std::string(str, len));
    }

    bool scalar(Type type, std::string_view text, std::size_t offset)
    {
        NodeId id;
        if (!add(type, offset, id))
            return false;
        m_doc.m_nodes[id].text = text;
        m_lastEnd = m_stream.Tell();
        return true;
    }

    /// RapidJSON's iterative parser announces a container before it consumes the bracket, so
    /// the stream still points at it.
    bool open(Type type)
    {
        if (m_frames.size() >= m_limits.maxJsonDepth) {
            stopped = ParseError { std::string(codes::kLimitDepth),
                fmt::format("JSON nesting deeper than {} levels", m_limits.maxJsonDepth), m_stream.Tell() };
            return false;
        }
        NodeId id;
        if (!add(type, m_stream.Tell(), id))
            return false;
        m_frames.push_back(Frame { id });
        m_lastEnd = m_stream.Tell() + 1;
        return true;
    }

    bool add(Type type, std::size_t offset, NodeId& id)
    {
        auto& nodes = m_doc.m_nodes;
        if (nodes.size() >= m_limits.maxJsonValues) {
            stopped = ParseError { std::string(codes::kLimitValues),
                fmt::format("more than {} JSON values", m_limits.maxJsonValues), offset };
            return false;
        }
        id = static_cast<NodeId>(nodes.size());
        Node n;
        n.type = type;
        n.offset = static_cast<std::uint32_t>(offset);
        if (!m_frames.empty()) {
            Frame& f = m_frames.back();
            n.parent = f.node;
            if (nodes[f.node].type == Type::Object) {
                n.key = m_key;
                n.keyOffset = m_keyOffset;
                if (isDuplicate(f, m_key))
                    n.removed = true;
            }
        }
        nodes.push_back(n);
        if (n.parent != kNoNode) {
            Node& p = nodes[n.parent];
            if (p.last == kNoNode)
                p.first = id;
            else
                nodes[p.last].next = id;
            p.last = id;
        }
        if (nodes[id].removed) {
            m_doc.m_duplicates.push_back({ id });
            m_doc.m_anyRemoved = true;
        }
        return true;
    }

    bool isDuplicate(Frame& f, std::string_view key)
    {
        ++f.members;
        if (f.names) {
            return !f.names->insert(key).second;
        }
        const auto& nodes = m_doc.m_nodes;
        for (NodeId c = nodes[f.node].first; c != kNoNode; c = nodes[c].next)
            if (!nodes[c].removed && nodes[c].key == key)
                return true;
        if (f.members > kLinearDuplicateScan) {
            f.names = std::make_unique<std::unordered_set<std::string_view>>();
            for (NodeId c = nodes[f.node].first; c != kNoNode; c = nodes[c].next)
                if (!nodes[c].removed)
                    f.names->insert(nodes[c].key);
            f.names->insert(key);
        }
        return false;
    }

    Document& m_doc;
    const Limits& m_limits;
    BoundedStream& m_stream;
    std::vector<Frame> m_frames;
    std::string_view m_key;
    std::uint32_t m_keyOffset = 0;
    std::size_t m_lastEnd = 0; ///< where the last token ended
};

namespace {

ParseError syntaxError(rapidjson::ParseErrorCode code, std::size_t offset)
{
    using namespace rapidjson;
    const char* what = nullptr;
    std::string_view c = codes::kJsonSyntax;
    switch (code) {
    case kParseErrorDocumentEmpty:
        what = "the document is empty";
        break;
    case kParseErrorDocumentRootNotSingular:
        what = "unexpected text after the end of the JSON document";
        break;
    case kParseErrorValueInvalid:
        what = "invalid value: expected a string, number, object, array, true, false or null";
        break;
    case kParseErrorObjectMissName:
        what = "expected a member name in double quotes";
        break;
    case kParseErrorObjectMissColon:
        what = "expected ':' after the member name";
        break;
    case kParseErrorObjectMissCommaOrCurlyBracket:
        what = "expected ',' or '}' after an object member";
        break;
    case kParseErrorArrayMissCommaOrSquareBracket:
        what = "expected ',' or ']' after an array element";
        break;
    case kParseErrorStringUnicodeEscapeInvalidHex:
        what = "invalid \\u escape in a string";
        break;
    case kParseErrorStringUnicodeSurrogateInvalid:
        what = "invalid UTF-16 surrogate pair in a \\u escape";
        break;
    case kParseErrorStringEscapeInvalid:
        what = "invalid escape sequence or unescaped control character in a string";
        break;
    case kParseErrorStringMissQuotationMark:
        what = "unterminated string";
        break;
    case kParseErrorStringInvalidEncoding:
        what = "invalid UTF-8 byte sequence in a string";
        c = codes::kJsonEncoding;
        break;
    case kParseErrorNumberTooBig:
        what = "number too big";
        break;
    case kParseErrorNumberMissFraction:
        what = "expected digits after the decimal point";
        break;
    case kParseErrorNumberMissExponent:
        what = "expected digits in the exponent";
        break;
    default:
        what = "syntax error";
        break;
    }
    return ParseError { std::string(c), what, offset };
}

} // namespace

Document::Document(std::string_view source)
    : m_source(source)
{
}

std::optional<Document> Document::parse(std::string_view source, const Limits& limits, ParseError& error)
{
    if (source.size() > limits.maxDocumentBytes) {
        error = ParseError { std::string(codes::kLimitSize),
            fmt::format(
                "the document has {} bytes, more than the limit of {} bytes", source.size(), limits.maxDocumentBytes),
            0 };
        return std::nullopt;
    }
    if (source.size() >= 3 && std::memcmp(source.data(), "\xEF\xBB\xBF", 3) == 0) {
        error = ParseError { std::string(codes::kJsonSyntax),
            "the document starts with a UTF-8 byte order mark; save it without one (RFC 8259 section 8.1)", 0 };
        return std::nullopt;
    }
    if (const void* nul = std::memchr(source.data(), 0, source.size())) {
        error = ParseError { std::string(codes::kJsonSyntax), "NUL byte in the document",
            static_cast<std::size_t>(static_cast<const char*>(nul) - source.data()) };
        return std::nullopt;
    }

    Document doc(source);
    doc.m_nodes.reserve(std::min<std::size_t>(source.size() / 32 + 16, limits.maxJsonValues));
    BoundedStream stream(source.data(), source.data() + source.size());
    Builder builder(doc, limits, stream);
    rapidjson::Reader reader;
    rapidjson::ParseResult r = reader.Parse<kFlags>(stream, builder);
    if (r.IsError()) {
        if (r.Code() == rapidjson::kParseErrorTermination && builder.stopped)
            error = *builder.stopped;
        else
            error = syntaxError(r.Code(), r.Offset());
        if (error.code == codes::kJsonSyntax && error.offset >= source.size() && !source.empty())
            error.message = "the document ends too early (is it cut short?): " + error.message;
        return std::nullopt;
    }
    return doc;
}

std::string_view Document::keep(std::string s)
{
    m_pool.push_back(std::move(s));
    return m_pool.back();
}

NodeId Document::firstChild(NodeId id) const
{
    NodeId c = m_nodes[id].first;
    while (c != kNoNode && m_nodes[c].removed)
        c = m_nodes[c].next;
    return c;
}

NodeId Document::nextSibling(NodeId id) const
{
    NodeId c = m_nodes[id].next;
    while (c != kNoNode && m_nodes[c].removed)
        c = m_nodes[c].next;
    return c;
}

std::size_t Document::childCount(NodeId id) const
{
    std::size_t n = 0;
    for (NodeId c = firstChild(id); c != kNoNode; c = nextSibling(c))
        ++n;
    return n;
}

NodeId Document::member(NodeId obj, std::string_view key) const
{
    if (!isObject(obj))
        return kNoNode;
    for (NodeId c = firstChild(obj); c != kNoNode; c = nextSibling(c))
        if (m_nodes[c].key == key)
            return c;
    return kNoNode;
}

NodeId Document::memberLocal(NodeId obj, std::string_view name) const
{
    if (!isObject(obj))
        return kNoNode;
    for (NodeId c = firstChild(obj); c != kNoNode; c = nextSibling(c))
        if (localName(m_nodes[c].key) == name)
            return c;
    return kNoNode;
}

std::optional<std::string_view> Document::string(NodeId id) const
{
    if (!isString(id))
        return std::nullopt;
    return m_nodes[id].text;
}

std::optional<std::uint64_t> Document::unsignedValue(NodeId id) const
{
    if (!isNumber(id))
        return std::nullopt;
    std::string_view t = m_nodes[id].text;
    bool negative = !t.empty() && t.front() == '-';
    if (negative)
        t.remove_prefix(1);
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc() || p != t.data() + t.size())
        return std::nullopt;
    if (negative && v != 0)
        return std::nullopt;
    return v;
}

void Document::rename(NodeId id, std::string key)
{
    m_originalKeys.emplace(id, m_nodes[id].key);
    m_nodes[id].key = keep(std::move(key));
    m_modified = true;
}

void Document::setString(NodeId id, std::string value)
{
    m_nodes[id].type = Type::String;
    m_nodes[id].text = keep(std::move(value));
    m_modified = true;
}

void Document::setNumber(NodeId id, std::string value)
{
    m_nodes[id].type = Type::Number;
    m_nodes[id].text = keep(std::move(value));
    m_modified = true;
}

void Document::setBool(NodeId id, bool value)
{
    m_nodes[id].type = value ? Type::True : Type::False;
    m_nodes[id].text = {};
    m_modified = true;
}

void Document::remove(NodeId id)
{
    m_nodes[id].removed = true;
    m_anyRemoved = true;
    m_modified = true;
}

NodeId Document::addMember(NodeId obj, std::string key, Type type, std::string text)
{
    NodeId id = static_cast<NodeId>(m_nodes.size());
    Node n;
    n.type = type;
    n.parent = obj;
    n.offset = m_nodes[obj].offset;
    n.keyOffset = m_nodes[obj].offset;
    n.key = keep(std::move(key));
    n.text = keep(std::move(text));
    m_nodes.push_back(n);
    Node& p = m_nodes[obj];
    if (p.last == kNoNode)
        p.first = id;
    else
        m_nodes[p.last].next = id;
    p.last = id;
    m_modified = true;
    return id;
}

// --- Positions ---

unsigned Document::lineOf(std::uint32_t offset) const
{
    if (m_lineStarts.empty()) {
        m_lineStarts.push_back(0);
        for (std::size_t i = 0; i < m_source.size(); ++i)
            if (m_source[i] == '\n')
                m_lineStarts.push_back(static_cast<std::uint32_t>(i + 1));
    }
    auto it = std::upper_bound(m_lineStarts.begin(), m_lineStarts.end(), offset);
    return static_cast<unsigned>(it - m_lineStarts.begin());
}

Position positionIn(std::string_view source, std::size_t offset)
{
    offset = std::min(offset, source.size());
    Position p;
    std::size_t lineStart = 0;
    for (std::size_t i = 0; i < offset; ++i) {
        if (source[i] == '\n') {
            ++p.line;
            lineStart = i + 1;
        }
    }
    for (std::size_t i = lineStart; i < offset; ++i)
        if ((static_cast<unsigned char>(source[i]) & 0xC0) != 0x80)
            ++p.column;
    return p;
}

Position Document::positionOfOffset(std::size_t offset) const
{
    offset = std::min(offset, m_source.size());
    Position p;
    p.line = lineOf(static_cast<std::uint32_t>(offset));
    std::size_t start = m_lineStarts[p.line - 1];
    unsigned col = 1;
    for (std::size_t i = start; i < offset; ++i)
        if ((static_cast<unsigned char>(m_source[i]) & 0xC0) != 0x80) // count UTF-8 lead bytes only
            ++col;
    p.column = col;
    return p;
}

Position Document::position(NodeId id) const
{
    const Node& n = m_nodes[id];
    bool member = n.parent != kNoNode && m_nodes[n.parent].type == Type::Object;
    bool container = n.type == Type::Object || n.type == Type::Array;
    return positionOfOffset(member && container ? n.keyOffset : n.offset);
}

NodeId Document::nodeOnLine(unsigned line) const
{
    for (NodeId id = 0; id < m_nodes.size(); ++id) {
        const Node& n = m_nodes[id];
        if (n.removed)
            continue;
        bool member = n.parent != kNoNode && m_nodes[n.parent].type == Type::Object;
        if (lineOf(member ? n.keyOffset : n.offset) == line)
            return id;
    }
    return kNoNode;
}

// --- Paths ---

namespace {

void appendPredicateValue(std::string& out, std::string_view v)
{
    char q = v.find('\'') == std::string_view::npos ? '\'' : '"';
    out += q;
    out += v;
    out += q;
}

} // namespace

std::string Document::pathOf(NodeId id) const
{
    if (id == kNoNode || id == root())
        return "/";
    std::vector<NodeId> chain;
    for (NodeId c = id; c != kNoNode && c != root(); c = m_nodes[c].parent)
        chain.push_back(c);
    std::string out;
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
        const Node& n = m_nodes[*it];
        const Node& p = m_nodes[n.parent];
        if (p.type == Type::Object) {
            out += '/';
            auto renamed = m_originalKeys.find(*it);
            out += renamed == m_originalKeys.end() ? n.key : renamed->second;
            continue;
        }
        // An array element: a list entry named by its key, a leaf-list value, or a position.
        NodeId keyNode = n.type == Type::Object ? member(*it, "name") : kNoNode;
        if (keyNode == kNoNode && n.type == Type::Object)
            keyNode = member(*it, "version-info");
        if (isString(keyNode)) {
            out += '[';
            out += m_nodes[keyNode].key;
            out += '=';
            appendPredicateValue(out, m_nodes[keyNode].text);
            out += ']';
        } else if ((n.type == Type::String || n.type == Type::Number) && n.text.size() <= 64) {
            out += "[.=";
            appendPredicateValue(out, n.text);
            out += ']';
        } else {
            std::size_t pos = 1;
            for (NodeId c = firstChild(n.parent); c != kNoNode && c != *it; c = nextSibling(c))
                ++pos;
            out += fmt::format("[{}]", pos);
        }
    }
    return out;
}

namespace {

struct Step {
    std::string_view name; ///< with the module prefix when the path has one
    std::string_view predKey;
    std::string predValue;
    long position = 0;
    bool hasPredicate = false;
};

/// Splits "/a:b/c[k='v'][2]/d" into steps; quotes inside predicates are respected. Only the
/// first predicate of a step is kept (MUD lists have one key).
std::vector<Step> splitPath(std::string_view path)
{
    std::vector<Step> steps;
    std::size_t i = 0;
    while (i < path.size()) {
        if (path[i] == '/') {
            ++i;
            continue;
        }
        Step s;
        std::size_t start = i;
        while (i < path.size() && path[i] != '/' && path[i] != '[')
            ++i;
        s.name = path.substr(start, i - start);
        while (i < path.size() && path[i] == '[') {
            std::size_t close = i + 1;
            char quote = 0;
            for (; close < path.size(); ++close) {
                char c = path[close];
                if (quote) {
                    if (c == quote)
                        quote = 0;
                } else if (c == '\'' || c == '"') {
                    quote = c;
                } else if (c == ']') {
                    break;
                }
            }
            std::string_view pred = path.substr(i + 1, close - i - 1);
            if (!s.hasPredicate) {
                s.hasPredicate = true;
                auto eq = pred.find('=');
                if (eq == std::string_view::npos) {
                    std::from_chars(pred.data(), pred.data() + pred.size(), s.position);
                } else {
                    s.predKey = pred.substr(0, eq);
                    while (!s.predKey.empty() && s.predKey.back() == ' ')
                        s.predKey.remove_suffix(1);
                    std::string_view v = pred.substr(eq + 1);
                    while (!v.empty() && v.front() == ' ')
                        v.remove_prefix(1);
                    if (v.size() >= 2 && (v.front() == '\'' || v.front() == '"'))
                        v = v.substr(1, v.size() - 2);
                    s.predValue = std::string(v);
                }
            }
            i = close < path.size() ? close + 1 : close;
        }
        steps.push_back(std::move(s));
    }
    return steps;
}

} // namespace

NodeId Document::resolve(std::string_view path, bool& complete) const
{
    complete = false;
    NodeId cur = root();
    if (cur == kNoNode)
        return kNoNode;
    auto steps = splitPath(path);
    for (const Step& s : steps) {
        if (!isObject(cur))
            return cur;
        NodeId m = member(cur, s.name);
        if (m == kNoNode)
            m = memberLocal(cur, localName(s.name));
        if (m == kNoNode)
            return cur;
        cur = m;
        if (!s.hasPredicate)
            continue;
        if (!isArray(cur))
            return cur;
        NodeId found = kNoNode;
        long pos = 0;
        for (NodeId e = firstChild(cur); e != kNoNode; e = nextSibling(e)) {
            ++pos;
            if (s.position > 0) {
                if (pos == s.position) {
                    found = e;
                    break;
                }
            } else if (s.predKey == ".") {
                const Node& en = m_nodes[e];
                if ((en.type == Type::String || en.type == Type::Number) && en.text == s.predValue) {
                    found = e;
                    break;
                }
            } else {
                NodeId k = memberLocal(e, s.predKey);
                if (k != kNoNode && isString(k) && m_nodes[k].text == s.predValue) {
                    found = e;
                    break;
                }
            }
        }
        if (found == kNoNode)
            return cur;
        cur = found;
    }
    complete = true;
    return cur;
}

// --- Writing ---

void appendQuoted(std::string& out, std::string_view s)
{
    out += '"';
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        switch (c) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\t':
            out += "\\t";
            break;
        case '\b':
            out += "\\b";
            break;
        case '\f':
            out += "\\f";
            break;
        default:
            if (c < 0x20)
                out += fmt::format("\\u{:04x}", c);
            else
                out += ch;
        }
    }
    out += '"';
}

void Document::newlinesTo(std::uint32_t offset, std::string& out, unsigned& line) const
{
    unsigned target = lineOf(offset);
    while (line < target) {
        out += '\n';
        ++line;
    }
}

void Document::serializeValue(NodeId id, std::string& out, unsigned& line, bool layout) const
{
    const Node& n = m_nodes[id];
    if (layout)
        newlinesTo(n.offset, out, line);
    switch (n.type) {
    case Type::Null:
        out += "null";
        break;
    case Type::True:
        out += "true";
        break;
    case Type::False:
        out += "false";
        break;
    case Type::Number:
        out += n.text;
        break;
    case Type::String:
        appendQuoted(out, n.text);
        break;
    case Type::Array: {
        out += '[';
        bool first = true;
        for (NodeId c = firstChild(id); c != kNoNode; c = nextSibling(c)) {
            if (!first)
                out += ',';
            first = false;
            serializeValue(c, out, line, layout);
        }
        out += ']';
        break;
    }
    case Type::Object: {
        out += '{';
        bool first = true;
        for (NodeId c = firstChild(id); c != kNoNode; c = nextSibling(c)) {
            if (!first)
                out += ',';
            first = false;
            if (layout)
                newlinesTo(m_nodes[c].keyOffset, out, line);
            appendQuoted(out, m_nodes[c].key);
            out += ':';
            serializeValue(c, out, line, layout);
        }
        out += '}';
        break;
    }
    }
}

std::string Document::serialize() const
{
    std::string out;
    out.reserve(m_source.size());
    unsigned line = 1;
    if (root() != kNoNode)
        serializeValue(root(), out, line, true);
    out += '\n';
    return out;
}

std::string Document::compact(NodeId id) const
{
    std::string out;
    unsigned line = 1;
    serializeValue(id, out, line, false);
    return out;
}

} // namespace mudguard::mudparser::json
