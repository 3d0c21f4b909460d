#include "registry/client.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "registry/http.h"

namespace cloudlet::registry {
namespace {

using oci::Descriptor;
using oci::Digest;

constexpr char kManifestAccept[] =
    "Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json";

std::string ShortDigest(const Digest& d) { return d.hex().substr(0, 12); }

// "HTTP 404 (MANIFEST_UNKNOWN: manifest unknown)": the status and the registry's own error codes, bounded.
std::string Describe(const HttpResponse& r) {
  if (r.status == 0) return r.error;
  std::string out = "HTTP " + std::to_string(r.status);
  nlohmann::json doc = nlohmann::json::parse(r.body, nullptr, false);
  std::string detail;
  if (doc.is_object() && doc.contains("errors") && doc["errors"].is_array()) {
    for (const auto& e : doc["errors"]) {
      if (!e.is_object()) continue;
      std::string one = e.value("code", "");
      if (e.contains("message") && e["message"].is_string()) one += ": " + e["message"].get<std::string>();
      detail += (detail.empty() ? "" : "; ") + one;
    }
  }
  if (detail.size() > 300) detail = detail.substr(0, 300) + "...";
  if (!detail.empty()) out += " (" + detail + ")";
  return out;
}

bool Transient(long status) {
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

// One line per blob on a terminal ("<digest>  12.0 MiB / 40.0 MiB  85.1 MiB/s"), the lines of parallel transfers
// redrawn together (cursor up, rewrite) at most 10 times a second. Shared by the transfers of one process.
class ProgressBoard {
 public:
  static ProgressBoard& Get() {
    static ProgressBoard board;
    return board;
  }
  size_t Add(std::string label, uint64_t total) {
    std::lock_guard<std::mutex> l(mu_);
    lines_.push_back(Line{std::move(label), total, 0, std::chrono::steady_clock::now(), false});
    DrawLocked(true);
    return lines_.size() - 1;
  }
  void Set(size_t id, uint64_t done, bool finished) {
    std::lock_guard<std::mutex> l(mu_);
    lines_[id].done = done;
    lines_[id].finished = lines_[id].finished || finished;
    DrawLocked(finished);
  }

 private:
  struct Line {
    std::string label;
    uint64_t total, done;
    std::chrono::steady_clock::time_point start;
    bool finished;
  };
  static std::string Mib(uint64_t n) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(n) / (1 << 20));
    return buf;
  }
  void DrawLocked(bool force) {
    auto now = std::chrono::steady_clock::now();
    if (!force && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    std::string out;
    if (drawn_ > 0) out += "\x1b[" + std::to_string(drawn_) + "A";
    for (const auto& line : lines_) {
      double secs = std::chrono::duration<double>(now - line.start).count();
      double rate = secs > 0 ? static_cast<double>(line.done) / secs / (1 << 20) : 0;
      char buf[256];
      std::snprintf(buf, sizeof buf, "\r\x1b[K%-14s %s / %s  %.1f MiB/s%s\n", line.label.c_str(),
                    Mib(line.done).c_str(), Mib(line.total).c_str(), rate, line.finished ? "  done" : "");
      out += buf;
    }
    drawn_ = lines_.size();
    ssize_t rc = ::write(STDERR_FILENO, out.data(), out.size());
    (void)rc;
  }

  std::mutex mu_;
  std::vector<Line> lines_;
  size_t drawn_ = 0;
  std::chrono::steady_clock::time_point last_{};
};

class Progress {
 public:
  Progress(bool enabled, std::string label, uint64_t total) : enabled_(enabled) {
    if (enabled_) id_ = ProgressBoard::Get().Add(std::move(label), total);
  }
  ~Progress() { Finish(); }
  void Add(uint64_t n) {
    done_ += n;
    if (!enabled_) return;
    auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    ProgressBoard::Get().Set(id_, done_, false);
  }
  void Reset() { done_ = 0; }
  void Finish() {
    if (!enabled_ || finished_) return;
    finished_ = true;
    ProgressBoard::Get().Set(id_, done_, true);
  }

 private:
  bool enabled_;
  size_t id_ = 0;
  uint64_t done_ = 0;
  bool finished_ = false;
  std::chrono::steady_clock::time_point last_{};
};

// A registry connection: base URL, one HttpClient (keep-alive), the auth state (challenge, tokens per scope set).
class Session {
 public:
  Session(const RemoteReference& remote, const RegistryOptions& options) : options_(options) {
    registry_ = remote.reference.registry;
    host_ = registry_ == "docker.io" ? "registry-1.docker.io" : registry_;
    scheme_ = remote.scheme;
    http_.SetTimeouts(options.connect_timeout_seconds, options.stall_timeout_seconds);
  }

