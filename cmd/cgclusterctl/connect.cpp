#include "connect.hpp"

namespace rtfarm::ctl {
namespace {

std::string& secret() {
    static std::string s;
    return s;
}

} // namespace

void set_control_secret(std::string s) {
    secret() = std::move(s);
}

Result<json::ControlClient> connect(const std::string& target, std::chrono::milliseconds timeout) {
    auto client = json::ControlClient::connect(target, timeout, secret());
    if (!client && client.error().code == "unauthenticated")
        return make_error("unauthenticated",
                          client.error().message +
                              (secret().empty() ? " (give --config with the cluster's secret_file)"
                                                : " (is secret_file the cluster's?)"));
    return client;
}

} // namespace rtfarm::ctl
