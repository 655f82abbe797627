// The Cap'n Proto C++ reference implementation of test.capnp's Test (+ Base, Counter,
// Callback), shared by the C++ server (server.c++) and the C++ client (client.c++, which
// hosts a Test of its own as a tail-call target and Counters for hold/echoCap).
//
// Built twice: from test/fixtures/rpc/test.capnp and, with -DOLD_SCHEMA, from
// old/test.capnp (Evolving without c..f, Test without getTest).
#pragma once

#include <capnp/capability.h>
#include <capnp/message.h>
#include <kj/async.h>
#include <kj/debug.h>
#include <kj/timer.h>
#include <kj/vector.h>

#include <cstdint>
#include <cstring>

#include "test.capnp.h"

namespace interop {

/** Counts shared by every object of one process; read by liveObjects/cancelled. */
struct State {
  kj::Timer* timer = nullptr;   // set once the event loop exists
  uint32_t liveCounters = 0;    // CounterImpl instances alive
  uint32_t cancelled = 0;       // wait() calls cancelled before they answered
  uint32_t callbacks = 0;       // CallbackImpl::call invocations
  uint32_t liveCallbacks = 0;   // CallbackImpl instances alive
  kj::Vector<Counter::Client> held;  // caps kept by hold()
};

/** The checksum of sum(): h = h * 31 + byte (mod 2^32), also computed by the TS peers. */
inline uint32_t checksum(kj::ArrayPtr<const kj::byte> data) {
  uint32_t h = 0;
  for (kj::byte b: data) h = h * 31u + b;
  return h;
}

/** The bytes of data(size): byte i is (i * 7 + 3) mod 256. */
inline void fillPattern(kj::ArrayPtr<kj::byte> data) {
  for (size_t i = 0; i < data.size(); i++) data[i] = static_cast<kj::byte>(i * 7 + 3);
}

class CounterImpl final: public Counter::Server {
public:
  CounterImpl(State& state, int64_t start): state(state), value(start) { ++state.liveCounters; }
  ~CounterImpl() noexcept(false) { --state.liveCounters; }

  kj::Promise<void> increment(IncrementContext context) override {
    value += context.getParams().getBy();
    context.getResults().setValue(value);
    return kj::READY_NOW;
  }
  kj::Promise<void> get(GetContext context) override {
    context.getResults().setValue(value);
    return kj::READY_NOW;
  }

private:
  State& state;
  int64_t value;
};

/** Answers call(value) with "cb:" + value. */
class CallbackImpl final: public Callback::Server {
public:
  explicit CallbackImpl(State& state): state(state) { ++state.liveCallbacks; }
  ~CallbackImpl() noexcept(false) { --state.liveCallbacks; }
  kj::Promise<void> call(CallContext context) override {
    ++state.callbacks;
    context.getResults().setResult(kj::str("cb:", context.getParams().getValue()));
    return kj::READY_NOW;
  }

private:
  State& state;
};

inline kj::Exception::Type toKjType(ErrorType type) {
  switch (type) {
    case ErrorType::FAILED: return kj::Exception::Type::FAILED;
    case ErrorType::OVERLOADED: return kj::Exception::Type::OVERLOADED;
    case ErrorType::DISCONNECTED: return kj::Exception::Type::DISCONNECTED;
    case ErrorType::UNIMPLEMENTED: return kj::Exception::Type::UNIMPLEMENTED;
  }
  return kj::Exception::Type::FAILED;
}

/** The text describeEvolving answers; the TS server must produce the same. */
inline kj::String describe(Evolving::Reader v) {
#ifdef OLD_SCHEMA
  return kj::str("a=", v.getA(), " b=", v.getB());
#else
  kj::Vector<kj::String> parts;
  for (auto t: v.getE()) parts.add(kj::str(t));
  kj::String f = v.hasF() ? kj::str(v.getF().getA(), ":", v.getF().getB()) : kj::str("-");
  return kj::str("a=", v.getA(), " b=", v.getB(), " c=", v.getC(), " d=", v.getD(),
                 " e=[", kj::strArray(parts, ","), "] f=", f);
#endif
}

/** The value getEvolving answers: every field set away from its default. */
inline void fillEvolving(Evolving::Builder v) {
  v.setA(1);
  v.setB("one");
#ifndef OLD_SCHEMA
  v.setC(42);
  v.setD("set");
  auto e = v.initE(2);
  e.set(0, "x");
  e.set(1, "y");
  auto f = v.initF();
  f.setA(2);
  f.setB("two");
#endif
}

/**
 * C++'s typed tailCall() needs the callee's Results to be the caller's type; echo's and
 * tailEcho's results have the same layout ({text @0}), so Test.echo is requested here with
 * TailEchoResults as its result type (newCall is protected in Capability::Client).
 */
struct EchoForTail: public Test::Client {
  // Capability::Client is a virtual base: the most derived class constructs it.
  explicit EchoForTail(Test::Client c): capnp::Capability::Client(kj::mv(c)) {}
  capnp::Request<Test::EchoParams, Test::TailEchoResults> request() {
    return newCall<Test::EchoParams, Test::TailEchoResults>(capnp::typeId<Test>(), 0, nullptr);
  }
};

class TestImpl final: public Test::Server {
public:
  explicit TestImpl(State& state): state(state) {}