  const std::string& registry() const { return registry_; }

  // A second connection to the same registry with the same auth state (tokens, challenge), for parallel transfers.
  std::unique_ptr<Session> Fork() const {
    auto s = std::unique_ptr<Session>(new Session(options_));
    s->registry_ = registry_;
    s->host_ = host_;
    s->scheme_ = scheme_;
    s->base_ = base_;
    s->allow_http_ = allow_http_;
    s->verify_tls_ = verify_tls_;
    s->credentials_ = credentials_;
    s->challenge_ = challenge_;
    s->basic_ = basic_;
    s->tokens_ = tokens_;
    return s;
  }

  // Decides the scheme, refuses plain http where it is not allowed, finds the credentials, probes GET /v2/.
  Status Connect() {
    const bool loopback = IsLoopbackHost(HostOf(registry_));
    const bool listed =
        std::find(options_.insecure.begin(), options_.insecure.end(), registry_) != options_.insecure.end();
    allow_http_ = loopback || listed;
    verify_tls_ = !listed;
    if (scheme_ == "http" && !allow_http_) {
      return Error("refusing plain http to " + registry_ + ": only loopback registries may be used without TLS; if " +
                   registry_ +
                   " is trusted, allow it with --insecure (images and credentials then travel unencrypted)");
    }
    if (options_.credentials) {
      credentials_ = options_.credentials;
    } else {
      CL_ASSIGN_OR_RETURN(credentials_, LookupCredentials(registry_));
    }
    std::vector<std::string> schemes;
    if (!scheme_.empty()) {
      schemes = {scheme_};
    } else if (loopback) {
      schemes = {"http"};
    } else if (listed) {
      schemes = {"https", "http"};
    } else {
      schemes = {"https"};
    }
    std::string last_error;
    for (const auto& s : schemes) {
      base_ = s + "://" + host_;
      HttpResponse r;
      for (int attempt = 0; attempt < options_.max_attempts; ++attempt) {
        r = http_.Perform(Request("GET", base_ + "/v2/"));
        if (r.status != 0 && !Transient(r.status)) break;
        if (attempt + 1 < options_.max_attempts) Backoff(attempt, r);
      }
      if (r.status == 200 || r.status == 401) {
        if (r.status == 401) (void)Remember(r.Header("www-authenticate"));
        return Status::Ok();
      }
      if (r.status == 0) {
        last_error = "cannot reach registry " + registry_ + " at " + base_ + ": " + r.error;
        continue;
      }
      return Error(base_ + "/v2/ answered " + Describe(r) + ": not a registry speaking the distribution API v2");
    }
    return Error(last_error);
  }

  std::string Url(const std::string& path) const { return base_ + path; }
  // A Location header: absolute, or a path on the registry.
  std::string Resolve(const std::string& location) const {
    if (location.starts_with("http://") || location.starts_with("https://")) return location;
    return base_ + (location.starts_with("/") ? "" : "/") + location;
  }

  HttpRequest Request(std::string method, std::string url) const {
    HttpRequest r;
    r.method = std::move(method);
    r.url = std::move(url);
    r.allow_http = allow_http_;
    r.verify_tls = verify_tls_;
    return r;
  }

  // Sends the request `make` builds (called again for every attempt, so bodies and sinks start over), answering
  // auth challenges for `scopes` and retrying transient failures up to `attempts` times. Returns the final response
  // whatever its status; an error only when no response came (transport failures exhausted, a sink refused).
  Result<HttpResponse> Send(const std::function<HttpRequest()>& make, const std::vector<std::string>& scopes,
                            int attempts) {
    const std::string key = Join(scopes);
    bool answered_challenge = false;
    HttpResponse r;
    for (int attempt = 0; attempt < attempts; ++attempt) {
      // Once a bearer challenge is known, a token for a new scope set is fetched before the request.
      if (challenge_ && challenge_->scheme == "bearer" && !tokens_.contains(key) && !scopes.empty()) {
        CL_RETURN_IF_ERROR(FetchToken(scopes));
      }
      if (challenge_ && challenge_->scheme == "basic" && credentials_) basic_ = true;
      HttpRequest req = make();
      if (auto t = tokens_.find(key); t != tokens_.end()) {
        req.headers.push_back("Authorization: Bearer " + t->second);
      } else if (basic_ && credentials_) {
        req.headers.push_back(BasicAuthHeader(*credentials_));
      }
      r = http_.Perform(req);
      if (r.status == 0) {
        if (r.sink_failed || r.upload_failed) return Error(r.error);
        if (attempt + 1 < attempts) {
          Backoff(attempt, r);
          continue;
        }
        return Error(req.method + " " + req.url + ": " + r.error + " (after " + std::to_string(attempts) +
                     " attempts)");
      }
      if (r.status == 401 && !answered_challenge) {
        answered_challenge = true;
        tokens_.erase(key);  // expired or too narrow
        CL_RETURN_IF_ERROR(Remember(r.Header("www-authenticate")));
        if (challenge_->scheme == "basic") {
          if (!credentials_) return NeedCredentials();
          basic_ = true;
        } else if (challenge_->scheme == "bearer") {
          CL_RETURN_IF_ERROR(FetchToken(scopes));
        }
        --attempt;  // answering a challenge is not a failed attempt
        continue;
      }
      if (Transient(r.status) && attempt + 1 < attempts) {
        Backoff(attempt, r);
        continue;
      }
      return r;
    }
    return r;
  }

