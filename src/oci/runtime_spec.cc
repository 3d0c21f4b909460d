// config.json (OCI runtime-spec 1.x, Linux) read, validated and written. Reading walks the parsed JSON with the path of
// the node in hand ("linux.namespaces[2].type"), so every error names where it is and says what was expected. Fields
// the spec defines but this runtime cannot apply are refused, not dropped; fields the spec does not define are ignored,
// as the spec requires. A JSON null counts as absent (as Go's encoding/json, hence runc, treats it).
#include "oci/runtime_spec.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <limits>
#include <nlohmann/json.hpp>
#include <type_traits>

#include "base/fd.h"

namespace cloudlet::oci {
namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

constexpr size_t kMaxSpecBytes = size_t{4} << 20;
// Real config.json files nest 7 levels deep (linux.seccomp.syscalls[].args[]); the limit leaves room for unknown
// extension fields while keeping recursive walks of the document (IsEmpty, dump) far from the stack's end.
constexpr int kMaxDepth = 64;
constexpr size_t kMaxIdMappings = 340;  // the kernel's limit on lines in uid_map / gid_map (since 4.15)
constexpr std::string_view kDefaultOciVersion = "1.0.2";

template <typename T>
struct Named {
  std::string_view name;
  T value;
};

constexpr Named<NamespaceType> kNamespaces[] = {
    {"pid", NamespaceType::kPid},       {"network", NamespaceType::kNetwork}, {"mount", NamespaceType::kMount},
    {"ipc", NamespaceType::kIpc},       {"uts", NamespaceType::kUts},         {"user", NamespaceType::kUser},
    {"cgroup", NamespaceType::kCgroup}, {"time", NamespaceType::kTime},
};

constexpr Named<SeccompAction> kSeccompActions[] = {
    {"SCMP_ACT_KILL", SeccompAction::kKill},
    {"SCMP_ACT_KILL_PROCESS", SeccompAction::kKillProcess},
    {"SCMP_ACT_KILL_THREAD", SeccompAction::kKillThread},
    {"SCMP_ACT_TRAP", SeccompAction::kTrap},
    {"SCMP_ACT_ERRNO", SeccompAction::kErrno},
    {"SCMP_ACT_TRACE", SeccompAction::kTrace},
    {"SCMP_ACT_ALLOW", SeccompAction::kAllow},
    {"SCMP_ACT_LOG", SeccompAction::kLog},
    {"SCMP_ACT_NOTIFY", SeccompAction::kNotify},
};

constexpr Named<SeccompOp> kSeccompOps[] = {
    {"SCMP_CMP_NE", SeccompOp::kNotEqual},           {"SCMP_CMP_LT", SeccompOp::kLessThan},
    {"SCMP_CMP_LE", SeccompOp::kLessEqual},          {"SCMP_CMP_EQ", SeccompOp::kEqualTo},
    {"SCMP_CMP_GE", SeccompOp::kGreaterEqual},       {"SCMP_CMP_GT", SeccompOp::kGreaterThan},
    {"SCMP_CMP_MASKED_EQ", SeccompOp::kMaskedEqual},
};

// The kernel's capabilities in number order (include/uapi/linux/capability.h), CAP_CHOWN = 0 .. CAP_CHECKPOINT_RESTORE.
// clang-format off
constexpr std::string_view kCapabilities[] = {
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
    "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
    "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};
// clang-format on
static_assert(std::size(kCapabilities) == 41);

// clang-format off
constexpr std::string_view kRlimits[] = {
    "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_RSS",
    "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS", "RLIMIT_SIGPENDING",
    "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME",
};
// clang-format on

// libseccomp's architecture names as the spec spells them.
// clang-format off
constexpr std::string_view kSeccompArchitectures[] = {
    "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64", "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K", "SCMP_ARCH_SH", "SCMP_ARCH_SHEB",
};
// clang-format on

constexpr std::string_view kSeccompFlags[] = {
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
};

constexpr std::string_view kPropagations[] = {"private", "rprivate", "slave",      "rslave",
                                              "shared",  "rshared",  "unbindable", "runbindable"};

template <typename T, size_t N>
std::optional<T> Lookup(const Named<T> (&table)[N], std::string_view name) {
  for (const auto& entry : table) {
    if (entry.name == name) return entry.value;
  }
  return std::nullopt;
}

template <typename T, size_t N>
std::string_view NameOf(const Named<T> (&table)[N], T value) {
  for (const auto& entry : table) {
    if (entry.value == value) return entry.name;
  }
  return "?";
}

template <size_t N>
bool Contains(const std::string_view (&table)[N], std::string_view name) {
  return std::find(std::begin(table), std::end(table), name) != std::end(table);
}

template <typename Table>
std::string OneOf(const Table& table) {
  std::string out = "one of ";
  bool first = true;
  for (const auto& entry : table) {
    if (!first) out += ", ";
    first = false;
    if constexpr (std::is_same_v<std::decay_t<decltype(entry)>, std::string_view>) {
      out += entry;
    } else {
      out += entry.name;
    }
  }
  return out;
}

// A string for an error message: JSON-quoted, cut at 64 bytes so a huge value cannot flood the message.
std::string Quote(std::string_view s) {
  constexpr size_t kShown = 64;
  std::string quoted = json(std::string(s.substr(0, kShown))).dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > kShown) quoted.insert(quoted.size() - 1, "...");
  return quoted;
}

std::string Key(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}
std::string At(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }

Error Bad(const std::string& path, const std::string& what) { return Error(path + ": " + what); }

std::string Describe(const json& v) {
  switch (v.type()) {
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "an array";
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::number_float:
      return "a non-integer number";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "an integer";
    case json::value_t::null:
      return "null";
    default:
      return "an unexpected value";
  }
}

Error Expected(const json& v, const std::string& path, std::string_view what) {
  return Bad(path, "expected " + std::string(what) + ", got " + Describe(v));
}

// Whether a node sets nothing: null, 0, false, "", or an array/object of such. Used to refuse only those sections
// the runtime cannot apply that actually ask for something (podman writes some empty ones).
bool IsEmpty(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return true;
    case json::value_t::boolean:
      return !v.get<bool>();
    case json::value_t::string:
      return v.get_ref<const std::string&>().empty();
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return v == 0;
    case json::value_t::array:
    case json::value_t::object:
      return std::all_of(v.begin(), v.end(), [](const json& e) { return IsEmpty(e); });
    default:
      return false;
  }
}

