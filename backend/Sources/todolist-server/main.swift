import NIOCore
import NIOPosix

// Async code runs on NIO's event loops instead of Swift's own thread pool. Every
// request is read and written on an event loop, and so are PostgreSQL's replies; with
// two pools, each of those steps is a hop to another thread (a wake-up and a context
// switch), several per request. This must happen on the main thread before any task runs.
NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()

/// In an async function `main()` resolves to the command's async entry point; at top
/// level it would resolve to the synchronous one, which cannot run async commands.
func runCommand() async {
    await TodolistServer.main()
}
await runCommand()
