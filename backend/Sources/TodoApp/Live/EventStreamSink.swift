import Logging
import NIOCore
import NIOHTTPTypes

/// Where the hub delivers one stream's messages. Implementations never wait on the client.
protocol LiveStreamSink: AnyObject, Sendable {
    /// Sends the messages after those of every earlier call, in order. The hub calls it
    /// under its lock, so that the order of the calls is the order the hub decided whatever
    /// thread each came from: it must not write inline, wait, or call back into the hub.
    func deliver(_ messages: [LiveMessage])
    /// Ends the stream, after a final `closed` event when `reason` is given; later calls,
    /// and messages delivered after it, do nothing.
    func end(_ reason: StreamEnd?)
    /// `callback` runs once when the stream has ended, however it ended (at once if it has).
    func whenEnded(_ callback: @escaping @Sendable () -> Void)
}

/// One event stream's connection: the hub's messages written to its channel as
/// Server-Sent Events, on the channel's event loop, with no task of its own.
///
/// - It is *held* until `start`: messages that arrive while the opening (the replay) is read
///   and written wait, then follow it, skipping the events the replay already sent.
/// - A client that stops reading is found out when a message meets the channel unwritable
///   (more than NIO's high-water mark, 64 KiB, waiting beyond the kernel's socket buffer):
///   the stream is ended without a `closed` event, and its client reconnects with
///   `Last-Event-ID`. So is a stream still held with `heldLimit` messages waiting.
/// - The stream ends with the channel (the client gone) or by `end`. On a connection that
///   Hummingbird serves, its response body is waiting for `ended` and finishes the response;
///   on a connection of the stream's own (`EventStreamConnection`), the sink writes the end
///   of the response and closes the connection.
final class EventStreamSink: LiveStreamSink, @unchecked Sendable {
    /// Who ends the response when the stream ends.
    enum Ending {
        /// Hummingbird, whose response body waits for `ended`.
        case response
        /// The sink: the connection is the stream's alone.
        case connection
    }

    static let heldLimit = 256

    /// Succeeded when the stream has ended.
    let ended: EventLoopFuture<Void>

    private let channel: any Channel
    private let loop: any EventLoop
    /// The process's logger and the opening request's id, apart: a request's own logger
    /// holds a copy of its metadata, which every idle stream would keep (~0.4 KiB).
    private let logger: Logger
    private let requestID: Logger.MetadataValue?
    private let endedPromise: EventLoopPromise<Void>
    // The rest is only touched on `loop` (hence `@unchecked Sendable`).
    private var held: [LiveMessage]? = []
    /// The reason of an `end` that came while held: its `closed` event follows the opening.
    private var heldEnd: StreamEnd?
    private var lastSent: Int64 = 0
    private var ending = Ending.response
    private var isEnded = false
    private var endCallbacks: [@Sendable () -> Void] = []

    /// `requestID`: the opening request's, named in what the sink logs.
    init(channel: any Channel, logger: Logger, requestID: Logger.MetadataValue?) {
        self.channel = channel
        self.logger = logger
        self.requestID = requestID
        self.loop = channel.eventLoop
        self.endedPromise = channel.eventLoop.makePromise()
        self.ended = endedPromise.futureResult
        channel.closeFuture.whenComplete { _ in self.onLoop { self.finish() } }
    }

    /// The opening has been written: `lastSent` is the newest event id it carried.
    func start(lastSent: Int64, ending: Ending) {
        onLoop {
            self.ending = ending
            guard !self.isEnded, let waiting = self.held else {
                // Ended while the opening was written (the client gone, the server stopping).
                self.closeOwnConnection()
                return
            }
            self.held = nil
            self.lastSent = lastSent
            self.write(waiting)
            if let reason = self.heldEnd {
                self.endOnLoop(reason)
            }
        }
    }

    /// Writes the messages on a later turn of the loop, never inline: the loop runs what
    /// `execute` is given in the order it was given, so deliveries keep the order of the
    /// calls (see `LiveStreamSink.deliver`), at no cost to an idle stream's memory.
    func deliver(_ messages: [LiveMessage]) {
        loop.execute { self.writeDelivered(messages) }
    }

    func end(_ reason: StreamEnd?) {
        onLoop { self.endOnLoop(reason) }
    }

    func whenEnded(_ callback: @escaping @Sendable () -> Void) {
        onLoop {
            if self.isEnded { callback() } else { self.endCallbacks.append(callback) }
        }
    }

    // MARK: On the loop

    private func writeDelivered(_ messages: [LiveMessage]) {
        guard !isEnded else { return }
        if held != nil {
            held! += messages
            if held!.count > Self.heldLimit {
                log("event stream fell behind while opening; closing it")
                finish()
            }
            return
        }
        write(messages)
    }

    private func endOnLoop(_ reason: StreamEnd?) {
        guard !isEnded else { return }
        if held != nil, let reason {
            // Not started: the final event must follow the opening.
            if heldEnd == nil { heldEnd = reason }
            return
        }
        if let reason {
            write([.closed(reason)])
        }
        finish()
    }

    private func write(_ messages: [LiveMessage]) {
        guard !messages.isEmpty, !isEnded else { return }
        for message in messages {
            let frame: ByteBuffer
            switch message {
            case .event(let event):
                // Already sent in the replay.
                guard event.id > lastSent else { continue }
                lastSent = event.id
                frame = ServerSentEvents.event(event)
            case .resync(let reason):
                frame = ServerSentEvents.resync(id: lastSent, reason: reason)
            case .heartbeat:
                frame = ServerSentEvents.heartbeat
            case .closed(let reason):
                frame = ServerSentEvents.closed(id: lastSent, reason: reason)
            }
            guard channel.isWritable else {
                // The client stopped reading (see the type's comment).
                log("event stream fell behind; closing it")
                channel.flush()
                finish()
                return
            }
            channel.write(HTTPResponsePart.body(frame), promise: nil)
        }
        channel.flush()
    }

    private func finish() {
        guard !isEnded else { return }
        isEnded = true
        let started = held == nil
        held = nil
        if started { closeOwnConnection() }
        endedPromise.succeed(())
        let callbacks = endCallbacks
        endCallbacks = []
        for callback in callbacks { callback() }
    }

    /// On a connection of the stream's own, the end of the response, then the connection closed.
    private func closeOwnConnection() {
        guard ending == .connection, channel.isActive else { return }
        EventStreamConnection.endResponse(on: channel)
    }

    private func log(_ message: Logger.Message) {
        var logger = logger
        logger[metadataKey: Self.requestIDKey] = requestID
        logger.info(message)
    }

    /// The metadata key Hummingbird logs a request's id under (and so does a stream's own
    /// connection, `EventStreamConnection.answerStream`).
    static let requestIDKey = "hb.request.id"

    private func onLoop(_ body: @escaping @Sendable () -> Void) {
        if loop.inEventLoop {
            body()
        } else {
            loop.execute(body)
        }
    }
}
