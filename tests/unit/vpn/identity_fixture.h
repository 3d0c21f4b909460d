// Shared by the vpn tests: a fresh static identity (X25519 keypair) per call.
#pragma once

#include <gtest/gtest.h>

#include "vpn/noise.h"

namespace cloudlet::vpn {

inline LocalIdentity MakeIdentity() {
  auto priv = GeneratePrivateKey();
  EXPECT_TRUE(priv.ok());
  auto id = LocalIdentity::FromPrivate(*priv);
  EXPECT_TRUE(id.ok());
  return *id;
}

}  // namespace cloudlet::vpn
