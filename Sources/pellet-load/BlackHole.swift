/// Consumes a value so the optimizer cannot delete the work that produced it.
///
/// `@_optimize(none)` keeps the body opaque even under whole-module optimization: an inlined or
/// analysed empty function would let the compiler drop the benchmarked call, or promote a
/// benchmarked allocation to the stack, and the figure would measure nothing.
@inline(never)
@_optimize(none)
func blackHole<Value>(_ value: Value) {}
