import Foundation
import PelletClient

/// A CA of its own and a server and a client certificate it signed, made with `openssl` in a
/// directory, for TLS tests. The server certificate names 127.0.0.1 and localhost.
public struct TestCertificates: Sendable {
    public let caCertificate: String
    public let serverCertificate: String
    public let serverKey: String
    public let clientCertificate: String
    public let clientKey: String

    /// Writes `<prefix>-ca.pem`, `<prefix>-server.pem` and so on into `directory`: two calls with
    /// different prefixes make two unrelated CAs.
    public init(in directory: TemporaryDirectory, prefix: String = "test") throws {
        let file = { (name: String) in directory.file("\(prefix)-\(name)") }
        caCertificate = file("ca.pem")
        serverCertificate = file("server.pem")
        serverKey = file("server.key")
        clientCertificate = file("client.pem")
        clientKey = file("client.key")
        let caKey = file("ca.key")
        // P-256 keys: made in milliseconds, where RSA takes a noticeable part of a second.
        let newKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try Self.openssl(["req", "-x509"] + newKey + ["-keyout", caKey, "-out", caCertificate, "-days", "2", "-subj", "/CN=\(prefix) CA"])
        try Self.sign(
            key: serverKey, certificate: serverCertificate, subject: "/CN=localhost",
            extensions: "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
            caCertificate: caCertificate, caKey: caKey, scratch: file("server"))
        try Self.sign(
            key: clientKey, certificate: clientCertificate, subject: "/CN=\(prefix)-client",
            extensions: "subjectAltName=URI:spiffe://pellet.test/\(prefix)-client\nextendedKeyUsage=clientAuth\n",
            caCertificate: caCertificate, caKey: caKey, scratch: file("client"))
    }

    /// A client's options that trust this CA and, with `presentingCertificate`, present this
    /// CA's client certificate (mutual TLS).
    public func clientTLS(presentingCertificate: Bool = false) -> ClientTLSOptions {
        presentingCertificate
            ? ClientTLSOptions(trustedCA: caCertificate, certificate: clientCertificate, privateKey: clientKey)
            : ClientTLSOptions(trustedCA: caCertificate)
    }

    private static func sign(
        key: String, certificate: String, subject: String, extensions: String,
        caCertificate: String, caKey: String, scratch: String
    ) throws {
        let request = scratch + ".csr"
        let extensionFile = scratch + ".ext"
        try Data(extensions.utf8).write(to: URL(fileURLWithPath: extensionFile))
        try openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", request, "-subj", subject])
        try openssl([
            "x509", "-req", "-in", request, "-CA", caCertificate, "-CAkey", caKey, "-CAcreateserial",
            "-out", certificate, "-days", "2", "-extfile", extensionFile,
        ])
    }

    private static func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let output = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CocoaError(
                .fileWriteUnknown,
                userInfo: [
                    NSLocalizedDescriptionKey:
                        "openssl \(arguments.first ?? "") failed: \(String(decoding: output, as: UTF8.self))"
                ])
        }
    }
}
