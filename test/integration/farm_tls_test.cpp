// SIP over TLS through the farm, on loopback: three members with a "tls:"
// listener each, self-signed certificates made by this test with OpenSSL,
// and a UDP processor per member that is a socket of this test. A TLS
// client on f1 carries calls whose Call-IDs belong to f2, f3 and f1: the
// responses and the processor's BYE come back on that TLS connection (the
// BYE's Via saying TLS). A TLS 1.1 client and a plain TCP client are
// refused at the handshake, a silent one closed at the 10 s handshake limit;
// with a `ca`, a client certificate that does not verify is refused while a
// trusted one, or none, is served; a key that does not match its certificate stops
// sipfarmd at start (exit 2, the file named) and fails a reload (the old
// certificate stays); a reload with new files gives new connections the new
// certificate while an old connection keeps working.
#include "cluster_fixture.hpp"
#include "harness.hpp"
#include "sip_messages.hpp"
#include "udp_peer.hpp"

#include "control/control_client.hpp"
#include "net/socket.hpp"
#include "sip/farm_tags.hpp"
#include "sip/route.hpp"
#include "sip/scanner.hpp"
#include "sip/stream.hpp"

#include <boost/test/unit_test.hpp>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <poll.h>
#include <sys/socket.h>

#include <csignal>
#include <memory>
#include <thread>

using namespace rtfarm;
using namespace rtfarm::test;

