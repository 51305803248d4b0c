import NIOCore
import PelletWire
import Synchronization

/// Server-wide figures that Health and the metrics report, shared by every connection.
public final class ServerMetrics: Sendable {
    /// The transports a connection comes in on (`pellet_connections{transport}`).
    public enum Transport: Int, Sendable, CaseIterable {
        case unix, tcp

        public var label: String {
            switch self {
            case .unix: "unix"
            case .tcp: "tcp"
            }
        }
    }

    public let startedAt: NIODeadline
    private let callsInFlightCounter = Atomic<Int>(0)
    private let connectionsCounter = Atomic<Int>(0)
    /// Open connections per transport, indexed by `Transport.rawValue`.
    private let transportConnections = MetricCounters(count: Transport.allCases.count)
    /// Finished calls per method × status, indexed by `callIndex`.
    let calls = MetricCounters(count: Method.allCases.count * Status.allCases.count)
    /// One series per method (`Method.allCases` order): each call's time, REQUEST read to
    /// answer written.
    let callDurations = DurationHistograms(
        boundsSeconds: DurationHistograms.latencyBoundsSeconds, series: Method.allCases.count)
    /// Each Complete call's time in the gateway, excluding its provider transfers.
    public let gatewayOverhead = RecentLatencies()

    public init(startedAt: NIODeadline = .now()) {
        self.startedAt = startedAt
    }

    public var callsInFlight: Int { callsInFlightCounter.load(ordering: .relaxed) }
    public var connections: Int { connectionsCounter.load(ordering: .relaxed) }
    public var uptime: TimeAmount { .now() - startedAt }

    public func connections(_ transport: Transport) -> Int {
        Int(truncatingIfNeeded: transportConnections[transport.rawValue])
    }

    /// Finished calls of `method` that ended with `status`.
    public func calls(_ method: Method, _ status: Status) -> UInt64 {
        calls[Self.callIndex(method, status)]
    }

    /// `Status.allCases` builds an array at each use: counted once here, off the hot path.
    private static let statusCount = Status.allCases.count

    static func callIndex(_ method: Method, _ status: Status) -> Int {
        (Int(method.rawValue) - 1) * statusCount + Int(status.rawValue)
    }

    public func callStarted() { callsInFlightCounter.add(1, ordering: .relaxed) }

    /// A call answered with `status` after `nanoseconds`.
    public func callFinished(_ method: Method, status: Status, nanoseconds: Int64) {
        callsInFlightCounter.subtract(1, ordering: .relaxed)
        calls.add(at: Self.callIndex(method, status))
        callDurations.record(nanoseconds: UInt64(max(0, nanoseconds)), series: Int(method.rawValue) - 1)
    }

    func connectionOpened(_ transport: Transport) {
        connectionsCounter.add(1, ordering: .relaxed)
        transportConnections.add(at: transport.rawValue)
    }

    func connectionClosed(_ transport: Transport) {
        connectionsCounter.subtract(1, ordering: .relaxed)
        // Wrapping: the count goes back to where it was.
        transportConnections.add(UInt64.max, at: transport.rawValue)
    }
}
