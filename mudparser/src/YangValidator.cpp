#include "YangValidator.h"

#include <algorithm>
#include <cstdlib>
#include <mutex>

#include <fmt/format.h>

#include "Codes.h"

namespace mudguard::mudparser {

namespace {

void setLogOptionsOnce()
{
    static std::once_flag once;
    // Process-wide: errors are kept in the context instead of going to stderr.
    std::call_once(once, [] { ly_log_options(LY_LOSTORE); });
}

std::string firstError(const ly_ctx* ctx)
{
    const ly_err_item* e = ly_err_first(ctx);
    return e && e->msg ? e->msg : "unknown libyang error";
}

/// The text between the `index`-th pair of double quotes of `s`.
std::string_view quoted(std::string_view s, int index = 0)
{
    std::size_t pos = 0;
    for (int i = 0;; ++i) {
        auto open = s.find('"', pos);
        if (open == std::string_view::npos)
            return {};
        auto close = s.find('"', open + 1);
        if (close == std::string_view::npos)
            return {};
        if (i == index)
            return s.substr(open + 1, close - open - 1);
        pos = close + 1;
    }
}

/// The quoted text after `label` in libyang's location sentence.
std::string_view locationAfter(std::string_view sentence, std::string_view label)
{
    auto at = sentence.find(label);
    if (at == std::string_view::npos)
        return {};
    return quoted(sentence.substr(at + label.size()));
}

std::optional<unsigned> lineIn(std::string_view sentence)
{
    for (std::string_view label : { "line number ", "Line number " }) {
        auto at = sentence.find(label);
        if (at == std::string_view::npos)
            continue;
        unsigned v = 0;
        bool any = false;
        for (std::size_t i = at + label.size(); i < sentence.size() && sentence[i] >= '0' && sentence[i] <= '9'; ++i) {
            v = v * 10 + static_cast<unsigned>(sentence[i] - '0');
            any = true;
        }
        if (any)
            return v;
    }
    return std::nullopt;
}

bool startsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool contains(std::string_view s, std::string_view p) { return s.find(p) != std::string_view::npos; }

/// A data path without its predicates ("/a/b[k='v']/c" -> "/a/b/c").
std::string stripPredicates(std::string_view path)
{
    std::string out;
    int depth = 0;
    char quote = 0;
    for (char c : path) {
        if (depth > 0) {
            if (quote) {
                if (c == quote)
                    quote = 0;
            } else if (c == '\'' || c == '"') {
                quote = c;
            } else if (c == '[') {
                ++depth;
            } else if (c == ']') {
                --depth;
            }
            continue;
        }
        if (c == '[') {
            depth = 1;
            continue;
        }
        out += c;
    }
    return out;
}

std::string rangeText(const lysc_range* range, bool isSigned)
{
    if (!range || !range->parts)
        return {};
    std::string out;
    LY_ARRAY_COUNT_TYPE i;
    LY_ARRAY_FOR(range->parts, i)
    {
        const auto& p = range->parts[i];
        if (!out.empty())
            out += " | ";
        if (isSigned)
            out += p.min_64 == p.max_64 ? fmt::format("{}", p.min_64) : fmt::format("{}..{}", p.min_64, p.max_64);
        else
            out += p.min_u64 == p.max_u64 ? fmt::format("{}", p.min_u64) : fmt::format("{}..{}", p.min_u64, p.max_u64);
    }
    return out;
}

std::string builtinBounds(LY_DATA_TYPE t)
{
    switch (t) {
    case LY_TYPE_UINT8:
        return "0..255";
    case LY_TYPE_UINT16:
        return "0..65535";
    case LY_TYPE_UINT32:
        return "0..4294967295";
    case LY_TYPE_UINT64:
        return "0..18446744073709551615";
    case LY_TYPE_INT8:
        return "-128..127";
    case LY_TYPE_INT16:
        return "-32768..32767";
    case LY_TYPE_INT32:
        return "-2147483648..2147483647";
    case LY_TYPE_INT64:
        return "-9223372036854775808..9223372036854775807";
    default:
        return {};
    }
}

const lysc_type* leafType(const lysc_node* n)
{
    if (!n)
        return nullptr;
    if (n->nodetype == LYS_LEAF)
        return reinterpret_cast<const lysc_node_leaf*>(n)->type;
    if (n->nodetype == LYS_LEAFLIST)
        return reinterpret_cast<const lysc_node_leaflist*>(n)->type;
    return nullptr;
}

/// The allowed range (or length) of a leaf's type, as "1..168".
std::string allowedRange(const lysc_type* t)
{
    if (!t)
        return {};
    if (t->basetype == LY_TYPE_LEAFREF)
        t = reinterpret_cast<const lysc_type_leafref*>(t)->realtype;
    switch (t->basetype) {
    case LY_TYPE_UINT8:
    case LY_TYPE_UINT16:
    case LY_TYPE_UINT32:
    case LY_TYPE_UINT64: {
        auto r = rangeText(reinterpret_cast<const lysc_type_num*>(t)->range, false);
        return r.empty() ? builtinBounds(t->basetype) : r;
    }
    case LY_TYPE_INT8:
    case LY_TYPE_INT16:
    case LY_TYPE_INT32:
    case LY_TYPE_INT64: {
        auto r = rangeText(reinterpret_cast<const lysc_type_num*>(t)->range, true);
        return r.empty() ? builtinBounds(t->basetype) : r;
    }
    case LY_TYPE_STRING:
        return rangeText(reinterpret_cast<const lysc_type_str*>(t)->length, false);
    case LY_TYPE_BINARY:
        return rangeText(reinterpret_cast<const lysc_type_bin*>(t)->length, false);
    default:
        return {};
    }
}

/// The identities derived from `base`, nearest first.
void collectIdentities(const lysc_ident* base, std::vector<std::string>& out)
{
    std::vector<const lysc_ident*> queue { base };
    for (std::size_t q = 0; q < queue.size() && queue.size() < 256; ++q) {
        LY_ARRAY_COUNT_TYPE i;
        LY_ARRAY_FOR(queue[q]->derived, i)
        {
            const lysc_ident* d = queue[q]->derived[i];
            std::string name = d->name;
            if (d->module && d->module->implemented && std::find(out.begin(), out.end(), name) == out.end())
                out.push_back(name);
            queue.push_back(d);
        }
    }
}

/// The values an enumeration or identityref leaf accepts, comma-separated.
std::string allowedValues(const lysc_type* t)
{
    if (!t)
        return {};
    std::vector<std::string> names;
    if (t->basetype == LY_TYPE_ENUM) {
        auto* e = reinterpret_cast<const lysc_type_enum*>(t);
        LY_ARRAY_COUNT_TYPE i;
        LY_ARRAY_FOR(e->enums, i)
        names.emplace_back(e->enums[i].name);
    } else if (t->basetype == LY_TYPE_IDENT) {
        auto* id = reinterpret_cast<const lysc_type_identityref*>(t);
        LY_ARRAY_COUNT_TYPE i;
        LY_ARRAY_FOR(id->bases, i)
        collectIdentities(id->bases[i], names);
    } else if (t->basetype == LY_TYPE_BITS) {
        auto* b = reinterpret_cast<const lysc_type_bits*>(t);
        LY_ARRAY_COUNT_TYPE i;
        LY_ARRAY_FOR(b->bits, i)
        names.emplace_back(b->bits[i].name);
    } else if (t->basetype == LY_TYPE_UNION) {
        auto* u = reinterpret_cast<const lysc_type_union*>(t);
        LY_ARRAY_COUNT_TYPE i;
        LY_ARRAY_FOR(u->types, i)
        {
            if (u->types[i]->basetype == LY_TYPE_ENUM || u->types[i]->basetype == LY_TYPE_IDENT) {
                auto more = allowedValues(u->types[i]);
                if (!more.empty())
                    names.push_back(more);
            } else {
                names.push_back(fmt::format("a number {}", allowedRange(u->types[i])));
            }
        }
    }
    std::string out;
    for (const auto& n : names) {
        if (!out.empty())
            out += ", ";
        out += n;
    }
    return out;
}

const char* typeName(LY_DATA_TYPE t)
{
    switch (t) {
    case LY_TYPE_UINT8:
        return "uint8";
    case LY_TYPE_UINT16:
        return "uint16";
    case LY_TYPE_UINT32:
        return "uint32";
    case LY_TYPE_UINT64:
        return "uint64";
    case LY_TYPE_INT8:
        return "int8";
    case LY_TYPE_INT16:
        return "int16";
    case LY_TYPE_INT32:
        return "int32";
    case LY_TYPE_INT64:
        return "int64";
    case LY_TYPE_BOOL:
        return "boolean";
    case LY_TYPE_STRING:
        return "string";
    default:
        return "value";
    }
}

/// Follows a libyang schema path that names choices and cases ("/m:a/choice/case/leaf").
const lysc_node* followLogPath(const ly_ctx* ctx, std::string_view path)
{
    const lysc_node* cur = nullptr;
    const lys_module* mod = nullptr;
    std::size_t i = 0;
    while (i < path.size()) {
        if (path[i] == '/') {
            ++i;
            continue;
        }
        auto end = path.find('/', i);
        std::string_view seg = path.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i);
        i = end == std::string_view::npos ? path.size() : end;
        std::string_view prefix;
        std::string_view name = seg;
        if (auto colon = seg.find(':'); colon != std::string_view::npos) {
            prefix = seg.substr(0, colon);
            name = seg.substr(colon + 1);
        }
        const lysc_node* child = nullptr;
        if (!cur) {
            mod = ly_ctx_get_module_implemented(ctx, std::string(prefix).c_str());
            if (!mod || !mod->compiled)
                return nullptr;
            child = mod->compiled->data;
        } else {
            child = lysc_node_child(cur);
        }
        for (; child; child = child->next) {
            if (name == child->name && (prefix.empty() || prefix == child->module->name))
                break;
        }
        if (!child)
            return nullptr;
        cur = child;
    }
    return cur;
}

} // namespace

