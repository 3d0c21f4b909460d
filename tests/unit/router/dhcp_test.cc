#include "router/dhcp.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

namespace cloudlet::router {
namespace {

IpAddress Ip(const char* s) { return *ParseIpAddress(s); }
MacAddr Mac(uint8_t last) { return MacAddr{{0x52, 0x54, 0x00, 0x00, 0x00, last}}; }

// A BOOTREQUEST as a client would send it.
struct Msg {
  uint8_t type = 1;
  MacAddr mac = Mac(1);
  uint32_t xid = 0x12345678;
  uint16_t flags = 0;
  IpAddress ciaddr;
  std::optional<IpAddress> requested, server_id;
  std::string hostname;

  std::vector<uint8_t> Bytes() const {
    std::vector<uint8_t> b(240, 0);
    b[0] = 1, b[1] = 1, b[2] = 6;
    for (int i = 0; i < 4; ++i) b[4 + i] = static_cast<uint8_t>(xid >> (24 - 8 * i));
    b[10] = static_cast<uint8_t>(flags >> 8), b[11] = static_cast<uint8_t>(flags);
    std::memcpy(&b[12], ciaddr.bytes.data(), 4);
    std::memcpy(&b[28], mac.bytes.data(), 6);
    b[236] = 99, b[237] = 130, b[238] = 83, b[239] = 99;
    auto opt = [&](uint8_t code, const uint8_t* v, size_t n) {
      b.push_back(code);
      b.push_back(static_cast<uint8_t>(n));
      b.insert(b.end(), v, v + n);
    };
    opt(53, &type, 1);
    if (requested) opt(50, requested->bytes.data(), 4);
    if (server_id) opt(54, server_id->bytes.data(), 4);
    if (!hostname.empty()) opt(12, reinterpret_cast<const uint8_t*>(hostname.data()), hostname.size());
    b.push_back(255);
    return b;
  }
};

// A parsed BOOTREPLY.
struct Reply {
  size_t len = 0;
  std::vector<uint8_t> raw;
  std::map<uint8_t, std::vector<uint8_t>> opts;
  DhcpReplyTo to;

  uint8_t type() const { return opts.count(53) ? opts.at(53)[0] : 0; }
  IpAddress yiaddr() const { return IpAddress::V4(raw[16], raw[17], raw[18], raw[19]); }
  IpAddress ciaddr() const { return IpAddress::V4(raw[12], raw[13], raw[14], raw[15]); }
  uint32_t U32(uint8_t code) const {
    const auto& v = opts.at(code);
    return uint32_t{v[0]} << 24 | uint32_t{v[1]} << 16 | uint32_t{v[2]} << 8 | v[3];
  }
  IpAddress Addr(uint8_t code) const {
    const auto& v = opts.at(code);
    return IpAddress::V4(v[0], v[1], v[2], v[3]);
  }
};

constexpr uint8_t kDiscover = 1, kOffer = 2, kRequest = 3, kDecline = 4, kAck = 5, kNak = 6, kRelease = 7, kInform = 8;

class DhcpTest : public ::testing::Test {
 protected:
  DhcpConfig Config() {
    DhcpConfig c;
    c.subnet = *ParseIpPrefix("10.10.0.0/24");
    c.server = Ip("10.10.0.1");
    c.range_lo = Ip("10.10.0.100");
    c.range_hi = Ip("10.10.0.102");
    c.dns = {Ip("10.10.0.1"), Ip("1.1.1.1")};
    c.domain = "lab.example";
    c.mtu = 1450;
    return c;
  }
  std::unique_ptr<DhcpServer> Make(DhcpConfig c, std::string file = "") {
    return std::make_unique<DhcpServer>(std::move(c), std::move(file), [this] { return now_; });
  }
  void SetUp() override {
    server_ = Make(Config());
    ASSERT_TRUE(server_->load().ok());
  }
  std::string TempDir() {
    char tmpl[] = "/tmp/dhcp_test.XXXXXX";
    const char* d = mkdtemp(tmpl);
    EXPECT_NE(d, nullptr);
    dirs_.emplace_back(d);
    return d;
  }
  void TearDown() override {
    for (const auto& d : dirs_) std::system(("rm -rf " + d).c_str());
  }