  // The error for a final 401/403 response.
  Error Denied(const HttpResponse& r, const std::string& what) const {
    std::string who = credentials_ ? " as " + credentials_->username : " anonymously";
    return Error(what + ": " + registry_ + " denied access" + who + " (" + Describe(r) + ")" +
                 (credentials_ ? "" : "; give credentials with --creds USER:PASSWORD or an auth file"));
  }

 private:
  explicit Session(const RegistryOptions& options) : options_(options) {
    http_.SetTimeouts(options.connect_timeout_seconds, options.stall_timeout_seconds);
  }

  static std::string Join(const std::vector<std::string>& scopes) {
    std::string out;
    for (const auto& s : scopes) out += s + " ";
    return out;
  }

  Error NeedCredentials() const {
    return Error(registry_ +
                 " requires a user name and password: give --creds USER:PASSWORD or log in with `podman "
                 "login` (auth file ${XDG_RUNTIME_DIR}/containers/auth.json or $REGISTRY_AUTH_FILE)");
  }

  Status Remember(const std::string& header) {
    if (header.empty()) return Error(registry_ + " answered 401 without a WWW-Authenticate challenge");
    Result<Challenge> c = ParseChallenge(header);
    if (!c.ok()) return c.error().wrap(registry_);
    if (c->scheme != "bearer" && c->scheme != "basic") {
      return Error(registry_ + " asks for unsupported authentication scheme " + c->scheme);
    }
    challenge_ = *c;
    return Status::Ok();
  }

  Status FetchToken(const std::vector<std::string>& scopes) {
    const std::string realm = challenge_->params["realm"];
    if (realm.empty()) return Error(registry_ + ": bearer challenge without a realm");
    bool http_realm = realm.starts_with("http://");
    if (!http_realm && !realm.starts_with("https://")) {
      return Error(registry_ + ": token realm " + realm + " is not an http(s) URL");
    }
    if (http_realm) {
      std::string authority =
          realm.substr(7, realm.find('/', 7) == std::string::npos ? std::string::npos : realm.find('/', 7) - 7);
      if (!IsLoopbackHost(HostOf(authority)) && !allow_http_) {
        return Error(registry_ + ": refusing to fetch a token over plain http from " + authority +
                     " (allow with --insecure)");
      }
    }
    std::string url = realm + (realm.find('?') == std::string::npos ? "?" : "&");
    bool first = true;
    if (auto s = challenge_->params.find("service"); s != challenge_->params.end()) {
      url += "service=" + UrlEncode(s->second);
      first = false;
    }
    for (const auto& scope : scopes) {
      url += std::string(first ? "" : "&") + "scope=" + UrlEncode(scope);
      first = false;
    }
    HttpRequest req = Request("GET", url);
    req.allow_http = true;  // checked above
    req.max_body = 1 << 20;
    if (credentials_) req.headers.push_back(BasicAuthHeader(*credentials_));
    HttpResponse r;
    for (int attempt = 0; attempt < options_.max_attempts; ++attempt) {
      r = http_.Perform(req);
      if (r.status != 0 && !Transient(r.status)) break;
      if (attempt + 1 < options_.max_attempts) Backoff(attempt, r);
    }
    if (r.status == 401 || r.status == 403) {
      if (!credentials_) return NeedCredentials();
      return Error(registry_ + ": the token server refused the credentials of " + credentials_->username + " (" +
                   Describe(r) + ")");
    }
    if (r.status != 200) return Error(registry_ + ": token request failed: " + Describe(r));
    nlohmann::json doc = nlohmann::json::parse(r.body, nullptr, false);
    std::string token;
    if (doc.is_object()) {
      if (doc.contains("token") && doc["token"].is_string()) token = doc["token"].get<std::string>();
      if (token.empty() && doc.contains("access_token") && doc["access_token"].is_string()) {
        token = doc["access_token"].get<std::string>();
      }
    }
    if (token.empty()) return Error(registry_ + ": the token server's answer holds no token");
    for (char c : token) {
      if (c == '\r' || c == '\n') return Error(registry_ + ": the token server's token has a line break");
    }
    tokens_[Join(scopes)] = token;
    return Status::Ok();
  }

