// The C++ client of bench/client.bench.ts: Cap'n Proto 0.9.2's EzRpc, built from capns's
// own schemas (schema/namespace.capnp, fileserver.capnp, common.capnp, demo.capnp), against
// a `capns serve` — what bench/serve-peer.ts does with our client library, for the same
// server in the same run.
//
//   serve-bench HOST:PORT TOKEN SECONDS MODE [WARMUP]
//
// Authenticates to the Gate with TOKEN ("" for the loopback profile), then measures MODE
// for SECONDS after WARMUP seconds (default 1) of the same work:
//   seq       sequential Clock.now() on the capability at /svc/clock: calls/s
//   inflight  Clock.now() with 100 calls in flight: calls/s
//   data      sequential File.read(0, 65536) of /tmp/f (at least 64 KiB long; resolved
//             once: resolve /tmp -> attach -> walk -> open): MB/s (10^6 bytes)
// and prints one JSON line {"rate":..,"calls":..,"cpuUs":..}, as bench.c++ does: the rate,
// the calls made in all (warm-up included, for the server's CPU per call) and this
// process's CPU microseconds per measured call.
#include <capnp/ez-rpc.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sys/resource.h>
#include <unistd.h>

#include "common.capnp.h"
#include "demo.capnp.h"
#include "fileserver.capnp.h"
#include "namespace.capnp.h"

namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr uint32_t READ_SIZE = 65536;
constexpr int IN_FLIGHT = 100;

double secondsSince(SteadyClock::time_point t0) {
  return std::chrono::duration<double>(SteadyClock::now() - t0).count();
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

/** The capability at `path`, of interface T, checked by the server (expectedInterface). */
template <typename T>
typename T::Client resolve(Namespace::Client& ns, kj::WaitScope& ws, kj::StringPtr path) {
  auto req = ns.resolveRequest();
  req.setPath(path);
  req.setExpectedInterface(capnp::typeId<T>());
  auto r = req.send().wait(ws);
  auto res = r.getResult();
  KJ_REQUIRE(res.isOk(), path, res.getErr().getMessage());
  KJ_REQUIRE(res.getOk().getRest().size() == 0, "not a mount point", path);
  return res.getOk().getCap().template castAs<T>();
}

/** /tmp/f opened for reading: resolve /tmp, attach, walk, open, as capns's client does. */
File::Client openFile(Namespace::Client& ns, kj::WaitScope& ws) {
  auto fs = resolve<FileServer>(ns, ws, "/tmp");
  auto a = fs.attachRequest();
  a.setAname("");
  auto ar = a.send().wait(ws);
  KJ_REQUIRE(ar.getResult().isOk(), ar.getResult().getErr().getMessage());
  auto w = ar.getResult().getOk().getRoot().walkRequest();
  w.initNames(1).set(0, "f");
  auto wr = w.send().wait(ws);
  KJ_REQUIRE(wr.getResult().isFile(), "/tmp/f: walk failed");
  File::Client f = wr.getResult().getFile();
  auto o = f.openRequest();
  o.initMode().setAccess(OpenMode::Access::READ);
  auto orr = o.send().wait(ws);
  KJ_REQUIRE(orr.getResult().isOk(), orr.getResult().getErr().getMessage());
  return f;
}

Run sequential(Clock::Client& clock, kj::WaitScope& ws, double seconds) {
  uint64_t n = 0;
  auto t0 = SteadyClock::now();
  double elapsed = 0;
  while ((elapsed = secondsSince(t0)) < seconds) {
    auto r = clock.nowRequest().send().wait(ws);
    KJ_ASSERT(r.getUnixMillis() > 0);
    n++;
  }
  return {n / elapsed, n};
}

kj::Promise<void> slot(Clock::Client& clock, SteadyClock::time_point end, uint64_t& done) {
  return clock.nowRequest().send().then(
      [&clock, end, &done](capnp::Response<Clock::NowResults>&& r) -> kj::Promise<void> {
        KJ_ASSERT(r.getUnixMillis() > 0);
        ++done;
        if (SteadyClock::now() >= end) return kj::READY_NOW;
        return slot(clock, end, done);
      });
}

Run inFlight(Clock::Client& clock, kj::WaitScope& ws, double seconds) {
  uint64_t done = 0;
  auto t0 = SteadyClock::now();
  auto end = t0 + std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(seconds));
  kj::Vector<kj::Promise<void>> slots;
  for (int i = 0; i < IN_FLIGHT; i++) slots.add(slot(clock, end, done));
  kj::joinPromises(slots.releaseAsArray()).wait(ws);
  return {done / secondsSince(t0), done};
}

Run reads(File::Client& file, kj::WaitScope& ws, double seconds) {
  uint64_t n = 0;
  auto t0 = SteadyClock::now();
  double elapsed = 0;
  while ((elapsed = secondsSince(t0)) < seconds) {
    auto req = file.readRequest();
    req.setOffset(0);
    req.setCount(READ_SIZE);
    auto r = req.send().wait(ws);
    auto res = r.getResult();
    KJ_ASSERT(res.isData() && res.getData().size() == READ_SIZE, "short read of /tmp/f");
    n++;
  }
  return {double(n) * READ_SIZE / elapsed / 1e6, n};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5 && argc != 6) {
    std::fprintf(stderr, "usage: %s HOST:PORT TOKEN SECONDS seq|inflight|data [WARMUP]\n", argv[0]);
    return 2;
  }
  double seconds = std::atof(argv[3]);
  const char* mode = argv[4];
  double warmup = argc == 6 ? std::atof(argv[5]) : 1;
  bool data = strcmp(mode, "data") == 0;
  if (!data && strcmp(mode, "seq") != 0 && strcmp(mode, "inflight") != 0) {
    std::fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
  }
  capnp::ReaderOptions options;
  options.traversalLimitInWords = uint64_t(64) << 20;
  capnp::EzRpcClient client(argv[1], 0, options);
  auto& ws = client.getWaitScope();
  auto auth = client.getMain<Gate>().authenticateRequest();
  auth.setToken(argv[2]);
  auto ar = auth.send().wait(ws);
  KJ_REQUIRE(ar.getResult().isOk(), ar.getResult().getErr().getMessage());
  Namespace::Client ns = ar.getResult().getOk().getNs();

  Run warm{0, 0}, run{0, 0};
  double cpu = 0;
  if (data) {
    File::Client file = openFile(ns, ws);
    warm = reads(file, ws, warmup);
    double cpu0 = cpuMicros();
    run = reads(file, ws, seconds);
    cpu = cpuMicros() - cpu0;
  } else {
    auto clock = resolve<Clock>(ns, ws, "/svc/clock");
    bool seq = strcmp(mode, "seq") == 0;
    warm = seq ? sequential(clock, ws, warmup) : inFlight(clock, ws, warmup);
    double cpu0 = cpuMicros();
    run = seq ? sequential(clock, ws, seconds) : inFlight(clock, ws, seconds);
    cpu = cpuMicros() - cpu0;
  }
  std::printf("{\"rate\":%.2f,\"calls\":%llu,\"cpuUs\":%.3f}\n", run.rate,
              static_cast<unsigned long long>(warm.calls + run.calls), cpu / run.calls);
  std::fflush(stdout);
  _exit(0);
}
