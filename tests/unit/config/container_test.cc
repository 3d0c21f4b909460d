// endpoints[].container: the example parses, every value is checked with "FILE:LINE: FIELD: message", a container
// owns its network namespace, and the JSON form round-trips exactly.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "config/config.h"

namespace cloudlet {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string ExamplePath() {
  return (std::filesystem::path(__FILE__).parent_path() / "../../../examples/containers.yaml").lexically_normal();
}

std::string ErrorOf(const std::string& yaml) {
  auto result = ParseConfig(yaml, "t.yaml");
  return result.ok() ? "" : result.error().message();
}

// One endpoint c1 with a container; `body` continues the container block from line 12 (6 spaces of indentation).
std::string WithContainer(const std::string& body) {
  return "vlans:\n"                       // 1
         "  - {id: 10}\n"                 // 2
         "  - {id: 20}\n"                 // 3
         "switches:\n"                    // 4
         "  - name: sw1\n"                // 5
         "endpoints:\n"                   // 6
         "  - name: c1\n"                 // 7
         "    switch: sw1\n"              // 8
         "    vlan: 10\n"                 // 9
         "    container:\n"               // 10
         "      image: busybox:latest\n"  // 11
         + body;                          // 12...
}

// The container of c1, parsed from WithContainer(body); fails the test if the config is rejected.
ContainerDecl Parsed(const std::string& body) {
  auto config = ParseConfig(WithContainer(body), "t.yaml");
  EXPECT_TRUE(config.ok()) << config.error().message();
  if (!config.ok() || !config->endpoints[0].container) return {};
  return *config->endpoints[0].container;
}

TEST(ContainerConfig, ExampleParses) {
  auto config = LoadConfig(ExamplePath());
  ASSERT_TRUE(config.ok()) << config.error().message();
  ASSERT_EQ(config->endpoints.size(), 3u);
  for (const EndpointDecl& e : config->endpoints) {
    ASSERT_TRUE(e.container.has_value()) << e.name;
    EXPECT_EQ(e.container->image, "busybox:latest");
    EXPECT_EQ(e.netns, e.name);
  }
  EXPECT_EQ(config->endpoints[0].vlan, 10);
  EXPECT_EQ(config->endpoints[1].vlan, 10);
  EXPECT_EQ(config->endpoints[2].vlan, 20);
  ASSERT_TRUE(config->router.has_value());

  const ContainerDecl& web1 = *config->endpoints[0].container;
  EXPECT_EQ(web1.command, (std::vector<std::string>{"httpd", "-f", "-p", "8080", "-h", "/etc"}));
  EXPECT_FALSE(web1.entrypoint.has_value());
  EXPECT_EQ(web1.env, (std::map<std::string, std::string>{{"SITE", "web1"}}));
  EXPECT_EQ(web1.workdir, "/");
  EXPECT_EQ(web1.uid, 1000u);
  EXPECT_EQ(web1.gid, 1000u);
  EXPECT_EQ(web1.hostname, "web1");  // the endpoint's name
  EXPECT_EQ(web1.memory_bytes, 64u << 20);
  EXPECT_EQ(web1.nano_cpus, 500'000'000u);
  EXPECT_EQ(web1.pids, 256u);
  EXPECT_EQ(web1.restart, RestartPolicyDecl::kOnFailure);
  EXPECT_TRUE(web1.read_only);
  EXPECT_EQ(web1.loc.file, ExamplePath());
  EXPECT_GT(web1.loc.line_of("memory"), web1.loc.line);

  const ContainerDecl& web2 = *config->endpoints[1].container;
  EXPECT_EQ(web2.hostname, "web2.lab.example");
  EXPECT_EQ(web2.cpuset, "0-1");
  EXPECT_EQ(web2.restart, RestartPolicyDecl::kAlways);
  EXPECT_FALSE(web2.uid.has_value());
  EXPECT_EQ(web2.nano_cpus, 0u);

  const ContainerDecl& probe = *config->endpoints[2].container;
  EXPECT_EQ(probe.command, (std::vector<std::string>{"sleep", "3600"}));
  EXPECT_EQ(probe.restart, RestartPolicyDecl::kNo);
  EXPECT_FALSE(probe.read_only);
  EXPECT_EQ(probe.hostname, "probe");
}

TEST(ContainerConfig, ExampleRoundTripsThroughJson) {
  auto config = LoadConfig(ExamplePath());
  ASSERT_TRUE(config.ok()) << config.error().message();
  nlohmann::json json = ToJson(*config);
  auto back = FromJson(json);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(*back, *config);
  EXPECT_EQ(ToJson(*back), json);
  auto reparsed = FromJson(nlohmann::json::parse(json.dump()));
  ASSERT_TRUE(reparsed.ok()) << reparsed.error().message();
  EXPECT_EQ(*reparsed, *config);
}

TEST(ContainerConfig, EveryKeyParses) {
  ContainerDecl c = Parsed(
      "      command: []\n"
      "      entrypoint: [/bin/sh, -c]\n"
      "      env:\n"
      "        PATH: /bin\n"
      "        _private: \"\"\n"
      "        PORT: 8080\n"
      "      workdir: /srv\n"
      "      user: 7\n"
      "      hostname: app\n"
      "      memory: 1G\n"
      "      cpus: 2\n"
      "      cpuset: 0,2-3\n"
      "      pids: 4194304\n"
      "      restart: \"no\"\n"
      "      read_only: false\n"
      "      mounts:\n"
      "        - {source: /srv/data, target: /data, read_only: true}\n"
      "        - source: /var/log/app\n"
      "          target: /logs/\n");
  ASSERT_TRUE(c.command.has_value());
  EXPECT_TRUE(c.command->empty());  // given and empty: clears the image's Cmd
  EXPECT_EQ(c.entrypoint, (std::vector<std::string>{"/bin/sh", "-c"}));
  EXPECT_EQ(c.env, (std::map<std::string, std::string>{{"PATH", "/bin"}, {"_private", ""}, {"PORT", "8080"}}));
  EXPECT_EQ(c.workdir, "/srv");
  EXPECT_EQ(c.uid, 7u);
  EXPECT_FALSE(c.gid.has_value());
  EXPECT_EQ(c.hostname, "app");
  EXPECT_EQ(c.memory_bytes, 1'000'000'000u);
  EXPECT_EQ(c.nano_cpus, 2'000'000'000u);
  EXPECT_EQ(c.cpuset, "0,2-3");
  EXPECT_EQ(c.pids, 4194304u);
  EXPECT_EQ(c.restart, RestartPolicyDecl::kNo);
  ASSERT_EQ(c.mounts.size(), 2u);
  EXPECT_EQ(c.mounts[0].source, "/srv/data");
  EXPECT_EQ(c.mounts[0].target, "/data");
  EXPECT_TRUE(c.mounts[0].read_only);
  EXPECT_EQ(c.mounts[0].loc.line, 28);
  EXPECT_FALSE(c.mounts[1].read_only);
  EXPECT_EQ(c.mounts[1].loc.line_of("target"), 30);

  // Only the image is required; everything else comes from the image.
  ContainerDecl minimal = Parsed("");
  EXPECT_FALSE(minimal.command.has_value());
  EXPECT_TRUE(minimal.env.empty());
  EXPECT_EQ(minimal.memory_bytes, 0u);
  EXPECT_EQ(minimal.hostname, "c1");
  EXPECT_EQ(minimal.loc.line, 10);  // the `container:` key
  EXPECT_EQ(minimal.loc.line_of("image"), 11);
}

TEST(ContainerConfig, Memory) {
  EXPECT_EQ(Parsed("      memory: 4Mi\n").memory_bytes, 4u << 20);
  EXPECT_EQ(Parsed("      memory: 64M\n").memory_bytes, 64'000'000u);
  EXPECT_EQ(Parsed("      memory: 64m\n").memory_bytes, 64'000'000u);
  EXPECT_EQ(Parsed("      memory: 5000k\n").memory_bytes, 5'000'000u);
  EXPECT_EQ(Parsed("      memory: 2Gi\n").memory_bytes, uint64_t{2} << 30);
  EXPECT_EQ(Parsed("      memory: 1Ti\n").memory_bytes, uint64_t{1} << 40);
  EXPECT_EQ(Parsed("      memory: 67108864\n").memory_bytes, 64u << 20);

  EXPECT_THAT(ErrorOf(WithContainer("      memory: 12Q\n")),
              HasSubstr("t.yaml:12: endpoints[0].container.memory: '12Q' is not a size (e.g. 64Mi, 1G)"));
  for (const char* bad : {"64 Mi", "1.5Gi", "-1", "Mi", "64MiB", "[64]"}) {
    EXPECT_THAT(ErrorOf(WithContainer(std::string("      memory: ") + bad + "\n")), HasSubstr("is not a size")) << bad;
  }
  EXPECT_THAT(ErrorOf(WithContainer("      memory: 1Mi\n")),
              HasSubstr("t.yaml:12: endpoints[0].container.memory: 1Mi is below the smallest memory limit, 4Mi"));
  EXPECT_THAT(ErrorOf(WithContainer("      memory: 0\n")), HasSubstr("is below the smallest memory limit"));
  EXPECT_THAT(ErrorOf(WithContainer("      memory: 4000k\n")), HasSubstr("below the smallest"));
  EXPECT_THAT(ErrorOf(WithContainer("      memory: 99999999999999999999Ti\n")),
              HasSubstr("above the largest memory limit"));
}

TEST(ContainerConfig, Cpus) {
  EXPECT_EQ(Parsed("      cpus: 0.5\n").nano_cpus, 500'000'000u);
  EXPECT_EQ(Parsed("      cpus: 0.001\n").nano_cpus, 1'000'000u);
  EXPECT_EQ(Parsed("      cpus: 1.000000001\n").nano_cpus, 1'000'000'001u);
  EXPECT_EQ(Parsed("      cpus: 1024\n").nano_cpus, 1024'000'000'000u);
  EXPECT_THAT(ErrorOf(WithContainer("      cpus: 0\n")),
              HasSubstr("t.yaml:12: endpoints[0].container.cpus: 0 out of range: more than 0 and at most 1024 CPUs"));
  EXPECT_THAT(ErrorOf(WithContainer("      cpus: 0.0\n")), HasSubstr("out of range"));
  EXPECT_THAT(ErrorOf(WithContainer("      cpus: 1024.5\n")), HasSubstr("out of range"));
  EXPECT_THAT(ErrorOf(WithContainer("      cpus: 123456789\n")), HasSubstr("out of range"));
  EXPECT_THAT(ErrorOf(WithContainer("      cpus: 0.0000000001\n")),
              HasSubstr("is more precise than a billionth of a CPU"));
  for (const char* bad : {"half", "-1", ".5", "1.", "1e3", "1,5"}) {
    EXPECT_THAT(ErrorOf(WithContainer(std::string("      cpus: ") + bad + "\n")),
                HasSubstr("cpus: expected a number of CPUs such as 0.5 or 2"))
        << bad;
  }
}

TEST(ContainerConfig, RestartPolicy) {
  EXPECT_EQ(Parsed("      restart: always\n").restart, RestartPolicyDecl::kAlways);
  EXPECT_EQ(Parsed("      restart: on-failure\n").restart, RestartPolicyDecl::kOnFailure);
  EXPECT_EQ(Parsed("      restart: no\n").restart, RestartPolicyDecl::kNo);
  EXPECT_THAT(ErrorOf(WithContainer("      restart: sometimes\n")),
              HasSubstr("t.yaml:12: endpoints[0].container.restart: unknown restart policy 'sometimes': use no, "
                        "always or on-failure"));
  EXPECT_THAT(ErrorOf(WithContainer("      restart: on_failure\n")), HasSubstr("(did you mean 'on-failure'?)"));
}

TEST(ContainerConfig, Environment) {
  std::string error =
      ErrorOf(WithContainer("      env:\n"            // 12
                            "        GOOD: 1\n"       // 13
                            "        1BAD: x\n"       // 14
                            "        MY-VAR: y\n"     // 15
                            "        LIST: [a, b]\n"  // 16
                            "        EMPTY:\n"));     // 17
  EXPECT_THAT(error, HasSubstr("t.yaml:14: endpoints[0].container.env.1BAD: '1BAD' is not a variable name: letters, "
                               "digits and '_', not starting with a digit"));
  EXPECT_THAT(error, HasSubstr("t.yaml:15: endpoints[0].container.env.MY-VAR: 'MY-VAR' is not a variable name"));
  EXPECT_THAT(error, HasSubstr("t.yaml:16: endpoints[0].container.env.LIST: expected a string, got a list"));
  EXPECT_THAT(error, HasSubstr("t.yaml:17: endpoints[0].container.env.EMPTY: expected a string, got nothing "
                               "(write \"\" for an empty value)"));
  EXPECT_THAT(error, Not(HasSubstr("GOOD")));
  // Reported once, at the key's line, although the model checks look at names too.
  EXPECT_EQ(error.find("1BAD'"), error.rfind("1BAD'"));

  EXPECT_THAT(ErrorOf(WithContainer("      env: [A=1]\n")),
              HasSubstr("t.yaml:12: endpoints[0].container.env: expected a mapping of variable names to values"));

  std::string many = "      env:\n";
  for (int i = 0; i < 257; ++i) many += "        V" + std::to_string(i) + ": x\n";
  EXPECT_THAT(ErrorOf(WithContainer(many)),
              HasSubstr("t.yaml:12: endpoints[0].container.env: 257 variables, at most 256 allowed"));
}

TEST(ContainerConfig, PathsMustBeAbsolute) {
  EXPECT_THAT(
      ErrorOf(WithContainer("      workdir: srv\n")),
      HasSubstr("t.yaml:12: endpoints[0].container.workdir: 'srv' must be an absolute path (starting with '/')"));
  std::string error =
      ErrorOf(WithContainer("      mounts:\n"                                              // 12
                            "        - {source: data, target: /data}\n"                    // 13
                            "        - {source: /srv/../etc, target: /etc2}\n"             // 14
                            "        - {source: /srv/x, target: /x/../y}\n"                // 15
                            "        - {source: /srv/y, target: /}\n"                      // 16
                            "        - {source: /srv/z, target: /data/}\n"                 // 17
                            "        - {target: /w}\n"                                     // 18
                            "        - {source: /srv/w}\n"                                 // 19
                            "        - {source: /srv/v, target: /v, readonly: true}\n"));  // 20
  EXPECT_THAT(error, HasSubstr("t.yaml:13: endpoints[0].container.mounts[0].source: 'data' must be an absolute path"));
  EXPECT_THAT(error, HasSubstr("t.yaml:14: endpoints[0].container.mounts[1].source: '/srv/../etc' must not contain "
                               "'..' components"));
  EXPECT_THAT(error, HasSubstr("t.yaml:15: endpoints[0].container.mounts[2].target: '/x/../y' must not contain"));
  EXPECT_THAT(error, HasSubstr("t.yaml:16: endpoints[0].container.mounts[3].target: '/' is the container's root"));
  EXPECT_THAT(error, HasSubstr("t.yaml:17: endpoints[0].container.mounts[4].target: '/data/' is already the target of "
                               "mounts[0] (line 13)"));
  EXPECT_THAT(error, HasSubstr("t.yaml:18: endpoints[0].container.mounts[5].source: required"));
  EXPECT_THAT(error, HasSubstr("t.yaml:19: endpoints[0].container.mounts[6].target: required"));
  EXPECT_THAT(error, HasSubstr("t.yaml:20: endpoints[0].container.mounts[7].readonly: unknown key (did you mean "
                               "'read_only'?)"));

  std::string many = "      mounts:\n";
  for (int i = 0; i < 65; ++i) many += "        - {source: /s, target: /t" + std::to_string(i) + "}\n";
  EXPECT_THAT(ErrorOf(WithContainer(many)),
              HasSubstr("t.yaml:12: endpoints[0].container.mounts: 65 entries, at most 64 allowed"));
}

TEST(ContainerConfig, UnknownKeysWithSuggestion) {
  EXPECT_THAT(ErrorOf(WithContainer("      memroy: 64Mi\n")),
              HasSubstr("t.yaml:12: endpoints[0].container.memroy: unknown key (did you mean 'memory'?)"));
  EXPECT_THAT(ErrorOf(WithContainer("      comand: [sh]\n")), HasSubstr("(did you mean 'command'?)"));
  EXPECT_THAT(ErrorOf("vlans: [{id: 10}]\nswitches: [{name: sw1}]\n"
                      "endpoints:\n  - {name: c1, switch: sw1, vlan: 10, containr: {image: busybox}}\n"),
              HasSubstr("t.yaml:4: endpoints[0].containr: unknown key (did you mean 'container'?)"));
  EXPECT_THAT(ErrorOf(WithContainer("      image: alpine\n")),
              HasSubstr("t.yaml:12: endpoints[0].container.image: duplicate key (first at line 11)"));
  EXPECT_THAT(ErrorOf("vlans: [{id: 10}]\nswitches: [{name: sw1}]\n"
                      "endpoints:\n  - {name: c1, switch: sw1, vlan: 10, container: busybox}\n"),
              HasSubstr("t.yaml:4: endpoints[0].container: expected a mapping (key: value lines), got 'busybox'"));
}

TEST(ContainerConfig, Image) {
  EXPECT_THAT(ErrorOf("vlans: [{id: 10}]\nswitches: [{name: sw1}]\n"
                      "endpoints:\n  - {name: c1, switch: sw1, vlan: 10, container: {cpus: 1}}\n"),
              HasSubstr("t.yaml:4: endpoints[0].container.image: required: an image in the local store, e.g. "
                        "busybox:latest"));
  const std::string digest = "sha256:" + std::string(64, 'a');
  for (const std::string& good :
       {std::string("busybox"), std::string("library/busybox:1.36.1"), std::string("localhost/app"),
        std::string("localhost:5000/team/my_app__x.y-z:v1"), std::string("registry.example.com/a/b@") + digest,
        std::string("busybox:latest@") + digest, std::string("[::1]:5000/x"), std::string("Registry.Example:443/x")}) {
    auto config = ParseConfig(
        "vlans: [{id: 10}]\nswitches: [{name: sw1}]\nendpoints:\n  - {name: c1, switch: sw1, vlan: 10, container: "
        "{image: \"" +
            good + "\"}}\n",
        "t.yaml");
    EXPECT_TRUE(config.ok()) << good << ": " << config.error().message();
  }
  for (const std::string& bad : {std::string("Busybox"), std::string("busybox:"), std::string("busybox@sha256:abc"),
                                 std::string("busybox@md5:") + std::string(64, 'a'), std::string("-bad"),
                                 std::string("a//b"), std::string("bad_host.example:x/app"), std::string("app:-tag"),
                                 std::string(":latest"), std::string("a..b"), std::string("busy box")}) {
    std::string error = ErrorOf(
        "vlans: [{id: 10}]\nswitches: [{name: sw1}]\nendpoints:\n  - {name: c1, switch: sw1, vlan: 10, container: "
        "{image: \"" +
        bad + "\"}}\n");
    EXPECT_THAT(error, HasSubstr("t.yaml:4: endpoints[0].container.image: '" + bad + "' is not an image reference"))
        << bad;
  }
}

TEST(ContainerConfig, UserHostnameCpusetPidsAndCommand) {
  EXPECT_THAT(ErrorOf(WithContainer("      user: nobody\n")),
              HasSubstr("t.yaml:12: endpoints[0].container.user: expected a numeric uid or uid:gid below 4294967295"));
  for (const char* bad : {"\"1000:\"", "\":1000\"", "\"1:x\"", "4294967295", "-1"}) {
    EXPECT_THAT(ErrorOf(WithContainer(std::string("      user: ") + bad + "\n")), HasSubstr("container.user:")) << bad;
  }
  EXPECT_EQ(Parsed("      user: \"0:0\"\n").gid, 0u);

  EXPECT_THAT(ErrorOf(WithContainer("      hostname: web_1\n")),
              HasSubstr("t.yaml:12: endpoints[0].container.hostname: 'web_1' is not a hostname"));
  EXPECT_THAT(ErrorOf(WithContainer("      hostname: -web\n")), HasSubstr("is not a hostname"));
  EXPECT_THAT(ErrorOf(WithContainer("      hostname: a..b\n")), HasSubstr("is not a hostname"));
  EXPECT_THAT(ErrorOf(WithContainer("      hostname: " + std::string(65, 'a') + "\n")),
              HasSubstr("is longer than 64 characters"));
  EXPECT_THAT(ErrorOf(WithContainer("      hostname: \"\"\n")), HasSubstr("hostname: must not be empty"));

  EXPECT_THAT(ErrorOf(WithContainer("      cpuset: 3-1\n")),
              HasSubstr("t.yaml:12: endpoints[0].container.cpuset: '3-1' is not a CPU list"));
  for (const char* bad : {"a", "0-9000", "1,,2", "\"\"", "0-", "1 2"}) {
    EXPECT_THAT(ErrorOf(WithContainer(std::string("      cpuset: ") + bad + "\n")), HasSubstr("not a CPU list")) << bad;
  }

  EXPECT_THAT(ErrorOf(WithContainer("      pids: 0\n")),
              HasSubstr("t.yaml:12: endpoints[0].container.pids: 0 out of range 1-4194304"));
  EXPECT_THAT(ErrorOf(WithContainer("      pids: 4194305\n")), HasSubstr("out of range 1-4194304"));

  EXPECT_THAT(ErrorOf(WithContainer("      command: httpd -f\n")),
              HasSubstr("t.yaml:12: endpoints[0].container.command: expected a list of arguments"));
  EXPECT_THAT(ErrorOf(WithContainer("      entrypoint:\n")), HasSubstr("container.entrypoint: expected a list"));
  EXPECT_THAT(ErrorOf(WithContainer("      command: [sh, [x]]\n")),
              HasSubstr("endpoints[0].container.command[1]: expected a string, got a list"));
  EXPECT_THAT(ErrorOf(WithContainer("      command: [\"a\\0b\"]\n")), HasSubstr("contains a NUL byte"));
  EXPECT_THAT(ErrorOf(WithContainer("      read_only: maybe\n")), HasSubstr("read_only: expected true or false"));
}

TEST(ContainerConfig, EachContainerOwnsItsNamespace) {
  const std::string base =
      "vlans: [{id: 10}, {id: 20}]\n"  // 1
      "switches: [{name: sw1}]\n"      // 2
      "endpoints:\n";                  // 3
  // Two containers in one namespace.
  EXPECT_THAT(ErrorOf(base + "  - {name: a, switch: sw1, vlan: 10, netns: shared, container: {image: busybox}}\n"
                             "  - {name: b, switch: sw1, vlan: 20, netns: shared, interface: eth1, container: {image: "
                             "busybox}}\n"),
              HasSubstr("t.yaml:5: endpoints[1].netns: netns 'shared' already holds the container of endpoints[0] "
                        "(line 4); each container needs a network namespace of its own"));
  // A second container moving into a container's default namespace.
  EXPECT_THAT(
      ErrorOf(base + "  - {name: a, switch: sw1, vlan: 10, container: {image: busybox}}\n"
                     "  - {name: b, switch: sw1, vlan: 20, netns: a, interface: eth1, container: {image: busybox}}\n"),
      HasSubstr("t.yaml:5: endpoints[1].netns: netns 'a' already holds the container of endpoints[0]"));
  // A container moving into a namespace another endpoint names.
  EXPECT_THAT(
      ErrorOf(base + "  - {name: a, switch: sw1, vlan: 10}\n"
                     "  - {name: b, switch: sw1, vlan: 20, netns: a, interface: eth1, container: {image: busybox}}\n"),
      HasSubstr("t.yaml:5: endpoints[1].netns: netns 'a' is also used by endpoints[0] (line 4); an endpoint "
                "with a container owns its namespace"));
  // A container in its own, explicitly named namespace is fine; so is a second interface added to a container's
  // namespace by a plain endpoint (a multi-homed container).
  EXPECT_TRUE(
      ParseConfig(base + "  - {name: a, switch: sw1, vlan: 10, netns: web-a, container: {image: busybox}}\n", "t.yaml")
          .ok());
  auto multi = ParseConfig(base +
                               "  - {name: a, switch: sw1, vlan: 10, container: {image: busybox}}\n"
                               "  - {name: a-v20, switch: sw1, vlan: 20, netns: a, interface: eth1}\n",
                           "t.yaml");
  EXPECT_TRUE(multi.ok()) << multi.error().message();
}

TEST(ContainerConfig, JsonShape) {
  auto config = LoadConfig(ExamplePath());
  ASSERT_TRUE(config.ok()) << config.error().message();
  nlohmann::json j = ToJson(*config);
  const nlohmann::json& web1 = j["endpoints"][0]["container"];
  EXPECT_EQ(web1["image"], "busybox:latest");
  EXPECT_EQ(web1["memory_bytes"], 64u << 20);
  EXPECT_EQ(web1["nano_cpus"], 500'000'000u);
  EXPECT_EQ(web1["restart"], "on-failure");
  EXPECT_EQ(web1["uid"], 1000);
  EXPECT_TRUE(web1["entrypoint"].is_null());
  EXPECT_EQ(web1["env"]["SITE"], "web1");
  EXPECT_EQ(web1["loc"]["fields"]["memory"], config->endpoints[0].container->loc.line_of("memory"));
  EXPECT_EQ(web1["loc"]["file"], ExamplePath());
  EXPECT_TRUE(j["endpoints"][1]["container"]["uid"].is_null());

  // Endpoints without a container are recorded as before.
  auto plain = ParseConfig(
      "vlans: [{id: 10}]\nswitches: [{name: sw1}]\nendpoints: [{name: a, switch: sw1, vlan: 10}]\n", "p.yaml");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(ToJson(*plain)["endpoints"][0].contains("container"));
}

TEST(ContainerConfig, JsonIsDecodedStrictlyAndRevalidated) {
  auto config = LoadConfig(ExamplePath());
  ASSERT_TRUE(config.ok()) << config.error().message();
  const nlohmann::json good = ToJson(*config);
  const std::string file = ExamplePath();
  const int line = config->endpoints[0].container->loc.line;
  auto error_of = [](const nlohmann::json& j) {
    auto r = FromJson(j);
    return r.ok() ? std::string() : r.error().message();
  };

  nlohmann::json j = good;
  j["endpoints"][0]["container"]["colour"] = "blue";
  EXPECT_THAT(error_of(j),
              HasSubstr(file + ":" + std::to_string(line) + ": endpoints[0].container.colour: unknown key"));

  j = good;
  j["endpoints"][0]["container"]["restart"] = "sometimes";
  EXPECT_THAT(error_of(j), HasSubstr("endpoints[0].container.restart: unknown restart policy"));

  j = good;
  j["endpoints"][0]["container"]["memory_bytes"] = 1000;
  EXPECT_THAT(error_of(j),
              HasSubstr(file + ":" + std::to_string(config->endpoints[0].container->loc.line_of("memory")) +
                        ": endpoints[0].container.memory: 1000 bytes is below the smallest memory limit"));

  j = good;
  j["endpoints"][0]["container"]["nano_cpus"] = 2000'000'000'000u;
  EXPECT_THAT(error_of(j), HasSubstr("endpoints[0].container.cpus: 2000000000000 billionths of a CPU out of range"));

  j = good;
  j["endpoints"][0]["container"]["env"]["1X"] = "y";
  EXPECT_THAT(error_of(j), HasSubstr("endpoints[0].container.env.1X: '1X' is not a variable name"));

  j = good;
  j["endpoints"][0]["container"]["env"]["X"] = 1;
  EXPECT_THAT(error_of(j), HasSubstr("endpoints[0].container.env.X: expected a string, got number"));

  j = good;
  j["endpoints"][0]["container"]["uid"] = nullptr;
  EXPECT_THAT(error_of(j), HasSubstr("endpoints[0].container.user: a gid needs a uid"));

  j = good;
  j["endpoints"][0]["container"]["pids"] = 0;  // no limit
  EXPECT_EQ(error_of(j), "");
  j["endpoints"][0]["container"]["pids"] = 5000000;
  EXPECT_THAT(error_of(j), HasSubstr("endpoints[0].container.pids: 5000000 out of range 1-4194304"));

  j = good;
  j["endpoints"][0]["container"]["command"] = "httpd";
  EXPECT_THAT(error_of(j), HasSubstr("endpoints[0].container.command: expected an array or null, got string"));

  j = good;
  j["endpoints"][0]["container"]["mounts"] = {{{"source", "rel"}, {"target", "/t"}, {"read_only", "yes"}}};
  EXPECT_THAT(error_of(j), HasSubstr("endpoints[0].container.mounts[0].read_only: expected a boolean, got string"));
  EXPECT_THAT(error_of(j), HasSubstr("endpoints[0].container.mounts[0].source: 'rel' must be an absolute path"));

  j = good;
  j["endpoints"][0]["container"]["image"] = "";
  EXPECT_THAT(error_of(j), HasSubstr("endpoints[0].container.image: required"));

  j = good;
  j["endpoints"][0]["container"]["loc"]["fields"]["memroy"] = 3;
  EXPECT_THAT(error_of(j), HasSubstr("endpoints[0].container.loc.fields.memroy: unknown key (did you mean "
                                     "'memory'?)"));

  j = good;
  j["endpoints"][1]["netns"] = "web1";
  j["endpoints"][1]["interface"] = "eth1";
  EXPECT_THAT(error_of(j), HasSubstr("endpoints[1].netns: netns 'web1' already holds the container of endpoints[0]"));

  j = good;
  j["endpoints"][0]["container"] = nullptr;  // null: no container
  auto without = FromJson(j);
  ASSERT_TRUE(without.ok()) << without.error().message();
  EXPECT_FALSE(without->endpoints[0].container.has_value());
}

TEST(ContainerConfig, CodeBuiltConfigsAreChecked) {
  CloudConfig config;
  config.vlans.push_back(VlanDecl{.id = 10});
  config.switches.push_back(SwitchDecl{.name = "sw1"});
  EndpointDecl e;
  e.name = "c1";
  e.switch_name = "sw1";
  e.vlan = 10;
  e.container = ContainerDecl{};
  e.container->image = "busybox";
  e.container->cpuset = "x";
  config.endpoints.push_back(e);
  Status status = ValidateConfig(config);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("<config>: endpoints[0].container.cpuset: 'x' is not a CPU list"));
  config.endpoints[0].container->cpuset = "0";
  EXPECT_TRUE(ValidateConfig(config).ok());
}

}  // namespace
}  // namespace cloudlet
