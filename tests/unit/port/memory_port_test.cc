// MemoryPort and the scatter-gather helpers: no kernel, no root.
#include "port/memory_port.h"

#include <gtest/gtest.h>
#include <poll.h>

#include "port/tx_scatter.h"
#include "raw_socket.h"

namespace cloudlet {
namespace {

using testing::Frame;
using testing::MakeFrame;

bool Readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;
}

TEST(MemoryPort, InjectReceiveAndReadiness) {
  auto r = MemoryPort::Create({.name = "m0", .capacity = 4});
  ASSERT_TRUE(r.ok());
  auto& port = *r.value();
  EXPECT_EQ(port.name(), "m0");
  EXPECT_FALSE(Readable(port.poll_fd()));
  Packet* pkts[kMaxBatch];
  EXPECT_EQ(port.receive(pkts, kMaxBatch), 0u);

  VnetHdr gso{VnetHdr::kFlagNeedsCsum, VnetHdr::kGsoTcpV4, 66, 1448, 34, 16};
  Frame a = MakeFrame(1, 2, 60, 0x10), b = MakeFrame(1, 2, 70, 0x20);
  ASSERT_TRUE(port.inject(a, gso));
  ASSERT_TRUE(port.inject(b));
  EXPECT_TRUE(Readable(port.poll_fd()));
  ASSERT_EQ(port.receive(pkts, 1), 1u);
  EXPECT_EQ(Frame(pkts[0]->data, pkts[0]->data + pkts[0]->len), a);
  EXPECT_EQ(pkts[0]->vnet.gso_size, 1448);
  EXPECT_EQ(pkts[0]->headroom, kPacketHeadroom);
  EXPECT_TRUE(Readable(port.poll_fd())) << "one frame still pending";
  ASSERT_EQ(port.receive(pkts, kMaxBatch), 1u);
  EXPECT_EQ(Frame(pkts[0]->data, pkts[0]->data + pkts[0]->len), b);
  EXPECT_FALSE(Readable(port.poll_fd()));
}

TEST(MemoryPort, BoundedQueues) {
  auto port = std::move(MemoryPort::Create({.capacity = 2, .frame_capacity = 128}).value());
  Frame f = MakeFrame(1, 2, 60, 1);
  EXPECT_TRUE(port->inject(f));
  EXPECT_TRUE(port->inject(f));
  EXPECT_FALSE(port->inject(f)) << "queue full";
  EXPECT_FALSE(port->inject(MakeFrame(1, 2, 200, 1))) << "larger than frame_capacity";
  EXPECT_FALSE(port->inject({}));
  Packet* pkts[kMaxBatch];
  EXPECT_EQ(port->receive(pkts, kMaxBatch), 2u);
  EXPECT_FALSE(port->inject(f)) << "slots of the current batch are still in use";
  EXPECT_EQ(port->receive(pkts, kMaxBatch), 0u);
  EXPECT_TRUE(port->inject(f));

  Packet p{f.data(), static_cast<uint32_t>(f.size()), 0, {}};
  TxItem items[] = {{&p, 0, 0}, {&p, 0, 0}, {&p, 0, 0}};
  EXPECT_EQ(port->send(items), 2u);
  EXPECT_EQ(port->io_counters().tx_errors, 1u);
}

TEST(MemoryPort, SendWritesTagsInlineWithoutTouchingTheSource) {
  auto port = std::move(MemoryPort::Create({}).value());
  Frame f = MakeFrame(1, 2, 100, 7);
  Packet p{f.data(), static_cast<uint32_t>(f.size()), 0, {}};
  p.vnet = {VnetHdr::kFlagNeedsCsum, VnetHdr::kGsoTcpV4, 54, 1448, 34, 16};
  TxItem items[] = {{&p, 0x8100, 0x2005}, {&p, 0, 0}};
  ASSERT_EQ(port->send(items), 2u);
  Frame got;
  VnetHdr vnet;
  ASSERT_TRUE(port->pop_sent(got, &vnet));
  Frame want = f;
  const uint8_t tag[] = {0x81, 0x00, 0x20, 0x05};
  want.insert(want.begin() + 12, tag, tag + 4);
  EXPECT_EQ(got, want);
  EXPECT_EQ(vnet.csum_start, 38) << "offsets follow the pushed tag";
  EXPECT_EQ(vnet.hdr_len, 58);
  ASSERT_TRUE(port->pop_sent(got, &vnet));
  EXPECT_EQ(got, f);
  EXPECT_EQ(vnet.csum_start, 34);
  EXPECT_FALSE(port->pop_sent(got));
  EXPECT_EQ(port->sent_frames(), 2u);
}

TEST(MemoryPort, NonOffloadPortRefusesGso) {
  auto port = std::move(MemoryPort::Create({.offload = false}).value());
  EXPECT_FALSE(port->supports_offload());
  Frame f = MakeFrame(1, 2, 100, 7);
  Packet p{f.data(), static_cast<uint32_t>(f.size()), 0, {}};
  p.vnet.gso_type = VnetHdr::kGsoTcpV4;
  TxItem item{&p, 0, 0};
  EXPECT_EQ(port->send({&item, 1}), 0u);
  EXPECT_EQ(port->io_counters().tx_errors, 1u);
}

TEST(TxScatter, LayoutWithAndWithoutTag) {
  Frame f = MakeFrame(1, 2, 64, 9);
  Packet p{f.data(), static_cast<uint32_t>(f.size()), 0, {}};
  TxScatter s;
  ASSERT_TRUE(BuildTxScatter({&p, 0, 0}, s));
  EXPECT_EQ(s.iovcnt, 2);
  EXPECT_EQ(s.iov[1].iov_len, f.size());
  ASSERT_TRUE(BuildTxScatter({&p, 0x88a8, 0x0fff}, s));
  EXPECT_EQ(s.iovcnt, 4);
  EXPECT_EQ(s.iov[1].iov_len, 12u);
  EXPECT_EQ(Frame(s.tag, s.tag + 4), (Frame{0x88, 0xa8, 0x0f, 0xff}));
  EXPECT_EQ(s.iov[3].iov_len, f.size() - 12);

  Packet runt{f.data(), 13, 0, {}};
  EXPECT_FALSE(BuildTxScatter({&runt, 0, 0}, s));
  EXPECT_FALSE(BuildTxScatter({nullptr, 0, 0}, s));
}

TEST(TxScatter, InsertTagInlineUsesHeadroom) {
  std::vector<uint8_t> buf(kPacketHeadroom + 64);
  Frame f = MakeFrame(1, 2, 64, 9);
  std::copy(f.begin(), f.end(), buf.begin() + kPacketHeadroom);
  Packet p{buf.data() + kPacketHeadroom, 64, kPacketHeadroom, {}};
  p.vnet = {VnetHdr::kFlagNeedsCsum, VnetHdr::kGsoNone, 0, 0, 34, 16};
  ASSERT_TRUE(InsertTagInline(p, 0x8100, 42));
  Frame want = f;
  const uint8_t tag[] = {0x81, 0x00, 0x00, 42};
  want.insert(want.begin() + 12, tag, tag + 4);
  EXPECT_EQ(Frame(p.data, p.data + p.len), want);
  EXPECT_EQ(p.headroom, kPacketHeadroom - 4);
  EXPECT_EQ(p.vnet.csum_start, 38);

  Packet no_room{buf.data(), 64, 2, {}};
  EXPECT_FALSE(InsertTagInline(no_room, 0x8100, 1));
}

}  // namespace
}  // namespace cloudlet
