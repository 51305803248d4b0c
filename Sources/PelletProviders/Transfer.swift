/// One transfer inside the engine: the request, its handler, its easy handle, and the parsing
/// of the response head.
///
/// `@unchecked Sendable` because it is created on the caller's thread and handed to the
/// provider thread through the command queue (the lock orders the hand-over); from then on only
/// the provider thread touches its mutable state.
final class Transfer: @unchecked Sendable {
    let id: UInt64
    /// Until the easy handle is made, which copies what it needs (the body among it): a long
    /// stream should not hold a second copy of the prompt.
    private var pendingRequest: HTTPRequest?
    let timeout: Duration
    private let firstByteTimeout: Duration?
    private let idleTimeout: Duration?
    let startedAt: ContinuousClock.Instant
    /// Cleared when the transfer finishes, so that a handler holding its own transfer handle does
    /// not form a cycle that outlives it.
    private var handler: (any TransferHandler)?
    /// Set while the transfer is in the multi handle.
    private(set) var easy: CurlEasy?
    /// Bounds the body bytes handed to the handler and not yet consumed (nil: no bound).
    private let backlog: BodyBacklog?
    /// ``TransferHandle/setPaused(_:)``: the backlog draining does not resume the transfer then.
    private var pausedByCaller = false
    /// Receiving was paused at some point (by the caller or a full backlog).
    private var wasPaused = false

    /// The header block being read; a new status line starts a new one (interim responses).
    /// `name:value\n` per field (see ``HTTPHeaders/init(receivedBlock:)``).
    private var headerBlock: [UInt8] = []
    private var blockStatus = 0
    private var statusDelivered = false
    /// When the last body bytes arrived (nil: none yet); drives the idle and first-byte timers.
    private var lastBodyAt: ContinuousClock.Instant?

    init(id: UInt64, request: HTTPRequest, handler: any TransferHandler, backlog: BodyBacklog?) {
        self.id = id
        self.backlog = backlog
        self.pendingRequest = request
        self.timeout = request.timeout
        self.firstByteTimeout = request.firstByteTimeout
        self.idleTimeout = request.idleTimeout
        self.handler = handler
        self.startedAt = .now
    }

    var isFinished: Bool { handler == nil }

    /// Prepares `easy` (an idle handle to reuse, or a new one) for this transfer; the caller
    /// adds it to the multi handle.
    func attach(_ easy: CurlEasy) throws(TransferError) {
        guard let request = pendingRequest else {
            throw TransferError(kind: .other, message: "a transfer was started twice")
        }
        pendingRequest = nil
        try easy.prepare(request: request, owner: self)
        self.easy = easy
    }

    /// Whether the handle may serve another transfer once this one is removed: only after a
    /// transfer that completed and was never paused, so no pause or error state carries over.
    var easyIsReusable: Bool { !wasPaused }

    /// When the watchdog fails the transfer unless body bytes arrive first; nil without timers.
    /// Before the first body byte the first-byte timeout applies (or, without one, the idle
    /// timeout counted from the start); afterwards the idle timeout from the last byte. Body
    /// bytes only ever move it later, which the engine's lazy timer scan relies on.
    var watchdogDeadline: ContinuousClock.Instant? {
        if let lastBodyAt {
            return idleTimeout.map { lastBodyAt + $0 }
        }
        if let firstByteTimeout {
            return startedAt + firstByteTimeout
        }
        return idleTimeout.map { startedAt + $0 }
    }

    /// The watchdog failure due at `now`, if any.
    func watchdogFailure(at now: ContinuousClock.Instant) -> TransferError? {
        guard let deadline = watchdogDeadline, deadline <= now else { return nil }
        if lastBodyAt == nil, firstByteTimeout != nil {
            return TransferError(kind: .firstByteTimeout, message: "no response within the first-byte timeout")
        }
        return TransferError(kind: .idleTimeout, message: "the response stalled for longer than the idle timeout")
    }

