/// The names a client certificate goes by, read from its DER: the subject's common names and
/// the DNS and URI subject alternative names (a SPIFFE id is a URI SAN). `--tls-allowed-names`
/// compares them; NIOSSL exposes only the DER bytes as stable API.
struct CertificateNames: Equatable {
    var commonNames: [String] = []
    var dnsNames: [String] = []
    var uris: [String] = []

    var all: [String] { commonNames + dnsNames + uris }

    private static let commonNameOID: [UInt8] = [0x55, 0x04, 0x03]  // 2.5.4.3
    private static let subjectAlternativeNameOID: [UInt8] = [0x55, 0x1D, 0x11]  // 2.5.29.17

    /// Nil when the bytes are not an X.509 certificate as far as these names are concerned.
    init?(der: [UInt8]) {
        var reader = DERReader(der[...])
        guard let certificate = reader.next(), certificate.tag == 0x30 else { return nil }
        var fields = DERReader(certificate.contents)
        guard var tbs = fields.next().map({ DERReader($0.contents) }) else { return nil }
        // version [0] (optional), serial, signature algorithm, issuer, validity, then subject.
        var element = tbs.next()
        if element?.tag == 0xA0 { element = tbs.next() }
        for _ in 0..<4 { element = tbs.next() }
        guard let subject = element, subject.tag == 0x30 else { return nil }
        var relativeNames = DERReader(subject.contents)
        while let set = relativeNames.next() {
            var attributes = DERReader(set.contents)
            while let attribute = attributes.next() {
                var parts = DERReader(attribute.contents)
                guard let oid = parts.next(), let value = parts.next() else { continue }
                if Array(oid.contents) == Self.commonNameOID { commonNames.append(String(decoding: value.contents, as: UTF8.self)) }
            }
        }
        _ = tbs.next()  // subjectPublicKeyInfo
        while let optional = tbs.next() {
            guard optional.tag == 0xA3 else { continue }  // extensions [3]
            var outer = DERReader(optional.contents)
            guard let sequence = outer.next() else { break }
            var extensions = DERReader(sequence.contents)
            while let `extension` = extensions.next() {
                var parts = DERReader(`extension`.contents)
                guard let oid = parts.next(), Array(oid.contents) == Self.subjectAlternativeNameOID else { continue }
                var value = parts.next()
                if value?.tag == 0x01 { value = parts.next() }  // the critical flag
                guard let octets = value, octets.tag == 0x04 else { continue }
                var inner = DERReader(octets.contents)
                guard let generalNames = inner.next() else { continue }
                var names = DERReader(generalNames.contents)
                while let name = names.next() {
                    let text = String(decoding: name.contents, as: UTF8.self)
                    switch name.tag {
                    case 0x82: dnsNames.append(text)
                    case 0x86: uris.append(text)
                    default: break
                    }
                }
            }
        }
    }
}

/// Reads DER tag-length-value elements one after another; a malformed length ends the reading.
private struct DERReader {
    struct Element {
        var tag: UInt8
        var contents: ArraySlice<UInt8>
    }

    private var bytes: ArraySlice<UInt8>

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
    }

    mutating func next() -> Element? {
        guard bytes.count >= 2 else { return nil }
        var index = bytes.startIndex
        let tag = bytes[index]
        index += 1
        var length = Int(bytes[index])
        index += 1
        if length & 0x80 != 0 {
            let count = length & 0x7F
            guard (1...4).contains(count), bytes.endIndex - index >= count else { return nil }
            length = 0
            for _ in 0..<count {
                length = length << 8 | Int(bytes[index])
                index += 1
            }
        }
        guard bytes.endIndex - index >= length else { return nil }
        let contents = bytes[index..<index + length]
        bytes = bytes[(index + length)...]
        return Element(tag: tag, contents: contents)
    }
}
