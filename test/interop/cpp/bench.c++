// The C++ benchmark client (bench/rpc.bench.ts spawns it against the C++ server and ours):
//
//   bench HOST:PORT SECONDS
//
// Measures, each for SECONDS after a short warm-up, against Test:
//   seq       sequential ping(n) calls: calls/s
//   inflight  ping(n) with 100 calls in flight: calls/s
//   data      sequential data(65536) reads: MB/s (10^6 bytes)
// and prints one JSON line {"seq":..,"inflight":..,"data":..}.
#include <capnp/ez-rpc.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>

#include "test-impl.h"

namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double sequential(Test::Client& test, kj::WaitScope& ws, double seconds) {
  uint64_t n = 0;
  auto t0 = Clock::now();
  double elapsed = 0;
  while ((elapsed = secondsSince(t0)) < seconds) {
    auto req = test.pingRequest();
    req.setN(static_cast<uint32_t>(n));
    auto r = req.send().wait(ws);
    KJ_ASSERT(r.getN() == static_cast<uint32_t>(n));
    n++;
  }
  return n / elapsed;
}

kj::Promise<void> slot(Test::Client& test, Clock::time_point end, uint64_t& done) {
  auto req = test.pingRequest();
  req.setN(1);
  return req.send().then(
      [&test, end, &done](capnp::Response<Base::PingResults>&&) -> kj::Promise<void> {
        ++done;
        if (Clock::now() >= end) return kj::READY_NOW;
        return slot(test, end, done);
      });
}

double inFlight(Test::Client& test, kj::WaitScope& ws, double seconds, int depth) {
  uint64_t done = 0;
  auto t0 = Clock::now();
  auto end = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  kj::Vector<kj::Promise<void>> slots;
  for (int i = 0; i < depth; i++) slots.add(slot(test, end, done));
  kj::joinPromises(slots.releaseAsArray()).wait(ws);
  return done / secondsSince(t0);
}

double dataReads(Test::Client& test, kj::WaitScope& ws, double seconds, uint32_t size) {
  uint64_t bytes = 0;
  auto t0 = Clock::now();
  double elapsed = 0;
  while ((elapsed = secondsSince(t0)) < seconds) {
    auto req = test.dataRequest();
    req.setSize(size);
    auto r = req.send().wait(ws);
    KJ_ASSERT(r.getData().size() == size);
    bytes += size;
  }
  return bytes / elapsed / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s HOST:PORT SECONDS\n", argv[0]);
    return 2;
  }
  double seconds = std::atof(argv[2]);
  capnp::EzRpcClient client(argv[1], 0, interop::readerOptions());
  auto& ws = client.getWaitScope();
  Test::Client test = client.getMain<Test>();

  // Warm-up: connection, bootstrap, allocator.
  sequential(test, ws, 0.1);
  inFlight(test, ws, 0.1, 100);
  dataReads(test, ws, 0.1, 65536);

  double seq = sequential(test, ws, seconds);
  double inflight = inFlight(test, ws, seconds, 100);
  double data = dataReads(test, ws, seconds, 65536);
  std::printf("{\"seq\":%.1f,\"inflight\":%.1f,\"data\":%.2f}\n", seq, inflight, data);
  std::fflush(stdout);
  _exit(0);
}
