import Foundation
import Logging

/// Where log lines go (standard output, by default), written so that the thread that logs
/// (an event loop, for every request) never waits for the process that reads them, and
/// rarely makes a system call for them.
///
/// Lines come in two timings:
/// - `.soon` (the access log's, every request's): the line joins a buffer that a thread of
///   its own writes at most `flushInterval` later, with the lines gathered meanwhile, in one
///   `write(2)`. So an event loop makes no system call for its requests' lines, and the
///   reader (a pipe's, the journal's) is woken once per batch rather than once per request.
/// - `.now` (warnings and errors): the line is written at once, after whatever is buffered,
///   in one `write(2)` from the calling thread, so that it is out before anything that
///   follows it (a crash, an exit) can lose it.
///
/// Lines keep the order in which they were handed over. When the output is full (a reader
/// that falls behind: a stopped `| tee`, a log shipper that stalls, a terminal on hold),
/// lines wait in the buffer, at most `backlogLimit` bytes, which the writer thread writes
/// as the reader makes room; past that, lines are dropped and counted, and a line saying
/// how many follows once the buffer is written. `flush()` (called at exit) writes what
/// waits, giving a full output a moment.
///
/// A pipe or a terminal is opened again, non-blocking, through `/proc/self/fd` (a
/// description of its own: the flag does not reach the parent's; a terminal so opened never
/// becomes the process's controlling terminal); a socket (systemd's
/// journal) is written with `MSG_DONTWAIT`. A regular file is written as it is: writing it
/// does not wait for a reader.
final class LogOutput: @unchecked Sendable {
    /// Standard output; what it holds at exit is written then (`atexit`).
    static let standardOutput: LogOutput = {
        let output = LogOutput(descriptor: STDOUT_FILENO)
        atexit { LogOutput.standardOutput.flush() }
        return output
    }()

    /// When a line is written.
    enum Timing {
        /// At once, after what is buffered.
        case now
        /// With the lines gathered over at most `flushInterval`.
        case soon
    }

    /// The most bytes kept for a reader that has fallen behind.
    let backlogLimit: Int
    /// The longest a `.soon` line waits before it is written (when the output has room).
    let flushInterval: Duration

    private let descriptor: Int32
    private let ownsDescriptor: Bool
    private let isSocket: Bool

    // Guarded by `condition` (a lock and the wake-up of the threads that wait on it).
    // `@unchecked Sendable` rests on this: every mutable field below is read and written
    // only under it.
    private let condition = NSCondition()
    /// Lines handed over and not yet written, in order.
    private var backlog: [UInt8] = []
    private var dropped = 0
    /// A thread is writing bytes taken from the backlog: later lines must wait for them.
    private var writing = false
    /// A `.now` line waits in the backlog: the writer thread writes without gathering.
    private var urgent = false
    private var writerStarted = false
    private var closed = false

