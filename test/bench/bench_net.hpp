// The IPv4 address helpers the bench programs share (sipstorm, rtpstorm,
// trivial_relay; each is built alone with g++ by its script). Each program
// defines die(): its name, the message, exit status 2.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>
#include <cstdlib>
#include <string>

[[noreturn]] void die(const std::string& m);

// "A.B.C.D:PORT"; dies on anything else.
inline sockaddr_in parse_addr(const std::string& s) {
    auto colon = s.rfind(':');
    if (colon == std::string::npos)
        die("address without port: " + s);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    if (inet_pton(AF_INET, s.substr(0, colon).c_str(), &a.sin_addr) != 1)
        die("bad IPv4 address: " + s);
    a.sin_port = htons(static_cast<uint16_t>(std::atoi(s.c_str() + colon + 1)));
    return a;
}

inline std::string addr_str(const sockaddr_in& a) {
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a.sin_addr, ip, sizeof ip);
    return std::string(ip) + ":" + std::to_string(ntohs(a.sin_port));
}
