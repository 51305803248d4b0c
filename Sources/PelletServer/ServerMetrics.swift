import NIOCore
import Synchronization

/// Server-wide figures that Health reports, shared by every connection.
public final class ServerMetrics: Sendable {
    public let startedAt: NIODeadline
    private let callsInFlightCounter = Atomic<Int>(0)
    private let connectionsCounter = Atomic<Int>(0)
    /// Each Complete call's time in the gateway, excluding its provider transfers.
    public let gatewayOverhead = RecentLatencies()

    public init(startedAt: NIODeadline = .now()) {
        self.startedAt = startedAt
    }

    public var callsInFlight: Int { callsInFlightCounter.load(ordering: .relaxed) }
    public var connections: Int { connectionsCounter.load(ordering: .relaxed) }
    public var uptime: TimeAmount { .now() - startedAt }

    func callStarted() { callsInFlightCounter.add(1, ordering: .relaxed) }
    func callFinished() { callsInFlightCounter.subtract(1, ordering: .relaxed) }
    func connectionOpened() { connectionsCounter.add(1, ordering: .relaxed) }
    func connectionClosed() { connectionsCounter.subtract(1, ordering: .relaxed) }
}
