import PelletClient
import PelletServer
import PelletTesting
import PelletWire
import XCTest

/// TLS and mutual TLS on the TCP listener, with certificates made by `openssl` for each test.
final class TLSTests: XCTestCase {
    private var directory: TemporaryDirectory!
    /// The server's certificate and a client certificate, both signed by one CA.
    private var certificates: TestCertificates!
    /// Another CA, unrelated to the first, with its own certificates.
    private var stranger: TestCertificates!

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
        certificates = try TestCertificates(in: directory)
        stranger = try TestCertificates(in: directory, prefix: "stranger")
    }

    private func startServer(mutual: Bool = false, allowedNames: Set<String> = []) async throws -> TestServer {
        let tls = try ServerTLS(
            files: .init(
                certificate: certificates.serverCertificate, privateKey: certificates.serverKey,
                clientCA: mutual ? certificates.caCertificate : nil, allowedNames: allowedNames))
        return try await TestServer.start(configure: { $0.tls = tls })
    }

    func testACallOverTLSAndTheUnixSocketStaysPlaintext() async throws {
        let server = try await startServer()

        let client = try await PelletClient.connect(to: server.tlsAddress, tls: certificates.clientTLS())
        let health = try await client.health()
        XCTAssertFalse(health.version.isEmpty)
        _ = try await client.ping()
        await client.close()

        let plain = try await server.client(server.unixAddress)
        _ = try await plain.health()
        await plain.close()
        await server.shutdown()
    }

    func testMutualTLSRefusesAClientWithoutACertificate() async throws {
        let server = try await startServer(mutual: true)

        await assertRefused(
            server.tlsAddress, tls: certificates.clientTLS(), messageContains: "refused this client's certificate")
        await server.shutdown()
    }

    func testMutualTLSRefusesAClientCertificateOfAnotherCA() async throws {
        let server = try await startServer(mutual: true)

        var tls = stranger.clientTLS(presentingCertificate: true)
        tls.trustedCA = certificates.caCertificate
        await assertRefused(server.tlsAddress, tls: tls, messageContains: "refused this client's certificate")
        await server.shutdown()
    }

    /// Any certificate the CA signed, and with allowed names one that carries one of them.
    func testMutualTLSAcceptsAClientOfTheCAAndAllowedNamesByURIOrCommonName() async throws {
        let allowedNameSets: [Set<String>] = [[], ["spiffe://pellet.test/test-client", "someone-else"], ["test-client"]]
        for allowedNames in allowedNameSets {
            let server = try await startServer(mutual: true, allowedNames: allowedNames)
            let client = try await PelletClient.connect(
                to: server.tlsAddress, tls: certificates.clientTLS(presentingCertificate: true))
            _ = try await client.health()
            await client.close()
            await server.shutdown()
        }
    }

    func testAllowedNamesRefuseAClientOfTheCAWithAnotherName() async throws {
        let server = try await startServer(mutual: true, allowedNames: ["spiffe://pellet.test/someone-else"])

        do {
            let client = try await PelletClient.connect(
                to: server.tlsAddress, tls: certificates.clientTLS(presentingCertificate: true))
            await client.close()
            XCTFail("a client certificate without an allowed name must be refused")
        } catch {
            XCTAssertEqual(error.status, .permissionDenied, error.message)
            XCTAssertEqual(
                error.message,
                "this client's certificate (test-client, spiffe://pellet.test/test-client) is not among the server's "
                    + "--tls-allowed-names")
        }
        await server.shutdown()
    }

    func testAClientThatTrustsAnotherCARefusesTheServer() async throws {
        let server = try await startServer()

        await assertRefused(server.tlsAddress, tls: stranger.clientTLS(), messageContains: "is not trusted")
        await server.shutdown()
    }

    func testAPlaintextClientOnTheTLSPortIsToldQuickly() async throws {
        let server = try await startServer()

        let started = ContinuousClock.now
        do {
            let client = try await PelletClient.connect(to: server.tcpAddress)
            await client.close()
            XCTFail("a plaintext client must not get through to the TLS port")
        } catch {
            XCTAssertEqual(error.status, .failedPrecondition)
            XCTAssertTrue(error.message.contains("the server expects TLS"), error.message)
        }
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(1))
        await server.shutdown()
    }

    func testATLSClientOnAPlaintextPortIsToldQuickly() async throws {
        let server = try await TestServer.start()

        let started = ContinuousClock.now
        await assertRefused(server.tlsAddress, tls: certificates.clientTLS(), messageContains: "does not speak TLS")
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(1))
        await server.shutdown()
    }

    func testAMissingCertificateFileIsNamed() throws {
        XCTAssertThrowsError(
            try ServerTLS(files: .init(certificate: directory.file("missing.pem"), privateKey: certificates.serverKey))
        ) { error in
            XCTAssertTrue("\(error)".contains("missing.pem"), "\(error)")
        }
    }

    private func assertRefused(
        _ address: PelletAddress, tls: ClientTLSOptions, messageContains expected: String,
        file: StaticString = #filePath, line: UInt = #line
    ) async {
        do {
            let client = try await PelletClient.connect(to: address, tls: tls)
            // In TLS 1.3 the server judges the client's certificate after the client has
            // finished its handshake: the refusal may arrive with the first answer.
            _ = try await client.health()
            await client.close()
            XCTFail("the connection to \(address) should have been refused", file: file, line: line)
        } catch {
            XCTAssertEqual(error.status, .unavailable, error.message, file: file, line: line)
            XCTAssertTrue(error.message.contains(expected), error.message, file: file, line: line)
        }
    }
}
