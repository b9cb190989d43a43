import Hummingbird
import NIOCore

/// The request context of the emulator: Hummingbird's core storage plus the connection, so a fault can drop it.
struct ServerRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }
}
