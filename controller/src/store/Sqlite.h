#pragma once
// A thin RAII layer over the SQLite C API for the store: one connection per thread, cached
// prepared statements, and one checked call path that turns SQLite errors into StoreError.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <sqlite3.h>

namespace mudguard::controller::sqlite {

template <auto Free> struct CDeleter {
    void operator()(auto* p) const noexcept { Free(p); }
};
using DbPtr = std::unique_ptr<sqlite3, CDeleter<sqlite3_close_v2>>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, CDeleter<sqlite3_finalize>>;

/// Throws StoreError for `rc`, with SQLite's message for `db` (may be null) and `what`.
[[noreturn]] void fail(sqlite3* db, int rc, std::string_view what);

class Connection {
public:
    /// Opens `path` with SQLITE_OPEN_* `flags` (NOMUTEX is added: one thread per connection).
    Connection(const std::filesystem::path& path, int flags, std::chrono::milliseconds busyTimeout);
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    sqlite3* get() const noexcept { return m_db.get(); }
    /// Runs one or more statements without results (pragmas, DDL).
    void exec(std::string_view sql);
    /// The cached prepared statement for `sql`, prepared on first use.
    sqlite3_stmt* statement(std::string_view sql);
    /// The single-value result of a pragma or query ("PRAGMA journal_mode=WAL").
    std::string queryText(std::string_view sql);
    std::int64_t queryInt(std::string_view sql);
    bool inTransaction() const noexcept { return sqlite3_get_autocommit(m_db.get()) == 0; }

private:
    DbPtr m_db;
    std::unordered_map<std::string, StmtPtr> m_cache;
};

/// One use of a cached statement: bind, step, read columns; resets the statement when done.
class Use {
public:
    Use(Connection& c, std::string_view sql)
        : m_db(c.get())
        , m_stmt(c.statement(sql))
    {
    }
    ~Use()
    {
        sqlite3_reset(m_stmt);
        sqlite3_clear_bindings(m_stmt);
    }
    Use(const Use&) = delete;
    Use& operator=(const Use&) = delete;

    // Values are bound SQLITE_STATIC: they must live until the Use is gone (they are the
    // caller's arguments, so they do).
    Use& bind(int i, std::int64_t v) { return check(sqlite3_bind_int64(m_stmt, i, v)); }
    Use& bind(int i, int v) { return bind(i, static_cast<std::int64_t>(v)); }
    Use& bind(int i, bool v) { return bind(i, static_cast<std::int64_t>(v ? 1 : 0)); }
    Use& bind(int i, std::string_view v)
    {
        // A null data pointer would bind SQL NULL; an empty string must stay ''.
        return check(sqlite3_bind_text64(m_stmt, i, v.data() ? v.data() : "", v.size(), SQLITE_STATIC, SQLITE_UTF8));
    }
    Use& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
    Use& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
    Use& bind(int i, std::nullptr_t) { return check(sqlite3_bind_null(m_stmt, i)); }
    template <typename T> Use& bind(int i, const std::optional<T>& v) { return v ? bind(i, *v) : bind(i, nullptr); }
    Use& bindBlob(int i, const std::optional<std::string>& v)
    {
        if (!v)
            return bind(i, nullptr);
        return check(sqlite3_bind_blob64(m_stmt, i, v->data(), v->size(), SQLITE_STATIC));
    }
    /// Binds the arguments to ?1, ?2, ...
    template <typename... A> Use& bindAll(const A&... args)
    {
        int i = 0;
        (bind(++i, args), ...);
        (void)i;
        return *this;
    }

    /// True when a row is ready; false when done. Throws on error.
    bool step()
    {
        int rc = sqlite3_step(m_stmt);
        if (rc == SQLITE_ROW)
            return true;
        if (rc == SQLITE_DONE)
            return false;
        fail(m_db, rc, sqlite3_sql(m_stmt));
    }
    /// Steps to completion (statements without rows).
    void run()
    {
        while (step()) { }
    }
    int changes() const { return sqlite3_changes(m_db); }

    bool isNull(int col) const { return sqlite3_column_type(m_stmt, col) == SQLITE_NULL; }
    std::int64_t i64(int col) const { return sqlite3_column_int64(m_stmt, col); }
    std::string text(int col) const
    {
        auto p = reinterpret_cast<const char*>(sqlite3_column_text(m_stmt, col));
        return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(m_stmt, col))) : std::string();
    }
    std::optional<std::string> optText(int col) const
    {
        return isNull(col) ? std::nullopt : std::optional<std::string>(text(col));
    }
    std::optional<std::string> optBlob(int col) const
    {
        if (isNull(col))
            return std::nullopt;
        auto p = static_cast<const char*>(sqlite3_column_blob(m_stmt, col));
        return std::string(p ? p : "", static_cast<std::size_t>(sqlite3_column_bytes(m_stmt, col)));
    }
    std::optional<std::int64_t> optI64(int col) const
    {
        return isNull(col) ? std::nullopt : std::optional<std::int64_t>(i64(col));
    }

private:
    Use& check(int rc)
    {
        if (rc != SQLITE_OK)
            fail(m_db, rc, "bind");
        return *this;
    }
    sqlite3* m_db;
    sqlite3_stmt* m_stmt;
};

/// A savepoint: commits (RELEASE) on commit(), rolls back when destroyed without it. Works inside
/// and outside an explicit transaction, so every multi-statement write is atomic either way.
class Savepoint {
public:
    explicit Savepoint(Connection& c);
    ~Savepoint();
    Savepoint(const Savepoint&) = delete;
    Savepoint& operator=(const Savepoint&) = delete;
    void commit();

private:
    Connection& m_c;
    bool m_done = false;
};

} // namespace mudguard::controller::sqlite
