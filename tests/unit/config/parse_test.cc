// ParseConfig/LoadConfig: the quickstart parses, and each validation rule rejects with "FILE:LINE: FIELD: message".
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "config/config.h"

namespace cloudlet {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string QuickstartPath() {
  return (std::filesystem::path(__FILE__).parent_path() / "../../../examples/quickstart.yaml").lexically_normal();
}

// Parses `yaml` as "t.yaml" and returns the error message ("" if it parsed).
std::string ErrorOf(const std::string& yaml) {
  auto result = ParseConfig(yaml, "t.yaml");
  return result.ok() ? "" : result.error().message();
}

// Valid prefix shared by many tests: VLANs 10 and 20 and switches sw1, sw2 (lines 1-7).
const std::string kBase =
    "vlans:\n"         // 1
    "  - id: 10\n"     // 2
    "  - id: 20\n"     // 3
    "switches:\n"      // 4
    "  - name: sw1\n"  // 5
    "  - name: sw2\n"  // 6
    "endpoints:\n";    // 7

TEST(ParseConfig, QuickstartParses) {
  auto config = LoadConfig(QuickstartPath());
  ASSERT_TRUE(config.ok()) << config.error().message();
  ASSERT_EQ(config->vlans.size(), 2u);
  EXPECT_EQ(config->vlans[0].id, 10);
  EXPECT_EQ(config->vlans[1].name, "tenant-b");
  ASSERT_EQ(config->switches.size(), 2u);
  EXPECT_EQ(config->switches[0].name, "sw1");
  EXPECT_EQ(config->switches[0].mac_aging_seconds, 300u);
  EXPECT_EQ(config->switches[1].name, "sw2");
  ASSERT_EQ(config->links.size(), 1u);
  EXPECT_EQ(config->links[0].a, "sw1");
  EXPECT_EQ(config->links[0].b, "sw2");
  EXPECT_EQ(config->links[0].vlans, (std::vector<uint16_t>{10, 20}));
  ASSERT_EQ(config->endpoints.size(), 4u);
  const EndpointDecl& a2 = config->endpoints[1];
  EXPECT_EQ(a2.name, "a2");
  EXPECT_EQ(a2.switch_name, "sw2");
  EXPECT_EQ(a2.vlan, 10);
  EXPECT_EQ(a2.netns, "a2");  // defaults to the endpoint's name
  EXPECT_EQ(a2.interface, "eth0");
  EXPECT_EQ(a2.addresses, (std::vector<std::string>{"10.10.0.2/24"}));
  EXPECT_EQ(config->endpoints[3].vlan, 20);
  EXPECT_EQ(config->source, QuickstartPath());
  EXPECT_EQ(a2.loc.file, QuickstartPath());
  EXPECT_GT(a2.loc.line, 0);
}

TEST(ParseConfig, FullSchemaParses) {
  auto config = ParseConfig(
      "version: 1\n"
      "vlans:\n"
      "  - {id: 1}\n"
      "  - {id: 10, name: tenant-a}\n"
      "  - {id: 20}\n"
      "  - {id: 100}\n"
      "  - {id: 101}\n"
      "  - {id: 102}\n"
      "switches:\n"
      "  - name: sw1\n"
      "    max_macs: 4096\n"
      "    port_max_macs: 512\n"
      "    mac_aging: 300s\n"
      "    ports:\n"
      "      - {name: uplink, interface: eth1, mode: trunk, vlans: [1, 10, \"100-102\"], native_vlan: 1, "
      "tpid: 802.1ad, max_macs: 256}\n"
      "      - {name: vm1, tap: tap-vm1, vlan: 10}\n"
      "      - {name: cust, interface: eth2, mode: dot1q-tunnel, vlan: 20}\n"
      "  - {name: sw2, mac_aging: 1h}\n"
      "  - {name: sw3, mac_aging: 60}\n"
      "links:\n"
      "  - {name: l1, between: [sw1, sw2], vlans: [10, 20], native_vlan: 0, tpid: 802.1q}\n"
      "endpoints:\n"
      "  - name: a1\n"
      "    switch: sw2\n"
      "    vlan: 10\n"
      "    netns: tenant-a\n"
      "    interface: net0\n"
      "    addresses: [10.10.0.1/24, \"fd00:10::1/64\"]\n"
      "    gateway: 10.10.0.254\n"
      "    mac: \"02:00:00:00:00:01\"\n"
      "    mtu: 9000\n",
      "full.yaml");
  ASSERT_TRUE(config.ok()) << config.error().message();
  const SwitchDecl& sw1 = config->switches[0];
  EXPECT_EQ(sw1.max_macs, 4096u);
  EXPECT_EQ(sw1.port_max_macs, 512u);
  EXPECT_EQ(sw1.mac_aging_seconds, 300u);
  EXPECT_EQ(config->switches[1].mac_aging_seconds, 3600u);
  EXPECT_EQ(config->switches[2].mac_aging_seconds, 60u);
  ASSERT_EQ(sw1.ports.size(), 3u);
  const PortDecl& uplink = sw1.ports[0];
  EXPECT_EQ(uplink.mode, PortModeDecl::kTrunk);
  EXPECT_EQ(uplink.vlans, (std::vector<uint16_t>{1, 10, 100, 101, 102}));
  EXPECT_EQ(uplink.native_vlan, 1);
  EXPECT_EQ(uplink.tpid, config_tpid::k8021AD);
  EXPECT_EQ(uplink.max_macs, 256u);
  EXPECT_EQ(uplink.loc.line, 15);
  EXPECT_EQ(sw1.ports[1].tap, "tap-vm1");
  EXPECT_EQ(sw1.ports[1].mode, PortModeDecl::kAccess);
  EXPECT_FALSE(sw1.ports[1].max_macs.has_value());
  EXPECT_EQ(sw1.ports[2].mode, PortModeDecl::kDot1qTunnel);
  EXPECT_EQ(sw1.ports[2].vlan, 20);
  const EndpointDecl& a1 = config->endpoints[0];
  EXPECT_EQ(a1.netns, "tenant-a");
  EXPECT_EQ(a1.interface, "net0");
  EXPECT_EQ(a1.gateway, "10.10.0.254");
  EXPECT_EQ(a1.mac, "02:00:00:00:00:01");
  EXPECT_EQ(a1.mtu, 9000u);
  EXPECT_EQ(a1.loc.line, 23);
  EXPECT_EQ(a1.loc.line_of("mtu"), 31);
}

TEST(LoadConfig, MissingFileNamesTheFile) {
  auto config = LoadConfig("quickstart-does-not-exist.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().message(), "quickstart-does-not-exist.yaml: No such file or directory");
}

TEST(LoadConfig, DirectoryIsAClearError) {
  auto config = LoadConfig("/");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().message(), "/: Is a directory");
}

TEST(ParseConfig, EmptyDocument) {
  for (const char* text : {"", "\n\n", "# just a comment\n", "---\n"}) {
    EXPECT_THAT(ErrorOf(text), HasSubstr("t.yaml: configuration is empty")) << "input: " << text;
  }
}

TEST(ParseConfig, SyntaxErrorNamesLine) {
  EXPECT_THAT(ErrorOf("vlans:\n  - id: 10\n  - id: [20\n"), HasSubstr("t.yaml:4: syntax error:"));
  EXPECT_THAT(ErrorOf("vlans:\n  - id: 10\n   bad: : :\n"), HasSubstr("t.yaml:3: syntax error:"));
}

TEST(ParseConfig, StrayCommaIsASyntaxError) {
  // yaml-cpp's parser stops advancing on this input; it must end as an error, not loop.
  EXPECT_EQ(ErrorOf(",version: 0unamekn"), "t.yaml:1: syntax error: unexpected ','");
  EXPECT_THAT(ErrorOf("vlans: []\n,x"), HasSubstr("t.yaml:2: syntax error: "));
  EXPECT_THAT(ErrorOf("vlans: []\n---\n,x\n"), HasSubstr("t.yaml:3: syntax error: unexpected ','"));
}

TEST(ParseConfig, TopLevelMustBeAMapping) {
  EXPECT_THAT(ErrorOf("just text\n"), HasSubstr("t.yaml:1: expected a mapping (key: value lines), got 'just text'"));
  EXPECT_THAT(ErrorOf("- 1\n- 2\n"), HasSubstr("t.yaml:1: expected a mapping"));
}

TEST(ParseConfig, MultipleDocumentsRejected) {
  EXPECT_THAT(ErrorOf("vlans: []\n---\nswitches: []\n"), HasSubstr("t.yaml:2: found several YAML documents"));
  EXPECT_TRUE(ParseConfig("vlans: []\n---\n", "t.yaml").ok());  // a trailing empty document is harmless
}

TEST(ParseConfig, OnlyVersionOneAccepted) {
  EXPECT_THAT(ErrorOf("version: 2\n"), HasSubstr("t.yaml:1: version: unsupported version '2'"));
  EXPECT_TRUE(ParseConfig("version: 1\nvlans: []\n", "t.yaml").ok());
}

TEST(ParseConfig, UnknownKeysAtEveryLevelWithSuggestion) {
  EXPECT_THAT(ErrorOf("vlan:\n  - id: 10\n"), HasSubstr("t.yaml:1: vlan: unknown key (did you mean 'vlans'?)"));
  EXPECT_THAT(ErrorOf("vlans:\n  - id: 10\n    nmae: x\n"),
              HasSubstr("t.yaml:3: vlans[0].nmae: unknown key (did you mean 'name'?)"));
  EXPECT_THAT(ErrorOf(kBase + "links:\n  - name: l1\n    betwen: [sw1, sw2]\n    vlans: [10]\n"),
              HasSubstr("t.yaml:10: links[0].betwen: unknown key (did you mean 'between'?)"));
  EXPECT_THAT(ErrorOf("vlans: [{id: 10}]\nswitches:\n  - name: sw1\n    mac_agin: 300\n"),
              HasSubstr("t.yaml:4: switches[0].mac_agin: unknown key (did you mean 'mac_aging'?)"));
  EXPECT_THAT(ErrorOf("vlans: [{id: 10}]\nswitches:\n  - name: sw1\n    ports:\n      - name: p\n        tap: t1\n"
                      "        vlna: 10\n"),
              HasSubstr("t.yaml:7: switches[0].ports[0].vlna: unknown key (did you mean 'vlan'?)"));
  EXPECT_THAT(ErrorOf("vlans: [{id: 10}]\nswitches: [{name: sw1}]\nendpoints:\n  - name: a1\n    switch: sw1\n"
                      "    vlan: 10\n    colour: blue\n"),
              HasSubstr("t.yaml:7: endpoints[0].colour: unknown key"));
}

TEST(ParseConfig, DuplicateKeyInAMapping) {
  EXPECT_THAT(ErrorOf("vlans:\n  - id: 10\n    id: 11\n"),
              HasSubstr("t.yaml:3: vlans[0].id: duplicate key (first at line 2)"));
}

TEST(ParseConfig, WrongTypes) {
  EXPECT_THAT(ErrorOf("switches: sw1\n"), HasSubstr("t.yaml:1: switches: expected a list"));
  EXPECT_THAT(ErrorOf("switches:\n  - name: [sw1]\n"),
              HasSubstr("t.yaml:2: switches[0].name: expected a string, got a list"));
  EXPECT_THAT(ErrorOf("vlans:\n  - id: ten\n"), HasSubstr("t.yaml:2: vlans[0].id: expected an integer, got 'ten'"));
  EXPECT_THAT(ErrorOf("vlans:\n  - id: 10.5\n"), HasSubstr("t.yaml:2: vlans[0].id: expected an integer, got '10.5'"));
  EXPECT_THAT(ErrorOf("vlans:\n  - 10\n"),
              HasSubstr("t.yaml:2: vlans[0]: expected a mapping (key: value lines), got '10'"));
  EXPECT_THAT(ErrorOf(kBase + "links:\n  - name: l1\n    between: sw1\n    vlans: [10]\n"),
              HasSubstr("t.yaml:10: links[0].between: expected the two switches this link joins, e.g. [sw1, sw2]"));
  EXPECT_THAT(ErrorOf("vlans: [{id: 10}]\nswitches: [{name: sw1}]\nendpoints:\n  - {name: a1, switch: sw1, vlan: 10, "
                      "addresses: 10.0.0.1/24}\n"),
              HasSubstr("t.yaml:4: endpoints[0].addresses: expected a list"));
  EXPECT_THAT(ErrorOf("vlans: [{id: 10}]\nswitches:\n  - name: sw1\n    mac_aging: soon\n"),
              HasSubstr("t.yaml:4: switches[0].mac_aging: expected seconds (300) or a duration"));
}

TEST(ParseConfig, VlanIdOutOfRange) {
  EXPECT_THAT(ErrorOf("vlans:\n  - id: 10\n  - id: 20\n  - id: 4095\n"),
              HasSubstr("t.yaml:4: vlans[2].id: 4095 out of range 1-4094"));
  EXPECT_THAT(ErrorOf("vlans:\n  - id: 0\n"), HasSubstr("t.yaml:2: vlans[0].id: 0 out of range 1-4094"));
  EXPECT_THAT(ErrorOf("vlans:\n  - id: -3\n"), HasSubstr("t.yaml:2: vlans[0].id: -3 out of range 1-4094"));
  EXPECT_THAT(ErrorOf("vlans:\n  - id: 99999999999999999999999\n"),
              HasSubstr("t.yaml:2: vlans[0].id: 99999999999999999999999 out of range"));
  EXPECT_THAT(ErrorOf("vlans:\n  - name: x\n"), HasSubstr("t.yaml:2: vlans[0].id: required"));
  EXPECT_THAT(ErrorOf(kBase + "  - {name: a1, switch: sw1, vlan: 0}\n"),
              HasSubstr("t.yaml:8: endpoints[0].vlan: 0 out of range 1-4094"));
}

TEST(ParseConfig, UndeclaredVlans) {
  EXPECT_THAT(ErrorOf(kBase + "  - {name: a1, switch: sw1, vlan: 30}\n"),
              HasSubstr("t.yaml:8: endpoints[0].vlan: vlan 30 is not declared under vlans:"));
  std::string trunk =
      "vlans: [{id: 10}, {id: 100}]\n"
      "switches:\n"
      "  - name: sw1\n"
      "    ports:\n"
      "      - name: up\n"
      "        interface: eth1\n"
      "        mode: trunk\n"
      "        vlans: [10, \"100-110\"]\n";
  EXPECT_THAT(ErrorOf(trunk),
              HasSubstr("t.yaml:8: switches[0].ports[0].vlans: vlan(s) 101-110 not declared under vlans:"));
  EXPECT_THAT(ErrorOf(kBase + "links:\n  - {name: l1, between: [sw1, sw2], vlans: [10, 30]}\n"),
              HasSubstr("t.yaml:9: links[0].vlans: vlan(s) 30 not declared under vlans:"));
}

TEST(ParseConfig, VlanListRanges) {
  std::string yaml =
      "vlans: [{id: 10}, {id: 11}, {id: 12}]\n"
      "switches: [{name: sw1}, {name: sw2}]\n"
      "links:\n"
      "  - {name: l1, between: [sw1, sw2], vlans: [\"12-10\"]}\n";
  EXPECT_THAT(ErrorOf(yaml), HasSubstr("t.yaml:4: links[0].vlans[0]: range 12-10 must be ascending within 1-4094"));
  EXPECT_THAT(ErrorOf("vlans: [{id: 10}]\nswitches: [{name: sw1}, {name: sw2}]\n"
                      "links:\n  - {name: l1, between: [sw1, sw2], vlans: [10, 10]}\n"),
              HasSubstr("t.yaml:4: links[0].vlans: vlan(s) 10 listed more than once"));
  EXPECT_THAT(ErrorOf("vlans: [{id: 10}]\nswitches: [{name: sw1}, {name: sw2}]\n"
                      "links:\n  - {name: l1, between: [sw1, sw2], vlans: [10, 5000]}\n"),
              HasSubstr("t.yaml:4: links[0].vlans[1]: 5000 out of range 1-4094"));
}

TEST(ParseConfig, DuplicateVlanIdAndName) {
  EXPECT_THAT(ErrorOf("vlans:\n  - id: 10\n  - id: 10\n"),
              HasSubstr("t.yaml:3: vlans[1].id: vlan 10 already declared (line 2)"));
  EXPECT_THAT(ErrorOf("vlans:\n  - {id: 10, name: t}\n  - {id: 11, name: t}\n"),
              HasSubstr("t.yaml:3: vlans[1].name: vlan name 't' already used (line 2)"));
}

TEST(ParseConfig, DuplicateSwitchPortLinkEndpointNames) {
  EXPECT_THAT(ErrorOf("switches:\n  - name: sw1\n  - name: sw1\n"),
              HasSubstr("t.yaml:3: switches[1].name: switch 'sw1' already declared (line 2)"));
  EXPECT_THAT(ErrorOf("vlans: [{id: 10}]\nswitches:\n  - name: sw1\n    ports:\n      - {name: p, tap: t1, vlan: 10}\n"
                      "      - {name: p, tap: t2, vlan: 10}\n"),
              HasSubstr("t.yaml:6: switches[0].ports[1].name: port 'p' already declared on switch 'sw1' (line 5)"));
  EXPECT_THAT(ErrorOf(kBase + "links:\n  - {name: l1, between: [sw1, sw2], vlans: [10]}\n"
                              "  - {name: l1, between: [sw1, sw2], vlans: [20]}\n"),
              HasSubstr("t.yaml:10: links[1].name: link 'l1' already declared (line 9)"));
  EXPECT_THAT(ErrorOf(kBase + "  - {name: a1, switch: sw1, vlan: 10}\n  - {name: a1, switch: sw2, vlan: 10}\n"),
              HasSubstr("t.yaml:9: endpoints[1].name: endpoint 'a1' already declared (line 8)"));
}

TEST(ParseConfig, PortNameClashesWithLinkOrEndpoint) {
  std::string yaml =
      "vlans: [{id: 10}]\n"
      "switches:\n"
      "  - name: sw1\n"
      "    ports:\n"
      "      - {name: a1, tap: t1, vlan: 10}\n"
      "      - {name: l1, tap: t2, vlan: 10}\n"
      "  - name: sw2\n"
      "links:\n"
      "  - {name: l1, between: [sw1, sw2], vlans: [10]}\n"
      "endpoints:\n"
      "  - {name: a1, switch: sw1, vlan: 10}\n"
      "  - {name: l1, switch: sw2, vlan: 10}\n";
  std::string error = ErrorOf(yaml);
  EXPECT_THAT(error,
              HasSubstr("t.yaml:5: switches[0].ports[0].name: port name 'a1' clashes with endpoint 'a1' (line 11)"));
  EXPECT_THAT(error, HasSubstr("t.yaml:6: switches[0].ports[1].name: port name 'l1' clashes with link 'l1' (line 9)"));
  EXPECT_THAT(error, HasSubstr("t.yaml:12: endpoints[1].name: endpoint 'l1' adds a port named 'l1' to switch 'sw2', "
                               "which clashes with link 'l1' (line 9)"));
  // The same endpoint name on another switch is fine: ports are per switch.
  EXPECT_TRUE(ParseConfig("vlans: [{id: 10}]\nswitches:\n  - name: sw1\n    ports: [{name: a1, tap: t1, vlan: 10}]\n"
                          "  - name: sw2\nendpoints: [{name: a1, switch: sw2, vlan: 10}]\n",
                          "t.yaml")
                  .ok());
}

TEST(ParseConfig, HostInterfaceOrTapUsedTwice) {
  std::string yaml =
      "vlans: [{id: 10}]\n"
      "switches:\n"
      "  - name: sw1\n"
      "    ports: [{name: up, interface: eth1, vlan: 10}, {name: vm, tap: tap1, vlan: 10}]\n"
      "  - name: sw2\n"
      "    ports:\n"
      "      - {name: up, interface: eth1, vlan: 10}\n"
      "      - {name: vm, tap: tap1, vlan: 10}\n"
      "      - {name: x, tap: eth1, vlan: 10}\n";
  std::string error = ErrorOf(yaml);
  EXPECT_THAT(error,
              HasSubstr("t.yaml:7: switches[1].ports[0].interface: 'eth1' is already used by "
                        "switches[0].ports[0] (line 4); an interface can belong to one port of one switch only"));
  EXPECT_THAT(error, HasSubstr("t.yaml:8: switches[1].ports[1].tap: 'tap1' is already used by switches[0].ports[1]"));
  EXPECT_THAT(error, HasSubstr("t.yaml:9: switches[1].ports[2].tap: 'eth1' is already used by switches[0].ports[0]"));
}

TEST(ParseConfig, PortNeedsExactlyOneDevice) {
  EXPECT_THAT(ErrorOf("vlans: [{id: 10}]\nswitches:\n  - name: sw1\n    ports:\n      - {name: p, vlan: 10}\n"),
              HasSubstr("t.yaml:5: switches[0].ports[0]: a port needs interface:"));
  EXPECT_THAT(
      ErrorOf("vlans: [{id: 10}]\nswitches:\n  - name: sw1\n    ports:\n      - name: p\n        interface: eth1\n"
              "        tap: t1\n        vlan: 10\n"),
      HasSubstr("t.yaml:7: switches[0].ports[0].tap: interface and tap are exclusive"));
}

TEST(ParseConfig, LinkEnds) {
  EXPECT_THAT(ErrorOf(kBase + "links:\n  - {name: l1, between: [sw1, sw1], vlans: [10]}\n"),
              HasSubstr("t.yaml:9: links[0].between: a link cannot join switch 'sw1' to itself"));
  EXPECT_THAT(
      ErrorOf(kBase + "links:\n  - {name: l1, between: [sw1, sw3], vlans: [10]}\n"),
      HasSubstr("t.yaml:9: links[0].between: unknown switch 'sw3' (did you mean 'sw1'?); declared: 'sw1', 'sw2'"));
  EXPECT_THAT(ErrorOf(kBase + "links:\n  - {name: l1, vlans: [10]}\n"),
              HasSubstr("t.yaml:9: links[0].between: required"));
  EXPECT_THAT(ErrorOf(kBase + "links:\n  - {name: l1, between: [sw1, sw2]}\n"),
              HasSubstr("t.yaml:9: links[0].vlans: required"));
}

TEST(ParseConfig, LinksMustNotFormALoop) {
  std::string yaml =
      "vlans: [{id: 10}, {id: 20}]\n"
      "switches: [{name: sw1}, {name: sw2}, {name: sw3}]\n"
      "links:\n"
      "  - {name: l12, between: [sw1, sw2], vlans: [10, 20]}\n"
      "  - {name: l23, between: [sw2, sw3], vlans: [10, 20]}\n"
      "  - {name: l31, between: [sw3, sw1], vlans: [10]}\n";
  EXPECT_THAT(ErrorOf(yaml), HasSubstr("t.yaml:6: links[2].between: link 'l31' closes a loop for vlan(s) 10"));
  // Disjoint VLAN sets on parallel links do not loop.
  EXPECT_TRUE(ParseConfig("vlans: [{id: 10}, {id: 20}]\nswitches: [{name: sw1}, {name: sw2}]\nlinks:\n"
                          "  - {name: l1, between: [sw1, sw2], vlans: [10]}\n"
                          "  - {name: l2, between: [sw2, sw1], vlans: [20]}\n",
                          "t.yaml")
                  .ok());
}

TEST(ParseConfig, EndpointOnUnknownSwitch) {
  EXPECT_THAT(ErrorOf(kBase + "  - {name: a1, switch: core, vlan: 10}\n"),
              HasSubstr("t.yaml:8: endpoints[0].switch: unknown switch 'core'; declared: 'sw1', 'sw2'"));
  EXPECT_THAT(ErrorOf(kBase + "  - {name: a1, vlan: 10}\n"), HasSubstr("t.yaml:8: endpoints[0].switch: required"));
}

TEST(ParseConfig, EndpointsSharingNetnsAndInterface) {
  std::string yaml = kBase +
                     "  - {name: a1, switch: sw1, vlan: 10, netns: shared}\n"
                     "  - {name: a2, switch: sw2, vlan: 20, netns: shared}\n";
  EXPECT_THAT(ErrorOf(yaml),
              HasSubstr("t.yaml:9: endpoints[1].interface: interface 'eth0' in netns 'shared' is already "
                        "used by endpoints[0] (line 8)"));
  // Different interfaces in one namespace are fine (a multi-homed workload), and the default netns is the name.
  EXPECT_TRUE(ParseConfig(kBase + "  - {name: a1, switch: sw1, vlan: 10, netns: shared}\n"
                                  "  - {name: a2, switch: sw2, vlan: 20, netns: shared, interface: eth1}\n",
                          "t.yaml")
                  .ok());
  EXPECT_THAT(
      ErrorOf(kBase + "  - {name: a1, switch: sw1, vlan: 10}\n  - {name: a2, switch: sw2, vlan: 20, netns: a1}\n"),
      HasSubstr("t.yaml:9: endpoints[1].interface: interface 'eth0' in netns 'a1' is already used"));
}

std::string OnePort(const std::string& port_body) {
  return "vlans: [{id: 1}, {id: 10}, {id: 20}]\n"  // 1
         "switches:\n"                             // 2
         "  - name: sw1\n"                         // 3
         "    ports:\n"                            // 4
         "      - name: p\n"                       // 5
         "        interface: eth1\n" +             // 6
         port_body;                                // 7...
}

TEST(ParseConfig, TrunkSettingsOnAccessPort) {
  std::string error =
      ErrorOf(OnePort("        vlan: 10\n        vlans: [20]\n        native_vlan: 1\n        tpid: 802.1q\n"));
  EXPECT_THAT(error, HasSubstr("t.yaml:8: switches[0].ports[0].vlans: is a trunk setting, not allowed on a port in "
                               "access mode (use vlan:)"));
  EXPECT_THAT(error, HasSubstr("t.yaml:9: switches[0].ports[0].native_vlan: is a trunk setting"));
  EXPECT_THAT(error, HasSubstr("t.yaml:10: switches[0].ports[0].tpid: is a trunk setting"));
  EXPECT_THAT(
      ErrorOf(OnePort("        mode: dot1q-tunnel\n        vlan: 10\n        vlans: [20]\n")),
      HasSubstr(
          "t.yaml:9: switches[0].ports[0].vlans: is a trunk setting, not allowed on a port in dot1q-tunnel mode"));
}

TEST(ParseConfig, AccessSettingsOnTrunk) {
  EXPECT_THAT(ErrorOf(OnePort("        mode: trunk\n        vlans: [10]\n        vlan: 10\n")),
              HasSubstr("t.yaml:9: switches[0].ports[0].vlan: is an access setting; a trunk port takes vlans:"));
  EXPECT_THAT(ErrorOf(OnePort("        mode: trunk\n")), HasSubstr("t.yaml:5: switches[0].ports[0].vlans: required"));
}

TEST(ParseConfig, AccessAndTunnelPortsNeedAVlan) {
  EXPECT_THAT(ErrorOf(OnePort("")), HasSubstr("t.yaml:5: switches[0].ports[0].vlan: required"));
  EXPECT_THAT(ErrorOf(OnePort("        mode: dot1q-tunnel\n")),
              HasSubstr("t.yaml:5: switches[0].ports[0].vlan: required"));
}

TEST(ParseConfig, UnknownModeAndTpid) {
  std::string error = ErrorOf(OnePort("        mode: truk\n        vlans: [10]\n"));
  EXPECT_THAT(error, HasSubstr("t.yaml:7: switches[0].ports[0].mode: unknown mode 'truk' (did you mean 'trunk'?)"));
  EXPECT_THAT(error, Not(HasSubstr("trunk setting")));  // no cascade from the unknown mode
  EXPECT_THAT(ErrorOf(OnePort("        mode: trunk\n        vlans: [10]\n        tpid: 0x9100\n")),
              HasSubstr("t.yaml:9: switches[0].ports[0].tpid: unknown tpid '0x9100'"));
}

TEST(ParseConfig, NativeVlanMustBeInTheTrunk) {
  EXPECT_THAT(
      ErrorOf(OnePort("        mode: trunk\n        vlans: [10, 20]\n        native_vlan: 1\n")),
      HasSubstr("t.yaml:9: switches[0].ports[0].native_vlan: native vlan 1 is not in this trunk's vlans (10, 20)"));
  EXPECT_THAT(ErrorOf(OnePort("        mode: trunk\n        vlans: [10, 20]\n        native_vlan: 4095\n")),
              HasSubstr("t.yaml:9: switches[0].ports[0].native_vlan: 4095 out of range 0-4094"));
  EXPECT_TRUE(
      ParseConfig(OnePort("        mode: trunk\n        vlans: [1, 10]\n        native_vlan: 1\n"), "t.yaml").ok());
}

TEST(ParseConfig, InvalidNames) {
  EXPECT_THAT(ErrorOf("switches:\n  - name: SW1\n"),
              HasSubstr("t.yaml:2: switches[0].name: 'SW1' is not a valid name"));
  EXPECT_THAT(ErrorOf("switches:\n  - name: a-very-long-switch-name\n"),
              HasSubstr("t.yaml:2: switches[0].name: 'a-very-long-switch-name' is longer than 15 characters"));
  EXPECT_THAT(ErrorOf("switches:\n  - name: -sw\n"), HasSubstr("switches[0].name: '-sw' is not a valid name"));
  EXPECT_THAT(ErrorOf("switches:\n  - {}\n"), HasSubstr("t.yaml:2: switches[0].name: required"));
  EXPECT_THAT(ErrorOf("vlans:\n  - {id: 10, name: \"a b\"}\n"),
              HasSubstr("t.yaml:2: vlans[0].name: 'a b' is not valid"));
  EXPECT_THAT(ErrorOf(kBase + "  - {name: a1, switch: sw1, vlan: 10, netns: \"../etc\"}\n"),
              HasSubstr("t.yaml:8: endpoints[0].netns: '../etc' is not valid"));
}

TEST(ParseConfig, InvalidKernelInterfaceNames) {
  EXPECT_THAT(ErrorOf(OnePort("").replace(OnePort("").find("eth1"), 4, "eth1/2") + "        vlan: 10\n"),
              HasSubstr("t.yaml:6: switches[0].ports[0].interface: 'eth1/2' is not a valid interface name"));
  EXPECT_THAT(ErrorOf(OnePort("").replace(OnePort("").find("eth1"), 4, "\"eth 1\"") + "        vlan: 10\n"),
              HasSubstr("t.yaml:6: switches[0].ports[0].interface: 'eth 1' is not a valid interface name"));
  EXPECT_THAT(ErrorOf(OnePort("").replace(OnePort("").find("eth1"), 4, "enp0s31f6-long-x") + "        vlan: 10\n"),
              HasSubstr("t.yaml:6: switches[0].ports[0].interface: 'enp0s31f6-long-x' is longer than 15 characters"));
  EXPECT_THAT(ErrorOf(kBase + "  - {name: a1, switch: sw1, vlan: 10, interface: \"a:b\"}\n"),
              HasSubstr("t.yaml:8: endpoints[0].interface: 'a:b' is not a valid interface name"));
}

TEST(ParseConfig, InvalidAddresses) {
  auto endpoint = [](const std::string& fields) {
    return kBase + "  - name: a1\n    switch: sw1\n    vlan: 10\n" + fields;  // fields start at line 11
  };
  EXPECT_THAT(ErrorOf(endpoint("    addresses: [10.0.0.300/24]\n")),
              HasSubstr("t.yaml:11: endpoints[0].addresses: '10.0.0.300/24' is not a valid IPv4 or IPv6 address"));
  EXPECT_THAT(ErrorOf(endpoint("    addresses: [10.0.0.1]\n")),
              HasSubstr("t.yaml:11: endpoints[0].addresses: '10.0.0.1' has no prefix length"));
  EXPECT_THAT(ErrorOf(endpoint("    addresses: [10.0.0.1/33]\n")),
              HasSubstr("t.yaml:11: endpoints[0].addresses: '10.0.0.1/33' has an invalid prefix length (0-32)"));
  EXPECT_THAT(ErrorOf(endpoint("    addresses: [\"fd00::1/129\"]\n")), HasSubstr("invalid prefix length (0-128)"));
  EXPECT_THAT(ErrorOf(endpoint("    addresses: [10.0.0.1/24]\n    gateway: fd00::1\n")),
              HasSubstr("t.yaml:12: endpoints[0].gateway: 'fd00::1' is an IPv6 gateway but the endpoint has no address "
                        "of that family"));
  EXPECT_THAT(ErrorOf(endpoint("    addresses: [10.0.0.1/24]\n    gateway: 10.0.1.1\n")),
              HasSubstr("t.yaml:12: endpoints[0].gateway: '10.0.1.1' is not inside any subnet"));
  EXPECT_THAT(ErrorOf(endpoint("    gateway: 10.0.1.1\n")), HasSubstr("t.yaml:11: endpoints[0].gateway:"));
  EXPECT_THAT(ErrorOf(endpoint("    addresses: [10.0.0.1/24]\n    gateway: router\n")),
              HasSubstr("t.yaml:12: endpoints[0].gateway: 'router' is not a valid IPv4 or IPv6 address"));
  EXPECT_TRUE(
      ParseConfig(endpoint("    addresses: [\"fd00:10::1/64\", 10.0.0.1/24]\n    gateway: \"fd00:10::fe\"\n"), "t.yaml")
          .ok());
}

TEST(ParseConfig, InvalidMac) {
  auto endpoint = [](const std::string& mac) {
    return kBase + "  - name: a1\n    switch: sw1\n    vlan: 10\n    mac: \"" + mac + "\"\n";
  };
  EXPECT_THAT(ErrorOf(endpoint("02:00:00:00:00")),
              HasSubstr("t.yaml:11: endpoints[0].mac: '02:00:00:00:00' is not a MAC"));
  EXPECT_THAT(ErrorOf(endpoint("02:00:00:00:00:zz")), HasSubstr("is not a MAC address"));
  EXPECT_THAT(ErrorOf(endpoint("01:00:5e:00:00:01")),
              HasSubstr("t.yaml:11: endpoints[0].mac: '01:00:5e:00:00:01' is a multicast address"));
  EXPECT_THAT(ErrorOf(endpoint("00:00:00:00:00:00")), HasSubstr("not a usable address"));
  EXPECT_TRUE(ParseConfig(endpoint("02:AB:cd:00:00:01"), "t.yaml").ok());
}

TEST(ParseConfig, NumericRanges) {
  EXPECT_THAT(ErrorOf(kBase + "  - {name: a1, switch: sw1, vlan: 10, mtu: 100}\n"),
              HasSubstr("t.yaml:8: endpoints[0].mtu: 100 out of range 576-9000"));
  EXPECT_THAT(ErrorOf("switches:\n  - name: sw1\n    max_macs: 0\n"),
              HasSubstr("t.yaml:3: switches[0].max_macs: 0 out of range 1-1048576"));
  EXPECT_THAT(ErrorOf("switches:\n  - name: sw1\n    port_max_macs: 2000000\n"),
              HasSubstr("t.yaml:3: switches[0].port_max_macs: 2000000 out of range 1-1048576"));
  EXPECT_THAT(ErrorOf("switches:\n  - name: sw1\n    mac_aging: 5s\n"),
              HasSubstr("t.yaml:3: switches[0].mac_aging: 5s out of range 10-1000000 seconds"));
  EXPECT_THAT(ErrorOf("switches:\n  - name: sw1\n    mac_aging: 9\n"),
              HasSubstr("t.yaml:3: switches[0].mac_aging: 9 out of range 10-1000000"));
  EXPECT_THAT(ErrorOf(OnePort("        vlan: 10\n        max_macs: 0\n")),
              HasSubstr("t.yaml:8: switches[0].ports[0].max_macs: 0 out of range 1-1048576"));
}

TEST(ParseConfig, AllProblemsListedInLineOrderAndNothingAccepted) {
  std::string yaml =
      "vlans:\n"
      "  - id: 4095\n"  // 2
      "switches:\n"
      "  - name: SW1\n"  // 4
      "endpoints:\n"
      "  - {name: a1, switch: nowhere, vlan: 10, mtu: 1}\n";  // 6
  auto result = ParseConfig(yaml, "t.yaml");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().message(),
            "t.yaml:2: vlans[0].id: 4095 out of range 1-4094\n"
            "t.yaml:4: switches[0].name: 'SW1' is not a valid name: use lowercase letters, digits and '-', starting "
            "with a letter or digit\n"
            "t.yaml:6: endpoints[0].mtu: 1 out of range 576-9000\n"
            "t.yaml:6: endpoints[0].switch: unknown switch 'nowhere'; declared: 'SW1'\n"
            "t.yaml:6: endpoints[0].vlan: vlan 10 is not declared under vlans:");
}

