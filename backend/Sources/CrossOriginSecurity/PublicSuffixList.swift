import Foundation

/// The Public Suffix List (https://publicsuffix.org), for telling whether two hosts are
/// the same *site* as browsers see it: the same registrable domain ("eTLD+1").
///
/// Browsers decide by it whether a request is same-site, and so whether `SameSite=Lax`
/// cookies go with it and whether a cookie counts as third-party (blocked by Safari and by
/// Chrome's third-party cookie controls). `app.example.com` and `api.example.com` are one
/// site; `a.github.io` and `b.github.io` are two, because `github.io` is a public suffix.
///
/// Rules follow the list's format and algorithm: `//` comments, one rule per line, `*.`
/// wildcards and `!` exceptions; the prevailing rule is an exception if any matches, else
/// the matching rule with the most labels, else `*`. Unicode rules are stored in their
/// Punycode (`xn--`) form, the form hosts take in URLs.
public struct PublicSuffixList: Sendable {
    /// Where Debian's `publicsuffix` package installs the list.
    public static let debianPath = "/usr/share/publicsuffix/public_suffix_list.dat"

    public struct LoadError: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "cannot read the public suffix list at \(path): \(reason)" }
    }

    private let rules: Set<String>
    /// `*.ck` is stored as `ck`.
    private let wildcards: Set<String>
    /// `!www.ck` is stored as `www.ck`.
    private let exceptions: Set<String>

    public var ruleCount: Int { rules.count + wildcards.count + exceptions.count }

    /// Parses the list's text (the whole file, ICANN and private sections alike: both are
    /// honoured by browsers when they decide what a site is).
    public init(rules text: String) {
        var rules = Set<String>(), wildcards = Set<String>(), exceptions = Set<String>()
        for line in text.split(whereSeparator: \.isNewline) {
            guard let token = line.split(whereSeparator: \.isWhitespace).first, !token.hasPrefix("//") else { continue }
            var rule = Substring(token.lowercased())
            let isException = rule.hasPrefix("!")
            if isException { rule = rule.dropFirst() }
            let isWildcard = rule.hasPrefix("*.")
            if isWildcard { rule = rule.dropFirst(2) }
            guard let ascii = Self.asciiForm(of: rule) else { continue }
            if isException {
                exceptions.insert(ascii)
            } else if isWildcard {
                wildcards.insert(ascii)
            } else {
                rules.insert(ascii)
            }
        }
        self.rules = rules
        self.wildcards = wildcards
        self.exceptions = exceptions
    }

    /// Reads the list from a file, such as `debianPath`.
    public init(contentsOf path: String) throws(LoadError) {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch let error as CocoaError where error.code == .fileReadNoSuchFile {
            throw LoadError(path: path, reason: "no such file (install Debian's publicsuffix package)")
        } catch {
            throw LoadError(path: path, reason: error.localizedDescription)
        }
        let list = PublicSuffixList(rules: String(decoding: data, as: UTF8.self))
        guard list.ruleCount > 0 else { throw LoadError(path: path, reason: "it holds no rules") }
        self = list
    }

    /// The public suffix of a host name: `co.uk` for `www.example.co.uk`, `github.io` for
    /// `foo.github.io`, the last label when no rule matches.
    public func publicSuffix(of host: String) -> String {
        let labels = Self.labels(of: host)
        guard !labels.isEmpty else { return "" }
        // An exception rule prevails over every other: its suffix is the rule minus its first label.
        for start in labels.indices {
            if exceptions.contains(labels[start...].joined(separator: ".")) {
                return labels[(start + 1)...].joined(separator: ".")
            }
        }
        // Otherwise the longest match; scanning from the left finds it first.
        for start in labels.indices {
            let candidate = labels[start...].joined(separator: ".")
            if rules.contains(candidate) { return candidate }
            if start + 1 < labels.count, wildcards.contains(labels[(start + 1)...].joined(separator: ".")) {
                return candidate
            }
        }
        return labels[labels.count - 1]
    }

    /// The registrable domain (public suffix plus one label), or `nil` when the host is
    /// itself a public suffix (`co.uk`, `github.io`, `localhost`) or an IP address.
    public func registrableDomain(of host: String) -> String? {
        let labels = Self.labels(of: host)
        guard !labels.isEmpty, !Self.isIPAddress(host) else { return nil }
        let suffixCount = publicSuffix(of: host).split(separator: ".").count
        guard labels.count > suffixCount else { return nil }
        return labels[(labels.count - suffixCount - 1)...].joined(separator: ".")
    }

    /// Whether a host is itself a public suffix: cookies and sites cannot span it.
    public func isPublicSuffix(_ host: String) -> Bool {
        !Self.isIPAddress(host) && registrableDomain(of: host) == nil
    }

    /// The site of a host as browsers compute it (without the scheme): its registrable
    /// domain, or the host itself when it has none (an IP address, `localhost`).
    public func site(of host: String) -> String {
        registrableDomain(of: host) ?? Self.labels(of: host).joined(separator: ".")
    }

    /// Whether two hosts are the same site (ports never matter; schemes are the caller's concern).
    public func isSameSite(_ first: String, _ second: String) -> Bool {
        site(of: first) == site(of: second)
    }

    // MARK: Helpers

    static func labels(of host: String) -> [String] {
        var name = host.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        return name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    }

    static func isIPAddress(_ host: String) -> Bool {
        if host.hasPrefix("[") || host.contains(":") { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { !$0.isEmpty && $0.count <= 3 && $0.allSatisfy(\.isASCIIDigit) }
    }

    /// A rule's labels in their ASCII form; `nil` for a label Punycode cannot encode.
    static func asciiForm(of rule: Substring) -> String? {
        var labels: [String] = []
        for label in rule.split(separator: ".") {
            guard let ascii = Punycode.encodeLabel(String(label)) else { return nil }
            labels.append(ascii)
        }
        return labels.isEmpty ? nil : labels.joined(separator: ".")
    }
}

