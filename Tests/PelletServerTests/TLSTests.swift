import PelletClient
import PelletServer
import PelletTesting
import PelletWire
import XCTest

/// TLS and mutual TLS on the TCP listener, with certificates made by `openssl` for each test.
final class TLSTests: XCTestCase {
    private func startServer(
        _ certificates: TestCertificates, clientCA: String? = nil
    ) async throws -> TestServer {
        let tls = try ServerTLS(
            files: .init(
                certificate: certificates.serverCertificate, privateKey: certificates.serverKey, clientCA: clientCA))
        return try await TestServer.start(configure: { $0.tls = tls })
    }

    func testACallOverTLSAndTheUnixSocketStaysPlaintext() async throws {
        let directory = try TemporaryDirectory()
        let certificates = try TestCertificates(in: directory)
        let server = try await startServer(certificates)

        let client = try await PelletClient.connect(
            to: server.tlsAddress, tls: ClientTLSOptions(trustedCA: certificates.caCertificate))
        let health = try await client.health()
        XCTAssertFalse(health.version.isEmpty)
        _ = try await client.ping()
        await client.close()

        let plain = try await server.client(server.unixAddress)
        _ = try await plain.health()
        await plain.close()
        await server.shutdown()
    }

    func testMutualTLSAcceptsAClientCertificateSignedByTheCA() async throws {
        let directory = try TemporaryDirectory()
        let certificates = try TestCertificates(in: directory)
        let server = try await startServer(certificates, clientCA: certificates.caCertificate)

        let client = try await PelletClient.connect(
            to: server.tlsAddress,
            tls: ClientTLSOptions(
                trustedCA: certificates.caCertificate,
                certificate: certificates.clientCertificate,
                privateKey: certificates.clientKey))
        _ = try await client.health()
        await client.close()
        await server.shutdown()
    }

    func testMutualTLSRefusesAClientWithoutACertificate() async throws {
        let directory = try TemporaryDirectory()
        let certificates = try TestCertificates(in: directory)
        let server = try await startServer(certificates, clientCA: certificates.caCertificate)

        await assertRefused(
            server.tlsAddress, tls: ClientTLSOptions(trustedCA: certificates.caCertificate),
            messageContains: "refused this client's certificate")
        await server.shutdown()
    }

    func testMutualTLSRefusesAClientCertificateOfAnotherCA() async throws {
        let directory = try TemporaryDirectory()
        let certificates = try TestCertificates(in: directory)
        let stranger = try TestCertificates(in: directory, prefix: "stranger")
        let server = try await startServer(certificates, clientCA: certificates.caCertificate)

        await assertRefused(
            server.tlsAddress,
            tls: ClientTLSOptions(
                trustedCA: certificates.caCertificate,
                certificate: stranger.clientCertificate,
                privateKey: stranger.clientKey),
            messageContains: "refused this client's certificate")
        await server.shutdown()
    }

    func testAClientThatTrustsAnotherCARefusesTheServer() async throws {
        let directory = try TemporaryDirectory()
        let certificates = try TestCertificates(in: directory)
        let stranger = try TestCertificates(in: directory, prefix: "stranger")
        let server = try await startServer(certificates)

        await assertRefused(
            server.tlsAddress, tls: ClientTLSOptions(trustedCA: stranger.caCertificate),
            messageContains: "is not trusted")
        await server.shutdown()
    }

    func testAPlaintextClientOnTheTLSPortIsToldQuickly() async throws {
        let directory = try TemporaryDirectory()
        let certificates = try TestCertificates(in: directory)
        let server = try await startServer(certificates)

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
        let directory = try TemporaryDirectory()
        let certificates = try TestCertificates(in: directory)
        let server = try await TestServer.start()

        let started = ContinuousClock.now
        await assertRefused(
            server.tlsAddress, tls: ClientTLSOptions(trustedCA: certificates.caCertificate),
            messageContains: "does not speak TLS")
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(1))
        await server.shutdown()
    }

    func testAMissingCertificateFileIsNamed() throws {
        XCTAssertThrowsError(
            try ServerTLS(files: .init(certificate: "/nonexistent/server.pem", privateKey: "/nonexistent/server.key"))
        ) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent/server.pem"), "\(error)")
        }
    }

    private func assertRefused(
        _ address: PelletAddress, tls: ClientTLSOptions, messageContains expected: String,
        file: StaticString = #filePath, line: UInt = #line
    ) async {
        do {
            let client = try await PelletClient.connect(to: address, tls: tls)
            // In TLS 1.3 the server judges the client's certificate after the client has
            // finished its handshake: the refusal arrives with the first answer.
            _ = try await client.health()
            await client.close()
            XCTFail("the connection to \(address) should have been refused", file: file, line: line)
        } catch {
            XCTAssertEqual(error.status, .unavailable, error.message, file: file, line: line)
            XCTAssertTrue(error.message.contains(expected), error.message, file: file, line: line)
        }
    }
}
