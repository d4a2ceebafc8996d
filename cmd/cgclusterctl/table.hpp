// Plain-text tables for cgclusterctl's human output: columns padded to their
// widest cell, two spaces apart. Formatting only; no data decisions here.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace rtfarm::ctl {

using Row = std::vector<std::string>;

void print_table(const std::vector<Row>& rows, std::ostream& out);

} // namespace rtfarm::ctl