  void Backoff(int attempt, const HttpResponse& r) const {
    auto delay = options_.retry_base * (1 << std::min(attempt, 10));
    std::string after = r.Header("retry-after");
    if (!after.empty() && std::all_of(after.begin(), after.end(), ::isdigit) && after.size() < 9) {
      delay = std::chrono::milliseconds(std::stol(after) * 1000);
    }
    delay = std::min(delay, options_.retry_after_cap);
    std::this_thread::sleep_for(delay);
  }

  const RegistryOptions& options_;
  std::string registry_, host_, scheme_, base_;
  bool allow_http_ = false;
  bool verify_tls_ = true;
  HttpClient http_;
  std::optional<Credentials> credentials_;
  std::optional<Challenge> challenge_;
  bool basic_ = false;
  std::map<std::string, std::string> tokens_;
};

// Runs `work(session, item)` for every item on up to kParallelTransfers connections (forks of `s`; the first item's
// errors stop the others from starting more). Registries serve blobs of one image in parallel, as docker and skopeo
// fetch them.
constexpr size_t kParallelTransfers = 4;

template <typename Item>
Status ForEachParallel(Session& s, const std::vector<Item>& items,
                       const std::function<Status(Session&, const Item&)>& work) {
  if (items.size() <= 1) {
    for (const auto& item : items) CL_RETURN_IF_ERROR(work(s, item));
    return Status::Ok();
  }
  std::mutex mu;
  std::optional<Error> first_error;
  std::atomic<size_t> next{0};
  auto worker = [&](Session& session) {
    for (;;) {
      {
        std::lock_guard<std::mutex> l(mu);
        if (first_error) return;
      }
      size_t i = next.fetch_add(1);
      if (i >= items.size()) return;
      Status st = work(session, items[i]);
      if (!st.ok()) {
        std::lock_guard<std::mutex> l(mu);
        if (!first_error) first_error = st.error();
      }
    }
  };
  const size_t n = std::min(items.size(), kParallelTransfers);
  std::vector<std::unique_ptr<Session>> forks;
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (size_t i = 1; i < n; ++i) forks.push_back(s.Fork());
  for (auto& f : forks) threads.emplace_back(worker, std::ref(*f));
  worker(s);
  for (auto& t : threads) t.join();
  if (first_error) return *first_error;
  return Status::Ok();
}

// ---------------------------------------------------------------- pull

struct Document {
  std::string bytes;
  std::string media_type;
  Digest digest;
};

Result<Document> FetchManifest(Session& s, const image::Reference& ref, const std::string& tag_or_digest,
                               const std::optional<Descriptor>& expected) {
  const std::string what = ref.Name() + (tag_or_digest.starts_with("sha") ? "@" : ":") + tag_or_digest;
  const std::vector<std::string> scopes = {"repository:" + ref.repository + ":pull"};
  CL_ASSIGN_OR_RETURN(HttpResponse r, s.Send(
                                          [&] {
                                            HttpRequest req = s.Request(
                                                "GET", s.Url("/v2/" + ref.repository + "/manifests/" + tag_or_digest));
                                            req.headers.emplace_back(kManifestAccept);
                                            req.max_body = oci::kMaxJsonDocumentSize;
                                            return req;
                                          },
                                          scopes, 4));
  if (r.status == 404) return Error(what + ": not found on " + s.registry() + " (" + Describe(r) + ")");
  if (r.status == 401 || r.status == 403) return s.Denied(r, "pull " + what);
  if (r.status != 200) return Error("pull " + what + ": " + Describe(r));
  Document doc;
  doc.bytes = std::move(r.body);
  doc.digest = Digest::Sha256Of(doc.bytes);
  if (expected) {
    if (expected->digest.algorithm() != "sha256") {
      return Error(what + ": only sha256 digests are supported, not " + expected->digest.algorithm());
    }
    if (doc.digest != expected->digest) {
      return Error(what + ": the registry sent a manifest whose digest is " + doc.digest.str() + ", not " +
                   expected->digest.str() + "; refused");
    }
    if (expected->size > 0 && static_cast<int64_t>(doc.bytes.size()) != expected->size) {
      return Error(what + ": the manifest is " + std::to_string(doc.bytes.size()) + " bytes, its descriptor says " +
                   std::to_string(expected->size) + "; refused");
    }
  }
  if (std::string header = r.Header("docker-content-digest"); !header.empty() && header.starts_with("sha256:")) {
    if (header != doc.digest.str()) {
      return Error(what + ": the manifest's content hashes to " + doc.digest.str() + " but the registry says it is " +
                   header + "; refused");
    }
  }
  std::string type = r.Header("content-type");
  if (size_t semi = type.find(';'); semi != std::string::npos) type.resize(semi);
  if (!oci::IsManifestMediaType(type) && !oci::IsIndexMediaType(type)) type = oci::SniffMediaType(doc.bytes);
  if (type.empty() && expected) type = expected->media_type;
  doc.media_type = type;
  return doc;
}

Status FetchBlob(Session& s, image::ImageStore& store, const image::Reference& ref, const Descriptor& d,
                 const RegistryOptions& options, PullResult& result) {
  if (store.HasBlob(d.digest)) {
    ++result.blobs_present;
    return Status::Ok();
  }
  if (d.digest.algorithm() != "sha256") return Error("blob " + d.digest.str() + ": only sha256 is supported");
  const std::vector<std::string> scopes = {"repository:" + ref.repository + ":pull"};
  std::optional<image::BlobWriter> writer;
  Status open_status;
  Progress progress(options.progress, ShortDigest(d.digest), static_cast<uint64_t>(d.size));
  CL_ASSIGN_OR_RETURN(
      HttpResponse r,
      s.Send(
          [&] {
            writer.reset();  // an earlier attempt's partial bytes go
            progress.Reset();
            Result<image::BlobWriter> w = store.NewBlob(static_cast<uint64_t>(std::max<int64_t>(d.size, 0)));
            if (w.ok()) {
              writer.emplace(std::move(*w));
            } else {
              open_status = w.status();
            }
            HttpRequest req = s.Request("GET", s.Url("/v2/" + ref.repository + "/blobs/" + d.digest.str()));
            req.follow_redirects = true;
            req.sink = [&](const char* data, size_t len) -> Status {
              if (!writer) return open_status;
              Status st = writer->Write(data, len);
              if (!st.ok())
                return st.error().wrap("blob " + d.digest.str() + " (" + std::to_string(d.size) + " bytes)");
              progress.Add(len);
              return Status::Ok();
            };
            return req;
          },
          scopes, options.max_attempts));
  if (r.status == 404) return Error("blob " + d.digest.str() + " of " + ref.Name() + ": not found on " + s.registry());
  if (r.status == 401 || r.status == 403) return s.Denied(r, "blob " + d.digest.str());
  if (r.status != 200) return Error("blob " + d.digest.str() + ": " + Describe(r));
  if (!writer) return open_status;
  Result<image::BlobInfo> info = writer->Commit(d.digest, d.size);
  if (!info.ok()) return info.error().wrap("blob from " + s.registry() + " refused");
  progress.Finish();
  ++result.blobs_fetched;
  result.bytes_fetched += static_cast<uint64_t>(info->size);
  return Status::Ok();
}

// ---------------------------------------------------------------- push

class Pusher {
 public:
  Pusher(Session& s, image::ImageStore& store, const image::Reference& remote, std::string from,
         const RegistryOptions& options, PushResult& result)
      : s_(s), store_(store), remote_(remote), from_(std::move(from)), options_(options), result_(result) {
    scopes_ = {"repository:" + remote_.repository + ":pull,push"};
    if (!from_.empty()) scopes_.push_back("repository:" + from_ + ":pull");
  }

