import PelletWire
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Messages decoded from stored records, each kept with the exact bytes it came from, so that
/// the authentication lookup of every call does not decode the same key and account again.
///
/// Never stale by construction: the caller still reads the record's bytes from LMDB in its own
/// transaction and gets a kept message only when those bytes are equal to the ones it was
/// decoded from; a revoked key, a changed budget or a deleted account is seen at once, because
/// its bytes are different (or gone). The cache only skips protobuf decoding, which allocates
/// the message and each of its strings.
///
/// Bounded: past `capacity` messages it starts over empty (a cheap bound for a set of hot
/// keys that fits many times over).
final class DecodedRecords<Message: WireMessage>: Sendable {
    private struct Entry: Sendable {
        let bytes: [UInt8]
        let message: Message
    }

    /// Hash of the bytes → the message decoded from them. A hash collision is harmless: the
    /// bytes are compared before a message is used, and the newer record replaces the older.
    private let entries = Mutex<[Int: Entry]>([:])
    private let capacity: Int

    init(capacity: Int = 4_096) {
        self.capacity = max(1, capacity)
    }

    /// The message `bytes` decode to: kept from an earlier decode of the same bytes, or
    /// decoded now (and kept).
    func message(decoding bytes: UnsafeRawBufferPointer) throws(MessageDecodingError) -> Message {
        guard !bytes.isEmpty else { return try Message(decoding: bytes) }
        var hasher = Hasher()
        hasher.combine(bytes: bytes)
        let hash = hasher.finalize()
        let kept = entries.withLock { entries -> Message? in
            guard let entry = entries[hash], entry.bytes.count == bytes.count,
                entry.bytes.withUnsafeBytes({ memcmp($0.baseAddress!, bytes.baseAddress!, bytes.count) }) == 0
            else { return nil }
            return entry.message
        }
        if let kept { return kept }
        let message = try Message(decoding: bytes)
        let entry = Entry(bytes: Array(bytes), message: message)
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[hash] = entry
        }
        return message
    }

    /// How many messages are kept (tests).
    var count: Int { entries.withLock { $0.count } }
}

extension ReadTransaction {
    /// ``message(_:_:key:)`` through `cache`: the stored bytes are read as always, and decoded
    /// only if `cache` has not decoded the same bytes before.
    func message<Message: WireMessage>(
        _ database: Database,
        key: some StoreKey,
        cache: DecodedRecords<Message>
    ) throws -> Message? {
        try withValue(database, key: key) { bytes in
            do {
                return try cache.message(decoding: bytes)
            } catch {
                throw StoreError.corruptRecord(table: database.name, error)
            }
        }
    }
}
