// The C++ reference client: runs named scenarios against a Test server (ours, or the C++
// server to check the scenarios themselves) and prints one JSON line per scenario:
//
//   {"scenario":"pipelining","ok":true,"detail":"..."}
//
//   client HOST:PORT [SCENARIO...]     (no scenario: all of them, in the order below)
//
// Each scenario runs on a connection of its own, so one failure cannot hide the others.
// Each checks its own results (KJ_ASSERT) except `evolution` and `old-server`, whose
// detail the test compares with what the schema versions on both sides imply.
// `disconnect` (not run by default) leaves work outstanding and exits the process.
//
// Built from test.capnp (client) and, with -DOLD_SCHEMA, from old/test.capnp (client-old).
#include <capnp/ez-rpc.h>
#include <kj/async-io.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <unistd.h>

#include "test-impl.h"

namespace {

using interop::State;

/** What one scenario works with; a fresh one per scenario. */
struct Ctx {
  State& state;  // this client's own objects (Counters, Callbacks, a Test)
  Test::Client test;
  kj::Timer& timer;
  kj::WaitScope& ws;
};

/** Waits for `p` at most 10 s: a hang is a failure with a message, not a stuck test. */
template <typename T>
T await(Ctx& c, kj::Promise<T>&& p) {
  return c.timer.timeoutAfter(10 * kj::SECONDS, kj::mv(p)).wait(c.ws);
}

/** Polls `cond` (which may make calls) every 10 ms for at most 5 s. */
template <typename F>
void pollUntil(Ctx& c, F cond, kj::StringPtr what) {
  for (int i = 0; i < 500; i++) {
    if (cond()) return;
    c.timer.afterDelay(10 * kj::MILLISECONDS).wait(c.ws);
  }
  KJ_FAIL_ASSERT("timed out waiting", what);
}

uint32_t liveObjects(Ctx& c) {
  return await(c, c.test.liveObjectsRequest().send()).getCount();
}

void ping(Ctx& c) {
  auto req = c.test.pingRequest();
  req.setN(1);
  KJ_ASSERT(await(c, req.send()).getN() == 1);
}

const char* typeName(kj::Exception::Type t) {
  switch (t) {
    case kj::Exception::Type::FAILED: return "failed";
    case kj::Exception::Type::OVERLOADED: return "overloaded";
    case kj::Exception::Type::DISCONNECTED: return "disconnected";
    case kj::Exception::Type::UNIMPLEMENTED: return "unimplemented";
  }
  return "?";
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

// --- scenarios: each returns a detail string or throws ----------------------------------

kj::String bootstrap(Ctx& c) {
  // ping is Base's method: the call carries Base's interface id.
  auto req = c.test.pingRequest();
  req.setN(7);
  KJ_ASSERT(await(c, req.send()).getN() == 7);
  return kj::str("ping(7)=7");
}

kj::String calls(Ctx& c) {
  auto e = c.test.echoRequest();
  e.setText("hello, w\xc3\xb6rld");
  auto er = await(c, e.send());
  KJ_ASSERT(er.getText() == "hello, w\xc3\xb6rld", er.getText());
  auto a = c.test.addRequest();
  a.setA(40);
  a.setB(2);
  KJ_ASSERT(await(c, a.send()).getSum() == 42);
  auto b = c.test.addRequest();
  b.setA(INT64_MIN + 1);
  b.setB(-1);
  KJ_ASSERT(await(c, b.send()).getSum() == INT64_MIN);
  return kj::str("echo, add");
}

kj::String returnedCapability(Ctx& c) {
  uint32_t base = liveObjects(c);
  auto req = c.test.newCounterRequest();
  req.setStart(5);
  auto counter = await(c, req.send()).getCounter();
  auto inc = counter.incrementRequest();
  inc.setBy(2);
  KJ_ASSERT(await(c, inc.send()).getValue() == 7);
  KJ_ASSERT(await(c, counter.getRequest().send()).getValue() == 7);
  uint32_t live = liveObjects(c);
  KJ_ASSERT(live == base + 1, live, base);
  return kj::str("counter 5+2=7, liveObjects ", base, "->", live);
}

kj::String pipelining(Ctx& c) {
  auto req = c.test.newCounterRequest();
  req.setStart(10);
  auto p = req.send();
  // Calls on the answer's counter before the answer has arrived.
  auto i1 = p.getCounter().incrementRequest();
  i1.setBy(1);
  auto r1 = i1.send();
  auto i2 = p.getCounter().incrementRequest();
  i2.setBy(2);
  auto r2 = i2.send();
  auto r3 = p.getCounter().getRequest().send();
  KJ_ASSERT(await(c, kj::mv(r1)).getValue() == 11);
  KJ_ASSERT(await(c, kj::mv(r2)).getValue() == 13);
  KJ_ASSERT(await(c, kj::mv(r3)).getValue() == 13);
  await(c, kj::mv(p));
  return kj::str("newCounter(10).counter.{increment(1)=11,increment(2)=13,get=13}");
}

kj::String pipeliningPending(Ctx& c) {
  auto req = c.test.slowCounterRequest();
  req.setMs(300);
  req.setStart(3);
  auto p = req.send();
  auto counter = p.getCounter();
  constexpr int N = 50;
  kj::Vector<kj::Promise<capnp::Response<Counter::IncrementResults>>> rs;
  for (int i = 0; i < N; i++) {
    auto inc = counter.incrementRequest();
    inc.setBy(1);
    rs.add(inc.send());
  }
  // In order (E-order): call i sees 3 + i + 1.
  for (int i = 0; i < N; i++) {
    int64_t v = await(c, kj::mv(rs[i])).getValue();
    KJ_ASSERT(v == 3 + i + 1, i, v);
  }
  KJ_ASSERT(await(c, counter.getRequest().send()).getValue() == 3 + N);
  return kj::str(N, " calls pipelined on a 300 ms pending answer, in order");
}

kj::String callback(Ctx& c) {
  {
    auto req = c.test.callBackRequest();
    req.setCb(kj::heap<interop::CallbackImpl>(c.state));
    req.setValue("x");
    auto r = await(c, req.send());
    KJ_ASSERT(r.getResult() == "cb:x", r.getResult());
    KJ_ASSERT(c.state.callbacks == 1, c.state.callbacks);
  }
  // The server released the Callback it got in params: ours is destroyed.
  pollUntil(c, [&]() { ping(c); return c.state.liveCallbacks == 0; },
            "the server to release the Callback passed in params");
  return kj::str("callBack(cb, x) = cb:x, cb released");
}

kj::String holdRelease(Ctx& c) {
  {
    auto req = c.test.holdRequest();
    req.setCap(kj::heap<interop::CounterImpl>(c.state, 100));
    await(c, req.send());
  }
  // Our reference is gone; the server's keeps our Counter alive.
  ping(c);
  KJ_ASSERT(c.state.liveCounters == 1, c.state.liveCounters);
  auto n = await(c, c.test.dropHeldRequest().send()).getCount();
  KJ_ASSERT(n == 1, n);
  pollUntil(c, [&]() { ping(c); return c.state.liveCounters == 0; },
            "the server's Release of the held Counter");
  return kj::str("held Counter alive until dropHeld, then released");
}

kj::String release(Ctx& c) {
  uint32_t base = liveObjects(c);
  {
    kj::Vector<Counter::Client> counters;
    for (int i = 0; i < 3; i++) {
      auto req = c.test.newCounterRequest();
      req.setStart(i);
      counters.add(await(c, req.send()).getCounter());
    }
    uint32_t live = liveObjects(c);
    KJ_ASSERT(live == base + 3, live, base);
  }
  uint32_t after = base + 3;
  pollUntil(c, [&]() { after = liveObjects(c); return after == base; },
            "liveObjects back to baseline after Release");
  return kj::str("liveObjects ", base, "->", base + 3, "->", after);
}

kj::String exceptions(Ctx& c) {
  const ErrorType types[] = {ErrorType::FAILED, ErrorType::OVERLOADED, ErrorType::DISCONNECTED,
                             ErrorType::UNIMPLEMENTED};
  kj::Vector<kj::String> seen;
  for (auto t: types) {
    auto name = typeName(interop::toKjType(t));
    auto req = c.test.failRequest();
    req.setType(t);
    auto message = kj::str("boom-", name);
    req.setMessage(message);
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { await(c, req.send()); })) {
      KJ_ASSERT(e->getType() == interop::toKjType(t), name, typeName(e->getType()),
                e->getDescription());
      KJ_ASSERT(strstr(e->getDescription().cStr(), message.cStr()) != nullptr,
                e->getDescription());
      seen.add(kj::str(name));
    } else {
      KJ_FAIL_ASSERT("fail() returned normally", name);
    }
    ping(c);  // the server goes on
  }
  return kj::str(kj::strArray(seen, ","));
}