const json* Member(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

bool IsAbsolute(const std::string& path) { return !path.empty() && path[0] == '/'; }

Status CheckAbsolute(const std::string& value, const std::string& path) {
  if (IsAbsolute(value)) return {};
  return Bad(path, Quote(value) + " is not an absolute path (expected one starting with /)");
}

Status CheckEnv(const std::vector<std::string>& env, const std::string& path) {
  for (size_t i = 0; i < env.size(); ++i) {
    if (env[i].find('=') == std::string::npos || env[i][0] == '=') {
      return Bad(At(path, i), Quote(env[i]) + " is not of the form KEY=value");
    }
  }
  return {};
}

Status Refuse(const json& obj, const std::string& path, const char* key, std::string_view why) {
  const json* m = Member(obj, key);
  if (m == nullptr || IsEmpty(*m)) return {};
  return Bad(Key(path, key), "not supported: " + std::string(why));
}

// ---- scalar readers ----

Status Read(const json& v, const std::string& path, std::string* out) {
  if (!v.is_string()) return Expected(v, path, "a string");
  const auto& s = v.get_ref<const std::string&>();
  if (s.find('\0') != std::string::npos) return Bad(path, "contains a NUL byte");
  *out = s;
  return {};
}

Status Read(const json& v, const std::string& path, bool* out) {
  if (!v.is_boolean()) return Expected(v, path, "true or false");
  *out = v.get<bool>();
  return {};
}

template <typename T>
Status ReadInteger(const json& v, const std::string& path, T* out) {
  using Limits = std::numeric_limits<T>;
  auto out_of_range = [&](const std::string& shown) {
    return Bad(path, shown + " out of range " + std::to_string(Limits::min()) + ".." + std::to_string(Limits::max()));
  };
  if (v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0)) {
    uint64_t u = v.is_number_unsigned() ? v.get<uint64_t>() : static_cast<uint64_t>(v.get<int64_t>());
    if (u > static_cast<uint64_t>(Limits::max())) return out_of_range(std::to_string(u));
    *out = static_cast<T>(u);
    return {};
  }
  if (v.is_number_integer()) {
    int64_t s = v.get<int64_t>();
    if constexpr (std::is_unsigned_v<T>) {
      return out_of_range(std::to_string(s));
    } else {
      if (s < static_cast<int64_t>(Limits::min())) return out_of_range(std::to_string(s));
      *out = static_cast<T>(s);
      return {};
    }
  }
  return Expected(v, path, "an integer");
}

Status Read(const json& v, const std::string& path, uint32_t* out) { return ReadInteger(v, path, out); }
Status Read(const json& v, const std::string& path, uint64_t* out) { return ReadInteger(v, path, out); }
Status Read(const json& v, const std::string& path, int64_t* out) { return ReadInteger(v, path, out); }
Status Read(const json& v, const std::string& path, int* out) { return ReadInteger(v, path, out); }

Status Read(const json& v, const std::string& path, std::map<std::string, std::string>* out) {
  if (!v.is_object()) return Expected(v, path, "an object of strings");
  out->clear();
  for (const auto& [key, value] : v.items()) {
    std::string s;
    CL_RETURN_IF_ERROR(Read(value, path + "[" + Quote(key) + "]", &s));
    (*out)[key] = std::move(s);
  }
  return {};
}

// ---- struct readers (declared first: the container templates below find them by ordinary lookup) ----
Status Read(const json& v, const std::string& path, User* out);
Status Read(const json& v, const std::string& path, ConsoleSize* out);
Status Read(const json& v, const std::string& path, Capabilities* out);
Status Read(const json& v, const std::string& path, Rlimit* out);
Status Read(const json& v, const std::string& path, Process* out);
Status Read(const json& v, const std::string& path, Root* out);
Status Read(const json& v, const std::string& path, Mount* out);
Status Read(const json& v, const std::string& path, Hook* out);
Status Read(const json& v, const std::string& path, Hooks* out);
Status Read(const json& v, const std::string& path, Namespace* out);
Status Read(const json& v, const std::string& path, IdMapping* out);
Status Read(const json& v, const std::string& path, Device* out);
Status Read(const json& v, const std::string& path, DeviceRule* out);
Status Read(const json& v, const std::string& path, MemoryLimits* out);
Status Read(const json& v, const std::string& path, CpuLimits* out);
Status Read(const json& v, const std::string& path, Resources* out);
Status Read(const json& v, const std::string& path, SeccompArg* out);
Status Read(const json& v, const std::string& path, SeccompRule* out);
Status Read(const json& v, const std::string& path, Seccomp* out);
Status Read(const json& v, const std::string& path, Linux* out);

template <typename T>
Status Read(const json& v, const std::string& path, std::vector<T>* out) {
  if (!v.is_array()) return Expected(v, path, "an array");
  out->clear();
  out->reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    out->emplace_back();
    CL_RETURN_IF_ERROR(Read(v[i], At(path, i), &out->back()));
  }
  return {};
}

template <typename T>
Status Read(const json& v, const std::string& path, std::optional<T>* out) {
  out->emplace();
  return Read(v, path, &**out);
}

// An optional member: left as it is when absent.
template <typename T>
Status Field(const json& obj, const std::string& path, const char* key, T* out) {
  const json* m = Member(obj, key);
  return m ? Read(*m, Key(path, key), out) : Status::Ok();
}

// A member the spec requires; `what` says what belongs there.
template <typename T>
Status Required(const json& obj, const std::string& path, const char* key, T* out, std::string_view what) {
  const json* m = Member(obj, key);
  if (m == nullptr) return Bad(Key(path, key), "missing, expected " + std::string(what));
  return Read(*m, Key(path, key), out);
}

Status ExpectObject(const json& v, const std::string& path) {
  return v.is_object() ? Status::Ok() : Expected(v, path, "an object");
}

// A name from `table`; `expected` describes the choices (the table itself is listed when it is empty).
template <size_t N>
Status ReadNamed(const json& v, const std::string& path, std::string_view what, const std::string_view (&table)[N],
                 std::string* out, std::string_view expected = {}) {
  CL_RETURN_IF_ERROR(Read(v, path, out));
  if (Contains(table, *out)) return {};
  return Bad(path, "unknown " + std::string(what) + " " + Quote(*out) + ", expected " +
                       (expected.empty() ? OneOf(table) : std::string(expected)));
}

// ---- process ----

Status Read(const json& v, const std::string& path, User* out) {
  CL_RETURN_IF_ERROR(ExpectObject(v, path));
  CL_RETURN_IF_ERROR(Field(v, path, "uid", &out->uid));
  CL_RETURN_IF_ERROR(Field(v, path, "gid", &out->gid));
  CL_RETURN_IF_ERROR(Field(v, path, "umask", &out->umask));
  if (out->umask && *out->umask > 0777) {
    return Bad(Key(path, "umask"), std::to_string(*out->umask) + " out of range 0..0777 (511)");
  }
  return Field(v, path, "additionalGids", &out->additional_gids);
}

Status Read(const json& v, const std::string& path, ConsoleSize* out) {
  CL_RETURN_IF_ERROR(ExpectObject(v, path));
  CL_RETURN_IF_ERROR(Required(v, path, "height", &out->height, "the terminal's rows"));
  return Required(v, path, "width", &out->width, "the terminal's columns");
}

Status ReadCapabilitySet(const json& v, const std::string& path, const char* key, std::vector<std::string>* out) {
  const json* m = Member(v, key);
  if (m == nullptr) return {};
  const std::string set_path = Key(path, key);
  if (!m->is_array()) return Expected(*m, set_path, "an array of capability names");
  out->clear();
  for (size_t i = 0; i < m->size(); ++i) {
    out->emplace_back();
    CL_RETURN_IF_ERROR(ReadNamed((*m)[i], At(set_path, i), "capability", kCapabilities, &out->back(),
                                 "a kernel capability name, CAP_CHOWN .. CAP_CHECKPOINT_RESTORE"));
  }
  return {};
}

Status Read(const json& v, const std::string& path, Capabilities* out) {
  CL_RETURN_IF_ERROR(ExpectObject(v, path));
  CL_RETURN_IF_ERROR(ReadCapabilitySet(v, path, "bounding", &out->bounding));
  CL_RETURN_IF_ERROR(ReadCapabilitySet(v, path, "effective", &out->effective));
  CL_RETURN_IF_ERROR(ReadCapabilitySet(v, path, "permitted", &out->permitted));
  CL_RETURN_IF_ERROR(ReadCapabilitySet(v, path, "inheritable", &out->inheritable));
  return ReadCapabilitySet(v, path, "ambient", &out->ambient);
}

