/// A short, human description of the client that made a request ("Firefox on Linux",
/// "curl"), for the list of a user's sessions.
///
/// The `User-Agent` header is the client's to write, so it is never shown as sent: the
/// description is built only from names this type knows, or, for an unknown client,
/// from its first product token cut to letters, digits and `.+-_`. Whatever the header
/// holds, the result is printable ASCII of at most `maxLength` characters, and only the
/// header's first `scannedBytes` bytes are read.
enum ClientDescription {
    static let maxLength = 64
    static let scannedBytes = 512
    /// A product token longer than this is cut.
    static let maxProductLength = 32
    static let unknown = "Unknown client"

    /// Browsers, by a marker their `User-Agent` carries, most specific first: Edge and
    /// Opera also say "Chrome", Chrome also says "Safari".
    private static let browsers: [(marker: String, name: String)] = [
        ("Edg/", "Edge"), ("EdgA/", "Edge"), ("EdgiOS/", "Edge"),
        ("OPR/", "Opera"), ("Opera", "Opera"),
        ("SamsungBrowser/", "Samsung Internet"),
        ("Firefox/", "Firefox"), ("FxiOS/", "Firefox"),
        ("CriOS/", "Chrome"), ("Chromium/", "Chromium"), ("Chrome/", "Chrome"),
        ("Version/", "Safari"),
    ]

    /// Operating systems, most specific first: Android also says "Linux", iOS also says
    /// "like Mac OS X".
    private static let systems: [(marker: String, name: String)] = [
        ("Windows", "Windows"),
        ("Android", "Android"),
        ("iPhone", "iOS"), ("iPad", "iPadOS"), ("iPod", "iOS"),
        ("CrOS", "ChromeOS"),
        ("Macintosh", "macOS"), ("Mac OS X", "macOS"),
        ("FreeBSD", "FreeBSD"),
        ("Linux", "Linux"),
    ]

    static func describe(userAgent: String?) -> String {
        guard let userAgent else { return unknown }
        let scanned = String(decoding: userAgent.utf8.prefix(scannedBytes), as: UTF8.self)
        let browser = browsers.first { scanned.contains($0.marker) }?.name
        let system = systems.first { scanned.contains($0.marker) }?.name
        // "Version/" alone is not Safari unless the client says so.
        let knownBrowser = browser == "Safari" && !scanned.contains("Safari/") ? nil : browser
        let client = knownBrowser ?? productName(scanned)
        let description: String
        switch (client, system) {
        case (let client?, let system?): description = "\(client) on \(system)"
        case (let client?, nil): description = client
        case (nil, let system?): description = "Unknown client on \(system)"
        case (nil, nil): description = unknown
        }
        return String(description.prefix(maxLength))
    }

    /// The first product token's name ("curl" in "curl/8.5.0"), restricted to letters,
    /// digits and `.+-_`; `nil` when that leaves nothing, or for the generic "Mozilla".
    static func productName(_ userAgent: String) -> String? {
        let name = userAgent.utf8.drop { $0 == UInt8(ascii: " ") }
            .prefix { $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "(") }
        guard !name.isEmpty, name.count <= 256, name.allSatisfy(isProductByte) else { return nil }
        let text = String(decoding: name.prefix(maxProductLength), as: UTF8.self)
        return text == "Mozilla" ? nil : text
    }

    private static func isProductByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "."), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "_"):
            true
        default:
            false
        }
    }
}
