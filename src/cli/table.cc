// Table rendering of the status JSON.
#include "cli/table.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <sstream>

namespace cloudlet::cli {

namespace {

std::string Scaled(double v, const char* const* units, size_t count, double step, const char* sep) {
  size_t u = 0;
  while (v >= step && u + 1 < count) {
    v /= step;
    ++u;
  }
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof(buf), "%.0f%s%s", v, sep, units[0]);
  } else {
    std::snprintf(buf, sizeof(buf), v < 10 ? "%.1f%s%s" : "%.0f%s%s", v, sep, units[u]);
  }
  return buf;
}

uint64_t U64(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_unsigned()  ? it->get<uint64_t>()
         : it != j.end() && it->is_number_integer() ? static_cast<uint64_t>(std::max<int64_t>(0, it->get<int64_t>()))
                                                    : 0;
}

std::string Str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

std::string Tpid(uint64_t tpid) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04llx", static_cast<unsigned long long>(tpid));
  return std::string("0x") + buf;
}

std::string PortVlans(const nlohmann::json& p) {
  const std::string mode = Str(p, "mode");
  if (mode != "trunk") return std::to_string(U64(p, "vlan"));
  std::vector<uint16_t> ids;
  for (const auto& v : p.value("vlans", nlohmann::json::array())) {
    if (v.is_number_integer()) ids.push_back(v.get<uint16_t>());
  }
  std::sort(ids.begin(), ids.end());
  std::string s = ids.empty() ? "-" : VlanRanges(ids);
  if (uint64_t native = U64(p, "native_vlan")) s += " native " + std::to_string(native);
  if (uint64_t tpid = U64(p, "tpid"); tpid != 0 && tpid != 0x8100) s += " " + Tpid(tpid);
  return s;
}

// "12 (vlan_not_allowed 10, same_port 2)" or "0".
std::string Drops(const nlohmann::json& counters) {
  uint64_t total = 0;
  std::string detail;
  const nlohmann::json drops = counters.value("drops", nlohmann::json::object());
  for (const auto& [reason, n] : drops.items()) {
    if (!n.is_number_unsigned() && !n.is_number_integer()) continue;
    uint64_t v = n.get<uint64_t>();
    if (v == 0) continue;
    total += v;
    detail += (detail.empty() ? "" : ", ") + reason + " " + HumanCount(v);
  }
  return detail.empty() ? HumanCount(total) : HumanCount(total) + " (" + detail + ")";
}

}  // namespace

std::string HumanCount(uint64_t n) {
  static const char* const kUnits[] = {"", "k", "M", "G", "T", "P"};
  return Scaled(static_cast<double>(n), kUnits, std::size(kUnits), 1000.0, "");
}

std::string HumanBytes(uint64_t n) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  return Scaled(static_cast<double>(n), kUnits, std::size(kUnits), 1024.0, " ");
}

std::string VlanRanges(const std::vector<uint16_t>& ids) {
  std::string out;
  for (size_t i = 0; i < ids.size();) {
    size_t j = i;
    while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1) ++j;
    if (!out.empty()) out += ",";
    out += std::to_string(ids[i]);
    if (j > i) out += "-" + std::to_string(ids[j]);
    i = j + 1;
  }
  return out;
}

TextTable::TextTable(std::vector<std::string> headers, std::vector<bool> numeric)
    : headers_(std::move(headers)), numeric_(std::move(numeric)) {
  numeric_.resize(headers_.size(), false);
}

void TextTable::AddRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

std::string TextTable::Render(const std::string& indent) const {
  std::vector<size_t> width(headers_.size());
  for (size_t c = 0; c < headers_.size(); ++c) width[c] = headers_[c].size();
  for (const auto& r : rows_) {
    for (size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], r[c].size());
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string l = indent;
    for (size_t c = 0; c < cells.size(); ++c) {
      const bool last = c + 1 == cells.size();
      std::string pad(width[c] - cells[c].size(), ' ');
      if (numeric_[c]) {
        l += pad + cells[c];
      } else {
        l += cells[c] + (last ? "" : pad);
      }
      if (!last) l += "  ";
    }
    while (!l.empty() && l.back() == ' ') l.pop_back();
    out += l + "\n";
  };
  line(headers_);
  for (const auto& r : rows_) line(r);
  return out;
}