  // Pushes the manifest or index `d` (its blobs or manifests first) under `tag_or_digest`.
  Status PushTree(const Descriptor& d, const std::string& tag_or_digest, int depth = 0) {
    if (depth > 2) return Error("index nesting deeper than 2 levels");
    CL_ASSIGN_OR_RETURN(std::string bytes, store_.ReadBlob(d));
    std::string type = d.media_type.empty() ? oci::SniffMediaType(bytes) : d.media_type;
    if (oci::IsIndexMediaType(type)) {
      CL_ASSIGN_OR_RETURN(oci::Index index, oci::ParseIndex(bytes));
      for (const auto& m : index.manifests) {
        if (!store_.HasBlob(m.digest)) continue;  // an index pulled for one platform holds only that one
        CL_RETURN_IF_ERROR(PushTree(m, m.digest.str(), depth + 1));
      }
    } else if (oci::IsManifestMediaType(type)) {
      CL_ASSIGN_OR_RETURN(oci::Manifest manifest, oci::ParseManifest(bytes));
      std::vector<Descriptor> blobs = {manifest.config};
      blobs.insert(blobs.end(), manifest.layers.begin(), manifest.layers.end());
      std::mutex mu;
      CL_RETURN_IF_ERROR(ForEachParallel<Descriptor>(s_, blobs, [&](Session& session, const Descriptor& b) -> Status {
        PushResult one;
        Pusher worker(session, store_, remote_, from_, options_, one);
        CL_RETURN_IF_ERROR(worker.PushBlob(b));
        std::lock_guard<std::mutex> l(mu);
        result_.blobs_uploaded += one.blobs_uploaded;
        result_.blobs_present += one.blobs_present;
        result_.blobs_mounted += one.blobs_mounted;
        result_.bytes_uploaded += one.bytes_uploaded;
        return Status::Ok();
      }));
    } else {
      return Error(d.digest.str() + ": neither a manifest nor an index (media type " + type + ")");
    }
    return PutManifest(bytes, type, d.digest, tag_or_digest);
  }

