import Foundation
import PelletClient
import PelletTesting
import XCTest

/// pelletd with `--tls-cert/--tls-key/--tls-client-ca/--tls-allowed-names`, reached by pelletctl over tls://.
final class TLSCommandTests: XCTestCase {
    func testPelletctlOverMutualTLSAndSIGHUPReloadsTheCertificate() async throws {
        let directory = try TemporaryDirectory()
        let certificates = try TestCertificates(in: directory)
        let renewed = try TestCertificates(in: directory, prefix: "renewed")
        // pelletd reads its certificate from files that the renewal overwrites.
        let certificateFile = directory.file("live-server.pem")
        let keyFile = directory.file("live-server.key")
        try FileManager.default.copyItem(atPath: certificates.serverCertificate, toPath: certificateFile)
        try FileManager.default.copyItem(atPath: certificates.serverKey, toPath: keyFile)
        // Client certificates signed by either CA are accepted.
        let clientCAs = directory.file("client-cas.pem")
        try (String(contentsOfFile: certificates.caCertificate, encoding: .utf8)
            + String(contentsOfFile: renewed.caCertificate, encoding: .utf8))
            .write(toFile: clientCAs, atomically: true, encoding: .utf8)

        let pelletd = try PelletdProcess.start(arguments: [
            "--tls-cert", certificateFile, "--tls-key", keyFile, "--tls-client-ca", clientCAs,
            "--tls-allowed-names", "spiffe://pellet.test/test-client, spiffe://pellet.test/other",
        ])
        let address = "tls://127.0.0.1:\(pelletd.tcpPort ?? 0)"
        let clientFlags = ["--tls-cert", certificates.clientCertificate, "--tls-key", certificates.clientKey]

        let ping = try pelletctl(["ping", "-c", "1", "--server", address, "--tls-ca", certificates.caCertificate] + clientFlags)
        ping.assertSucceeded()
        XCTAssertTrue(ping.stdout.hasPrefix("PONG from \(address): seq=1 time="), ping.stdout)

        let withoutCertificate = try pelletctl(["health", "--server", address, "--tls-ca", certificates.caCertificate])
        XCTAssertEqual(withoutCertificate.status, 1, withoutCertificate.stderr)
        XCTAssertTrue(withoutCertificate.stderr.contains("refused this client's certificate"), withoutCertificate.stderr)

        let plaintext = try pelletctl("health", "--server", pelletd.tcpAddress)
        XCTAssertEqual(plaintext.status, 1, plaintext.stderr)
        XCTAssertTrue(plaintext.stderr.contains("the server expects TLS"), plaintext.stderr)

        // A connection open across the reload keeps working on the old certificate.
        let open = try await PelletClient.connect(
            to: .tls(host: "127.0.0.1", port: pelletd.tcpPort ?? 0),
            tls: certificates.clientTLS(presentingCertificate: true))
        try FileManager.default.removeItem(atPath: certificateFile)
        try FileManager.default.removeItem(atPath: keyFile)
        try FileManager.default.copyItem(atPath: renewed.serverCertificate, toPath: certificateFile)
        try FileManager.default.copyItem(atPath: renewed.serverKey, toPath: keyFile)
        try pelletd.waitUntilCatching(SIGHUP)
        pelletd.subprocess.signal(SIGHUP)
        _ = try pelletd.subprocess.waitForStderr { $0.contains("reloaded the TLS certificate") }

        let renewedPing = try pelletctl(["ping", "-c", "1", "--server", address, "--tls-ca", renewed.caCertificate] + clientFlags)
        renewedPing.assertSucceeded()
        let oldTrust = try pelletctl(["health", "--server", address, "--tls-ca", certificates.caCertificate] + clientFlags)
        XCTAssertEqual(oldTrust.status, 1, oldTrust.stderr)
        XCTAssertTrue(oldTrust.stderr.contains("is not trusted"), oldTrust.stderr)
        _ = try await open.health()
        await open.close()

        try pelletd.stop()
    }
}