Status Read(const json& v, const std::string& path, Rlimit* out) {
  CL_RETURN_IF_ERROR(ExpectObject(v, path));
  const json* type = Member(v, "type");
  if (type == nullptr) return Bad(Key(path, "type"), "missing, expected an RLIMIT_ name such as RLIMIT_NOFILE");
  CL_RETURN_IF_ERROR(ReadNamed(*type, Key(path, "type"), "rlimit", kRlimits, &out->type));
  CL_RETURN_IF_ERROR(Required(v, path, "soft", &out->soft, "the soft limit"));
  CL_RETURN_IF_ERROR(Required(v, path, "hard", &out->hard, "the hard limit"));
  if (out->soft > out->hard) {
    return Bad(path, "soft limit " + std::to_string(out->soft) + " exceeds hard limit " + std::to_string(out->hard));
  }
  return {};
}

Status Read(const json& v, const std::string& path, Process* out) {
  CL_RETURN_IF_ERROR(ExpectObject(v, path));
  CL_RETURN_IF_ERROR(Field(v, path, "terminal", &out->terminal));
  CL_RETURN_IF_ERROR(Field(v, path, "consoleSize", &out->console_size));
  CL_RETURN_IF_ERROR(Field(v, path, "user", &out->user));
  CL_RETURN_IF_ERROR(Required(v, path, "args", &out->args, "the program to run and its arguments"));
  if (out->args.empty()) return Bad(Key(path, "args"), "empty, expected the program to run and its arguments");
  CL_RETURN_IF_ERROR(Field(v, path, "env", &out->env));
  CL_RETURN_IF_ERROR(CheckEnv(out->env, Key(path, "env")));
  CL_RETURN_IF_ERROR(Field(v, path, "cwd", &out->cwd));
  CL_RETURN_IF_ERROR(CheckAbsolute(out->cwd, Key(path, "cwd")));
  CL_RETURN_IF_ERROR(Field(v, path, "capabilities", &out->capabilities));
  CL_RETURN_IF_ERROR(Field(v, path, "rlimits", &out->rlimits));
  for (size_t i = 0; i < out->rlimits.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (out->rlimits[j].type == out->rlimits[i].type) {
        return Bad(At(Key(path, "rlimits"), i),
                   "duplicate " + out->rlimits[i].type + " (also at " + At(Key(path, "rlimits"), j) + ")");
      }
    }
  }
  CL_RETURN_IF_ERROR(Field(v, path, "noNewPrivileges", &out->no_new_privileges));
  CL_RETURN_IF_ERROR(Field(v, path, "apparmorProfile", &out->apparmor_profile));
  if (!out->apparmor_profile.empty() && out->apparmor_profile != "unconfined") {
    return Bad(Key(path, "apparmorProfile"), Quote(out->apparmor_profile) +
                                                 " not supported: this runtime has no AppArmor, expected \"\" or "
                                                 "\"unconfined\"");
  }
  CL_RETURN_IF_ERROR(Field(v, path, "oomScoreAdj", &out->oom_score_adj));
  if (out->oom_score_adj && (*out->oom_score_adj < -1000 || *out->oom_score_adj > 1000)) {
    return Bad(Key(path, "oomScoreAdj"), std::to_string(*out->oom_score_adj) + " out of range -1000..1000");
  }
  CL_RETURN_IF_ERROR(Field(v, path, "selinuxLabel", &out->selinux_label));
  if (!out->selinux_label.empty()) {
    return Bad(Key(path, "selinuxLabel"), "not supported: this runtime has no SELinux, expected it empty");
  }
  CL_RETURN_IF_ERROR(Refuse(v, path, "ioPriority", "the runtime does not set I/O priorities"));
  CL_RETURN_IF_ERROR(Refuse(v, path, "scheduler", "the runtime does not set scheduling policies"));
  return Refuse(v, path, "execCPUAffinity", "the runtime does not set CPU affinity");
}

// ---- root, mounts, hooks ----

Status Read(const json& v, const std::string& path, Root* out) {
  CL_RETURN_IF_ERROR(ExpectObject(v, path));
  CL_RETURN_IF_ERROR(Required(v, path, "path", &out->path, "the root filesystem's directory, e.g. \"rootfs\""));
  if (out->path.empty()) return Bad(Key(path, "path"), "empty, expected the root filesystem's directory");
  return Field(v, path, "readonly", &out->readonly);
}

Status Read(const json& v, const std::string& path, Mount* out) {
  CL_RETURN_IF_ERROR(ExpectObject(v, path));
  CL_RETURN_IF_ERROR(Required(v, path, "destination", &out->destination, "an absolute path in the container"));
  CL_RETURN_IF_ERROR(CheckAbsolute(out->destination, Key(path, "destination")));
  CL_RETURN_IF_ERROR(Field(v, path, "type", &out->type));
  CL_RETURN_IF_ERROR(Field(v, path, "source", &out->source));
  CL_RETURN_IF_ERROR(Field(v, path, "options", &out->options));
  CL_RETURN_IF_ERROR(Refuse(v, path, "uidMappings", "idmapped mounts"));
  return Refuse(v, path, "gidMappings", "idmapped mounts");
}

Status Read(const json& v, const std::string& path, Hook* out) {
  CL_RETURN_IF_ERROR(ExpectObject(v, path));
  CL_RETURN_IF_ERROR(Required(v, path, "path", &out->path, "the hook program's absolute path"));
  CL_RETURN_IF_ERROR(CheckAbsolute(out->path, Key(path, "path")));
  CL_RETURN_IF_ERROR(Field(v, path, "args", &out->args));
  CL_RETURN_IF_ERROR(Field(v, path, "env", &out->env));
  CL_RETURN_IF_ERROR(CheckEnv(out->env, Key(path, "env")));
  CL_RETURN_IF_ERROR(Field(v, path, "timeout", &out->timeout));
  if (out->timeout && *out->timeout <= 0) {
    return Bad(Key(path, "timeout"), std::to_string(*out->timeout) + ", expected a number of seconds > 0");
  }
  return {};
}

Status Read(const json& v, const std::string& path, Hooks* out) {
  CL_RETURN_IF_ERROR(ExpectObject(v, path));
  CL_RETURN_IF_ERROR(Field(v, path, "prestart", &out->prestart));
  CL_RETURN_IF_ERROR(Field(v, path, "createRuntime", &out->create_runtime));
  CL_RETURN_IF_ERROR(Field(v, path, "createContainer", &out->create_container));
  CL_RETURN_IF_ERROR(Field(v, path, "startContainer", &out->start_container));
  CL_RETURN_IF_ERROR(Field(v, path, "poststart", &out->poststart));
  return Field(v, path, "poststop", &out->poststop);
}

// ---- linux ----

Status Read(const json& v, const std::string& path, Namespace* out) {
  CL_RETURN_IF_ERROR(ExpectObject(v, path));
  std::string type;
  CL_RETURN_IF_ERROR(Required(v, path, "type", &type, "a namespace type such as \"pid\""));
  auto known = Lookup(kNamespaces, type);
  if (!known) return Bad(Key(path, "type"), "unknown namespace " + Quote(type) + ", expected " + OneOf(kNamespaces));
  out->type = *known;
  CL_RETURN_IF_ERROR(Field(v, path, "path", &out->path));
  if (!out->path.empty()) CL_RETURN_IF_ERROR(CheckAbsolute(out->path, Key(path, "path")));
  return {};
}