YangValidator::YangValidator(
    const std::filesystem::path& schemaDir, const std::vector<YangModule>& modules, YangHints hints)
    : m_hints(std::move(hints))
{
    setLogOptionsOnce();
    ly_ctx* raw = nullptr;
    if (ly_ctx_new(schemaDir.c_str(), LY_CTX_NO_YANGLIBRARY | LY_CTX_DISABLE_SEARCHDIR_CWD, &raw) != LY_SUCCESS) {
        LyContextPtr failed(raw);
        throw Error(fmt::format("cannot create a YANG context for {}: {}", schemaDir.string(),
            raw ? firstError(raw) : std::string("out of memory")));
    }
    m_ctx.reset(raw);
    for (const auto& m : modules) {
        std::vector<const char*> features;
        for (const auto& f : m.features)
            features.push_back(f.c_str());
        features.push_back(nullptr);
        ly_err_clean(m_ctx.get(), nullptr);
        if (!ly_ctx_load_module(m_ctx.get(), m.name.c_str(), m.revision.empty() ? nullptr : m.revision.c_str(),
                m.features.empty() ? nullptr : features.data())) {
            throw Error(fmt::format("cannot load YANG module {}{}{} from {}: {}", m.name, m.revision.empty() ? "" : "@",
                m.revision, schemaDir.string(), firstError(m_ctx.get())));
        }
    }
    ly_err_clean(m_ctx.get(), nullptr);
}