  Reply Send(DhcpServer& s, const Msg& m) {
    auto b = m.Bytes();
    Reply r;
    r.raw.assign(kMinDhcpReplyCap, 0xee);
    r.len = s.handle(b.data(), b.size(), r.raw.data(), r.raw.size(), &r.to);
    if (r.len == 0) return r;
    EXPECT_GE(r.len, 300u);
    EXPECT_LE(r.len, kMinDhcpReplyCap);
    EXPECT_EQ(r.raw[0], 2);
    EXPECT_EQ(0, std::memcmp(&r.raw[4], &b[4], 4)) << "xid";
    EXPECT_EQ(0, std::memcmp(&r.raw[10], &b[10], 2)) << "flags";
    EXPECT_EQ(0, std::memcmp(&r.raw[28], &b[28], 16)) << "chaddr";
    for (size_t off = 240; off < r.len && r.raw[off] != 255;) {
      if (r.raw[off] == 0) {
        ++off;
        continue;
      }
      EXPECT_LE(off + 2 + r.raw[off + 1], r.len);
      r.opts[r.raw[off]].assign(&r.raw[off + 2], &r.raw[off + 2 + r.raw[off + 1]]);
      off += 2 + r.raw[off + 1];
    }
    return r;
  }
  Reply Send(const Msg& m) { return Send(*server_, m); }

  // DISCOVER + REQUEST; returns the ACK.
  Reply Dora(DhcpServer& s, MacAddr mac, const std::string& host = "") {
    Msg d{.type = kDiscover, .mac = mac, .hostname = host};
    Reply offer = Send(s, d);
    EXPECT_EQ(offer.type(), kOffer);
    if (offer.type() != kOffer) return offer;
    Msg r{.type = kRequest, .mac = mac, .requested = offer.yiaddr(), .server_id = offer.Addr(54), .hostname = host};
    return Send(s, r);
  }
  Reply Dora(MacAddr mac, const std::string& host = "") { return Dora(*server_, mac, host); }

