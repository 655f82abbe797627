# calc.capnp — the schema of the example C++ server (examples/cpp-calc/README.md): an
# interface capns was not built with, served by the Cap'n Proto reference implementation.

@0xfc3d52a5833f62e8;

interface Calculator {
  add @0 (a :Float64, b :Float64) -> (value :Float64);
  multiply @1 (a :Float64, b :Float64) -> (value :Float64);

  stats @2 (values :List(Float64)) -> (summary :Summary);
  # Count, mean, smallest and largest of `values` (all 0 for an empty list).

  struct Summary {
    count @0 :UInt32;
    mean @1 :Float64;
    min @2 :Float64;
    max @3 :Float64;
  }
}
