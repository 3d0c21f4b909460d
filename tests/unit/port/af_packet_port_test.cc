// AfPacketPort on a veth pair between two test-created namespaces: frames both ways, out-of-band VLAN tags put back
// inline, tag insertion on transmit, GSO super-frames from a real TCP stream, truncated frames, clear open errors.
#include "port/af_packet_port.h"

#include <gtest/gtest.h>

#include <chrono>

#include "netns_util.h"
#include "raw_socket.h"

namespace cloudlet {
namespace {

using testing::Frame;
using testing::InNetns;
using testing::IsTestFrame;
using testing::MakeFrame;
using testing::NetnsGuard;
using testing::RawSocket;
using testing::UniqueName;

// Receives from `port` until a test frame arrives or timeout_ms passes; returns a copy with its vnet header.
std::optional<std::pair<Frame, VnetHdr>> ReceiveTestFrame(Port& port, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  Packet* pkts[kMaxBatch];
  while (std::chrono::steady_clock::now() < deadline) {
    testing::WaitReadable(port.poll_fd(), 50);
    size_t n = port.receive(pkts, kMaxBatch);
    for (size_t i = 0; i < n; ++i) {
      if (IsTestFrame(pkts[i]->data, pkts[i]->len)) {
        return std::make_pair(Frame(pkts[i]->data, pkts[i]->data + pkts[i]->len), pkts[i]->vnet);
      }
    }
  }
  return std::nullopt;
}

class AfPacketPortTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::IsRoot()) GTEST_SKIP() << "needs root: creates network namespaces and veth pairs";
    static int counter = 0;
    ++counter;
    ns_a_.emplace(UniqueName("h2pa", counter));
    ns_b_.emplace(UniqueName("h2pb", counter));
    ASSERT_TRUE(ns_a_->ok() && ns_b_->ok());
    ASSERT_TRUE(testing::Sh("ip link add " + kVethA + " netns " + ns_a_->name() + " type veth peer name " + kVethB +
                            " netns " + ns_b_->name()));
    ASSERT_TRUE(testing::Sh("ip -n " + ns_a_->name() + " link set " + kVethA + " up"));
    ASSERT_TRUE(testing::Sh("ip -n " + ns_b_->name() + " link set " + kVethB + " up"));
  }

  std::unique_ptr<AfPacketPort> OpenPortInA(const AfPacketPort::Options& options = {}) {
    auto r = InNetns(ns_a_->name(), [&] { return AfPacketPort::Open(kVethA, options); });
    if (!r || !r->ok()) {
      ADD_FAILURE() << (r ? r->error().message() : "cannot join namespace");
      return nullptr;
    }
    return std::move(**r);
  }
  RawSocket OpenRawInB() {
    return *InNetns(ns_b_->name(), [&] { return RawSocket::Open(kVethB); });
  }

  const std::string kVethA = "veth-a";
  const std::string kVethB = "veth-b";
  // Destroyed in reverse order; deleting a namespace deletes the veth end in it.
  std::optional<NetnsGuard> ns_a_, ns_b_;
};

TEST_F(AfPacketPortTest, OpenMissingInterfaceSaysSo) {
  auto r = InNetns(ns_a_->name(), [] { return AfPacketPort::Open("clp-x"); });
  ASSERT_TRUE(r);
  ASSERT_FALSE(r->ok());
  EXPECT_EQ(r->error().message(), "interface clp-x: No such device");
}

TEST_F(AfPacketPortTest, RejectsInvalidInterfaceName) {
  auto r = AfPacketPort::Open("a-name-that-is-far-too-long");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("1-15 characters"), std::string::npos) << r.error().message();
}

TEST_F(AfPacketPortTest, FramesBothWays) {
  auto port = OpenPortInA();
  ASSERT_TRUE(port);
  RawSocket raw = OpenRawInB();
  ASSERT_TRUE(raw.valid());

  Frame in = MakeFrame(0xa, 0xb, 100, 0x11);
  ASSERT_TRUE(raw.Send(in));
  auto got = ReceiveTestFrame(*port, 2000);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->first, in);
  EXPECT_EQ(got->second.gso_type, VnetHdr::kGsoNone);

  Frame out = MakeFrame(0xb, 0xa, 300, 0x22);
  Packet p{out.data(), static_cast<uint32_t>(out.size()), 0, {}};
  TxItem item{&p, 0, 0};
  EXPECT_EQ(port->send({&item, 1}), 1u);
  auto wire = raw.ReceiveTestFrame(2000);
  ASSERT_TRUE(wire);
  EXPECT_EQ(*wire, out);
  EXPECT_EQ(port->io_counters().rx_errors, 0u);
  EXPECT_EQ(port->io_counters().tx_errors, 0u);
}

TEST_F(AfPacketPortTest, OutOfBandTagsComeBackInline) {
  auto port = OpenPortInA();
  ASSERT_TRUE(port);
  RawSocket raw = OpenRawInB();
  ASSERT_TRUE(raw.valid());

  // veth RX moves the outer tag out of the frame (skb_vlan_untag); the port must put it back, PCP/DEI included.
  for (uint16_t tpid : {uint16_t{0x8100}, uint16_t{0x88a8}}) {
    Frame tagged = MakeFrame(0xa, 0xb, 200, 0x33, tpid, 0xa02a);
    ASSERT_TRUE(raw.Send(tagged));
    auto got = ReceiveTestFrame(*port, 2000);
    ASSERT_TRUE(got) << "tpid " << tpid;
    EXPECT_EQ(got->first, tagged) << "tpid " << tpid;
  }
  // QinQ: the outer tag goes out of band, the inner stays in the payload; both end up inline in order.
  Frame qinq = MakeFrame(0xa, 0xb, 200, 0x44, 0x88a8, 100);
  const uint8_t inner[] = {0x81, 0x00, 0x00, 0x07};
  qinq.insert(qinq.begin() + 16, inner, inner + 4);
  ASSERT_TRUE(raw.Send(qinq));
  auto got = ReceiveTestFrame(*port, 2000);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->first, qinq);
}

