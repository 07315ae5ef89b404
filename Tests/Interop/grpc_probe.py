"""A real gRPC server and client (the `grpcio` package) for the gateway's gRPC tests.

Methods are registered with generic handlers and raw-bytes messages (no generated code):
service `tokengate.test.Echo`, whose messages are JSON documents.

  grpc_probe.py serve PORT
      Server on 127.0.0.1:PORT (cleartext HTTP/2). Prints "ready" once it listens.
      Unary       -> {"metadata": {...the call's metadata...}, "echo": request}
      ServerStream: request {"count": N} -> N messages {"index": i}
      ClientStream: many requests -> {"messages": count, "bytes": total}
      Bidi        : each request is answered at once with {"echo": request}
      Fail        : request {"code": "NOT_FOUND", "message": "..."} -> that status
      Slow        : waits 5 s, then answers {}
  grpc_probe.py call TARGET METHOD [--token T] [--ca FILE] [--authority NAME]
      Calls METHOD through TARGET (host:port; TLS when --ca is given), and prints one JSON
      line: {"code": "OK"|status name, "details": str, "responses": [...], "metadata": {...}}.
      METHOD is one of unary, server-stream, client-stream, bidi, fail, slow.
"""
import json
import sys
import time
from concurrent import futures

import grpc

SERVICE = "tokengate.test.Echo"


def encode(value) -> bytes:
    return json.dumps(value).encode()


def decode(data: bytes):
    return json.loads(data.decode())


def serve(port: int) -> None:
    def unary(request, context):
        metadata = {key: value for key, value in context.invocation_metadata()}
        return encode({"metadata": metadata, "echo": decode(request)})

    def server_stream(request, context):
        for index in range(decode(request)["count"]):
            yield encode({"index": index})

    def client_stream(requests, context):
        count = 0
        total = 0
        for request in requests:
            count += 1
            total += len(request)
        return encode({"messages": count, "bytes": total})

    def bidi(requests, context):
        for request in requests:
            yield encode({"echo": decode(request)})

    def fail(request, context):
        asked = decode(request)
        context.abort(getattr(grpc.StatusCode, asked["code"]), asked["message"])

    def slow(request, context):
        time.sleep(5)
        return encode({})

    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
        "Slow": grpc.unary_unary_rpc_method_handler(slow),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print("ready", flush=True)
    server.wait_for_termination()


def call(target: str, method: str, token: str | None, ca: str | None, authority: str | None) -> dict:
    options = [("grpc.default_authority", authority)] if authority else []
    if ca:
        with open(ca, "rb") as file:
            credentials = grpc.ssl_channel_credentials(root_certificates=file.read())
        channel = grpc.secure_channel(target, credentials, options=options)
    else:
        channel = grpc.insecure_channel(target, options=options)
    metadata = [("authorization", f"Bearer {token}")] if token else []
    path = f"/{SERVICE}/"
    responses = []
    result = {"code": "OK", "details": "", "responses": responses, "metadata": {}}
    try:
        with channel:
            grpc.channel_ready_future(channel).result(timeout=20)
            if method == "unary":
                stub = channel.unary_unary(path + "Unary")
                response, info = stub.with_call(encode({"hello": "world"}), metadata=metadata, timeout=20)
                responses.append(decode(response))
                result["metadata"] = {key: value for key, value in info.trailing_metadata() or []}
            elif method == "server-stream":
                stub = channel.unary_stream(path + "ServerStream")
                for response in stub(encode({"count": 5}), metadata=metadata, timeout=20):
                    responses.append(decode(response))
            elif method == "client-stream":
                stub = channel.stream_unary(path + "ClientStream")
                messages = (encode({"n": index, "pad": "x" * 1000}) for index in range(20))
                responses.append(decode(stub(messages, metadata=metadata, timeout=20)))
            elif method == "bidi":
                stub = channel.stream_stream(path + "Bidi")
                sent = []

                def requests():
                    # Each message is sent only after the previous answer arrived: a
                    # gateway that buffered either direction would stall here.
                    for index in range(5):
                        sent.append(index)
                        yield encode({"n": index})
                        deadline = time.monotonic() + 10
                        while len(responses) < len(sent) and time.monotonic() < deadline:
                            time.sleep(0.005)

                for response in stub(requests(), metadata=metadata, timeout=30):
                    responses.append(decode(response))
            elif method == "fail":
                stub = channel.unary_unary(path + "Fail")
                stub(encode({"code": "NOT_FOUND", "message": "no such thing: 42 %"}), metadata=metadata, timeout=20)
            elif method == "slow":
                stub = channel.unary_unary(path + "Slow")
                stub(encode({}), metadata=metadata, timeout=20)
            else:
                raise SystemExit(f"unknown method {method}")
    except grpc.RpcError as error:
        result["code"] = error.code().name
        result["details"] = error.details() or ""
    except grpc.FutureTimeoutError:
        result["code"] = "CHANNEL_NOT_READY"
    return result


def main() -> None:
    if len(sys.argv) >= 3 and sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
        return
    if len(sys.argv) >= 4 and sys.argv[1] == "call":
        options = {}
        rest = sys.argv[4:]
        while rest:
            options[rest[0].lstrip("-")] = rest[1]
            rest = rest[2:]
        print(json.dumps(call(sys.argv[2], sys.argv[3], options.get("token"), options.get("ca"), options.get("authority"))), flush=True)
        return
    raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
