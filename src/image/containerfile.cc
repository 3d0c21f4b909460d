#include "image/containerfile.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

namespace cloudlet::image {
namespace {

struct KindName {
  InstructionKind kind;
  const char* name;
};
constexpr KindName kKinds[] = {
    {InstructionKind::kFrom, "FROM"},
    {InstructionKind::kArg, "ARG"},
    {InstructionKind::kRun, "RUN"},
    {InstructionKind::kCopy, "COPY"},
    {InstructionKind::kAdd, "ADD"},
    {InstructionKind::kEnv, "ENV"},
    {InstructionKind::kLabel, "LABEL"},
    {InstructionKind::kExpose, "EXPOSE"},
    {InstructionKind::kWorkdir, "WORKDIR"},
    {InstructionKind::kUser, "USER"},
    {InstructionKind::kEntrypoint, "ENTRYPOINT"},
    {InstructionKind::kCmd, "CMD"},
};
// Docker instructions cloudlet refuses by name rather than calling them unknown.
constexpr const char* kUnsupported[] = {"SHELL", "VOLUME", "HEALTHCHECK", "ONBUILD", "STOPSIGNAL", "MAINTAINER"};

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool IsNameStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0 || c == '_'; }
bool IsNameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; }

// Splits on whitespace outside quotes, keeping quotes and backslashes as written (they are removed by Expand).
Result<std::vector<std::string>> SplitRawWords(std::string_view text) {
  std::vector<std::string> words;
  std::string cur;
  bool in_word = false;
  char quote = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quote == 0 && IsSpace(c)) {
      if (in_word) words.push_back(std::move(cur));
      cur.clear();
      in_word = false;
      continue;
    }
    in_word = true;
    cur += c;
    if (c == '\\' && quote != '\'' && i + 1 < text.size()) {
      cur += text[++i];
    } else if (quote == 0 && (c == '\'' || c == '"')) {
      quote = c;
    } else if (quote != 0 && c == quote) {
      quote = 0;
    }
  }
  if (quote != 0) return Error(std::string("unterminated ") + (quote == '"' ? "double" : "single") + " quote");
  if (in_word) words.push_back(std::move(cur));
  return words;
}

// Index of the '}' closing a "${" whose contents start at `pos`, honouring nested ${...} and backslashes.
size_t FindClosingBrace(std::string_view w, size_t pos) {
  int depth = 1;
  for (size_t i = pos; i < w.size(); ++i) {
    if (w[i] == '\\') {
      ++i;
    } else if (w[i] == '{') {
      ++depth;
    } else if (w[i] == '}' && --depth == 0) {
      return i;
    }
  }
  return std::string_view::npos;
}

// Expands the variable reference starting at w[i] == '$'; advances i past it.
Status ExpandVariable(std::string_view w, size_t& i, const Variables& vars, std::string& out) {
  ++i;  // '$'
  if (i < w.size() && w[i] == '{') {
    size_t start = ++i;
    while (i < w.size() && IsNameChar(w[i])) ++i;
    std::string name(w.substr(start, i - start));
    if (i >= w.size()) return Error("unterminated ${" + name);
    if (name.empty()) return Error("bad substitution: ${ without a variable name");
    auto it = vars.find(name);
    const bool set = it != vars.end();
    const bool nonempty = set && !it->second.empty();
    if (w[i] == '}') {
      ++i;
      if (set) out += it->second;
      return Status::Ok();
    }
    bool colon = false;
    if (w[i] == ':') {
      colon = true;
      ++i;
    }
    if (i >= w.size() || (w[i] != '-' && w[i] != '+')) {
      return Error("unsupported substitution ${" + name + (colon ? ":" : "") +
                   (i < w.size() ? std::string(1, w[i]) : std::string()) +
                   "...}: only ${VAR}, ${VAR:-default}, ${VAR:+alternative}, ${VAR-default}, ${VAR+alternative}");
    }
    const char op = w[i++];
    size_t close = FindClosingBrace(w, i);
    if (close == std::string_view::npos) return Error("unterminated ${" + name);
    std::string_view inner = w.substr(i, close - i);
    i = close + 1;
    const bool use_word = op == '-' ? !(colon ? nonempty : set) : (colon ? nonempty : set);
    if (!use_word) {
      if (op == '-' && set) out += it->second;
      return Status::Ok();
    }
    CL_ASSIGN_OR_RETURN(std::string expanded, Expand(inner, vars));
    out += expanded;
    return Status::Ok();
  }
  if (i < w.size() && IsNameStart(w[i])) {
    size_t start = i;
    while (i < w.size() && IsNameChar(w[i])) ++i;
    auto it = vars.find(std::string(w.substr(start, i - start)));
    if (it != vars.end()) out += it->second;
    return Status::Ok();
  }
  out += '$';  // "$" followed by anything else is literal, as in Docker
  return Status::Ok();
}

