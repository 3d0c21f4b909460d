// CLI: argument errors exit 2, help teaches every command, no daemon exits 1 with the message, table rendering.
#include "cli/cli.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/table.h"

namespace cloudlet::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct CliRun {
  int code;
  std::string out, err;
};

CliRun Cli(std::vector<std::string> args) {
  args.insert(args.begin(), "cloudlet");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  int code = RunCli(static_cast<int>(argv.size()), argv.data(), out, err);
  return {code, out.str(), err.str()};
}

const std::string kNoSocket = "/tmp/cloudlet-no-daemon-" + std::to_string(::getpid()) + ".sock";

TEST(CliArgs, HelpListsEveryCommandWithAnExample) {
  CliRun r = Cli({"--help"});
  EXPECT_EQ(r.code, 0);
  for (const char* cmd : {"daemon", "up", "down", "status", "validate"}) EXPECT_THAT(r.out, HasSubstr(cmd));
  EXPECT_THAT(r.out, HasSubstr("Example: cloudlet daemon --detach"));
  EXPECT_THAT(r.out, HasSubstr("cloudlet up examples/quickstart.yaml"));
  EXPECT_THAT(r.out, HasSubstr("/run/cloudlet/cloudlet.sock"));
  CliRun sub = Cli({"status", "--help"});
  EXPECT_EQ(sub.code, 0);
  EXPECT_THAT(sub.out, HasSubstr("--format"));
}

TEST(CliArgs, UsageErrorsExit2) {
  EXPECT_EQ(Cli({}).code, 2);
  EXPECT_EQ(Cli({"frobnicate"}).code, 2);
  CliRun r = Cli({"up"});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("FILE"));
  EXPECT_THAT(r.err, HasSubstr("cloudlet --help"));
  EXPECT_EQ(Cli({"status", "--format", "xml"}).code, 2);
  EXPECT_EQ(Cli({"daemon", "--log-level", "loud"}).code, 2);
  EXPECT_EQ(Cli({"up", "a.yaml", "b.yaml"}).code, 2);
}

TEST(CliArgs, MissingFileIsBadInput) {
  CliRun r = Cli({"validate", "/nonexistent/cloud.yaml"});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("/nonexistent/cloud.yaml"));
  r = Cli({"--socket", kNoSocket, "up", "/nonexistent/cloud.yaml"});
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("nothing was changed"));
}

TEST(CliArgs, NoDaemonExits1WithTheMessage) {
  CliRun r = Cli({"--socket", kNoSocket, "status"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "cloudlet: cannot reach the daemon at " + kNoSocket +
                       " (No such file or directory) — start it with `cloudlet daemon --detach`\n");
  // The global option may also follow the command, and the environment sets its default.
  r = Cli({"down", "x.yaml", "--socket", kNoSocket});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr(kNoSocket));
  ::setenv("CLOUDLET_SOCKET", kNoSocket.c_str(), 1);
  r = Cli({"status"});
  ::unsetenv("CLOUDLET_SOCKET");
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr(kNoSocket));
}

TEST(CliArgs, ProjectPathIsAbsoluteAndNormal) {
  EXPECT_EQ(ProjectPath("/a/b/../c.yaml"), "/a/c.yaml");
  std::string rel = ProjectPath("x.yaml");
  EXPECT_EQ(rel, (std::filesystem::current_path() / "x.yaml").string());
}

TEST(Table, HumanNumbers) {
  EXPECT_EQ(HumanCount(0), "0");
  EXPECT_EQ(HumanCount(999), "999");
  EXPECT_EQ(HumanCount(1234), "1.2k");
  EXPECT_EQ(HumanCount(56'000'000), "56M");
  EXPECT_EQ(HumanBytes(512), "512 B");
  EXPECT_EQ(HumanBytes(1536), "1.5 KiB");
  EXPECT_EQ(HumanBytes(3ull << 30), "3.0 GiB");
  EXPECT_EQ(VlanRanges({1, 2, 3, 10, 20, 21}), "1-3,10,20-21");
  EXPECT_EQ(VlanRanges({}), "");
}

TEST(Table, AlignsColumns) {
  TextTable t({"NAME", "PKTS"}, {false, true});
  t.AddRow({"a", "5"});
  t.AddRow({"longer-name", "1.2k"});
  EXPECT_EQ(t.Render("  "),
            "  NAME         PKTS\n"
            "  a               5\n"
            "  longer-name  1.2k\n");
}

TEST(Table, RendersStatusSections) {
  nlohmann::json status = nlohmann::json::parse(R"({
    "switches": [{
      "name": "sw1", "project": "/srv/q.yaml", "max_macs": 8192, "mac_aging_seconds": 300, "mac_count": 1,
      "ports": [
        {"name": "a1", "interface": "clp-1a2b3c4d", "kind": "af_packet", "mode": "access", "vlan": 10, "vlans": [],
         "native_vlan": 0, "tpid": 33024,
         "counters": {"rx_packets": 1500, "rx_bytes": 2048000, "tx_packets": 3, "tx_bytes": 300,
                      "drops": {"malformed": 0, "vlan_not_allowed": 2}}},
        {"name": "trunk1", "interface": "cll-89abcdefa", "kind": "af_packet", "mode": "trunk", "vlan": 0,
         "vlans": [10, 11, 12, 20], "native_vlan": 0, "tpid": 34984,
         "counters": {"rx_packets": 0, "rx_bytes": 0, "tx_packets": 0, "tx_bytes": 0, "drops": {}}}],
      "vlans": [{"id": 10, "name": "tenant-a", "counters": {"packets": 1503, "bytes": 2048300, "flooded": 4, "drops": 2}}],
      "macs": [{"vlan": 10, "mac": "02:00:00:00:00:01", "port": "a1", "age_seconds": 3}]}],
    "endpoints": [{"name": "a1", "project": "/srv/q.yaml", "switch": "sw1", "vlan": 10, "netns": "a1",
                   "interface": "eth0", "host_interface": "clp-1a2b3c4d", "addresses": ["10.10.0.1/24"]}]})");
  std::string t = RenderStatusTable(status);
  EXPECT_THAT(t, HasSubstr("switch sw1  (/srv/q.yaml)  MACs 1/8192, aging 300 s"));
  EXPECT_THAT(t, HasSubstr("clp-1a2b3c4d"));
  EXPECT_THAT(t, HasSubstr("1.5k"));
  EXPECT_THAT(t, HasSubstr("2.0 MiB"));
  EXPECT_THAT(t, HasSubstr("2 (vlan_not_allowed 2)"));
  EXPECT_THAT(t, HasSubstr("10-12,20 0x88a8"));
  EXPECT_THAT(t, HasSubstr("tenant-a"));
  EXPECT_THAT(t, HasSubstr("02:00:00:00:00:01"));
  EXPECT_THAT(t, HasSubstr("10.10.0.1/24"));
  EXPECT_THAT(t, Not(HasSubstr("malformed")));  // zero drop reasons are not listed
  // Every line of a section lines up: the header's columns start where the rows' do.
  std::istringstream lines(t);
  std::string line, header;
  while (std::getline(lines, line)) {
    if (line.find("PORT") != std::string::npos) header = line;
    if (line.find("trunk1") != std::string::npos) {
      EXPECT_EQ(line.find("cll-"), header.find("INTERFACE"));
    }
  }
  EXPECT_EQ(RenderStatusTable({{"switches", nlohmann::json::array()}, {"endpoints", nlohmann::json::array()}}),
            "No switches running. Bring some up with `cloudlet up FILE`.\n");
}

}  // namespace
}  // namespace cloudlet::cli