YangValidator::~YangValidator() = default;

std::optional<YangFailure> YangValidator::validate(const std::string& text, const json::Document& doc) const
{
    ly_ctx* ctx = m_ctx.get();
    // With LY_LOSTORE, errors of earlier documents would still be listed.
    ly_err_clean(ctx, nullptr);
    lyd_node* tree = nullptr;
    LY_ERR r = lyd_parse_data_mem(ctx, text.c_str(), LYD_JSON, LYD_PARSE_STRICT | LYD_PARSE_NO_STATE,
        LYD_VALIDATE_NO_STATE | LYD_VALIDATE_PRESENT, &tree);
    LyTreePtr owner(tree);
    if (r == LY_SUCCESS)
        return std::nullopt;
    const ly_err_item* e = ly_err_first(ctx);
    YangFailure f;
    if (!e) {
        f.diagnostic.code = std::string(codes::kYangOther);
        f.diagnostic.message = "the YANG validator rejected the document without giving a reason";
        f.node = doc.root();
    } else {
        f = translate(*e, doc);
    }
    ly_err_clean(ctx, nullptr);
    return f;
}

const lysc_node* YangValidator::schemaNode(std::string_view dataPath) const
{
    if (dataPath.empty())
        return nullptr;
    std::string p = stripPredicates(dataPath);
    return lys_find_path(m_ctx.get(), nullptr, p.c_str(), 0);
}