    /// The caller pauses or resumes receiving. A resumed transfer whose backlog is still full
    /// pauses again at its next body bytes, which libcurl keeps.
    func setPausedByCaller(_ paused: Bool) {
        pausedByCaller = paused
        if paused { wasPaused = true }
        easy?.setReceivePaused(paused)
    }

    /// The handler has consumed enough of its backlog: receiving resumes, unless the caller
    /// paused the transfer too.
    func backlogDrained() {
        if !pausedByCaller {
            easy?.setReceivePaused(false)
        }
    }

    /// Reports the end once: drops the easy handle (the caller removed it from the multi handle
    /// first) and the handler.
    func finish(_ result: TransferResult) {
        guard let handler else { return }
        if case .completed = result, !statusDelivered {
            deliverStatus()
        }
        easy = nil
        self.handler = nil
        handler.finished(result)
    }

    // MARK: - libcurl callbacks (provider thread, inside curl_multi_socket_action)

    /// One header line as libcurl delivers it: the status line, a field, or the blank line that
    /// ends the block. Always a whole line, with its CRLF.
    func receivedHeaderLine(_ line: UnsafeRawBufferPointer) {
        guard !statusDelivered else { return }  // trailers
        var end = line.count
        while end > 0, line[end - 1] == UInt8(ascii: "\n") || line[end - 1] == UInt8(ascii: "\r") {
            end -= 1
        }
        let content = UnsafeRawBufferPointer(rebasing: line[0..<end])
        if content.isEmpty {
            // The end of a block: an interim 1xx response is followed by the real one.
            if blockStatus >= 200 || blockStatus == 0 {
                deliverStatus()
            }
            return
        }
        if content.starts(with: "HTTP/".utf8) {
            headerBlock.removeAll(keepingCapacity: true)
            // One allocation for a usual block rather than one per doubling.
            headerBlock.reserveCapacity(Self.usualHeaderBlockSize)
            blockStatus = Self.statusCode(ofStatusLine: content)
            return
        }
        guard let colon = content.firstIndex(of: UInt8(ascii: ":")) else { return }
        var valueStart = colon + 1
        var valueEnd = content.count
        while valueStart < valueEnd, content[valueStart] == 0x20 || content[valueStart] == 0x09 { valueStart += 1 }
        while valueEnd > valueStart, content[valueEnd - 1] == 0x20 || content[valueEnd - 1] == 0x09 { valueEnd -= 1 }
        // libcurl splits lines at LF, so neither part holds the block's line separator.
        headerBlock.append(contentsOf: content[..<colon].lazy.map(asciiLowercased))
        headerBlock.append(UInt8(ascii: ":"))
        headerBlock.append(contentsOf: content[valueStart..<valueEnd])
        headerBlock.append(UInt8(ascii: "\n"))
    }

    /// Hands body bytes to the handler; false when its backlog is full, and then the transfer
    /// pauses and libcurl delivers the same bytes again on resuming.
    func receivedBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if let backlog, !backlog.admit(bytes.count) {
            wasPaused = true
            return false
        }
        if !statusDelivered {
            deliverStatus()
        }
        if idleTimeout != nil || lastBodyAt == nil {
            lastBodyAt = .now
        }
        handler?.receivedBody(bytes)
        return true
    }

    private func deliverStatus() {
        statusDelivered = true
        handler?.receivedStatus(blockStatus, headers: HTTPHeaders(receivedBlock: headerBlock))
        headerBlock = []
    }

    /// Room for a provider's header block as kept here (nginx's is ~120 bytes, a cloud
    /// provider's a few hundred).
    private static let usualHeaderBlockSize = 512

    /// The code in "HTTP/1.1 200 OK" or "HTTP/2 200"; 0 if there is none.
    private static func statusCode(ofStatusLine line: UnsafeRawBufferPointer) -> Int {
        guard let space = line.firstIndex(of: UInt8(ascii: " ")) else { return 0 }
        var code = 0
        var digits = 0
        for byte in line[(space + 1)...] {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { break }
            code = code * 10 + Int(byte - UInt8(ascii: "0"))
            digits += 1
        }
        return digits == 3 ? code : 0
    }
}
