import CCurl

// With CurlMulti.swift, the only files of the package that import CCurl: every libcurl handle
// is wrapped here, with exactly one owner that frees it, and every libcurl return code becomes
// a Swift error here.

/// libcurl's process-wide set-up.
enum CurlLibrary {
    /// `curl_global_init` must run once, before any other libcurl call, and is not thread-safe
    /// in every build; a `static let` is initialised exactly once, atomically.
    private static let initializationCode: UInt32 = pellet_curl_global_init_default().rawValue

    static func initialize() throws(TransferError) {
        if initializationCode != CURLE_OK.rawValue {
            throw TransferError(curlCode: CURLcode(rawValue: initializationCode), context: "curl_global_init")
        }
    }

    /// "libcurl/7.88.1 OpenSSL/3.0.11 zlib/1.2.13 nghttp2/1.52.0", for the start-up log line.
    static var version: String { String(cString: curl_version()) }
}

extension TransferError {
    /// The one mapping from a libcurl result code to a ``TransferError``. `detail` is the
    /// transfer's `CURLOPT_ERRORBUFFER` text when there is one (more precise than the generic
    /// `curl_easy_strerror` sentence); it names hosts and addresses, never request content.
    init(curlCode code: CURLcode, detail: String = "", context: String? = nil) {
        let kind: Kind
        switch code {
        case CURLE_OPERATION_TIMEDOUT:
            kind = .timedOut
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY, CURLE_COULDNT_CONNECT:
            kind = .connectionFailed
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER,
            CURLE_SSL_CACERT_BADFILE, CURLE_SSL_ENGINE_NOTFOUND, CURLE_SSL_ENGINE_SETFAILED,
            CURLE_SSL_ENGINE_INITFAILED, CURLE_SSL_CRL_BADFILE, CURLE_SSL_ISSUER_ERROR,
            CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_INVALIDCERTSTATUS, CURLE_SSL_SHUTDOWN_FAILED:
            kind = .tls
        case CURLE_GOT_NOTHING, CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_PARTIAL_FILE, CURLE_HTTP2,
            CURLE_HTTP2_STREAM, CURLE_WEIRD_SERVER_REPLY:
            kind = .connectionLost
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL, CURLE_BAD_FUNCTION_ARGUMENT:
            kind = .invalidRequest
        default:
            kind = .other
        }
        var message = String(cString: curl_easy_strerror(code))
        if !detail.isEmpty { message += ": " + detail }
        if let context { message = context + ": " + message }
        self.init(kind: kind, curlCode: Int(code.rawValue), message: message)
    }

    init(multiCode code: CURLMcode, context: String) {
        let message = context + ": " + String(cString: curl_multi_strerror(code))
        self.init(kind: .other, curlCode: Int(code.rawValue), message: message)
    }
}

/// A libcurl share handle: DNS cache and TLS sessions shared by every transfer.
///
/// The multi handle already shares its connection pool among its easy handles; the share adds
/// TLS session resumption for new connections to a host the engine has talked to before. Only
/// the provider thread uses it, so it needs no lock callbacks.
final class CurlShare {
    let handle: UnsafeMutableRawPointer

    init() throws(TransferError) {
        guard let handle = curl_share_init() else {
            throw TransferError(kind: .other, message: "curl_share_init failed")
        }
        self.handle = handle
        for data in [CURL_LOCK_DATA_DNS, CURL_LOCK_DATA_SSL_SESSION] {
            let code = pellet_curl_share_setopt_long(handle, CURLSHOPT_SHARE, Int(data.rawValue))
            if code != CURLSHE_OK {
                curl_share_cleanup(handle)
                throw TransferError(
                    kind: .other, message: "curl_share_setopt: " + String(cString: curl_share_strerror(code)))
            }
        }
    }

    /// Only once every easy handle that used the share is cleaned up.
    deinit {
        curl_share_cleanup(handle)
    }
}