TEST(ParseConfig, ProblemListIsCapped) {
  std::string yaml = "vlans:\n";
  for (int i = 0; i < 50; ++i) yaml += "  - id: 5000\n";
  std::string error = ErrorOf(yaml);
  EXPECT_EQ(std::count(error.begin(), error.end(), '\n'), 20);  // 20 problems, then the summary line
  EXPECT_THAT(error, HasSubstr("\n... and 30 more problem(s)"));
}

TEST(ParseConfig, HostileInputIsBounded) {
  EXPECT_THAT(ErrorOf(std::string(200, '[')), HasSubstr("t.yaml:1: syntax error: nesting too deep"));
  std::string deep_block;
  for (int i = 0; i < 300; ++i) deep_block += "- ";
  EXPECT_THAT(ErrorOf(deep_block + "x\n"), HasSubstr("nesting too deep"));
  EXPECT_THAT(ErrorOf(std::string(config_limits::kMaxFileBytes + 1, ' ')), HasSubstr("a configuration is at most"));
  // Aliases reusing a large list: the reader's work stays bounded.
  std::string aliases = "x: &v [";
  for (int i = 0; i < 1000; ++i) aliases += "1,";
  aliases += "1]\nvlans:\n";
  for (int i = 0; i < 2000; ++i) aliases += "  - {id: *v}\n";
  EXPECT_FALSE(ParseConfig(aliases, "t.yaml").ok());
  // Too many entries in a table.
  std::string switches = "switches:\n";
  for (int i = 0; i < 70; ++i) switches += "  - name: s" + std::to_string(i) + "\n";
  EXPECT_THAT(ErrorOf(switches), HasSubstr("t.yaml:1: switches: 70 entries, at most 64 allowed"));
}

TEST(ParseConfig, ControlCharactersAreNotEchoed) {
  std::string error = ErrorOf("switches:\n  - name: \"a\\x1b[31mb\"\n");
  EXPECT_THAT(error, HasSubstr("t.yaml:2: switches[0].name:"));
  EXPECT_EQ(error.find('\x1b'), std::string::npos);
}

}  // namespace
}  // namespace cloudlet
