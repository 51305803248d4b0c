import Foundation
import PelletProviders

/// A provider's response, as the chat response decoder meets it: byte 0 picks the path (a JSON
/// body, an SSE stream of JSON chunks, or an error body with its status) and the chunk size; the
/// rest is the body. The decoder must end with exactly one terminal event and nothing after it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard count > 0 else { return 0 }
    let input = UnsafeRawBufferPointer(start: start, count: count)
    let control = input[0]
    let body = UnsafeRawBufferPointer(rebasing: input[1...])
    let chunkSize = [1, 7, 64, Int.max][Int(control & 3)]
    let stream = control & 4 != 0
    let status = [200, 200, 429, 500, 503, 400, 401, 200][Int(control >> 3 & 7)]
    let contentType = control & 0x40 != 0 ? "application/json" : "text/event-stream"

    var decoder = ChatResponseDecoder(
        stream: stream,
        accumulatesStreamContent: control & 0x80 != 0,
        limits: .init(maximumBodyBytes: 1 << 16, maximumErrorBodyBytes: 512, maximumEventBytes: 1 << 12),
        now: { Date(timeIntervalSince1970: 1_800_000_000) }
    )
    var terminalEvents = 0
    var eventsAfterTerminal = 0
    let emit: (ChatResponseDecoder.Event) -> Void = { event in
        if terminalEvents > 0 { eventsAfterTerminal += 1 }
        switch event {
        case .delta: break
        case .completed, .failed: terminalEvents += 1
        }
    }
    decoder.receivedStatus(status, headers: [("content-type", contentType), ("retry-after", "7")])
    var offset = 0
    while offset < body.count {
        let end = offset + min(chunkSize, body.count - offset)
        decoder.receivedBody(UnsafeRawBufferPointer(rebasing: body[offset..<end]), emit: emit)
        offset = end
    }
    let info = TransferInfo(status: status, newConnections: 0, httpVersion: 2, timeToFirstByte: .zero, totalTime: .zero)
    decoder.finished(.completed(info), emit: emit)
    precondition(terminalEvents == 1 && eventsAfterTerminal == 0, "\(terminalEvents) terminal events")
    precondition(decoder.isFinished, "not finished after the transfer ended")
    return 0
}
