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
        /// With `clientCA`: a client certificate must also carry one of these names (subject
        /// CN, DNS SAN or URI SAN, such as a SPIFFE id); empty: any certificate the CA signed.
        public var allowedNames: Set<String>

        public init(certificate: String, privateKey: String, clientCA: String? = nil, allowedNames: Set<String> = []) {
            self.certificate = certificate
            self.privateKey = privateKey
            self.clientCA = clientCA
            self.allowedNames = allowedNames
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
        let handlers: [any ChannelHandler] = [TLSFirstByteCheck(), NIOSSLServerHandler(context: context.withLock { $0 })]
        guard files.clientCA != nil, !files.allowedNames.isEmpty else { return handlers }
        return handlers + [ClientNameCheck(allowedNames: files.allowedNames)]
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

/// Mutual TLS with `allowedNames`: the CA signed the client's certificate (NIOSSL checked that),
/// and it must also name one of the allowed clients. Checked on the first bytes the client sends
/// (its preface), which NIOSSL passes on only once the handshake is complete; a client that is
/// not allowed gets a GOAWAY PERMISSION_DENIED it can read, rather than a bare TLS alert.
final class ClientNameCheck: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let allowedNames: Set<String>
    private var isRefused = false

    init(allowedNames: Set<String>) {
        self.allowedNames = allowedNames
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !isRefused else { return }
        let certificate = try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self).peerCertificate
        let names = (try? certificate?.toDERBytes()).flatMap { CertificateNames(der: $0) }?.all ?? []
        if names.contains(where: allowedNames.contains) {
            context.fireChannelRead(data)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        isRefused = true
        let shown = names.isEmpty ? "no name" : names.joined(separator: ", ")
        let error = RPCError(
            .permissionDenied, "this client's certificate (\(shown)) is not among the server's --tls-allowed-names")
        let goAway = RefusedConnectionHandler.goAway(error, allocator: context.channel.allocator)
        // Through TLS, then closed once written: a half-close would cut the TLS session short.
        context.writeAndFlush(wrapOutboundOut(goAway)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}
