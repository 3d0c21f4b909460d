// TapPort: the device appears (up) in the creating namespace and goes away with the port; frames cross both ways,
// checked with a raw socket on the tap netdev; tags are inserted on transmit.
#include "port/tap_port.h"

#include <gtest/gtest.h>
#include <net/if.h>

#include "netns_util.h"
#include "raw_socket.h"

namespace cloudlet {
namespace {

using testing::Frame;
using testing::InNetns;
using testing::MakeFrame;
using testing::RawSocket;

std::optional<Frame> ReceiveTestFrame(Port& port, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  Packet* pkts[kMaxBatch];
  while (std::chrono::steady_clock::now() < deadline) {
    testing::WaitReadable(port.poll_fd(), 50);
    size_t n = port.receive(pkts, kMaxBatch);
    for (size_t i = 0; i < n; ++i) {
      if (testing::IsTestFrame(pkts[i]->data, pkts[i]->len)) return Frame(pkts[i]->data, pkts[i]->data + pkts[i]->len);
    }
  }
  return std::nullopt;
}

class TapPortTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::IsRoot()) GTEST_SKIP() << "needs root: creates a network namespace and a TAP device";
    static int counter = 0;
    ns_.emplace(testing::UniqueName("h2pt", ++counter));
    ASSERT_TRUE(ns_->ok());
  }
  std::optional<testing::NetnsGuard> ns_;
};

TEST_F(TapPortTest, CreatedUpAndGoneWhenClosed) {
  auto r = InNetns(ns_->name(), [] { return TapPort::Open("tap-t0"); });
  ASSERT_TRUE(r && r->ok()) << (r ? r->error().message() : "");
  auto port = std::move(**r);
  EXPECT_TRUE(ns_->Exec("ip link show tap-t0 up | grep -q tap-t0"));
  EXPECT_TRUE(port->supports_offload());
  port.reset();
  EXPECT_FALSE(ns_->Exec("ip link show tap-t0 >/dev/null 2>&1"));
}

TEST_F(TapPortTest, FramesBothWaysWithTagInsertion) {
  auto r = InNetns(ns_->name(), [] { return TapPort::Open("tap-t1"); });
  ASSERT_TRUE(r && r->ok()) << (r ? r->error().message() : "");
  auto port = std::move(**r);
  RawSocket raw = *InNetns(ns_->name(), [] { return RawSocket::Open("tap-t1"); });
  ASSERT_TRUE(raw.valid());

  // Port -> netdev (what a VM would see as received from the switch, here read back on the kernel side).
  Frame out = MakeFrame(0xb, 0xa, 400, 0x21);
  Packet p{out.data(), static_cast<uint32_t>(out.size()), 0, {}};
  TxItem items[] = {{&p, 0, 0}, {&p, 0x8100, 0x000a}};
  EXPECT_EQ(port->send(items), 2u);
  auto plain = raw.ReceiveTestFrame(2000);
  auto tagged = raw.ReceiveTestFrame(2000);
  ASSERT_TRUE(plain && tagged);
  EXPECT_EQ(*plain, out);
  Frame want = out;
  const uint8_t tag[] = {0x81, 0x00, 0x00, 0x0a};
  want.insert(want.begin() + 12, tag, tag + 4);
  EXPECT_EQ(*tagged, want);

  // Netdev -> port, untagged and tagged (TAP hands tags over inline).
  Frame in = MakeFrame(0xa, 0xb, 90, 0x31);
  ASSERT_TRUE(raw.Send(in));
  auto got = ReceiveTestFrame(*port, 2000);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, in);
  Frame in_tagged = MakeFrame(0xa, 0xb, 90, 0x32, 0x8100, 20);
  ASSERT_TRUE(raw.Send(in_tagged));
  got = ReceiveTestFrame(*port, 2000);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, in_tagged);
  EXPECT_EQ(port->io_counters().tx_errors, 0u);
  EXPECT_EQ(port->io_counters().rx_errors, 0u);
}

TEST_F(TapPortTest, SecondOpenOfSameNameFails) {
  auto first = InNetns(ns_->name(), [] { return TapPort::Open("tap-t2"); });
  ASSERT_TRUE(first && first->ok());
  auto second = InNetns(ns_->name(), [] { return TapPort::Open("tap-t2"); });
  ASSERT_TRUE(second);
  ASSERT_FALSE(second->ok());
  EXPECT_NE(second->error().message().find("tap tap-t2: create"), std::string::npos) << second->error().message();
}

}  // namespace
}  // namespace cloudlet
