// ToJson/FromJson (the CLI -> daemon form: lossless, re-validated) and ValidateHost (host interfaces exist).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <string>

#include "config/config.h"

namespace cloudlet {
namespace {

using ::testing::HasSubstr;

const char* kRichYaml =
    "version: 1\n"
    "vlans:\n"
    "  - {id: 1}\n"
    "  - {id: 10, name: tenant-a}\n"
    "  - {id: 20}\n"
    "switches:\n"
    "  - name: sw1\n"
    "    max_macs: 4096\n"
    "    mac_aging: 2m\n"
    "    ports:\n"
    "      - {name: uplink, interface: eth1, mode: trunk, vlans: [1, 10, 20], native_vlan: 1, tpid: 802.1ad}\n"
    "      - {name: vm1, tap: tap-vm1, vlan: 10, max_macs: 16}\n"  // line 12
    "      - {name: cust, interface: eth2, mode: dot1q-tunnel, vlan: 20}\n"
    "  - name: sw2\n"
    "links:\n"
    "  - {name: l1, between: [sw1, sw2], vlans: [10, 20]}\n"
    "endpoints:\n"
    "  - name: a1\n"
    "    switch: sw2\n"
    "    vlan: 10\n"
    "    addresses: [10.10.0.1/24, \"fd00:10::1/64\"]\n"
    "    gateway: 10.10.0.254\n"
    "    mac: \"02:00:00:00:00:01\"\n"
    "    mtu: 1400\n"
    "    container:\n"  // line 25
    "      image: busybox:latest\n"
    "      command: [sleep, \"60\"]\n"
    "      env: {MODE: test}\n"
    "      user: \"1000\"\n"
    "      memory: 64Mi\n"
    "      cpus: 0.25\n"
    "      mounts: [{source: /srv/data, target: /data, read_only: true}]\n";

CloudConfig Rich() {
  auto config = ParseConfig(kRichYaml, "rich.yaml");
  EXPECT_TRUE(config.ok()) << config.error().message();
  return config.ok() ? *config : CloudConfig{};
}

TEST(ConfigJson, RoundTripIsExact) {
  CloudConfig config = Rich();
  nlohmann::json json = ToJson(config);
  auto back = FromJson(json);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_TRUE(*back == config);
  EXPECT_EQ(ToJson(*back), json);
  // SourceLoc survives, field lines included.
  EXPECT_EQ(back->switches[0].ports[1].loc.file, "rich.yaml");
  EXPECT_EQ(back->switches[0].ports[1].loc.line, 12);
  EXPECT_EQ(back->endpoints[0].loc.line_of("mtu"), 24);
  EXPECT_EQ(back->switches[0].ports[1].max_macs, 16u);
  ASSERT_TRUE(back->endpoints[0].container.has_value());
  EXPECT_EQ(back->endpoints[0].container->loc.line_of("memory"), 30);
  EXPECT_EQ(back->endpoints[0].container->mounts[0].loc.line, 32);
  EXPECT_EQ(back->endpoints[0].container->hostname, "a1");
  EXPECT_FALSE(back->endpoints[0].container->gid.has_value());
  EXPECT_FALSE(back->switches[0].ports[0].max_macs.has_value());
  // Through text too, as it travels.
  auto reparsed = FromJson(nlohmann::json::parse(json.dump()));
  ASSERT_TRUE(reparsed.ok()) << reparsed.error().message();
  EXPECT_TRUE(*reparsed == config);
}

TEST(ConfigJson, QuickstartRoundTrips) {
  auto path = (std::filesystem::path(__FILE__).parent_path() / "../../../examples/quickstart.yaml").lexically_normal();
  auto config = LoadConfig(path);
  ASSERT_TRUE(config.ok()) << config.error().message();
  auto back = FromJson(ToJson(*config));
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_TRUE(*back == *config);
}

TEST(ConfigJson, JsonShapeIsReadable) {
  nlohmann::json json = ToJson(Rich());
  EXPECT_EQ(json["version"], 1);
  EXPECT_EQ(json["source"], "rich.yaml");
  EXPECT_EQ(json["switches"][0]["ports"][0]["mode"], "trunk");
  EXPECT_EQ(json["switches"][0]["ports"][0]["tpid"], 0x88a8);
  EXPECT_EQ(json["links"][0]["between"], nlohmann::json::array({"sw1", "sw2"}));
  EXPECT_EQ(json["endpoints"][0]["netns"], "a1");
  EXPECT_EQ(json["endpoints"][0]["container"]["memory_bytes"], 64 << 20);
  EXPECT_EQ(json["endpoints"][0]["container"]["nano_cpus"], 250000000);
  EXPECT_EQ(json["endpoints"][0]["container"]["restart"], "no");
}

TEST(ConfigJson, FromJsonRevalidatesWithYamlLocations) {
  nlohmann::json json = ToJson(Rich());
  json["vlans"][1]["id"] = 4095;
  auto result = FromJson(json);
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.error().message(), HasSubstr("rich.yaml:4: vlans[1].id: 4095 out of range 1-4094"));
  // The endpoint and ports on VLAN 10 now reference an undeclared VLAN: reported at their lines.
  EXPECT_THAT(result.error().message(), HasSubstr("rich.yaml:20: endpoints[0].vlan: vlan 10 is not declared"));

