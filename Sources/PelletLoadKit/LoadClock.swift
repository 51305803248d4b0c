import NIOCore

/// The run's clock: monotonic nanoseconds (CLOCK_MONOTONIC, as NIO's timers use).
public enum LoadClock {
    @inline(__always)
    public static func now() -> UInt64 {
        NIODeadline.now().uptimeNanoseconds
    }
}