kj::String embargo(Ctx& c) {
  {
    Counter::Client mine = kj::heap<interop::CounterImpl>(c.state, 0);
    auto req = c.test.echoCapRequest();
    req.setCap(mine);
    auto p = req.send();
    auto cap = p.getCap();  // resolves to `mine`: a loopback through the server
    kj::Vector<kj::Promise<capnp::Response<Counter::IncrementResults>>> rs;
    for (int i = 0; i < 3; i++) {
      auto inc = cap.incrementRequest();
      inc.setBy(1);
      rs.add(inc.send());  // pipelined: travel to the server and back
    }
    await(c, kj::mv(p));
    for (int i = 0; i < 3; i++) {
      auto inc = cap.incrementRequest();
      inc.setBy(1);
      rs.add(inc.send());  // resolved: local, held back by the embargo
    }
    for (size_t i = 0; i < rs.size(); i++) {
      int64_t v = await(c, kj::mv(rs[i])).getValue();
      KJ_ASSERT(v == int64_t(i) + 1, i, v);
    }
  }
  pollUntil(c, [&]() { ping(c); return c.state.liveCounters == 0; },
            "the echoed Counter to be released");
  return kj::str("6 increments in order across the embargo");
}

kj::String tailCall(Ctx& c) {
  kj::Vector<kj::String> done;
  auto tail = [&](Test::Client target, kj::StringPtr text, kj::StringPtr what) {
    auto req = c.test.tailEchoRequest();
    req.setTarget(kj::mv(target));
    req.setText(text);
    auto r = await(c, req.send());
    KJ_ASSERT(r.getText() == text, what, r.getText());
    done.add(kj::str(what));
  };
  tail(c.test, "tail-bootstrap", "bootstrap");
#ifndef OLD_SCHEMA
  tail(await(c, c.test.getTestRequest().send()).getTest(), "tail-getTest", "getTest");
#endif
  // A target hosted here: the tail call comes back across the same connection.
  tail(kj::heap<interop::TestImpl>(c.state), "tail-client", "client-hosted");
  return kj::str(kj::strArray(done, ","));
}

