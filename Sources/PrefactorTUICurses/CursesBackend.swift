import CNCursesW
import Foundation
import PrefactorTUI
import Synchronization

/// Why the terminal UI cannot start.
public struct TerminalUnavailable: Error, CustomStringConvertible {
    /// What is missing.
    public var description: String
}

/// The ncurses backend: one dedicated thread owns ncurses (it is not thread-safe); keys go out through an
/// `AsyncStream`, frames come in through a mutex-guarded inbox. SIGINT, SIGTERM and SIGHUP reach the UI as
/// ``TerminalInput/terminate(signal:)``; the terminal is restored on stop, on a second such signal, and on a crash.
/// With the mouse on, clicks and the wheel come as ``TerminalInput/mouse(_:)``; text to copy goes out as OSC 52.
public final class CursesBackend: TerminalBackend, ClipboardBackend {
    private struct Inbox {
        var frame: CellBuffer?
        /// Text to put on the clipboard, written after the next frame.
        var copies: [String] = []
        var width = 80
        var height = 24
        var stop = false
        var stopped = false
    }

    private let inbox = Mutex(Inbox())
    private let continuation: AsyncStream<TerminalInput>.Continuation
    private let finished = DispatchSemaphore(value: 0)
    private let mouse: Bool
    /// Keys and resizes.
    public let inputs: AsyncStream<TerminalInput>

    private init(mouse: Bool) {
        self.mouse = mouse
        (inputs, continuation) = AsyncStream.makeStream()
    }

    /// Checks that a terminal is there, then starts ncurses on its own thread.
    ///
    /// - Parameters:
    ///   - environment: Where `TERM` is read.
    ///   - mouse: Whether to ask the terminal for clicks and the wheel (then selecting text needs Shift).
    /// - Throws: ``TerminalUnavailable`` without a TTY or with an unusable `TERM`.
    public static func start(
        environment: [String: String] = ProcessInfo.processInfo.environment, mouse: Bool = true
    ) throws -> CursesBackend {
        guard isatty(0) == 1, isatty(1) == 1 else {
            throw TerminalUnavailable(description: "standard input and output must be a terminal")
        }
        guard let term = environment["TERM"], !term.isEmpty, term != "dumb" else {
            throw TerminalUnavailable(description: "TERM is not set to a usable terminal type")
        }
        let backend = CursesBackend(mouse: mouse)
        let started = DispatchSemaphore(value: 0)
        let failure = FailureBox()
        let thread = Thread {
            backend.uiThread(started: started, failure: failure)
        }
        thread.name = "prefactor-ui"
        thread.stackSize = 1 << 20
        thread.start()
        started.wait()
        if let message = failure.message.withLock({ $0 }) { throw TerminalUnavailable(description: message) }
        return backend
    }

    /// The terminal size.
    public var size: (width: Int, height: Int) { inbox.withLock { ($0.width, $0.height) } }

    /// Queues a frame; the UI thread draws the newest one.
    public func present(_ buffer: CellBuffer) {
        inbox.withLock { $0.frame = buffer }
    }

    /// Puts text on the clipboard with OSC 52, after the next frame.
    public func copyToClipboard(_ text: String) {
        inbox.withLock { $0.copies.append(text) }
    }

    /// Ends ncurses (restoring the terminal) and waits for the UI thread.
    public func stop() {
        let alreadyStopped = inbox.withLock { inbox -> Bool in
            defer { inbox.stop = true }
            return inbox.stopped || inbox.stop
        }
        if !alreadyStopped { finished.wait() }
    }

    // MARK: The UI thread

    private final class FailureBox: Sendable {
        let message = Mutex<String?>(nil)
    }

    private func uiThread(started: DispatchSemaphore, failure: FailureBox) {
        setlocale(LC_ALL, "")
        guard let output = nc_fdopen(1, "w"), let input = nc_fdopen(0, "r"), let screen = newterm(nil, output, input) else {
            failure.message.withLock {
                $0 = "ncurses could not open the terminal (TERM=\(ProcessInfo.processInfo.environment["TERM"] ?? ""))"
            }
            inbox.withLock { $0.stopped = true }
            started.signal()
            return
        }
        set_term(screen)
        raw()
        noecho()
        nonl()
        keypad(nc_stdscr(), true)
        curs_set(0)
        _ = nc_set_escdelay(25)
        if has_colors() {
            start_color()
            use_default_colors()
            for color in 0..<8 { init_pair(Int16(color + 1), Int16(color), -1) }
        }
        wtimeout(nc_stdscr(), 50)
        if mouse {
            mousemask(nc_button1_pressed() | nc_button4_pressed() | nc_button5_pressed(), nil)
            // Presses at once: no waiting to tell a click from a double click.
            mouseinterval(0)
        }
        TerminalRestore.install()
        inbox.withLock {
            $0.width = Int(nc_cols())
            $0.height = Int(nc_lines())
        }
        started.signal()

        while true {
            // Every key already typed is read before the next frame is drawn, so a burst of keys costs one frame.
            if readKey() {
                wtimeout(nc_stdscr(), 0)
                while readKey() {}
                wtimeout(nc_stdscr(), 50)
            }
            let signal = TerminalRestore.pendingSignal.exchange(0, ordering: .relaxed)
            if signal != 0 { continuation.yield(.terminate(signal: signal)) }
            let (frame, stop, copies) = inbox.withLock { inbox -> (CellBuffer?, Bool, [String]) in
                defer {
                    inbox.frame = nil
                    inbox.copies = []
                }
                return (inbox.frame, inbox.stop, inbox.copies)
            }
            if stop { break }
            if let frame { draw(frame) }
            for text in copies {
                // After ncurses flushed its output, on the same stream, so the sequence is never cut into.
                fputs(OSC52.sequence(for: text), output)
                fflush(output)
            }
        }
        endwin()
        delscreen(screen)
        inbox.withLock { $0.stopped = true }
        continuation.finish()
        finished.signal()
    }

