import Foundation
import NIOCore
import PelletWire
import XCTest

/// Random and mutated bytes for every decoder: none may crash, and each must fail only in the
/// way its contract allows.
///
/// Split: every message decoder gets the same 100,000 byte strings (three in four random with
/// lengths 0-256, one in four a mutation of a valid encoding of some message). The frame
/// decoder gets those 100,000 strings twice, as they are and after a valid preface, plus 20,000
/// mutated sequences of valid frames, which are what reach its header and payload paths. About
/// 20 s in a debug build on 2 cores (12 s of it the 2.5 million message decodes).
///
/// Reproduce a failure with PELLET_FUZZ_SEED=<seed printed with it>; PELLET_FUZZ_COUNT changes
/// the number of strings.
final class FuzzTests: XCTestCase {
    private static let seed: UInt64 = {
        let text = ProcessInfo.processInfo.environment["PELLET_FUZZ_SEED"] ?? ""
        return UInt64(text.hasPrefix("0x") ? String(text.dropFirst(2)) : text, radix: text.hasPrefix("0x") ? 16 : 10)
            ?? 0x5EED_0000_CAFE_F00D
    }()
    private static let count = Int(ProcessInfo.processInfo.environment["PELLET_FUZZ_COUNT"] ?? "") ?? 100_000

    /// Valid encodings to mutate: every sample of every message, cut to 512 bytes (the long
    /// samples only add copying time past that).
    private static let validEncodings: [[UInt8]] = messageCatalogue.flatMap { kind in
        kind.samples.map { Array(kind.encode($0).prefix(512)) }
    }

    /// The `index`-th input: a function of the seed and the index only, so that one case can be
    /// rebuilt alone.
    private static func input(_ index: Int) -> [UInt8] {
        var random = SplitMix64(seed: seed ^ (UInt64(index) &* 0xD1B5_4A32_D192_ED03))
        if random.next() % 4 != 0 {
            return random.bytes(count: Int(random.next() % 257))
        }
        let original = validEncodings[Int(random.next() % UInt64(validEncodings.count))]
        return mutate(original, &random)
    }

    private static func mutate(_ original: [UInt8], _ random: inout SplitMix64) -> [UInt8] {
        var bytes = original
        for _ in 0...(random.next() % 4) {
            let position = bytes.isEmpty ? 0 : Int(random.next() % UInt64(bytes.count))
            switch random.next() % 7 {
            case 0 where !bytes.isEmpty: bytes[position] ^= UInt8(1) << (random.next() % 8)
            case 1 where !bytes.isEmpty: bytes[position] = [0x00, 0x7F, 0x80, 0xFF][Int(random.next() % 4)]
            case 2 where !bytes.isEmpty: bytes[position] = UInt8(truncatingIfNeeded: random.next())
            case 3: bytes.insert(UInt8(truncatingIfNeeded: random.next()), at: position)
            case 4 where !bytes.isEmpty: bytes.remove(at: position)
            case 5: bytes = Array(bytes.prefix(position))
            default:
                let end = min(bytes.count, position + Int(random.next() % 16))
                bytes.insert(contentsOf: bytes[position..<end], at: position)
            }
        }
        return bytes
    }

    private func describe(_ index: Int, _ bytes: [UInt8]) -> String {
        let seed = "0x" + String(Self.seed, radix: 16)
        return "seed \(seed) case \(index) (rerun with PELLET_FUZZ_SEED=\(seed)): \(hex(bytes))"
    }

    // MARK: - Message decoders

