#include "mudguard/enforcer/NetlinkApplier.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <utility>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>
// linux/netfilter.h after the libc network headers (struct in_addr).
#include <fmt/format.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter_bridge.h>

#include "mudguard/enforcer/Error.h"

#include "Encoder.h"
#include "Handles.h"

namespace mudguard::enforcer {

using namespace netlink;

namespace {

constexpr std::uint32_t kBatchPage = 1 << 20; ///< libnftnl batch page
constexpr std::uint32_t kBatchOverrun = 1 << 17; ///< room for the largest single message
constexpr std::size_t kElementsPerMessage = 512; ///< keeps one message well under the overrun
constexpr int kEventBuffer = 32 << 20;
constexpr int kReplyBuffer = 8 << 20;
constexpr std::size_t kRecvBuffer = 1 << 18;

/// A dump or get request's replies, collected without letting exceptions cross libmnl.
struct Collector {
    std::vector<std::vector<char>> messages;
    int error = 0;
};

int collect(const nlmsghdr* nlh, void* data)
{
    auto* c = static_cast<Collector*>(data);
    const char* p = reinterpret_cast<const char*>(nlh);
    c->messages.emplace_back(p, p + nlh->nlmsg_len);
    return MNL_CB_OK;
}

std::string tableName() { return std::string(ir::kTableName); }

class NetlinkApplier final : public Applier {
public:
    NetlinkApplier()
    {
        m_sock.reset(mnl_socket_open(NETLINK_NETFILTER));
        if (!m_sock || mnl_socket_bind(m_sock.get(), 0, MNL_SOCKET_AUTOPID) < 0)
            throw KernelUnsupported(fmt::format("cannot open a netfilter netlink socket: {}", std::strerror(errno)));
        m_portid = mnl_socket_get_portid(m_sock.get());
        m_seq = static_cast<std::uint32_t>(time(nullptr));
        forceBuffer(m_sock.get(), SO_RCVBUFFORCE, kReplyBuffer);

        m_events.reset(mnl_socket_open(NETLINK_NETFILTER));
        if (!m_events || mnl_socket_bind(m_events.get(), 0, MNL_SOCKET_AUTOPID) < 0)
            throw KernelUnsupported(fmt::format("cannot open a netfilter event socket: {}", std::strerror(errno)));
        int group = NFNLGRP_NFTABLES;
        if (setsockopt(mnl_socket_get_fd(m_events.get()), SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof group)
            < 0)
            throw KernelUnsupported(fmt::format("cannot subscribe to nftables events: {}", std::strerror(errno)));
        forceBuffer(m_events.get(), SO_RCVBUFFORCE, kEventBuffer);
        int fd = mnl_socket_get_fd(m_events.get());
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        // Probe that nf_tables answers at all.
        Collector c = request(NFT_MSG_GETGEN, NFPROTO_UNSPEC, 0, [](nlmsghdr*) {});
        if (c.error == EPERM)
            throw KernelUnsupported("changing nftables needs CAP_NET_ADMIN");
        if (c.error)
            throw KernelUnsupported(fmt::format("nf_tables does not answer: {}", std::strerror(c.error)));
    }

    void apply(const Batch& batch) override
    {
        if (batch.empty())
            return;
        std::vector<std::string> what;
        std::uint32_t firstSeq = m_seq;
        BatchPtr b(nftnl_batch_alloc(kBatchPage, kBatchOverrun));
        if (!b)
            throw std::bad_alloc();
        nftnl_batch_begin(static_cast<char*>(nftnl_batch_buffer(b.get())), m_seq++);
        nftnl_batch_update(b.get());
        what.emplace_back("batch begin");
        std::uint32_t setId = 1;
        for (const auto& op : batch.ops)
            encodeOp(b.get(), op, what, setId);
        nftnl_batch_end(static_cast<char*>(nftnl_batch_buffer(b.get())), m_seq++);
        nftnl_batch_update(b.get());
        what.emplace_back("batch end");
        std::size_t expected = what.size() - 2; // every message but begin/end asks for an ACK

        send(b.get());
        auto [failedSeq, error] = receiveAcks(firstSeq, expected);
        discardOwnEvents();
        if (error) {
            std::size_t index = failedSeq - firstSeq;
            std::string object = index < what.size() ? what[index] : std::string("the batch");
            throw ApplyError(object, error,
                fmt::format(
                    "the kernel refused \"{}\": {} (nothing of the batch was applied)", object, std::strerror(error)));
        }
    }

