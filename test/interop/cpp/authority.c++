// A client written with the Cap'n Proto 0.9.2 C++ reference, from capns's own schemas
// (schema/namespace.capnp, fileserver.capnp, common.capnp), that tries to get more out of
// a capns view than it grants (issue 16): test/interop/cpp-authority.test.ts runs it
// against exports of test/support/authority-world.ts, rooted at DIR/pub.
//
//   authority HOST:PORT TOKEN SCENARIO
//
// Prints one JSON line, {"scenario":..., "ok":..., "detail":...}, as client.c++ does.
//   confine   through a writable export: resolve("/") -> attach -> `..`, links, attach
//             names: nothing above the root is reached; a.txt is read. (C++ cannot pipeline
//             on a union arm, where our results hold their capabilities: the TypeScript
//             tests cover pipelined chains.)
//   readonly  through a read-only export: every change through every capability it hands
//             out (resolve -> attach -> walk -> open/create/wstat/remove, Namespace.walk,
//             fork, a writable sub) is refused with Failure.permissionDenied, in results.
#include <capnp/ez-rpc.h>
#include <kj/async-io.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <unistd.h>

#include "common.capnp.h"
#include "fileserver.capnp.h"
#include "namespace.capnp.h"

namespace {

using Code = Failure::Code;

struct Ctx {
  Namespace::Client ns;
  kj::Timer& timer;
  kj::WaitScope& ws;
};

template <typename T>
T await(Ctx& c, kj::Promise<T>&& p) {
  return c.timer.timeoutAfter(10 * kj::SECONDS, kj::mv(p)).wait(c.ws);
}

std::string jsonString(kj::StringPtr s) {
  std::string out = "\"";
  for (char ch: s) {
    unsigned char u = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

void report(const char* name, bool ok, kj::StringPtr detail) {
  std::printf("{\"scenario\":%s,\"ok\":%s,\"detail\":%s}\n", jsonString(name).c_str(),
              ok ? "true" : "false", jsonString(detail).c_str());
  std::fflush(stdout);
}

File::Client walkTo(Ctx& c, File::Client from, std::initializer_list<const char*> names,
                    bool& ok) {

  auto req = from.walkRequest();
  auto l = req.initNames(names.size());
  unsigned i = 0;
  for (auto n: names) l.set(i++, n);
  auto r = await(c, req.send());
  auto res = r.getResult();
  ok = res.isFile();
  return ok ? res.getFile() : from;
}

kj::String readAll(Ctx& c, File::Client f) {
  auto o = f.openRequest();
  o.initMode().setAccess(OpenMode::Access::READ);
  auto or_ = await(c, o.send());
  KJ_ASSERT(or_.getResult().isOk(), "open for reading refused");
  auto r = f.readRequest();
  r.setOffset(0);
  r.setCount(4096);
  auto rr = await(c, r.send());
  KJ_ASSERT(rr.getResult().isData());
  auto d = rr.getResult().getData();
  return kj::heapString(reinterpret_cast<const char*>(d.begin()), d.size());
}

/** The FileServer at `path` and its root File (awaited step by step). */
File::Client rootAt(Ctx& c, kj::StringPtr path, FileServer::Client& fs) {
  auto req = c.ns.resolveRequest();
  req.setPath(path);
  auto r = await(c, req.send());
  KJ_ASSERT(r.getResult().isOk(), r.getResult().getErr().getMessage());
  fs = r.getResult().getOk().getCap().castAs<FileServer>();

  auto a = fs.attachRequest();
  a.setAname("");
  auto ar = await(c, a.send());
  KJ_ASSERT(ar.getResult().isOk(), ar.getResult().getErr().getMessage());
  return ar.getResult().getOk().getRoot();
}

kj::String confine(Ctx& c) {
  FileServer::Client fs = nullptr;
  auto root = rootAt(c, "/", fs);
  bool ok = false;
  auto a = walkTo(c, root, {"a.txt"}, ok);
  KJ_ASSERT(ok, "a.txt not found at the view's root");
  auto text = readAll(c, a);
  KJ_ASSERT(text == "PUBLIC a", text);
  int refusedClimbs = 0;
  for (auto climb: {std::initializer_list<const char*>{"..", "secret", "s.txt"},
                    std::initializer_list<const char*>{"..", "..", "secret", "s.txt"},
                    std::initializer_list<const char*>{"uplink", "s.txt"},
                    std::initializer_list<const char*>{"dir", "..", "..", "secret"}}) {
    walkTo(c, root, climb, ok);
    KJ_ASSERT(!ok, "climbed above the view's root");
    refusedClimbs++;
  }
  // `..` at the root stays at the root.
  auto up = walkTo(c, root, {"..", "a.txt"}, ok);
  KJ_ASSERT(ok && readAll(c, up) == "PUBLIC a", ".. at the root left it");
  for (auto aname: {"..", "../secret", "dir/../.."}) {
    auto req = fs.attachRequest();
    req.setAname(aname);
    auto r = await(c, req.send());
    KJ_ASSERT(r.getResult().isErr(), "attach above the root", aname);
  }
  // A walk from a File reached by walking down first climbs no further: `..` is counted
  // by the server from where the view's root is, not from the file server's.
  auto dir = walkTo(c, root, {"dir"}, ok);
  KJ_ASSERT(ok);
  walkTo(c, dir, {"..", "..", "secret", "s.txt"}, ok);
  KJ_ASSERT(!ok, "climbed above the view's root from a directory below it");
  return kj::str("a.txt read; ", refusedClimbs + 1, " climbs and 3 attach names refused");
}

/** Asserts a result union says permissionDenied (an expected condition, not an exception). */
template <typename R>
void denied(R result, const char* what, int& n) {
  KJ_ASSERT(result.isErr(), "went through", what);
  KJ_ASSERT(result.getErr().getCode() == Code::PERMISSION_DENIED, what,
            result.getErr().getMessage());
  n++;
}

kj::String readonly(Ctx& c) {
  int n = 0;
  FileServer::Client fs = nullptr;
  auto root = rootAt(c, "/", fs);
  bool ok = false;
  auto a = walkTo(c, root, {"a.txt"}, ok);
  KJ_ASSERT(ok);
  {
    auto o = a.openRequest();
    o.initMode().setAccess(OpenMode::Access::WRITE);
    denied(await(c, o.send()).getResult(), "open for writing", n);
  }
  {
    auto o = a.openRequest();
    auto m = o.initMode();
    m.setAccess(OpenMode::Access::READ);
    m.setTruncate(true);
    denied(await(c, o.send()).getResult(), "open truncating", n);
  }
  {
    auto wq = a.wstatRequest();
    wq.initChange().setName("renamed");
    denied(await(c, wq.send()).getResult(), "wstat", n);
  }
  {
    auto cq = root.createRequest();
    cq.setName("new");
    cq.setPerm(0644);
    cq.initMode().setAccess(OpenMode::Access::WRITE);
    denied(await(c, cq.send()).getResult(), "create", n);
  }
  {
    auto d = walkTo(c, root, {"dir"}, ok);
    KJ_ASSERT(ok);
    denied(await(c, d.removeRequest().send()).getResult(), "remove", n);
  }
  {
    auto wq = c.ns.walkRequest();
    wq.setPath("/a.txt");
    auto f = await(c, wq.send()).getResult().getFile();
    auto o = f.openRequest();
    o.initMode().setAccess(OpenMode::Access::READ_WRITE);
    denied(await(c, o.send()).getResult(), "Namespace.walk then open", n);
  }
  {
    auto u = c.ns.unmountRequest();
    u.setPath("/");
    denied(await(c, u.send()).getResult(), "unmount", n);
  }
  {
    auto fork = await(c, c.ns.forkRequest().send()).getNs();
    auto b = fork.bindPathRequest();
    b.setFrom("/dir");
    b.setTo("/x");
    denied(await(c, b.send()).getResult(), "fork: bindPath", n);
  }
  {
    auto s = c.ns.subRequest();
    s.setPrefix("/");
    s.setReadOnly(false);
    auto resp = await(c, s.send());  // the readers below point into it
    auto sr = resp.getResult();
    KJ_ASSERT(sr.isNs());
    auto u = sr.getNs().unmountRequest();
    u.setPath("/");
    denied(await(c, u.send()).getResult(), "writable sub: unmount", n);
  }
  auto text = readAll(c, a);
  KJ_ASSERT(text == "PUBLIC a", text);
  return kj::str(n, " changes refused as permissionDenied; reading works");
}

struct Scenario {
  const char* name;
  kj::String (*run)(Ctx&);
};

const Scenario SCENARIOS[] = {{"confine", confine}, {"readonly", readonly}};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s HOST:PORT TOKEN SCENARIO\n", argv[0]);
    return 2;
  }
  const Scenario* s = nullptr;
  for (auto& x: SCENARIOS)
    if (strcmp(x.name, argv[3]) == 0) s = &x;
  if (s == nullptr) {
    report(argv[3], false, "unknown scenario");
    _exit(0);
  }
  kj::Maybe<kj::Exception> failure;
  kj::String detail;
  {
    capnp::EzRpcClient client(argv[1]);
    auto& timer = client.getIoProvider().getTimer();
    auto& ws = client.getWaitScope();
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
      auto gate = client.getMain<Gate>();
      auto req = gate.authenticateRequest();
      req.setToken(argv[2]);
      auto r = timer.timeoutAfter(10 * kj::SECONDS, req.send()).wait(ws);
      KJ_ASSERT(r.getResult().isOk(), r.getResult().getErr().getMessage());
      Ctx c{r.getResult().getOk().getNs(), timer, ws};
      detail = s->run(c);
    })) {
      failure = kj::mv(*e);
    }
  }
  KJ_IF_MAYBE(e, failure) {
    report(s->name, false, kj::str(e->getDescription()));
  } else {
    report(s->name, true, detail);
  }
  std::fflush(stdout);
  _exit(0);
}
