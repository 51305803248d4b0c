/// HTTP/1.1 for the lean client, straight to an OpenAI-compatible provider: each prompt's
/// request (the head and JSON body `HTTPDriver` sends) is encoded once before the run, and the
/// requests of a connection's calls in flight go out pipelined. A server answers pipelined
/// requests in the order it got them, so the calls out are kept in that order and each response
/// ends the oldest.
///
/// A 2xx answer counts as OK and any other status as `HTTP_<code>`, as the NIO client counts
/// them. A response that closes the connection (`Connection: close`) ends the connection's share
/// of the run after it, as an end of the connection does: the calls still out are transport
/// errors.
struct HTTPLeanWire: LeanWire {
    /// One request per prompt: head and body.
    let requests: [[UInt8]]
    private var decoder = HTTPResponseDecoder()
    /// The slots of the calls out, oldest first (a ring of `inFlight` places).
    private var order: [Int]
    private var oldest = 0
    private var outstanding = 0

    init(requests: [HTTPPreparedRequest], inFlight: Int) {
        self.requests = requests.map(Self.bytes)
        order = [Int](repeating: 0, count: inFlight)
    }

    /// The request as NIO's HTTP/1.1 encoder writes it: request line, the headers as given, the body.
    static func bytes(_ request: HTTPPreparedRequest) -> [UInt8] {
        var head = "\(request.head.method.rawValue) \(request.head.uri) HTTP/1.1\r\n"
        for (name, value) in request.head.headers {
            head += "\(name): \(value)\r\n"
        }
        head += "\r\n"
        return Array(head.utf8) + Array(request.body.readableBytesView)
    }

    var requestCount: Int { requests.count }

    mutating func appendRequest(prompt: Int, slot: Int, to output: inout [UInt8]) {
        output += requests[prompt]
        order[(oldest + outstanding) % order.count] = slot
        outstanding += 1
    }

    mutating func takeAnswers(
        from bytes: UnsafeRawBufferPointer,
        answered: (_ slot: Int, _ outcome: LoadOutcome) -> Void
    ) -> Int? {
        var used = 0
        while true {
            let step: (used: Int, response: HTTPResponseDecoder.Response?)
            do {
                step = try decoder.decode(UnsafeRawBufferPointer(rebasing: bytes[used...]))
            } catch {
                return nil
            }
            used += step.used
            guard let response = step.response else { return used }
            // An answer to no request: the connection is not what the calls out think it is.
            guard outstanding > 0 else { return nil }
            let slot = order[oldest]
            oldest = (oldest + 1) % order.count
            outstanding -= 1
            answered(slot, (200..<300).contains(response.status) ? .ok : .httpStatus(response.status))
            if response.closesConnection { return nil }
        }
    }
}
