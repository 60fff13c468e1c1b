import Foundation
import Logging

/// Where log lines go (standard output, by default), written so that the thread that logs
/// (an event loop, for every request) never waits for the process that reads them.
///
/// A pipe or a terminal whose reader falls behind (a stopped `| tee`, a log shipper that
/// stalls, a terminal on hold) fills up, and a blocking `write(2)` then holds the event
/// loop, and every request on it, until the reader catches up. So:
/// - a line is written at once, without blocking, when nothing is waiting: the usual case,
///   one `write(2)` per line, in the order lines are logged on each thread;
/// - when the output is full, the line waits in a backlog of at most `backlogLimit` bytes
///   that a thread of its own writes as the reader makes room; lines logged meanwhile
///   queue behind it, so their order is kept;
/// - past the backlog lines are dropped and counted, and a line saying how many follows
///   the backlog once it is written.
///
/// A pipe or a terminal is opened again, non-blocking, through `/proc/self/fd` (a
/// description of its own: the flag does not reach the parent's; a terminal so opened never
/// becomes the process's controlling terminal); a socket (systemd's
/// journal) is written with `MSG_DONTWAIT`. A regular file is written as it is: writing it
/// does not wait for a reader.
final class LogOutput: @unchecked Sendable {
    static let standardOutput = LogOutput(descriptor: STDOUT_FILENO)

    /// The most bytes kept for a reader that has fallen behind.
    let backlogLimit: Int

    private let descriptor: Int32
    private let ownsDescriptor: Bool
    private let isSocket: Bool

    // Guarded by `condition` (a lock and the writer thread's wake-up). `@unchecked Sendable`
    // rests on this: every mutable field below is read and written only under it.
    private let condition = NSCondition()
    private var backlog: [UInt8] = []
    private var dropped = 0
    /// The writer thread holds lines taken from the backlog (later lines must wait for them).
    private var writing = false
    private var writerStarted = false
    private var closed = false

    init(descriptor: Int32, backlogLimit: Int = 256 * 1024) {
        self.backlogLimit = backlogLimit
        var status = stat()
        let kind = fstat(descriptor, &status) == 0 ? status.st_mode & S_IFMT : 0
        if kind == S_IFSOCK {
            (self.descriptor, ownsDescriptor, isSocket) = (descriptor, false, true)
        } else if kind == S_IFIFO || kind == S_IFCHR {
            let reopened = open("/proc/self/fd/\(descriptor)", O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
            // Without /proc, the descriptor as it is: blocking, as a plain write would be.
            (self.descriptor, ownsDescriptor, isSocket) =
                reopened >= 0 ? (reopened, true, false) : (descriptor, false, false)
        } else {
            (self.descriptor, ownsDescriptor, isSocket) = (descriptor, false, false)
        }
    }

    /// Writes `line` (one whole line, newline included), or queues it, or drops it; never waits.
    func write(_ line: [UInt8]) {
        condition.lock()
        let queued = closed || writing || !backlog.isEmpty || dropped > 0
        if queued { enqueue(line[...]) }
        condition.unlock()
        if queued { return }
        let written = line.withUnsafeBytes { writeSome($0) }
        guard let written, written < line.count else { return }  // all written, or an error: lost
        condition.lock()
        enqueue(line[written...])
        condition.unlock()
    }

    /// Stops writing; what waits is dropped. The descriptor opened for this output is closed
    /// by the writer thread once it stops, if it was started (so that it never writes to a
    /// number reused meanwhile), or at once.
    func close() {
        condition.lock()
        closed = true
        backlog = []
        let writerCloses = writerStarted
        condition.signal()
        condition.unlock()
        if !writerCloses { closeOwnedDescriptor() }
    }

    private func closeOwnedDescriptor() {
        if ownsDescriptor { _ = Glibc.close(descriptor) }
    }

    /// Under `condition`.
    private func enqueue(_ bytes: ArraySlice<UInt8>) {
        guard !closed else { return }
        guard backlog.count + bytes.count <= backlogLimit else {
            dropped += 1
            return
        }
        backlog.append(contentsOf: bytes)
        if !writerStarted {
            writerStarted = true
            let thread = Thread { [self] in drainForever() }
            thread.name = "log-output"
            thread.start()
        }
        condition.signal()
    }

    /// The writer thread: writes the backlog as the reader makes room, then says what was dropped.
    private func drainForever() {
        while true {
            condition.lock()
            while backlog.isEmpty && dropped == 0 && !closed { condition.wait() }
            if closed {
                condition.unlock()
                closeOwnedDescriptor()
                return
            }
            var chunk = backlog
            backlog = []
            if dropped > 0 {
                chunk += Self.droppedNotice(dropped)
                dropped = 0
            }
            writing = true
            condition.unlock()

            var offset = 0
            while offset < chunk.count {
                guard let written = chunk[offset...].withUnsafeBytes({ writeSome($0) }) else { break }
                offset += written
                if offset < chunk.count {
                    waitUntilWritable()
                    condition.lock()
                    let stop = closed
                    condition.unlock()
                    if stop { break }
                }
            }

            condition.lock()
            writing = false
            condition.unlock()
        }
    }

    /// Bytes written (0 when the output is full), or `nil` on an error other than a full
    /// output (the reader has gone): the bytes are not worth failing anything for.
    private func writeSome(_ bytes: UnsafeRawBufferPointer) -> Int? {
        while true {
            let written =
                isSocket
                ? send(descriptor, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
                : Glibc.write(descriptor, bytes.baseAddress, bytes.count)
            if written >= 0 { return written }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return 0
            default: return nil
            }
        }
    }

    private func waitUntilWritable() {
        var request = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
        _ = poll(&request, 1, 1000)
    }

    /// Logged in the server's name (`todolist`, the label `TodolistServer` gives its loggers).
    static func droppedNotice(_ count: Int) -> [UInt8] {
        LogLineHandler.line(
            level: .warning, label: "todolist", source: "TodoApp",
            message: "\(count) log lines dropped: their reader fell behind")
    }
}