    func testRandomBytesIntoEveryMessageDecoder() {
        let start = Date()
        var decodedCounts = [Int](repeating: 0, count: messageCatalogue.count)
        var failures = 0
        for index in 0..<Self.count {
            let bytes = Self.input(index)
            for (kindIndex, kind) in messageCatalogue.enumerated() {
                let result = bytes.withUnsafeBytes { raw in
                    Result { () throws(MessageDecodingError) in try kind.decode(raw) }
                }
                guard case .success(let message) = result else { continue }
                decodedCounts[kindIndex] += 1
                // What decodes must encode to bytes that decode to the same encoding again
                // (compared as bytes: a NaN float is not == itself).
                let encoded = kind.encode(message)
                let again = try? kind.decodeBytes(encoded)
                if again.map(kind.encode) != encoded {
                    failures += 1
                    if failures <= 10 {
                        XCTFail("\(kind.protoName) does not re-encode stably: \(describe(index, bytes))")
                    }
                }
            }
        }
        let seconds = Date().timeIntervalSince(start)
        print(
            "fuzz: \(Self.count) strings into \(messageCatalogue.count) message decoders in "
                + "\(String(format: "%.1f", seconds)) s; "
                + "decoded: "
                + zip(messageCatalogue, decodedCounts).map { "\($0.protoName) \($1)" }.joined(separator: ", ")
        )
        // Every decoder saw inputs it accepted as well as ones it refused.
        for (kind, decoded) in zip(messageCatalogue, decodedCounts) where Self.count >= 10_000 {
            XCTAssertGreaterThan(decoded, 0, "\(kind.protoName) accepted nothing")
            XCTAssertLessThan(decoded, Self.count, "\(kind.protoName) refused nothing")
        }
    }

    // MARK: - Frame decoder

    func testRandomBytesIntoTheFrameDecoder() {
        let start = Date()
        var outcomes = FrameOutcomes()
        for index in 0..<Self.count {
            let bytes = Self.input(index)
            var random = SplitMix64(seed: Self.seed ^ UInt64(index))
            check(bytes, maxPayloadBytes: 4 << 20, &random, &outcomes, index)
            check(Preface.bytes + bytes, maxPayloadBytes: 256, &random, &outcomes, index)
        }
        let randomSeconds = Date().timeIntervalSince(start)
        for index in 0..<(Self.count / 5) {
            var random = SplitMix64(seed: Self.seed &+ 0x1000_0000 &+ UInt64(index))
            let bytes = frameSequence(&random)
            check(bytes, maxPayloadBytes: [64, 4 << 20][Int(random.next() % 2)], &random, &outcomes, index)
        }
        let seconds = Date().timeIntervalSince(start)
        print(
            "fuzz: frame decoder in \(String(format: "%.1f", seconds)) s "
                + "(random strings \(String(format: "%.1f", randomSeconds)) s): \(outcomes)"
        )
        if Self.count >= 10_000 {
            XCTAssertGreaterThan(outcomes.frames, 1_000)
            XCTAssertGreaterThan(outcomes.waiting, 1_000)
            for status: Status in [.invalidArgument, .unimplemented, .resourceExhausted] {
                XCTAssertGreaterThan(outcomes.errors[status, default: 0], 100, "\(status)")
            }
        }
    }

    /// What the frame decoder may throw: bad preface, other version, unknown type, oversize.
    private static let frameDecoderStatuses: Set<Status> = [.invalidArgument, .unimplemented, .resourceExhausted]

