import CrossOriginSecurity
import HTTPTypes
import Hummingbird
import NIOCore

/// The typed state a request carries through the middleware chain to its handler.
public struct AppRequestContext: RequestContext, CSRFRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The connection the request came on (an event stream writes to it directly).
    public let channel: any Channel
    /// The TCP peer: the client, or the proxy in front of us.
    public let peerAddress: String?
    /// Filled in by `ClientMiddleware` from the peer and, when the peer is a trusted proxy, its headers.
    public var clientAddress: String?
    public var isSecureRequest: Bool = false
    /// The session named by the request's cookie, loaded by `SessionMiddleware`.
    public var session: AuthenticatedSession?
    /// Instead of `session`, on the routes that read the session in their own statement
    /// (`SessionMiddleware.defersLookup`).
    var deferredSession: DeferredSession?
    /// The request's bearer token, checked by `BearerTokenMiddleware`; `nil` without one.
    var bearer: BearerAuthentication?

    public var csrfBoundSecret: String? { session?.csrfSecret }

    /// The contract's body limit; bodies are collected through `JSONBody`, which enforces it.
    public var maxUploadSize: Int { JSONBody.maxSize }

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
        self.peerAddress = source.channel.remoteAddress?.ipAddress
    }
}
