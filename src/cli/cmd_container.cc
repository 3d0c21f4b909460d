// `cloudlet container ls|start|stop|logs|exec`: the containers `cloudlet up` runs. ls/start/stop ask the daemon;
// logs reads the log file the daemon names (the CLI runs as root on the same host); exec runs the command in the
// container through the OCI runtime, with the runtime root and id the daemon reports.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/cli.h"
#include "cli/container.h"
#include "cli/table.h"
#include "container/runtime.h"
#include "control/api.h"

namespace cloudlet::cli {

namespace {

constexpr const char* kContainerHelp = R"(Examples:
  cloudlet container ls                          every container `up` started: state, pid, restarts, image
  cloudlet container logs web1 --tail 20         the last lines web1 printed (stdout and stderr)
  cloudlet container logs web1 --follow          ... and keep printing new ones (Ctrl-C ends)
  cloudlet container exec web2 -- sh -c 'printf "GET /hostname HTTP/1.0\r\n\r\n" | nc 10.10.0.11 8080'
  cloudlet container exec -t web1 -- sh          an interactive shell inside web1
  cloudlet container stop web1 --timeout 3       SIGTERM, SIGKILL after 3 s; no restart until `start`
  cloudlet container start web1
Containers are declared in the YAML (endpoints[].container, see docs/CONFIG.md); NAME is the endpoint's name, or
PROJECT_FILE/NAME (e.g. cloud.yaml/web1) when several projects use it.)";

Result<nlohmann::json> Containers(const std::string& socket_path) {
  ApiClient client(socket_path, 30);
  CL_ASSIGN_OR_RETURN(HttpReply reply, client.Get("/v1/containers"));
  if (reply.code != 200) return Error(reply.body.value("error", "HTTP " + std::to_string(reply.code)));
  return reply.body.value("containers", nlohmann::json::array());
}

// NAME or PROJECT_FILE/NAME -> (project path or "", name).
std::pair<std::string, std::string> SplitName(const std::string& arg) {
  auto slash = arg.rfind('/');
  if (slash == std::string::npos) return {"", arg};
  return {ProjectPath(arg.substr(0, slash)), arg.substr(slash + 1)};
}

Result<nlohmann::json> FindContainer(const std::string& socket_path, const std::string& arg) {
  CL_ASSIGN_OR_RETURN(nlohmann::json all, Containers(socket_path));
  auto [project, name] = SplitName(arg);
  std::vector<nlohmann::json> found;
  for (const auto& c : all) {
    if (c.value("name", "") == name && (project.empty() || c.value("project", "") == project)) found.push_back(c);
  }
  if (found.empty()) return Error("no container named " + arg + "; `cloudlet container ls` lists them");
  if (found.size() > 1) return Error("several projects have a container " + name + "; say which: PROJECT_FILE/" + name);
  return found[0];
}

std::string ShortProject(const std::string& project) { return project.substr(project.rfind('/') + 1); }

int Ls(const ContainerArgs& a, std::ostream& out, std::ostream& err) {
  auto all = Containers(a.socket_path);
  if (!all.ok()) {
    err << "cloudlet: " << all.error().message() << "\n";
    return kExitFailure;
  }
  if (a.format == "json") {
    out << all->dump(2) << "\n";
    return kExitOk;
  }
  if (all->empty()) {
    out << "no containers (declare them in the YAML: endpoints[].container; see docs/CONFIG.md)\n";
    return kExitOk;
  }
  TextTable t({"NAME", "PROJECT", "STATE", "PID", "RESTARTS", "EXIT", "IMAGE", "STARTED"},
              {false, false, false, true, true, true, false, false});
  for (const auto& c : *all) {
    const int code = c.value("exit_code", -1);
    std::string state = c.value("state", "");
    t.AddRow({c.value("name", ""), ShortProject(c.value("project", "")), state,
              c.value("pid", 0) ? std::to_string(c.value("pid", 0)) : "-", std::to_string(c.value("restarts", 0)),
              code >= 0 ? std::to_string(code) : "-", c.value("image", ""), c.value("started", "").substr(0, 19)});
  }
  out << t.Render("");
  for (const auto& c : *all) {
    if (!c.value("error", "").empty()) out << c.value("name", "") << ": " << c.value("error", "") << "\n";
  }
  return kExitOk;
}

int StartStop(const ContainerArgs& a, bool start, std::ostream& out, std::ostream& err) {
  auto [project, name] = SplitName(a.name);
  nlohmann::json body = {{"name", name}};
  if (!project.empty()) body["project"] = project;
  if (!start) body["timeout"] = a.timeout;
  ApiClient client(a.socket_path, 120 + a.timeout);
  auto reply = client.Post(start ? "/v1/containers/start" : "/v1/containers/stop", body);
  if (!reply.ok()) {
    err << "cloudlet: " << reply.error().message() << "\n";
    return kExitFailure;
  }
  for (const auto& line : reply->body.value("changes", nlohmann::json::array())) out << line.get<std::string>() << "\n";
  if (reply->code != 200) {
    err << "cloudlet: container " << (start ? "start" : "stop") << " " << a.name << ": "
        << reply->body.value("error", "HTTP " + std::to_string(reply->code)) << "\n";
    return reply->code == 404 ? kExitBadInput : kExitFailure;
  }
  return kExitOk;
}

// The whole file (at most its last `max` bytes), and its size.
std::string ReadTail(const std::string& path, std::streamoff max, std::streamoff& size) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(0, std::ios::end);
  size = in ? static_cast<std::streamoff>(in.tellg()) : 0;
  if (size <= 0) {
    size = 0;
    return "";
  }
  const std::streamoff start = std::max<std::streamoff>(0, size - max);
  in.seekg(start);
  std::string text(static_cast<size_t>(size - start), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  return text;
}

// The last `n` lines of `text` (all of it for n < 0).
std::string LastLines(const std::string& text, int n) {
  if (n < 0) return text;
  size_t pos = text.size();
  if (pos > 0 && text[pos - 1] == '\n') --pos;
  for (int i = 0; i < n; ++i) {
    if (pos == 0) return text;
    auto nl = text.rfind('\n', pos - 1);
    if (nl == std::string::npos) return text;
    pos = nl;
  }
  return text.substr(pos + 1);
}

int Logs(const ContainerArgs& a, std::ostream& out, std::ostream& err) {
  auto c = FindContainer(a.socket_path, a.name);
  if (!c.ok()) {
    err << "cloudlet: " << c.error().message() << "\n";
    return kExitFailure;
  }
  const std::string path = c->value("log", "");
  if (::access(path.c_str(), R_OK) != 0) {
    err << "cloudlet: container " << a.name << " has no log yet (" << path << ")\n";
    return kExitFailure;
  }
  // The daemon caps the log by moving it to log.1 and starting afresh: the history is log.1, then log.
  constexpr std::streamoff kMaxRead = 16 << 20;
  std::streamoff offset = 0, older_size = 0;
  std::string text = ReadTail(path, kMaxRead, offset);
  if (a.tail < 0 || std::count(text.begin(), text.end(), '\n') < a.tail) {
    text = ReadTail(path + ".1", kMaxRead, older_size) + text;
  }
  out << LastLines(text, a.tail);
  out.flush();
  while (a.follow) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    std::ifstream in(path, std::ios::binary);
    if (!in) continue;  // removed (down): wait for it to come back, or Ctrl-C
    in.seekg(0, std::ios::end);
    std::streamoff size = in.tellg();
    if (size < offset) offset = 0;  // capped by the daemon (copied to log.1 and truncated)
    if (size == offset) continue;
    in.seekg(offset);
    std::string chunk(static_cast<size_t>(size - offset), '\0');
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    chunk.resize(static_cast<size_t>(in.gcount()));
    offset += static_cast<std::streamoff>(chunk.size());
    out << chunk;
    out.flush();
  }
  return kExitOk;
}