Status Read(const json& v, const std::string& path, IdMapping* out) {
  CL_RETURN_IF_ERROR(ExpectObject(v, path));
  CL_RETURN_IF_ERROR(Required(v, path, "containerID", &out->container_id, "the first id in the container"));
  CL_RETURN_IF_ERROR(Required(v, path, "hostID", &out->host_id, "the first id on the host"));
  CL_RETURN_IF_ERROR(Required(v, path, "size", &out->size, "the number of ids mapped"));
  if (out->size == 0) return Bad(Key(path, "size"), "0, expected at least 1 id");
  constexpr uint64_t kIds = uint64_t{1} << 32;
  if (uint64_t{out->container_id} + out->size > kIds) {
    return Bad(path, "containerID " + std::to_string(out->container_id) + " + size " + std::to_string(out->size) +
                         " overflows the 32-bit id range");
  }
  if (uint64_t{out->host_id} + out->size > kIds) {
    return Bad(path, "hostID " + std::to_string(out->host_id) + " + size " + std::to_string(out->size) +
                         " overflows the 32-bit id range");
  }
  return {};
}

Status ReadMappings(const json& v, const std::string& path, const char* key, std::vector<IdMapping>* out) {
  CL_RETURN_IF_ERROR(Field(v, path, key, out));
  if (out->size() > kMaxIdMappings) {
    return Bad(Key(path, key),
               std::to_string(out->size()) + " mappings, the kernel accepts at most " + std::to_string(kMaxIdMappings));
  }
  return {};
}

Status ReadDeviceNumber(const json& v, const std::string& path, const char* key, int64_t* out) {
  CL_RETURN_IF_ERROR(Required(v, path, key, out, "the device number"));
  if (*out < 0) return Bad(Key(path, key), std::to_string(*out) + " is negative, expected a device number >= 0");
  return {};
}

Status Read(const json& v, const std::string& path, Device* out) {
  CL_RETURN_IF_ERROR(ExpectObject(v, path));
  CL_RETURN_IF_ERROR(Required(v, path, "path", &out->path, "the device's absolute path in the container"));
  CL_RETURN_IF_ERROR(CheckAbsolute(out->path, Key(path, "path")));
  std::string type;
  CL_RETURN_IF_ERROR(Required(v, path, "type", &type, "\"c\", \"b\", \"u\" or \"p\""));
  if (type != "c" && type != "b" && type != "u" && type != "p") {
    return Bad(Key(path, "type"),
               "unknown device type " + Quote(type) +
                   ", expected \"c\" (char), \"b\" (block), \"u\" (unbuffered char) or \"p\" (fifo)");
  }
  out->type = type[0];
  if (out->type == 'p') {  // a fifo has no device number; keep one if given so the spec round-trips
    CL_RETURN_IF_ERROR(Field(v, path, "major", &out->major));
    CL_RETURN_IF_ERROR(Field(v, path, "minor", &out->minor));
  } else {
    CL_RETURN_IF_ERROR(ReadDeviceNumber(v, path, "major", &out->major));
    CL_RETURN_IF_ERROR(ReadDeviceNumber(v, path, "minor", &out->minor));
  }
  CL_RETURN_IF_ERROR(Field(v, path, "fileMode", &out->file_mode));
  CL_RETURN_IF_ERROR(Field(v, path, "uid", &out->uid));
  return Field(v, path, "gid", &out->gid);
}

// A device-rule number: -1 is runc's wildcard, the same as absent.
Status ReadRuleNumber(const json& v, const std::string& path, const char* key, std::optional<int64_t>* out) {
  CL_RETURN_IF_ERROR(Field(v, path, key, out));
  if (*out && **out == -1) out->reset();
  if (*out && **out < 0)
    return Bad(Key(path, key), std::to_string(**out) + ", expected a device number >= 0 or -1 (any)");
  return {};
}

Status Read(const json& v, const std::string& path, DeviceRule* out) {
  CL_RETURN_IF_ERROR(ExpectObject(v, path));
  CL_RETURN_IF_ERROR(Required(v, path, "allow", &out->allow, "true or false"));
  std::string type = "a";
  CL_RETURN_IF_ERROR(Field(v, path, "type", &type));
  if (type != "a" && type != "c" && type != "b") {
    return Bad(Key(path, "type"), "unknown device rule type " + Quote(type) + ", expected \"a\" (all), \"c\" or \"b\"");
  }
  out->type = type[0];
  CL_RETURN_IF_ERROR(ReadRuleNumber(v, path, "major", &out->major));
  CL_RETURN_IF_ERROR(ReadRuleNumber(v, path, "minor", &out->minor));
  CL_RETURN_IF_ERROR(Field(v, path, "access", &out->access));
  for (size_t i = 0; i < out->access.size(); ++i) {
    char c = out->access[i];
    if ((c != 'r' && c != 'w' && c != 'm') || out->access.find(c) != i) {
      return Bad(Key(path, "access"), Quote(out->access) + " invalid, expected a subset of \"rwm\"");
    }
  }
  return {};
}

Status CheckMemoryLimit(const std::optional<int64_t>& value, const std::string& path) {
  if (value && *value < -1) return Bad(path, std::to_string(*value) + ", expected bytes >= 0 or -1 (unlimited)");
  return {};
}

Status Read(const json& v, const std::string& path, MemoryLimits* out) {
  CL_RETURN_IF_ERROR(ExpectObject(v, path));
  CL_RETURN_IF_ERROR(Field(v, path, "limit", &out->limit));
  CL_RETURN_IF_ERROR(CheckMemoryLimit(out->limit, Key(path, "limit")));
  CL_RETURN_IF_ERROR(Field(v, path, "reservation", &out->reservation));
  CL_RETURN_IF_ERROR(CheckMemoryLimit(out->reservation, Key(path, "reservation")));
  CL_RETURN_IF_ERROR(Field(v, path, "swap", &out->swap));
  CL_RETURN_IF_ERROR(CheckMemoryLimit(out->swap, Key(path, "swap")));
  CL_RETURN_IF_ERROR(Field(v, path, "swappiness", &out->swappiness));
  if (out->swappiness && *out->swappiness > 100) {
    return Bad(Key(path, "swappiness"), std::to_string(*out->swappiness) + " out of range 0..100");
  }
  // kernel, kernelTCP: deprecated by the spec and ignored by runc too.
  return Field(v, path, "disableOOMKiller", &out->disable_oom_killer);
}

// A cpuset list: "0-3,6,8-9".
bool IsCpuList(const std::string& s) {
  size_t i = 0;
  auto number = [&](uint64_t* n) {
    size_t start = i;
    *n = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - start < 9) *n = *n * 10 + (s[i++] - '0');
    return i > start && (i == s.size() || s[i] < '0' || s[i] > '9');
  };
  while (true) {
    uint64_t first = 0;
    if (!number(&first)) return false;
    if (i < s.size() && s[i] == '-') {
      ++i;
      uint64_t last = 0;
      if (!number(&last) || last < first) return false;
    }
    if (i == s.size()) return true;
    if (s[i++] != ',') return false;
  }
}