    std::optional<KernelTable> read(ir::TableFamily family) override
    {
        auto fam = nfproto(family);
        Collector t = request(NFT_MSG_GETTABLE, fam, NLM_F_ACK, [&](nlmsghdr* nlh) {
            TablePtr table = makeTable(family);
            nftnl_table_nlmsg_build_payload(nlh, table.get());
        });
        if (t.error == ENOENT)
            return std::nullopt;
        if (t.error)
            throw ApplyError("list table " + tableName(), t.error,
                fmt::format("cannot read table {} {}: {}", ir::toString(family), tableName(), std::strerror(t.error)));

        KernelTable out;
        for (const auto& raw : dump(NFT_MSG_GETSET, fam, [&](nlmsghdr* nlh) {
                 SetPtr s(nftnl_set_alloc());
                 nftnl_set_set_str(s.get(), NFTNL_SET_TABLE, tableName().c_str());
                 nftnl_set_nlmsg_build_payload(nlh, s.get());
             })) {
            SetPtr s(nftnl_set_alloc());
            if (nftnl_set_nlmsg_parse(reinterpret_cast<const nlmsghdr*>(raw.data()), s.get()) < 0)
                continue;
            if (tableName() != nftnl_set_get_str(s.get(), NFTNL_SET_TABLE))
                continue;
            ir::SetDef def = setDefOf(s.get());
            out.elements[def.name] = readElements(family, def);
            out.sets.push_back(std::move(def));
        }
        for (const auto& raw : dump(NFT_MSG_GETCHAIN, fam, [&](nlmsghdr* nlh) {
                 ChainPtr c(nftnl_chain_alloc());
                 nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TABLE, tableName().c_str());
                 nftnl_chain_nlmsg_build_payload(nlh, c.get());
             })) {
            ChainPtr c(nftnl_chain_alloc());
            if (nftnl_chain_nlmsg_parse(reinterpret_cast<const nlmsghdr*>(raw.data()), c.get()) < 0)
                continue;
            if (tableName() != nftnl_chain_get_str(c.get(), NFTNL_CHAIN_TABLE))
                continue;
            KernelTable::Chain kc;
            kc.name = nftnl_chain_get_str(c.get(), NFTNL_CHAIN_NAME);
            if (nftnl_chain_is_set(c.get(), NFTNL_CHAIN_HOOKNUM)) {
                std::uint32_t hook = nftnl_chain_get_u32(c.get(), NFTNL_CHAIN_HOOKNUM);
                bool policyAccept = !nftnl_chain_is_set(c.get(), NFTNL_CHAIN_POLICY)
                    || nftnl_chain_get_u32(c.get(), NFTNL_CHAIN_POLICY) == NF_ACCEPT;
                bool prio0 = nftnl_chain_get_s32(c.get(), NFTNL_CHAIN_PRIO)
                    == (family == ir::TableFamily::Inet ? 0 : NF_BR_PRI_FILTER_BRIDGED);
                // Anything but our own shape of base chain reads as a different hook.
                if (hook == NF_INET_LOCAL_IN && family == ir::TableFamily::Inet && policyAccept && prio0)
                    kc.hook = ir::Hook::Input;
                else if (hook == NF_INET_LOCAL_OUT && family == ir::TableFamily::Inet && policyAccept && prio0)
                    kc.hook = ir::Hook::Output;
                else if (hook == NF_INET_FORWARD && policyAccept && prio0)
                    kc.hook = ir::Hook::Forward;
                else
                    kc.comment = "\x01unexpected hook";
            }
            kc.comment += chainComment(c.get());
            out.chains.push_back(std::move(kc));
        }
        for (const auto& raw : dumpRules(family)) {
            RulePtr r(nftnl_rule_alloc());
            if (nftnl_rule_nlmsg_parse(reinterpret_cast<const nlmsghdr*>(raw.data()), r.get()) < 0)
                continue;
            if (tableName() != nftnl_rule_get_str(r.get(), NFTNL_RULE_TABLE))
                continue;
            std::string chain = nftnl_rule_get_str(r.get(), NFTNL_RULE_CHAIN);
            for (auto& kc : out.chains)
                if (kc.name == chain)
                    kc.rules.push_back(netlink::fingerprint(r.get()));
        }
        return out;
    }

