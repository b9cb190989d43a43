import Foundation
import Logging
import PrefactorHTTP
import PrefactorWire
import Synchronization

/// Fans events out to every subscriber, each through its own bounded `AsyncStream`.
final class EventHub: Sendable {
    private struct Subscriber {
        var continuation: AsyncStream<ClientEvent>.Continuation
        /// Events pushed out of this subscriber's full buffer since it subscribed (notices not counted).
        var lost = 0
        /// The count of the last notice that is still in the buffer, or 0 when none is known to be there.
        var reported = 0
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
    ///
    /// A subscriber whose buffer is full loses its oldest events. After such a batch it is sent
    /// ``ClientEvent/eventsDropped(count:)`` with the number of events it has lost since it subscribed; a notice
    /// pushed out of the buffer is sent again, so the newest notice a reader sees counts every loss before it.
    func emit(_ events: [ClientEvent]) {
        guard !events.isEmpty else { return }
        subscribers.withLock { subscribers in
            for (id, var subscriber) in subscribers {
                for event in events { Self.note(subscriber.continuation.yield(event), in: &subscriber) }
                if subscriber.lost > subscriber.reported {
                    // Tell the reader it missed events; it resynchronises from a snapshot.
                    let count = subscriber.lost
                    subscriber.reported = count
                    Self.note(subscriber.continuation.yield(.eventsDropped(count: count)), in: &subscriber)
                }
                subscribers[id] = subscriber
            }
        }
    }

    /// Counts what a yield pushed out of a full buffer: an event is lost; a notice must be sent again.
    private static func note(_ result: AsyncStream<ClientEvent>.Continuation.YieldResult, in subscriber: inout Subscriber) {
        guard case .dropped(let event) = result else { return }
        if case .eventsDropped = event {
            subscriber.reported = 0
        } else {
            subscriber.lost += 1
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
