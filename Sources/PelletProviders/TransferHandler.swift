/// Receives one transfer's response.
///
/// Every method runs on the engine's provider thread, in order: ``receivedStatus(_:headers:)``
/// at most once (before any body), ``receivedBody(_:)`` any number of times, then
/// ``finished(_:)`` exactly once. They must return quickly and never block: the one provider
/// thread serves every transfer in the process. Copy what you need and hop to your own event
/// loop (see ``ProviderEngine/startChat(_:on:onEvent:)``). Starting or cancelling transfers from
/// inside a handler is allowed; ``ProviderEngine/shutdown()`` is not waited for there.
public protocol TransferHandler: Sendable {
    /// The final response's status line and header fields (names lower-cased). Interim `1xx`
    /// responses are skipped.
    func receivedStatus(_ status: Int, headers: HTTPHeaders)
    /// Response body bytes as they arrive. The buffer is only valid during the call.
    func receivedBody(_ bytes: UnsafeRawBufferPointer)
    /// The transfer is over; the engine holds no reference to the handler afterwards.
    func finished(_ result: TransferResult)
}

/// How a transfer ended.
public enum TransferResult: Sendable {
    /// The response was received completely (whatever its status).
    case completed(TransferInfo)
    /// The transfer failed before the response was complete.
    case failed(TransferError)
    /// ``TransferHandle/cancel()`` stopped it.
    case cancelled
}

/// Facts about a completed transfer.
public struct TransferInfo: Sendable, Hashable {
    public var status: Int
    /// Connections libcurl had to open for this transfer: 0 when it reused one.
    public var newConnections: Int
    /// 1 for HTTP/1.x, 2 for HTTP/2 (0 if unknown).
    public var httpVersion: Int
    /// From the start of the transfer (as libcurl saw it) to the first response byte.
    public var timeToFirstByte: Duration
    /// From the start of the transfer to its end.
    public var totalTime: Duration

    public init(status: Int, newConnections: Int, httpVersion: Int, timeToFirstByte: Duration, totalTime: Duration) {
        self.status = status
        self.newConnections = newConnections
        self.httpVersion = httpVersion
        self.timeToFirstByte = timeToFirstByte
        self.totalTime = totalTime
    }
}

/// A transfer that failed in transport (no complete HTTP response).
///
/// A struct over a private enum so that kinds can be added without breaking callers.
public struct TransferError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case timedOut, firstByteTimeout, idleTimeout, connectionFailed, tls, connectionLost
            case invalidRequest, engineStopped, other
        }

        private let base: Base

        /// ``HTTPRequest/timeout`` passed.
        public static let timedOut = Kind(base: .timedOut)
        /// ``HTTPRequest/firstByteTimeout`` passed without a body byte.
        public static let firstByteTimeout = Kind(base: .firstByteTimeout)
        /// ``HTTPRequest/idleTimeout`` passed between body bytes.
        public static let idleTimeout = Kind(base: .idleTimeout)
        /// The name did not resolve or the connection was refused or timed out.
        public static let connectionFailed = Kind(base: .connectionFailed)
        /// The TLS handshake or certificate check failed.
        public static let tls = Kind(base: .tls)
        /// The connection broke, or the server closed it, before the response was complete.
        public static let connectionLost = Kind(base: .connectionLost)
        /// libcurl refused the request itself (a malformed URL, an unsupported scheme).
        public static let invalidRequest = Kind(base: .invalidRequest)
        /// The engine was shut down.
        public static let engineStopped = Kind(base: .engineStopped)
        /// Anything else libcurl reports.
        public static let other = Kind(base: .other)

        public var description: String { "\(base)" }
    }

    public let kind: Kind
    /// The libcurl error code (`CURLcode`), 0 when the failure is not libcurl's.
    public let curlCode: Int
    /// A sentence for logs and operators; never holds request or response content.
    public let message: String

    public var description: String { message }

    public init(kind: Kind, curlCode: Int = 0, message: String) {
        self.kind = kind
        self.curlCode = curlCode
        self.message = message
    }

    static let engineStopped = TransferError(kind: .engineStopped, message: "the provider engine is shut down")
}
