"""A real WebSocket server and client (the `websockets` package) for the tunnel tests.

  websocket_probe.py serve PORT
      Echo server on 127.0.0.1:PORT. Its first message on every connection is a JSON
      object of the request headers it received; then it echoes each message back.
  websocket_probe.py client URL [TOKEN]
      Connects through the gateway (with `Authorization: Bearer TOKEN` when given), sends
      a text message and a 1 MiB binary one, and prints one JSON line: the status of a
      refused handshake, or the headers the server saw and whether both echoes matched.
"""
import asyncio
import json
import os
import sys

import websockets
from websockets.asyncio.client import connect
from websockets.asyncio.server import serve


async def serve_forever(port: int) -> None:
    async def echo(connection):
        headers = {name.lower(): value for name, value in connection.request.headers.raw_items()}
        await connection.send(json.dumps(headers))
        async for message in connection:
            await connection.send(message)

    async with serve(echo, "127.0.0.1", port, max_size=4 * 1024 * 1024):
        print("ready", flush=True)
        await asyncio.get_running_loop().create_future()


async def run_client(url: str, token: str | None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with asyncio.timeout(60):
            async with connect(url, additional_headers=headers, max_size=4 * 1024 * 1024, open_timeout=10) as ws:
                seen = json.loads(await ws.recv())
                await ws.send("hello through the tunnel")
                text_ok = await ws.recv() == "hello through the tunnel"
                payload = os.urandom(1024 * 1024)
                await ws.send(payload)
                binary_ok = await ws.recv() == payload
                return {"connected": True, "headers": seen, "text_ok": text_ok, "binary_ok": binary_ok}
    except websockets.exceptions.InvalidStatus as refused:
        return {"connected": False, "status": refused.response.status_code}


def main() -> None:
    if sys.argv[1] == "serve":
        asyncio.run(serve_forever(int(sys.argv[2])))
    else:
        token = sys.argv[3] if len(sys.argv) > 3 else None
        print(json.dumps(asyncio.run(run_client(sys.argv[2], token))), flush=True)


if __name__ == "__main__":
    main()