 private:
  std::string BlobsPath() const { return "/v2/" + remote_.repository + "/blobs/"; }

  // Pushes one blob (HEAD, mount or upload).
  Status PushBlob(const Descriptor& d) {
    CL_ASSIGN_OR_RETURN(HttpResponse head,
                        s_.Send([&] { return s_.Request("HEAD", s_.Url(BlobsPath() + d.digest.str())); }, scopes_,
                                options_.max_attempts));
    if (head.status == 200) {
      ++result_.blobs_present;
      return Status::Ok();
    }
    if (head.status == 401 || head.status == 403) return s_.Denied(head, "push " + remote_.Name());
    if (head.status != 404) return Error("HEAD blob " + d.digest.str() + ": " + Describe(head));

    // An interrupted upload that the server cannot resume starts over, a bounded number of times.
    for (int round = 0; round < options_.max_attempts; ++round) {
      if (round > 0)
        std::this_thread::sleep_for(std::min(options_.retry_base * (1 << round), options_.retry_after_cap));
      CL_ASSIGN_OR_RETURN(bool done, UploadOnce(d, round == 0));
      if (done) return Status::Ok();
    }
    return Error("upload of blob " + d.digest.str() + " to " + remote_.Name() + " failed " +
                 std::to_string(options_.max_attempts) + " times; last: " + interruption_);
  }

  // true: uploaded (or mounted); false: interrupted, start again; error: give up.
  Result<bool> UploadOnce(const Descriptor& d, bool try_mount) {
    std::string path = BlobsPath() + "uploads/";
    const bool mount = try_mount && !from_.empty();
    if (mount) path += "?mount=" + UrlEncode(d.digest.str()) + "&from=" + UrlEncode(from_);
    CL_ASSIGN_OR_RETURN(HttpResponse start,
                        s_.Send([&] { return s_.Request("POST", s_.Url(path)); }, scopes_, options_.max_attempts));
    if (mount && start.status == 201) {
      ++result_.blobs_mounted;
      return true;
    }
    if (start.status == 401 || start.status == 403) return s_.Denied(start, "push " + remote_.Name());
    if (start.status != 202) return Error("start upload of blob " + d.digest.str() + ": " + Describe(start));
    std::string location = start.Header("location");
    if (location.empty()) return Error("start upload of blob " + d.digest.str() + ": no Location in the answer");
    location = s_.Resolve(location);

    CL_ASSIGN_OR_RETURN(image::BlobReader reader, store_.OpenBlob(d.digest));
    const int fd = reader.fd();
    const uint64_t size = static_cast<uint64_t>(d.size);
    Progress progress(options_.progress, ShortDigest(d.digest), size);
    // The body of a PUT or PATCH: the blob's bytes from *pos on (pread: a retry re-reads from where it must).
    auto body_from = [fd, &progress](uint64_t* pos) {
      return [fd, pos, &progress](char* buf, size_t len) -> Result<size_t> {
        ssize_t n = ::pread(fd, buf, len, static_cast<off_t>(*pos));
        if (n < 0) return ErrnoError("read blob");
        if (n == 0) return Error("blob shorter than its descriptor");
        *pos += static_cast<uint64_t>(n);
        progress.Add(static_cast<uint64_t>(n));
        return static_cast<size_t>(n);
      };
    };
    auto with_digest = [&](const std::string& url) {
      return url + (url.find('?') == std::string::npos ? "?" : "&") + "digest=" + UrlEncode(d.digest.str());
    };

    uint64_t offset = 0;
    if (size > options_.chunk_size) {
      int resumes = 0;
      while (offset < size) {
        const uint64_t len = std::min<uint64_t>(options_.chunk_size, size - offset);
        uint64_t pos = offset;
        Result<HttpResponse> r = s_.Send(
            [&] {
              pos = offset;
              HttpRequest req = s_.Request("PATCH", location);
              req.headers.emplace_back("Content-Type: application/octet-stream");
              req.headers.push_back("Content-Range: " + std::to_string(offset) + "-" +
                                    std::to_string(offset + len - 1));
              req.reader = body_from(&pos);
              req.body_size = static_cast<int64_t>(len);
              return req;
            },
            scopes_, 1);
        if (r.ok() && r->status == 202) {
          if (std::string loc = r->Header("location"); !loc.empty()) location = s_.Resolve(loc);
          offset = RangeEnd(r->Header("range")).value_or(offset + len);
          continue;
        }
        if (r.ok() && !Transient(r->status)) {
          return Error("upload of blob " + d.digest.str() + " at byte " + std::to_string(offset) + ": " + Describe(*r));
        }
        interruption_ = r.ok() ? Describe(*r) : r.error().message();
        if (++resumes >= options_.max_attempts) return false;
        // Ask the server how much it has; without an answer the upload starts over.
        std::this_thread::sleep_for(std::min(options_.retry_base * (1 << resumes), options_.retry_after_cap));
        Result<HttpResponse> status =
            s_.Send([&] { return s_.Request("GET", location); }, scopes_, options_.max_attempts);
        if (!status.ok() || status->status != 204) return false;
        if (std::string loc = status->Header("location"); !loc.empty()) location = s_.Resolve(loc);
        std::optional<uint64_t> have = RangeEnd(status->Header("range"));
        if (!have || *have > size) return false;
        offset = *have;
        progress.Reset();
        progress.Add(offset);
      }
    }
    uint64_t pos = offset;
    Result<HttpResponse> r = s_.Send(
        [&] {
          pos = offset;
          HttpRequest req = s_.Request("PUT", with_digest(location));
          req.headers.emplace_back("Content-Type: application/octet-stream");
          if (offset < size) {
            req.reader = body_from(&pos);
            req.body_size = static_cast<int64_t>(size - offset);
          }
          return req;
        },
        scopes_, 1);
    if (!r.ok() || Transient(r->status)) {
      interruption_ = r.ok() ? Describe(*r) : r.error().message();
      return false;
    }
    if (r->status == 401 || r->status == 403) return s_.Denied(*r, "push " + remote_.Name());
    if (r->status != 201) return Error("upload of blob " + d.digest.str() + ": " + Describe(*r));
    progress.Finish();
    ++result_.blobs_uploaded;
    result_.bytes_uploaded += size;
    return true;
  }