namespace {

template <typename T, void (*F)(T*)> struct Deleter {
    void operator()(T* p) const noexcept { F(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using CtxPtr = std::unique_ptr<SSL_CTX, Deleter<SSL_CTX, SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, Deleter<SSL, SSL_free>>;

void bio_free(BIO* b) {
    BIO_free(b);
}
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, bio_free>>;

std::string bio_text(BIO* b) {
    char* data = nullptr;
    long n = BIO_get_mem_data(b, &data);
    return std::string(data, static_cast<size_t>(n));
}

// A self-signed P-256 certificate with subject CN=`cn` and serial `serial`.
struct CertFiles {
    std::string cert_pem;
    std::string key_pem;
};
// `ip`: a subjectAltName IP address too (what a TLS client checks a server
// at an address against).
CertFiles self_signed(const std::string& cn, long serial, const std::string& ip = "") {
    PkeyPtr key(EVP_EC_gen("P-256"));
    BOOST_REQUIRE(key);
    X509Ptr x(X509_new());
    BOOST_REQUIRE(x);
    X509_set_version(x.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x.get()), serial);
    X509_gmtime_adj(X509_getm_notBefore(x.get()), -60);
    X509_gmtime_adj(X509_getm_notAfter(x.get()), 3600);
    X509_set_pubkey(x.get(), key.get());
    X509_NAME* name = X509_get_subject_name(x.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    X509_set_issuer_name(x.get(), name);
    if (!ip.empty()) {
        X509V3_CTX v3;
        X509V3_set_ctx_nodb(&v3);
        X509V3_set_ctx(&v3, x.get(), x.get(), nullptr, nullptr, 0);
        std::string san = "IP:" + ip;
        X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, san.c_str());
        BOOST_REQUIRE(ext);
        BOOST_REQUIRE(X509_add_ext(x.get(), ext, -1) == 1);
        X509_EXTENSION_free(ext);
    }
    BOOST_REQUIRE(X509_sign(x.get(), key.get(), EVP_sha256()) > 0);
    BioPtr c(BIO_new(BIO_s_mem()));
    BioPtr k(BIO_new(BIO_s_mem()));
    BOOST_REQUIRE(PEM_write_bio_X509(c.get(), x.get()) == 1);
    BOOST_REQUIRE(
        PEM_write_bio_PrivateKey(k.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1);
    return {bio_text(c.get()), bio_text(k.get())};
}

// A SIP client on one TLS connection (no verification: the test checks the
// certificate's serial itself), reading with a StreamFramer.
class TlsClient {
public:
    // `tls11_only`: a client that offers TLS 1.1 and nothing else; `own`:
    // the client's certificate, when asked for one.
    explicit TlsClient(const std::string& to, bool tls11_only = false,
                       const CertFiles* own = nullptr) {
        auto addr = SockAddr::parse(to).value();
        auto fd = net::tcp_connect(addr);
        BOOST_REQUIRE_MESSAGE(fd.ok(), (fd.ok() ? "" : fd.error().message));
        m_fd = std::move(fd.value());
        BOOST_REQUIRE(wait(POLLOUT, std::chrono::steady_clock::now() + scaled(3000ms)));
        BOOST_REQUIRE(net::connect_error(m_fd.get(), to).ok());
        m_local = net::local_address(m_fd.get()).value();
        m_ctx.reset(SSL_CTX_new(TLS_client_method()));
        BOOST_REQUIRE(m_ctx);
        SSL_CTX_set_verify(m_ctx.get(), SSL_VERIFY_NONE, nullptr);
        if (tls11_only) {
            // Security level 0: OpenSSL 3 would not even offer TLS 1.1 otherwise.
            BOOST_REQUIRE(SSL_CTX_set_cipher_list(m_ctx.get(), "DEFAULT:@SECLEVEL=0") == 1);
            BOOST_REQUIRE(SSL_CTX_set_min_proto_version(m_ctx.get(), TLS1_1_VERSION) == 1);
            BOOST_REQUIRE(SSL_CTX_set_max_proto_version(m_ctx.get(), TLS1_1_VERSION) == 1);
        }
        if (own) {
            BioPtr c(BIO_new_mem_buf(own->cert_pem.data(), static_cast<int>(own->cert_pem.size())));
            BioPtr k(BIO_new_mem_buf(own->key_pem.data(), static_cast<int>(own->key_pem.size())));
            X509Ptr cert(PEM_read_bio_X509(c.get(), nullptr, nullptr, nullptr));
            PkeyPtr key(PEM_read_bio_PrivateKey(k.get(), nullptr, nullptr, nullptr));
            BOOST_REQUIRE(cert && key);
            BOOST_REQUIRE(SSL_CTX_use_certificate(m_ctx.get(), cert.get()) == 1);
            BOOST_REQUIRE(SSL_CTX_use_PrivateKey(m_ctx.get(), key.get()) == 1);
        }
        m_ssl.reset(SSL_new(m_ctx.get()));
        BOOST_REQUIRE(m_ssl && SSL_set_fd(m_ssl.get(), m_fd.get()) == 1);
        SSL_set_connect_state(m_ssl.get());
    }
    // The server's end of a TCP connection it accepted, with certificate `own`.
    TlsClient(UniqueFd fd, const CertFiles& own)
        : m_fd(std::move(fd)) {
        m_local = net::local_address(m_fd.get()).value();
        m_ctx.reset(SSL_CTX_new(TLS_server_method()));
        BOOST_REQUIRE(m_ctx);
        BioPtr c(BIO_new_mem_buf(own.cert_pem.data(), static_cast<int>(own.cert_pem.size())));
        BioPtr k(BIO_new_mem_buf(own.key_pem.data(), static_cast<int>(own.key_pem.size())));
        X509Ptr cert(PEM_read_bio_X509(c.get(), nullptr, nullptr, nullptr));
        PkeyPtr key(PEM_read_bio_PrivateKey(k.get(), nullptr, nullptr, nullptr));
        BOOST_REQUIRE(cert && key);
        BOOST_REQUIRE(SSL_CTX_use_certificate(m_ctx.get(), cert.get()) == 1);
        BOOST_REQUIRE(SSL_CTX_use_PrivateKey(m_ctx.get(), key.get()) == 1);
        m_ssl.reset(SSL_new(m_ctx.get()));
        BOOST_REQUIRE(m_ssl && SSL_set_fd(m_ssl.get(), m_fd.get()) == 1);
        SSL_set_accept_state(m_ssl.get());
    }
    const SockAddr& local() const { return m_local; }

    // True once the handshake is done (as the client, or as the server);
    // false when it failed or took too long.
    bool handshake(std::chrono::milliseconds timeout = 3000ms) {
        auto deadline = std::chrono::steady_clock::now() + scaled(timeout);
        while (true) {
            ERR_clear_error();
            int r = SSL_do_handshake(m_ssl.get());
            if (r == 1)
                return true;
            int err = SSL_get_error(m_ssl.get(), r);
            if (err == SSL_ERROR_WANT_READ && wait(POLLIN, deadline))
                continue;
            if (err == SSL_ERROR_WANT_WRITE && wait(POLLOUT, deadline))
                continue;
            return false;
        }
    }
    long peer_serial() const {
        X509Ptr cert(SSL_get1_peer_certificate(m_ssl.get()));
        return cert ? ASN1_INTEGER_get(X509_get_serialNumber(cert.get())) : -1;
    }
    std::string version() const { return SSL_get_version(m_ssl.get()); }

    void send(std::string_view bytes) { BOOST_REQUIRE_MESSAGE(write(bytes), "TLS write failed"); }
    // False when the connection failed.
    bool write(std::string_view bytes) {
        auto deadline = std::chrono::steady_clock::now() + scaled(3000ms);
        while (!bytes.empty()) {
            int n = SSL_write(m_ssl.get(), bytes.data(), static_cast<int>(bytes.size()));
            if (n > 0) {
                bytes.remove_prefix(static_cast<size_t>(n));
                continue;
            }
            int err = SSL_get_error(m_ssl.get(), n);
            bool waited = (err == SSL_ERROR_WANT_WRITE && wait(POLLOUT, deadline)) ||
                          (err == SSL_ERROR_WANT_READ && wait(POLLIN, deadline));
            if (!waited)
                return false;
        }
        return true;
    }
    // The next item (a message, or a pong as "\r\n") within `timeout`.
    std::optional<std::string> recv(std::chrono::milliseconds timeout = 3000ms) {
        auto deadline = std::chrono::steady_clock::now() + scaled(timeout);
        while (true) {
            if (m_pong_pending > 0) {
                --m_pong_pending;
                return std::string("\r\n");
            }
            auto item = m_framer.next();
            if (!item || *item)
                return item ? std::optional<std::string>(std::string((*item)->bytes))
                            : std::nullopt;
            char buf[8192];
            int n = SSL_read(m_ssl.get(), buf, sizeof buf);
            if (n <= 0) {
                int err = SSL_get_error(m_ssl.get(), n);
                if (err == SSL_ERROR_WANT_READ && wait(POLLIN, deadline))
                    continue;
                if (err == SSL_ERROR_WANT_WRITE && wait(POLLOUT, deadline))
                    continue;
                m_eof = err == SSL_ERROR_ZERO_RETURN || err == SSL_ERROR_SYSCALL;
                return std::nullopt;
            }
            std::string_view got(buf, static_cast<size_t>(n));
            if (got == "\r\n" && m_framer.pending() == 0) {
                ++m_pong_pending;
                continue;
            }
            m_framer.append(got);
        }
    }
    // A ping gets its pong: the connection works.
    bool ping() {
        if (!write("\r\n\r\n"))
            return false;
        auto pong = recv();
        return pong && *pong == "\r\n";
    }

private:
    bool wait(short events, std::chrono::steady_clock::time_point deadline) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0)
            return false;
        pollfd p{m_fd.get(), events, 0};
        return ::poll(&p, 1, static_cast<int>(left.count())) == 1;
    }

    UniqueFd m_fd;
    SockAddr m_local;
    CtxPtr m_ctx;
    SslPtr m_ssl;
    sip::StreamFramer m_framer;
    int m_pong_pending = 0;
    bool m_eof = false;
};

struct TlsFarm {
    LoopbackLab lab{3};
    std::vector<std::unique_ptr<UdpPeer>> processors;

    // Certificates with serials 1 (f1), 2 (f2), 3 (f3) in "fN.crt" / "fN.key".
    explicit TlsFarm(bool start = true) {
        for (auto& m : lab.cluster.members) {
            m.processor_port = free_port();
            m.tls_ports.push_back(free_port());
            m.extra =
                "\"tls\": {\"certificate\": \"" + m.id + ".crt\", \"key\": \"" + m.id + ".key\"}";
            write_cert(m.id, self_signed(m.id + ".test", m.id[1] - '0'));
        }
        lab.write();
        if (!start)
            return;
        for (auto& m : lab.cluster.members)
            processors.push_back(
                std::make_unique<UdpPeer>(m.address + ":" + std::to_string(m.processor_port)));
        for (auto& m : lab.cluster.members)
            lab.start("sipfarmd", m.id);
        for (auto& m : lab.cluster.members)
            BOOST_REQUIRE_MESSAGE(lab.all_up(m.id), m.id << " never saw the members up");
    }
    void write_cert(const std::string& id, const CertFiles& c) const {
        lab.dir.write(id + ".crt", c.cert_pem);
        lab.dir.write(id + ".key", c.key_pem);
    }
    std::string tls(size_t i) const {
        const auto& m = lab.cluster.members[i];
        return m.address + ":" + std::to_string(m.tls_ports[0]);
    }
    json::Json streams(size_t i) { return lab.stats(i)["service"]["streams"]; }
    std::string call_id_of(const std::string& id, int& n) const {
        while (true) {
            std::string c = "tls-" + std::to_string(n++) + "@client";
            if (lab.owner(c) == id)
                return c;
        }
    }
    // SIGHUP to member i, and the reload is over.
    void reload(size_t i) {
        Process& p = *lab.processes.at(i);
        p.signal(SIGHUP);
        BOOST_REQUIRE(p.wait_notify("RELOADING=1"));
        BOOST_REQUIRE(p.wait_notify("READY=1"));
    }
};

std::string over_tls(std::string msg) {
    msg.replace(msg.find("SIP/2.0/UDP"), 11, "SIP/2.0/TLS");
    return msg;
}

// INVITE / 200 / ACK / BYE from the processor / the client's 200, for a
// call owned by `o`, over the client's TLS connection to f1.
void tls_call(TlsFarm& f, TlsClient& c, const std::string& call_id) {
    size_t o = f.lab.index(f.lab.owner(call_id));
    std::string client = c.local().str();
    c.send(over_tls(request("INVITE", call_id, 1, client, "z9hG4bK" + call_id)));
    auto inv = f.processors[o]->recv();
    BOOST_REQUIRE_MESSAGE(inv, call_id << ": INVITE did not reach f" << o + 1 << "'s processor");
    auto im = scan_ok(inv->bytes);
    auto ident = sip::via_conn(im.via[0].value.in(inv->bytes));
    BOOST_REQUIRE_MESSAGE(ident, call_id << ": no connection identity in " << inv->bytes);
    BOOST_TEST(ident->holder == "f1");
    BOOST_TEST(im.via[1].transport.in(inv->bytes) == "TLS");
    std::string rr(im.record_route.value.in(inv->bytes));

    answer(*f.processors[o], *inv, 200, "uas-" + call_id);
    auto ok = c.recv();
    BOOST_REQUIRE_MESSAGE(ok, call_id << ": no 200 on the TLS connection");
    auto om = scan_ok(*ok);
    BOOST_TEST(om.status == 200);
    BOOST_TEST(om.via_count == 1u);
    // Our Record-Route tells the client to come back by TLS (a SIPS URI);
    // the processor's copy names no transport (it speaks UDP to us).
    std::string client_rr(om.record_route.value.in(*ok));
    BOOST_TEST(client_rr.starts_with("<sips:"), client_rr);
    BOOST_TEST(!sip::uri_param(client_rr, "transport"), client_rr);
    BOOST_TEST((sip::uri_conn(client_rr) == ident), client_rr);
    BOOST_TEST(!sip::uri_param(rr, "transport"));
    std::string route = "Route: " + std::string(om.record_route.value.in(*ok)) + "\r\n";
    c.send(over_tls(
        request("ACK", call_id, 1, client, "z9hG4bKack" + call_id, route, "uas-" + call_id)));
    BOOST_REQUIRE_MESSAGE(f.processors[o]->recv(), call_id << ": ACK did not reach its owner");

    std::string proc = f.processors[o]->address().str();
    std::string bye = "BYE sip:alice@" + client +
                      ";transport=tls SIP/2.0\r\n"
                      "Via: SIP/2.0/UDP " +
                      proc + ";branch=z9hG4bKpbye" + call_id + "\r\n" + "Route: " + rr +
                      "\r\nMax-Forwards: 70\r\n"
                      "From: <sip:bob@example.com>;tag=uas-" +
                      call_id +
                      "\r\n"
                      "To: <sip:alice@example.com>;tag=a1\r\nCall-ID: " +
                      call_id + "\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n";
    f.processors[o]->send(f.lab.sip_addr(o), bye);
    auto cbye = c.recv();
    BOOST_REQUIRE_MESSAGE(cbye, call_id << ": the callee's BYE did not come over TLS");
    auto bm = scan_ok(*cbye);
    BOOST_TEST((bm.method_id == sip::Method::bye));
    BOOST_TEST(bm.via[0].transport.in(*cbye) == "TLS");
    std::string answer200 = "SIP/2.0 200 OK\r\n";
    answer200 += std::string(bm.via[0].line.in(*cbye));
    if (bm.via[1].line.off != bm.via[0].line.off)
        answer200 += std::string(bm.via[1].line.in(*cbye));
    answer200 += "From: " + std::string(bm.from.in(*cbye)) +
                 "\r\nTo: " + std::string(bm.to.in(*cbye)) + "\r\nCall-ID: " + call_id +
                 "\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n";
    c.send(answer200);
    auto back = f.processors[o]->recv();
    BOOST_REQUIRE_MESSAGE(back, call_id << ": the client's 200 for BYE did not reach the callee");
    BOOST_TEST(scan_ok(back->bytes).status == 200);
}

// Waits (bounded) until member i's stream stats satisfy `ok`.
template <typename F> bool streams_become(TlsFarm& f, size_t i, F ok) {
    auto deadline = std::chrono::steady_clock::now() + scaled(3000ms);
    while (std::chrono::steady_clock::now() < deadline) {
        if (ok(f.streams(i)))
            return true;
        std::this_thread::sleep_for(20ms);
    }
    return false;
}

} // namespace

BOOST_AUTO_TEST_SUITE(farm_tls)

BOOST_AUTO_TEST_CASE(one_tls_connection_carries_calls_of_every_member) {
    TlsFarm f;
    TlsClient c(f.tls(0));
    BOOST_REQUIRE(c.handshake());
    BOOST_TEST(c.peer_serial() == 1);
    int n = 0;
    for (const char* id : {"f2", "f3", "f1"})
        tls_call(f, c, f.call_id_of(id, n));
    BOOST_TEST(c.ping());
    for (auto& p : f.processors)
        BOOST_TEST(!p->recv(100ms).has_value());
    auto s1 = f.lab.stats(0)["service"];
    BOOST_TEST(s1["streams"]["tls"]["handshakes"].as_integer().value_or(-1) == 1);
    BOOST_TEST(s1["streams"]["connections"].as_integer().value_or(-1) == 1);
    // INVITE, ACK and the client's 200 of the calls of f2 and f3 went with
    // transport S in the farm link.
    BOOST_TEST(s1["relayed_by_transport"]["tls"].as_integer().value_or(0) >= 6, s1.dump());
    BOOST_TEST(s1["relayed_by_transport"]["tcp"].as_integer().value_or(0) == 0, s1.dump());
    for (auto& p : f.lab.processes)
        BOOST_TEST(unexpected_errors(p->log()).empty(), p->log());
}

BOOST_AUTO_TEST_CASE(tls_1_1_and_plain_tcp_are_refused_at_the_handshake) {
    TlsFarm f;
    {
        TlsClient old(f.tls(0), true);
        BOOST_TEST(!old.handshake());
    }
    {
        // SIP in the clear on the TLS port: not a ClientHello.
        auto addr = SockAddr::parse(f.tls(0)).value();
        auto fd = net::tcp_connect(addr);
        BOOST_REQUIRE(fd.ok());
        pollfd p{fd->get(), POLLOUT, 0};
        BOOST_REQUIRE(::poll(&p, 1, static_cast<int>(scaled(3000ms).count())) == 1);
        std::string inv = request("OPTIONS", "plain@client", 1, "127.0.0.1:5999", "z9hG4bKp");
        BOOST_REQUIRE(::send(fd->get(), inv.data(), inv.size(), MSG_NOSIGNAL) ==
                      static_cast<ssize_t>(inv.size()));
        p = pollfd{fd->get(), POLLIN, 0};
        BOOST_REQUIRE(::poll(&p, 1, static_cast<int>(scaled(3000ms).count())) == 1);
        char buf[512];
        // An alert at most, then the close.
        auto deadline = std::chrono::steady_clock::now() + scaled(3000ms);
        ssize_t r = 1;
        while (r > 0 && std::chrono::steady_clock::now() < deadline) {
            p = pollfd{fd->get(), POLLIN, 0};
            if (::poll(&p, 1, 200) == 1)
                r = ::recv(fd->get(), buf, sizeof buf, 0);
        }
        BOOST_TEST(r <= 0);
    }
    BOOST_TEST(
        streams_become(f, 0,
                       [](const json::Json& s) {
                           return s["tls"]["handshake_failures"].as_integer().value_or(0) == 2 &&
                                  s["closed_by"]["tls_handshake"].as_integer().value_or(0) == 2;
                       }),
        f.streams(0).dump());
    // A TLS 1.2+ client is served still.
    TlsClient good(f.tls(0));
    BOOST_REQUIRE(good.handshake());
    BOOST_TEST(good.version() != "TLSv1.1");
    BOOST_TEST(good.ping());
    BOOST_TEST(f.lab.processes[0]->log().find("tls_handshake") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_handshake_that_does_not_end_is_closed_after_10_seconds) {
    TlsFarm f;
    auto addr = SockAddr::parse(f.tls(0)).value();
    auto fd = net::tcp_connect(addr);
    BOOST_REQUIRE(fd.ok());
    auto start = std::chrono::steady_clock::now();
    // Nothing sent: the member closes it (read returns 0) at its limit.
    ssize_t r = 1;
    while (r != 0 && std::chrono::steady_clock::now() - start < scaled(15000ms)) {
        pollfd p{fd->get(), POLLIN, 0};
        if (::poll(&p, 1, 200) == 1) {
            char buf[64];
            r = ::recv(fd->get(), buf, sizeof buf, 0);
        }
    }
    auto took = std::chrono::steady_clock::now() - start;
    BOOST_TEST(r == 0);
    BOOST_TEST(took >= 9500ms);
    auto s = f.streams(0);
    BOOST_TEST(s["closed_by"]["tls_handshake_timeout"].as_integer().value_or(0) == 1, s.dump());
    BOOST_TEST(s["tls"]["handshake_failures"].as_integer().value_or(0) == 1, s.dump());
}

BOOST_AUTO_TEST_CASE(a_key_that_does_not_match_stops_sipfarmd_at_start) {
    TlsFarm f(false);
    // f1's key is f2's.
    f.lab.dir.write("f1.key", read_file(f.lab.dir.file("f2.key")));
    auto r = run({bin_path("sipfarmd"), "--config", f.lab.config(), "--member", "f1"});
    BOOST_TEST(r.status == 2, r.out << r.err);
    BOOST_TEST(r.err.find("members.f1.tls.key") != std::string::npos, r.err);
    BOOST_TEST(r.err.find("does not match the certificate") != std::string::npos, r.err);
    BOOST_TEST(r.err.find(f.lab.dir.file("f1.key")) != std::string::npos, r.err);
    // --check-config finds it too.
    r = run({bin_path("sipfarmd"), "--config", f.lab.config(), "--member", "f1", "--check-config"});
    BOOST_TEST(r.status == 2, r.out << r.err);
    BOOST_TEST(r.err.find("does not match the certificate") != std::string::npos, r.err);
    // Not a key at all: named too.
    f.lab.dir.write("f1.key", "not a key\n");
    r = run({bin_path("sipfarmd"), "--config", f.lab.config(), "--member", "f1"});
    BOOST_TEST(r.status == 2, r.out << r.err);
    BOOST_TEST(r.err.find("members.f1.tls.key") != std::string::npos, r.err);
}

BOOST_AUTO_TEST_CASE(with_a_ca_client_certificates_are_verified_when_sent) {
    TlsFarm f(false);
    auto trusted = self_signed("client.test", 7);
    auto stranger = self_signed("stranger.test", 8);
    f.lab.dir.write("clients.pem", trusted.cert_pem);
    f.lab.cluster.members[0].extra =
        "\"tls\": {\"certificate\": \"f1.crt\", \"key\": \"f1.key\", \"ca\": \"clients.pem\"}";
    f.lab.write();
    for (auto& m : f.lab.cluster.members)
        f.processors.push_back(
            std::make_unique<UdpPeer>(m.address + ":" + std::to_string(m.processor_port)));
    for (auto& m : f.lab.cluster.members)
        f.lab.start("sipfarmd", m.id);
    {
        TlsClient c(f.tls(0), false, &stranger);
        // TLS 1.3: the server's verdict on the client certificate comes after
        // the client's handshake is done; reading shows it.
        bool served = c.handshake() && c.ping();
        BOOST_TEST(!served);
    }
    BOOST_TEST(streams_become(f, 0,
                              [](const json::Json& s) {
                                  return s["closed_by"]["tls_handshake"].as_integer().value_or(0) ==
                                         1;
                              }),
               f.streams(0).dump());
    TlsClient with_cert(f.tls(0), false, &trusted);
    BOOST_REQUIRE(with_cert.handshake());
    BOOST_TEST(with_cert.ping());
    TlsClient without(f.tls(0));
    BOOST_REQUIRE(without.handshake());
    BOOST_TEST(without.ping());
}

BOOST_AUTO_TEST_CASE(sighup_gives_new_connections_the_new_certificate) {
    TlsFarm f;
    TlsClient old_conn(f.tls(0));
    BOOST_REQUIRE(old_conn.handshake());
    BOOST_TEST(old_conn.peer_serial() == 1);

    // A mismatched pair: the reload fails, the old certificate stays.
    auto next = self_signed("f1-next.test", 101);
    f.lab.dir.write("f1.key", next.key_pem);
    f.reload(0);
    auto s = f.lab.stats(0);
    BOOST_TEST(s["reload_failures"].as_integer().value_or(-1) == 1, s.dump());
    BOOST_TEST(f.lab.processes[0]->log().find("does not match the certificate") !=
               std::string::npos);
    {
        TlsClient c(f.tls(0));
        BOOST_REQUIRE(c.handshake());
        BOOST_TEST(c.peer_serial() == 1);
    }

    // The matching certificate: new connections get it.
    f.write_cert("f1", next);
    f.reload(0);
    s = f.lab.stats(0);
    BOOST_TEST(s["reloads"].as_integer().value_or(-1) == 1, s.dump());
    TlsClient new_conn(f.tls(0));
    BOOST_REQUIRE(new_conn.handshake());
    BOOST_TEST(new_conn.peer_serial() == 101);
    // Both connections carry calls.
    int n = 0;
    tls_call(f, old_conn, f.call_id_of("f2", n));
    tls_call(f, new_conn, f.call_id_of("f3", n));
    BOOST_TEST(old_conn.ping());
    BOOST_TEST(f.streams(0)["connections"].as_integer().value_or(-1) == 2);
}

// The processor's request to a sips: target goes on a TLS connection f1
// opens, the target's certificate checked against the member's `ca` and
// the address; the answer comes back on it. A target whose certificate
// names another address fails the handshake: the request is answered 477.
BOOST_AUTO_TEST_CASE(a_sips_target_gets_a_tls_connection_with_its_certificate_checked) {
    TlsFarm f(false);
    auto good = self_signed("target.test", 21, "127.0.0.1");
    auto elsewhere = self_signed("target.test", 22, "192.0.2.1");
    f.lab.dir.write("targets.pem", good.cert_pem + elsewhere.cert_pem);
    f.lab.cluster.members[0].extra =
        "\"tls\": {\"certificate\": \"f1.crt\", \"key\": \"f1.key\", \"ca\": \"targets.pem\"}";
    f.lab.write();
    for (auto& m : f.lab.cluster.members)
        f.processors.push_back(
            std::make_unique<UdpPeer>(m.address + ":" + std::to_string(m.processor_port)));
    for (auto& m : f.lab.cluster.members)
        f.lab.start("sipfarmd", m.id);
    for (auto& m : f.lab.cluster.members)
        BOOST_REQUIRE_MESSAGE(f.lab.all_up(m.id), m.id << " never saw the members up");
    UdpPeer& proc = *f.processors[0];
    auto target_addr = SockAddr::parse("127.0.0.1:" + std::to_string(free_port())).value();
    auto listener = net::tcp_listen(target_addr);
    BOOST_REQUIRE(listener.ok());
    auto options = [&](const std::string& call_id) {
        return "OPTIONS sips:carol@" + target_addr.str() + " SIP/2.0\r\nVia: SIP/2.0/UDP " +
               proc.address().str() + ";branch=z9hG4bKo" + call_id +
               "\r\nMax-Forwards: 70\r\nFrom: <sip:bob@example.com>;tag=p1\r\n"
               "To: <sips:carol@example.com>\r\nCall-ID: " +
               call_id + "\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    };
    auto accept = [&]() -> UniqueFd {
        pollfd p{listener->get(), POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(scaled(3000ms).count())) != 1)
            return UniqueFd{};
        return UniqueFd(::accept4(listener->get(), nullptr, nullptr, SOCK_CLOEXEC));
    };

    proc.send(f.lab.sip_addr(0), options("sips-1@proc"));
    UniqueFd fd = accept();
    BOOST_REQUIRE_MESSAGE(fd.get() >= 0, "f1 opened no connection to the sips: target");
    TlsClient server(std::move(fd), good);
    BOOST_REQUIRE_MESSAGE(server.handshake(), "the TLS handshake with f1 failed");
    auto req = server.recv();
    BOOST_REQUIRE_MESSAGE(req, "no OPTIONS on the TLS connection");
    auto rm = scan_ok(*req);
    BOOST_TEST(rm.via[0].transport.in(*req) == "TLS");
    BOOST_TEST(sip::branch_member(rm.via[0].branch.in(*req)).value_or("") == "f1");
    server.send(response_to(*req, 200, "c1", target_addr.str()));
    auto ok = proc.recv();
    BOOST_REQUIRE_MESSAGE(ok, "the target's 200 did not reach the processor");
    BOOST_TEST(scan_ok(ok->bytes).status == 200);
    BOOST_TEST(f.streams(0)["connects"].as_integer().value_or(-1) == 1);
    BOOST_TEST(f.streams(0)["outgoing"].as_integer().value_or(-1) == 1);

    // Another target at the same kind of address, whose certificate names
    // another one: f1 refuses it, the processor hears 477.
    auto other_addr = SockAddr::parse("127.0.0.1:" + std::to_string(free_port())).value();
    auto other = net::tcp_listen(other_addr);
    BOOST_REQUIRE(other.ok());
    std::string to_other = options("sips-2@proc");
    to_other.replace(to_other.find(target_addr.str()), target_addr.str().size(), other_addr.str());
    proc.send(f.lab.sip_addr(0), to_other);
    pollfd p{other->get(), POLLIN, 0};
    BOOST_REQUIRE(::poll(&p, 1, static_cast<int>(scaled(3000ms).count())) == 1);
    TlsClient wrong(UniqueFd(::accept4(other->get(), nullptr, nullptr, SOCK_CLOEXEC)), elsewhere);
    (void)wrong.handshake(1000ms);
    auto failed = proc.recv();
    BOOST_REQUIRE_MESSAGE(failed, "no answer for a target that failed the certificate check");
    BOOST_TEST(scan_ok(failed->bytes).status == 477);
    auto s = f.streams(0);
    BOOST_TEST(s["closed_by"]["tls_handshake"].as_integer().value_or(0) == 1, s.dump());
    BOOST_TEST(s["undelivered"].as_integer().value_or(0) == 1);
    // The good connection is still there and reused.
    proc.send(f.lab.sip_addr(0), options("sips-3@proc"));
    auto again = server.recv();
    BOOST_REQUIRE_MESSAGE(again, "the second OPTIONS did not reuse the TLS connection");
    BOOST_TEST(f.streams(0)["connects"].as_integer().value_or(-1) == 2);
}

BOOST_AUTO_TEST_SUITE_END()
