#include "oci/runtime_spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace cloudlet::oci {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

// The same document as tests/fuzz/corpus/runtime_spec/rich.json: every section the runtime reads.
constexpr std::string_view kRichSpec = R"json({
  "ociVersion": "1.1.0",
  "process": {
    "terminal": false,
    "consoleSize": {"height": 25, "width": 80},
    "user": {"uid": 1000, "gid": 1000, "umask": 18, "additionalGids": [5, 6]},
    "args": ["/bin/busybox", "sh", "-c", "echo hi"],
    "env": ["PATH=/usr/bin:/bin", "HOME=/root", "EMPTY="],
    "cwd": "/work",
    "capabilities": {
      "bounding": ["CAP_NET_ADMIN", "CAP_CHECKPOINT_RESTORE"],
      "effective": ["CAP_NET_ADMIN"],
      "permitted": ["CAP_NET_ADMIN"],
      "inheritable": ["CAP_CHOWN"],
      "ambient": []
    },
    "rlimits": [
      {"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096},
      {"type": "RLIMIT_CORE", "soft": 0, "hard": 18446744073709551615}
    ],
    "noNewPrivileges": true,
    "apparmorProfile": "unconfined",
    "oomScoreAdj": -500,
    "selinuxLabel": ""
  },
  "root": {"path": "/var/lib/cloudlet/rootfs", "readonly": false},
  "hostname": "box",
  "domainname": "example.test",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/data", "type": "bind", "source": "/srv/data", "options": ["rbind", "rprivate", "ro"]},
    {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=1777"], "uidMappings": []}
  ],
  "hooks": {
    "prestart": [{"path": "/usr/bin/setup-net", "args": ["setup-net", "up"], "env": ["A=1"], "timeout": 5}],
    "createRuntime": [{"path": "/bin/true"}],
    "createContainer": [{"path": "/bin/true"}],
    "startContainer": [{"path": "/bin/true"}],
    "poststart": [{"path": "/bin/true"}],
    "poststop": [{"path": "/bin/true", "timeout": 1}]
  },
  "annotations": {"org.example.key": "value", "io.cloudlet.vlan": "10"},
  "linux": {
    "namespaces": [
      {"type": "pid"}, {"type": "network", "path": "/run/netns/c1"}, {"type": "mount"}, {"type": "ipc"},
      {"type": "uts"}, {"type": "user"}, {"type": "cgroup"}, {"type": "time"}
    ],
    "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
    "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
    "sysctl": {"net.ipv4.ip_forward": "1", "kernel.shm_rmid_forced": "1"},
    "resources": {
      "devices": [
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"},
        {"allow": true, "type": "c", "major": 136, "access": "rwm"}
      ],
      "memory": {"limit": 536870912, "reservation": -1, "swap": -1, "swappiness": 60, "disableOOMKiller": false},
      "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0"},
      "pids": {"limit": 512},
      "blockIO": {},
      "hugepageLimits": [],
      "unified": {}
    },
    "cgroupsPath": "/cloudlet/c1",
    "devices": [
      {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438, "uid": 0, "gid": 0},
      {"path": "/dev/loop0", "type": "b", "major": 7, "minor": 0},
      {"path": "/dev/pipe", "type": "p"}
    ],
    "seccomp": {
      "defaultAction": "SCMP_ACT_ERRNO",
      "defaultErrnoRet": 1,
      "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
      "flags": ["SECCOMP_FILTER_FLAG_LOG"],
      "syscalls": [
        {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}, {"index": 5, "value": 255, "valueTwo": 8, "op": "SCMP_CMP_MASKED_EQ"}]},
        {"names": ["ptrace"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
      ]
    },
    "rootfsPropagation": "rslave",
    "maskedPaths": ["/proc/kcore"],
    "readonlyPaths": ["/proc/sys"],
    "mountLabel": ""
  },
  "vendorExtension": {"ignored": [1, 2, {"deep": true}]}
})json";

json Rich() { return json::parse(kRichSpec); }

// The error ParseSpec gives for `doc`; fails the test when it parses.
std::string ErrorOf(const json& doc) {
  auto spec = ParseSpec(doc.dump());
  EXPECT_FALSE(spec.ok()) << "parsed: " << doc.dump();
  return spec.ok() ? "" : spec.error().message();
}

void ExpectParses(const json& doc) {
  auto spec = ParseSpec(doc.dump());
  EXPECT_TRUE(spec.ok()) << spec.error().message();
}