std::string YangValidator::describeValueError(
    std::string_view msg, std::string_view leaf, std::string_view value, const lysc_node* snode) const
{
    const lysc_type* t = leafType(snode);
    std::string format = m_hints.valueFormat ? m_hints.valueFormat(leaf) : std::string();
    if (contains(msg, "min/max bounds") || startsWith(msg, "Unsatisfied range")) {
        auto range = allowedRange(t);
        return range.empty() ? fmt::format("\"{}\" value {} is out of range", leaf, value)
                             : fmt::format("\"{}\" value {} is out of range {}", leaf, value, range);
    }
    if (startsWith(msg, "Unsatisfied length")) {
        auto range = allowedRange(t);
        return fmt::format(
            "\"{}\" value \"{}\" has a length outside {}", leaf, value, range.empty() ? "the allowed range" : range);
    }
    if (startsWith(msg, "Invalid enumeration value") || startsWith(msg, "Invalid identityref")) {
        auto allowed = allowedValues(t);
        if (!allowed.empty())
            return fmt::format("\"{}\" value \"{}\" is not one of: {}", leaf, value, allowed);
        return fmt::format("\"{}\" value \"{}\" is not allowed", leaf, value);
    }
    if (contains(msg, "non-boolean-encoded"))
        return fmt::format("\"{}\" must be the JSON literal true or false, not the string \"{}\"", leaf, value);
    if (contains(msg, "non-number-encoded"))
        return fmt::format("\"{}\" must be a JSON number, not the string \"{}\"", leaf, value);
    if (contains(msg, "non-empty-encoded"))
        return fmt::format("\"{}\" is an empty leaf and must be written as [null] (RFC 7951 section 6.9)", leaf);
    if (contains(msg, "non-string-encoded"))
        return fmt::format("\"{}\" must be a JSON string", leaf);
    if (startsWith(msg, "Invalid type") && t) {
        auto range = allowedRange(t);
        return fmt::format("\"{}\" value {} is not a valid {}{}", leaf, value, typeName(t->basetype),
            range.empty() ? std::string() : fmt::format(" (an integer {})", range));
    }
    if (t && t->basetype == LY_TYPE_BITS) {
        return fmt::format("\"{}\" value \"{}\" must be a space-separated list of: {}", leaf, value, allowedValues(t));
    }
    if (startsWith(msg, "Unsatisfied pattern") || startsWith(msg, "Invalid union value") || contains(msg, "Invalid ")) {
        if (!format.empty())
            return fmt::format("\"{}\" value \"{}\" is not {}", leaf, value, format);
        if (t && t->basetype == LY_TYPE_UNION) {
            auto allowed = allowedValues(t);
            if (!allowed.empty())
                return fmt::format("\"{}\" value \"{}\" is not one of: {}", leaf, value, allowed);
        }
        return fmt::format("\"{}\" value \"{}\" is not valid: {}", leaf, value, msg);
    }
    return fmt::format("\"{}\": {}", leaf, msg);
}