std::string RenderStatusTable(const nlohmann::json& status) {
  std::ostringstream out;
  const auto switches = status.value("switches", nlohmann::json::array());
  if (switches.empty()) out << "No switches running. Bring some up with `cloudlet up FILE`.\n";
  for (const auto& sw : switches) {
    out << "switch " << Str(sw, "name");
    if (sw.contains("project")) out << "  (" << Str(sw, "project") << ")";
    out << "  MACs " << U64(sw, "mac_count") << "/" << U64(sw, "max_macs") << ", aging " << U64(sw, "mac_aging_seconds")
        << " s\n";

    TextTable ports(
        {"PORT", "INTERFACE", "KIND", "MODE", "VLANS", "RX PKTS", "RX BYTES", "TX PKTS", "TX BYTES", "DROPS"},
        {false, false, false, false, false, true, true, true, true, false});
    for (const auto& p : sw.value("ports", nlohmann::json::array())) {
      const auto c = p.value("counters", nlohmann::json::object());
      ports.AddRow({Str(p, "name"), Str(p, "interface"), Str(p, "kind"), Str(p, "mode"), PortVlans(p),
                    HumanCount(U64(c, "rx_packets")), HumanBytes(U64(c, "rx_bytes")), HumanCount(U64(c, "tx_packets")),
                    HumanBytes(U64(c, "tx_bytes")), Drops(c)});
    }
    out << "  ports\n" << ports.Render("    ");

    TextTable vlans({"VLAN", "NAME", "PACKETS", "BYTES", "FLOODED", "DROPS"}, {true, false, true, true, true, true});
    for (const auto& v : sw.value("vlans", nlohmann::json::array())) {
      const auto c = v.value("counters", nlohmann::json::object());
      vlans.AddRow({std::to_string(U64(v, "id")), Str(v, "name"), HumanCount(U64(c, "packets")),
                    HumanBytes(U64(c, "bytes")), HumanCount(U64(c, "flooded")), HumanCount(U64(c, "drops"))});
    }
    out << "  vlans\n" << (vlans.empty() ? "    (no traffic yet)\n" : vlans.Render("    "));

    TextTable macs({"VLAN", "MAC", "PORT", "AGE"}, {true, false, false, true});
    for (const auto& m : sw.value("macs", nlohmann::json::array())) {
      macs.AddRow({std::to_string(U64(m, "vlan")), Str(m, "mac"), Str(m, "port"),
                   std::to_string(U64(m, "age_seconds")) + " s"});
    }
    out << "  mac table\n" << (macs.empty() ? "    (empty)\n" : macs.Render("    "));
    out << "\n";
  }

  const auto endpoints = status.value("endpoints", nlohmann::json::array());
  if (!endpoints.empty()) {
    TextTable eps({"ENDPOINT", "SWITCH", "VLAN", "NETNS", "INTERFACE", "HOST INTERFACE", "ADDRESSES", "PROJECT"},
                  {false, false, true, false, false, false, false, false});
    for (const auto& e : endpoints) {
      std::string addrs;
      for (const auto& a : e.value("addresses", nlohmann::json::array())) {
        if (a.is_string()) addrs += (addrs.empty() ? "" : ", ") + a.get<std::string>();
      }
      eps.AddRow({Str(e, "name"), Str(e, "switch"), std::to_string(U64(e, "vlan")), Str(e, "netns"),
                  Str(e, "interface"), Str(e, "host_interface"), addrs, Str(e, "project")});
    }
    out << "endpoints\n" << eps.Render("  ");
  }

  for (const auto& v : status.value("vpns", nlohmann::json::array())) {
    const auto attach = v.value("attach", nlohmann::json::object());
    out << "\nvpn " << Str(v, "name") << "  (" << Str(v, "project") << ")"
        << (v.value("running", true) ? "" : "  STOPPED") << "\n  interface " << Str(v, "interface") << " in netns "
        << Str(v, "netns") << ", address " << Str(v, "address") << ", listening on UDP " << U64(v, "listen_port")
        << "\n  public key " << Str(v, "public_key") << "\n";
    if (!attach.empty()) {
      out << "  attached to switch " << Str(attach, "switch") << " vlan " << U64(attach, "vlan") << " as "
          << Str(attach, "address") << "\n";
    }
    TextTable peers({"PEER", "PUBLIC KEY", "ENDPOINT", "ALLOWED IPS", "HANDSHAKE", "RX", "TX"},
                    {false, false, false, false, false, true, true});
    const uint64_t now = static_cast<uint64_t>(std::time(nullptr));
    for (const auto& p : v.value("peers", nlohmann::json::array())) {
      std::string ips;
      for (const auto& a : p.value("allowed_ips", nlohmann::json::array())) {
        if (a.is_string()) ips += (ips.empty() ? "" : ", ") + a.get<std::string>();
      }
      uint64_t hs = U64(p, "latest_handshake");
      std::string when = hs == 0 ? "never" : (hs >= now ? "now" : std::to_string(now - hs) + " s ago");
      std::string endpoint = Str(p, "endpoint");
      peers.AddRow({Str(p, "name"), Str(p, "public_key"), endpoint.empty() ? "-" : endpoint, ips, when,
                    HumanBytes(U64(p, "rx_bytes")), HumanBytes(U64(p, "tx_bytes"))});
    }
    out << "  peers\n" << (peers.empty() ? "    (none)\n" : peers.Render("    "));
  }

  for (const auto& r : status.value("routers", nlohmann::json::array())) {
    out << "\nrouter on switch " << Str(r, "switch") << "  (" << Str(r, "project") << ")";
    if (!Str(r, "uplink").empty()) out << "  uplink " << Str(r, "uplink");
    out << "\n";
    if (r.contains("error")) out << "  NOT ANSWERING: " << Str(r, "error") << "\n";
    TextTable ifaces({"INTERFACE", "VLAN", "ZONE", "ADDRESSES", "MAC", "MTU", "DHCP"},
                     {false, true, false, false, false, true, false});
    for (const auto& i : r.value("interfaces", nlohmann::json::array())) {
      std::string addrs;
      for (const auto& a : i.value("addresses", nlohmann::json::array())) {
        if (a.is_string()) addrs += (addrs.empty() ? "" : ", ") + a.get<std::string>();
      }
      const uint64_t vlan = U64(i, "vlan");
      ifaces.AddRow({Str(i, "name"), vlan == 0 ? "uplink" : std::to_string(vlan), Str(i, "zone"), addrs, Str(i, "mac"),
                     std::to_string(U64(i, "mtu")), i.value("dhcp", false) ? "on" : "-"});
    }
    out << ifaces.Render("  ");
    TextTable routes({"ROUTE", "VIA", "INTERFACE", "KIND"});
    for (const auto& rt : r.value("routes", nlohmann::json::array())) {
      routes.AddRow(
          {Str(rt, "prefix"), Str(rt, "via").empty() ? "-" : Str(rt, "via"), Str(rt, "interface"), Str(rt, "kind")});
    }
    if (!routes.empty()) out << "  routes\n" << routes.Render("    ");
    TextTable neighbours({"NEIGHBOUR", "MAC", "INTERFACE", "STATE"});
    for (const auto& n : r.value("neighbours", nlohmann::json::array())) {
      neighbours.AddRow(
          {Str(n, "address"), Str(n, "mac").empty() ? "-" : Str(n, "mac"), Str(n, "interface"), Str(n, "state")});
    }
    if (!neighbours.empty()) out << "  neighbours\n" << neighbours.Render("    ");
    TextTable leases({"LEASE", "MAC", "INTERFACE", "HOSTNAME", "EXPIRES"});
    const int64_t now = static_cast<int64_t>(std::time(nullptr));
    for (const auto& l : r.value("leases", nlohmann::json::array())) {
      const int64_t expires = l.value("expires", int64_t{0});
      leases.AddRow({Str(l, "address"), Str(l, "mac"), Str(l, "interface"), Str(l, "hostname"),
                     (l.value("bound", true) ? "" : "offered, ") +
                         (expires > now ? "in " + std::to_string(expires - now) + " s" : "expired")});
    }
    if (!leases.empty()) out << "  DHCP leases\n" << leases.Render("    ");
    const auto c = r.value("counters", nlohmann::json::object());
    if (!c.empty()) {
      out << "  forwarded " << HumanCount(U64(c, "forwarded")) << ", firewall dropped "
          << HumanCount(U64(c, "firewall_drop")) << ", rejected " << HumanCount(U64(c, "firewall_reject"))
          << ", no route " << HumanCount(U64(c, "no_route")) << ", TTL exceeded " << HumanCount(U64(c, "ttl_exceeded"))
          << ", ICMP errors sent " << HumanCount(U64(c, "icmp_errors_sent")) << "\n";
    }
    const auto f = r.value("firewall", nlohmann::json::object());
    if (!f.empty()) {
      out << "  firewall: " << U64(f, "connections") << " of " << U64(f, "max_connections") << " connections tracked, "
          << U64(f, "evicted") << " evicted, " << U64(f, "invalid") << " invalid packets (cloudlet firewall rules | "
          << "connections | trace)\n";
    }
  }
  return out.str();
}

}  // namespace cloudlet::cli