Result<std::vector<std::pair<std::string, std::string>>> ParseFlags(std::string_view& text) {
  std::vector<std::pair<std::string, std::string>> flags;
  while (true) {
    text = Trim(text);
    if (!text.starts_with("--")) break;
    size_t end = 0;
    while (end < text.size() && !IsSpace(text[end])) ++end;
    std::string_view word = text.substr(2, end - 2);
    text.remove_prefix(end);
    if (word.empty()) break;  // a bare "--": arguments follow
    size_t eq = word.find('=');
    if (eq == std::string_view::npos) {
      flags.emplace_back(std::string(word), "");
    } else {
      flags.emplace_back(std::string(word.substr(0, eq)), std::string(word.substr(eq + 1)));
    }
  }
  return flags;
}

// Exec form: a JSON array of strings. Anything else (including invalid JSON) is shell form, as in Docker.
bool ParseJsonArray(std::string_view text, std::vector<std::string>* out) {
  if (!text.starts_with('[')) return false;
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_array()) return false;
  std::vector<std::string> args;
  for (const auto& e : j) {
    if (!e.is_string()) return false;
    args.push_back(e.get<std::string>());
  }
  *out = std::move(args);
  return true;
}

Status CheckFlags(const Instruction& ins, std::initializer_list<const char*> allowed) {
  const std::string name = InstructionName(ins.kind);
  for (const auto& f : ins.flags) {
    const std::string& flag = f.first;
    if (flag == "from" && ins.kind == InstructionKind::kCopy) {
      return Error("COPY --from is not supported (cloudlet builds a single stage)");
    }
    if (ins.kind == InstructionKind::kRun) {
      return Error("RUN --" + flag + " is not supported (RUN steps take no flags)");
    }
    if (std::find_if(allowed.begin(), allowed.end(), [&](const char* a) { return flag == a; }) == allowed.end()) {
      std::string list;
      for (const char* a : allowed) {
        if (!list.empty()) list += ", ";
        list += "--";
        list += a;
      }
      std::string msg = name;
      msg += " --";
      msg += flag;
      msg += " is not supported";
      if (!list.empty()) msg += " (known: " + list + ")";
      return Error(msg);
    }
  }
  return Status::Ok();
}

Result<std::vector<KeyValue>> ParsePairs(const Instruction& ins) {
  const std::string name = InstructionName(ins.kind);
  CL_ASSIGN_OR_RETURN(std::vector<std::string> words, SplitRawWords(ins.text));
  if (words.empty()) return Error(name + " needs at least one argument");
  std::vector<KeyValue> pairs;
  if (ins.kind == InstructionKind::kArg) {
    for (const std::string& w : words) {
      size_t eq = w.find('=');
      KeyValue kv{w.substr(0, eq), eq == std::string::npos ? "" : w.substr(eq + 1), eq != std::string::npos};
      if (kv.key.empty() || !IsNameStart(kv.key[0]) ||
          !std::all_of(kv.key.begin(), kv.key.end(), [](char c) { return IsNameChar(c); })) {
        return Error("ARG " + w + ": a name is letters, digits and _ (not starting with a digit)");
      }
      pairs.push_back(std::move(kv));
    }
    return pairs;
  }
  if (words[0].find('=') == std::string::npos) {
    // The legacy form "ENV key value with spaces": one pair, the value the rest of the line.
    std::string_view rest = Trim(std::string_view(ins.text).substr(words[0].size()));
    if (rest.empty()) return Error(name + " " + words[0] + ": needs a value (" + name + " key=value)");
    pairs.push_back({words[0], std::string(rest), true});
    return pairs;
  }
  for (const std::string& w : words) {
    size_t eq = w.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::string what = name;
      what += ' ';
      what += w;
      return Error(what + (eq == 0 ? ": the key is empty" : ": expected key=value"));
    }
    pairs.push_back({w.substr(0, eq), w.substr(eq + 1), true});
  }
  return pairs;
}

bool LooksLikeHeredoc(std::string_view text) {
  text = Trim(text);
  if (!text.starts_with("<<")) return false;
  text.remove_prefix(2);
  if (text.starts_with('-')) text.remove_prefix(1);
  if (text.starts_with('"') || text.starts_with('\'')) text.remove_prefix(1);
  return !text.empty() && IsNameStart(text[0]);
}