Status Read(const json& v, const std::string& path, CpuLimits* out) {
  CL_RETURN_IF_ERROR(ExpectObject(v, path));
  CL_RETURN_IF_ERROR(Field(v, path, "shares", &out->shares));
  CL_RETURN_IF_ERROR(Field(v, path, "quota", &out->quota));
  if (out->quota && *out->quota < -1) {
    return Bad(Key(path, "quota"), std::to_string(*out->quota) + ", expected microseconds >= 0 or -1 (unlimited)");
  }
  CL_RETURN_IF_ERROR(Field(v, path, "period", &out->period));
  CL_RETURN_IF_ERROR(Field(v, path, "cpus", &out->cpus));
  if (!out->cpus.empty() && !IsCpuList(out->cpus)) {
    return Bad(Key(path, "cpus"), Quote(out->cpus) + " is not a CPU list such as \"0-3,6\"");
  }
  CL_RETURN_IF_ERROR(Field(v, path, "mems", &out->mems));
  if (!out->mems.empty() && !IsCpuList(out->mems)) {
    return Bad(Key(path, "mems"), Quote(out->mems) + " is not a memory node list such as \"0-1\"");
  }
  CL_RETURN_IF_ERROR(Refuse(v, path, "realtimeRuntime", "real-time CPU scheduling limits"));
  CL_RETURN_IF_ERROR(Refuse(v, path, "realtimePeriod", "real-time CPU scheduling limits"));
  CL_RETURN_IF_ERROR(Refuse(v, path, "idle", "cpu.idle"));
  return Refuse(v, path, "burst", "cpu.max.burst");
}

Status Read(const json& v, const std::string& path, Resources* out) {
  CL_RETURN_IF_ERROR(ExpectObject(v, path));
  CL_RETURN_IF_ERROR(Field(v, path, "devices", &out->devices));
  CL_RETURN_IF_ERROR(Field(v, path, "memory", &out->memory));
  CL_RETURN_IF_ERROR(Field(v, path, "cpu", &out->cpu));
  if (const json* pids = Member(v, "pids")) {
    const std::string pids_path = Key(path, "pids");
    CL_RETURN_IF_ERROR(ExpectObject(*pids, pids_path));
    int64_t limit = 0;
    CL_RETURN_IF_ERROR(Required(*pids, pids_path, "limit", &limit, "the maximum number of tasks (-1: unlimited)"));
    out->pids_limit = limit;
  }
  CL_RETURN_IF_ERROR(Refuse(v, path, "blockIO", "the runtime applies memory, cpu, cpuset, pids and device limits"));
  CL_RETURN_IF_ERROR(
      Refuse(v, path, "hugepageLimits", "the runtime applies memory, cpu, cpuset, pids and device limits"));
  CL_RETURN_IF_ERROR(Refuse(v, path, "network", "the runtime applies memory, cpu, cpuset, pids and device limits"));
  CL_RETURN_IF_ERROR(Refuse(v, path, "rdma", "the runtime applies memory, cpu, cpuset, pids and device limits"));
  return Refuse(v, path, "unified", "the runtime applies memory, cpu, cpuset, pids and device limits");
}

Status ReadAction(const json& obj, const std::string& path, const char* key, SeccompAction* out) {
  std::string name;
  CL_RETURN_IF_ERROR(Required(obj, path, key, &name, "a seccomp action such as SCMP_ACT_ALLOW"));
  auto action = Lookup(kSeccompActions, name);
  if (!action) return Bad(Key(path, key), "unknown action " + Quote(name) + ", expected " + OneOf(kSeccompActions));
  *out = *action;
  return {};
}

// runc accepts an errno return only where the kernel uses it.
Status CheckErrnoRet(SeccompAction action, const std::optional<uint32_t>& ret, const std::string& path) {
  if (ret && action != SeccompAction::kErrno && action != SeccompAction::kTrace) {
    return Bad(path, "only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE");
  }
  return {};
}

Status Read(const json& v, const std::string& path, SeccompArg* out) {
  CL_RETURN_IF_ERROR(ExpectObject(v, path));
  CL_RETURN_IF_ERROR(Required(v, path, "index", &out->index, "the argument's index 0..5"));
  if (out->index > 5) return Bad(Key(path, "index"), std::to_string(out->index) + " out of range 0..5");
  CL_RETURN_IF_ERROR(Required(v, path, "value", &out->value, "the value to compare with"));
  CL_RETURN_IF_ERROR(Field(v, path, "valueTwo", &out->value_two));
  std::string op;
  CL_RETURN_IF_ERROR(Required(v, path, "op", &op, "a comparison such as SCMP_CMP_EQ"));
  auto known = Lookup(kSeccompOps, op);
  if (!known) return Bad(Key(path, "op"), "unknown operator " + Quote(op) + ", expected " + OneOf(kSeccompOps));
  out->op = *known;
  return {};
}

Status Read(const json& v, const std::string& path, SeccompRule* out) {
  CL_RETURN_IF_ERROR(ExpectObject(v, path));
  CL_RETURN_IF_ERROR(Required(v, path, "names", &out->names, "the syscall names the rule applies to"));
  if (out->names.empty()) return Bad(Key(path, "names"), "empty, expected at least one syscall name");
  for (size_t i = 0; i < out->names.size(); ++i) {
    if (out->names[i].empty()) return Bad(At(Key(path, "names"), i), "empty, expected a syscall name");
  }
  CL_RETURN_IF_ERROR(ReadAction(v, path, "action", &out->action));
  CL_RETURN_IF_ERROR(Field(v, path, "errnoRet", &out->errno_ret));
  CL_RETURN_IF_ERROR(CheckErrnoRet(out->action, out->errno_ret, Key(path, "errnoRet")));
  return Field(v, path, "args", &out->args);
}

Status Read(const json& v, const std::string& path, Seccomp* out) {
  CL_RETURN_IF_ERROR(ExpectObject(v, path));
  CL_RETURN_IF_ERROR(ReadAction(v, path, "defaultAction", &out->default_action));
  CL_RETURN_IF_ERROR(Field(v, path, "defaultErrnoRet", &out->default_errno_ret));
  CL_RETURN_IF_ERROR(CheckErrnoRet(out->default_action, out->default_errno_ret, Key(path, "defaultErrnoRet")));
  if (const json* archs = Member(v, "architectures")) {
    const std::string archs_path = Key(path, "architectures");
    if (!archs->is_array()) return Expected(*archs, archs_path, "an array of SCMP_ARCH_ names");
    for (size_t i = 0; i < archs->size(); ++i) {
      out->architectures.emplace_back();
      CL_RETURN_IF_ERROR(
          ReadNamed((*archs)[i], At(archs_path, i), "architecture", kSeccompArchitectures, &out->architectures.back()));
    }
  }
  if (const json* flags = Member(v, "flags")) {
    const std::string flags_path = Key(path, "flags");
    if (!flags->is_array()) return Expected(*flags, flags_path, "an array of SECCOMP_FILTER_FLAG_ names");
    for (size_t i = 0; i < flags->size(); ++i) {
      out->flags.emplace_back();
      CL_RETURN_IF_ERROR(ReadNamed((*flags)[i], At(flags_path, i), "flag", kSeccompFlags, &out->flags.back()));
    }
  }
  return Field(v, path, "syscalls", &out->syscalls);
}

// The runtime turns a sysctl name into a path under /proc/sys, so a component must not climb out of it. Names with a
// '/' are split on '/' only (interface names such as eth0.1 contain dots), others on '.'.
bool IsSysctlName(const std::string& key) {
  const char separator = key.find('/') != std::string::npos ? '/' : '.';
  size_t start = 0;
  while (true) {
    size_t end = key.find(separator, start);
    std::string_view part = std::string_view(key).substr(start, end == std::string::npos ? end : end - start);
    if (part.empty() || part == "." || part == ".." || part.find('\0') != std::string_view::npos) return false;
    if (end == std::string::npos) return true;
    start = end + 1;
  }
}