kj::String payload(Ctx& c) {
  constexpr uint32_t SIZE = 16u << 20;
  auto req = c.test.dataRequest();
  req.setSize(SIZE);
  auto r = await(c, req.send());
  auto d = r.getData();
  KJ_ASSERT(d.size() == SIZE, d.size());
  auto expect = kj::heapArray<kj::byte>(SIZE);
  interop::fillPattern(expect);
  KJ_ASSERT(memcmp(d.begin(), expect.begin(), SIZE) == 0, "data(16 MiB) content differs");

  auto s = c.test.sumRequest();
  s.setData(expect);
  auto sr = await(c, s.send());
  KJ_ASSERT(sr.getSize() == SIZE, sr.getSize());
  KJ_ASSERT(sr.getChecksum() == interop::checksum(expect), sr.getChecksum());
  return kj::str("data(16 MiB) and sum(16 MiB)");
}

kj::String evolution(Ctx& c) {
  auto got = await(c, c.test.getEvolvingRequest().send());
  auto req = c.test.describeEvolvingRequest();
  interop::fillEvolving(req.initValue());
  auto text = await(c, req.send()).getText();
  return kj::str("get{", interop::describe(got.getValue()), "} describe{", text, "}");
}

kj::String cancellation(Ctx& c) {
  uint32_t base = await(c, c.test.cancelledRequest().send()).getCount();
  {
    auto req = c.test.waitRequest();
    req.setMs(60000);
    auto p = req.send();
    ping(c);  // answered after wait() has started: calls on one object run in order
  }  // dropping the promise sends Finish before the answer
  uint32_t now = base;
  pollUntil(c, [&]() {
    now = await(c, c.test.cancelledRequest().send()).getCount();
    return now == base + 1;
  }, "cancelled() to count the dropped wait()");
  return kj::str("cancelled ", base, "->", now);
}