// Checks an instruction's arguments and fills the parsed forms (json_args, pairs).
Status Finish(Instruction& ins) {
  const std::string name = InstructionName(ins.kind);
  switch (ins.kind) {
    case InstructionKind::kFrom: {
      CL_RETURN_IF_ERROR(CheckFlags(ins, {"platform"}));
      CL_ASSIGN_OR_RETURN(std::vector<std::string> words, SplitRawWords(ins.text));
      if (words.size() == 3 && Upper(words[1]) == "AS") break;
      if (words.size() != 1) return Error("FROM takes an image (or scratch) and optionally AS name");
      break;
    }
    case InstructionKind::kArg:
    case InstructionKind::kEnv:
    case InstructionKind::kLabel: {
      CL_RETURN_IF_ERROR(CheckFlags(ins, {}));
      CL_ASSIGN_OR_RETURN(ins.pairs, ParsePairs(ins));
      break;
    }
    case InstructionKind::kRun:
    case InstructionKind::kCmd:
    case InstructionKind::kEntrypoint: {
      CL_RETURN_IF_ERROR(CheckFlags(ins, {}));
      ins.json = ParseJsonArray(ins.text, &ins.json_args);
      if (ins.kind == InstructionKind::kRun && (ins.json ? ins.json_args.empty() : ins.text.empty())) {
        return Error("RUN needs a command");
      }
      if (ins.kind == InstructionKind::kRun && !ins.json && LooksLikeHeredoc(ins.text)) {
        return Error("heredocs (RUN <<EOF) are not supported; put the script in the context and COPY it");
      }
      break;
    }
    case InstructionKind::kCopy:
    case InstructionKind::kAdd: {
      CL_RETURN_IF_ERROR(CheckFlags(ins, {"chown", "chmod"}));
      if (const std::string* mode = ins.Flag("chmod")) {
        if (mode->empty() || mode->size() > 4 ||
            !std::all_of(mode->begin(), mode->end(), [](char c) { return c >= '0' && c <= '7'; })) {
          return Error(name + " --chmod=" + *mode + ": only octal modes (such as 0755) are supported");
        }
      }
      ins.json = ParseJsonArray(ins.text, &ins.json_args);
      size_t count = ins.json_args.size();
      if (!ins.json) {
        CL_ASSIGN_OR_RETURN(std::vector<std::string> words, SplitRawWords(ins.text));
        count = words.size();
        if (!words.empty() && words[0].starts_with("<<")) {
          return Error("heredocs (" + name + " <<EOF) are not supported; put the file in the context");
        }
      }
      if (count < 2) return Error(name + " needs at least one source and a destination");
      break;
    }
    case InstructionKind::kExpose:
    case InstructionKind::kWorkdir:
    case InstructionKind::kUser: {
      CL_RETURN_IF_ERROR(CheckFlags(ins, {}));
      if (ins.text.empty()) return Error(name + " needs an argument");
      break;
    }
  }
  return Status::Ok();
}

}  // namespace

const char* InstructionName(InstructionKind kind) {
  for (const auto& k : kKinds) {
    if (k.kind == kind) return k.name;
  }
  return "?";
}

std::string Instruction::Display() const {
  std::string out = InstructionName(kind);
  for (const auto& [flag, value] : flags) {
    out += " --" + flag;
    if (!value.empty()) out += "=" + value;
  }
  if (!text.empty()) out += " " + text;
  return out;
}

const std::string* Instruction::Flag(std::string_view name) const {
  for (const auto& f : flags) {
    if (f.first == name) return &f.second;
  }
  return nullptr;
}

Result<std::string> Expand(std::string_view w, const Variables& vars) {
  std::string out;
  size_t i = 0;
  while (i < w.size()) {
    char c = w[i];
    if (c == '\'') {
      size_t close = w.find('\'', i + 1);
      if (close == std::string_view::npos) return Error("unterminated single quote");
      out += w.substr(i + 1, close - i - 1);
      i = close + 1;
    } else if (c == '"') {
      ++i;
      while (true) {
        if (i >= w.size()) return Error("unterminated double quote");
        char d = w[i];
        if (d == '"') {
          ++i;
          break;
        }
        if (d == '\\' && i + 1 < w.size() && (w[i + 1] == '"' || w[i + 1] == '$' || w[i + 1] == '\\')) {
          out += w[i + 1];
          i += 2;
        } else if (d == '$') {
          CL_RETURN_IF_ERROR(ExpandVariable(w, i, vars, out));
        } else {
          out += d;
          ++i;
        }
      }
    } else if (c == '\\') {
      if (i + 1 < w.size())
        out += w[i + 1];
      else
        out += '\\';
      i += 2;
    } else if (c == '$') {
      CL_RETURN_IF_ERROR(ExpandVariable(w, i, vars, out));
    } else {
      out += c;
      ++i;
    }
  }
  return out;
}

