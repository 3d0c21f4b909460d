// libFuzzer target for the WireGuard receive path a network attacker reaches: every message parser, then as a
// responder (fixed static keys, one known peer) CookieChecker MAC1/MAC2, Handshake::ConsumeInitiation, an initiator's
// ConsumeResponse / ConsumeCookieReply, and PeerKeypairs::Open on an established session made by a real handshake at
// start-up. Input byte 0 holds flags (under load, force the handshake step past a failed MAC); the rest is the
// datagram, copied into an exactly-sized heap buffer so ASan sees any read past its end. Invariants use abort():
// after any rejected message the state stays usable (a freshly sealed data message still opens).
// CLOUDLET_WG_WRITE_SEEDS=<dir> writes a real initiation, response, cookie reply and data message there as seeds.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vpn/cookie.h"
#include "vpn/crypto.h"
#include "vpn/messages.h"
#include "vpn/noise.h"
#include "vpn/session.h"

namespace cloudlet::vpn {
namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

constexpr uint8_t kFlagUnderLoad = 1;
constexpr uint8_t kFlagForceHandshake = 2;
constexpr uint32_t kInitiatorIndex = 0x1111;
constexpr uint32_t kResponderIndex = 0x2222;
constexpr int64_t kWall = int64_t{1700000000} * kSecond;
constexpr uint8_t kSourceAddress[] = {192, 0, 2, 1, 0xca, 0x6c};

LocalIdentity FixedIdentity(uint8_t fill) {
  std::array<uint8_t, kKeySize> bytes;
  bytes.fill(fill);
  auto id = LocalIdentity::FromPrivate(PrivateKey(std::span<const uint8_t, kKeySize>(bytes)));
  Check(id.ok());
  return *id;
}

// Everything that lives across inputs: identities, both ends' handshakes and cookie checkers, and a session.
struct World {
  CryptoSuite crypto = std::move(CryptoSuite::Create()).value();
  LocalIdentity responder = FixedIdentity(0x11);  // "us"
  LocalIdentity initiator = FixedIdentity(0x22);  // the one known peer
  std::optional<Handshake> responder_hs;          // our state for the peer
  std::optional<Handshake> initiator_hs;          // the peer's state for us; always has an initiation out
  std::optional<CookieChecker> responder_checker;
  std::optional<CookieChecker> initiator_checker;
  PeerKeypairs responder_keys;
  PeerKeypairs initiator_keys;
  Nanos session_now = 10 * kSecond;  // fixed: the session never expires
  Nanos handshake_now = 10 * kSecond;
  int64_t wall = kWall;
  // Seeds (the datagrams of the start-up handshake), written out on request.
  std::vector<uint8_t> seed_initiation, seed_response, seed_cookie_reply, seed_data;

  World() {
    responder_hs.emplace(std::move(Handshake::Create(crypto, responder, initiator.public_key, SymmetricKey())).value());
    initiator_hs.emplace(std::move(Handshake::Create(crypto, initiator, responder.public_key, SymmetricKey())).value());
    responder_checker.emplace(std::move(CookieChecker::Create(crypto, responder.public_key)).value());
    initiator_checker.emplace(std::move(CookieChecker::Create(crypto, initiator.public_key)).value());

    auto init = initiator_hs->CreateInitiation(crypto, kInitiatorIndex, handshake_now, wall);
    Check(init.ok());
    seed_initiation.assign(init->begin(), init->end());
    Check(responder_checker->Check(crypto, *init, kSourceAddress, false, handshake_now) != MacCheck::kInvalid);
    auto cookie = responder_checker->CreateReply(crypto, *init, kSourceAddress, handshake_now);
    Check(cookie.ok());
    seed_cookie_reply.assign(cookie->begin(), cookie->end());
    auto peer = Handshake::ConsumeInitiation(crypto, responder, *init, Lookup(), handshake_now);
    Check(peer.ok() && *peer == &*responder_hs);
    auto resp = responder_hs->CreateResponse(crypto, kResponderIndex, handshake_now);
    Check(resp.ok());
    seed_response.assign(resp->begin(), resp->end());
    auto responder_session = responder_hs->BeginSession(crypto, session_now);
    Check(responder_session.ok());
    Check(initiator_hs->ConsumeResponse(crypto, *resp, handshake_now).ok());
    auto initiator_session = initiator_hs->BeginSession(crypto, session_now);
    Check(initiator_session.ok());
    responder_keys.Install(*responder_session);
    initiator_keys.Install(*initiator_session);

    // The first data message promotes the responder's next keypair to current.
    seed_data = SealFromInitiator("hello through the tunnel");
    Check(OpenOnResponder(seed_data));
    Check(responder_keys.current().has_value());
    NewInitiation();
  }

