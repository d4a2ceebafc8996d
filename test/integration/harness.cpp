#include "harness.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace rtfarm::test {

namespace {

// Forks and runs argv[0] with stdin from /dev/null, stdout and stderr
// appended to the given files (they may be the same) and NOTIFY_SOCKET set
// when `notify_socket` is not empty, and `fd3` (when >= 0) as its fd 3.
pid_t spawn(std::vector<std::string> argv, const std::string& out_path, const std::string& err_path,
            const std::string& notify_socket, int fd3 = -1) {
    pid_t pid = ::fork();
    if (pid < 0)
        throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid > 0)
        return pid;
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int err = err_path == out_path
                  ? out
                  : ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (out < 0 || err < 0 || devnull < 0)
        ::_exit(126);
    ::dup2(devnull, 0);
    ::dup2(out, 1);
    ::dup2(err, 2);
    if (fd3 == 3)
        ::fcntl(3, F_SETFD, 0); // keep it across exec
    else if (fd3 >= 0 && ::dup2(fd3, 3) != 3)
        ::_exit(126);
    if (!notify_socket.empty())
        ::setenv("NOTIFY_SOCKET", notify_socket.c_str(), 1);
    std::vector<char*> args;
    for (auto& a : argv)
        args.push_back(a.data());
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
}

// The exit status (WEXITSTATUS, or 128+signal) of `pid` once it ended
// within `timeout`, else nullopt.
std::optional<int> wait_for(pid_t pid, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        int st = 0;
        pid_t r = ::waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (r < 0 || std::chrono::steady_clock::now() >= deadline)
            return std::nullopt;
        ::usleep(2000);
    }
}

} // namespace

std::chrono::milliseconds scaled(std::chrono::milliseconds t) {
    const char* s = std::getenv("RTFARM_TEST_TIMEOUT_SCALE");
    double k = s ? std::atof(s) : 1.0;
    if (k <= 0)
        k = 1.0;
    return std::chrono::milliseconds(static_cast<long long>(t.count() * k));
}

std::string bin_path(const std::string& program) {
    const char* b = std::getenv("RTFARM_BUILD");
    std::string build = b && *b ? b : "build";
    return std::filesystem::absolute(build + "/bin/" + program).string();
}

std::string src_path(const std::string& relative) {
    const char* s = std::getenv("RTFARM_SRCDIR");
    std::string root = s && *s ? s : ".";
    return std::filesystem::absolute(root + "/" + relative).string();
}

TempDir::TempDir() {
    char tmpl[] = "/tmp/rtfarm-test-XXXXXX";
    if (!::mkdtemp(tmpl))
        throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
    m_path = tmpl;
}

TempDir::~TempDir() {
    const char* keep = std::getenv("RTFARM_KEEP_LOGS");
    if (keep && *keep == '1')
        return;
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
}

void TempDir::write(const std::string& name, const std::string& content) const {
    std::ofstream out(file(name), std::ios::binary | std::ios::trunc);
    out << content;
    if (!out)
        throw std::runtime_error("cannot write " + file(name));
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

uint16_t free_port() {
    // Bind UDP and TCP on the same port so either use is free.
    for (int attempt = 0; attempt < 50; ++attempt) {
        UniqueFd u(::socket(AF_INET, SOCK_DGRAM, 0));
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::bind(u.get(), reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0)
            continue;
        socklen_t len = sizeof sin;
        ::getsockname(u.get(), reinterpret_cast<sockaddr*>(&sin), &len);
        UniqueFd t(::socket(AF_INET, SOCK_STREAM, 0));
        if (::bind(t.get(), reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0)
            return ntohs(sin.sin_port);
    }
    throw std::runtime_error("no free port on 127.0.0.1");
}

Process::Process(const TempDir& dir, const std::string& name, std::vector<std::string> argv,
                 int fd3)
    : m_log(dir.file(name + ".log")) {
    std::string notify_path = dir.file(name + ".notify");
    ::unlink(notify_path.c_str());
    m_notify.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::strncpy(sun.sun_path, notify_path.c_str(), sizeof sun.sun_path - 1);
    if (::bind(m_notify.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0)
        throw std::runtime_error("bind " + notify_path + ": " + std::strerror(errno));

    m_pid = spawn(std::move(argv), m_log, m_log, notify_path, fd3);
}

Process::~Process() {
    if (running()) {
        ::kill(m_pid, SIGKILL);
        wait_exit(2000ms);
    }
}

bool Process::wait_notify(const std::string& text, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + scaled(timeout);
    for (;;) {
        auto pos = m_pending_notifications.find(text);
        if (pos != std::string::npos) {
            m_pending_notifications.erase(0, pos + text.size());
            return true;
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0 || !running())
            return false;
        pollfd p{m_notify.get(), POLLIN, 0};
        int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 100)));
        if (n > 0) {
            char buf[4096];
            ssize_t r = ::recv(m_notify.get(), buf, sizeof buf, 0);
            if (r > 0)
                m_pending_notifications.append(buf, static_cast<size_t>(r));
        }
    }
}

bool Process::wait_ready(std::chrono::milliseconds timeout) {
    return wait_notify("READY=1", timeout);
}

void Process::signal(int signo) const {
    if (m_pid > 0)
        ::kill(m_pid, signo);
}

std::optional<int> Process::wait_exit(std::chrono::milliseconds timeout) {
    if (!m_status && m_pid > 0)
        m_status = wait_for(m_pid, scaled(timeout));
    return m_status;
}

bool Process::running() {
    if (m_status || m_pid <= 0)
        return false;
    return !wait_exit(0ms).has_value();
}

std::string Process::log() const {
    return read_file(m_log);
}

RunResult run(std::vector<std::string> argv, std::chrono::milliseconds timeout) {
    TempDir dir;
    std::string out_path = dir.file("out"), err_path = dir.file("err");
    pid_t pid = spawn(std::move(argv), out_path, err_path, "");
    RunResult res;
    if (auto status = wait_for(pid, scaled(timeout))) {
        res.status = *status;
    } else {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
    }
    res.out = read_file(out_path);
    res.err = read_file(err_path);
    return res;
}

boost::test_tools::assertion_result check_requirement(const char* test, Requirement why_not) {
    std::string why = why_not();
    if (why.empty())
        return true;
    std::fprintf(stderr, "skipped: %s: %s\n", test, why.c_str());
    boost::test_tools::assertion_result r(false);
    r.message() << why;
    return r;
}

std::string requires_ipv6() {
    UniqueFd fd(::socket(AF_INET6, SOCK_DGRAM, 0));
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_addr = in6addr_loopback;
    if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&sin6), sizeof sin6) != 0)
        return std::string("no IPv6 loopback on this host: ") + std::strerror(errno);
    return "";
}

std::string requires_mandoc() {
    if (::access("/usr/bin/mandoc", X_OK) != 0)
        return "mandoc is not installed (make check installs it when run as root)";
    return "";
}

std::vector<std::string> unexpected_errors(const std::string& log,
                                           const std::vector<std::string>& expected) {
    std::vector<std::string> out;
    std::istringstream in(log);
    std::string line;
    while (std::getline(in, line)) {
        if (line.find("level=error") == std::string::npos)
            continue;
        bool ok = false;
        for (const auto& e : expected)
            ok = ok || line.find(e) != std::string::npos;
        if (!ok)
            out.push_back(line);
    }
    return out;
}

json::Json parse_out(const RunResult& r) {
    auto doc = json::parse(r.out, "stdout");
    BOOST_REQUIRE_MESSAGE(doc.ok(), "not one JSON document: " << r.out << r.err);
    return doc.value();
}

} // namespace rtfarm::test
