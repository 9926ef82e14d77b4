#pragma once
// Owners for the C objects of libnftnl and libmnl: each is wrapped on the line that creates it.

#include <memory>

#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

namespace mudguard::enforcer::netlink {

template <auto Free> struct CDeleter {
    void operator()(auto* p) const noexcept { Free(p); }
};

using TablePtr = std::unique_ptr<nftnl_table, CDeleter<nftnl_table_free>>;
using ChainPtr = std::unique_ptr<nftnl_chain, CDeleter<nftnl_chain_free>>;
using RulePtr = std::unique_ptr<nftnl_rule, CDeleter<nftnl_rule_free>>;
using SetPtr = std::unique_ptr<nftnl_set, CDeleter<nftnl_set_free>>;
using ExprPtr = std::unique_ptr<nftnl_expr, CDeleter<nftnl_expr_free>>;
using BatchPtr = std::unique_ptr<nftnl_batch, CDeleter<nftnl_batch_free>>;
using UdataPtr = std::unique_ptr<nftnl_udata_buf, CDeleter<nftnl_udata_buf_free>>;
using SocketPtr = std::unique_ptr<mnl_socket, CDeleter<mnl_socket_close>>;

} // namespace mudguard::enforcer::netlink
