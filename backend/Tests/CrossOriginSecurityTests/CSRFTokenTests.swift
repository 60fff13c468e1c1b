import Testing
@testable import CrossOriginSecurity
@Test func roundTrip() { let s = CSRFToken.makeSecret(); #expect(CSRFToken.secret(fromToken: CSRFToken.mask(s)) == s) }