    /// Reads one key, waiting up to the window's timeout; `false` when none came.
    @discardableResult
    private func readKey() -> Bool {
        var character: wint_t = 0
        let result = wget_wch(nc_stdscr(), &character)
        guard result != ERR else { return false }
        if result == KEY_CODE_YES {
            let code = Int32(character)
            if code == KEY_RESIZE {
                let (width, height) = (Int(nc_cols()), Int(nc_lines()))
                inbox.withLock {
                    $0.width = width
                    $0.height = height
                }
                continuation.yield(.resize(width: width, height: height))
                return true
            }
            if code == KEY_MOUSE {
                var event = MEVENT()
                guard getmouse(&event) == OK else { return true }
                let kind: MouseEvent.Kind? =
                    if event.bstate & nc_button1_pressed() != 0 {
                        .press
                    } else if event.bstate & nc_button4_pressed() != 0 {
                        .wheelUp
                    } else if nc_button5_pressed() != 0, event.bstate & nc_button5_pressed() != 0 {
                        .wheelDown
                    } else {
                        nil
                    }
                if let kind { continuation.yield(.mouse(MouseEvent(kind, row: Int(event.y), column: Int(event.x)))) }
                return true
            }
            let key: Key? =
                switch code {
                case KEY_UP: .up
                case KEY_DOWN: .down
                case KEY_LEFT: .left
                case KEY_RIGHT: .right
                case KEY_PPAGE: .pageUp
                case KEY_NPAGE: .pageDown
                case KEY_HOME: .home
                case KEY_END: .end
                case KEY_ENTER: .enter
                case KEY_BACKSPACE: .backspace
                case KEY_BTAB: .backTab
                case KEY_DC: .delete
                default: nil
                }
            if let key { continuation.yield(.key(key)) }
        } else if result == OK {
            let key: Key? =
                switch character {
                case 1: .control("a")
                case 3: .interrupt
                case 5: .control("e")
                case 9: .tab
                case 10, 13: .enter
                case 12: .redraw
                case 27: .escape
                case 8, 127: .backspace
                case 1...26: Unicode.Scalar(UInt32(character) + 96).map { .control(Character($0)) }
                case 0..<32: nil
                default: Unicode.Scalar(UInt32(character)).map { .character(Character($0)) }
                }
            if let key {
                if key == .redraw { clearok(nc_stdscr(), true) }
                continuation.yield(.key(key))
            }
        }
        return true
    }

    private func attributes(_ style: CellStyle) -> attr_t {
        var attributes = nc_a_normal()
        if style.bold { attributes |= nc_a_bold() }
        if style.dim { attributes |= nc_a_dim() }
        if style.reverse { attributes |= nc_a_reverse() }
        if style.underline { attributes |= nc_a_underline() }
        if style.foreground != .default { attributes |= nc_color_pair(Int32(style.foreground.rawValue + 1)) }
        return attributes
    }

    private func draw(_ frame: CellBuffer) {
        let window = nc_stdscr()
        werase(window)
        let rows = min(frame.height, Int(nc_lines()))
        let columns = min(frame.width, Int(nc_cols()))
        for row in 0..<rows {
            var column = 0
            while column < columns {
                let style = frame[row, column].style
                var run = ""
                let start = column
                while column < columns, frame[row, column].style == style {
                    run += frame[row, column].text
                    column += 1
                }
                wattrset(window, Int32(bitPattern: UInt32(truncatingIfNeeded: attributes(style))))
                // The bottom-right cell makes ncurses report an error after drawing; it is drawn all the same.
                _ = mvwaddnstr(window, Int32(row), Int32(start), run, -1)
            }
        }
        wattrset(window, 0)
        wnoutrefresh(window)
        doupdate()
    }
}

/// Restores the terminal when the process is interrupted or crashes.
enum TerminalRestore {
    nonisolated(unsafe) static var previous: [Int32: sigaction] = [:]

    /// A termination signal not yet reported to the UI (0: none). The UI quits on it, printing what it leaves.
    static let pendingSignal = Atomic<Int32>(0)

    static func install() {
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { signal in
                // The first signal asks the UI to quit (it restores the terminal and prints its summary); a second
                // one, while the first is still unanswered, ends the process at once.
                let (exchanged, _) = TerminalRestore.pendingSignal.compareExchange(
                    expected: 0, desired: signal, ordering: .relaxed)
                if !exchanged {
                    endwin()
                    _exit(128 + signal)
                }
            }
            sigemptyset(&action.sa_mask)
            sigaction(signal, &action, nil)
        }
        for signal in [SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGABRT, SIGFPE] {
            var old = sigaction()
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { signal in
                endwin()
                // Give the crash back to the previous handler (the Swift backtracer) and re-raise.
                if var old = TerminalRestore.previous[signal] {
                    sigaction(signal, &old, nil)
                } else {
                    Foundation.signal(signal, SIG_DFL)
                }
                raise(signal)
            }
            sigemptyset(&action.sa_mask)
            sigaction(signal, &action, &old)
            previous[signal] = old
        }
        atexit {
            if isendwin() == false { endwin() }
        }
    }
}
