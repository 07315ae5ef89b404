import NIOCore
import NIOHTTP1

extension ProxyHandler {
    /// The data an event brings that the action carrying it out needs: the machine decides
    /// on facts, the handler moves the bytes. Kept out of `ConnectionStateMachine.Action`
    /// so the machine's decisions stay plain, comparable values.
    enum EventData {
        case none
        /// A client request part (to hand over or to queue).
        case part(HTTPServerRequestPart)
        /// A body part, of the request or of the response.
        case body(ByteBuffer)
        /// The answer to refuse the exchange in flight with.
        case answer(GatewayAnswer)
        /// The answer to a request refused before any exchange began; `head` is nil when
        /// not even the head could be read.
        case refusal(GatewayAnswer, head: HTTPRequestHead?, startedAt: NIODeadline, policy: AccessLogPolicy)
        /// An upstream connection that arrived, and the request head to write on it.
        case connection(UpstreamConnection, head: HTTPHeadBuilder)
        /// The upstream's response head as the client gets it, and its status.
        case responseHead(ResponseRules.ClientHead, status: Int)
    }
}