YangFailure YangValidator::translate(const ly_err_item& e, const json::Document& doc) const
{
    YangFailure f;
    Diagnostic& d = f.diagnostic;
    d.severity = Severity::Error;
    std::string_view msg = e.msg ? e.msg : "";
    std::string_view sentence = e.path ? e.path : "";
    std::string_view apptag = e.apptag ? e.apptag : "";
    std::string_view dataPath = locationAfter(sentence, "Data location ");
    std::string_view schemaPath = locationAfter(sentence, "Schema location ");
    auto line = lineIn(sentence);

    bool complete = false;
    json::NodeId node = dataPath.empty() ? json::kNoNode : doc.resolve(dataPath, complete);
    auto memberOf = [&](json::NodeId obj, auto&& pred) {
        if (!doc.isObject(obj))
            return json::kNoNode;
        for (json::NodeId c = doc.firstChild(obj); c != json::kNoNode; c = doc.nextSibling(c))
            if (pred(doc[c].key))
                return c;
        return json::kNoNode;
    };

    if (startsWith(msg, "Node \"") && contains(msg, "not found as a child of")) {
        std::string_view child = quoted(msg, 0);
        std::string_view parent = quoted(msg, 1);
        json::NodeId m = memberOf(node, [&](std::string_view k) { return k == child || json::localName(k) == child; });
        if (m != json::kNoNode)
            node = m;
        d.code = std::string(codes::kYangUnknownMember);
        d.message = fmt::format("\"{}\" is not a member of \"{}\" in the YANG model", child, parent);
        std::string suggestion = m_hints.memberSuggestion ? m_hints.memberSuggestion(child, parent) : std::string();
        if (!suggestion.empty())
            d.message += fmt::format("; did you mean \"{}\"?", suggestion);
    } else if (startsWith(msg, "No module named")) {
        std::string_view module = quoted(msg, 0);
        json::NodeId base = node == json::kNoNode ? doc.root() : node;
        json::NodeId m = memberOf(base, [&](std::string_view k) {
            return k.size() > module.size() && startsWith(k, module) && k[module.size()] == ':';
        });
        if (m != json::kNoNode)
            node = m;
        d.code = std::string(codes::kYangUnknownMember);
        d.message = fmt::format("module \"{}\" is not known: member names must start with the name of a module "
                                "of the YANG model",
            module);
    } else if (startsWith(msg, "Node \"") && contains(msg, "module.")) {
        std::string_view name = quoted(msg, 0);
        std::string_view module = quoted(msg, 1);
        std::string key = fmt::format("{}:{}", module, name);
        json::NodeId m = doc.member(doc.root(), key);
        if (m != json::kNoNode)
            node = m;
        d.code = std::string(codes::kYangUnknownMember);
        d.message = fmt::format("module \"{}\" has no top-level node \"{}\"", module, name);
        std::string suggestion = m_hints.memberSuggestion ? m_hints.memberSuggestion(key, "/") : std::string();
        if (!suggestion.empty())
            d.message += fmt::format("; did you mean \"{}\"?", suggestion);
    } else if (startsWith(msg, "Top-level JSON object member")) {
        std::string_view name = quoted(msg, 0);
        json::NodeId m = doc.member(doc.root(), name);
        if (m != json::kNoNode)
            node = m;
        d.code = std::string(codes::kYangUnknownMember);
        d.message = fmt::format(
            "top-level member \"{}\" must be qualified with its module name, as in \"ietf-mud:mud\"", name);
    } else if (startsWith(msg, "Mandatory node")) {
        d.code = std::string(codes::kYangMandatoryMissing);
        d.message = fmt::format("\"{}\" is missing; it is mandatory", quoted(msg, 0));
        if (!schemaPath.empty()) {
            f.diagnostic = d;
            locateMissing(schemaPath, doc, f);
            return f;
        }
    } else if (startsWith(msg, "Duplicate instance")) {
        d.code = std::string(codes::kDuplicateEntry);
        if (!complete)
            node = line ? doc.nodeOnLine(*line) : json::kNoNode;
        d.message = fmt::format("this \"{}\" entry repeats the key of an earlier one", quoted(msg, 0));
    } else if (apptag == "instance-required" || startsWith(msg, "Invalid leafref")) {
        d.code = std::string(codes::kYangLeafref);
        std::string_view leaf = node != json::kNoNode ? json::localName(doc[node].key) : std::string_view("value");
        d.message = fmt::format(
            "\"{}\" value \"{}\" refers to nothing: no {} has this value", leaf, quoted(msg, 0), quoted(msg, 1));
    } else if (startsWith(msg, "Data for both cases")) {
        d.code = std::string(codes::kYangChoiceConflict);
        d.message = fmt::format("\"{}\" and \"{}\" exclude each other; use only one", quoted(msg, 0), quoted(msg, 1));
    } else if (startsWith(msg, "When condition")) {
        d.code = std::string(codes::kYangWhen);
        std::string_view name = node != json::kNoNode ? json::localName(doc[node].key) : std::string_view("node");
        d.message
            = fmt::format("\"{}\" is not allowed here: its YANG condition {} does not hold", name, quoted(msg, 0));
    } else if (apptag == "must-violation" || startsWith(msg, "Must condition")) {
        d.code = std::string(codes::kYangMust);
        d.message = std::string(msg);
        if (!d.message.empty() && d.message.back() == '.')
            d.message.pop_back();
    } else if (startsWith(msg, "List instance is missing its key")) {
        d.code = std::string(codes::kYangMandatoryMissing);
        std::string_view list = node != json::kNoNode ? json::localName(doc[node].key) : std::string_view("list");
        d.message = fmt::format("an entry of \"{}\" has no \"{}\"; every entry needs its key", list, quoted(msg, 0));
    } else if (e.vecode == LYVE_SYNTAX_JSON || e.vecode == LYVE_SYNTAX) {
        // The JSON is well-formed (checked before); its shape does not fit the YANG node.
        d.code = std::string(codes::kYangEncoding);
        d.message = std::string(msg);
        if (!d.message.empty() && d.message.back() == '.')
            d.message.pop_back();
    } else if (e.vecode == LYVE_DATA
        && (startsWith(msg, "Invalid") || startsWith(msg, "Unsatisfied") || startsWith(msg, "Value \""))) {
        bool range = contains(msg, "min/max bounds") || startsWith(msg, "Unsatisfied range")
            || startsWith(msg, "Unsatisfied length");
        d.code = std::string(range ? codes::kYangOutOfRange : codes::kYangInvalidValue);
        std::string_view leaf = node != json::kNoNode ? json::localName(doc[node].key) : std::string_view("value");
        std::string value = node != json::kNoNode ? std::string(doc[node].text) : std::string(quoted(msg, 0));
        if (node != json::kNoNode && doc.isString(node) == false && !doc.isNumber(node))
            value = std::string(quoted(msg, 0));
        d.message = describeValueError(msg, leaf, value, schemaNode(dataPath));
    } else {
        d.code = std::string(codes::kYangOther);
        d.message = std::string(msg);
        if (!d.message.empty() && d.message.back() == '.')
            d.message.pop_back();
    }

    if (node == json::kNoNode && line)
        node = doc.nodeOnLine(*line);
    f.node = node;
    if (node != json::kNoNode) {
        d.path = doc.pathOf(node);
        auto pos = doc.position(node);
        d.line = pos.line;
        d.column = pos.column;
    } else {
        d.path = std::string(dataPath.empty() ? schemaPath : dataPath);
        if (line)
            d.line = *line;
    }
    return f;
}

