#include "container/signals.h"

#include <csignal>
#include <string>

namespace cloudlet::container {

namespace {
struct SignalName {
  const char* name;
  int number;
};
constexpr SignalName kSignals[] = {
    {"ABRT", SIGABRT},   {"ALRM", SIGALRM}, {"BUS", SIGBUS},   {"CHLD", SIGCHLD},     {"CONT", SIGCONT},
    {"FPE", SIGFPE},     {"HUP", SIGHUP},   {"ILL", SIGILL},   {"INT", SIGINT},       {"IO", SIGIO},
    {"IOT", SIGIOT},     {"KILL", SIGKILL}, {"PIPE", SIGPIPE}, {"POLL", SIGPOLL},     {"PROF", SIGPROF},
    {"PWR", SIGPWR},     {"QUIT", SIGQUIT}, {"SEGV", SIGSEGV}, {"STKFLT", SIGSTKFLT}, {"STOP", SIGSTOP},
    {"SYS", SIGSYS},     {"TERM", SIGTERM}, {"TRAP", SIGTRAP}, {"TSTP", SIGTSTP},     {"TTIN", SIGTTIN},
    {"TTOU", SIGTTOU},   {"URG", SIGURG},   {"USR1", SIGUSR1}, {"USR2", SIGUSR2},     {"VTALRM", SIGVTALRM},
    {"WINCH", SIGWINCH}, {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},
};
}  // namespace

Result<int> ParseSignal(std::string_view text) {
  if (text.empty()) return Error("empty signal");
  if (text[0] >= '0' && text[0] <= '9') {
    int v = 0;
    for (char c : text) {
      if (c < '0' || c > '9' || v > 1000) return Error("invalid signal \"" + std::string(text) + "\"");
      v = v * 10 + (c - '0');
    }
    if (v < 1 || v > SIGRTMAX)
      return Error("signal " + std::string(text) + " out of range 1-" + std::to_string(SIGRTMAX));
    return v;
  }
  std::string upper;
  for (char c : text) upper += static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
  std::string_view name = upper;
  if (name.substr(0, 3) == "SIG") name.remove_prefix(3);
  for (const auto& s : kSignals) {
    if (name == s.name) return s.number;
  }
  // RTMIN, RTMIN+n, RTMAX-n
  auto rt = [&](std::string_view base, int origin, int sign) -> Result<int> {
    std::string_view rest = name.substr(base.size());
    if (rest.empty()) return origin;
    if (rest.size() < 2 || rest[0] != (sign > 0 ? '+' : '-'))
      return Error("invalid signal \"" + std::string(text) + "\"");
    int n = 0;
    for (char c : rest.substr(1)) {
      if (c < '0' || c > '9') return Error("invalid signal \"" + std::string(text) + "\"");
      n = n * 10 + (c - '0');
    }
    int v = origin + sign * n;
    if (v < SIGRTMIN || v > SIGRTMAX) return Error("signal \"" + std::string(text) + "\" out of range");
    return v;
  };
  if (name.substr(0, 5) == "RTMIN") return rt("RTMIN", SIGRTMIN, 1);
  if (name.substr(0, 5) == "RTMAX") return rt("RTMAX", SIGRTMAX, -1);
  return Error("unknown signal \"" + std::string(text) + "\"");
}

}  // namespace cloudlet::container