  PeerLookup Lookup() {
    return
        [this](const PublicKey& key) -> Handshake* { return key == initiator.public_key ? &*responder_hs : nullptr; };
  }

  // The initiator sends a fresh initiation, so a response or cookie reply has something to answer.
  void NewInitiation() {
    wall += kSecond;
    handshake_now += kSecond;
    auto init = initiator_hs->CreateInitiation(crypto, kInitiatorIndex, handshake_now, wall);
    Check(init.ok() && initiator_hs->state() == Handshake::State::kCreatedInitiation);
  }

  std::vector<uint8_t> SealFromInitiator(std::string_view text) {
    std::vector<uint8_t> wire(SealedSize(text.size()));
    auto size = initiator_keys.Seal(crypto, ByteView(reinterpret_cast<const uint8_t*>(text.data()), text.size()),
                                    session_now, wire);
    Check(size.ok() && *size == wire.size());
    return wire;
  }

  bool OpenOnResponder(const std::vector<uint8_t>& wire) {
    std::vector<uint8_t> out(wire.size() - kTransportMinSize);
    const Opened opened = responder_keys.Open(crypto, wire, session_now, out);
    return opened.ok() && opened.plaintext_size == out.size();
  }

  void WriteSeeds(const char* dir) {
    const auto write = [dir](const char* name, uint8_t flags, const std::vector<uint8_t>& message) {
      const std::string path = std::string(dir) + "/" + name;
      FILE* f = std::fopen(path.c_str(), "wb");
      Check(f != nullptr);
      std::fputc(flags, f);
      std::fwrite(message.data(), 1, message.size(), f);
      std::fclose(f);
    };
    write("initiation", 0, seed_initiation);
    write("initiation_under_load", kFlagUnderLoad, seed_initiation);
    write("initiation_forced", kFlagUnderLoad | kFlagForceHandshake, seed_initiation);
    write("response", 0, seed_response);
    write("response_forced", kFlagForceHandshake, seed_response);
    write("cookie_reply", 0, seed_cookie_reply);
    write("data", 0, seed_data);
  }
};

World& TheWorld() {
  static World* world = [] {
    auto* w = new World();
    if (const char* dir = std::getenv("CLOUDLET_WG_WRITE_SEEDS")) w->WriteSeeds(dir);
    return w;
  }();
  return *world;
}

void FuzzParsers(ByteView msg) {
  const std::optional<MessageType> type = PeekMessageType(msg);
  if (auto m = ParseInitiation(msg)) {
    Check(type == MessageType::kInitiation && msg.size() == kInitiationSize);
    const InitiationBytes back = Serialize(*m);
    Check(std::memcmp(back.data(), msg.data(), kInitiationSize) == 0);
  }
  if (auto m = ParseResponse(msg)) {
    Check(type == MessageType::kResponse && msg.size() == kResponseSize);
    const ResponseBytes back = Serialize(*m);
    Check(std::memcmp(back.data(), msg.data(), kResponseSize) == 0);
  }
  if (auto m = ParseCookieReply(msg)) {
    Check(type == MessageType::kCookieReply && msg.size() == kCookieReplySize);
    const CookieReplyBytes back = Serialize(*m);
    Check(std::memcmp(back.data(), msg.data(), kCookieReplySize) == 0);
  }
  if (auto h = ParseTransportHeader(msg)) {
    Check(type == MessageType::kTransportData && msg.size() >= kTransportMinSize);
    Check(h->ciphertext.data() == msg.data() + kTransportHeaderSize && h->ciphertext.size() + 16 == msg.size());
    Check(h->receiver_index == LoadLe32(msg.data() + 4) && h->counter == LoadLe64(msg.data() + 8));
  }
}

void FuzzHandshake(World& w, ByteView msg, uint8_t flags) {
  const bool under_load = flags & kFlagUnderLoad;
  const bool force = flags & kFlagForceHandshake;
  w.handshake_now += kSecond;  // past the flood limit, and the cookie secret rotates now and then
  const std::optional<MessageType> type = PeekMessageType(msg);
  if (type == MessageType::kInitiation) {
    const MacCheck mac = w.responder_checker->Check(w.crypto, msg, kSourceAddress, under_load, w.handshake_now);
    if (mac != MacCheck::kInvalid) Check(msg.size() == kInitiationSize);
    if (mac == MacCheck::kValidMac1 && under_load) {
      Check(w.responder_checker->CreateReply(w.crypto, msg, kSourceAddress, w.handshake_now).ok());
    }
    const bool accepted = mac == MacCheck::kValidMac1AndMac2 || (mac == MacCheck::kValidMac1 && !under_load);
    if (!accepted && !force) return;
    auto peer = Handshake::ConsumeInitiation(w.crypto, w.responder, msg, w.Lookup(), w.handshake_now);
    if (!peer.ok()) return;
    Check(*peer == &*w.responder_hs && msg.size() == kInitiationSize);
    Check(w.responder_hs->state() == Handshake::State::kConsumedInitiation);
    auto resp = w.responder_hs->CreateResponse(w.crypto, kResponderIndex, w.handshake_now);
    Check(resp.ok());
    w.responder_hs->Clear();  // the session under test stays as it is
  } else if (type == MessageType::kResponse) {
    const MacCheck mac = w.initiator_checker->Check(w.crypto, msg, kSourceAddress, under_load, w.handshake_now);
    if (mac != MacCheck::kInvalid) Check(msg.size() == kResponseSize);
    if (mac == MacCheck::kInvalid && !force) return;
    const Status consumed = w.initiator_hs->ConsumeResponse(w.crypto, msg, w.handshake_now);
    if (consumed.ok()) {
      Check(w.initiator_hs->state() == Handshake::State::kConsumedResponse);
      w.initiator_hs->Clear();
      w.NewInitiation();
    } else {
      Check(w.initiator_hs->state() == Handshake::State::kCreatedInitiation);  // a failure leaves the state untouched
    }
  } else if (type == MessageType::kCookieReply) {
    (void)w.initiator_hs->ConsumeCookieReply(msg, w.handshake_now);
    Check(w.initiator_hs->state() == Handshake::State::kCreatedInitiation);
  }
}

void FuzzTransport(World& w, ByteView msg) {
  if (PeekMessageType(msg) == MessageType::kTransportData || msg.size() >= kTransportMinSize) {
    std::vector<uint8_t> out(msg.size() >= kTransportMinSize ? msg.size() - kTransportMinSize : 0);
    const Opened opened = w.responder_keys.Open(w.crypto, msg, w.session_now, out);
    if (opened.ok()) Check(opened.plaintext_size <= out.size());
  }
  // Whatever came in, the session still carries real traffic.
  Check(w.OpenOnResponder(w.SealFromInitiator("still alive")));
  Check(w.responder_keys.owns_index(kResponderIndex));
}

}  // namespace
}  // namespace cloudlet::vpn

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cloudlet::vpn;
  World& world = TheWorld();
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  // The datagram alone, in an exactly-sized buffer.
  std::unique_ptr<uint8_t[]> datagram(new uint8_t[size - 1]);
  if (size > 1) std::memcpy(datagram.get(), data + 1, size - 1);
  const ByteView msg(datagram.get(), size - 1);
  FuzzParsers(msg);
  FuzzHandshake(world, msg, flags);
  FuzzTransport(world, msg);
  return 0;
}
