// The C++ reference server of test.capnp's Test, for the interop tests and the benchmark.
//
//   server            listens on 127.0.0.1:0, prints the port on one line of stdout,
//                     serves until stdin reaches EOF (so it never outlives its parent).
//
// Built from test.capnp (server) and, with -DOLD_SCHEMA, from old/test.capnp (server-old).
#include <capnp/ez-rpc.h>
#include <kj/async-io.h>

#include <cstdio>
#include <unistd.h>

#include "test-impl.h"

namespace {

kj::Promise<void> untilEof(kj::AsyncInputStream& in, kj::byte* buf) {
  return in.tryRead(buf, 1, 256).then([&in, buf](size_t n) -> kj::Promise<void> {
    if (n == 0) return kj::READY_NOW;
    return untilEof(in, buf);
  });
}

}  // namespace

int main() {
  interop::State state;
  capnp::EzRpcServer server(kj::heap<interop::TestImpl>(state), "127.0.0.1", 0,
                            interop::readerOptions());
  state.timer = &server.getIoProvider().getTimer();
  auto& ws = server.getWaitScope();
  unsigned port = server.getPort().wait(ws);
  std::printf("%u\n", port);
  std::fflush(stdout);

  auto in = server.getLowLevelIoProvider().wrapInputFd(0);
  kj::byte buf[256];
  untilEof(*in, buf).wait(ws);
  // Connections may still be open; nothing needs an orderly shutdown.
  _exit(0);
}
