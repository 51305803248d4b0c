import PelletProviders

/// The server-sent events parser on a provider's stream, split into chunks. Byte 0 picks the
/// chunk size and a small event limit; the rest is the stream. Every split must give the same
/// events as the whole stream at once, and no event may pass the limit.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard count > 0 else { return 0 }
    let input = UnsafeRawBufferPointer(start: start, count: count)
    let chunkSize = [1, 2, 3, 5, 8, 13, 64, Int.max][Int(input[0] & 7)]
    let maximumEventBytes = input[0] & 8 == 0 ? 1 << 20 : 32
    let stream = UnsafeRawBufferPointer(rebasing: input[1...])

    let whole = parse(stream, chunkSize: Int.max, maximumEventBytes: maximumEventBytes)
    let chunked = parse(stream, chunkSize: chunkSize, maximumEventBytes: maximumEventBytes)
    precondition(whole.events == chunked.events && whole.failed == chunked.failed, "the split changed the events")
    for case .data(let data) in whole.events {
        precondition(data.count <= maximumEventBytes, "an event of \(data.count) bytes passed the limit")
    }
    return 0
}

private func parse(
    _ stream: UnsafeRawBufferPointer, chunkSize: Int, maximumEventBytes: Int
) -> (events: [SSEParser.Event], failed: Bool) {
    var parser = SSEParser(maximumEventBytes: maximumEventBytes)
    var events: [SSEParser.Event] = []
    var offset = 0
    do {
        while offset < stream.count {
            let end = offset + min(chunkSize, stream.count - offset)
            try parser.parse(UnsafeRawBufferPointer(rebasing: stream[offset..<end]), into: &events)
            offset = end
        }
        try parser.finish(into: &events)
    } catch {
        return (events, true)
    }
    precondition(parser.isDone, "finish left the parser open")
    precondition(events.firstIndex(of: .done).map { $0 == events.count - 1 } ?? true, "events after [DONE]")
    return (events, false)
}
