import Testing
@testable import CrossOriginSecurity

@Suite struct CORSPolicyTests {
    /// `Vary: Origin` is added once: a `Vary` field that already names it, in any case or
    /// among other names, is enough.
    @Test func aVaryValueNamesOriginInAnyCaseAndPlace() {
        for value in ["Origin", "origin", "ORIGIN", "Cookie, Origin", "Cookie,origin", " origin ", "Accept,\tOrIgIn\t, Cookie"] {
            #expect(CORSPolicy.varyNamesOrigin(value), "\(value)")
        }
        for value in ["", "Cookie", "Origins", "Origin-Agent", "x-origin", "orig in", "Cookie, Accept", ",", "OriginCookie"] {
            #expect(!CORSPolicy.varyNamesOrigin(value), "\(value)")
        }
    }
}
