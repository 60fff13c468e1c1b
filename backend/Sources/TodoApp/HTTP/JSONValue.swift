import CrossOriginSecurity

/// Any JSON value, as `StrictJSONParser` reads it, so that a handler can tell a missing
/// field from `null` and a string from a number, and name the field that is wrong.
enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])
}

/// A request body that must be a JSON object, with typed accessors that answer
/// `400 invalid_field` naming the field when a value has the wrong type.
struct JSONObject: Sendable {
    let members: [String: JSONValue]

    func has(_ name: String) -> Bool { members[name] != nil }

    func string(_ name: String) throws -> String? {
        guard let value = members[name] else { return nil }
        guard case .string(let string) = value else { throw Self.invalidField(name, expected: "a string") }
        return string
    }

    func bool(_ name: String) throws -> Bool? {
        guard let value = members[name] else { return nil }
        guard case .bool(let bool) = value else { throw Self.invalidField(name, expected: "true or false") }
        return bool
    }

    func integer(_ name: String) throws -> Int? {
        guard let value = members[name] else { return nil }
        // Limited to the integers a JavaScript client can hold exactly.
        switch value {
        case .integer(let integer) where integer >= -Self.maxSafeInteger && integer <= Self.maxSafeInteger:
            return Int(integer)
        default:
            throw Self.invalidField(name, expected: "an integer from -(2^53-1) to 2^53-1")
        }
    }

    static let maxSafeInteger: Int64 = 9_007_199_254_740_991

    static func invalidField(_ name: String, expected: String) -> JSONError {
        JSONError(.badRequest, code: "invalid_field", detail: "The field '\(name)' must be \(expected).", extra: ["field": name])
    }
}