    private struct FrameOutcomes: CustomStringConvertible {
        var frames = 0
        var waiting = 0
        var errors: [Status: Int] = [:]
        var failures = 0
        var description: String {
            "\(frames) frames, \(waiting) inputs ending in a wait, errors "
                + errors.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key) \($0.value)" }.joined(
                    separator: ", "
                )
        }
    }

    /// A preface and 1-5 well-formed frames, then (usually) mutated.
    private func frameSequence(_ random: inout SplitMix64) -> [UInt8] {
        var buffer = ByteBufferAllocator().buffer(capacity: 256)
        buffer.writeBytes(Preface.bytes)
        for _ in 0...(random.next() % 5) {
            let header = FrameHeader(
                type: FrameType(rawValue: UInt8(1 + random.next() % 8))!,
                flags: UInt8(truncatingIfNeeded: random.next() % 3),
                method: UInt16(random.next() % 7),
                stream: UInt32(random.next() % 4),
                value: UInt32(truncatingIfNeeded: random.next())
            )
            buffer.writeFrame(header, payload: byteBuffer(random.bytes(count: Int(random.next() % 80))))
        }
        let bytes = buffer.readableByteArray
        return random.next() % 4 == 0 ? bytes : Self.mutate(bytes, &random)
    }

    /// Decodes `bytes` in one piece and again in random chunks, checking after every step that
    /// the decoder returned an item, asked for more without consuming anything, or threw a
    /// connection error; and that both deliveries agree.
    private func check(
        _ bytes: [UInt8],
        maxPayloadBytes: Int,
        _ random: inout SplitMix64,
        _ outcomes: inout FrameOutcomes,
        _ index: Int
    ) {
        func fail(_ reason: String) {
            outcomes.failures += 1
            if outcomes.failures <= 10 { XCTFail("\(reason): \(describe(index, bytes))") }
        }

        // One piece.
        var decoder = FrameDecoder(maxPayloadBytes: maxPayloadBytes)
        var buffer = byteBuffer(bytes)
        var items: [InboundFrame] = []
        var oneShotError: Status?
        while true {
            let before = buffer.readerIndex
            let item: InboundFrame?
            do {
                item = try decoder.next(from: &buffer)
            } catch {
                if !Self.frameDecoderStatuses.contains(error.status) {
                    fail("unexpected connection error \(error)")
                }
                oneShotError = error.status
                outcomes.errors[error.status, default: 0] += 1
                break
            }
            let consumed = buffer.readerIndex - before
            switch item {
            case nil:
                if consumed != 0 { fail("asked for more data but consumed \(consumed) bytes") }
                outcomes.waiting += 1
            case .preface:
                if !items.isEmpty || consumed != 4 || Array(bytes[before..<before + 4]) != Preface.bytes {
                    fail("a preface that is not one")
                }
            case .frame(let frame):
                outcomes.frames += 1
                if items.isEmpty { fail("a frame before the preface") }
                if consumed != FrameHeader.size + frame.payload.readableBytes {
                    fail("consumed \(consumed) bytes for \(frame)")
                }
                if Int(frame.header.length) != frame.payload.readableBytes { fail("length does not match the payload") }
                if Int(frame.header.length) > maxPayloadBytes { fail("a frame over the limit") }
                if !frame.header.matches(bytes[before..<before + 16]) { fail("header fields differ from the bytes") }
                if frame.payload.readableByteArray != Array(bytes[(before + 16)..<(before + consumed)]) {
                    fail("payload differs")
                }
            }
            guard let item else { break }
            items.append(item)
        }

        // Random chunks: the same items and the same error.
        var chunked = FrameDecoder(maxPayloadBytes: maxPayloadBytes)
        var stream = ByteBufferAllocator().buffer(capacity: bytes.count)
        var chunkedItems: [InboundFrame] = []
        var chunkedError: Status?
        var offset = 0
        delivery: while offset < bytes.count {
            let size = 1 + Int(random.next() % 48)
            stream.writeBytes(bytes[offset..<min(bytes.count, offset + size)])
            offset += size
            do {
                while let item = try chunked.next(from: &stream) { chunkedItems.append(item) }
            } catch {
                chunkedError = error.status
                break delivery
            }
        }
        if chunkedItems != items || chunkedError != oneShotError {
            fail(
                "chunked delivery gave \(chunkedItems.count) items and \(String(describing: chunkedError)), "
                    + "one piece \(items.count) items and \(String(describing: oneShotError))"
            )
        }
    }
}

extension FrameHeader {
    /// Whether these fields are the big-endian header `bytes` (16 of them).
    fileprivate func matches(_ bytes: ArraySlice<UInt8>) -> Bool {
        func integer(_ offset: Int, _ size: Int) -> UInt32 {
            bytes.dropFirst(offset).prefix(size).reduce(0) { $0 << 8 | UInt32($1) }
        }
        return integer(0, 4) == length && integer(4, 1) == UInt32(type.rawValue) && integer(5, 1) == UInt32(flags)
            && integer(6, 2) == UInt32(method) && integer(8, 4) == stream && integer(12, 4) == value
    }
}
