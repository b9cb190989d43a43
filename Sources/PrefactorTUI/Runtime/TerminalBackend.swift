import Synchronization

/// Input from a terminal: a key or a new size.
public enum TerminalInput: Hashable, Sendable {
    /// A key press.
    case key(Key)
    /// The mouse was clicked or its wheel turned.
    case mouse(MouseEvent)
    /// The terminal was resized.
    case resize(width: Int, height: Int)
    /// The process got a termination signal (SIGINT, SIGTERM, SIGHUP): quit at once, saying what is left.
    case terminate(signal: Int32)
}

/// A screen the UI draws on: the ncurses backend, or memory for tests and `--render`.
public protocol TerminalBackend: Sendable {
    /// Keys and resizes; ends when the terminal goes away.
    var inputs: AsyncStream<TerminalInput> { get }
    /// The current size.
    var size: (width: Int, height: Int) { get }
    /// Shows a frame.
    func present(_ buffer: CellBuffer)
}

/// A backend in memory: keeps the last frame and what was copied; inputs are fed by ``send(_:)``.
public final class MemoryBackend: TerminalBackend, ClipboardBackend {
    private let state: Mutex<(width: Int, height: Int, frame: CellBuffer?, frames: Int)>
    private let clipboard = Mutex<[String]>([])
    private let continuation: AsyncStream<TerminalInput>.Continuation
    /// The inputs fed with ``send(_:)``.
    public let inputs: AsyncStream<TerminalInput>

    /// Creates a backend of a size.
    public init(width: Int, height: Int) {
        state = Mutex((width, height, nil, 0))
        (inputs, continuation) = AsyncStream.makeStream()
    }

    /// The size.
    public var size: (width: Int, height: Int) { state.withLock { ($0.width, $0.height) } }

    /// Keeps the frame.
    public func present(_ buffer: CellBuffer) {
        state.withLock {
            $0.frame = buffer
            $0.frames += 1
        }
    }

    /// The last frame shown.
    public var lastFrame: CellBuffer? { state.withLock { $0.frame } }

    /// Frames shown so far.
    public var frameCount: Int { state.withLock { $0.frames } }

    /// Keeps the text.
    public func copyToClipboard(_ text: String) { clipboard.withLock { $0.append(text) } }

    /// Every text copied, oldest first.
    public var copied: [String] { clipboard.withLock { $0 } }

    /// Feeds an input.
    public func send(_ input: TerminalInput) {
        if case .resize(let width, let height) = input {
            state.withLock {
                $0.width = width
                $0.height = height
            }
        }
        continuation.yield(input)
    }

    /// Ends the inputs.
    public func close() { continuation.finish() }
}
