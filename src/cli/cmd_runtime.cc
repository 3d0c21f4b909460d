// runc's command line on top of container::Runtime: one small function per command.
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "cli/runtime.h"
#include "container/runtime.h"
#include "container/signals.h"
#include "oci/runtime_spec.h"

namespace cloudlet::cli {

namespace {

using container::Runtime;

constexpr const char* kUsage = R"(cloudlet-runtime: an OCI runtime with runc's command line

Usage: cloudlet runtime [global options] COMMAND [options] [ID]
       cloudlet-runtime [global options] COMMAND [options] [ID]

Global options:
  --root DIR            state directory (default /run/cloudlet-runtime)
  --log FILE            write errors (and --debug messages) to FILE
  --log-format text|json
  --debug               log debug messages
  --systemd-cgroup      accepted; cgroups are always managed through cgroupfs

Commands:
  create --bundle DIR [--pid-file F] [--console-socket S] [--no-pivot] ID
  start ID                 state ID                 kill ID [SIGNAL] [--all]
  delete [--force] ID      run [--bundle DIR] [--detach] [--pid-file F] ID
  exec [-t] [-d] [--pid-file F] [--cwd D] [-e K=V] [-u UID:GID] [--process F] ID [COMMAND...]
  list [--format table|json] [-q]          spec [--rootless] [--bundle DIR]
Example:
  cd bundle && cloudlet-runtime spec && cloudlet-runtime run demo
)";

// Flags that take a value, per command (both "--x v" and "--x=v" are accepted, as in runc).
const std::set<std::string> kValueFlags = {"--root",
                                           "--log",
                                           "--log-format",
                                           "--bundle",
                                           "-b",
                                           "--pid-file",
                                           "--console-socket",
                                           "--cwd",
                                           "--env",
                                           "-e",
                                           "--user",
                                           "-u",
                                           "--process",
                                           "-p",
                                           "--format",
                                           "--signal",
                                           "-s",
                                           "--cap",
                                           "--process-label",
                                           "--apparmor",
                                           "--preserve-fds",
                                           "--criu",
                                           "--rootless",
                                           "--additional-gids",
                                           "-g",
                                           "--cgroup"};

struct Args {
  std::map<std::string, std::vector<std::string>> flags;  // "--bundle" -> values
  std::vector<std::string> positional;
  bool Has(const std::string& f) const { return flags.count(f) > 0; }
  std::string Get(const std::string& f, const std::string& fallback = "") const {
    auto it = flags.find(f);
    return it == flags.end() || it->second.empty() ? fallback : it->second.back();
  }
  std::string Get2(const std::string& a, const std::string& b, const std::string& fallback = "") const {
    return Has(a) ? Get(a) : Get(b, fallback);
  }
};

// Parses flags until the first positional argument when `stop_at_positional` (global flags / exec's command).
size_t ParseFlags(const std::vector<std::string>& argv, size_t i, Args& out, bool stop_after_first_positional,
                  bool f_takes_value = false) {
  for (; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a == "--") {
      for (++i; i < argv.size(); ++i) out.positional.push_back(argv[i]);
      break;
    }
    if (a.size() > 1 && a[0] == '-') {
      std::string name = a, value;
      bool has_value = false;
      size_t eq = a.find('=');
      if (eq != std::string::npos) {
        name = a.substr(0, eq);
        value = a.substr(eq + 1);
        has_value = true;
      }
      if (name == "--rootless" && !has_value) {  // `spec --rootless` is a flag; global --rootless takes a value
        out.flags[name].push_back("true");
        continue;
      }
      // "-f" is --format for list, --force for delete.
      bool takes_value = kValueFlags.count(name) > 0 || (f_takes_value && name == "-f");
      if (!has_value && takes_value && i + 1 < argv.size()) {
        value = argv[++i];
        has_value = true;
      }
      out.flags[name].push_back(has_value ? value : "true");
      continue;
    }
    out.positional.push_back(a);
    if (stop_after_first_positional) return i + 1;
  }
  return i;
}

struct Logger {
  std::string path;
  bool json = false;
  bool debug = false;
  std::ostream* err = nullptr;