Status Read(const json& v, const std::string& path, Linux* out) {
  CL_RETURN_IF_ERROR(ExpectObject(v, path));
  CL_RETURN_IF_ERROR(Field(v, path, "namespaces", &out->namespaces));
  for (size_t i = 0; i < out->namespaces.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (out->namespaces[j].type == out->namespaces[i].type) {
        return Bad(Key(At(Key(path, "namespaces"), i), "type"),
                   "duplicate namespace " + Quote(NamespaceName(out->namespaces[i].type)) + " (also at " +
                       At(Key(path, "namespaces"), j) + ")");
      }
    }
  }
  CL_RETURN_IF_ERROR(ReadMappings(v, path, "uidMappings", &out->uid_mappings));
  CL_RETURN_IF_ERROR(ReadMappings(v, path, "gidMappings", &out->gid_mappings));
  CL_RETURN_IF_ERROR(Refuse(v, path, "timeOffsets", "time namespace offsets (the time namespace itself is fine)"));
  CL_RETURN_IF_ERROR(Field(v, path, "sysctl", &out->sysctl));
  for (const auto& [key, value] : out->sysctl) {
    if (key.empty()) {
      return Bad(Key(path, "sysctl"), "empty key, expected a sysctl name such as \"net.ipv4.ip_forward\"");
    }
    if (!IsSysctlName(key)) {
      return Bad(Key(path, "sysctl") + "[" + Quote(key) + "]",
                 "not a sysctl name, expected dotted (\"net.ipv4.ip_forward\") or slashed "
                 "(\"net/ipv4/conf/eth0.1/rp_filter\") components without \".\" or \"..\"");
    }
  }
  CL_RETURN_IF_ERROR(Field(v, path, "resources", &out->resources));
  CL_RETURN_IF_ERROR(Field(v, path, "cgroupsPath", &out->cgroups_path));
  CL_RETURN_IF_ERROR(Field(v, path, "devices", &out->devices));
  CL_RETURN_IF_ERROR(Field(v, path, "seccomp", &out->seccomp));
  CL_RETURN_IF_ERROR(Field(v, path, "rootfsPropagation", &out->rootfs_propagation));
  if (!out->rootfs_propagation.empty() && !Contains(kPropagations, out->rootfs_propagation)) {
    return Bad(Key(path, "rootfsPropagation"),
               "unknown propagation " + Quote(out->rootfs_propagation) + ", expected " + OneOf(kPropagations));
  }
  CL_RETURN_IF_ERROR(Field(v, path, "maskedPaths", &out->masked_paths));
  for (size_t i = 0; i < out->masked_paths.size(); ++i) {
    CL_RETURN_IF_ERROR(CheckAbsolute(out->masked_paths[i], At(Key(path, "maskedPaths"), i)));
  }
  CL_RETURN_IF_ERROR(Field(v, path, "readonlyPaths", &out->readonly_paths));
  for (size_t i = 0; i < out->readonly_paths.size(); ++i) {
    CL_RETURN_IF_ERROR(CheckAbsolute(out->readonly_paths[i], At(Key(path, "readonlyPaths"), i)));
  }
  CL_RETURN_IF_ERROR(Field(v, path, "mountLabel", &out->mount_label));
  if (!out->mount_label.empty()) {
    return Bad(Key(path, "mountLabel"), "not supported: this runtime has no SELinux, expected it empty");
  }
  CL_RETURN_IF_ERROR(Refuse(v, path, "intelRdt", "the runtime has no Intel RDT support"));
  CL_RETURN_IF_ERROR(Refuse(v, path, "personality", "the runtime does not set execution domains"));
  CL_RETURN_IF_ERROR(Refuse(v, path, "memoryPolicy", "the runtime does not set NUMA memory policies"));
  return Refuse(v, path, "netDevices", "the runtime does not move network devices");
}

// runc's rule: a sysctl is set only inside a namespace the container has of its own, never on the host. The ipc and
// uts ones are namespaced by the kernel; net.* by the network namespace; anything else would change the host.
Status CheckSysctlNamespace(const std::string& key, const Linux& linux) {
  std::string name = key;
  std::replace(name.begin(), name.end(), '/', '.');
  const std::string path = "linux.sysctl[" + Quote(key) + "]";
  static constexpr std::string_view kIpcSysctls[] = {"kernel.msgmax", "kernel.msgmnb",         "kernel.msgmni",
                                                     "kernel.sem",    "kernel.shmall",         "kernel.shmmax",
                                                     "kernel.shmmni", "kernel.shm_rmid_forced"};
  if (Contains(kIpcSysctls, name) || name.starts_with("fs.mqueue.")) {
    if (linux.has(NamespaceType::kIpc)) return {};
    return Bad(path, "needs an ipc namespace (linux.namespaces has none; it would change the host's)");
  }
  if (name.starts_with("net.")) {
    if (linux.has(NamespaceType::kNetwork)) return {};
    return Bad(path, "needs a network namespace (linux.namespaces has none; it would change the host's)");
  }
  if ((name == "kernel.hostname" || name == "kernel.domainname") && linux.has(NamespaceType::kUts)) return {};
  return Bad(path,
             "not namespaced by the kernel: setting it would change the host (allowed: net.*, fs.mqueue.*, "
             "kernel.msg*/sem/shm*, and kernel.hostname/domainname with a uts namespace)");
}

// Rules spanning sections, checked once everything is read.
Status CheckConsistency(const Spec& spec) {
  const Linux& linux = spec.linux;
  for (const auto& [key, value] : linux.sysctl) CL_RETURN_IF_ERROR(CheckSysctlNamespace(key, linux));
  if (!spec.hostname.empty() && !linux.has(NamespaceType::kUts)) {
    return Bad("hostname",
               "set, but linux.namespaces has no uts namespace (it would rename the host); add "
               "{\"type\": \"uts\"} or drop the hostname");
  }
  if (!spec.domainname.empty() && !linux.has(NamespaceType::kUts)) {
    return Bad("domainname",
               "set, but linux.namespaces has no uts namespace (it would rename the host's domain); "
               "add {\"type\": \"uts\"} or drop the domainname");
  }
  const Namespace* user = linux.find(NamespaceType::kUser);
  if (user == nullptr) {
    if (!linux.uid_mappings.empty()) {
      return Bad("linux.uidMappings", "set, but linux.namespaces has no user namespace to apply them to");
    }
    if (!linux.gid_mappings.empty()) {
      return Bad("linux.gidMappings", "set, but linux.namespaces has no user namespace to apply them to");
    }
  } else if (user->path.empty()) {
    if (linux.uid_mappings.empty()) {
      return Bad("linux.uidMappings", "missing, expected the id mappings of the new user namespace");
    }
    if (linux.gid_mappings.empty()) {
      return Bad("linux.gidMappings", "missing, expected the id mappings of the new user namespace");
    }
  }
  return {};
}

Status CheckVersion(const std::string& version) {
  // "1.0.2", "1.2.0", "1.0.2-dev": major 1, then a dot and a digit.
  if (version.size() < 3 || version[0] != '1' || version[1] != '.' || version[2] < '0' || version[2] > '9') {
    return Bad("ociVersion", Quote(version) + " unsupported, expected a runtime-spec 1.x version such as \"1.0.2\"");
  }
  return {};
}

// Depth of [ and { nesting, strings skipped; checked before parsing so no walk of the document recurses deeply.
Status CheckDepth(std::string_view text) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxDepth) {
        return Error("invalid config.json: nested deeper than " + std::to_string(kMaxDepth) + " levels");
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return {};
}

