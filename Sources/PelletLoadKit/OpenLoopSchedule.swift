/// When each request of an open-loop run is due, fixed in advance: request `i` is due at
/// `start + i / rate`, whatever happened to the requests before it. Latency is measured from
/// that time, not from when the request actually left, so a server that stalls is charged for
/// the queue it causes (no coordinated omission, as in wrk2).
///
/// Pure arithmetic on nanoseconds, so tests drive it without a clock. Requests are dealt to
/// connections in turn: connection `c` of `n` sends requests `c`, `c + n`, `c + 2n`, ...
public struct OpenLoopSchedule: Sendable, Equatable {
    /// Nanoseconds on the run's monotonic clock at which request 0 is due.
    public let start: UInt64
    /// Requests per second, over all connections.
    public let rate: Double
    public let connections: Int

    public init(start: UInt64, rate: Double, connections: Int = 1) {
        precondition(rate > 0 && rate.isFinite, "an open-loop rate is a positive number")
        precondition(connections >= 1, "an open loop sends over at least one connection")
        self.start = start
        self.rate = rate
        self.connections = connections
    }

    /// The time between two consecutive requests (over all connections), in nanoseconds.
    public var intervalNanoseconds: Double { 1e9 / rate }

    /// When request `index` (counted over all connections) is due. Computed from the index, not
    /// by adding intervals, so rounding never drifts.
    public func sendTime(ofRequest index: UInt64) -> UInt64 {
        start + UInt64((Double(index) * 1e9 / rate).rounded())
    }

    /// The overall index of the `ordinal`-th request (from 0) of connection `connection`.
    public func requestIndex(connection: Int, ordinal: UInt64) -> UInt64 {
        UInt64(connection) + ordinal * UInt64(connections)
    }

    /// When connection `connection`'s `ordinal`-th request is due.
    public func sendTime(connection: Int, ordinal: UInt64) -> UInt64 {
        sendTime(ofRequest: requestIndex(connection: connection, ordinal: ordinal))
    }

    /// How many requests are due at `time` (all connections): those with a send time at or
    /// before it.
    public func dueCount(at time: UInt64) -> UInt64 {
        guard time >= start else { return 0 }
        var count = UInt64((Double(time - start) * rate / 1e9).rounded(.down)) + 1
        // Double rounding may be off by one at the boundary; settle it with sendTime itself.
        while count > 0, sendTime(ofRequest: count - 1) > time { count -= 1 }
        while sendTime(ofRequest: count) <= time { count += 1 }
        return count
    }

    /// How many requests due at `time` have not been sent: the generator's (or the server's)
    /// backlog. 0 when on schedule.
    public func backlog(at time: UInt64, sent: UInt64) -> UInt64 {
        let due = dueCount(at: time)
        return due > sent ? due - sent : 0
    }

    /// How many requests are due before `end`, i.e. the number a run over [start, end) sends.
    public func count(before end: UInt64) -> UInt64 {
        guard end > start else { return 0 }
        return dueCount(at: end - 1)
    }
}
