// The member's TLS server context: an OpenSSL SSL_CTX built from the
// config's `tls` files (certificate chain, private key, optional CA bundle),
// TLS 1.2 at least, with the key checked against the certificate. Any file
// that cannot be read or parsed, or a key that does not match, is an Error
// naming the config file, the key ("members.f1.tls.key") and OpenSSL's
// reason, so sipfarmd refuses to start, or a reload keeps the old context.
//
// With a `ca`, a client certificate is asked for and verified when the
// client presents one; a client without one is still served (SIP clients
// rarely have certificates; RFC 5630 does not require them).
//
// The client context, for connections the farm opens to targets that ask
// for TLS: the same files (the certificate is presented when a server asks
// for one), and the server's certificate always verified, against the `ca`
// bundle, or the system's CA certificates when there is none.
//
// Not here: sockets, handshakes and records on connections (streams.hpp),
// certificate revocation, SNI.
#pragma once

#include "base/result.hpp"
#include "config/config.hpp"

#include <openssl/ssl.h>

#include <memory>
#include <string>

namespace rtfarm::sipfarmd {

struct SslCtxFree {
    void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }
};
struct SslFree {
    void operator()(SSL* s) const noexcept { SSL_free(s); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;

// `config_path` and `where` ("members.f1.tls") only name things in errors.
Result<SslCtxPtr> make_server_context(const config::TlsFiles& files, const std::string& config_path,
                                      const std::string& where);

// `files` may be null: no certificate of ours, the system's CAs.
Result<SslCtxPtr> make_client_context(const config::TlsFiles* files, const std::string& config_path,
                                      const std::string& where);

// OpenSSL's queued errors as one line (and the queue emptied); `fallback`
// when there are none.
std::string ssl_errors(std::string fallback = "no reason given by OpenSSL");

// "TLSv1.3", or "" when unknown.
std::string tls_version(const SSL* ssl);

} // namespace rtfarm::sipfarmd
