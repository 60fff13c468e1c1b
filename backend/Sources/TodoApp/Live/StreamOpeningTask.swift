import Hummingbird

/// Runs the opening of an event stream (every middleware and the route, up to the
/// response head) in a child task of the connection's task, so that an open stream's
/// connection keeps only the memory it needs while streaming.
///
/// Why: Swift's task allocator keeps every slab a task ever needed until the task ends
/// (`StackAllocator`: freed slabs are kept for reuse, never returned). Hummingbird serves a
/// connection in one task and writes the response body after the responder returned, so
/// the deepest point of the stream's opening (the middleware stack, the session and replay
/// reads) would stay allocated for the stream's life: most of an idle stream's memory
/// (docs/performance.md, "Memory per idle stream"). A child task's slabs go when it ends,
/// before the body is streamed. Other requests are answered as before: a task each would
/// cost every request a task creation, for connections that are short-lived or busy.
///
/// A responder around the router rather than a middleware: a middleware's frame, and the
/// wrapper the middleware builder adds for it, would sit in every request's chain.
struct StreamOpeningTaskResponder<Base: HTTPResponder>: HTTPResponder where Base.Context: Sendable {
    let base: Base
    let stream: EventStreamConnection.StreamRoute

    func respond(to request: Request, context: Base.Context) async throws -> Response {
        guard stream.matches(method: request.method, path: request.uri.path) else {
            return try await base.respond(to: request, context: context)
        }
        return try await respondInChildTask(to: request, context: context)
    }

    /// Apart from `respond`, whose frame every request holds: the task group's is the
    /// stream opening's only.
    @inline(never)
    private func respondInChildTask(to request: Request, context: Base.Context) async throws -> Response {
        try await withThrowingTaskGroup(of: Response.self) { group in
            group.addTask { try await base.respond(to: request, context: context) }
            return try await group.next()!
        }
    }
}