  int64_t now_ = 1'700'000'000;
  std::unique_ptr<DhcpServer> server_;
  std::vector<std::string> dirs_;
};

TEST_F(DhcpTest, FullDoraGivesTheLowestPoolAddressWithAllOptions) {
  Reply offer = Send(Msg{.type = kDiscover, .mac = Mac(1), .hostname = "vm1"});
  ASSERT_EQ(offer.type(), kOffer);
  EXPECT_EQ(offer.yiaddr(), Ip("10.10.0.100"));
  EXPECT_EQ(offer.Addr(54), Ip("10.10.0.1"));
  EXPECT_EQ(offer.U32(51), 3600u);
  // Broadcast flag unset (udhcpc's default): unicast to yiaddr at chaddr.
  EXPECT_FALSE(offer.to.broadcast);
  EXPECT_EQ(offer.to.address, Ip("10.10.0.100"));
  EXPECT_EQ(offer.to.mac, Mac(1));
  ASSERT_EQ(server_->leases().size(), 1u);
  EXPECT_FALSE(server_->leases()[0].bound);

  Reply ack = Send(Msg{.type = kRequest,
                       .mac = Mac(1),
                       .requested = Ip("10.10.0.100"),
                       .server_id = Ip("10.10.0.1"),
                       .hostname = "vm1"});
  ASSERT_EQ(ack.type(), kAck);
  EXPECT_EQ(ack.yiaddr(), Ip("10.10.0.100"));
  EXPECT_EQ(ack.U32(51), 3600u);
  EXPECT_EQ(ack.U32(58), 1800u);
  EXPECT_EQ(ack.U32(59), 3150u);
  EXPECT_EQ(ack.Addr(1), Ip("255.255.255.0"));
  EXPECT_EQ(ack.Addr(3), Ip("10.10.0.1"));
  EXPECT_EQ(ack.Addr(54), Ip("10.10.0.1"));
  EXPECT_EQ(ack.opts.at(6), (std::vector<uint8_t>{10, 10, 0, 1, 1, 1, 1, 1}));
  EXPECT_EQ(std::string(ack.opts.at(15).begin(), ack.opts.at(15).end()), "lab.example");
  EXPECT_EQ(ack.opts.at(26), (std::vector<uint8_t>{0x05, 0xaa}));
  auto leases = server_->leases();
  ASSERT_EQ(leases.size(), 1u);
  EXPECT_TRUE(leases[0].bound);
  EXPECT_EQ(leases[0].mac, Mac(1));
  EXPECT_EQ(leases[0].address, Ip("10.10.0.100"));
  EXPECT_EQ(leases[0].expires_unix, now_ + 3600);
  EXPECT_EQ(leases[0].hostname, "vm1");
  EXPECT_EQ(server_->dropped(), 0u);

  // A second client gets the next address.
  EXPECT_EQ(Dora(Mac(2)).yiaddr(), Ip("10.10.0.101"));
}

TEST_F(DhcpTest, BroadcastFlagGivesBroadcastReply) {
  Reply offer = Send(Msg{.type = kDiscover, .mac = Mac(1), .flags = 0x8000});
  ASSERT_EQ(offer.type(), kOffer);
  EXPECT_TRUE(offer.to.broadcast);
  EXPECT_EQ(offer.to.address, Ip("255.255.255.255"));
  EXPECT_TRUE(offer.to.mac.is_broadcast());
}

TEST_F(DhcpTest, DiscoverKeepsPreviousOrRequestedAddress) {
  ASSERT_EQ(Dora(Mac(1)).yiaddr(), Ip("10.10.0.100"));
  EXPECT_EQ(Send(Msg{.type = kDiscover, .mac = Mac(1)}).yiaddr(), Ip("10.10.0.100"));
  EXPECT_TRUE(server_->leases()[0].bound) << "a DISCOVER does not undo a binding";
  // Option 50 honoured when free, ignored when taken.
  EXPECT_EQ(Send(Msg{.type = kDiscover, .mac = Mac(2), .requested = Ip("10.10.0.102")}).yiaddr(), Ip("10.10.0.102"));
  EXPECT_EQ(Send(Msg{.type = kDiscover, .mac = Mac(3), .requested = Ip("10.10.0.100")}).yiaddr(), Ip("10.10.0.101"));
}

TEST_F(DhcpTest, RenewExtendsTheLeaseByUnicast) {
  ASSERT_EQ(Dora(Mac(1)).type(), kAck);
  now_ += 1800;
  Reply ack = Send(Msg{.type = kRequest, .mac = Mac(1), .ciaddr = Ip("10.10.0.100")});
  ASSERT_EQ(ack.type(), kAck);
  EXPECT_EQ(ack.yiaddr(), Ip("10.10.0.100"));
  EXPECT_EQ(ack.ciaddr(), Ip("10.10.0.100"));
  EXPECT_FALSE(ack.to.broadcast);
  EXPECT_EQ(ack.to.address, Ip("10.10.0.100"));
  EXPECT_EQ(server_->leases()[0].expires_unix, now_ + 3600);
}

TEST_F(DhcpTest, RebindAdoptsAFreeAddressAndNaksAnotherClients) {
  ASSERT_EQ(Dora(Mac(1)).type(), kAck);
  // A server that lost its table (no lease file) lets a rebinding client keep a free pool address.
  auto fresh = Make(Config());
  ASSERT_TRUE(fresh->load().ok());
  Reply ack = Send(*fresh, Msg{.type = kRequest, .mac = Mac(1), .flags = 0x8000, .ciaddr = Ip("10.10.0.100")});
  ASSERT_EQ(ack.type(), kAck);
  EXPECT_FALSE(ack.to.broadcast) << "ciaddr set: unicast";
  ASSERT_EQ(fresh->leases().size(), 1u);
  EXPECT_TRUE(fresh->leases()[0].bound);
  // Rebinding with an address leased to someone else, or outside the subnet: NAK, broadcast.
  Reply nak = Send(Msg{.type = kRequest, .mac = Mac(2), .ciaddr = Ip("10.10.0.100")});
  EXPECT_EQ(nak.type(), kNak);
  EXPECT_TRUE(nak.to.broadcast);
  EXPECT_EQ(nak.yiaddr(), Ip("0.0.0.0"));
  EXPECT_FALSE(nak.opts.count(51));
  EXPECT_EQ(Send(Msg{.type = kRequest, .mac = Mac(2), .ciaddr = Ip("192.168.1.5")}).type(), kNak);
}

TEST_F(DhcpTest, InitRebootAckNakAndSilence) {
  ASSERT_EQ(Dora(Mac(1)).type(), kAck);
  // Its own address: ACK.
  EXPECT_EQ(Send(Msg{.type = kRequest, .mac = Mac(1), .requested = Ip("10.10.0.100")}).type(), kAck);
  // Wrong subnet: NAK (even for an unknown client).
  EXPECT_EQ(Send(Msg{.type = kRequest, .mac = Mac(9), .requested = Ip("192.168.0.10")}).type(), kNak);
  // Known client asking for another address: NAK.
  EXPECT_EQ(Send(Msg{.type = kRequest, .mac = Mac(1), .requested = Ip("10.10.0.101")}).type(), kNak);
  // Owned by another client: NAK.
  EXPECT_EQ(Send(Msg{.type = kRequest, .mac = Mac(2), .requested = Ip("10.10.0.100")}).type(), kNak);
  // Unknown client, unowned address in our subnet: silence (RFC 2131 4.3.2), counted.
  const uint64_t before = server_->dropped();
  EXPECT_EQ(Send(Msg{.type = kRequest, .mac = Mac(3), .requested = Ip("10.10.0.102")}).len, 0u);
  EXPECT_EQ(server_->dropped(), before + 1);
  EXPECT_EQ(server_->leases().size(), 1u);
}

TEST_F(DhcpTest, RequestForAnotherServerWithdrawsOurOffer) {
  ASSERT_EQ(Send(Msg{.type = kDiscover, .mac = Mac(1)}).type(), kOffer);
  EXPECT_EQ(
      Send(Msg{.type = kRequest, .mac = Mac(1), .requested = Ip("10.10.0.100"), .server_id = Ip("10.10.0.254")}).len,
      0u);
  EXPECT_TRUE(server_->leases().empty());
  EXPECT_EQ(Send(Msg{.type = kDiscover, .mac = Mac(2)}).yiaddr(), Ip("10.10.0.100"));
}

TEST_F(DhcpTest, PoolExhaustionGivesNoOffer) {
  for (uint8_t i = 1; i <= 3; ++i) ASSERT_EQ(Dora(Mac(i)).type(), kAck);
  const uint64_t before = server_->dropped();
  EXPECT_EQ(Send(Msg{.type = kDiscover, .mac = Mac(4)}).len, 0u);
  EXPECT_EQ(server_->dropped(), before + 1);
  // SELECTING for a taken address: NAK.
  EXPECT_EQ(
      Send(Msg{.type = kRequest, .mac = Mac(4), .requested = Ip("10.10.0.101"), .server_id = Ip("10.10.0.1")}).type(),
      kNak);
  EXPECT_EQ(server_->leases().size(), 3u);
}

TEST_F(DhcpTest, PoolSkipsTheServerAddress) {
  DhcpConfig c = Config();
  c.server = Ip("10.10.0.100");
  auto s = Make(c);
  ASSERT_TRUE(s->load().ok());
  EXPECT_EQ(Dora(*s, Mac(1)).yiaddr(), Ip("10.10.0.101"));
}

TEST_F(DhcpTest, ReservationWins) {
  DhcpConfig c = Config();
  c.reservations = {{Mac(7), Ip("10.10.0.50")}, {Mac(8), Ip("10.10.0.100")}};
  auto s = Make(c);
  ASSERT_TRUE(s->load().ok());
  // Outside the pool, and even when the client asks for something else.
  Reply offer = Send(*s, Msg{.type = kDiscover, .mac = Mac(7), .requested = Ip("10.10.0.101")});
  EXPECT_EQ(offer.yiaddr(), Ip("10.10.0.50"));
  EXPECT_EQ(Dora(*s, Mac(7)).yiaddr(), Ip("10.10.0.50"));
  // A reserved pool address is never handed to anyone else.
  EXPECT_EQ(Dora(*s, Mac(1)).yiaddr(), Ip("10.10.0.101"));
  EXPECT_EQ(Send(*s, Msg{.type = kRequest, .mac = Mac(2), .requested = Ip("10.10.0.100")}).type(), kNak);
  EXPECT_EQ(Dora(*s, Mac(8)).yiaddr(), Ip("10.10.0.100"));
}

TEST_F(DhcpTest, ReleaseThenReoffer) {
  ASSERT_EQ(Dora(Mac(1)).type(), kAck);
  // A RELEASE for the wrong address is ignored.
  EXPECT_EQ(Send(Msg{.type = kRelease, .mac = Mac(1), .ciaddr = Ip("10.10.0.101")}).len, 0u);
  EXPECT_EQ(server_->leases().size(), 1u);
  EXPECT_EQ(Send(Msg{.type = kRelease, .mac = Mac(1), .ciaddr = Ip("10.10.0.100"), .server_id = Ip("10.10.0.1")}).len,
            0u);
  EXPECT_TRUE(server_->leases().empty());
  EXPECT_EQ(Send(Msg{.type = kDiscover, .mac = Mac(2)}).yiaddr(), Ip("10.10.0.100"));
}

TEST_F(DhcpTest, DeclinedAddressIsSkippedForAWhile) {
  ASSERT_EQ(Dora(Mac(1)).yiaddr(), Ip("10.10.0.100"));
  EXPECT_EQ(
      Send(Msg{.type = kDecline, .mac = Mac(1), .requested = Ip("10.10.0.100"), .server_id = Ip("10.10.0.1")}).len, 0u);
  EXPECT_TRUE(server_->leases().empty());
  EXPECT_EQ(Send(Msg{.type = kDiscover, .mac = Mac(1)}).yiaddr(), Ip("10.10.0.101"));
  EXPECT_EQ(Send(Msg{.type = kDiscover, .mac = Mac(2)}).yiaddr(), Ip("10.10.0.102"));
  now_ += kDhcpDeclineSeconds + 1;  // the two offers lapse too
  EXPECT_EQ(Send(Msg{.type = kDiscover, .mac = Mac(3)}).yiaddr(), Ip("10.10.0.100"));
}

TEST_F(DhcpTest, OffersAndLeasesExpire) {
  ASSERT_EQ(Send(Msg{.type = kDiscover, .mac = Mac(1)}).yiaddr(), Ip("10.10.0.100"));
  now_ += kDhcpOfferSeconds - 1;
  EXPECT_EQ(Send(Msg{.type = kDiscover, .mac = Mac(2)}).yiaddr(), Ip("10.10.0.101"));
  now_ += 1;
  server_->expire();
  ASSERT_EQ(server_->leases().size(), 1u);
  EXPECT_EQ(server_->leases()[0].mac, Mac(2));
  EXPECT_EQ(Dora(Mac(3)).yiaddr(), Ip("10.10.0.100"));
  now_ += 3599;
  server_->expire();
  EXPECT_EQ(server_->leases().size(), 1u);
  now_ += 1;
  server_->expire();
  EXPECT_TRUE(server_->leases().empty());
}

TEST_F(DhcpTest, InformGetsConfigurationWithoutALease) {
  Reply ack = Send(Msg{.type = kInform, .mac = Mac(5), .ciaddr = Ip("10.10.0.7")});
  ASSERT_EQ(ack.type(), kAck);
  EXPECT_EQ(ack.yiaddr(), Ip("0.0.0.0"));
  EXPECT_EQ(ack.ciaddr(), Ip("10.10.0.7"));
  EXPECT_FALSE(ack.opts.count(51));
  EXPECT_EQ(ack.Addr(3), Ip("10.10.0.1"));
  EXPECT_FALSE(ack.to.broadcast);
  EXPECT_EQ(ack.to.address, Ip("10.10.0.7"));
  EXPECT_TRUE(server_->leases().empty());
}

TEST_F(DhcpTest, PersistenceRoundTrip) {
  const std::string file = TempDir() + "/leases.json";
  auto s = Make(Config(), file);
  ASSERT_TRUE(s->load().ok()) << "a missing file is an empty table";
  ASSERT_EQ(Dora(*s, Mac(1), "alpha").yiaddr(), Ip("10.10.0.100"));
  ASSERT_EQ(Dora(*s, Mac(2)).yiaddr(), Ip("10.10.0.101"));
  ASSERT_EQ(Send(*s, Msg{.type = kDiscover, .mac = Mac(3)}).yiaddr(), Ip("10.10.0.102"));  // offers are not saved
  EXPECT_TRUE(s->save_status().ok()) << s->save_status().message();
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  EXPECT_NE(::access((file + ".tmp").c_str(), F_OK), 0);

  now_ += 100;
  auto again = Make(Config(), file);
  ASSERT_TRUE(again->load().ok());
  auto leases = again->leases();
  ASSERT_EQ(leases.size(), 2u);
  EXPECT_EQ(leases[0].mac, Mac(1));
  EXPECT_EQ(leases[0].hostname, "alpha");
  EXPECT_TRUE(leases[0].bound);
  // The same MAC gets the same address back; a new one does not get it.
  EXPECT_EQ(Send(*again, Msg{.type = kDiscover, .mac = Mac(4)}).yiaddr(), Ip("10.10.0.102"));
  EXPECT_EQ(Send(*again, Msg{.type = kDiscover, .mac = Mac(1)}).yiaddr(), Ip("10.10.0.100"));

  // A release is persisted; expired leases and leases outside a smaller pool are skipped on load.
  ASSERT_EQ(Send(*again, Msg{.type = kRelease, .mac = Mac(2), .ciaddr = Ip("10.10.0.101")}).len, 0u);
  DhcpConfig smaller = Config();
  smaller.range_hi = Ip("10.10.0.100");
  auto third = Make(smaller, file);
  ASSERT_TRUE(third->load().ok());
  ASSERT_EQ(third->leases().size(), 1u);
  now_ += 3600;
  auto fourth = Make(Config(), file);
  ASSERT_TRUE(fourth->load().ok());
  EXPECT_TRUE(fourth->leases().empty());
}

TEST_F(DhcpTest, CorruptLeaseFileIsAnErrorAndLeftInPlace) {
  const std::string file = TempDir() + "/leases.json";
  for (const char* text : {"{not json", R"({"version":2,"leases":[]})", R"({"version":1,"leases":[{"mac":1}]})",
                           R"({"version":1,"leases":[{"mac":"zz","address":"10.10.0.100","expires":1}]})"}) {
    { std::ofstream(file) << text; }
    auto s = Make(Config(), file);
    Status st = s->load();
    ASSERT_FALSE(st.ok()) << text;
    EXPECT_NE(st.message().find(file), std::string::npos) << st.message();
    std::stringstream back;
    back << std::ifstream(file).rdbuf();
    EXPECT_EQ(back.str(), text);
  }
}

TEST_F(DhcpTest, MalformedInputsAreDroppedAndCounted) {
  const std::vector<uint8_t> good = Msg{.type = kDiscover}.Bytes();
  std::vector<std::vector<uint8_t>> bad;
  bad.emplace_back();                                                     // empty
  bad.emplace_back(good.begin(), good.begin() + 239);                     // shorter than header + cookie
  bad.push_back(good), bad.back()[236] = 0;                               // bad cookie
  bad.push_back(good), bad.back()[1] = 6;                                 // htype not Ethernet
  bad.push_back(good), bad.back()[2] = 8;                                 // hlen
  bad.push_back(good), bad.back()[0] = 2;                                 // a BOOTREPLY
  bad.push_back(good), bad.back()[24] = 10;                               // relayed (giaddr)
  bad.push_back(good), bad.back()[28] = 0x01;                             // multicast chaddr
  bad.push_back(good), bad.back().resize(1501, 0);                        // too long
  bad.push_back(good), bad.back().resize(240), bad.back().push_back(12);  // option code without length
  bad.push_back(good), bad.back().resize(240);                            // no message type (BOOTP)
  {
    auto b = good;
    b.resize(240);
    b.insert(b.end(), {53, 1, 1, 12, 40, 'a', 'b'});  // hostname runs off the end
    bad.push_back(b);
  }
  {
    auto b = good;
    b.resize(240);
    b.insert(b.end(), {53, 2, 1, 1, 255});  // message type of the wrong length
    bad.push_back(b);
  }
  {
    auto b = good;
    b.resize(240);
    b.insert(b.end(), {53, 1, 2, 255});  // an OFFER sent to the server
    bad.push_back(b);
  }
  uint8_t out[kMinDhcpReplyCap];
  DhcpReplyTo to;
  for (size_t i = 0; i < bad.size(); ++i) {
    EXPECT_EQ(server_->handle(bad[i].data(), bad[i].size(), out, sizeof out, &to), 0u) << "case " << i;
    EXPECT_EQ(server_->dropped(), i + 1) << "case " << i;
  }
  EXPECT_TRUE(server_->leases().empty());
  // A small output buffer is refused rather than overrun; padding and a missing End are fine.
  EXPECT_EQ(server_->handle(good.data(), good.size(), out, 300, &to), 0u);
  auto padded = good;
  padded.resize(240);
  padded.insert(padded.end(), {0, 0, 53, 1, 1});
  EXPECT_GT(server_->handle(padded.data(), padded.size(), out, sizeof out, &to), 0u);
}

TEST_F(DhcpTest, ReconfigureKeepsLeasesStillInsideThePool) {
  ASSERT_EQ(Dora(Mac(1)).yiaddr(), Ip("10.10.0.100"));
  ASSERT_EQ(Dora(Mac(2)).yiaddr(), Ip("10.10.0.101"));
  DhcpConfig c = Config();
  c.range_lo = Ip("10.10.0.101");
  c.range_hi = Ip("10.10.0.110");
  ASSERT_TRUE(server_->reconfigure(c).ok());
  auto leases = server_->leases();
  ASSERT_EQ(leases.size(), 1u);
  EXPECT_EQ(leases[0].mac, Mac(2));
  EXPECT_EQ(Dora(Mac(1)).yiaddr(), Ip("10.10.0.102"));

  DhcpConfig bad = c;
  bad.range_hi = Ip("10.20.0.1");
  Status st = server_->reconfigure(bad);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(server_->config().range_hi, Ip("10.10.0.110")) << "a rejected config changes nothing";
  EXPECT_EQ(server_->leases().size(), 2u);
}

TEST_F(DhcpTest, InvalidConfigIsReportedByLoadAndAnswersNothing) {
  DhcpConfig c = Config();
  c.server = Ip("10.99.0.1");
  auto s = Make(c);
  Status st = s->load();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("10.99.0.1"), std::string::npos) << st.message();
  EXPECT_EQ(Send(*s, Msg{.type = kDiscover}).len, 0u);

  c = Config();
  c.reservations = {{Mac(1), Ip("10.10.0.5")}, {Mac(2), Ip("10.10.0.5")}};
  EXPECT_FALSE(DhcpServer::Validate(c).ok());
  c = Config();
  c.range_lo = Ip("10.10.0.200");
  EXPECT_FALSE(DhcpServer::Validate(c).ok());
  c = Config();
  c.domain = std::string(300, 'a');
  EXPECT_FALSE(DhcpServer::Validate(c).ok());
}

}  // namespace
}  // namespace cloudlet::router