  static std::string Now() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    tm t{};
    gmtime_r(&ts.tv_sec, &t);
    char buf[64];
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &t);
    return buf;
  }
  void Write(const char* level, const std::string& msg) const {
    if (path.empty()) return;
    std::ofstream f(path, std::ios::app);
    if (json) {
      f << nlohmann::json{{"level", level}, {"msg", msg}, {"time", Now()}}.dump() << "\n";
    } else {
      f << "time=\"" << Now() << "\" level=" << level << " msg=\"" << msg << "\"\n";
    }
  }
  void Debug(const std::string& raw) const {
    if (!debug) return;
    // Milliseconds since the command started: where a slow create spends its time.
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double ms =
        static_cast<double>(ts.tv_sec - start.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec - start.tv_nsec) / 1e6;
    char prefix[32];
    snprintf(prefix, sizeof(prefix), "[%.3f ms] ", ms);
    std::string msg = prefix + raw;
    Write("debug", msg);
    if (path.empty()) *err << "debug: " << msg << "\n";
  }
  timespec start{};
  int Fail(const std::string& msg) const {
    Write("error", msg);
    *err << "cloudlet-runtime: " << msg << "\n";
    return kExitFailure;
  }
};

std::string NeedId(const Args& a) { return a.positional.empty() ? "" : a.positional[0]; }

int CmdState(Runtime& rt, const Args& a, const Logger& log, std::ostream& out) {
  auto info = rt.State(NeedId(a));
  if (!info.ok()) return log.Fail(info.error().message());
  out << container::StateJson(info->record, info->status) << "\n";
  return kExitOk;
}

int CmdList(Runtime& rt, const Args& a, const Logger& log, std::ostream& out) {
  auto list = rt.List();
  if (!list.ok()) return log.Fail(list.error().message());
  std::string format = a.Get2("--format", "-f", "table");
  if (a.Has("-q") || a.Has("--quiet")) {
    for (const auto& c : *list) out << c.record.id << "\n";
    return kExitOk;
  }
  if (format == "json") {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& c : *list) arr.push_back(nlohmann::json::parse(container::StateJson(c.record, c.status)));
    out << arr.dump() << "\n";
    return kExitOk;
  }
  if (format != "table") return log.Fail("list: --format must be table or json");
  std::vector<std::vector<std::string>> rows = {{"ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"}};
  for (const auto& c : *list) {
    bool stopped = c.status == container::ContainerStatus::kStopped;
    rows.push_back({c.record.id, std::to_string(stopped ? 0 : c.record.pid), std::string(StatusName(c.status)),
                    c.record.bundle, c.record.created, c.record.owner.empty() ? "root" : c.record.owner});
  }
  std::vector<size_t> width(6, 0);
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 4, ' ');
    }
    out << line << "\n";
  }
  return kExitOk;
}

int CmdSpec(const Args& a, const Logger& log, std::ostream& out) {
  bool rootless = a.Has("--rootless");
  std::string bundle = a.Get2("--bundle", "-b", ".");
  oci::Spec spec = oci::DefaultSpec(rootless, getuid(), getgid());
  std::string path = bundle + "/config.json";
  if (access(path.c_str(), F_OK) == 0) return log.Fail("File " + path + " exists. Remove it first");
  std::ofstream f(path);
  f << oci::SpecToJson(spec) << "\n";
  if (!f) return log.Fail("write " + path);
  (void)out;
  return kExitOk;
}

Result<oci::User> ParseUser(const std::string& text) {
  oci::User u;
  size_t colon = text.find(':');
  try {
    u.uid = static_cast<uint32_t>(std::stoul(text.substr(0, colon)));
    if (colon != std::string::npos) u.gid = static_cast<uint32_t>(std::stoul(text.substr(colon + 1)));
  } catch (...) {
    return Error("--user \"" + text + "\": expected UID[:GID] as numbers");
  }
  return u;
}

}  // namespace