  // "0-<last>" -> the number of bytes the server has. "0-0" is read as none (docker-registry's answer for an empty
  // upload; a 1-byte upload is then sent again, which it accepts).
  static std::optional<uint64_t> RangeEnd(const std::string& range) {
    std::string_view v = range;
    if (v.starts_with("bytes=")) v.remove_prefix(6);
    size_t dash = v.find('-');
    if (dash == std::string_view::npos || v.substr(0, dash) != "0") return std::nullopt;
    std::string_view last = v.substr(dash + 1);
    if (last.empty() || last.size() > 19 || !std::all_of(last.begin(), last.end(), ::isdigit)) return std::nullopt;
    uint64_t end = std::stoull(std::string(last));
    return end == 0 ? 0 : end + 1;
  }

  Status PutManifest(const std::string& bytes, const std::string& type, const Digest& digest,
                     const std::string& tag_or_digest) {
    CL_ASSIGN_OR_RETURN(HttpResponse r, s_.Send(
                                            [&] {
                                              HttpRequest req = s_.Request(
                                                  "PUT",
                                                  s_.Url("/v2/" + remote_.repository + "/manifests/" + tag_or_digest));
                                              req.headers.push_back("Content-Type: " + type);
                                              req.body = bytes;
                                              return req;
                                            },
                                            scopes_, options_.max_attempts));
    if (r.status == 401 || r.status == 403) return s_.Denied(r, "push " + remote_.Name());
    if (r.status != 201 && r.status != 200) {
      return Error("push manifest " + remote_.Name() + ":" + tag_or_digest + ": " + Describe(r));
    }
    if (std::string h = r.Header("docker-content-digest"); !h.empty() && h != digest.str()) {
      return Error("push manifest: the registry stored it as " + h + ", not " + digest.str());
    }
    return Status::Ok();
  }

