/// How much of a message the router reads: its first and last 16 KiB. Routing runs on the event
/// loop, and a request may carry megabytes of prompt; what decides a task (the instruction, the
/// question at the end, a pasted document's opening) sits at the edges, and a bounded read keeps
/// every call's routing cost bounded whatever its size.
enum PromptEdges {
    static let bytesPerEdge = 16 << 10

    /// The whole message when it is at most two edges long, else its first and last edge.
    static func of(_ bytes: UnsafeBufferPointer<UInt8>) -> (head: UnsafeBufferPointer<UInt8>, tail: UnsafeBufferPointer<UInt8>?) {
        guard bytes.count > 2 * bytesPerEdge else { return (bytes, nil) }
        return (
            UnsafeBufferPointer(rebasing: bytes[..<bytesPerEdge]),
            UnsafeBufferPointer(rebasing: bytes[(bytes.count - bytesPerEdge)...])
        )
    }
}
