#pragma once
// RAII owners for the C handles of this component: one stateless deleter per free function.

#include <memory>

#include <libyang/libyang.h>

namespace mudguard::mudparser {

template <auto Free> struct CDeleter {
    template <typename T> void operator()(T* p) const noexcept { Free(p); }
};

inline void destroyContext(ly_ctx* ctx) noexcept { ly_ctx_destroy(ctx); }

using LyContextPtr = std::unique_ptr<ly_ctx, CDeleter<destroyContext>>;
using LyTreePtr = std::unique_ptr<lyd_node, CDeleter<lyd_free_all>>;

} // namespace mudguard::mudparser
