#include "container/signals.h"

#include <gtest/gtest.h>

#include <csignal>

namespace cloudlet::container {
namespace {

TEST(SignalsTest, NamesAndNumbers) {
  EXPECT_EQ(*ParseSignal("KILL"), SIGKILL);
  EXPECT_EQ(*ParseSignal("SIGKILL"), SIGKILL);
  EXPECT_EQ(*ParseSignal("sigterm"), SIGTERM);
  EXPECT_EQ(*ParseSignal("hup"), SIGHUP);
  EXPECT_EQ(*ParseSignal("9"), 9);
  EXPECT_EQ(*ParseSignal("15"), 15);
  EXPECT_EQ(*ParseSignal("RTMIN"), SIGRTMIN);
  EXPECT_EQ(*ParseSignal("SIGRTMIN+2"), SIGRTMIN + 2);
  EXPECT_EQ(*ParseSignal("RTMAX-1"), SIGRTMAX - 1);
}

TEST(SignalsTest, Refuses) {
  EXPECT_FALSE(ParseSignal("").ok());
  EXPECT_FALSE(ParseSignal("NOPE").ok());
  EXPECT_FALSE(ParseSignal("0").ok());
  EXPECT_FALSE(ParseSignal("999").ok());
  EXPECT_FALSE(ParseSignal("9x").ok());
  EXPECT_FALSE(ParseSignal("RTMIN+999").ok());
}

}  // namespace
}  // namespace cloudlet::container
