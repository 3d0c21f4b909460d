#include "container/seccomp.h"

#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

namespace cloudlet::container {
namespace {

TEST(SeccompTest, BuildsSpecRulesAndSkipsUnknownNames) {
  oci::Seccomp s;
  s.default_action = oci::SeccompAction::kAllow;
  s.architectures = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86"};
  oci::SeccompRule r;
  r.names = {"getppid", "no_such_syscall_here"};
  r.action = oci::SeccompAction::kErrno;
  r.errno_ret = 33;
  s.syscalls.push_back(r);
  auto f = SeccompFilter::Build(s);
  ASSERT_TRUE(f.ok()) << f.error().message();
  EXPECT_EQ((*f)->rules(), 1);
  EXPECT_NE((*f)->Pfc().find("getppid"), std::string::npos);
}

TEST(SeccompTest, RepeatedArgumentIndexBecomesSeparateRules) {
  oci::Seccomp s;
  s.default_action = oci::SeccompAction::kAllow;
  oci::SeccompRule r;
  r.names = {"personality"};
  r.action = oci::SeccompAction::kErrno;
  r.args = {{0, 1, 0, oci::SeccompOp::kEqualTo}, {0, 2, 0, oci::SeccompOp::kEqualTo}};
  s.syscalls.push_back(r);
  auto f = SeccompFilter::Build(s);
  ASSERT_TRUE(f.ok()) << f.error().message();
  EXPECT_EQ((*f)->rules(), 1);
}

TEST(SeccompTest, RefusesUnknownArchitectureAndFlag) {
  oci::Seccomp s;
  s.architectures = {"SCMP_ARCH_VAX"};
  EXPECT_FALSE(SeccompFilter::Build(s).ok());
  oci::Seccomp t;
  t.flags = {"SECCOMP_FILTER_FLAG_MAGIC"};
  EXPECT_FALSE(SeccompFilter::Build(t).ok());
}

TEST(SeccompTest, DefaultProfileBlocksModulesAndNewUserNamespaces) {
  auto f = SeccompFilter::Build(DefaultSeccomp());
  ASSERT_TRUE(f.ok()) << f.error().message();
  std::string pfc = (*f)->Pfc();
  for (const char* name : {"init_module", "finit_module", "kexec_load", "bpf", "unshare", "keyctl"}) {
    EXPECT_NE(pfc.find(name), std::string::npos) << name;
  }
}

// Loads a filter in a child process: the syscall answers with the errno the spec names.
TEST(SeccompTest, LoadedFilterAnswersWithTheErrno) {
  oci::Seccomp s;
  s.default_action = oci::SeccompAction::kAllow;
  oci::SeccompRule r;
  r.names = {"getppid"};
  r.action = oci::SeccompAction::kErrno;
  r.errno_ret = 33;
  s.syscalls.push_back(r);
  auto f = SeccompFilter::Build(s);
  ASSERT_TRUE(f.ok());
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Not root: no_new_privileges is needed to load a filter.
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (!(*f)->Load().ok()) _exit(2);
    errno = 0;
    long rc = syscall(SYS_getppid);
    _exit(rc == -1 && errno == 33 ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace cloudlet::container
