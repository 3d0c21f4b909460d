// `cloudlet firewall rules | connections | trace`: thin client of POST /v1/firewall.
#include <CLI/CLI.hpp>

#include "cli/cli.h"
#include "cli/firewall.h"
#include "cli/table.h"
#include "control/api.h"

namespace cloudlet::cli {
namespace {

std::string Joined(const nlohmann::json& list) {
  if (!list.is_array() || list.empty()) return "any";
  std::string out;
  for (const auto& item : list) out += (out.empty() ? "" : ",") + item.get<std::string>();
  return out;
}

std::string Endpoint(const nlohmann::json& c, const char* addr, const char* port) {
  const std::string a = c.value(addr, "");
  const std::string p = std::to_string(c.value(port, 0));
  return a.find(':') != std::string::npos ? "[" + a + "]:" + p : a + ":" + p;
}

void RenderRules(const nlohmann::json& body, std::ostream& out) {
  for (const auto& r : body.value("routers", nlohmann::json::array())) {
    out << "router on " << r.value("switch", "") << " (" << r.value("project", "") << ")\n";
    TextTable rules({"#", "NAME", "FROM", "TO", "MATCH", "ACTION", "PACKETS", "BYTES"},
                    {true, false, false, false, false, false, true, true});
    for (const auto& rule : r.value("rules", nlohmann::json::array())) {
      std::string action = rule.value("action", "");
      if (rule.value("log", false)) action += " log";
      rules.AddRow({std::to_string(rule.value("index", 0)), rule.value("name", ""), Joined(rule["from"]),
                    Joined(rule["to"]), rule.value("match", ""), action, HumanCount(rule.value("packets", 0ull)),
                    HumanBytes(rule.value("bytes", 0ull))});
    }
    if (rules.empty()) {
      out << "  no rules: the zone policies below decide\n";
    } else {
      out << rules.Render("  ");
    }
    TextTable policies({"FROM", "TO", "POLICY"});
    for (const auto& p : r.value("policies", nlohmann::json::array())) {
      policies.AddRow({p.value("from", ""), p.value("to", ""), p.value("action", "")});
    }
    out << "  zone policies (when no rule matches): " << HumanCount(r.value("policy_accept", 0ull)) << " accepted, "
        << HumanCount(r.value("policy_drop", 0ull)) << " dropped\n"
        << policies.Render("    ");
  }
}

void RenderConnections(const nlohmann::json& body, std::ostream& out) {
  for (const auto& r : body.value("routers", nlohmann::json::array())) {
    const auto& s = r["stats"];
    out << "router on " << r.value("switch", "") << " (" << r.value("project", "") << "): " << s.value("connections", 0)
        << " of " << s.value("max_connections", 0) << " connections, " << s.value("evicted", 0) << " evicted, "
        << s.value("invalid", 0) << " invalid packets\n";
    TextTable conns(
        {"PROTO", "SOURCE", "DESTINATION", "REPLY FROM", "REPLY TO", "STATE", "EXPIRES", "PACKETS", "BYTES"},
        {false, false, false, false, false, false, true, true, true});
    for (const auto& c : r.value("connections", nlohmann::json::array())) {
      std::string state = c.value("state", "");
      if (c.value("assured", false)) state += " [assured]";
      conns.AddRow({c.value("proto", ""), Endpoint(c, "src", "sport"), Endpoint(c, "dst", "dport"),
                    Endpoint(c, "reply_src", "reply_sport"), Endpoint(c, "reply_dst", "reply_dport"), state,
                    std::to_string(c.value("expires_in", 0)) + "s",
                    HumanCount(c.value("packets_orig", 0ull) + c.value("packets_reply", 0ull)),
                    HumanBytes(c.value("bytes_orig", 0ull) + c.value("bytes_reply", 0ull))});
    }
    if (conns.empty()) {
      out << "  no tracked connections\n";
    } else {
      out << conns.Render("  ");
    }
  }
}

}  // namespace

CLI::App* AddFirewallCommands(CLI::App& app, FirewallArgs& a) {
  a.firewall =
      app.add_subcommand("firewall",
                         "Inspect the routers' firewalls: rules with hit counters, tracked connections, and "
                         "traces.  Example: cloudlet firewall trace --from web --to db --proto tcp --dport 80");
  a.firewall->require_subcommand(1);
  auto common = [&](CLI::App* cmd) {
    cmd->add_option("--format", a.format, "table (for people) or json (for scripts)")
        ->capture_default_str()
        ->check(CLI::IsMember({"table", "json"}));
    cmd->add_option("--project", a.project, "Only the router of this YAML file (default: every project's)")
        ->type_name("FILE");
  };
  a.rules = a.firewall->add_subcommand(
      "rules",
      "List the rules in order (first match wins) with the packets and bytes of the connections each one "
      "decided, then the zone policies.  Example: cloudlet firewall rules");
  common(a.rules);
  a.connections = a.firewall->add_subcommand(
      "connections",
      "List tracked connections: both directions as they travel (NAT shows), state, timeout, "
      "counters.  Example: cloudlet firewall connections --format json");
  common(a.connections);
  a.connections->add_option("--limit", a.limit, "Show at most this many")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  a.trace = a.firewall->add_subcommand(
      "trace",
      "Would a new connection pass, and by which rule? Classifies it as the data plane would (no traffic "
      "is sent).  Example: cloudlet firewall trace --from web --to db --proto tcp --dst 10.20.0.2 "
      "--dport 5432");
  common(a.trace);
  a.trace->add_option("--from", a.from, "Zone the connection comes from")->required();
  a.trace->add_option("--to", a.to, "Zone it goes to")->required();
  a.trace->add_option("--proto", a.proto, "tcp, udp, icmp, icmpv6 or a protocol number")->capture_default_str();
  a.trace->add_option("--src", a.src, "Source address");
  a.trace->add_option("--dst", a.dst, "Destination address");
  a.trace->add_option("--sport", a.sport, "Source port")->check(CLI::Range(0, 65535));
  a.trace->add_option("--dport", a.dport, "Destination port")->check(CLI::Range(0, 65535));
  a.trace->add_option("--icmp-type", a.icmp_type, "ICMP type (default echo request)")->check(CLI::Range(0, 255));
  a.trace->add_option("--icmp-code", a.icmp_code, "ICMP code")->check(CLI::Range(0, 255));
  return a.firewall;
}

int RunFirewallCommand(const FirewallArgs& a, std::ostream& out, std::ostream& err) {
  nlohmann::json request = nlohmann::json::object();
  if (!a.project.empty()) request["project"] = ProjectPath(a.project);
  if (a.rules->parsed()) request["query"] = "rules";
  if (a.connections->parsed()) {
    request["query"] = "connections";
    request["limit"] = a.limit;
  }
  if (a.trace->parsed()) {
    request["query"] = "trace";
    request["from"] = a.from;
    request["to"] = a.to;
    request["proto"] = a.proto;
    if (!a.src.empty()) request["src"] = a.src;
    if (!a.dst.empty()) request["dst"] = a.dst;
    if (a.sport) request["sport"] = *a.sport;
    if (a.dport) request["dport"] = *a.dport;
    if (a.icmp_type) request["icmp_type"] = *a.icmp_type;
    if (a.icmp_code) request["icmp_code"] = *a.icmp_code;
  }
  ApiClient client(a.socket_path, 30);
  auto reply = client.Post("/v1/firewall", request);
  if (!reply.ok()) {
    err << "cloudlet: " << reply.error().message() << "\n";
    return kExitFailure;
  }
  if (reply->code != 200) {
    err << "cloudlet: firewall: " << reply->body.value("error", "HTTP " + std::to_string(reply->code)) << "\n";
    return reply->code == 400 ? kExitBadInput : kExitFailure;
  }
  const nlohmann::json& body = reply->body;
  if (a.format == "json") {
    out << body.dump(2) << "\n";
    return kExitOk;
  }
  if (a.rules->parsed()) RenderRules(body, out);
  if (a.connections->parsed()) RenderConnections(body, out);
  if (a.trace->parsed()) {
    out << body.value("action", "?") << ": ";
    if (body.value("by", "") == "rule") {
      const std::string name = body.value("rule_name", "");
      out << "rule #" << body.value("rule", 0) << (name.empty() ? "" : " '" + name + "'");
    } else {
      out << "no rule matches; the policy " << body.value("from", "") << " -> " << body.value("to", "") << " decides";
    }
    out << "\n";
  }
  return kExitOk;
}

}  // namespace cloudlet::cli