/// One libcurl easy handle and everything it points to while a transfer runs: the header list,
/// the request body and the error buffer.
///
/// Reused from transfer to transfer by the provider thread (``EngineLoop``): creating a handle
/// and setting its ~20 options is a measurable part of a transfer's cost, and a reused handle
/// keeps what libcurl caches in it. What is the same for every transfer is set once, in `init`;
/// ``prepare(request:owner:)`` sets only what changes. Owned by the engine loop (idle) or by one
/// ``Transfer`` (in use) on the provider thread, and freed after it has been removed from the
/// multi handle: libcurl reads the header list and the body while the transfer runs, so they
/// live as long as the handle or until the next transfer replaces them.
final class CurlEasy {
    let handle: UnsafeMutableRawPointer
    private var headerList: UnsafeMutablePointer<curl_slist>?
    /// The request body, copied: libcurl reads it while sending. Grown, never shrunk, so a
    /// reused handle rarely allocates; never empty, so the pointer is real.
    private var body: UnsafeMutableRawBufferPointer
    private let errorBuffer: UnsafeMutablePointer<CChar>
    /// The header lines of the list in effect, each "name: value" and a NUL, and the next
    /// transfer's, built here first: when they are the same (every call to one provider with one
    /// key), the list libcurl has stays and no line is copied into a new one. No String is built
    /// per line.
    private var headerLines: [UInt8] = []
    private var nextHeaderLines: [UInt8] = []
    /// The `CURLOPT_URL` in effect: set only when it changes (libcurl copies it each time).
    private var url: String?
    /// The `CURLOPT_PIPEWAIT` in effect (set only when it changes).
    private var pipeWait = false

    /// Creates the handle with the options every transfer shares.
    init(configuration: EngineConfiguration, share: CurlShare, multi: CurlMulti) throws(TransferError) {
        guard let handle = curl_easy_init() else {
            throw TransferError(kind: .other, message: "curl_easy_init failed")
        }
        self.handle = handle
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
        body = .allocate(byteCount: 1, alignment: 1)
        try configureOnce(configuration: configuration, share: share)
        // The reactor learns which descriptors are connection sockets (PelletReactor.c).
        try check(pellet_reactor_configure_easy(multi.reactor, handle), "socket callbacks")
    }

    deinit {
        curl_easy_cleanup(handle)
        curl_slist_free_all(headerList)
        body.deallocate()
        errorBuffer.deallocate()
    }

