// The vpns: section: parsing, every model check (FILE:LINE: field errors), the JSON form, and the host checks of
// key files (exists, a key, mode 0600).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "config/config.h"

namespace cloudlet {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kKeyA = "ykYzvRgFPgq330YgCjBgTJrD2E7dGHL0p6uXMtRILwI=";
const std::string kKeyB = "mAOoEEe9VClAVLBMC1xnZCMKialCk66YFph2MHo1Pwc=";
const std::string kPrivate = "sK256RFq2HHTeJRcLPW+keD0/A4No+pbh/W88GvmdXg=";

// Lines 1-18; the vpn starts at line 9, its first peer at line 15.
std::string Yaml(const std::string& vpn_extra = "", const std::string& peer_extra = "", const std::string& more = "") {
  return "vlans:\n"                                                           // 1
         "  - id: 10\n"                                                       // 2
         "switches:\n"                                                        // 3
         "  - name: sw1\n"                                                    // 4
         "endpoints:\n"                                                       // 5
         "  - {name: web, switch: sw1, vlan: 10, addresses: [10.0.10.5/24],"  // 6
         " gateway: 10.0.10.254}\n"                                           //
         "vpns:\n"                                                            // 7
         "  # remote users\n"                                                 // 8
         "  - name: remote\n"                                                 // 9
         "    listen_port: 51820\n"                                           // 10
         "    private_key_file: /etc/cloudlet/remote.key\n"                   // 11
         "    address: 10.99.0.1/24\n"                                        // 12
         "    attach: {switch: sw1, vlan: 10, address: 10.0.10.254/24}\n"     // 13
         + vpn_extra +
         "    peers:\n"           // 14
         "      - name: alice\n"  // 15
         "        public_key: " +
         kKeyA +
         "\n"                                     // 16
         "        allowed_ips: [10.99.0.2/32]\n"  // 17
         + peer_extra + more;
}

std::string ErrorOf(const std::string& yaml) {
  auto result = ParseConfig(yaml, "t.yaml");
  return result.ok() ? "" : result.error().message();
}

TEST(VpnConfig, FullVpnParses) {
  auto cfg =
      ParseConfig(Yaml("    mtu: 1380\n",
                       "        endpoint: 203.0.113.5:51820\n"
                       "        persistent_keepalive: 25\n"
                       "        preshared_key_file: /etc/cloudlet/alice.psk\n",
                       "      - {name: bob, public_key: " + kKeyB +
                           ", allowed_ips: [10.99.0.3/32, 192.168.7.0/24], endpoint: \"[2001:db8::1]:51820\"}\n"),
                  "t.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.error().message();
  ASSERT_EQ(cfg->vpns.size(), 1u);
  const VpnDecl& v = cfg->vpns[0];
  EXPECT_EQ(v.name, "remote");
  EXPECT_EQ(v.listen_port, 51820u);
  EXPECT_EQ(v.private_key_file, "/etc/cloudlet/remote.key");
  EXPECT_EQ(v.address, "10.99.0.1/24");
  EXPECT_EQ(v.mtu, 1380u);
  EXPECT_EQ(v.attach.switch_name, "sw1");
  EXPECT_EQ(v.attach.vlan, 10);
  EXPECT_EQ(v.attach.address, "10.0.10.254/24");
  EXPECT_EQ(v.loc.line, 9);
  ASSERT_EQ(v.peers.size(), 2u);
  EXPECT_EQ(v.peers[0].endpoint, "203.0.113.5:51820");
  EXPECT_EQ(v.peers[0].persistent_keepalive, 25u);
  EXPECT_EQ(v.peers[0].preshared_key_file, "/etc/cloudlet/alice.psk");
  EXPECT_EQ(v.peers[1].allowed_ips.size(), 2u);

  auto back = FromJson(ToJson(*cfg));
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(*back, *cfg);
}

TEST(VpnConfig, JsonHasPathsNeverKeys) {
  auto cfg = ParseConfig(Yaml(), "t.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.error().message();
  std::string json = ToJson(*cfg).dump();
  EXPECT_THAT(json, HasSubstr("\"private_key_file\":\"/etc/cloudlet/remote.key\""));
  EXPECT_THAT(json, Not(HasSubstr("\"private_key\"")));
  // Configs without VPNs keep their recorded form.
  auto plain = ParseConfig("vlans: [{id: 10}]\nswitches: [{name: sw1}]\n", "p.yaml");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(ToJson(*plain).contains("vpns"));
}

TEST(VpnConfig, JsonRejectsUnknownKeys) {
  auto cfg = ParseConfig(Yaml(), "t.yaml");
  ASSERT_TRUE(cfg.ok());
  auto j = ToJson(*cfg);
  j["vpns"][0]["peers"][0]["private_key"] = kPrivate;
  auto back = FromJson(j);
  ASSERT_FALSE(back.ok());
  EXPECT_THAT(back.error().message(), HasSubstr("vpns[0].peers[0].private_key: unknown key"));
}

TEST(VpnConfig, UnknownKeysNameTheLine) {
  EXPECT_THAT(ErrorOf(Yaml("    listen_prot: 1\n")), HasSubstr("t.yaml:14: vpns[0].listen_prot: unknown key (did you "
                                                               "mean 'listen_port'?)"));
  EXPECT_THAT(ErrorOf(Yaml("", "        endpont: 1.2.3.4:5\n")),
              HasSubstr("t.yaml:18: vpns[0].peers[0].endpont: unknown key (did you mean 'endpoint'?)"));
  std::string attach = Yaml();
  attach.replace(attach.find("address: 10.0.10.254/24}"), 8, "adress: ");
  EXPECT_THAT(ErrorOf(attach), HasSubstr("t.yaml:13: vpns[0].attach.adress: unknown key"));
}

TEST(VpnConfig, RequiredFields) {
  std::string e = ErrorOf("vlans: [{id: 10}]\nswitches: [{name: sw1}]\nvpns:\n  - name: v\n");
  EXPECT_THAT(e, HasSubstr("t.yaml:4: vpns[0].listen_port: required"));
  EXPECT_THAT(e, HasSubstr("vpns[0].private_key_file: required"));
  EXPECT_THAT(e, HasSubstr("vpns[0].address: required"));
  EXPECT_THAT(e, HasSubstr("vpns[0].attach: required"));
}

TEST(VpnConfig, BadValues) {
  EXPECT_THAT(ErrorOf(Yaml("", "", "        public_key: x\n")), HasSubstr("duplicate key"));
  std::string bad_key = Yaml();
  bad_key.replace(bad_key.find(kKeyA), kKeyA.size(), "not-a-key");
  EXPECT_THAT(ErrorOf(bad_key),
              HasSubstr("t.yaml:16: vpns[0].peers[0].public_key: not a WireGuard key: expected 44 base64 characters"));
  std::string port = Yaml();
  port.replace(port.find("51820"), 5, "70000");
  EXPECT_THAT(ErrorOf(port), HasSubstr("t.yaml:10: vpns[0].listen_port: 70000 out of range 1-65535"));
  std::string rel = Yaml();
  rel.replace(rel.find("/etc/cloudlet/remote.key"), 24, "remote.key");
  EXPECT_THAT(ErrorOf(rel), HasSubstr("t.yaml:11: vpns[0].private_key_file: 'remote.key' must be an absolute path"));
  std::string addr = Yaml();
  addr.replace(addr.find("10.99.0.1/24"), 12, "10.99.0.1/33");
  EXPECT_THAT(ErrorOf(addr), HasSubstr("t.yaml:12: vpns[0].address: '10.99.0.1/33' has an invalid prefix length"));
  EXPECT_THAT(ErrorOf(Yaml("", "        endpoint: 2001:db8::1:51820\n")),
              HasSubstr("t.yaml:18: vpns[0].peers[0].endpoint: '2001:db8::1:51820' is not IP:PORT"));
  EXPECT_THAT(ErrorOf(Yaml("", "        allowed_ips: [10.99.0.2]\n")), HasSubstr("duplicate key"));
  std::string ips = Yaml();
  ips.replace(ips.find("[10.99.0.2/32]"), 14, "[10.99.0.2]");
  EXPECT_THAT(ErrorOf(ips), HasSubstr("t.yaml:17: vpns[0].peers[0].allowed_ips: '10.99.0.2' has no prefix length"));
}

TEST(VpnConfig, AttachMustReferToDeclaredSwitchAndVlan) {
  EXPECT_THAT(ErrorOf(Yaml("    attach: {switch: sw9, vlan: 10, address: 10.0.10.254/24}\n")),
              HasSubstr("vpns[0].attach: duplicate key"));
  std::string sw = Yaml();
  sw.replace(sw.find("attach: {switch: sw1, vlan: 10"), 30, "attach: {switch: sw9, vlan: 20");
  std::string e = ErrorOf(sw);
  EXPECT_THAT(e, HasSubstr("t.yaml:13: vpns[0].attach.switch: unknown switch 'sw9'"));
  EXPECT_THAT(e, HasSubstr("t.yaml:13: vpns[0].attach.vlan: vlan 20 is not declared under vlans:"));
}

TEST(VpnConfig, AddressFamiliesAndOverlaps) {
  std::string fam = Yaml();
  fam.replace(fam.find("10.0.10.254/24}"), 15, "\"fd00::fe/64\"}");
  EXPECT_THAT(ErrorOf(fam), HasSubstr("vpns[0].attach.address: 'fd00::fe/64' and the vpn's address '10.99.0.1/24' "
                                      "must be of one family"));
  std::string inside = Yaml();
  inside.replace(inside.find("10.0.10.254/24}"), 15, "10.99.0.254/24}");
  EXPECT_THAT(ErrorOf(inside), HasSubstr("overlaps the vpn's tunnel subnet"));
  EXPECT_THAT(
      ErrorOf(Yaml("", "", "      - {name: bob, public_key: " + kKeyB + ", allowed_ips: [\"fd00::2/128\"]}\n")),
      HasSubstr("t.yaml:18: vpns[0].peers[1].allowed_ips: 'fd00::2/128' is IPv6 but the vpn's address is IPv4"));
  EXPECT_THAT(ErrorOf(Yaml("", "", "      - {name: bob, public_key: " + kKeyB + ", allowed_ips: [10.99.0.0/24]}\n")),
              HasSubstr("t.yaml:18: vpns[0].peers[1].allowed_ips: '10.99.0.0/24' overlaps '10.99.0.2/32' of peer "
                        "'alice' (line 17)"));
}

TEST(VpnConfig, Duplicates) {
  EXPECT_THAT(ErrorOf(Yaml("", "", "      - {name: alice, public_key: " + kKeyA + ", allowed_ips: [10.99.0.3/32]}\n")),
              testing::AllOf(HasSubstr("t.yaml:18: vpns[0].peers[1].name: peer 'alice' already declared (line 15)"),
                             HasSubstr("vpns[0].peers[1].public_key: public key already used by another peer")));
  std::string two = Yaml("", "",
                         "  - name: remote\n"
                         "    listen_port: 51820\n"
                         "    private_key_file: /k\n"
                         "    address: 10.98.0.1/24\n"
                         "    attach: {switch: sw1, vlan: 10, address: 10.0.10.253/24}\n");
  std::string e = ErrorOf(two);
  EXPECT_THAT(e, HasSubstr("t.yaml:18: vpns[1].name: vpn 'remote' already declared (line 9)"));
  EXPECT_THAT(e, HasSubstr("t.yaml:19: vpns[1].listen_port: port 51820 already used by another vpn (line 10)"));
  std::string clash = Yaml();
  clash.replace(clash.find("name: remote"), 12, "name: web");
  EXPECT_THAT(ErrorOf(clash), HasSubstr("vpn 'web' adds a port named 'web' to switch 'sw1', which clashes with "
                                        "endpoint 'web'"));
}

class KeyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "cloudlet-keys-XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text, mode_t mode) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
    return path;
  }
  CloudConfig WithKeys(const std::string& key, const std::string& psk) {
    std::string yaml = Yaml("", "        preshared_key_file: " + psk + "\n");
    yaml.replace(yaml.find("/etc/cloudlet/remote.key"), 24, key);
    auto cfg = ParseConfig(yaml, "t.yaml");
    EXPECT_TRUE(cfg.ok()) << cfg.error().message();
    return cfg.ok() ? *cfg : CloudConfig{};
  }
  std::string dir_;
};

class NoInterfaces final : public HostProbe {
 public:
  bool interface_exists(const std::string&) const override { return false; }
};

TEST_F(KeyFileTest, GoodFilesPass) {
  auto cfg = WithKeys(Write("k", kPrivate + "\n", 0600), Write("p", kPrivate, 0400));
  auto st = ValidateHost(cfg, NoInterfaces());
  EXPECT_TRUE(st.ok()) << st.message();
}

TEST_F(KeyFileTest, ProblemsNameFileLineAndFix) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads unreadable files; the mode and content checks still run below";
  auto cfg = WithKeys(Write("k", kPrivate, 0000), dir_ + "/missing");
  std::string e = ValidateHost(cfg, NoInterfaces()).message();
  EXPECT_THAT(e, HasSubstr("Permission denied"));
  EXPECT_THAT(e, HasSubstr("No such file or directory"));
}

TEST_F(KeyFileTest, ModeAndContentAreChecked) {
  auto cfg = WithKeys(Write("k", kPrivate, 0644), Write("p", "secret-ish text that is not a key", 0600));
  std::string e = ValidateHost(cfg, NoInterfaces()).message();
  EXPECT_THAT(e, HasSubstr("t.yaml:11: vpns[0].private_key_file: " + dir_ +
                           "/k: readable by group/others (mode "
                           "0644): chmod 600 " +
                           dir_ + "/k"));
  EXPECT_THAT(e, HasSubstr("t.yaml:18: vpns[0].peers[0].preshared_key_file: " + dir_ + "/p: not a WireGuard key"));
  EXPECT_THAT(e, Not(HasSubstr("secret-ish")));
  auto missing = WithKeys(dir_ + "/nope", Write("p2", kPrivate, 0600));
  EXPECT_THAT(ValidateHost(missing, NoInterfaces()).message(),
              HasSubstr("vpns[0].private_key_file: " + dir_ + "/nope: No such file or directory"));
}

}  // namespace
}  // namespace cloudlet
