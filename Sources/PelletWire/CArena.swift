import CPelletProto

/// Memory for one protobuf-c struct tree while it is packed: every string, array and nested
/// struct is carved out of a few malloc'd blocks and freed together when the arena goes away.
///
/// A bump allocator keeps encoding to one or two mallocs for a typical message instead of one
/// per field.
final class CArena {
    private static let blockSize = 4096
    private var blocks: [UnsafeMutableRawPointer] = []
    private var cursor: UnsafeMutableRawPointer?
    private var remaining = 0

    init() {}

    deinit {
        for block in blocks { block.deallocate() }
    }

    /// Zero-filled bytes, aligned for any C scalar or pointer.
    func allocateBytes(_ count: Int) -> UnsafeMutableRawPointer {
        let alignment = 16
        let rounded = (max(count, 1) + alignment - 1) & ~(alignment - 1)
        if rounded > remaining {
            let size = max(rounded, Self.blockSize)
            let block = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: alignment)
            blocks.append(block)
            cursor = block
            remaining = size
        }
        let result = cursor!
        cursor = result + rounded
        remaining -= rounded
        result.initializeMemory(as: UInt8.self, repeating: 0, count: rounded)
        return result
    }

    func allocate<T>(_ type: T.Type) -> UnsafeMutablePointer<T> {
        allocateBytes(MemoryLayout<T>.stride).bindMemory(to: T.self, capacity: 1)
    }

    /// A NUL-terminated copy. protobuf-c strings are C strings, so text after an embedded NUL is
    /// not sent.
    func cString(_ string: String) -> UnsafeMutablePointer<CChar> {
        var string = string
        return string.withUTF8 { utf8 in
            let out = allocateBytes(utf8.count + 1)
            if let base = utf8.baseAddress { out.copyMemory(from: base, byteCount: utf8.count) }
            return out.bindMemory(to: CChar.self, capacity: utf8.count + 1)
        }
    }

    func binaryData(_ bytes: [UInt8]) -> ProtobufCBinaryData {
        let out = allocateBytes(bytes.count)
        bytes.withUnsafeBytes { if let base = $0.baseAddress { out.copyMemory(from: base, byteCount: bytes.count) } }
        return ProtobufCBinaryData(len: bytes.count, data: out.bindMemory(to: UInt8.self, capacity: bytes.count))
    }

    func array<Element, CElement>(
        _ elements: [Element],
        as type: CElement.Type,
        _ convert: (Element) -> CElement
    ) -> UnsafeMutablePointer<CElement> {
        let out = allocateBytes(MemoryLayout<CElement>.stride * elements.count)
            .bindMemory(to: CElement.self, capacity: elements.count)
        for (index, element) in elements.enumerated() {
            (out + index).initialize(to: convert(element))
        }
        return out
    }
}