  kj::Promise<void> ping(PingContext context) override {
    context.getResults().setN(context.getParams().getN());
    return kj::READY_NOW;
  }
  kj::Promise<void> echo(EchoContext context) override {
    context.getResults().setText(context.getParams().getText());
    return kj::READY_NOW;
  }
  kj::Promise<void> add(AddContext context) override {
    auto p = context.getParams();
    context.getResults().setSum(p.getA() + p.getB());
    return kj::READY_NOW;
  }
  kj::Promise<void> newCounter(NewCounterContext context) override {
    context.getResults().setCounter(kj::heap<CounterImpl>(state, context.getParams().getStart()));
    return kj::READY_NOW;
  }
  kj::Promise<void> callBack(CallBackContext context) override {
    auto p = context.getParams();
    auto req = p.getCb().callRequest();
    req.setValue(p.getValue());
    return req.send().then([context](capnp::Response<Callback::CallResults>&& r) mutable {
      context.getResults().setResult(r.getResult());
    });
  }
  kj::Promise<void> hold(HoldContext context) override {
    state.held.add(context.getParams().getCap());
    return kj::READY_NOW;
  }
  kj::Promise<void> dropHeld(DropHeldContext context) override {
    context.getResults().setCount(state.held.size());
    state.held.clear();
    return kj::READY_NOW;
  }
  kj::Promise<void> fail(FailContext context) override {
    auto p = context.getParams();
    return kj::Exception(toKjType(p.getType()), __FILE__, __LINE__, kj::str(p.getMessage()));
  }
  kj::Promise<void> slowCounter(SlowCounterContext context) override {
    auto p = context.getParams();
    int64_t start = p.getStart();
    return state.timer->afterDelay(p.getMs() * kj::MILLISECONDS)
        .then([this, context, start]() mutable {
          context.getResults().setCounter(kj::heap<CounterImpl>(state, start));
        });
  }
  kj::Promise<void> echoCap(EchoCapContext context) override {
    context.getResults().setCap(context.getParams().getCap());
    return kj::READY_NOW;
  }
  kj::Promise<void> tailEcho(TailEchoContext context) override {
    auto p = context.getParams();
    auto req = EchoForTail(p.getTarget()).request();
    req.setText(p.getText());
    return context.tailCall(kj::mv(req));
  }
  kj::Promise<void> data(DataContext context) override {
    // Copied from a pattern made once (the TS server does the same): the benchmark's
    // 64 KiB reads measure the RPC, not a byte loop.
    uint32_t size = context.getParams().getSize();
    if (pattern.size() < size) {
      pattern = kj::heapArray<kj::byte>(size);
      fillPattern(pattern);
    }
    auto out = context.getResults().initData(size);
    memcpy(out.begin(), pattern.begin(), size);
    return kj::READY_NOW;
  }
  kj::Promise<void> sum(SumContext context) override {
    auto d = context.getParams().getData();
    auto r = context.getResults();
    r.setSize(d.size());
    r.setChecksum(checksum(d));
    return kj::READY_NOW;
  }
  kj::Promise<void> liveObjects(LiveObjectsContext context) override {
    context.getResults().setCount(state.liveCounters);
    return kj::READY_NOW;
  }
  kj::Promise<void> wait(WaitContext context) override {
    // Cap'n Proto 0.9 cancels a call on Finish only when the method allows it; the guard's
    // destructor runs with `done` still false exactly when the promise was cancelled.
    context.allowCancellation();
    struct Guard {
      State& state;
      bool done = false;
      explicit Guard(State& s): state(s) {}
      ~Guard() noexcept(false) { if (!done) ++state.cancelled; }
    };
    auto guard = kj::heap<Guard>(state);
    Guard& g = *guard;
    return state.timer->afterDelay(context.getParams().getMs() * kj::MILLISECONDS)
        .then([&g]() { g.done = true; })
        .attach(kj::mv(guard));
  }
  kj::Promise<void> cancelled(CancelledContext context) override {
    context.getResults().setCount(state.cancelled);
    return kj::READY_NOW;
  }
  kj::Promise<void> getEvolving(GetEvolvingContext context) override {
    fillEvolving(context.getResults().initValue());
    return kj::READY_NOW;
  }
  kj::Promise<void> describeEvolving(DescribeEvolvingContext context) override {
    context.getResults().setText(describe(context.getParams().getValue()));
    return kj::READY_NOW;
  }
#ifndef OLD_SCHEMA
  kj::Promise<void> getTest(GetTestContext context) override {
    context.getResults().setTest(kj::heap<TestImpl>(state));
    return kj::READY_NOW;
  }
#endif

private:
  State& state;
  kj::Array<kj::byte> pattern;
};

/** Reader options of every C++ peer: room for 16 MiB payloads (and a bit more). */
inline capnp::ReaderOptions readerOptions() {
  capnp::ReaderOptions o;
  o.traversalLimitInWords = uint64_t(64) << 20;  // 512 MiB of words
  o.nestingLimit = 64;
  return o;
}

}  // namespace interop
