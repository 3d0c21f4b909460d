// libFuzzer target for the image-spec parsers (oci/image_spec.h): the same bytes go to the manifest, index, config and
// descriptor parsers and to SniffMediaType. Whatever a parser accepts must serialize to bytes that parse back to an
// equal object and serialize to the same bytes again (canonical form); rejected input must yield an error that starts
// with the document kind. Parsed indexes also go through platform selection. Invariants are checked with abort().
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "oci/image_spec.h"

namespace cloudlet::oci {
namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

template <typename T>
void RoundTrip(std::string_view text, Result<T> (*parse)(std::string_view), std::string_view kind) {
  const Result<T> parsed = parse(text);
  if (!parsed.ok()) {
    Check(parsed.error().message().starts_with(kind));
    return;
  }
  const std::string bytes = Serialize(*parsed);
  const Result<T> again = parse(bytes);
  Check(again.ok());
  Check(*again == *parsed);
  Check(Serialize(*again) == bytes);
}

void FuzzOne(std::string_view text) {
  RoundTrip<Manifest>(text, &ParseManifest, "manifest: ");
  RoundTrip<Index>(text, &ParseIndex, "index: ");
  RoundTrip<ImageConfig>(text, &ParseImageConfig, "image config: ");
  RoundTrip<Descriptor>(text, &ParseDescriptor, "descriptor: ");
  (void)SniffMediaType(text);

  if (const Result<Index> index = ParseIndex(text); index.ok()) {
    const Result<Descriptor> d = SelectManifest(*index, Platform{"amd64", "linux", "", {}, ""});
    if (d.ok()) Check(d->platform.has_value() && PlatformRuns(Platform{"amd64", "linux", "", {}, ""}, *d->platform));
  }
  if (const Result<Manifest> m = ParseManifest(text); m.ok()) (void)CheckImageManifest(*m);
}

}  // namespace
}  // namespace cloudlet::oci

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cloudlet::oci::FuzzOne(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