    std::string fingerprint(ir::TableFamily family, const ir::Rule& rule) override
    {
        RulePtr r = makeRule(family, "x", rule);
        return netlink::fingerprint(r.get());
    }

    std::vector<RuleCounter> ruleCounters(ir::TableFamily family, const std::vector<std::string>& chains) override
    {
        std::vector<RuleCounter> out;
        for (const auto& raw : dumpRules(family)) {
            RulePtr r(nftnl_rule_alloc());
            if (nftnl_rule_nlmsg_parse(reinterpret_cast<const nlmsghdr*>(raw.data()), r.get()) < 0)
                continue;
            if (tableName() != nftnl_rule_get_str(r.get(), NFTNL_RULE_TABLE))
                continue;
            std::string chain = nftnl_rule_get_str(r.get(), NFTNL_RULE_CHAIN);
            if (std::find(chains.begin(), chains.end(), chain) == chains.end())
                continue;
            RuleCounter rc { chain, ruleComment(r.get()), {} };
            nftnl_expr_iter* it = nftnl_expr_iter_create(r.get());
            for (nftnl_expr* e = nftnl_expr_iter_next(it); e; e = nftnl_expr_iter_next(it)) {
                if (std::strcmp(nftnl_expr_get_str(e, NFTNL_EXPR_NAME), "counter") == 0) {
                    rc.counter.packets = nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_PACKETS);
                    rc.counter.bytes = nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_BYTES);
                }
            }
            nftnl_expr_iter_destroy(it);
            out.push_back(std::move(rc));
        }
        return out;
    }

    std::optional<Counter> elementCounter(
        ir::TableFamily family, const std::string& set, const ir::Element& key) override
    {
        Collector c = request(NFT_MSG_GETSETELEM, nfproto(family), NLM_F_ACK, [&](nlmsghdr* nlh) {
            SetPtr s = makeElements(family, set,
                key.key.size() == 6       ? ir::KeyType::EtherAddr
                    : key.key.size() == 4 ? ir::KeyType::Ipv4Addr
                                          : ir::KeyType::Ipv6Addr,
                false, { key });
            nftnl_set_elems_nlmsg_build_payload(nlh, s.get());
        });
        if (c.error == ENOENT)
            return std::nullopt;
        if (c.error)
            throw ApplyError("get element " + set, c.error,
                fmt::format("cannot read element of {}: {}", set, std::strerror(c.error)));
        for (const auto& raw : c.messages) {
            SetPtr s(nftnl_set_alloc());
            if (nftnl_set_elems_nlmsg_parse(reinterpret_cast<const nlmsghdr*>(raw.data()), s.get()) < 0)
                continue;
            std::optional<Counter> found;
            nftnl_set_elem_foreach(
                s.get(),
                [](nftnl_set_elem* e, void* data) -> int {
                    nftnl_set_elem_expr_foreach(
                        e,
                        [](nftnl_expr* x, void* d) -> int {
                            if (std::strcmp(nftnl_expr_get_str(x, NFTNL_EXPR_NAME), "counter") == 0)
                                *static_cast<std::optional<Counter>*>(d)
                                    = Counter { nftnl_expr_get_u64(x, NFTNL_EXPR_CTR_PACKETS),
                                          nftnl_expr_get_u64(x, NFTNL_EXPR_CTR_BYTES) };
                            return 0;
                        },
                        data);
                    return 0;
                },
                &found);
            if (found)
                return found;
            return Counter {};
        }
        return std::nullopt;
    }

    KernelFeatures probe() override
    {
        // The probe batch creates a bridge base chain with a reject rule and ends with an
        // operation that must fail, so that the kernel applies none of it.
        KernelFeatures f;
        Batch b;
        b.addTable(ir::TableFamily::Bridge);
        ir::Chain probe { "mudguard-probe", ir::Hook::Forward, {}, {} };
        b.addChain(ir::TableFamily::Bridge, probe);
        b.addRule(
            ir::TableFamily::Bridge, probe.name, ir::Rule { { ir::Verdict { ir::Verdict::Kind::Reject, {} } }, {} });
        b.deleteChain(ir::TableFamily::Bridge, "mudguard-probe-absent");
        try {
            apply(b);
        } catch (const ApplyError& e) {
            f.bridgeReject = e.object().rfind("delete chain", 0) == 0;
        }
        return f;
    }

    int eventFd() const override { return mnl_socket_get_fd(m_events.get()); }

    bool drainEvents() override
    {
        bool pending = std::exchange(m_foreignPending, false);
        return readEvents(true) || pending;
    }

