// Container plans from configs and a container's config.json from plan + image config: Docker's semantics for
// entrypoint/cmd/env/user, limits, mounts, the endpoint's network namespace, names that are stable and safe.
#include "control/container_plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

namespace cloudlet {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kProject = "/srv/lab/Web Cloud.yaml";

CloudConfig TwoContainers() {
  CloudConfig c;
  SwitchDecl sw;
  sw.name = "sw1";
  c.switches = {sw};
  EndpointDecl web;
  web.name = "web1";
  web.switch_name = "sw1";
  web.vlan = 10;
  web.addresses = {"10.10.0.11/24"};
  web.container = ContainerDecl{};
  web.container->image = "busybox:latest";
  web.container->command = std::vector<std::string>{"httpd", "-f"};
  web.container->loc.line = 12;
  EndpointDecl plain;
  plain.name = "plain";
  plain.switch_name = "sw1";
  plain.vlan = 10;
  EndpointDecl db;
  db.name = "db";
  db.netns = "dbns";
  db.switch_name = "sw1";
  db.vlan = 20;
  db.container = ContainerDecl{};
  db.container->image = "busybox:latest";
  db.container->hostname = "db.lab";
  c.endpoints = {web, plain, db};
  return c;
}

oci::Spec Base() {
  oci::Spec s;
  s.oci_version = "1.0.2";
  s.process = oci::Process{};
  s.process->terminal = true;
  s.process->args = {"sh"};
  s.linux.namespaces = {
      {oci::NamespaceType::kPid, ""}, {oci::NamespaceType::kNetwork, ""}, {oci::NamespaceType::kMount, ""}};
  return s;
}

ContainerPlan WebPlan() { return BuildContainerPlans(kProject, TwoContainers())[0]; }

ContainerSpecInputs Inputs() {
  ContainerSpecInputs in;
  in.base = Base();
  in.rootfs = "/var/lib/cloudlet/containers/x/web1/rootfs";
  in.netns_path = "/run/netns/web1";
  in.image.cmd = std::vector<std::string>{"sh"};
  in.image.env = {"PATH=/bin", "SITE=image", "KEEP=1"};
  in.passwd = "root:x:0:0:root:/root:/bin/sh\nwww:x:33:44:www:/var/www:/bin/false\n";
  in.group = "root:x:0:\nstaff:x:50:\n";
  return in;
}

TEST(ContainerPlans, OnePerEndpointWithAContainerNamedStablyAndSafely) {
  auto plans = BuildContainerPlans(kProject, TwoContainers());
  ASSERT_EQ(plans.size(), 2u);
  EXPECT_EQ(plans[0].name, "web1");
  EXPECT_EQ(plans[0].netns, "web1");
  EXPECT_EQ(plans[0].decl.hostname, "web1");
  EXPECT_EQ(plans[1].name, "db");
  EXPECT_EQ(plans[1].netns, "dbns");
  EXPECT_EQ(plans[1].decl.hostname, "db.lab");
  // "<stem>-<hash>-<endpoint>": lowercased, unsafe characters replaced, runc's id charset only.
  const std::string key = ContainerProjectKey(kProject);
  EXPECT_EQ(key.rfind("web_cloud-", 0), 0u) << key;
  EXPECT_EQ(plans[0].id, key + "-web1");
  EXPECT_EQ(plans[0].project_key, key);
  for (char c : plans[0].id) {
    EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') << plans[0].id;
  }
  EXPECT_EQ(ContainerProjectKey(kProject), key);  // stable
  EXPECT_NE(ContainerProjectKey("/other/Web Cloud.yaml"), key);
  EXPECT_EQ(ContainerProjectKey("/x/.hidden").rfind("p", 0), 0u);
  EXPECT_LE(ContainerProjectKey("/x/" + std::string(100, 'a') + ".yaml").size(), 24u + 9u);
}

TEST(ContainerPlans, MovedLinesAreNoChangeButSettingsAre) {
  CloudConfig moved = TwoContainers();
  moved.endpoints[0].container->loc.line = 40;
  EXPECT_EQ(BuildContainerPlans(kProject, moved), BuildContainerPlans(kProject, TwoContainers()));
  CloudConfig changed = TwoContainers();
  changed.endpoints[0].container->memory_bytes = 1 << 20;
  EXPECT_NE(BuildContainerPlans(kProject, changed), BuildContainerPlans(kProject, TwoContainers()));
  EXPECT_NE(ContainerPlanJson(BuildContainerPlans(kProject, changed)[0]).dump(),
            ContainerPlanJson(BuildContainerPlans(kProject, TwoContainers())[0]).dump());
}

TEST(ContainerSpec, CommandReplacesCmdEntrypointDropsCmd) {
  ContainerPlan p = WebPlan();
  ContainerSpecInputs in = Inputs();
  in.image.entrypoint = std::vector<std::string>{"/entry"};
  auto spec = BuildContainerSpec(p, in);  // command given: image Entrypoint + declared command
  ASSERT_TRUE(spec.ok()) << spec.error().message();
  EXPECT_THAT(spec->process->args, ElementsAre("/entry", "httpd", "-f"));

  p.decl.command.reset();
  spec = BuildContainerSpec(p, in);  // nothing declared: image Entrypoint + image Cmd
  ASSERT_TRUE(spec.ok());
  EXPECT_THAT(spec->process->args, ElementsAre("/entry", "sh"));

  p.decl.entrypoint = std::vector<std::string>{"/bin/echo"};
  spec = BuildContainerSpec(p, in);  // entrypoint declared: the image's Cmd is not used
  ASSERT_TRUE(spec.ok());
  EXPECT_THAT(spec->process->args, ElementsAre("/bin/echo"));

  p.decl.entrypoint = std::vector<std::string>{};
  in.image.cmd.reset();
  auto none = BuildContainerSpec(p, in);
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.error().message(), HasSubstr("set container.command"));
}