int RunRuntimeCli(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  std::vector<std::string> args(argv + 1, argv + argc);
  Args global;
  size_t i = ParseFlags(args, 0, global, true);
  Logger log;
  clock_gettime(CLOCK_MONOTONIC, &log.start);
  log.err = &err;
  log.path = global.Get("--log");
  log.json = global.Get("--log-format", "text") == "json";
  log.debug = global.Has("--debug");
  if (global.Has("--version") || global.Has("-v")) {
    out << "cloudlet-runtime version 0.1.0\nspec: 1.2.0\n";
    return kExitOk;
  }
  if (global.Has("--help") || global.Has("-h") || global.positional.empty()) {
    (global.positional.empty() && !global.Has("--help") && !global.Has("-h") ? err : out) << kUsage;
    return global.positional.empty() && !global.Has("--help") && !global.Has("-h") ? kExitBadInput : kExitOk;
  }
  if (global.Has("--systemd-cgroup")) log.Debug("--systemd-cgroup ignored: cgroups are managed through cgroupfs");
  std::string command = global.positional[0];
  Args a;
  // exec: flags, then the id, then the command and its own arguments untouched.
  if (command == "exec") {
    size_t j = ParseFlags(args, i, a, true);
    for (; j < args.size(); ++j) a.positional.push_back(args[j]);
  } else {
    ParseFlags(args, i, a, false, command == "list");
  }
  container::RuntimeOptions ro;
  ro.root = global.Get("--root", container::kDefaultRuntimeRoot);
  if (log.debug) ro.debug = [&log](const std::string& m) { log.Debug(m); };
  Runtime rt(ro);
  std::string id = NeedId(a);
  auto need_id = [&]() { return !id.empty(); };

  if (command == "spec") return CmdSpec(a, log, out);
  if (command == "list") return CmdList(rt, a, log, out);
  if (!need_id()) return log.Fail(command + ": a container id is required");

  container::CreateOptions co;
  co.bundle = a.Get2("--bundle", "-b", ".");
  co.pid_file = a.Get("--pid-file");
  co.console_socket = a.Get("--console-socket");
  co.no_pivot = a.Has("--no-pivot");
  co.no_new_keyring = a.Has("--no-new-keyring");

  if (command == "create") {
    Status s = rt.Create(id, co);
    return s.ok() ? kExitOk : log.Fail(s.message());
  }
  if (command == "start") {
    Status s = rt.Start(id);
    return s.ok() ? kExitOk : log.Fail(s.message());
  }
  if (command == "state") return CmdState(rt, a, log, out);
  if (command == "kill") {
    std::string sig = a.positional.size() > 1 ? a.positional[1] : a.Get2("--signal", "-s", "SIGTERM");
    auto n = container::ParseSignal(sig);
    if (!n.ok()) return log.Fail(n.error().message());
    Status s = rt.Kill(id, *n, a.Has("--all") || a.Has("-a"));
    return s.ok() ? kExitOk : log.Fail(s.message());
  }
  if (command == "delete") {
    Status s = rt.Delete(id, a.Has("--force") || a.Has("-f"));
    return s.ok() ? kExitOk : log.Fail(s.message());
  }
  if (command == "run") {
    auto code = rt.Run(id, co, a.Has("--detach") || a.Has("-d"));
    if (!code.ok()) return log.Fail(code.error().message());
    return *code;
  }
  if (command == "exec") {
    container::ExecOptions eo;
    eo.args.assign(a.positional.begin() + 1, a.positional.end());
    eo.process_json = a.Get2("--process", "-p");
    eo.tty = a.Has("--tty") || a.Has("-t");
    eo.detach = a.Has("--detach") || a.Has("-d");
    eo.pid_file = a.Get("--pid-file");
    eo.cwd = a.Get("--cwd");
    eo.console_socket = a.Get("--console-socket");
    for (const char* f : {"--env", "-e"}) {
      auto it = a.flags.find(f);
      if (it != a.flags.end()) eo.env.insert(eo.env.end(), it->second.begin(), it->second.end());
    }
    std::string user = a.Get2("--user", "-u");
    if (!user.empty()) {
      auto u = ParseUser(user);
      if (!u.ok()) return log.Fail(u.error().message());
      eo.user = *u;
    }
    auto code = rt.Exec(id, eo);
    if (!code.ok()) return log.Fail(code.error().message());
    return *code;
  }
  return log.Fail("unknown command \"" + command + "\"; run with --help for the commands");
}

}  // namespace cloudlet::cli