    init(descriptor: Int32, backlogLimit: Int = 256 * 1024, flushInterval: Duration = .milliseconds(50)) {
        self.backlogLimit = backlogLimit
        self.flushInterval = flushInterval
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

    /// Hands over `line` (one whole line, newline included), to be written `timing`, or
    /// queued behind a full output, or dropped; never waits for the output.
    func write(_ line: [UInt8], timing: Timing) {
        condition.lock()
        guard !closed else { return condition.unlock() }
        guard timing == .now, !writing, dropped == 0 else {
            enqueue(line[...])
            if timing == .now {
                urgent = true
                condition.broadcast()  // the writer thread may be gathering
            }
            condition.unlock()
            return
        }
        // Written by this thread, after what is buffered.
        let chunk = takeBacklog(then: line)
        condition.unlock()
        let written = chunk.withUnsafeBytes { writeSome($0) } ?? chunk.count  // an error: lost
        finishWriting(chunk, written: written)
    }

    /// Writes what waits, now, from the calling thread: waits for the output at most
    /// `patience` in all, then leaves the rest to the writer thread.
    func flush(patience: Duration = .seconds(1)) {
        let deadline = ContinuousClock.now + patience
        condition.lock()
        // Whoever writes broadcasts when done (`finishWriting`).
        let waitingEnds = Date(timeIntervalSinceNow: patience.seconds)
        while writing && !closed && condition.wait(until: waitingEnds) {}
        guard !closed, !writing, !backlog.isEmpty || dropped > 0 else { return condition.unlock() }
        let chunk = takeBacklog()
        condition.unlock()
        finishWriting(chunk, written: writeAll(chunk, until: deadline))
    }

    /// Under `condition`: what waits (and `line` after it), which the calling thread now
    /// writes; lines handed over meanwhile wait for it (`writing`).
    private func takeBacklog(then line: [UInt8] = []) -> [UInt8] {
        var chunk = backlog
        backlog = []
        if dropped > 0 {
            chunk += Self.droppedNotice(dropped)
            dropped = 0
        }
        chunk += line
        urgent = false
        writing = true
        return chunk
    }

    /// After writing `written` bytes of a chunk from `takeBacklog`: what the output had no
    /// room for goes first in the backlog (lines handed over meanwhile came after it), for
    /// the writer thread.
    private func finishWriting(_ chunk: [UInt8], written: Int) {
        condition.lock()
        writing = false
        if written < chunk.count && !closed {
            backlog = Array(chunk[written...]) + backlog
            urgent = true
            startWriterIfNeeded()
        }
        condition.broadcast()
        condition.unlock()
    }

    /// Writes what waits (`flush()`), then stops writing. The descriptor opened for this
    /// output is closed by the writer thread once it stops, if it was started (so that it
    /// never writes to a number reused meanwhile), or at once.
    func close() {
        flush()
        condition.lock()
        closed = true
        backlog = []
        let writerCloses = writerStarted
        condition.broadcast()
        condition.unlock()
        if !writerCloses { closeOwnedDescriptor() }
    }

    private func closeOwnedDescriptor() {
        if ownsDescriptor { _ = Glibc.close(descriptor) }
    }

    /// Under `condition`.
    private func enqueue(_ bytes: ArraySlice<UInt8>) {
        guard backlog.count + bytes.count <= backlogLimit else {
            dropped += 1
            return
        }
        let wasEmpty = backlog.isEmpty
        backlog.append(contentsOf: bytes)
        startWriterIfNeeded()
        // The writer thread sleeps while nothing waits; once woken it gathers by itself.
        if wasEmpty { condition.broadcast() }
    }

    /// Under `condition`.
    private func startWriterIfNeeded() {
        guard !writerStarted else { return }
        writerStarted = true
        let thread = Thread { [self] in drainForever() }
        thread.name = "log-output"
        thread.start()
    }

    /// The writer thread: once lines wait, gathers for `flushInterval` (unless a `.now` line
    /// waits), then writes them as the reader makes room, then says what was dropped.
    private func drainForever() {
        condition.lock()
        while true {
            while (backlog.isEmpty && dropped == 0 || writing) && !closed { condition.wait() }
            if !urgent && !closed {
                let deadline = Date(timeIntervalSinceNow: flushInterval.seconds)
                while !urgent && !closed && condition.wait(until: deadline) {}
            }
            if closed { break }
            // Meanwhile another thread may have written the backlog, or be writing it.
            guard !writing, !backlog.isEmpty || dropped > 0 else { continue }
            let chunk = takeBacklog()
            condition.unlock()
            // Waits for room as long as it takes (or until closed): all of it is written.
            finishWriting(chunk, written: writeAll(chunk, until: nil))
            condition.lock()
        }
        condition.unlock()
        closeOwnedDescriptor()
    }

    /// Writes `bytes`, waiting for room in the output until `deadline` (or until closed);
    /// returns how many were written (all of them when the output has gone: they are lost).
    private func writeAll(_ bytes: [UInt8], until deadline: ContinuousClock.Instant?) -> Int {
        var offset = 0
        while offset < bytes.count {
            guard let written = bytes[offset...].withUnsafeBytes({ writeSome($0) }) else { return bytes.count }
            offset += written
            guard offset < bytes.count else { break }
            if let deadline, ContinuousClock.now >= deadline { break }
            waitUntilWritable()
            condition.lock()
            let stop = closed
            condition.unlock()
            if stop { break }
        }
        return offset
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