  Session& s_;
  image::ImageStore& store_;
  image::Reference remote_;
  std::string from_;
  const RegistryOptions& options_;
  PushResult& result_;
  std::vector<std::string> scopes_;
  std::string interruption_;  // why the last upload attempt stopped
};

}  // namespace

Result<RemoteReference> RemoteReference::Parse(std::string_view text) {
  RemoteReference out;
  if (text.starts_with("http://")) {
    out.scheme = "http";
    text.remove_prefix(7);
  } else if (text.starts_with("https://")) {
    out.scheme = "https";
    text.remove_prefix(8);
  } else if (text.starts_with("docker://")) {
    text.remove_prefix(9);
  }
  CL_ASSIGN_OR_RETURN(out.reference, image::Reference::Parse(text));
  return out;
}

Result<PullResult> Pull(image::ImageStore& store, std::string_view reference, const oci::Platform& platform,
                        const RegistryOptions& options) {
  CL_ASSIGN_OR_RETURN(RemoteReference remote, RemoteReference::Parse(reference));
  const image::Reference& ref = remote.reference;
  Session s(remote, options);
  CL_RETURN_IF_ERROR(s.Connect());
  CL_ASSIGN_OR_RETURN(image::StoreLease lease, store.Lease());

  std::optional<Descriptor> expected;
  if (!ref.digest.empty()) {
    Descriptor d;
    d.digest = ref.digest;
    expected = d;
  }
  CL_ASSIGN_OR_RETURN(Document doc, FetchManifest(s, ref, ref.digest.empty() ? ref.tag : ref.digest.str(), expected));
  if (oci::IsIndexMediaType(doc.media_type)) {
    CL_ASSIGN_OR_RETURN(oci::Index index, oci::ParseIndex(doc.bytes));
    Result<Descriptor> chosen = oci::SelectManifest(index, platform);
    if (!chosen.ok()) return chosen.error().wrap(ref.str());
    CL_ASSIGN_OR_RETURN(doc, FetchManifest(s, ref, chosen->digest.str(), *chosen));
    if (doc.media_type.empty()) doc.media_type = chosen->media_type;
  }
  if (!oci::IsManifestMediaType(doc.media_type)) {
    return Error(ref.str() + ": neither an image manifest nor an index (media type \"" + doc.media_type + "\")");
  }
  Result<oci::Manifest> manifest = oci::ParseManifest(doc.bytes);
  if (!manifest.ok()) return manifest.error().wrap(ref.str());
  CL_RETURN_IF_ERROR(oci::CheckImageManifest(*manifest));

  PullResult result;
  std::vector<Descriptor> blobs = {manifest->config};
  blobs.insert(blobs.end(), manifest->layers.begin(), manifest->layers.end());
  std::mutex mu;
  CL_RETURN_IF_ERROR(ForEachParallel<Descriptor>(s, blobs, [&](Session& session, const Descriptor& d) -> Status {
    PullResult one;
    CL_RETURN_IF_ERROR(FetchBlob(session, store, ref, d, options, one));
    std::lock_guard<std::mutex> l(mu);
    result.blobs_fetched += one.blobs_fetched;
    result.blobs_present += one.blobs_present;
    result.bytes_fetched += one.bytes_fetched;
    return Status::Ok();
  }));
  CL_ASSIGN_OR_RETURN(oci::ImageConfig config, store.ReadConfig(manifest->config));
  CL_RETURN_IF_ERROR(oci::CheckConfigMatchesManifest(config, *manifest));

  CL_ASSIGN_OR_RETURN(image::BlobInfo info, store.PutBlob(doc.bytes, doc.digest));
  result.manifest.media_type = doc.media_type;
  result.manifest.digest = info.digest;
  result.manifest.size = info.size;
  const std::string tag = ref.tag.empty() ? ref.digest.algorithm() + "-" + ref.digest.hex() : ref.tag;
  result.reference = ref.Name() + ":" + tag;
  CL_RETURN_IF_ERROR(store.Tag(result.reference, result.manifest));
  return result;
}

Result<PushResult> Push(image::ImageStore& store, std::string_view local, std::string_view remote_text,
                        const RegistryOptions& options) {
  CL_ASSIGN_OR_RETURN(Descriptor desc, store.Resolve(local));
  CL_ASSIGN_OR_RETURN(RemoteReference remote, RemoteReference::Parse(remote_text.empty() ? local : remote_text));
  const image::Reference& ref = remote.reference;
  std::string from = options.mount_from;
  if (from.empty()) {
    Result<image::Reference> local_ref = image::Reference::Parse(local);
    if (local_ref.ok() && local_ref->registry == ref.registry && local_ref->repository != ref.repository) {
      from = local_ref->repository;
    }
  }
  if (from == ref.repository) from.clear();
  Session s(remote, options);
  CL_RETURN_IF_ERROR(s.Connect());
  PushResult result;
  Pusher pusher(s, store, ref, from, options, result);
  const std::string target = ref.tag.empty() ? desc.digest.str() : ref.tag;
  if (!ref.digest.empty() && ref.digest != desc.digest) {
    return Error(ref.str() + ": the local image is " + desc.digest.str() + ", not the digest the reference names");
  }
  CL_RETURN_IF_ERROR(pusher.PushTree(desc, target));
  result.reference = ref.str();
  result.manifest = desc;
  return result;
}

}  // namespace cloudlet::registry
