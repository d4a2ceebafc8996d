#include "connect.hpp"

#include "control/ndjson.hpp"

namespace rtfarm::ctl {
namespace {

std::vector<std::string>& secrets() {
    static std::vector<std::string> s;
    return s;
}

} // namespace

void set_control_secrets(std::vector<std::string> s) {
    secrets() = std::move(s);
}

Result<control::ControlClient> connect(const std::string& target,
                                       std::chrono::milliseconds timeout) {
    auto client = control::ControlClient::connect(target, timeout, secrets());
    if (!client && client.error().code == json::error_code::UNAUTHENTICATED)
        return make_error(json::error_code::UNAUTHENTICATED,
                          client.error().message +
                              (secrets().empty() ? " (give --config with the cluster's secret_file)"
                                                 : " (is secret_file the cluster's?)"));
    return client;
}

} // namespace rtfarm::ctl
