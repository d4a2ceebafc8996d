// Readiness and state notifications to a process supervisor, without
// libsystemd: systemd's NOTIFY_SOCKET protocol ("READY=1", "RELOADING=1",
// "STOPPING=1", "STATUS=..." over a Unix datagram socket, abstract names
// starting with '@' included) and s6's notification fd (a newline written to
// the fd given with --notify-fd, then closed). Nothing here decides *when* a
// daemon is ready; the caller says so.
#pragma once

#include <string>
#include <string_view>

namespace rtfarm::daemon {

class Notifier {
public:
    // Reads NOTIFY_SOCKET from the environment (and unsets it so children do
    // not inherit it); `s6_fd` < 0 means no s6 notification fd.
    explicit Notifier(int s6_fd = -1);
    Notifier(const Notifier&) = delete;
    Notifier& operator=(const Notifier&) = delete;
    ~Notifier();

    void ready(std::string_view status = {});
    void reloading();
    void reloaded();
    void stopping();
    void status(std::string_view text);

private:
    // Sends one datagram to NOTIFY_SOCKET; a failure is logged once, not fatal.
    void send(const std::string& message);
    std::string m_socket_path;
    int m_s6_fd = -1;
    bool m_warned = false;
};

} // namespace rtfarm::daemon