TEST(ContainerSpec, EnvWorkdirHostnameAndNotInteractive) {
  ContainerPlan p = WebPlan();
  p.decl.env = {{"SITE", "web1"}, {"EXTRA", "x"}};
  ContainerSpecInputs in = Inputs();
  in.image.working_dir = "/srv";
  auto spec = BuildContainerSpec(p, in);
  ASSERT_TRUE(spec.ok());
  const auto& env = spec->process->env;
  EXPECT_THAT(env, Contains("SITE=web1"));
  EXPECT_THAT(env, Not(Contains("SITE=image")));
  EXPECT_THAT(env, Contains("KEEP=1"));
  EXPECT_THAT(env, Contains("EXTRA=x"));
  EXPECT_THAT(env, Contains("PATH=/bin"));  // the image's PATH, not a default
  EXPECT_EQ(std::count_if(env.begin(), env.end(), [](const std::string& e) { return e.rfind("PATH=", 0) == 0; }), 1);
  EXPECT_EQ(spec->process->cwd, "/srv");
  EXPECT_FALSE(spec->process->terminal);
  EXPECT_EQ(spec->hostname, "web1");
  ASSERT_TRUE(spec->process->capabilities);
  EXPECT_THAT(spec->process->capabilities->bounding, Contains("CAP_NET_RAW"));
  EXPECT_THAT(spec->process->capabilities->bounding, Not(Contains("CAP_SYS_ADMIN")));
  EXPECT_EQ(spec->linux.sysctl.at("net.ipv4.ping_group_range"), "0 2147483647");

  p.decl.workdir = "/data";
  in.image.env.clear();
  spec = BuildContainerSpec(p, in);
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->process->cwd, "/data");
  EXPECT_THAT(spec->process->env, Contains(HasSubstr("PATH=/usr/local/sbin")));
}

TEST(ContainerSpec, UserFromDeclOrImage) {
  ContainerPlan p = WebPlan();
  ContainerSpecInputs in = Inputs();
  in.image.user = "www";
  auto spec = BuildContainerSpec(p, in);
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->process->user.uid, 33u);
  EXPECT_EQ(spec->process->user.gid, 44u);

  in.image.user = "www:staff";
  spec = BuildContainerSpec(p, in);
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->process->user.gid, 50u);

  p.decl.uid = 33;  // declared uid without gid: its group from the image's passwd
  spec = BuildContainerSpec(p, in);
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->process->user.uid, 33u);
  EXPECT_EQ(spec->process->user.gid, 44u);
  p.decl.uid = 1000;  // unknown to the image: group 0
  spec = BuildContainerSpec(p, in);
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->process->user.gid, 0u);
  p.decl.gid = 1000;
  spec = BuildContainerSpec(p, in);
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->process->user.gid, 1000u);

  p.decl.uid.reset();
  p.decl.gid.reset();
  in.image.user = "nobody";
  auto bad = BuildContainerSpec(p, in);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message(), HasSubstr("user 'nobody' is not in the image's /etc/passwd"));
  EXPECT_THAT(bad.error().message(), HasSubstr("set container.user"));
}

TEST(ContainerSpec, LimitsMountsNamespaceCgroupRootfs) {
  ContainerPlan p = WebPlan();
  p.decl.memory_bytes = 64u << 20;
  p.decl.nano_cpus = 500000000;  // 0.5 CPU
  p.decl.cpuset = "0-1";
  p.decl.pids = 256;
  p.decl.read_only = true;
  ContainerMountDecl m;
  m.source = "/srv/data";
  m.target = "/data";
  m.read_only = true;
  p.decl.mounts = {m};
  auto spec = BuildContainerSpec(p, Inputs());
  ASSERT_TRUE(spec.ok());
  ASSERT_TRUE(spec->linux.resources);
  EXPECT_EQ(spec->linux.resources->memory->limit, 64 << 20);
  EXPECT_EQ(spec->linux.resources->cpu->quota, 50000);
  EXPECT_EQ(spec->linux.resources->cpu->period, 100000u);
  EXPECT_EQ(spec->linux.resources->cpu->cpus, "0-1");
  EXPECT_EQ(spec->linux.resources->pids_limit, 256);
  EXPECT_TRUE(spec->root.readonly);
  EXPECT_EQ(spec->root.path, "/var/lib/cloudlet/containers/x/web1/rootfs");
  ASSERT_FALSE(spec->mounts.empty());
  EXPECT_EQ(spec->mounts.back().destination, "/data");
  EXPECT_EQ(spec->mounts.back().source, "/srv/data");
  EXPECT_THAT(spec->mounts.back().options, Contains("ro"));
  EXPECT_THAT(spec->mounts.back().options, Contains("rbind"));
  int nets = 0;
  for (const auto& ns : spec->linux.namespaces) {
    if (ns.type == oci::NamespaceType::kNetwork) {
      ++nets;
      EXPECT_EQ(ns.path, "/run/netns/web1");
    }
  }
  EXPECT_EQ(nets, 1);
  EXPECT_EQ(spec->linux.cgroups_path, "/cloudlet/" + p.id);

  // No limits declared: no resources added.
  auto plain = BuildContainerSpec(WebPlan(), Inputs());
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->linux.resources);
}

}  // namespace
}  // namespace cloudlet