// A fresh temporary directory, removed with its contents at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "runtime_spec_test.XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data()) ? tmpl : "";
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string RuncPath() {
  for (const char* p : {"/usr/sbin/runc", "/usr/bin/runc"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

TEST(RuntimeSpecTest, RichSpecParsesEveryField) {
  auto spec = ParseSpec(kRichSpec);
  ASSERT_TRUE(spec.ok()) << spec.error().message();
  EXPECT_EQ(spec->oci_version, "1.1.0");
  ASSERT_TRUE(spec->process.has_value());
  const Process& p = *spec->process;
  EXPECT_FALSE(p.terminal);
  ASSERT_TRUE(p.console_size.has_value());
  EXPECT_EQ(p.console_size->width, 80u);
  EXPECT_EQ(p.user.uid, 1000u);
  EXPECT_EQ(p.user.umask, 18u);
  EXPECT_EQ(p.user.additional_gids, (std::vector<uint32_t>{5, 6}));
  EXPECT_EQ(p.args.size(), 4u);
  EXPECT_EQ(p.cwd, "/work");
  ASSERT_TRUE(p.capabilities.has_value());
  EXPECT_EQ(p.capabilities->bounding, (std::vector<std::string>{"CAP_NET_ADMIN", "CAP_CHECKPOINT_RESTORE"}));
  EXPECT_EQ(p.capabilities->inheritable, (std::vector<std::string>{"CAP_CHOWN"}));
  ASSERT_EQ(p.rlimits.size(), 2u);
  EXPECT_EQ(p.rlimits[1].hard, UINT64_MAX);
  EXPECT_TRUE(p.no_new_privileges);
  EXPECT_EQ(p.oom_score_adj, -500);
  EXPECT_EQ(spec->root.path, "/var/lib/cloudlet/rootfs");
  EXPECT_EQ(spec->hostname, "box");
  ASSERT_EQ(spec->mounts.size(), 3u);
  EXPECT_EQ(spec->mounts[1].options, (std::vector<std::string>{"rbind", "rprivate", "ro"}));
  ASSERT_EQ(spec->hooks.prestart.size(), 1u);
  EXPECT_EQ(spec->hooks.prestart[0].timeout, 5);
  EXPECT_EQ(spec->hooks.poststop.size(), 1u);
  EXPECT_EQ(spec->annotations.at("io.cloudlet.vlan"), "10");

  const Linux& l = spec->linux;
  EXPECT_EQ(l.namespaces.size(), 8u);
  ASSERT_NE(l.find(NamespaceType::kNetwork), nullptr);
  EXPECT_EQ(l.find(NamespaceType::kNetwork)->path, "/run/netns/c1");
  EXPECT_TRUE(l.has(NamespaceType::kTime));
  EXPECT_EQ(l.uid_mappings[0].host_id, 100000u);
  EXPECT_EQ(l.sysctl.at("net.ipv4.ip_forward"), "1");
  ASSERT_TRUE(l.resources.has_value());
  ASSERT_EQ(l.resources->devices.size(), 3u);
  EXPECT_EQ(l.resources->devices[0].type, 'a');
  EXPECT_EQ(l.resources->devices[1].minor, 3);
  EXPECT_FALSE(l.resources->devices[2].minor.has_value());
  EXPECT_EQ(l.resources->memory->limit, 536870912);
  EXPECT_EQ(l.resources->memory->swap, -1);
  EXPECT_EQ(l.resources->cpu->cpus, "0-1");
  EXPECT_EQ(l.resources->pids_limit, 512);
  EXPECT_EQ(l.cgroups_path, "/cloudlet/c1");
  ASSERT_EQ(l.devices.size(), 3u);
  EXPECT_EQ(l.devices[0].file_mode, 438u);
  EXPECT_EQ(l.devices[2].type, 'p');
  ASSERT_TRUE(l.seccomp.has_value());
  EXPECT_EQ(l.seccomp->default_action, SeccompAction::kErrno);
  EXPECT_EQ(l.seccomp->default_errno_ret, 1u);
  ASSERT_EQ(l.seccomp->syscalls.size(), 3u);
  EXPECT_EQ(l.seccomp->syscalls[1].args[1].op, SeccompOp::kMaskedEqual);
  EXPECT_EQ(l.seccomp->syscalls[1].args[1].value_two, 8u);
  EXPECT_EQ(l.seccomp->syscalls[2].errno_ret, 38u);
  EXPECT_EQ(l.rootfs_propagation, "rslave");
}

TEST(RuntimeSpecTest, RoundTripKeepsEveryField) {
  auto spec = ParseSpec(kRichSpec);
  ASSERT_TRUE(spec.ok()) << spec.error().message();
  std::string text = SpecToJson(*spec);
  auto back = ParseSpec(text);
  ASSERT_TRUE(back.ok()) << back.error().message() << "\n" << text;
  EXPECT_TRUE(*back == *spec) << text;
  EXPECT_EQ(SpecToJson(*back), text);
}

TEST(RuntimeSpecTest, DefaultSpecRoundTrips) {
  for (bool rootless : {false, true}) {
    Spec spec = DefaultSpec(rootless, 1000, 1001);
    auto back = ParseSpec(SpecToJson(spec));
    ASSERT_TRUE(back.ok()) << back.error().message();
    EXPECT_TRUE(*back == spec) << SpecToJson(spec);
  }
}

TEST(RuntimeSpecTest, DefaultSpecIsRuncsTemplate) {
  Spec spec = DefaultSpec();
  ASSERT_TRUE(spec.process.has_value());
  EXPECT_EQ(spec.process->args, std::vector<std::string>{"sh"});
  EXPECT_TRUE(spec.process->terminal);
  EXPECT_TRUE(spec.process->no_new_privileges);
  ASSERT_EQ(spec.process->rlimits.size(), 1u);
  EXPECT_EQ(spec.process->rlimits[0].type, "RLIMIT_NOFILE");
  EXPECT_EQ(spec.mounts.size(), 7u);
  EXPECT_TRUE(spec.linux.has(NamespaceType::kNetwork));
  EXPECT_FALSE(spec.linux.has(NamespaceType::kUser));
  EXPECT_TRUE(spec.linux.uid_mappings.empty());

  Spec rootless = DefaultSpec(true, 1000, 1001);
  EXPECT_FALSE(rootless.linux.has(NamespaceType::kNetwork));
  EXPECT_TRUE(rootless.linux.has(NamespaceType::kUser));
  ASSERT_EQ(rootless.linux.uid_mappings.size(), 1u);
  EXPECT_EQ(rootless.linux.uid_mappings[0].container_id, 0u);
  EXPECT_EQ(rootless.linux.uid_mappings[0].host_id, 1000u);
  EXPECT_EQ(rootless.linux.gid_mappings[0].host_id, 1001u);
  EXPECT_FALSE(rootless.linux.resources.has_value());
}

// `runc spec` in a temporary bundle; its config.json must parse and equal DefaultSpec (but for ociVersion).
void CheckAgainstRunc(bool rootless) {
  std::string runc = RuncPath();
  if (runc.empty()) GTEST_SKIP() << "runc is not installed";
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  std::string command = "cd '" + dir.path() + "' && " + runc + " spec" + (rootless ? " --rootless" : "");
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  std::string text = ReadFile(dir.path() + "/config.json");
  ASSERT_FALSE(text.empty());
  auto spec = ParseSpec(text);
  ASSERT_TRUE(spec.ok()) << spec.error().message();
  Spec expected = DefaultSpec(rootless, ::geteuid(), ::getegid());
  expected.oci_version = spec->oci_version;
  EXPECT_TRUE(*spec == expected) << "runc:\n" << SpecToJson(*spec) << "\nDefaultSpec:\n" << SpecToJson(expected);
  auto loaded = LoadSpec(dir.path());
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  EXPECT_TRUE(*loaded == *spec);
}

TEST(RuntimeSpecTest, RuncSpecOutputParses) { CheckAgainstRunc(false); }
TEST(RuntimeSpecTest, RuncRootlessSpecOutputParses) { CheckAgainstRunc(true); }

// The fuzz seeds (DefaultSpec's output, a rich spec, the config.json podman 4.3 wrote for `podman create --rootfs`)
// are config.json files from the field: each parses and round-trips.
TEST(RuntimeSpecTest, FuzzSeedsParseAndRoundTrip) {
  const auto dir = std::filesystem::path(__FILE__).parent_path() / "../../fuzz/corpus/runtime_spec";
  if (!std::filesystem::is_directory(dir)) GTEST_SKIP() << "no seeds at " << dir;
  int seeds = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    auto spec = ParseSpec(ReadFile(entry.path().string()));
    ASSERT_TRUE(spec.ok()) << entry.path() << ": " << spec.error().message();
    auto back = ParseSpec(SpecToJson(*spec));
    ASSERT_TRUE(back.ok()) << entry.path() << ": " << back.error().message();
    EXPECT_TRUE(*back == *spec) << entry.path();
    ++seeds;
  }
  EXPECT_GE(seeds, 3);
}

TEST(RuntimeSpecTest, NamespaceNames) {
  EXPECT_EQ(NamespaceName(NamespaceType::kPid), "pid");
  EXPECT_EQ(NamespaceName(NamespaceType::kNetwork), "network");
  EXPECT_EQ(NamespaceName(NamespaceType::kMount), "mount");
  EXPECT_EQ(NamespaceName(NamespaceType::kIpc), "ipc");
  EXPECT_EQ(NamespaceName(NamespaceType::kUts), "uts");
  EXPECT_EQ(NamespaceName(NamespaceType::kUser), "user");
  EXPECT_EQ(NamespaceName(NamespaceType::kCgroup), "cgroup");
  EXPECT_EQ(NamespaceName(NamespaceType::kTime), "time");
  Linux l;
  EXPECT_FALSE(l.has(NamespaceType::kPid));
  EXPECT_EQ(l.find(NamespaceType::kPid), nullptr);
  l.namespaces = {{NamespaceType::kPid, ""}, {NamespaceType::kNetwork, "/run/netns/x"}};
  EXPECT_TRUE(l.has(NamespaceType::kPid));
  EXPECT_EQ(l.find(NamespaceType::kNetwork), &l.namespaces[1]);
  EXPECT_FALSE(l.has(NamespaceType::kUser));
}

TEST(RuntimeSpecTest, UnknownFieldsAndNullsAreIgnored) {
  json doc = Rich();
  doc["process"]["somethingNew"] = {{"x", 1}};
  doc["linux"]["futureField"] = json::array({1, 2, 3});
  doc["windows"] = {{"layerFolders", json::array()}};
  doc["process"]["umask"] = nullptr;
  doc["hooks"]["poststop"] = nullptr;
  ExpectParses(doc);
}

TEST(RuntimeSpecTest, MinimalSpec) {
  auto spec = ParseSpec(R"({"ociVersion": "1.0.0", "root": {"path": "rootfs"}})");
  ASSERT_TRUE(spec.ok()) << spec.error().message();
  EXPECT_FALSE(spec->process.has_value());
  EXPECT_TRUE(spec->mounts.empty());
}

TEST(RuntimeSpecTest, InvalidJson) {
  EXPECT_THAT(ParseSpec("{").error().message(), HasSubstr("invalid config.json"));
  EXPECT_THAT(ParseSpec("").error().message(), HasSubstr("invalid config.json"));
  EXPECT_THAT(ParseSpec("[1]").error().message(), HasSubstr("expected a JSON object, got an array"));
  EXPECT_THAT(ParseSpec("{\"a\": \"\xff\"}").error().message(), HasSubstr("invalid config.json"));
}

TEST(RuntimeSpecTest, DeepNestingIsRefusedNotOverflowed) {
  std::string deep(1 << 20, '[');
  EXPECT_THAT(ParseSpec(deep).error().message(), HasSubstr("nested deeper than"));
  // Brackets inside strings do not count.
  json doc = Rich();
  doc["annotations"]["brackets"] = std::string(1000, '[');
  ExpectParses(doc);
}

TEST(RuntimeSpecTest, TypeErrorsNameThePath) {
  json doc = Rich();
  doc["process"]["terminal"] = "yes";
  EXPECT_THAT(ErrorOf(doc), HasSubstr("process.terminal: expected true or false, got a string"));
  doc = Rich();
  doc["process"]["user"]["uid"] = -1;
  EXPECT_THAT(ErrorOf(doc), HasSubstr("process.user.uid: -1 out of range 0..4294967295"));
  doc = Rich();
  doc["process"]["user"]["gid"] = 4294967296;
  EXPECT_THAT(ErrorOf(doc), HasSubstr("process.user.gid: 4294967296 out of range"));
  doc = Rich();
  doc["process"]["rlimits"][0]["soft"] = 1.5;
  EXPECT_THAT(ErrorOf(doc), HasSubstr("process.rlimits[0].soft: expected an integer, got a non-integer number"));
  doc = Rich();
  doc["mounts"] = {{"destination", "/x"}};
  EXPECT_THAT(ErrorOf(doc), HasSubstr("mounts: expected an array, got an object"));
  doc = Rich();
  doc["process"]["args"][1] = std::string("a\0b", 3);
  EXPECT_THAT(ErrorOf(doc), HasSubstr("process.args[1]: contains a NUL byte"));
  doc = Rich();
  doc["annotations"]["k"] = 5;
  EXPECT_THAT(ErrorOf(doc), HasSubstr("annotations[\"k\"]: expected a string, got an integer"));
}

TEST(RuntimeSpecTest, OciVersion) {
  json doc = Rich();
  doc.erase("ociVersion");
  EXPECT_THAT(ErrorOf(doc), HasSubstr("ociVersion: missing, expected"));
  doc["ociVersion"] = "2.0.0";
  EXPECT_THAT(ErrorOf(doc), HasSubstr("ociVersion: \"2.0.0\" unsupported, expected a runtime-spec 1.x version"));
  doc["ociVersion"] = "10.0.0";
  EXPECT_THAT(ErrorOf(doc), HasSubstr("ociVersion: \"10.0.0\" unsupported"));
  doc["ociVersion"] = "1.2.0-rc.1";
  ExpectParses(doc);
}

TEST(RuntimeSpecTest, Root) {
  json doc = Rich();
  doc.erase("root");
  EXPECT_THAT(ErrorOf(doc), HasSubstr("root: missing"));
  doc["root"] = {{"readonly", true}};
  EXPECT_THAT(ErrorOf(doc), HasSubstr("root.path: missing"));
  doc["root"] = {{"path", ""}};
  EXPECT_THAT(ErrorOf(doc), HasSubstr("root.path: empty"));
}

TEST(RuntimeSpecTest, ProcessArgsCwdEnv) {
  json doc = Rich();
  doc["process"]["args"] = json::array();
  EXPECT_THAT(ErrorOf(doc), HasSubstr("process.args: empty, expected the program to run"));
  doc["process"].erase("args");
  EXPECT_THAT(ErrorOf(doc), HasSubstr("process.args: missing"));
  doc = Rich();
  doc["process"]["cwd"] = "tmp";
  EXPECT_THAT(ErrorOf(doc), HasSubstr("process.cwd: \"tmp\" is not an absolute path"));
  doc = Rich();
  doc["process"]["env"][1] = "HOME";
  EXPECT_THAT(ErrorOf(doc), HasSubstr("process.env[1]: \"HOME\" is not of the form KEY=value"));
  doc["process"]["env"][1] = "=x";
  EXPECT_THAT(ErrorOf(doc), HasSubstr("process.env[1]: \"=x\" is not of the form KEY=value"));
  doc = Rich();
  doc["process"]["oomScoreAdj"] = 1001;
  EXPECT_THAT(ErrorOf(doc), HasSubstr("process.oomScoreAdj: 1001 out of range -1000..1000"));
  doc = Rich();
  doc["process"]["user"]["umask"] = 01000;
  EXPECT_THAT(ErrorOf(doc), HasSubstr("process.user.umask: 512 out of range"));
}

TEST(RuntimeSpecTest, Capabilities) {
  json doc = Rich();
  doc["process"]["capabilities"]["bounding"][1] = "CAP_FOO";
  EXPECT_THAT(ErrorOf(doc), HasSubstr("process.capabilities.bounding[1]: unknown capability \"CAP_FOO\", expected"));
  doc = Rich();
  doc["process"]["capabilities"]["ambient"] = {"CAP_BPF", "CAP_PERFMON", "NET_ADMIN"};
  EXPECT_THAT(ErrorOf(doc), HasSubstr("process.capabilities.ambient[2]: unknown capability \"NET_ADMIN\""));
  doc["process"]["capabilities"]["ambient"] = {"CAP_CHECKPOINT_RESTORE", "CAP_CHOWN"};
  ExpectParses(doc);
}

TEST(RuntimeSpecTest, Rlimits) {
  json doc = Rich();
  doc["process"]["rlimits"][1]["type"] = "RLIMIT_BOGUS";
  EXPECT_THAT(ErrorOf(doc), HasSubstr("process.rlimits[1].type: unknown rlimit \"RLIMIT_BOGUS\", expected one of"));
  doc = Rich();
  doc["process"]["rlimits"][0]["soft"] = 5000;
  EXPECT_THAT(ErrorOf(doc), HasSubstr("process.rlimits[0]: soft limit 5000 exceeds hard limit 4096"));
  doc = Rich();
  doc["process"]["rlimits"][1]["type"] = "RLIMIT_NOFILE";
  EXPECT_THAT(ErrorOf(doc), HasSubstr("process.rlimits[1]: duplicate RLIMIT_NOFILE (also at process.rlimits[0])"));
  doc = Rich();
  doc["process"]["rlimits"][0].erase("hard");
  EXPECT_THAT(ErrorOf(doc), HasSubstr("process.rlimits[0].hard: missing"));
}

TEST(RuntimeSpecTest, Mounts) {
  json doc = Rich();
  doc["mounts"][2]["destination"] = "tmp";
  EXPECT_THAT(ErrorOf(doc), HasSubstr("mounts[2].destination: \"tmp\" is not an absolute path"));
  doc = Rich();
  doc["mounts"][1].erase("destination");
  EXPECT_THAT(ErrorOf(doc), HasSubstr("mounts[1].destination: missing"));
  doc = Rich();
  doc["mounts"][1]["uidMappings"] = {{{"containerID", 0}, {"hostID", 1000}, {"size", 1}}};
  EXPECT_THAT(ErrorOf(doc), HasSubstr("mounts[1].uidMappings: not supported: idmapped mounts"));
  doc = Rich();
  doc["mounts"][0]["gidMappings"] = {{{"containerID", 0}, {"hostID", 1000}, {"size", 1}}};
  EXPECT_THAT(ErrorOf(doc), HasSubstr("mounts[0].gidMappings: not supported"));
}

TEST(RuntimeSpecTest, Namespaces) {
  json doc = Rich();
  doc["linux"]["namespaces"][2]["type"] = "net2";
  EXPECT_THAT(ErrorOf(doc), HasSubstr("linux.namespaces[2].type: unknown namespace \"net2\", expected one of pid, "
                                      "network, mount, ipc, uts, user, cgroup, time"));
  doc = Rich();
  doc["linux"]["namespaces"][4]["type"] = "pid";
  EXPECT_THAT(ErrorOf(doc),
              HasSubstr("linux.namespaces[4].type: duplicate namespace \"pid\" (also at linux.namespaces[0])"));
  doc = Rich();
  doc["linux"]["namespaces"][1]["path"] = "run/netns/c1";
  EXPECT_THAT(ErrorOf(doc), HasSubstr("linux.namespaces[1].path: \"run/netns/c1\" is not an absolute path"));
  doc = Rich();
  doc["linux"]["namespaces"][0].erase("type");
  EXPECT_THAT(ErrorOf(doc), HasSubstr("linux.namespaces[0].type: missing"));
}

TEST(RuntimeSpecTest, UserNamespaceMappings) {
  json doc = Rich();
  doc["linux"]["namespaces"].erase(5);  // the user namespace
  EXPECT_THAT(ErrorOf(doc), HasSubstr("linux.uidMappings: set, but linux.namespaces has no user namespace"));
  doc["linux"].erase("uidMappings");
  EXPECT_THAT(ErrorOf(doc), HasSubstr("linux.gidMappings: set, but linux.namespaces has no user namespace"));
  doc = Rich();
  doc["linux"].erase("uidMappings");
  EXPECT_THAT(ErrorOf(doc), HasSubstr("linux.uidMappings: missing, expected the id mappings of the new user"));
  doc["linux"]["namespaces"][5]["path"] = "/proc/1/ns/user";  // joining one needs no mappings
  ExpectParses(doc);
  doc = Rich();
  doc["linux"]["gidMappings"][0]["size"] = 0;
  EXPECT_THAT(ErrorOf(doc), HasSubstr("linux.gidMappings[0].size: 0, expected at least 1"));
  doc = Rich();
  doc["linux"]["uidMappings"][0]["hostID"] = 4294967295u;
  EXPECT_THAT(ErrorOf(doc), HasSubstr("linux.uidMappings[0]: hostID 4294967295 + size 65536 overflows"));
  doc = Rich();
  doc["linux"]["uidMappings"][0]["containerID"] = 4294967290u;
  EXPECT_THAT(ErrorOf(doc), HasSubstr("linux.uidMappings[0]: containerID 4294967290 + size 65536 overflows"));
  doc = Rich();
  doc["linux"]["uidMappings"][0] = {{"containerID", 0}, {"hostID", 0}, {"size", 4294967295u}};
  ExpectParses(doc);
}

TEST(RuntimeSpecTest, Devices) {
  json doc = Rich();
  doc["linux"]["devices"][0]["type"] = "x";
  EXPECT_THAT(ErrorOf(doc), HasSubstr("linux.devices[0].type: unknown device type \"x\", expected \"c\""));
  doc = Rich();
  doc["linux"]["devices"][1]["path"] = "dev/loop0";
  EXPECT_THAT(ErrorOf(doc), HasSubstr("linux.devices[1].path: \"dev/loop0\" is not an absolute path"));
  doc = Rich();
  doc["linux"]["devices"][1].erase("minor");
  EXPECT_THAT(ErrorOf(doc), HasSubstr("linux.devices[1].minor: missing"));
  doc = Rich();
  doc["linux"]["devices"][0]["major"] = -3;
  EXPECT_THAT(ErrorOf(doc), HasSubstr("linux.devices[0].major: -3 is negative"));
  // A fifo needs no device number.
  doc = Rich();
  doc["linux"]["devices"] = {{{"path", "/dev/fifo"}, {"type", "p"}}};
  ExpectParses(doc);
}

TEST(RuntimeSpecTest, DeviceCgroupRules) {
  json doc = Rich();
  doc["linux"]["resources"]["devices"][1]["type"] = "p";
  EXPECT_THAT(ErrorOf(doc),
              HasSubstr("linux.resources.devices[1].type: unknown device rule type \"p\", expected \"a\" (all)"));
  doc = Rich();
  doc["linux"]["resources"]["devices"][1]["access"] = "rwx";
  EXPECT_THAT(ErrorOf(doc),
              HasSubstr("linux.resources.devices[1].access: \"rwx\" invalid, expected a subset of \"rwm\""));
  doc["linux"]["resources"]["devices"][1]["access"] = "rr";
  EXPECT_THAT(ErrorOf(doc), HasSubstr("linux.resources.devices[1].access: \"rr\" invalid"));
  doc = Rich();
  doc["linux"]["resources"]["devices"][2].erase("allow");
  EXPECT_THAT(ErrorOf(doc), HasSubstr("linux.resources.devices[2].allow: missing"));
  doc = Rich();
  doc["linux"]["resources"]["devices"][2]["minor"] = -1;  // runc's "any"
  auto spec = ParseSpec(doc.dump());
  ASSERT_TRUE(spec.ok()) << spec.error().message();
  EXPECT_FALSE(spec->linux.resources->devices[2].minor.has_value());
}

TEST(RuntimeSpecTest, ResourceLimits) {
  json doc = Rich();
  doc["linux"]["resources"]["memory"] = {{"limit", -1}, {"reservation", -1}, {"swap", -1}};
  ExpectParses(doc);
  doc["linux"]["resources"]["memory"]["swap"] = -2;
  EXPECT_THAT(ErrorOf(doc), HasSubstr("linux.resources.memory.swap: -2, expected bytes >= 0 or -1 (unlimited)"));
  doc = Rich();
  doc["linux"]["resources"]["memory"]["swappiness"] = 101;
  EXPECT_THAT(ErrorOf(doc), HasSubstr("linux.resources.memory.swappiness: 101 out of range 0..100"));
  doc = Rich();
  doc["linux"]["resources"]["cpu"]["cpus"] = "0-a";
  EXPECT_THAT(ErrorOf(doc), HasSubstr("linux.resources.cpu.cpus: \"0-a\" is not a CPU list"));
  doc["linux"]["resources"]["cpu"]["cpus"] = "3-1";
  EXPECT_THAT(ErrorOf(doc), HasSubstr("linux.resources.cpu.cpus: \"3-1\" is not a CPU list"));
  doc["linux"]["resources"]["cpu"]["cpus"] = "0-3,6,8-9";
  ExpectParses(doc);
  doc["linux"]["resources"]["cpu"]["quota"] = -1;
  ExpectParses(doc);
  doc["linux"]["resources"]["pids"] = json::object();
  EXPECT_THAT(ErrorOf(doc), HasSubstr("linux.resources.pids.limit: missing"));
}

TEST(RuntimeSpecTest, Seccomp) {
  json doc = Rich();
  doc["linux"]["seccomp"]["defaultAction"] = "SCMP_ACT_NOPE";
  EXPECT_THAT(
      ErrorOf(doc),
      HasSubstr("linux.seccomp.defaultAction: unknown action \"SCMP_ACT_NOPE\", expected one of SCMP_ACT_KILL"));
  doc = Rich();
  doc["linux"]["seccomp"]["syscalls"][1]["action"] = "ALLOW";
  EXPECT_THAT(ErrorOf(doc), HasSubstr("linux.seccomp.syscalls[1].action: unknown action \"ALLOW\""));
  doc = Rich();
  doc["linux"]["seccomp"]["syscalls"][1]["args"][0]["op"] = "SCMP_CMP_XX";
  EXPECT_THAT(ErrorOf(doc), HasSubstr("linux.seccomp.syscalls[1].args[0].op: unknown operator \"SCMP_CMP_XX\""));
  doc = Rich();
  doc["linux"]["seccomp"]["syscalls"][1]["args"][1]["index"] = 6;
  EXPECT_THAT(ErrorOf(doc), HasSubstr("linux.seccomp.syscalls[1].args[1].index: 6 out of range 0..5"));
  doc = Rich();
  doc["linux"]["seccomp"]["architectures"][2] = "SCMP_ARCH_Z80";
  EXPECT_THAT(ErrorOf(doc),
              HasSubstr("linux.seccomp.architectures[2]: unknown architecture \"SCMP_ARCH_Z80\", expected one of"));
  doc = Rich();
  doc["linux"]["seccomp"]["flags"][0] = "SECCOMP_FILTER_FLAG_NOPE";
  EXPECT_THAT(ErrorOf(doc), HasSubstr("linux.seccomp.flags[0]: unknown flag \"SECCOMP_FILTER_FLAG_NOPE\""));
  doc = Rich();
  doc["linux"]["seccomp"]["syscalls"][0]["errnoRet"] = 1;
  EXPECT_THAT(ErrorOf(doc),
              HasSubstr("linux.seccomp.syscalls[0].errnoRet: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE"));
  doc = Rich();
  doc["linux"]["seccomp"]["syscalls"][0]["names"] = json::array();
  EXPECT_THAT(ErrorOf(doc), HasSubstr("linux.seccomp.syscalls[0].names: empty"));
}

TEST(RuntimeSpecTest, SysctlHooksHostname) {
  json doc = Rich();
  doc["linux"]["sysctl"][""] = "1";
  EXPECT_THAT(ErrorOf(doc), HasSubstr("linux.sysctl: empty key"));
  for (const char* bad : {"net/../../etc/passwd", "net..ipv4", ".net", "net/ipv4/", "a/./b"}) {
    doc = Rich();
    doc["linux"]["sysctl"][bad] = "1";
    EXPECT_THAT(ErrorOf(doc), HasSubstr("linux.sysctl[\"" + std::string(bad) + "\"]: not a sysctl name")) << bad;
  }
  doc = Rich();
  doc["linux"]["sysctl"]["net/ipv4/conf/eth0.1/rp_filter"] = "1";
  doc["linux"]["sysctl"]["fs.mqueue.msg_max"] = "20";
  doc["linux"]["sysctl"]["kernel.hostname"] = "box";
  ExpectParses(doc);
  // runc's rule: never a host sysctl.
  doc = Rich();
  doc["linux"]["sysctl"]["kernel.core_pattern"] = "|/tmp/x";
  EXPECT_THAT(ErrorOf(doc), HasSubstr("linux.sysctl[\"kernel.core_pattern\"]: not namespaced by the kernel"));
  doc = Rich();
  doc["linux"]["namespaces"].erase(1);  // network
  EXPECT_THAT(ErrorOf(doc), HasSubstr("linux.sysctl[\"net.ipv4.ip_forward\"]: needs a network namespace"));
  doc = Rich();
  doc["linux"]["namespaces"].erase(3);  // ipc
  EXPECT_THAT(ErrorOf(doc), HasSubstr("linux.sysctl[\"kernel.shm_rmid_forced\"]: needs an ipc namespace"));
  doc = Rich();
  doc["hooks"]["createRuntime"][0]["path"] = "true";
  EXPECT_THAT(ErrorOf(doc), HasSubstr("hooks.createRuntime[0].path: \"true\" is not an absolute path"));
  doc = Rich();
  doc["hooks"]["poststop"][0]["timeout"] = 0;
  EXPECT_THAT(ErrorOf(doc), HasSubstr("hooks.poststop[0].timeout: 0, expected a number of seconds > 0"));
  doc = Rich();
  doc["linux"]["namespaces"].erase(4);  // uts
  EXPECT_THAT(ErrorOf(doc), HasSubstr("hostname: set, but linux.namespaces has no uts namespace"));
  doc.erase("hostname");
  EXPECT_THAT(ErrorOf(doc), HasSubstr("domainname: set, but linux.namespaces has no uts namespace"));
  doc.erase("domainname");
  ExpectParses(doc);
}

TEST(RuntimeSpecTest, RefusesWhatTheRuntimeCannotApply) {
  struct Case {
    const char* pointer;
    json value;
    const char* message;
  };
  const Case cases[] = {
      {"/process/selinuxLabel", "system_u:system_r:container_t:s0", "process.selinuxLabel: not supported"},
      {"/process/apparmorProfile", "docker-default", "process.apparmorProfile: \"docker-default\" not supported"},
      {"/linux/mountLabel", "system_u:object_r:container_file_t:s0", "linux.mountLabel: not supported"},
      {"/linux/intelRdt", {{"closID", "guaranteed_group"}}, "linux.intelRdt: not supported"},
      {"/linux/resources/blockIO", {{"weight", 10}}, "linux.resources.blockIO: not supported"},
      {"/linux/resources/hugepageLimits",
       {{{"pageSize", "2MB"}, {"limit", 209715200}}},
       "linux.resources.hugepageLimits: not supported"},
      {"/linux/resources/rdma", {{"mlx5_1", {{"hcaHandles", 3}}}}, "linux.resources.rdma: not supported"},
      {"/linux/resources/network", {{"classID", 1048577}}, "linux.resources.network: not supported"},
      {"/linux/timeOffsets", {{"monotonic", {{"secs", 100}}}}, "linux.timeOffsets: not supported"},
  };
  for (const Case& c : cases) {
    json doc = Rich();
    doc[json::json_pointer(c.pointer)] = c.value;
    EXPECT_THAT(ErrorOf(doc), HasSubstr(c.message)) << c.pointer;
  }
  // Empty sections ask for nothing, the time namespace itself is fine, and "unconfined" is no AppArmor.
  json doc = Rich();
  doc["linux"]["resources"]["blockIO"] = {{"weightDevice", json::array()}};
  doc["linux"]["resources"]["network"] = json::object();
  doc["linux"]["timeOffsets"] = json::object();
  doc["linux"]["intelRdt"] = nullptr;
  doc["process"]["apparmorProfile"] = "unconfined";
  ExpectParses(doc);
}

TEST(RuntimeSpecTest, LoadSpecReadsTheBundle) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  auto missing = LoadSpec(dir.path());
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.error().message(), HasSubstr("open " + dir.path() + "/config.json: No such file"));

  WriteFile(dir.path() + "/config.json", std::string(kRichSpec));
  auto spec = LoadSpec(dir.path());
  ASSERT_TRUE(spec.ok()) << spec.error().message();
  EXPECT_EQ(spec->hostname, "box");

  json bad = Rich();
  bad["linux"]["namespaces"][2]["type"] = "net2";
  WriteFile(dir.path() + "/config.json", bad.dump());
  auto invalid = LoadSpec(dir.path());
  ASSERT_FALSE(invalid.ok());
  EXPECT_THAT(invalid.error().message(),
              HasSubstr(dir.path() + "/config.json: linux.namespaces[2].type: unknown namespace \"net2\""));
}

TEST(RuntimeSpecTest, LoadSpecRefusesHugeFiles) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  // Valid JSON padded with whitespace past 4 MiB: refused for its size, not parsed.
  std::string text(kRichSpec);
  text.append((size_t{4} << 20) - text.size() + 1, ' ');
  WriteFile(dir.path() + "/config.json", text);
  auto spec = LoadSpec(dir.path());
  ASSERT_FALSE(spec.ok());
  EXPECT_THAT(spec.error().message(), HasSubstr("config.json: larger than the 4 MiB limit"));
  text.pop_back();  // exactly 4 MiB is fine
  WriteFile(dir.path() + "/config.json", text);
  auto at_limit = LoadSpec(dir.path());
  EXPECT_TRUE(at_limit.ok()) << at_limit.error().message();
}

}  // namespace
}  // namespace cloudlet::oci
