// `cloudlet image ...` (cmd_image.cc): the local image store (ls, inspect, rm, import, gc, verify), registry
// transfers (pull, push) and build from a Containerfile. Works on the store directly; no daemon needed.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace cloudlet::cli {

struct ImageArgs {
  std::string store;                     // --store (env CLOUDLET_IMAGE_STORE)
  std::string reference, second;         // REF / DIR REF / LOCAL REMOTE
  std::vector<std::string> import_args;  // DIR... REF, or REF with --busybox
  bool busybox = false;
  std::string compression = "gzip";
  std::string platform;
  bool insecure = false;
  std::string creds;
  std::string chunk_size = "8M";
  std::string from;
  std::string format = "table";
  // build
  std::string containerfile;            // -f
  std::vector<std::string> tags;        // -t
  std::vector<std::string> build_args;  // --build-arg K=V
  bool no_cache = false;
  int64_t epoch = -1;  // --epoch; -1: SOURCE_DATE_EPOCH, else 0
  std::string context;
  CLI::App *image = nullptr, *ls = nullptr, *inspect = nullptr, *rm = nullptr, *import = nullptr, *pull = nullptr,
           *push = nullptr, *gc = nullptr, *verify = nullptr, *build = nullptr;
};

CLI::App* AddImageCommands(CLI::App& app, ImageArgs& args);
int RunImageCommand(const ImageArgs& args, std::ostream& out, std::ostream& err);

}  // namespace cloudlet::cli
