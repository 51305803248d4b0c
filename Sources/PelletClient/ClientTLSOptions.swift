import NIOCore
import NIOSSL
import PelletWire

/// What a client on a `tls://` address trusts and, for mutual TLS, presents.
public struct ClientTLSOptions: Sendable, Hashable {
    /// PEM: the CA that signs the server's certificate; nil: the system's trust roots.
    public var trustedCA: String?
    /// PEM: the client's certificate, for a server that requires one (mutual TLS).
    public var certificate: String?
    /// PEM: the private key of `certificate`.
    public var privateKey: String?

    public init(trustedCA: String? = nil, certificate: String? = nil, privateKey: String? = nil) {
        self.trustedCA = trustedCA
        self.certificate = certificate
        self.privateKey = privateKey
    }

    /// Reads the files; INVALID_ARGUMENT naming the file that could not be used.
    func makeContext() throws(RPCError) -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        if let trustedCA {
            configuration.trustRoots = .certificates(try Self.certificates(trustedCA, what: "CA"))
        }
        switch (certificate, privateKey) {
        case (nil, nil):
            break
        case (let certificate?, let privateKey?):
            configuration.certificateChain = try Self.certificates(certificate, what: "certificate").map {
                .certificate($0)
            }
            do {
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: privateKey, format: .pem))
            } catch {
                throw RPCError(.invalidArgument, "cannot use the TLS private key \(privateKey): \(error)")
            }
        default:
            throw RPCError(.invalidArgument, "a TLS client certificate and its private key go together: give both")
        }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw RPCError(.invalidArgument, "cannot set up TLS with these files: \(error)")
        }
    }

    private static func certificates(_ path: String, what: String) throws(RPCError) -> [NIOSSLCertificate] {
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(path)
        } catch {
            throw RPCError(.invalidArgument, "cannot use the TLS \(what) \(path): \(error)")
        }
        guard !certificates.isEmpty else {
            throw RPCError(.invalidArgument, "the TLS \(what) file \(path) holds no PEM certificate")
        }
        return certificates
    }

    /// The host name to send as SNI and check the certificate against; nil for an IP literal,
    /// whose certificate is checked against the address connected to.
    static func serverHostname(_ host: String) -> String? {
        (try? SocketAddress(ipAddress: host, port: 0)) == nil ? host : nil
    }

    /// Whether `error` comes from the TLS layer (NIOSSL or BoringSSL).
    static func isTLSError(_ error: any Error) -> Bool {
        error is NIOSSLError || error is BoringSSLError
    }

    /// A client-side reason for a failed TLS connection. BoringSSL's own text carries a source
    /// path; its reason code (CERTIFICATE_VERIFY_FAILED and the like) is what tells the cases apart.
    static func describe(_ error: any Error, address: PelletAddress) -> String {
        let text = "\(error)"
        let reason = text.firstMatch(of: #/OPENSSL_internal:([A-Z0-9_]+)/#).map { String($0.1) } ?? text
        switch reason {
        case "WRONG_VERSION_NUMBER", "HTTP_REQUEST", "RECORD_TOO_LARGE", "PACKET_LENGTH_TOO_LONG":
            return "\(address) does not speak TLS (is it a plaintext tcp:// port?)"
        case "CERTIFICATE_VERIFY_FAILED":
            return "the certificate of \(address) is not trusted (check --tls-ca): \(reason)"
        case "TLSV1_ALERT_CERTIFICATE_REQUIRED", "SSLV3_ALERT_BAD_CERTIFICATE", "TLSV1_ALERT_UNKNOWN_CA",
            "SSLV3_ALERT_HANDSHAKE_FAILURE", "TLSV1_ALERT_ACCESS_DENIED":
            return "\(address) refused this client's certificate (mutual TLS: check --tls-cert and --tls-key): \(reason)"
        default:
            return "connection to \(address) failed in TLS: \(reason)"
        }
    }
}
