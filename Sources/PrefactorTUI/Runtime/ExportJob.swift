import Foundation
import PrefactorCore
import PrefactorHTTP

/// The terminal UI's `E`: reads a run and all its spans from the API and writes them to a JSON file.
public enum ExportJob {
    /// Exports a run into a directory.
    ///
    /// - Parameters:
    ///   - instanceID: The run.
    ///   - api: How to reach the API.
    ///   - directory: Where the file goes (`nil`: the current directory).
    ///   - now: The time in the export and its file name.
    /// - Returns: The message to show: where the file is, or why there is none.
    public static func run(
        instanceID: String, api: APIClient.Configuration, directory: String?, now: Date = Date()
    ) async -> Message {
        let folder = directory ?? FileManager.default.currentDirectoryPath
        let client: APIClient
        do { client = try APIClient(configuration: api) } catch {
            return Message(text: "Export failed: \(ErrorText.oneLine(error, endpoint: api.endpoint))", isError: true)
        }
        let fetched: Result<RunExport, PrefactorHTTPError>
        do throws(PrefactorHTTPError) {
            fetched = .success(try await RunExport.fetch(instanceID: instanceID, from: client, apiURL: api.apiURL, now: now))
        } catch {
            fetched = .failure(error)
        }
        try? await client.shutdown()
        let export: RunExport
        switch fetched {
        case .success(let value): export = value
        case .failure(let error):
            if error.code == .notFound {
                return Message(
                    text: "Export failed: the API has no run \(instanceID) (not delivered yet?)", isError: true)
            }
            return Message(text: "Export failed: \(ErrorText.oneLine(error, endpoint: api.endpoint))", isError: true)
        }
        let path = (folder as NSString).appendingPathComponent(RunExport.fileName(instanceID: instanceID, at: now))
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try export.jsonData().write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            return Message(text: "Export failed: cannot write \(path): \(error.localizedDescription)", isError: true)
        }
        let count = export.spans.count
        return Message(text: "Exported run \(instanceID) with \(count) span\(count == 1 ? "" : "s") to \(path)", isError: false)
    }
}