/// RFC 3492 Punycode, encoding only: turns a Unicode label into its `xn--` form.
enum Punycode {
    private static let base = 36, tMin = 1, tMax = 26, skew = 38, damp = 700
    private static let initialBias = 72, initialN: UInt32 = 128

    /// The label itself when it is ASCII, else `xn--` and its Punycode.
    static func encodeLabel(_ label: String) -> String? {
        let input = label.unicodeScalars.map(\.value)
        if input.allSatisfy({ $0 < 0x80 }) { return label }
        var output = input.filter { $0 < 0x80 }.map { UInt8($0) }
        let basicCount = output.count
        if basicCount > 0 { output.append(UInt8(ascii: "-")) }
        var n = initialN, delta = 0, bias = initialBias, handled = basicCount
        while handled < input.count {
            guard let next = input.filter({ $0 >= n }).min() else { return nil }
            let (product, overflow) = Int(next - n).multipliedReportingOverflow(by: handled + 1)
            guard !overflow else { return nil }
            delta += product
            n = next
            for scalar in input {
                if scalar < n { delta += 1 }
                guard scalar == n else { continue }
                var q = delta
                var k = base
                while true {
                    let t = k <= bias ? tMin : (k >= bias + tMax ? tMax : k - bias)
                    if q < t { break }
                    output.append(digit(t + (q - t) % (base - t)))
                    q = (q - t) / (base - t)
                    k += base
                }
                output.append(digit(q))
                bias = adapt(delta: delta, points: handled + 1, first: handled == basicCount)
                delta = 0
                handled += 1
            }
            delta += 1
            n += 1
        }
        return "xn--" + String(decoding: output, as: UTF8.self)
    }

    private static func digit(_ value: Int) -> UInt8 {
        value < 26 ? UInt8(ascii: "a") + UInt8(value) : UInt8(ascii: "0") + UInt8(value - 26)
    }

    private static func adapt(delta: Int, points: Int, first: Bool) -> Int {
        var delta = first ? delta / damp : delta / 2
        delta += delta / points
        var k = 0
        while delta > ((base - tMin) * tMax) / 2 {
            delta /= base - tMin
            k += base
        }
        return k + (base - tMin + 1) * delta / (delta + skew)
    }
}