private:
    /// Reads every queued event; true when one shows another process changing mudguard's
    /// tables (or, with `overrunIsForeign`, when events were lost).
    bool readEvents(bool overrunIsForeign)
    {
        bool foreign = false;
        std::vector<char> buf(kRecvBuffer);
        while (true) {
            ssize_t n = recv(eventFd(), buf.data(), buf.size(), MSG_DONTWAIT);
            if (n < 0) {
                if (errno == ENOBUFS) {
                    foreign = foreign || overrunIsForeign; // events were lost: assume the worst
                    continue;
                }
                break;
            }
            auto len = static_cast<std::size_t>(n);
            for (auto* nlh = reinterpret_cast<nlmsghdr*>(buf.data()); mnl_nlmsg_ok(nlh, static_cast<int>(len));
                 nlh = mnl_nlmsg_next(nlh, reinterpret_cast<int*>(&len)))
                foreign = foreign || isForeignChange(nlh);
        }
        return foreign;
    }

    static void forceBuffer(mnl_socket* s, int option, int size)
    {
        setsockopt(mnl_socket_get_fd(s), SOL_SOCKET, option, &size, sizeof size);
    }

    void encodeOp(nftnl_batch* b, const BatchOp& op, std::vector<std::string>& what, std::uint32_t& setId)
    {
        auto fam = nfproto(op.family);
        auto header = [&](std::uint16_t type, std::uint16_t flags) {
            what.push_back(op.describe());
            return nftnl_nlmsg_build_hdr(static_cast<char*>(nftnl_batch_buffer(b)), type, fam,
                static_cast<std::uint16_t>(flags | NLM_F_ACK), m_seq++);
        };
        switch (op.kind) {
        case BatchOp::Kind::AddTable:
        case BatchOp::Kind::DeleteTable: {
            TablePtr t = makeTable(op.family);
            bool add = op.kind == BatchOp::Kind::AddTable;
            nftnl_table_nlmsg_build_payload(
                header(add ? NFT_MSG_NEWTABLE : NFT_MSG_DELTABLE, add ? NLM_F_CREATE : 0), t.get());
            break;
        }
        case BatchOp::Kind::AddSet: {
            SetPtr s = makeSet(op.family, *op.set, setId++);
            nftnl_set_nlmsg_build_payload(header(NFT_MSG_NEWSET, NLM_F_CREATE), s.get());
            break;
        }
        case BatchOp::Kind::DeleteSet:
        case BatchOp::Kind::FlushSet: {
            SetPtr s(nftnl_set_alloc());
            nftnl_set_set_str(s.get(), NFTNL_SET_TABLE, tableName().c_str());
            nftnl_set_set_str(s.get(), NFTNL_SET_NAME, op.name.c_str());
            if (op.kind == BatchOp::Kind::DeleteSet)
                nftnl_set_nlmsg_build_payload(header(NFT_MSG_DELSET, 0), s.get());
            else
                nftnl_set_elems_nlmsg_build_payload(header(NFT_MSG_DELSETELEM, 0), s.get());
            break;
        }
        case BatchOp::Kind::AddElements:
        case BatchOp::Kind::DeleteElements: {
            bool add = op.kind == BatchOp::Kind::AddElements;
            for (std::size_t i = 0; i < op.elements.size(); i += kElementsPerMessage) {
                std::vector<ir::Element> chunk(op.elements.begin() + static_cast<long>(i),
                    op.elements.begin() + static_cast<long>(std::min(op.elements.size(), i + kElementsPerMessage)));
                SetPtr s = makeElements(op.family, op.name, op.set->key, op.set->interval, chunk);
                nftnl_set_elems_nlmsg_build_payload(
                    header(add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM, add ? NLM_F_CREATE : 0), s.get());
                nftnl_batch_update(b);
            }
            return;
        }
        case BatchOp::Kind::AddChain: {
            ChainPtr c = makeChain(op.family, *op.chain);
            nftnl_chain_nlmsg_build_payload(header(NFT_MSG_NEWCHAIN, NLM_F_CREATE), c.get());
            break;
        }
        case BatchOp::Kind::DeleteChain: {
            ChainPtr c(nftnl_chain_alloc());
            nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TABLE, tableName().c_str());
            nftnl_chain_set_str(c.get(), NFTNL_CHAIN_NAME, op.name.c_str());
            nftnl_chain_nlmsg_build_payload(header(NFT_MSG_DELCHAIN, 0), c.get());
            break;
        }
        case BatchOp::Kind::FlushChain: {
            RulePtr r(nftnl_rule_alloc());
            nftnl_rule_set_str(r.get(), NFTNL_RULE_TABLE, tableName().c_str());
            nftnl_rule_set_str(r.get(), NFTNL_RULE_CHAIN, op.name.c_str());
            nftnl_rule_nlmsg_build_payload(header(NFT_MSG_DELRULE, 0), r.get());
            break;
        }
        case BatchOp::Kind::AddRule: {
            RulePtr r = makeRule(op.family, op.name, *op.rule);
            nftnl_rule_nlmsg_build_payload(header(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND), r.get());
            break;
        }
        }
        nftnl_batch_update(b);
    }

    void send(nftnl_batch* b)
    {
        int n = nftnl_batch_iovec_len(b);
        std::vector<iovec> iov(static_cast<std::size_t>(n));
        nftnl_batch_iovec(b, iov.data(), static_cast<std::uint32_t>(n));
        std::size_t total = 0;
        for (const auto& v : iov)
            total += v.iov_len;
        // The kernel takes the whole batch in one skb: the send buffer must hold it.
        if (total > m_sndbuf) {
            int size = static_cast<int>(std::min<std::size_t>(total + (1 << 16), 1u << 30));
            forceBuffer(m_sock.get(), SO_SNDBUFFORCE, size);
            m_sndbuf = static_cast<std::size_t>(size);
        }
        sockaddr_nl nladdr {};
        nladdr.nl_family = AF_NETLINK;
        msghdr msg {};
        msg.msg_name = &nladdr;
        msg.msg_namelen = sizeof nladdr;
        msg.msg_iov = iov.data();
        msg.msg_iovlen = iov.size();
        ssize_t sent = sendmsg(mnl_socket_get_fd(m_sock.get()), &msg, 0);
        if (sent < 0 || static_cast<std::size_t>(sent) != total)
            throw ApplyError(
                "the batch", errno, fmt::format("cannot send a batch of {} bytes: {}", total, std::strerror(errno)));
    }

    /// Reads one ACK or error per message; returns the first failing sequence number and errno.
    std::pair<std::uint32_t, int> receiveAcks(std::uint32_t firstSeq, std::size_t expected)
    {
        std::uint32_t failedSeq = 0;
        int error = 0;
        std::size_t seen = 0;
        std::vector<char> buf(kRecvBuffer);
        int fd = mnl_socket_get_fd(m_sock.get());
        while (seen < expected) {
            ssize_t n = recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    break; // the kernel answered everything it will answer
                if (!error) {
                    error = errno;
                    failedSeq = firstSeq - 1;
                }
                break;
            }
            int len = static_cast<int>(n);
            for (auto* nlh = reinterpret_cast<nlmsghdr*>(buf.data()); mnl_nlmsg_ok(nlh, len);
                 nlh = mnl_nlmsg_next(nlh, &len)) {
                if (nlh->nlmsg_type != NLMSG_ERROR)
                    continue;
                ++seen;
                auto* err = static_cast<nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
                if (err->error != 0 && !error) {
                    error = -err->error;
                    failedSeq = err->msg.nlmsg_seq;
                }
            }
        }
        if (!error && seen < expected) {
            error = EPROTO;
            failedSeq = firstSeq - 1;
        }
        return { failedSeq, error };
    }

    void discardOwnEvents()
    {
        // Our own batch's notifications are already queued: drop them now, but remember a
        // foreign change that arrived before them. An overrun here is our own batch's doing.
        if (readEvents(false))
            m_foreignPending = true;
    }

    bool isForeignChange(const nlmsghdr* nlh) const
    {
        if (nlh->nlmsg_pid == m_portid || nlh->nlmsg_pid == 0)
            return false;
        if ((nlh->nlmsg_type >> 8) != NFNL_SUBSYS_NFTABLES)
            return false;
        auto type = nlh->nlmsg_type & 0xff;
        const auto* gen = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(nlh));
        if (gen->nfgen_family != NFPROTO_INET && gen->nfgen_family != NFPROTO_BRIDGE)
            return false;
        const char* table = nullptr;
        switch (type) {
        case NFT_MSG_NEWTABLE:
        case NFT_MSG_DELTABLE:
        case NFT_MSG_NEWCHAIN:
        case NFT_MSG_DELCHAIN:
        case NFT_MSG_NEWRULE:
        case NFT_MSG_DELRULE:
        case NFT_MSG_NEWSET:
        case NFT_MSG_DELSET:
        case NFT_MSG_NEWSETELEM:
        case NFT_MSG_DELSETELEM: {
            // Every one of these carries the table name as its first attribute.
            auto* start = static_cast<const char*>(mnl_nlmsg_get_payload_offset(nlh, sizeof(nfgenmsg)));
            const char* end = reinterpret_cast<const char*>(nlh) + nlh->nlmsg_len;
            for (auto* attr = reinterpret_cast<const nlattr*>(start);
                 mnl_attr_ok(attr, static_cast<int>(end - reinterpret_cast<const char*>(attr)));
                 attr = mnl_attr_next(attr)) {
                // NFTA_{TABLE_NAME,CHAIN_TABLE,RULE_TABLE,SET_TABLE,SET_ELEM_LIST_TABLE} are all 1.
                if (mnl_attr_get_type(attr) == 1) {
                    table = mnl_attr_get_str(attr);
                    break;
                }
            }
            break;
        }
        default:
            return false;
        }
        return table && tableName() == table;
    }

    template <class Build> Collector request(std::uint16_t type, std::uint16_t family, std::uint16_t flags, Build build)
    {
        std::vector<char> buf(kRecvBuffer);
        std::uint32_t seq = m_seq++;
        nlmsghdr* nlh = nftnl_nlmsg_build_hdr(buf.data(), type, family, flags, seq);
        build(nlh);
        Collector c;
        if (mnl_socket_sendto(m_sock.get(), nlh, nlh->nlmsg_len) < 0) {
            c.error = errno;
            return c;
        }
        while (true) {
            ssize_t n = mnl_socket_recvfrom(m_sock.get(), buf.data(), buf.size());
            if (n < 0) {
                c.error = errno;
                return c;
            }
            int r = mnl_cb_run(buf.data(), static_cast<std::size_t>(n), seq, m_portid, collect, &c);
            if (r < 0) {
                c.error = errno;
                return c;
            }
            if (r == MNL_CB_STOP)
                return c;
            if (!(flags & NLM_F_DUMP) && !(flags & NLM_F_ACK))
                return c;
        }
    }

    template <class Build> std::vector<std::vector<char>> dump(std::uint16_t type, std::uint16_t family, Build build)
    {
        Collector c = request(type, family, NLM_F_DUMP, build);
        if (c.error && c.error != ENOENT)
            throw ApplyError("dump", c.error, fmt::format("cannot read the ruleset: {}", std::strerror(c.error)));
        return std::move(c.messages);
    }

    std::vector<std::vector<char>> dumpRules(ir::TableFamily family)
    {
        return dump(NFT_MSG_GETRULE, nfproto(family), [&](nlmsghdr* nlh) {
            RulePtr r(nftnl_rule_alloc());
            nftnl_rule_set_str(r.get(), NFTNL_RULE_TABLE, tableName().c_str());
            nftnl_rule_nlmsg_build_payload(nlh, r.get());
        });
    }

    static ir::SetDef setDefOf(nftnl_set* s)
    {
        ir::SetDef def;
        def.name = nftnl_set_get_str(s, NFTNL_SET_NAME);
        std::uint32_t flags = nftnl_set_get_u32(s, NFTNL_SET_FLAGS);
        def.interval = flags & NFT_SET_INTERVAL;
        def.timeout = flags & NFT_SET_TIMEOUT;
        def.dynamic = flags & NFT_SET_EVAL;
        switch (nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN)) {
        case 6:
            def.key = ir::KeyType::EtherAddr;
            break;
        case 4:
            def.key = ir::KeyType::Ipv4Addr;
            break;
        default:
            def.key = ir::KeyType::Ipv6Addr;
            break;
        }
        if (nftnl_set_is_set(s, NFTNL_SET_DESC_SIZE) && nftnl_set_get_u32(s, NFTNL_SET_DESC_SIZE))
            def.size = nftnl_set_get_u32(s, NFTNL_SET_DESC_SIZE);
        nftnl_set_expr_foreach(
            s,
            [](nftnl_expr* e, void* data) -> int {
                if (std::strcmp(nftnl_expr_get_str(e, NFTNL_EXPR_NAME), "counter") == 0)
                    static_cast<ir::SetDef*>(data)->counter = true;
                return 0;
            },
            &def);
        def.comment = setComment(s);
        return def;
    }

    std::vector<ir::Element> readElements(ir::TableFamily family, const ir::SetDef& def)
    {
        std::vector<std::pair<std::vector<std::uint8_t>, bool>> raw;
        std::vector<ir::Element> out;
        auto messages = dump(NFT_MSG_GETSETELEM, nfproto(family), [&](nlmsghdr* nlh) {
            SetPtr s(nftnl_set_alloc());
            nftnl_set_set_str(s.get(), NFTNL_SET_TABLE, tableName().c_str());
            nftnl_set_set_str(s.get(), NFTNL_SET_NAME, def.name.c_str());
            nftnl_set_elems_nlmsg_build_payload(nlh, s.get());
        });
        struct Ctx {
            std::vector<std::pair<std::vector<std::uint8_t>, bool>>* raw;
            std::vector<ir::Element>* out;
            bool interval;
        } ctx { &raw, &out, def.interval };
        for (const auto& m : messages) {
            SetPtr s(nftnl_set_alloc());
            if (nftnl_set_elems_nlmsg_parse(reinterpret_cast<const nlmsghdr*>(m.data()), s.get()) < 0)
                continue;
            nftnl_set_elem_foreach(
                s.get(),
                [](nftnl_set_elem* e, void* data) -> int {
                    auto* c = static_cast<Ctx*>(data);
                    std::uint32_t len = 0;
                    const auto* key = static_cast<const std::uint8_t*>(nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len));
                    if (!key)
                        return 0;
                    std::vector<std::uint8_t> k(key, key + len);
                    bool end = nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS)
                        && (nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS) & NFT_SET_ELEM_INTERVAL_END);
                    if (c->interval) {
                        c->raw->emplace_back(std::move(k), end);
                    } else {
                        ir::Element el { std::move(k), static_cast<std::uint8_t>(len * 8), {} };
                        if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_EXPIRATION))
                            el.timeoutMs = nftnl_set_elem_get_u64(e, NFTNL_SET_ELEM_EXPIRATION);
                        c->out->push_back(std::move(el));
                    }
                    return 0;
                },
                &ctx);
        }
        if (def.interval)
            return intervalsToPrefixes(raw);
        return out;
    }

    SocketPtr m_sock, m_events;
    std::uint32_t m_portid = 0;
    std::uint32_t m_seq = 0;
    std::size_t m_sndbuf = 0;
    bool m_foreignPending = false;
};

} // namespace

std::unique_ptr<Applier> makeNetlinkApplier() { return std::make_unique<NetlinkApplier>(); }

} // namespace mudguard::enforcer