kj::String unimplemented(Ctx& c) {
  kj::Vector<kj::String> seen;
  // A method of an interface the object does not implement (Counter.get on a Test)...
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
    await(c, c.test.castAs<Counter>().getRequest().send());
  })) {
    KJ_ASSERT(e->getType() == kj::Exception::Type::UNIMPLEMENTED, e->getDescription());
    seen.add(kj::str("other-interface:", typeName(e->getType())));
  } else {
    KJ_FAIL_ASSERT("Counter.get on a Test answered");
  }
  // ...and a method id past the end of Test's.
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
    auto req = c.test.typelessRequest(capnp::typeId<Test>(), 99, nullptr);
    await(c, req.send());
  })) {
    KJ_ASSERT(e->getType() == kj::Exception::Type::UNIMPLEMENTED, e->getDescription());
    seen.add(kj::str("unknown-method:", typeName(e->getType())));
  } else {
    KJ_FAIL_ASSERT("Test method 99 answered");
  }
  ping(c);  // the connection goes on
  return kj::str(kj::strArray(seen, ","));
}

kj::String disconnect(Ctx& c) {
  // Leaves the server holding work for this connection, then vanishes without a word:
  // the server must drop it all (dispose the Counter, cancel the wait).
  auto req = c.test.newCounterRequest();
  req.setStart(1);
  auto counter = await(c, req.send()).getCounter();
  auto w = c.test.waitRequest();
  w.setMs(60000);
  auto pending = w.send();
  ping(c);  // wait() has started
  report("disconnect", true, "exiting with a Counter and a wait() outstanding");
  _exit(0);
}

kj::String oldServer(Ctx& c) {
#ifndef OLD_SCHEMA
  // getTest does not exist on a server built from old/test.capnp.
  KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() {
    await(c, c.test.getTestRequest().send());
  })) {
    return kj::str("getTest:", typeName(e->getType()));
  }
  return kj::str("getTest:ok");
#else
  return kj::str("getTest:absent");
#endif
}

struct Scenario {
  const char* name;
  kj::String (*run)(Ctx&);
  bool byDefault;
};

const Scenario SCENARIOS[] = {
    {"bootstrap", bootstrap, true},
    {"calls", calls, true},
    {"returned-capability", returnedCapability, true},
    {"pipelining", pipelining, true},
    {"pipelining-pending", pipeliningPending, true},
    {"callback", callback, true},
    {"hold-release", holdRelease, true},
    {"release", release, true},
    {"exceptions", exceptions, true},
    {"embargo", embargo, true},
    {"tail-call", tailCall, true},
    {"payload-16mib", payload, true},
    {"evolution", evolution, true},
    {"cancellation", cancellation, true},
    {"unimplemented", unimplemented, true},
    {"disconnect", disconnect, false},  // exits the process: run it alone
    {"old-server", oldServer, false},
};

void runOne(const char* address, const Scenario& s) {
  State state;  // outlives the connection: our objects count themselves out into it
  kj::Maybe<kj::Exception> failure;
  kj::String detail;
  {
    capnp::EzRpcClient client(address, 0, interop::readerOptions());
    state.timer = &client.getIoProvider().getTimer();
    Ctx c{state, client.getMain<Test>(), *state.timer, client.getWaitScope()};
    KJ_IF_MAYBE(e, kj::runCatchingExceptions([&]() { detail = s.run(c); })) {
      failure = kj::mv(*e);
    }
    state.held.clear();
  }
  KJ_IF_MAYBE(e, failure) {
    report(s.name, false, kj::str(typeName(e->getType()), ": ", e->getDescription()));
  } else {
    report(s.name, true, detail);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s HOST:PORT [SCENARIO...]\n", argv[0]);
    return 2;
  }
  if (argc == 2) {
    for (auto& s: SCENARIOS)
      if (s.byDefault) runOne(argv[1], s);
  } else {
    for (int i = 2; i < argc; i++) {
      bool found = false;
      for (auto& s: SCENARIOS) {
        if (strcmp(s.name, argv[i]) == 0) {
          runOne(argv[1], s);
          found = true;
        }
      }
      if (!found) report(argv[i], false, "unknown scenario");
    }
  }
  std::fflush(stdout);
  _exit(0);
}
