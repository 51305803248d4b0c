import NIOCore
import NIOSSL
import PelletWire
import Synchronization

/// TLS for the TCP listeners: the certificate and key the server presents and, for mutual TLS,
/// the CA every client's certificate must be signed by. The Unix socket stays plaintext.
///
/// `reload()` reads the files again (SIGHUP in pelletd): connections accepted afterwards use
/// the new certificate; open ones keep the context they began with.
public final class ServerTLS: Sendable {
    public struct Files: Sendable, Hashable {
        /// PEM: the server's certificate, then any intermediates.
        public var certificate: String
        /// PEM: its private key.
        public var privateKey: String
        /// PEM: the CA that signs client certificates; nil: clients present none.
        public var clientCA: String?

        public init(certificate: String, privateKey: String, clientCA: String? = nil) {
            self.certificate = certificate
            self.privateKey = privateKey
            self.clientCA = clientCA
        }
    }

    public let files: Files
    private let context: Mutex<NIOSSLContext>

    /// Reads the files; throws a message naming the file that could not be used.
    public init(files: Files) throws(ServerStartError) {
        self.files = files
        self.context = Mutex(try Self.makeContext(files))
    }

    /// Reads the files again; on failure the current certificate stays in use.
    public func reload() throws(ServerStartError) {
        let fresh = try Self.makeContext(files)
        context.withLock { $0 = fresh }
    }

    /// The handlers that go in front of the frame decoder on a new TCP connection.
    func makeHandlers() -> [any ChannelHandler] {
        [TLSFirstByteCheck(), NIOSSLServerHandler(context: context.withLock { $0 })]
    }

    private static func makeContext(_ files: Files) throws(ServerStartError) -> NIOSSLContext {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMFile(files.certificate)
        } catch {
            throw ServerStartError("cannot use the TLS certificate \(files.certificate): \(error)")
        }
        guard !chain.isEmpty else {
            throw ServerStartError("the TLS certificate file \(files.certificate) holds no PEM certificate")
        }
        do {
            key = try NIOSSLPrivateKey(file: files.privateKey, format: .pem)
        } catch {
            throw ServerStartError("cannot use the TLS private key \(files.privateKey): \(error)")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        if let clientCA = files.clientCA {
            let roots: [NIOSSLCertificate]
            do {
                roots = try NIOSSLCertificate.fromPEMFile(clientCA)
            } catch {
                throw ServerStartError("cannot use the TLS client CA \(clientCA): \(error)")
            }
            guard !roots.isEmpty else {
                throw ServerStartError("the TLS client CA file \(clientCA) holds no PEM certificate")
            }
            configuration.trustRoots = .certificates(roots)
            // Clients are identified by their certificate, not by a host name.
            configuration.certificateVerification = .noHostnameVerification
        }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw ServerStartError(
                "cannot use the TLS certificate \(files.certificate) with the key \(files.privateKey): \(error)")
        }
    }
}

/// A TLS connection starts with a handshake record (0x16). A plaintext Pellet client on the TLS
/// port would otherwise get TLS alert bytes it cannot read, or nothing; it gets a GOAWAY it can
/// read instead, naming the problem, and the connection closes at once.
final class TLSFirstByteCheck: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let handshakeRecord: UInt8 = 0x16

    private var isRefused = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !isRefused else { return }  // the rest of the plaintext client's bytes
        let buffer = unwrapInboundIn(data)
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return }
        if first == Self.handshakeRecord {
            context.fireChannelRead(data)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        let error = RPCError(
            .failedPrecondition,
            "the server expects TLS on this port: connect with tls://HOST:PORT and --tls-ca")
        isRefused = true
        RefusedConnectionHandler.refuse(context: context, error: error)
    }
}