Result<Spec> ParseDocument(const json& doc) {
  if (!doc.is_object()) return Error("invalid config.json: expected a JSON object, got " + Describe(doc));
  Spec spec;
  CL_RETURN_IF_ERROR(Required(doc, "", "ociVersion", &spec.oci_version, "the runtime-spec version, e.g. \"1.0.2\""));
  CL_RETURN_IF_ERROR(CheckVersion(spec.oci_version));
  CL_RETURN_IF_ERROR(Field(doc, "", "process", &spec.process));
  const json* root = Member(doc, "root");
  if (root == nullptr) return Bad("root", "missing, expected {\"path\": \"rootfs\"}");
  CL_RETURN_IF_ERROR(Read(*root, "root", &spec.root));
  CL_RETURN_IF_ERROR(Field(doc, "", "hostname", &spec.hostname));
  CL_RETURN_IF_ERROR(Field(doc, "", "domainname", &spec.domainname));
  CL_RETURN_IF_ERROR(Field(doc, "", "mounts", &spec.mounts));
  CL_RETURN_IF_ERROR(Field(doc, "", "hooks", &spec.hooks));
  CL_RETURN_IF_ERROR(Field(doc, "", "annotations", &spec.annotations));
  CL_RETURN_IF_ERROR(Field(doc, "", "linux", &spec.linux));
  CL_RETURN_IF_ERROR(CheckConsistency(spec));
  return spec;
}

// ---- writing ----

ojson ToJson(const std::vector<std::string>& list) { return ojson(list); }

ojson ToJson(const Process& p) {
  ojson j = ojson::object();
  j["terminal"] = p.terminal;
  if (p.console_size) j["consoleSize"] = {{"height", p.console_size->height}, {"width", p.console_size->width}};
  ojson user = {{"uid", p.user.uid}, {"gid", p.user.gid}};
  if (p.user.umask) user["umask"] = *p.user.umask;
  if (!p.user.additional_gids.empty()) user["additionalGids"] = p.user.additional_gids;
  j["user"] = std::move(user);
  j["args"] = ToJson(p.args);
  if (!p.env.empty()) j["env"] = ToJson(p.env);
  j["cwd"] = p.cwd;
  if (p.capabilities) {
    ojson caps = ojson::object();
    auto set = [&](const char* key, const std::vector<std::string>& names) {
      if (!names.empty()) caps[key] = ToJson(names);
    };
    set("bounding", p.capabilities->bounding);
    set("effective", p.capabilities->effective);
    set("permitted", p.capabilities->permitted);
    set("inheritable", p.capabilities->inheritable);
    set("ambient", p.capabilities->ambient);
    j["capabilities"] = std::move(caps);
  }
  if (!p.rlimits.empty()) {
    ojson rlimits = ojson::array();
    for (const auto& r : p.rlimits) rlimits.push_back({{"type", r.type}, {"hard", r.hard}, {"soft", r.soft}});
    j["rlimits"] = std::move(rlimits);
  }
  if (p.no_new_privileges) j["noNewPrivileges"] = true;
  if (!p.apparmor_profile.empty()) j["apparmorProfile"] = p.apparmor_profile;
  if (p.oom_score_adj) j["oomScoreAdj"] = *p.oom_score_adj;
  if (!p.selinux_label.empty()) j["selinuxLabel"] = p.selinux_label;
  return j;
}

ojson ToJson(const Mount& m) {
  ojson j = {{"destination", m.destination}};
  if (!m.type.empty()) j["type"] = m.type;
  if (!m.source.empty()) j["source"] = m.source;
  if (!m.options.empty()) j["options"] = ToJson(m.options);
  return j;
}

ojson ToJson(const std::vector<Hook>& hooks) {
  ojson list = ojson::array();
  for (const auto& h : hooks) {
    ojson j = {{"path", h.path}};
    if (!h.args.empty()) j["args"] = ToJson(h.args);
    if (!h.env.empty()) j["env"] = ToJson(h.env);
    if (h.timeout) j["timeout"] = *h.timeout;
    list.push_back(std::move(j));
  }
  return list;
}

ojson ToJson(const std::vector<IdMapping>& mappings) {
  ojson list = ojson::array();
  for (const auto& m : mappings) {
    list.push_back({{"containerID", m.container_id}, {"hostID", m.host_id}, {"size", m.size}});
  }
  return list;
}

ojson ToJson(const Resources& r) {
  ojson j = ojson::object();
  if (!r.devices.empty()) {
    ojson devices = ojson::array();
    for (const auto& d : r.devices) {
      ojson rule = {{"allow", d.allow}, {"type", std::string(1, d.type)}};
      if (d.major) rule["major"] = *d.major;
      if (d.minor) rule["minor"] = *d.minor;
      if (!d.access.empty()) rule["access"] = d.access;
      devices.push_back(std::move(rule));
    }
    j["devices"] = std::move(devices);
  }
  if (r.memory) {
    ojson m = ojson::object();
    if (r.memory->limit) m["limit"] = *r.memory->limit;
    if (r.memory->reservation) m["reservation"] = *r.memory->reservation;
    if (r.memory->swap) m["swap"] = *r.memory->swap;
    if (r.memory->swappiness) m["swappiness"] = *r.memory->swappiness;
    if (r.memory->disable_oom_killer) m["disableOOMKiller"] = *r.memory->disable_oom_killer;
    j["memory"] = std::move(m);
  }
  if (r.cpu) {
    ojson c = ojson::object();
    if (r.cpu->shares) c["shares"] = *r.cpu->shares;
    if (r.cpu->quota) c["quota"] = *r.cpu->quota;
    if (r.cpu->period) c["period"] = *r.cpu->period;
    if (!r.cpu->cpus.empty()) c["cpus"] = r.cpu->cpus;
    if (!r.cpu->mems.empty()) c["mems"] = r.cpu->mems;
    j["cpu"] = std::move(c);
  }
  if (r.pids_limit) j["pids"] = {{"limit", *r.pids_limit}};
  return j;
}

ojson ToJson(const Seccomp& s) {
  ojson j = {{"defaultAction", NameOf(kSeccompActions, s.default_action)}};
  if (s.default_errno_ret) j["defaultErrnoRet"] = *s.default_errno_ret;
  if (!s.architectures.empty()) j["architectures"] = ToJson(s.architectures);
  if (!s.flags.empty()) j["flags"] = ToJson(s.flags);
  if (!s.syscalls.empty()) {
    ojson rules = ojson::array();
    for (const auto& rule : s.syscalls) {
      ojson r = {{"names", ToJson(rule.names)}, {"action", NameOf(kSeccompActions, rule.action)}};
      if (rule.errno_ret) r["errnoRet"] = *rule.errno_ret;
      if (!rule.args.empty()) {
        ojson args = ojson::array();
        for (const auto& a : rule.args) {
          args.push_back(
              {{"index", a.index}, {"value", a.value}, {"valueTwo", a.value_two}, {"op", NameOf(kSeccompOps, a.op)}});
        }
        r["args"] = std::move(args);
      }
      rules.push_back(std::move(r));
    }
    j["syscalls"] = std::move(rules);
  }
  return j;
}