    private func configureOnce(configuration: EngineConfiguration, share: CurlShare) throws(TransferError) {
        try set(CURLOPT_ERRORBUFFER, pointer: UnsafeMutableRawPointer(errorBuffer))
        try set(CURLOPT_PROTOCOLS_STR, string: "http,https")
        try check(pellet_curl_easy_setopt_share(handle, share.handle), "CURLOPT_SHARE")
        // Signals are not for a library in a multi-threaded server (SIGPIPE is ignored
        // process-wide by the engine instead, SIGALRM-based DNS timeouts are not wanted).
        try set(CURLOPT_NOSIGNAL, 1)
        // HTTP/2 over TLS (negotiated by ALPN), HTTP/1.1 for plain http:// such as the mock.
        try set(CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_2TLS))
        try set(CURLOPT_TCP_KEEPALIVE, 1)
        try set(CURLOPT_CONNECTTIMEOUT_MS, max(1, configuration.connectTimeout.roundedUpMilliseconds))
        try set(CURLOPT_USERAGENT, string: configuration.userAgent)
        if let path = configuration.caCertificatesPath {
            try set(CURLOPT_CAINFO, string: path)
        }
        try check(
            pellet_curl_easy_setopt_data_callback(handle, CURLOPT_HEADERFUNCTION) { data, size, count, owner in
                let length = size * count
                let transfer = Unmanaged<Transfer>.fromOpaque(owner!).takeUnretainedValue()
                transfer.receivedHeaderLine(UnsafeRawBufferPointer(start: data, count: length))
                return length
            },
            "CURLOPT_HEADERFUNCTION")
        try check(
            pellet_curl_easy_setopt_data_callback(handle, CURLOPT_WRITEFUNCTION) { data, size, count, owner in
                let length = size * count
                let transfer = Unmanaged<Transfer>.fromOpaque(owner!).takeUnretainedValue()
                // Pausing from the callback: libcurl keeps these bytes and delivers them again.
                let delivered = transfer.receivedBody(UnsafeRawBufferPointer(start: data, count: length))
                return delivered ? length : Int(CURL_WRITEFUNC_PAUSE)
            },
            "CURLOPT_WRITEFUNCTION")
    }

    /// Sets what differs from one transfer to the next: the URL, the owner that receives the
    /// callbacks (it outlives the transfer), the timeout, the header list, the method and body.
    func prepare(request: HTTPRequest, owner transfer: Transfer) throws(TransferError) {
        errorBuffer[0] = 0
        let owner = Unmanaged.passUnretained(transfer).toOpaque()
        if request.url != url {
            url = nil
            try set(CURLOPT_URL, string: request.url)
            url = request.url
        }
        try set(CURLOPT_PRIVATE, pointer: owner)
        try set(CURLOPT_HEADERDATA, pointer: owner)
        try set(CURLOPT_WRITEDATA, pointer: owner)
        // Wait for a connection being set up to the same host, to multiplex on it, rather than
        // opening another one. Only where HTTP/2 can be negotiated: plain http:// is HTTP/1.1,
        // which never multiplexes, and there a waiting transfer could sit behind another call's
        // whole stream (seen with 50 streams started at once against the mock); there libcurl
        // opens a connection per transfer, up to `maximumConnectionsPerHost`.
        let wantsPipeWait = request.url.utf8.starts(with: "https:".utf8)
        if wantsPipeWait != pipeWait {
            try set(CURLOPT_PIPEWAIT, wantsPipeWait ? 1 : 0)
            pipeWait = wantsPipeWait
        }
        try set(CURLOPT_TIMEOUT_MS, max(1, request.timeout.roundedUpMilliseconds))

        try setHeaders(request.headers)

        switch request.method {
        case .get:
            try set(CURLOPT_HTTPGET, 1)
        case .post:
            if body.count < request.body.count {
                body.deallocate()
                body = .allocate(byteCount: request.body.count, alignment: 1)
            }
            if !request.body.isEmpty {
                request.body.withUnsafeBytes { body.copyMemory(from: $0) }
            }
            try set(CURLOPT_POST, 1)
            try check(
                pellet_curl_easy_setopt_off_t(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count)),
                "CURLOPT_POSTFIELDSIZE_LARGE")
            try set(CURLOPT_POSTFIELDS, pointer: body.baseAddress!)
        }
    }

    /// `curl_easy_pause`: receiving stops, or resumes (libcurl may then deliver what it held at
    /// once, from inside this call). Only on the thread that drives the multi handle, outside
    /// the handle's callbacks.
    func setReceivePaused(_ paused: Bool) {
        _ = curl_easy_pause(handle, paused ? CURLPAUSE_RECV : CURLPAUSE_CONT)
    }

    /// Facts about the finished transfer.
    var info: TransferInfo {
        var status = 0
        var connects = 0
        var version = 0
        var firstByte: curl_off_t = 0
        var total: curl_off_t = 0
        _ = pellet_curl_easy_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        _ = pellet_curl_easy_getinfo_long(handle, CURLINFO_NUM_CONNECTS, &connects)
        _ = pellet_curl_easy_getinfo_long(handle, CURLINFO_HTTP_VERSION, &version)
        _ = pellet_curl_easy_getinfo_off_t(handle, CURLINFO_STARTTRANSFER_TIME_T, &firstByte)
        _ = pellet_curl_easy_getinfo_off_t(handle, CURLINFO_TOTAL_TIME_T, &total)
        let httpVersion: Int
        switch version {
        case Int(CURL_HTTP_VERSION_1_0), Int(CURL_HTTP_VERSION_1_1): httpVersion = 1
        case Int(CURL_HTTP_VERSION_2_0): httpVersion = 2
        case Int(CURL_HTTP_VERSION_3): httpVersion = 3
        default: httpVersion = 0
        }
        return TransferInfo(
            status: status,
            newConnections: connects,
            httpVersion: httpVersion,
            timeToFirstByte: .microseconds(firstByte),
            totalTime: .microseconds(total)
        )
    }

    /// The handle's `CURLOPT_ERRORBUFFER` text ("Failed to connect to 127.0.0.1 port 9: ...").
    var errorDetail: String {
        String(cString: errorBuffer)
    }

    /// Sets the header list: each field, plus an empty `Expect:`, which stops libcurl from
    /// waiting for a `100 Continue` before sending a large HTTP/1.1 body. The new list replaces
    /// the last transfer's only once it is whole, and only when it differs.
    private func setHeaders(_ headers: HTTPHeaders) throws(TransferError) {
        nextHeaderLines.removeAll(keepingCapacity: true)
        var malformed = false
        headers.forEachFieldUTF8 { name, value in
            if !Self.appendLine(name: name, value: value, to: &nextHeaderLines) { malformed = true }
        }
        // A CR or LF in a field would let a value inject other header fields.
        if malformed {
            throw TransferError(kind: .invalidRequest, message: "a header field holds a line break")
        }
        nextHeaderLines.append(contentsOf: Self.emptyExpectLine)
        if headerList != nil, nextHeaderLines == headerLines {
            return
        }
        var list: UnsafeMutablePointer<curl_slist>?
        let built = nextHeaderLines.withUnsafeBufferPointer { lines -> Bool in
            var start = 0
            while start < lines.count {
                guard let appended = curl_slist_append(list, UnsafeRawPointer(lines.baseAddress! + start)
                    .assumingMemoryBound(to: CChar.self))
                else { return false }
                list = appended
                while lines[start] != 0 { start += 1 }
                start += 1
            }
            return true
        }
        guard built else {
            curl_slist_free_all(list)
            throw TransferError(kind: .other, message: "curl_slist_append failed")
        }
        let code = pellet_curl_easy_setopt_slist(handle, CURLOPT_HTTPHEADER, list)
        guard code == CURLE_OK else {
            curl_slist_free_all(list)
            throw TransferError(curlCode: code, context: "CURLOPT_HTTPHEADER")
        }
        curl_slist_free_all(headerList)
        headerList = list
        swap(&headerLines, &nextHeaderLines)
    }

    /// "Expect:" with no value removes a field libcurl would add.
    private static let emptyExpectLine: [UInt8] = Array("Expect:".utf8) + [0]

    /// Appends "name: value" (or "name:" for nil) and a NUL; false, appending nothing, when either holds a CR, LF or NUL.
    private static func appendLine(
        name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer?, to lines: inout [UInt8]
    ) -> Bool {
        func clean(_ bytes: UnsafeRawBufferPointer) -> Bool {
            !bytes.contains { $0 == 0x0A || $0 == 0x0D || $0 == 0 }
        }
        guard clean(name), value.map(clean) ?? true else { return false }
        lines.append(contentsOf: name)
        lines.append(UInt8(ascii: ":"))
        if let value {
            lines.append(UInt8(ascii: " "))
            lines.append(contentsOf: value)
        }
        lines.append(0)
        return true
    }

    // The error's context is built only on failure: these run several times per transfer.

    private func set(_ option: CURLoption, _ value: Int) throws(TransferError) {
        try check(pellet_curl_easy_setopt_long(handle, option, value), option: option)
    }

    private func set(_ option: CURLoption, string value: String) throws(TransferError) {
        try check(pellet_curl_easy_setopt_string(handle, option, value), option: option)
    }

    private func set(_ option: CURLoption, pointer value: UnsafeMutableRawPointer) throws(TransferError) {
        try check(pellet_curl_easy_setopt_pointer(handle, option, value), option: option)
    }

    private func check(_ code: CURLcode, option: CURLoption) throws(TransferError) {
        if code != CURLE_OK {
            throw TransferError(curlCode: code, context: "option \(option.rawValue)")
        }
    }

    private func check(_ code: CURLcode, _ context: String) throws(TransferError) {
        if code != CURLE_OK {
            throw TransferError(curlCode: code, context: context)
        }
    }
}
