// Tests for net/ethernet.h: MAC addresses, frame parsing (valid, malformed, truncated), tag push/pop, vnet offsets.
#include "net/ethernet.h"

#include <gtest/gtest.h>

#include <vector>

namespace cloudlet {
namespace {

const MacAddr kDst{{0x02, 0x00, 0x00, 0x00, 0x00, 0x0b}};
const MacAddr kSrc{{0x02, 0x00, 0x00, 0x00, 0x00, 0x0a}};

std::vector<uint8_t> Frame(const std::vector<VlanTag>& tags, uint16_t ethertype, size_t payload) {
  std::vector<uint8_t> f(2 * kEthAddrLen);
  std::copy(kDst.bytes.begin(), kDst.bytes.end(), f.begin());
  std::copy(kSrc.bytes.begin(), kSrc.bytes.end(), f.begin() + kEthAddrLen);
  for (const VlanTag& t : tags) {
    f.push_back(t.tpid >> 8), f.push_back(t.tpid & 0xff);
    f.push_back(t.tci >> 8), f.push_back(t.tci & 0xff);
  }
  f.push_back(ethertype >> 8), f.push_back(ethertype & 0xff);
  for (size_t i = 0; i < payload; ++i) f.push_back(static_cast<uint8_t>(0x40 + i));
  return f;
}

// A packet in its own buffer with headroom, as a port would hand it over.
struct Buffer {
  explicit Buffer(const std::vector<uint8_t>& frame, size_t headroom = kPacketHeadroom)
      : bytes(headroom + frame.size()) {
    std::copy(frame.begin(), frame.end(), bytes.begin() + headroom);
    pkt.data = bytes.data() + headroom;
    pkt.len = static_cast<uint32_t>(frame.size());
    pkt.headroom = static_cast<uint32_t>(headroom);
  }
  std::vector<uint8_t> frame() const { return {pkt.data, pkt.data + pkt.len}; }
  std::vector<uint8_t> bytes;
  Packet pkt;
};

TEST(MacAddrTest, ParsesAndFormats) {
  auto mac = MacAddr::Parse("52:54:00:AB:cd:0f");
  ASSERT_TRUE(mac.has_value());
  EXPECT_EQ(mac->to_string(), "52:54:00:ab:cd:0f");
  EXPECT_EQ(mac->to_u64(), 0x525400abcd0fULL);
  EXPECT_EQ(MacAddr::FromU64(0x525400abcd0fULL), *mac);
  EXPECT_TRUE(MacAddr::Parse("52-54-00-ab-cd-0f").has_value());
  for (const char* bad : {"", "52:54:00:ab:cd", "52:54:00:ab:cd:0g", "52:54-00:ab:cd:0f",
                          "52:54:00:ab:cd:0f:", "525400abcd0f", "52:54:00:ab:cd:f"}) {
    EXPECT_FALSE(MacAddr::Parse(bad).has_value()) << bad;
  }
}

TEST(MacAddrTest, Classifies) {
  EXPECT_TRUE(MacAddr::Broadcast().is_multicast());
  EXPECT_TRUE(MacAddr::Broadcast().is_broadcast());
  EXPECT_TRUE(MacAddr::Parse("01:00:5e:00:00:01")->is_multicast());
  EXPECT_FALSE(kSrc.is_multicast());
  EXPECT_TRUE(MacAddr{}.is_zero());
  EXPECT_TRUE(IsMulticastMac48(MacAddr::Parse("33:33:00:00:00:01")->to_u64()));
  EXPECT_EQ(LoadMac48(kSrc.bytes.data()), kSrc.to_u64());
}

TEST(ParseFrameTest, Untagged) {
  auto f = Frame({}, kEtherTypeIpv4, 46);
  FrameView v;
  ASSERT_EQ(ParseFrame(f.data(), f.size(), &v), FrameError::kNone);
  EXPECT_EQ(v.dst_mac(), kDst);
  EXPECT_EQ(v.src_mac(), kSrc);
  EXPECT_EQ(v.num_tags, 0);
  EXPECT_EQ(v.outer_tag(), nullptr);
  EXPECT_EQ(v.ethertype, kEtherTypeIpv4);
  EXPECT_EQ(v.l3_offset, 14u);
}

TEST(ParseFrameTest, Dot1Q) {
  auto f = Frame({{kEtherTypeVlan, MakeTci(5, true, 100)}}, kEtherTypeIpv6, 46);
  FrameView v;
  ASSERT_EQ(ParseFrame(f.data(), f.size(), &v), FrameError::kNone);
  ASSERT_EQ(v.num_tags, 1);
  EXPECT_EQ(v.outer_tag()->tpid, kEtherTypeVlan);
  EXPECT_EQ(v.outer_tag()->pcp(), 5);
  EXPECT_TRUE(v.outer_tag()->dei());
  EXPECT_EQ(v.outer_tag()->vid(), 100);
  EXPECT_EQ(v.ethertype, kEtherTypeIpv6);
  EXPECT_EQ(v.l3_offset, 18u);
}

TEST(ParseFrameTest, Dot1adAndDoubleTagged) {
  auto s_only = Frame({{kEtherTypeQinQ, MakeTci(3, false, 200)}}, kEtherTypeArp, 28);
  FrameView v;
  ASSERT_EQ(ParseFrame(s_only.data(), s_only.size(), &v), FrameError::kNone);
  ASSERT_EQ(v.num_tags, 1);
  EXPECT_EQ(v.outer_tag()->tpid, kEtherTypeQinQ);
  EXPECT_EQ(v.outer_tag()->vid(), 200);
  EXPECT_EQ(v.ethertype, kEtherTypeArp);

  auto qinq =
      Frame({{kEtherTypeQinQ, MakeTci(1, false, 300)}, {kEtherTypeVlan, MakeTci(6, false, 42)}}, kEtherTypeIpv4, 46);
  ASSERT_EQ(ParseFrame(qinq.data(), qinq.size(), &v), FrameError::kNone);
  ASSERT_EQ(v.num_tags, 2);
  EXPECT_EQ(v.outer_tag()->vid(), 300);
  EXPECT_EQ(v.inner_tag()->tpid, kEtherTypeVlan);
  EXPECT_EQ(v.inner_tag()->vid(), 42);
  EXPECT_EQ(v.inner_tag()->pcp(), 6);
  EXPECT_EQ(v.ethertype, kEtherTypeIpv4);
  EXPECT_EQ(v.l3_offset, 22u);

  // Old-style 0x9100 S-tag is recognized too; a third tag stays payload and shows as the ethertype.
  auto triple = Frame({{kEtherTypeQinQOld, 10}, {kEtherTypeVlan, 20}, {kEtherTypeVlan, 30}}, kEtherTypeIpv4, 10);
  ASSERT_EQ(ParseFrame(triple.data(), triple.size(), &v), FrameError::kNone);
  EXPECT_EQ(v.num_tags, 2);
  EXPECT_EQ(v.outer_tag()->tpid, kEtherTypeQinQOld);
  EXPECT_EQ(v.ethertype, kEtherTypeVlan);
  EXPECT_EQ(v.l3_offset, 22u);
}

// Every prefix 0..40 bytes of untagged, single- and double-tagged frames: either parsed with every offset inside
// the prefix, or reported truncated. Each prefix is copied to a buffer of exactly that size (ASan catches overreads).
TEST(ParseFrameTest, TruncatedAtEveryLength) {
  const std::vector<std::pair<std::vector<uint8_t>, size_t>> cases = {
      {Frame({}, kEtherTypeIpv4, 40), 14},
      {Frame({{kEtherTypeVlan, 7}}, kEtherTypeIpv4, 40), 18},
      {Frame({{kEtherTypeQinQ, 7}, {kEtherTypeVlan, 9}}, kEtherTypeIpv4, 40), 22},
  };
  for (const auto& [full, min_len] : cases) {
    for (size_t len = 0; len <= 40; ++len) {
      std::vector<uint8_t> prefix(full.begin(), full.begin() + len);
      FrameView v;
      FrameError err = ParseFrame(len ? prefix.data() : nullptr, len, &v);
      if (len < kEthHeaderLen) {
        EXPECT_EQ(err, FrameError::kTruncatedHeader) << "len " << len;
      } else if (len < min_len) {
        EXPECT_EQ(err, FrameError::kTruncatedTag) << "len " << len << " min " << min_len;
      } else {
        ASSERT_EQ(err, FrameError::kNone) << "len " << len;
        EXPECT_LE(v.l3_offset, len);
        EXPECT_EQ(v.l3_offset, min_len);
      }
      if (err != FrameError::kNone) {
        EXPECT_EQ(v.num_tags, 0) << "a failed parse leaves an empty view";
      }
    }
  }
  EXPECT_STREQ(FrameErrorName(FrameError::kTruncatedTag), "truncated_tag");
}

TEST(TagTest, PopThenPushRestoresFrameAndPcp) {
  const auto tagged = Frame({{kEtherTypeVlan, MakeTci(6, false, 123)}}, kEtherTypeIpv4, 46);
  Buffer b(tagged);
  VlanTag popped;
  ASSERT_TRUE(PopTag(b.pkt, &popped));
  EXPECT_EQ(popped.tpid, kEtherTypeVlan);
  EXPECT_EQ(popped.pcp(), 6);
  EXPECT_EQ(popped.vid(), 123);
  EXPECT_EQ(b.frame(), Frame({}, kEtherTypeIpv4, 46));
  EXPECT_EQ(b.pkt.headroom, kPacketHeadroom + 4);
  ASSERT_TRUE(PushTag(b.pkt, popped.tpid, popped.tci));
  EXPECT_EQ(b.frame(), tagged);
  EXPECT_EQ(b.pkt.headroom, kPacketHeadroom);
}

TEST(TagTest, PushOntoTaggedFrameMakesQinQ) {
  Buffer b(Frame({{kEtherTypeVlan, 42}}, kEtherTypeIpv4, 20));
  ASSERT_TRUE(PushTag(b.pkt, kEtherTypeQinQ, MakeTci(2, false, 300)));
  EXPECT_EQ(b.frame(), Frame({{kEtherTypeQinQ, MakeTci(2, false, 300)}, {kEtherTypeVlan, 42}}, kEtherTypeIpv4, 20));
}

TEST(TagTest, RefusesWhatItCannotDo) {
  Buffer untagged(Frame({}, kEtherTypeIpv4, 46));
  EXPECT_FALSE(PopTag(untagged.pkt));
  EXPECT_EQ(untagged.frame(), Frame({}, kEtherTypeIpv4, 46));

  Buffer no_room(Frame({}, kEtherTypeIpv4, 46), /*headroom=*/3);
  EXPECT_FALSE(PushTag(no_room.pkt, kEtherTypeVlan, 5));
  EXPECT_EQ(no_room.pkt.len, 60u);

  auto tagged = Frame({{kEtherTypeVlan, 5}}, kEtherTypeIpv4, 0);
  for (size_t len = 0; len < 18; ++len) {
    Buffer cut(std::vector<uint8_t>(tagged.begin(), tagged.begin() + len));
    EXPECT_FALSE(PopTag(cut.pkt)) << len;
    EXPECT_EQ(cut.pkt.len, len);
  }
}

TEST(TagTest, VnetOffsetsFollowPushAndPop) {
  Buffer b(Frame({{kEtherTypeVlan, 10}}, kEtherTypeIpv4, 100));
  b.pkt.vnet.flags = VnetHdr::kFlagNeedsCsum;
  b.pkt.vnet.gso_type = VnetHdr::kGsoTcpV4;
  b.pkt.vnet.gso_size = 1448;
  b.pkt.vnet.csum_start = 18 + 20;  // L4 header after tag and IPv4 header
  b.pkt.vnet.csum_offset = 16;
  b.pkt.vnet.hdr_len = 18 + 20 + 20;
  ASSERT_TRUE(PopTag(b.pkt));
  EXPECT_EQ(b.pkt.vnet.csum_start, 34);
  EXPECT_EQ(b.pkt.vnet.hdr_len, 54);
  EXPECT_EQ(b.pkt.vnet.csum_offset, 16);
  EXPECT_EQ(b.pkt.vnet.gso_size, 1448);
  ASSERT_TRUE(PushTag(b.pkt, kEtherTypeQinQ, 20));
  EXPECT_EQ(b.pkt.vnet.csum_start, 38);
  EXPECT_EQ(b.pkt.vnet.hdr_len, 58);

  // Without NEEDS_CSUM / GSO the offsets mean nothing and stay zero.
  Buffer plain(Frame({{kEtherTypeVlan, 10}}, kEtherTypeIpv4, 100));
  ASSERT_TRUE(PopTag(plain.pkt));
  EXPECT_EQ(plain.pkt.vnet.csum_start, 0);
  EXPECT_EQ(plain.pkt.vnet.hdr_len, 0);
}

TEST(TagTest, WriteTaggedHeaderForScatterGather) {
  Buffer b(Frame({}, kEtherTypeIpv4, 46));
  uint8_t hdr[16];
  ASSERT_TRUE(WriteTaggedHeader(b.pkt, kEtherTypeVlan, MakeTci(4, false, 7), hdr));
  std::vector<uint8_t> wire(hdr, hdr + 16);
  wire.insert(wire.end(), b.pkt.data + 12, b.pkt.data + b.pkt.len);
  EXPECT_EQ(wire, Frame({{kEtherTypeVlan, MakeTci(4, false, 7)}}, kEtherTypeIpv4, 46));
  EXPECT_EQ(b.frame(), Frame({}, kEtherTypeIpv4, 46)) << "the shared buffer is not touched";
}

}  // namespace
}  // namespace cloudlet