  json = ToJson(Rich());
  json["endpoints"][0]["switch"] = "sw9";
  EXPECT_THAT(FromJson(json).error().message(), HasSubstr("rich.yaml:19: endpoints[0].switch: unknown switch 'sw9'"));

  json = ToJson(Rich());
  json["switches"][0]["ports"][0]["tpid"] = 0x9100;
  EXPECT_THAT(FromJson(json).error().message(),
              HasSubstr("rich.yaml:11: switches[0].ports[0].tpid: 0x9100 is not supported"));
}

TEST(ConfigJson, FromJsonRejectsUnknownKeysAndWrongTypes) {
  nlohmann::json json = ToJson(Rich());
  json["switches"][0]["colour"] = "blue";
  EXPECT_THAT(FromJson(json).error().message(), HasSubstr("rich.yaml:7: switches[0].colour: unknown key"));

  json = ToJson(Rich());
  json["endpoints"][0]["mtu"] = "big";
  EXPECT_THAT(FromJson(json).error().message(),
              HasSubstr("rich.yaml:18: endpoints[0].mtu: expected a non-negative integer, got string"));

  json = ToJson(Rich());
  json["endpoints"][0]["vlan"] = -1;
  EXPECT_THAT(FromJson(json).error().message(),
              HasSubstr("endpoints[0].vlan: expected a non-negative integer, got -1"));

  json = ToJson(Rich());
  json["vlans"][0]["id"] = 70000;
  EXPECT_THAT(FromJson(json).error().message(), HasSubstr("rich.yaml:3: vlans[0].id: 70000 out of range 0-65535"));

  json = ToJson(Rich());
  json["switches"][0]["ports"][0]["mode"] = "hybrid";
  EXPECT_THAT(FromJson(json).error().message(), HasSubstr("switches[0].ports[0].mode: unknown mode"));

  json = ToJson(Rich());
  json["switches"][0]["loc"]["fields"]["bogus"] = 3;
  EXPECT_THAT(FromJson(json).error().message(), HasSubstr("switches[0].loc.fields.bogus: unknown key"));

  EXPECT_THAT(FromJson(nlohmann::json::array()).error().message(), HasSubstr("<json>: expected an object, got array"));
  EXPECT_THAT(FromJson(nlohmann::json{{"version", 2}}).error().message(), HasSubstr("version: unsupported version"));
  EXPECT_THAT(FromJson(nlohmann::json{{"vlans", 3}}).error().message(), HasSubstr("vlans: expected an array"));

  nlohmann::json many = nlohmann::json{{"switches", nlohmann::json::array()}};
  for (int i = 0; i < 100; ++i) many["switches"].push_back({{"name", "s" + std::to_string(i)}});
  EXPECT_THAT(FromJson(many).error().message(), HasSubstr("switches: 100 entries, at most 64 allowed"));
}

TEST(ConfigJson, MinimalJsonGetsDefaults) {
  auto config = FromJson(nlohmann::json::parse(R"({
    "vlans": [{"id": 10}],
    "switches": [{"name": "sw1"}],
    "endpoints": [{"name": "e1", "switch": "sw1", "vlan": 10}]
  })"));
  ASSERT_TRUE(config.ok()) << config.error().message();
  EXPECT_EQ(config->endpoints[0].netns, "e1");
  EXPECT_EQ(config->endpoints[0].interface, "eth0");
  EXPECT_EQ(config->switches[0].max_macs, 8192u);
}

TEST(ValidateConfig, CodeBuiltConfigsAreChecked) {
  CloudConfig config;
  config.switches.push_back(SwitchDecl{.name = "sw1"});
  config.switches.push_back(SwitchDecl{.name = "sw1"});
  auto status = ValidateConfig(config);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.message(), "<config>: switches[1].name: switch 'sw1' already declared");
}

class FakeHost : public HostProbe {
 public:
  explicit FakeHost(std::set<std::string> interfaces) : interfaces_(std::move(interfaces)) {}
  bool interface_exists(const std::string& name) const override { return interfaces_.count(name) != 0; }

 private:
  std::set<std::string> interfaces_;
};

TEST(ValidateHost, MissingHostInterfacesAreReported) {
  CloudConfig config = Rich();
  auto status = ValidateHost(config, FakeHost({"eth1"}));
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.message(),
            "rich.yaml:13: switches[0].ports[2].interface: host interface 'eth2' does not exist (see `ip link`)");
  // TAPs, and the veths of endpoints and links, are created by cloudlet: never checked.
  EXPECT_TRUE(ValidateHost(config, FakeHost({"eth1", "eth2"})).ok());
}

TEST(ValidateHost, SystemProbeSeesLoopback) {
  SystemHostProbe host;
  EXPECT_TRUE(host.interface_exists("lo"));
  EXPECT_FALSE(host.interface_exists("cl-nonexistent"));
  EXPECT_FALSE(host.interface_exists(std::string(40, 'x')));
}

}  // namespace
}  // namespace cloudlet
