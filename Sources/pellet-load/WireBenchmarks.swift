import NIOCore
import PelletWire

/// Frame decoding and encoding, and the protobuf-c bridge of every request message.
enum WireBenchmarks {
    static func all() throws -> [MicroBenchmark] {
        try frameBenchmarks() + requestMessageBenchmarks()
    }

    // MARK: Frames

    static func frameBenchmarks() throws -> [MicroBenchmark] {
        // A Route call's REQUEST frame with a short prompt: the common small frame.
        var frameBuffer = ByteBuffer()
        frameBuffer.writeFrame(
            FrameHeader(type: .request, method: Method.route.rawValue, stream: 7, value: 5_000),
            message: RouteRequest(
                credentials: Credentials(apiKey: sampleAPIKey),
                messages: [ChatMessage(role: "user", content: "What is the capital of Australia?")]
            )
        )
        let frameBytes = frameBuffer.readableBytes
        var decoder = FrameDecoder()
        var preface = ByteBuffer(bytes: Preface.bytes)
        guard case .preface = try decoder.next(from: &preface) else {
            throw MicroError("the frame decoder did not accept the preface")
        }
        let decode = MicroBenchmark(
            "frame.decode",
            notes: "FrameDecoder.next(from:), \(frameBytes)-byte REQUEST frame"
        ) {
            frameBuffer.moveReaderIndex(to: 0)
            guard case .frame(let frame) = try decoder.next(from: &frameBuffer) else {
                throw MicroError("the frame decoder found no frame")
            }
            blackHole(frame)
        }

        let health = HealthResponse(
            version: "0.1.0",
            uptimeMs: 86_400_000,
            inFlight: 12,
            providers: ["together", "fireworks", "groq"].map {
                ProviderHealth(name: $0, state: "healthy", errorRate: 0.002, latencyP50Ms: 180)
            }
        )
        var output = ByteBufferAllocator().buffer(capacity: 512)
        output.writeFrame(FrameHeader(type: .response, stream: 7), message: health)
        let encodedBytes = output.readableBytes
        let encode = MicroBenchmark(
            "frame.encode",
            notes: "writeFrame(_:message:) HealthResponse, \(encodedBytes) bytes"
        ) {
            output.clear()
            output.writeFrame(FrameHeader(type: .response, stream: 7), message: health)
            blackHole(output.writerIndex)
        }
        return [decode, encode]
    }

    // MARK: Request messages

    static func requestMessageBenchmarks() throws -> [MicroBenchmark] {
        let credentials = Credentials(apiKey: sampleAPIKey)
        let chat = sampleConversation
        let chatCharacters = chat.reduce(0) { $0 + $1.content.count }
        let chatNote = "\(chat.count) messages, \(MicroReport.grouped(chatCharacters)) chars"
        return try messageBenchmarks(name: "HealthRequest", note: "empty", HealthRequest())
            + messageBenchmarks(
                name: "RouteRequest",
                note: chatNote,
                RouteRequest(
                    credentials: credentials,
                    messages: chat,
                    model: "auto",
                    preference: .cost,
                    maxTokens: 1_024,
                    providers: ["together", "groq"]
                )
            )
            + messageBenchmarks(
                name: "CompleteRequest",
                note: chatNote,
                CompleteRequest(
                    credentials: credentials,
                    messages: chat,
                    model: "auto",
                    preference: .balanced,
                    maxTokens: 1_024,
                    temperature: 0.7,
                    topP: 0.95,
                    stop: ["\n\nUser:"],
                    providers: ["together", "fireworks", "groq"]
                )
            )
            + messageBenchmarks(
                name: "UsageRequest",
                note: "2 group_by, list_requests",
                UsageRequest(
                    credentials: credentials,
                    accountId: "acc_7Hq2Lw9xKp3Rt5Vb",
                    fromDay: 20_089,
                    toDay: 20_119,
                    groupBy: [.day, .model],
                    listRequests: true,
                    limit: 100
                )
            )
            + messageBenchmarks(
                name: "AccountRequest",
                note: "op create",
                AccountRequest(
                    credentials: Credentials(adminToken: "3f9a1c7e5b2d8f604a1e9c3b7d5f2a8e"),
                    op: .create(
                        Account(
                            name: "Ada Lovelace",
                            email: "ada.lovelace@example.com",
                            avatarUrl: "https://avatars.example.com/u/1815?v=4",
                            oauthProvider: "github",
                            oauthSubject: "1815",
                            plan: "pro",
                            monthlyBudgetMicroUsd: 50_000_000,
                            rateLimitRpm: 600
                        )
                    )
                )
            )
    }

    /// `proto.encode.<name>` and `proto.decode.<name>` through the `WireMessage` API.
    static func messageBenchmarks<Message: WireMessage>(
        name: String,
        note: String,
        _ message: Message
    ) throws -> [MicroBenchmark] {
        var output = ByteBufferAllocator().buffer(capacity: 4_096)
        message.encode(into: &output)
        let encoded = output
        guard try Message(decoding: encoded) == message else {
            throw MicroError("\(name) does not survive an encode and decode")
        }
        let sizeNote = "\(note), \(MicroReport.grouped(encoded.readableBytes)) bytes"
        let encode = MicroBenchmark("proto.encode.\(name)", notes: sizeNote) {
            output.clear()
            message.encode(into: &output)
            blackHole(output.writerIndex)
        }
        let decode = MicroBenchmark("proto.decode.\(name)", notes: sizeNote) {
            blackHole(try Message(decoding: encoded))
        }
        return [encode, decode]
    }

    /// The shape of a real key ("plt_" and 44 base62 characters); never stored anywhere.
    static let sampleAPIKey = "plt_" + String(String(repeating: "k3Jq9ZxW2pLm8Rt4", count: 3).prefix(44))

    /// A system prompt, a question with code and an earlier answer: 2,000 characters in all.
    static let sampleConversation: [ChatMessage] = [
        ChatMessage(
            role: "system",
            content: text(
                "You are a careful senior engineer. Answer concisely, show code when it helps, "
                    + "and say so when you are unsure. ",
                length: 200
            )
        ),
        ChatMessage(
            role: "assistant",
            content: text(
                "The loop re-reads the whole file on every request, so the cost grows with the log; "
                    + "keep an index instead. ",
                length: 500
            )
        ),
        ChatMessage(
            role: "user",
            content: text(
                """
                Why is this slow, and how do I fix it?
                func lookup(_ id: String) throws -> Record? {
                    for line in try String(contentsOfFile: path).split(separator: "\\n") {
                        let record = try JSONDecoder().decode(Record.self, from: Data(line.utf8))
                        if record.id == id { return record }
                    }
                    return nil
                }

                """,
                length: 1_300
            )
        ),
    ]

    /// `seed` repeated and cut to exactly `length` characters.
    static func text(_ seed: String, length: Int) -> String {
        String(String(repeating: seed, count: length / seed.count + 1).prefix(length))
    }
}

/// A benchmark that could not be set up or whose op failed.
struct MicroError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
