// The C++ benchmark client (bench/rpc.bench.ts spawns it against the C++ server and ours):
//
//   bench HOST:PORT SECONDS MODE [WARMUP]
//
// Measures MODE for SECONDS after a warm-up of WARMUP seconds (default 0.2), against Test:
//   seq       sequential ping(n) calls: calls/s
//   inflight  ping(n) with 100 calls in flight: calls/s
//   data      sequential data(65536) reads: MB/s (10^6 bytes)
// and prints one JSON line {"rate":..,"calls":..,"cpuUs":..}: the rate, the number of
// calls made in all (warm-up included, so the harness can divide the server's CPU time by
// it) and this process's CPU microseconds per measured call.
#include <capnp/ez-rpc.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sys/resource.h>
#include <unistd.h>

#include "test-impl.h"

namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

/** CPU time of this process (all threads), in microseconds. */
double cpuMicros() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

/** A measurement: its rate and the calls it made. */
struct Run {
  double rate;
  uint64_t calls;
};

Run sequential(Test::Client& test, kj::WaitScope& ws, double seconds) {
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
  return {n / elapsed, n};
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

Run inFlight(Test::Client& test, kj::WaitScope& ws, double seconds, int depth) {
  uint64_t done = 0;
  auto t0 = Clock::now();
  auto end = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  kj::Vector<kj::Promise<void>> slots;
  for (int i = 0; i < depth; i++) slots.add(slot(test, end, done));
  kj::joinPromises(slots.releaseAsArray()).wait(ws);
  return {done / secondsSince(t0), done};
}

Run dataReads(Test::Client& test, kj::WaitScope& ws, double seconds, uint32_t size) {
  uint64_t bytes = 0;
  uint64_t n = 0;
  auto t0 = Clock::now();
  double elapsed = 0;
  while ((elapsed = secondsSince(t0)) < seconds) {
    auto req = test.dataRequest();
    req.setSize(size);
    auto r = req.send().wait(ws);
    KJ_ASSERT(r.getData().size() == size);
    bytes += size;
    n++;
  }
  return {bytes / elapsed / 1e6, n};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    std::fprintf(stderr, "usage: %s HOST:PORT SECONDS seq|inflight|data [WARMUP]\n", argv[0]);
    return 2;
  }
  double seconds = std::atof(argv[2]);
  double warmup = argc == 5 ? std::atof(argv[4]) : 0.2;
  const char* mode = argv[3];
  auto measure = [&](Test::Client& test, kj::WaitScope& ws, double s) -> Run {
    if (strcmp(mode, "seq") == 0) return sequential(test, ws, s);
    if (strcmp(mode, "inflight") == 0) return inFlight(test, ws, s, 100);
    if (strcmp(mode, "data") == 0) return dataReads(test, ws, s, 65536);
    KJ_FAIL_REQUIRE("unknown mode", mode);
  };
  capnp::EzRpcClient client(argv[1], 0, interop::readerOptions());
  auto& ws = client.getWaitScope();
  Test::Client test = client.getMain<Test>();

  Run warm = measure(test, ws, warmup);  // connection, bootstrap, allocator (and a JIT's)
  double cpu0 = cpuMicros();
  Run run = measure(test, ws, seconds);
  double cpu = cpuMicros() - cpu0;
  std::printf("{\"rate\":%.2f,\"calls\":%llu,\"cpuUs\":%.3f}\n", run.rate,
              static_cast<unsigned long long>(warm.calls + run.calls), cpu / run.calls);
  std::fflush(stdout);
  _exit(0);
}