int Exec(const ContainerArgs& a, std::ostream& err) {
  auto c = FindContainer(a.socket_path, a.name);
  if (!c.ok()) {
    err << "cloudlet: " << c.error().message() << "\n";
    return kExitFailure;
  }
  if (c->value("state", "") != "running") {
    err << "cloudlet: container " << a.name << " is " << c->value("state", "?") << ", not running; start it with "
        << "`cloudlet container start " << a.name << "`\n";
    return kExitFailure;
  }
  container::RuntimeOptions ro;
  ro.root = c->value("runtime_root", std::string(container::kDefaultRuntimeRoot));
  container::Runtime rt(ro);
  container::ExecOptions eo;
  eo.args = a.command;
  eo.tty = a.tty;
  auto code = rt.Exec(c->value("id", ""), eo);
  if (!code.ok()) {
    err << "cloudlet: exec in " << a.name << ": " << code.error().message() << "\n";
    return kExitFailure;
  }
  return *code;
}

}  // namespace

CLI::App* AddContainerCommands(CLI::App& app, ContainerArgs& a) {
  a.container =
      app.add_subcommand("container",
                         "The containers `up` runs (endpoints[].container): list, start, stop, logs, exec.  Example: "
                         "cloudlet container ls");
  a.container->require_subcommand(1);
  a.container->footer(kContainerHelp);

  a.ls = a.container->add_subcommand("ls", "List containers: state, pid, restarts, exit code, image");
  a.ls->add_option("--format", a.format, "table or json")->check(CLI::IsMember({"table", "json"}));

  a.start = a.container->add_subcommand("start", "Start a stopped container (its restart policy applies again)");
  a.start->add_option("NAME", a.name, "The endpoint's name, or PROJECT_FILE/NAME")->required();

  a.stop = a.container->add_subcommand(
      "stop", "Stop a container: SIGTERM, then SIGKILL after --timeout; it stays stopped (no restart) until `start`");
  a.stop->add_option("NAME", a.name, "The endpoint's name, or PROJECT_FILE/NAME")->required();
  a.stop->add_option("--timeout,-t", a.timeout, "Seconds between SIGTERM and SIGKILL")
      ->capture_default_str()
      ->check(CLI::Range(0, 3600));

  a.logs = a.container->add_subcommand(
      "logs", "Print what a container wrote to stdout and stderr (the daemon keeps the last 8 to 16 MiB)");
  a.logs->add_option("NAME", a.name, "The endpoint's name, or PROJECT_FILE/NAME")->required();
  a.logs->add_option("--tail,-n", a.tail, "Only the last N lines")->check(CLI::NonNegativeNumber);
  a.logs->add_flag("--follow,-f", a.follow, "Keep printing new output until interrupted");

  a.exec = a.container->add_subcommand(
      "exec", "Run a command inside a running container: cloudlet container exec [-t] NAME -- COMMAND [ARG...]");
  a.exec->add_flag("-t,--tty", a.tty, "Give the command a terminal (for interactive shells)");
  a.exec->add_option("NAME", a.name, "The endpoint's name, or PROJECT_FILE/NAME")->required();
  a.exec->add_option("COMMAND", a.command, "The command and its arguments, after --")->required();
  return a.container;
}

int RunContainerCommand(const ContainerArgs& a, std::ostream& out, std::ostream& err) {
  if (a.ls->parsed()) return Ls(a, out, err);
  if (a.start->parsed()) return StartStop(a, true, out, err);
  if (a.stop->parsed()) return StartStop(a, false, out, err);
  if (a.logs->parsed()) return Logs(a, out, err);
  if (a.exec->parsed()) {
    out.flush();
    return Exec(a, err);
  }
  err << "cloudlet container: give a subcommand; run `cloudlet container --help`\n";
  return kExitBadInput;
}

}  // namespace cloudlet::cli
