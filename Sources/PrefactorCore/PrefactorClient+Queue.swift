import Foundation

extension PrefactorClient {
    /// The queue file this client keeps its operations in, or `nil` when its queue is in memory.
    public var queueFilePath: String? {
        (store as? SQLiteTelemetryQueueStore)?.path
    }

    /// Discards operations that failed for good from the queue file, recording each as dropped with `reason` (as
    /// `prefactor queue drop` does). Only failed operations are discarded; any other id is left alone. With the
    /// queue in memory nothing is kept of a failed operation, so there is nothing to discard.
    ///
    /// - Returns: The ids that were discarded from the file.
    @discardableResult
    public func discardFailed(operationIDs: [UInt64], reason: String) throws -> [UInt64] {
        guard let file = store as? SQLiteTelemetryQueueStore else { return [] }
        let failed = Set(try file.entries().filter { $0.failedReason != nil }.map(\.id))
        return try file.drop(operationIDs.filter(failed.contains), reason: reason)
    }
}