Result<std::vector<std::string>> ExpandWords(std::string_view text, const Variables& vars) {
  CL_ASSIGN_OR_RETURN(std::vector<std::string> words, SplitRawWords(text));
  std::vector<std::string> out;
  out.reserve(words.size());
  for (const std::string& w : words) {
    CL_ASSIGN_OR_RETURN(std::string e, Expand(w, vars));
    out.push_back(std::move(e));
  }
  return out;
}

Result<Containerfile> ParseContainerfile(std::string_view text, std::string_view name) {
  // Lines, without their terminators ("\r\n" too).
  std::vector<std::string_view> lines;
  for (size_t pos = 0; pos < text.size();) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    if (line.ends_with('\r')) line.remove_suffix(1);
    lines.push_back(line);
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  auto fail = [&](int line, const std::string& msg) {
    return Error(std::string(name) + ":" + std::to_string(line) + ": " + msg);
  };
  if (std::find(text.begin(), text.end(), '\0') != text.end()) {
    return Error(std::string(name) + ": contains NUL bytes; not a text file");
  }

  Containerfile out;
  bool have_from = false;
  bool directives = true;  // parser directives are only recognized before anything else
  for (size_t i = 0; i < lines.size(); ++i) {
    const int lineno = static_cast<int>(i) + 1;
    std::string_view line = Trim(lines[i]);
    if (line.empty()) {
      directives = false;
      continue;
    }
    if (line.starts_with('#')) {
      if (directives) {
        std::string_view body = Trim(line.substr(1));
        size_t eq = body.find('=');
        std::string key = eq == std::string_view::npos ? "" : Upper(Trim(body.substr(0, eq)));
        std::string_view value = eq == std::string_view::npos ? "" : Trim(body.substr(eq + 1));
        if (key == "ESCAPE" && value != "\\") {
          return fail(lineno, "the parser directive escape=" + std::string(value) +
                                  " is not supported; only the default escape character \\ is");
        }
        if (key != "ESCAPE" && key != "SYNTAX" && key != "CHECK") directives = false;
      }
      continue;
    }
    directives = false;

    // The instruction, with its continuation lines joined.
    std::string joined;
    size_t j = i;
    while (true) {
      std::string_view cur = lines[j];
      std::string_view rtrim = cur;
      while (!rtrim.empty() && (rtrim.back() == ' ' || rtrim.back() == '\t')) rtrim.remove_suffix(1);
      const bool continues = rtrim.ends_with('\\');
      joined += continues ? rtrim.substr(0, rtrim.size() - 1) : cur;
      if (!continues) break;
      // Skip comment and empty lines inside a continuation (Docker does).
      size_t k = j + 1;
      while (k < lines.size() && (Trim(lines[k]).empty() || Trim(lines[k]).starts_with('#'))) ++k;
      if (k >= lines.size()) {
        j = k - 1;
        break;
      }
      j = k;
    }
    i = j;

    std::string_view body = Trim(joined);
    size_t end = 0;
    while (end < body.size() && !IsSpace(body[end])) ++end;
    const std::string keyword = Upper(body.substr(0, end));
    std::string_view rest = Trim(body.substr(end));

    Instruction ins;
    ins.line = lineno;
    bool known = false;
    for (const auto& k : kKinds) {
      if (keyword == k.name) {
        ins.kind = k.kind;
        known = true;
      }
    }
    if (!known) {
      for (const char* u : kUnsupported) {
        if (keyword == u) return fail(lineno, keyword + " is not supported by cloudlet image build");
      }
      return fail(lineno, "unknown instruction " + std::string(body.substr(0, end)));
    }
    auto flags = ParseFlags(rest);
    if (!flags.ok()) return fail(lineno, flags.error().message());
    ins.flags = std::move(*flags);
    ins.text = std::string(Trim(rest));
    Status st = Finish(ins);
    if (!st.ok()) return fail(lineno, st.message());

    if (ins.kind == InstructionKind::kFrom) {
      if (have_from) return fail(lineno, "a second FROM: multi-stage builds are not supported");
      have_from = true;
      out.from = std::move(ins);
    } else if (!have_from) {
      if (ins.kind != InstructionKind::kArg) {
        return fail(lineno, std::string(InstructionName(ins.kind)) + " before FROM (only ARG may come first)");
      }
      out.global_args.push_back(std::move(ins));
    } else {
      out.steps.push_back(std::move(ins));
    }
  }
  if (!have_from) return Error(std::string(name) + ": no FROM instruction");
  return out;
}

}  // namespace cloudlet::image