ojson ToJson(const Linux& l) {
  ojson j = ojson::object();
  if (!l.uid_mappings.empty()) j["uidMappings"] = ToJson(l.uid_mappings);
  if (!l.gid_mappings.empty()) j["gidMappings"] = ToJson(l.gid_mappings);
  if (!l.sysctl.empty()) j["sysctl"] = l.sysctl;
  if (l.resources) j["resources"] = ToJson(*l.resources);
  if (!l.cgroups_path.empty()) j["cgroupsPath"] = l.cgroups_path;
  if (!l.namespaces.empty()) {
    ojson namespaces = ojson::array();
    for (const auto& ns : l.namespaces) {
      ojson n = {{"type", NamespaceName(ns.type)}};
      if (!ns.path.empty()) n["path"] = ns.path;
      namespaces.push_back(std::move(n));
    }
    j["namespaces"] = std::move(namespaces);
  }
  if (!l.devices.empty()) {
    ojson devices = ojson::array();
    for (const auto& d : l.devices) {
      ojson dev = {{"path", d.path}, {"type", std::string(1, d.type)}};
      if (d.type != 'p' || d.major != 0 || d.minor != 0) {
        dev["major"] = d.major;
        dev["minor"] = d.minor;
      }
      if (d.file_mode) dev["fileMode"] = *d.file_mode;
      if (d.uid) dev["uid"] = *d.uid;
      if (d.gid) dev["gid"] = *d.gid;
      devices.push_back(std::move(dev));
    }
    j["devices"] = std::move(devices);
  }
  if (l.seccomp) j["seccomp"] = ToJson(*l.seccomp);
  if (!l.rootfs_propagation.empty()) j["rootfsPropagation"] = l.rootfs_propagation;
  if (!l.masked_paths.empty()) j["maskedPaths"] = ToJson(l.masked_paths);
  if (!l.readonly_paths.empty()) j["readonlyPaths"] = ToJson(l.readonly_paths);
  if (!l.mount_label.empty()) j["mountLabel"] = l.mount_label;
  return j;
}

}  // namespace

std::string_view NamespaceName(NamespaceType type) { return NameOf(kNamespaces, type); }

bool Linux::has(NamespaceType type) const { return find(type) != nullptr; }

const Namespace* Linux::find(NamespaceType type) const {
  for (const auto& ns : namespaces) {
    if (ns.type == type) return &ns;
  }
  return nullptr;
}

Result<Spec> ParseSpec(std::string_view text) {
  CL_RETURN_IF_ERROR(CheckDepth(text));
  try {
    json doc = json::parse(text.begin(), text.end());
    return ParseDocument(doc);
  } catch (const json::parse_error& e) {
    // nlohmann prefixes "[json.exception.parse_error.101] "; the rest says where and what.
    std::string what = e.what();
    if (auto close = what.find("] "); close != std::string::npos) what.erase(0, close + 2);
    return Error("invalid config.json: " + what);
  } catch (const std::exception& e) {
    return Error(std::string("invalid config.json: ") + e.what());
  }
}

Result<Spec> LoadSpec(const std::string& bundle_dir) {
  const std::string path = bundle_dir + "/config.json";
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("open " + path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoError("stat " + path);
  if (!S_ISREG(st.st_mode)) return Error(path + ": not a regular file");
  const std::string too_big = path + ": larger than the " + std::to_string(kMaxSpecBytes >> 20) + " MiB limit";
  if (static_cast<uint64_t>(st.st_size) > kMaxSpecBytes) return Error(too_big);
  // Read to the limit plus one byte: the file may have grown since fstat.
  std::string text(kMaxSpecBytes + 1, '\0');
  size_t got = 0;
  while (got < text.size()) {
    ssize_t n = ::read(fd.get(), text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("read " + path);
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  if (got > kMaxSpecBytes) return Error(too_big);
  text.resize(got);
  auto spec = ParseSpec(text);
  if (!spec.ok()) return spec.error().wrap(path);
  return spec;
}

std::string SpecToJson(const Spec& spec) {
  ojson j = ojson::object();
  j["ociVersion"] = spec.oci_version;
  if (spec.process) j["process"] = ToJson(*spec.process);
  j["root"] = {{"path", spec.root.path}, {"readonly", spec.root.readonly}};
  if (!spec.hostname.empty()) j["hostname"] = spec.hostname;
  if (!spec.domainname.empty()) j["domainname"] = spec.domainname;
  ojson mounts = ojson::array();
  for (const auto& m : spec.mounts) mounts.push_back(ToJson(m));
  j["mounts"] = std::move(mounts);
  ojson hooks = ojson::object();
  auto hook_list = [&](const char* key, const std::vector<Hook>& list) {
    if (!list.empty()) hooks[key] = ToJson(list);
  };
  hook_list("prestart", spec.hooks.prestart);
  hook_list("createRuntime", spec.hooks.create_runtime);
  hook_list("createContainer", spec.hooks.create_container);
  hook_list("startContainer", spec.hooks.start_container);
  hook_list("poststart", spec.hooks.poststart);
  hook_list("poststop", spec.hooks.poststop);
  if (!hooks.empty()) j["hooks"] = std::move(hooks);
  if (!spec.annotations.empty()) j["annotations"] = spec.annotations;
  j["linux"] = ToJson(spec.linux);
  // Strings were valid UTF-8 when parsed; `replace` only guards a Spec built in code from making dump() throw.
  return j.dump(1, '\t', false, ojson::error_handler_t::replace) + "\n";
}

Spec DefaultSpec(bool rootless, uint32_t uid, uint32_t gid) {
  Spec spec;
  spec.oci_version = std::string(kDefaultOciVersion);
  Process& p = spec.process.emplace();
  p.terminal = true;
  p.args = {"sh"};
  p.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"};
  p.cwd = "/";
  const std::vector<std::string> caps = {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"};
  Capabilities& c = p.capabilities.emplace();
  c.bounding = c.effective = c.permitted = c.ambient = caps;
  p.rlimits = {{"RLIMIT_NOFILE", 1024, 1024}};
  p.no_new_privileges = true;
  spec.root = {"rootfs", true};
  spec.hostname = "runc";
  spec.mounts = {
      {"/proc", "proc", "proc", {}},
      {"/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}},
      {"/dev/pts", "devpts", "devpts", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
      {"/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
      {"/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}},
      {"/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}},
      {"/sys/fs/cgroup", "cgroup", "cgroup", {"nosuid", "noexec", "nodev", "relatime", "ro"}},
  };
  Linux& l = spec.linux;
  l.resources.emplace().devices = {DeviceRule{.allow = false, .type = 'a', .access = "rwm"}};
  l.namespaces = {{NamespaceType::kPid, ""},
                  {NamespaceType::kNetwork, ""},
                  {NamespaceType::kIpc, ""},
                  {NamespaceType::kUts, ""},
                  {NamespaceType::kMount, ""}};
  l.masked_paths = {"/proc/acpi",          "/proc/asound",     "/proc/kcore",       "/proc/keys",
                    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
                    "/sys/firmware",       "/proc/scsi"};
  l.readonly_paths = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};
  if (!rootless) return spec;

  // As `runc spec --rootless`: an unprivileged user cannot create a network namespace worth having, mount a fresh
  // sysfs, use the tty group, or set up cgroup device rules.
  std::erase_if(l.namespaces, [](const Namespace& ns) { return ns.type == NamespaceType::kNetwork; });
  l.namespaces.push_back({NamespaceType::kUser, ""});
  l.uid_mappings = {{0, uid, 1}};
  l.gid_mappings = {{0, gid, 1}};
  l.resources.reset();
  for (Mount& m : spec.mounts) {
    if (m.destination == "/sys") m = {"/sys", "none", "/sys", {"rbind", "nosuid", "noexec", "nodev", "ro"}};
    std::erase_if(m.options, [](const std::string& o) { return o.starts_with("gid="); });
  }
  return spec;
}

}  // namespace cloudlet::oci
