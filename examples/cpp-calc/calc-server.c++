// The example C++ server: Calculator (calc.capnp) on the Cap'n Proto reference
// implementation's EzRpcServer, bound into capns with `type: connect`
// (examples/cpp-calc/README.md, manifest.yaml).
//
//   calc-server [ADDRESS]   listens on ADDRESS (default 127.0.0.1:0), prints the port on
//                           one line of stdout, serves until stdin reaches EOF.
//
// Build: capnp compile -oc++ calc.capnp &&
//        g++ -std=c++17 -O2 calc-server.c++ calc.capnp.c++ $(pkg-config --cflags --libs capnp-rpc) -o calc-server
#include <capnp/ez-rpc.h>
#include <kj/async-io.h>

#include <algorithm>
#include <cstdio>
#include <unistd.h>

#include "calc.capnp.h"

namespace {

class CalculatorImpl final : public Calculator::Server {
 protected:
  kj::Promise<void> add(AddContext context) override {
    auto p = context.getParams();
    context.getResults().setValue(p.getA() + p.getB());
    return kj::READY_NOW;
  }

  kj::Promise<void> multiply(MultiplyContext context) override {
    auto p = context.getParams();
    context.getResults().setValue(p.getA() * p.getB());
    return kj::READY_NOW;
  }

  kj::Promise<void> stats(StatsContext context) override {
    auto values = context.getParams().getValues();
    auto s = context.getResults().initSummary();
    s.setCount(values.size());
    if (values.size() == 0) return kj::READY_NOW;
    double sum = 0, lo = values[0], hi = values[0];
    for (double v : values) {
      sum += v;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    s.setMean(sum / values.size());
    s.setMin(lo);
    s.setMax(hi);
    return kj::READY_NOW;
  }
};

kj::Promise<void> untilEof(kj::AsyncInputStream& in, kj::byte* buf) {
  return in.tryRead(buf, 1, 256).then([&in, buf](size_t n) -> kj::Promise<void> {
    if (n == 0) return kj::READY_NOW;
    return untilEof(in, buf);
  });
}

}  // namespace

int main(int argc, char** argv) {
  capnp::EzRpcServer server(kj::heap<CalculatorImpl>(), argc > 1 ? argv[1] : "127.0.0.1:0");
  auto& ws = server.getWaitScope();
  unsigned port = server.getPort().wait(ws);
  std::printf("%u\n", port);
  std::fflush(stdout);
  auto in = server.getLowLevelIoProvider().wrapInputFd(0);
  kj::byte buf[256];
  untilEof(*in, buf).wait(ws);
  _exit(0);
}