TEST_F(AfPacketPortTest, TransmitInsertsTagOnTheWire) {
  auto port = OpenPortInA();
  ASSERT_TRUE(port);
  RawSocket raw = OpenRawInB();
  ASSERT_TRUE(raw.valid());

  Frame untagged = MakeFrame(0xb, 0xa, 120, 0x55);
  Packet p{untagged.data(), static_cast<uint32_t>(untagged.size()), 0, {}};
  // One buffer, two tagging variants, as when a frame floods to a trunk and an access port.
  TxItem items[] = {{&p, 0x8100, 0x6014}, {&p, 0, 0}, {&p, 0x88a8, 30}};
  EXPECT_EQ(port->send(items), 3u);
  auto first = raw.ReceiveTestFrame(2000);
  auto second = raw.ReceiveTestFrame(2000);
  auto third = raw.ReceiveTestFrame(2000);
  ASSERT_TRUE(first && second && third);
  Frame want1 = untagged;
  const uint8_t tag1[] = {0x81, 0x00, 0x60, 0x14};
  want1.insert(want1.begin() + 12, tag1, tag1 + 4);
  EXPECT_EQ(*first, want1);
  EXPECT_EQ(*second, untagged);
  Frame want3 = untagged;
  const uint8_t tag3[] = {0x88, 0xa8, 0x00, 30};
  want3.insert(want3.begin() + 12, tag3, tag3 + 4);
  EXPECT_EQ(*third, want3);
  // The packet itself is untouched: nothing is written into the sender's buffer.
  EXPECT_EQ(Frame(p.data, p.data + p.len), untagged);
}

TEST_F(AfPacketPortTest, TruncatedFramesAreCountedAndSkipped) {
  AfPacketPort::Options small;
  small.frame_capacity = 256;
  auto port = OpenPortInA(small);
  ASSERT_TRUE(port);
  RawSocket raw = OpenRawInB();
  ASSERT_TRUE(raw.valid());

  ASSERT_TRUE(raw.Send(MakeFrame(0xa, 0xb, 1000, 0x66)));
  Frame fits = MakeFrame(0xa, 0xb, 200, 0x77);
  ASSERT_TRUE(raw.Send(fits));
  auto got = ReceiveTestFrame(*port, 2000);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->first, fits);
  EXPECT_GE(port->io_counters().rx_errors, 1u);
}

TEST_F(AfPacketPortTest, KernelDropsOnAFullReceiveQueueAreReported) {
  AfPacketPort::Options tiny;
  tiny.rcvbuf_bytes = 1;  // the kernel rounds up to its minimum: a handful of frames
  auto port = OpenPortInA(tiny);
  ASSERT_TRUE(port);
  RawSocket raw = OpenRawInB();
  ASSERT_TRUE(raw.valid());
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(raw.Send(MakeFrame(0xa, 0xb, 1000, 0x10)));
  EXPECT_GT(port->io_counters().rx_dropped, 0u);
  const uint64_t dropped = port->io_counters().rx_dropped;
  EXPECT_EQ(port->io_counters().rx_dropped, dropped) << "accumulated, not reset by reading";
}

TEST_F(AfPacketPortTest, TcpStreamArrivesAsGsoSuperFrames) {
  ASSERT_TRUE(testing::Sh("ip -n " + ns_a_->name() + " addr add 10.77.0.1/24 dev " + kVethA));
  ASSERT_TRUE(testing::Sh("ip -n " + ns_b_->name() + " addr add 10.77.0.2/24 dev " + kVethB));
  // The port listens on B's end; B's own stack is the TCP receiver (the port sees a copy).
  auto port_r = InNetns(ns_b_->name(), [&] { return AfPacketPort::Open(kVethB); });
  ASSERT_TRUE(port_r && port_r->ok());
  std::unique_ptr<AfPacketPort> port = std::move(**port_r);

  constexpr size_t kBytes = 1 << 20;
  testing::TcpTransfer transfer(ns_b_->name(), "10.77.0.2", 5201, ns_a_->name(), kBytes);

  std::optional<VnetHdr> gso;
  uint32_t gso_len = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  Packet* pkts[kMaxBatch];
  while (!gso && std::chrono::steady_clock::now() < deadline) {
    testing::WaitReadable(port->poll_fd(), 50);
    size_t n = port->receive(pkts, kMaxBatch);
    for (size_t i = 0; i < n && !gso; ++i) {
      if (pkts[i]->vnet.gso_type != VnetHdr::kGsoNone) {
        gso = pkts[i]->vnet;
        gso_len = pkts[i]->len;
      }
    }
  }
  EXPECT_EQ(transfer.join(), kBytes);
  ASSERT_TRUE(gso) << "no GSO frame seen";
  EXPECT_EQ(gso->gso_type & ~VnetHdr::kGsoEcn, VnetHdr::kGsoTcpV4);
  EXPECT_GT(gso_len, 1514u);
  EXPECT_GT(gso->gso_size, 0u);
  EXPECT_TRUE(gso->flags & VnetHdr::kFlagNeedsCsum);
  EXPECT_EQ(gso->csum_start, 14 + 20);  // TCP header after Ethernet + IPv4 without options
  EXPECT_EQ(gso->csum_offset, 16);      // offsetof(tcphdr, check)
}

}  // namespace
}  // namespace cloudlet
