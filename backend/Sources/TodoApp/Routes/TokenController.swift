import CrossOriginSecurity
import Foundation
import HTTPTypes
import Hummingbird

/// `/api/auth/tokens/`: personal access tokens for scripts and non-browser clients,
/// managed from the browser session only (see `Authentication.requireSession`).
///
/// A token is shown once, in the answer that creates it; the server keeps its SHA-256.
struct TokenController {
    let tokens: TokenStore

    static let maxNameLength = 100
    /// One second to 366 days; without `expiresIn` (or with `null`) a token never expires.
    static let expiresInRange = 1...31_622_400

    func register(in routes: RouteTable) {
        routes.on("/api/auth/tokens/", .post, precheck: Authentication.sessionPrecheck, readsBody: true, use: create)
        routes.on("/api/auth/tokens/", .get, precheck: Authentication.sessionPrecheck, use: list)
        routes.on("/api/auth/tokens/:id/", .delete, precheck: Self.tokenPathAndSession, use: revoke)
    }

    /// A path that can never name a token is 404 for everyone; then the session check.
    @Sendable static func tokenPathAndSession(_: Request, _ context: AppRequestContext) throws {
        _ = try tokenID(context)
        _ = try Authentication.requireSession(context)
    }

    static let tokenNotFound = JSONError(.notFound, code: "not_found", detail: "No such token.")

    static func tokenID(_ context: AppRequestContext) throws(JSONError) -> Int64 {
        guard let id = Authentication.pathID(context, max: TodoStore.maxOrder) else { throw tokenNotFound }
        return id
    }

    /// A token's public fields, and its secret when just created.
    struct TokenJSON: JSONRepresentable {
        let record: TokenStore.Record
        var secret: String? = nil

        func write(to json: inout JSONOutput) {
            json.beginObject()
            if let secret {
                json.key("token")
                json.string(secret)
            }
            json.key("id")
            json.integer(record.id)
            json.key("name")
            json.string(record.name)
            json.key("abilities")
            json.beginArray()
            for ability in record.abilities { json.string(ability.rawValue) }
            json.endArray()
            json.key("createdAt")
            json.timestamp(milliseconds: record.createdAt)
            json.key("expiresAt")
            if let expiresAt = record.expiresAt { json.timestamp(milliseconds: expiresAt) } else { json.null() }
            json.key("lastUsedAt")
            if let lastUsedAt = record.lastUsedAt { json.timestamp(milliseconds: lastUsedAt) } else { json.null() }
            json.endObject()
        }
    }

    struct TokenList: JSONRepresentable {
        let tokens: [TokenStore.Record]

        func write(to json: inout JSONOutput) {
            json.beginObject()
            json.key("tokens")
            json.beginArray()
            for record in tokens { TokenJSON(record: record).write(to: &json) }
            json.endArray()
            json.endObject()
        }
    }

    // MARK: Handlers

    /// `{"name", "abilities", "expiresIn"?}` → `201` with the token, shown this once.
    @Sendable func create(_ request: Request, context: AppRequestContext) async throws -> Response {
        let session = try Authentication.requireSession(context)
        let body = try await JSONBody.object(from: request, context: context)
        let name = try Self.validName(body.string("name"))
        let abilities = try Self.validAbilities(body.members["abilities"])
        let expiresIn = try Self.validExpiresIn(body)
        let created: (token: String, record: TokenStore.Record)
        do {
            created = try await tokens.create(
                userID: session.userID, name: name, abilities: abilities, expiresIn: expiresIn)
        } catch is TokenStore.TooManyTokens {
            throw JSONError(
                .conflict, code: "too_many_tokens",
                detail: "You have as many tokens as one account may hold (\(tokens.maxTokensPerUser)); revoke some to add more.")
        }
        var response = JSONResponse.make(.created, TokenJSON(record: created.record, secret: created.token))
        response.headers[.cacheControl] = "no-store"
        return response
    }

    @Sendable func list(_ request: Request, context: AppRequestContext) async throws -> Response {
        let session = try Authentication.requireSession(context)
        return JSONResponse.make(.ok, TokenList(tokens: try await tokens.list(userID: session.userID)))
    }

    /// Revokes at once: the token's next request is `401 invalid_token`, on every instance.
    @Sendable func revoke(_ request: Request, context: AppRequestContext) async throws -> Response {
        let session = try Authentication.requireSession(context)
        let id = try Self.tokenID(context)
        guard try await tokens.delete(userID: session.userID, id: id) else { throw Self.tokenNotFound }
        return JSONResponse.noContent()
    }

    // MARK: Validation

    /// Trimmed at both ends, then 1–100 characters (code points) with no control characters.
    static func validName(_ name: String?) throws(JSONError) -> String {
        let trimmed = (name ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        let scalars = trimmed.unicodeScalars
        guard !scalars.isEmpty, scalars.count <= maxNameLength,
            !scalars.contains(where: { $0.properties.generalCategory == .control })
        else {
            throw JSONError(
                .badRequest, code: "invalid_name",
                detail: "A token's name is 1 to \(maxNameLength) characters after trimming white space, "
                    + "without control characters.",
                extra: ["field": "name"])
        }
        return trimmed
    }

    /// A non-empty array of distinct known abilities.
    static func validAbilities(_ value: JSONValue?) throws(JSONError) -> Set<Authentication.Ability> {
        guard let value else { throw invalidAbilities }
        guard case .array(let items) = value else { throw JSONObject.invalidField("abilities", expected: "an array") }
        var abilities: Set<Authentication.Ability> = []
        for item in items {
            guard case .string(let text) = item, let ability = Authentication.Ability(rawValue: text),
                abilities.insert(ability).inserted
            else { throw invalidAbilities }
        }
        guard !abilities.isEmpty else { throw invalidAbilities }
        return abilities
    }

    static let invalidAbilities = JSONError(
        .badRequest, code: "invalid_abilities",
        detail: "Abilities are a non-empty list of distinct values among "
            + Authentication.Ability.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ") + ".",
        extra: ["field": "abilities"])

    /// Seconds until the token expires: absent or `null` for never, else a whole number
    /// within `expiresInRange` (`invalid_expires_in`); not a number at all is `invalid_field`.
    static func validExpiresIn(_ body: JSONObject) throws(JSONError) -> Int? {
        switch body.members["expiresIn"] {
        case nil, .null?:
            return nil
        case .integer(let seconds)? where seconds >= Int64(expiresInRange.lowerBound)
            && seconds <= Int64(expiresInRange.upperBound):
            return Int(seconds)
        case .number(let seconds)? where seconds.rounded() == seconds && seconds >= Double(expiresInRange.lowerBound)
            && seconds <= Double(expiresInRange.upperBound):
            return Int(seconds)
        case .integer?, .number?:
            throw invalidExpiresIn
        default:
            throw JSONObject.invalidField("expiresIn", expected: "a number of seconds or null")
        }
    }

    static let invalidExpiresIn = JSONError(
        .badRequest, code: "invalid_expires_in",
        detail: "expiresIn is a whole number of seconds from \(expiresInRange.lowerBound) to "
            + "\(expiresInRange.upperBound) (366 days), or null for a token that never expires.",
        extra: ["field": "expiresIn"])
}