void YangValidator::locateMissing(std::string_view schemaPath, const json::Document& doc, YangFailure& f) const
{
    Diagnostic& d = f.diagnostic;
    const lysc_node* sn = followLogPath(m_ctx.get(), schemaPath);
    if (!sn) {
        bool complete = false;
        f.node = doc.resolve(schemaPath, complete);
        d.path = std::string(schemaPath);
    } else {
        char* raw = lysc_path(sn, LYSC_PATH_DATA, nullptr, 0);
        std::string dataPath = raw ? raw : "";
        std::free(raw);
        // The leaf's name as a path step, and the steps of the nodes above it.
        auto lastSlash = dataPath.rfind('/');
        std::string leafStep = dataPath.substr(lastSlash + 1);
        std::vector<std::string> steps;
        for (std::size_t i = 0; i < lastSlash;) {
            auto next = dataPath.find('/', i + 1);
            if (next == std::string::npos || next > lastSlash)
                next = lastSlash;
            steps.push_back(std::string(json::localName(std::string_view(dataPath).substr(i + 1, next - i - 1))));
            i = next;
        }
        // A mandatory leaf in a case is required only where that case is in use.
        std::vector<std::string> caseMembers;
        if (sn->parent && sn->parent->nodetype == LYS_CASE)
            for (const lysc_node* c = lysc_node_child(sn->parent); c; c = c->next)
                caseMembers.emplace_back(c->name);
        std::string_view leafName = json::localName(leafStep);
        bool parentIsPlainContainer = caseMembers.empty() && sn->parent && sn->parent->nodetype == LYS_CONTAINER
            && !(sn->parent->flags & LYS_PRESENCE);

        json::NodeId found = json::kNoNode;
        std::string missingPath;
        auto search = [&](auto&& self, json::NodeId obj, std::size_t step) -> bool {
            if (!doc.isObject(obj))
                return false;
            if (step == steps.size()) {
                if (doc.memberLocal(obj, leafName) != json::kNoNode)
                    return false;
                if (!caseMembers.empty()) {
                    bool inCase = false;
                    for (const auto& c : caseMembers)
                        inCase = inCase || doc.memberLocal(obj, c) != json::kNoNode;
                    if (!inCase)
                        return false;
                }
                found = obj;
                missingPath = doc.pathOf(obj) + "/" + leafStep;
                return true;
            }
            json::NodeId m = doc.memberLocal(obj, steps[step]);
            if (m == json::kNoNode) {
                // The leaf's own non-presence container is missing: the leaf is missing with it.
                if (!parentIsPlainContainer || step + 1 != steps.size())
                    return false;
                found = obj;
                missingPath = doc.pathOf(obj) + "/" + steps[step] + "/" + leafStep;
                return true;
            }
            if (doc.isArray(m)) {
                for (json::NodeId e = doc.firstChild(m); e != json::kNoNode; e = doc.nextSibling(e))
                    if (self(self, e, step + 1))
                        return true;
                return false;
            }
            return self(self, m, step + 1);
        };
        if (doc.root() == json::kNoNode || !search(search, doc.root(), 0)) {
            bool complete = false;
            found = doc.resolve(dataPath, complete);
            missingPath = dataPath;
        }
        f.node = found;
        d.path = missingPath.empty() ? dataPath : missingPath;
    }
    f.missingNode = true;
    if (f.node != json::kNoNode) {
        auto pos = doc.position(f.node);
        d.line = pos.line;
        d.column = pos.column;
    }
}

bool validateInRounds(
    const YangValidator& validator, json::Document& doc, const std::string& text, Sink& sink, int maxRounds)
{
    std::vector<std::string> removedPaths;
    for (int round = 0; round < maxRounds; ++round) {
        std::string edited;
        if (doc.modified())
            edited = doc.serialize();
        auto failure = validator.validate(doc.modified() ? edited : text, doc);
        if (!failure)
            return true;
        Diagnostic& d = failure->diagnostic;
        // A mandatory node reported missing because an earlier round removed it is not news.
        if (failure->missingNode && std::find(removedPaths.begin(), removedPaths.end(), d.path) != removedPaths.end())
            return false;
        if (!sink.hasErrorAt(d.path))
            sink.add(std::move(d));
        json::NodeId node = failure->node;
        if (failure->missingNode || node == json::kNoNode || node == doc.root() || doc[node].removed)
            return false;
        removedPaths.push_back(doc.pathOf(node));
        doc.remove(node);
    }
    return false;
}

} // namespace mudguard::mudparser
