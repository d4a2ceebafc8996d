#include "daemon/notify.hpp"

#include "base/log.hpp"
#include "base/unique_fd.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace rtfarm::daemon {

Notifier::Notifier(int s6_fd)
    : m_s6_fd(s6_fd) {
    if (const char* p = std::getenv("NOTIFY_SOCKET"); p && *p) {
        m_socket_path = p;
        ::unsetenv("NOTIFY_SOCKET");
    }
}

Notifier::~Notifier() {
    if (m_s6_fd >= 0)
        ::close(m_s6_fd);
}

void Notifier::send(const std::string& message) {
    if (m_socket_path.empty())
        return;
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    if (m_socket_path.size() >= sizeof sun.sun_path) {
        if (!m_warned)
            log::warn("notify", "NOTIFY_SOCKET path too long", {{"path", m_socket_path}});
        m_warned = true;
        return;
    }
    std::memcpy(sun.sun_path, m_socket_path.data(), m_socket_path.size());
    if (sun.sun_path[0] == '@')
        sun.sun_path[0] = '\0';
    socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + m_socket_path.size());
    UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd || ::sendto(fd.get(), message.data(), message.size(), MSG_NOSIGNAL,
                        reinterpret_cast<sockaddr*>(&sun), len) < 0) {
        if (!m_warned)
            log::warn("notify", "cannot notify supervisor",
                      {{"path", m_socket_path}, {"err", std::strerror(errno)}});
        m_warned = true;
    }
}

void Notifier::ready(std::string_view status) {
    std::string msg = "READY=1\nMAINPID=" + std::to_string(::getpid());
    if (!status.empty())
        msg += "\nSTATUS=" + std::string(status);
    send(msg + "\n");
    if (m_s6_fd >= 0) {
        // s6: one newline, then the fd is closed; a failure is only logged.
        if (::write(m_s6_fd, "\n", 1) != 1)
            log::warn("notify", "cannot write s6 notification fd", {{"err", std::strerror(errno)}});
        ::close(m_s6_fd);
        m_s6_fd = -1;
    }
}

void Notifier::reloading() {
    send("RELOADING=1\n");
}
void Notifier::reloaded() {
    send("READY=1\n");
}
void Notifier::stopping() {
    send("STOPPING=1\n");
}
void Notifier::status(std::string_view text) {
    send("STATUS=" + std::string(text) + "\n");
}

} // namespace rtfarm::daemon
