import Foundation
import Logging
import PrefactorHTTP
import PrefactorWire
import Synchronization

/// Fans events out to every subscriber, each through its own bounded `AsyncStream`.
final class EventHub: Sendable {
    private struct Subscriber {
        var continuation: AsyncStream<ClientEvent>.Continuation
        var dropped = 0
    }

    private let subscribers = Mutex<[UInt64: Subscriber]>([:])
    private let nextID = Atomic<UInt64>(0)
    /// Set (under the `subscribers` lock) once ``finishAll()`` ran.
    private let finished = Atomic<Bool>(false)
    let bufferSize: Int

    init(bufferSize: Int) {
        self.bufferSize = max(16, bufferSize)
    }

    /// A new stream that receives every later event.
    func subscribe() -> AsyncStream<ClientEvent> {
        let id = nextID.add(1, ordering: .relaxed).newValue
        let (stream, continuation) = AsyncStream<ClientEvent>.makeStream(bufferingPolicy: .bufferingNewest(bufferSize))
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.removeValue(forKey: id) }
        }
        let open = subscribers.withLock { subscribers -> Bool in
            guard !finished.load(ordering: .relaxed) else { return false }
            subscribers[id] = Subscriber(continuation: continuation)
            return true
        }
        // After shutdown no event will come: end the stream rather than leave the reader waiting forever.
        if !open { continuation.finish() }
        return stream
    }

    var hasSubscribers: Bool { subscribers.withLock { !$0.isEmpty } }

    /// Delivers events to every subscriber. Called while the client's state lock is held, so that every subscriber
    /// sees events in exactly the order the state changed; `yield` never blocks.
    func emit(_ events: [ClientEvent]) {
        guard !events.isEmpty else { return }
        subscribers.withLock { subscribers in
            for (id, var subscriber) in subscribers {
                for event in events {
                    if case .dropped = subscriber.continuation.yield(event) { subscriber.dropped += 1 }
                }
                if subscriber.dropped > 0 {
                    // Tell the reader it missed events; it resynchronises from a snapshot.
                    if case .dropped = subscriber.continuation.yield(.eventsDropped(count: subscriber.dropped)) {
                        subscriber.dropped += 1
                    } else {
                        subscriber.dropped = 0
                    }
                }
                subscribers[id] = subscriber
            }
        }
    }

    func finishAll() {
        let all = subscribers.withLock { subscribers in
            finished.store(true, ordering: .relaxed)
            defer { subscribers.removeAll() }
            return Array(subscribers.values)
        }
        for subscriber in all { subscriber.continuation.finish() }
    }
}
