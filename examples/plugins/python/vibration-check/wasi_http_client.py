"""A small blocking HTTP client over standard wasi:http.

Baton checks every request against the node's HTTP grant. A refused request
raises `Denied`; DNS, connection and timeout problems raise `TransportError`.
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from componentize_py_types import Err, Ok
from wit_world.imports import outgoing_handler, streams
from wit_world.imports import wasi_http_types as http


class Denied(Exception):
    """The node's grants do not allow this request."""


class TransportError(Exception):
    """The request did not get a response: DNS, connect, TLS or timeout."""


@dataclass
class Response:
    status: int
    headers: List[Tuple[str, str]]
    body: bytes


_METHODS = {
    "GET": http.Method_Get(),
    "POST": http.Method_Post(),
    "PUT": http.Method_Put(),
    "DELETE": http.Method_Delete(),
    "PATCH": http.Method_Patch(),
}


def _split(url: str) -> Tuple[http.Scheme, str, str]:
    if url.startswith("https://"):
        scheme, rest = http.Scheme_Https(), url[len("https://"):]
    elif url.startswith("http://"):
        scheme, rest = http.Scheme_Http(), url[len("http://"):]
    else:
        raise ValueError(f"`{url}` is not an http:// or https:// URL")
    slash = rest.find("/")
    if slash < 0:
        return scheme, rest, "/"
    return scheme, rest[:slash], rest[slash:]


def _error(code) -> Exception:
    if isinstance(code, (http.ErrorCode_HttpRequestDenied, http.ErrorCode_DestinationIpProhibited)):
        return Denied("the node's http grant does not allow this request")
    return TransportError(type(code).__name__.replace("ErrorCode_", ""))


def request(method: str, url: str, headers: Dict[str, str], body: bytes = b"",
            timeout_ms: Optional[int] = None) -> Response:
    scheme, authority, path = _split(url)
    fields = http.Fields.from_list([(k.lower(), v.encode()) for k, v in headers.items()])
    req = http.OutgoingRequest(fields)
    req.set_method(_METHODS.get(method.upper(), http.Method_Other(method.upper())))
    req.set_scheme(scheme)
    req.set_authority(authority)
    req.set_path_with_query(path)
    options = None
    if timeout_ms is not None:
        options = http.RequestOptions()
        options.set_connect_timeout(timeout_ms * 1_000_000)
        options.set_first_byte_timeout(timeout_ms * 1_000_000)
    outgoing = req.body()
    # Hand the whole body over before sending: a request the host refuses
    # closes the body stream, and writing to it afterwards would fail.
    with outgoing.write() as stream:
        if stream.check_write() < len(body):
            raise ValueError(f"a request body of {len(body)} bytes is too large for this client")
        if body:
            stream.write(body)
    http.OutgoingBody.finish(outgoing, None)
    try:
        future = outgoing_handler.handle(req, options)
    except Err as e:
        raise _error(e.value)
    while True:
        result = future.get()
        if result is not None:
            break
        with future.subscribe() as pollable:
            pollable.block()
    if isinstance(result, Err) or isinstance(result.value, Err):
        raise _error(result.value.value if isinstance(result, Ok) else result.value)
    response = result.value.value
    status = response.status()
    with response.headers() as fields:
        headers_out = [(k, v.decode(errors="replace")) for k, v in fields.entries()]
    incoming = response.consume()
    data = bytearray()
    with incoming.stream() as stream:
        while True:
            try:
                data += stream.blocking_read(64 * 1024)
            except Err as e:
                if isinstance(e.value, streams.StreamError_Closed):
                    break
                raise TransportError("reading the response body failed")
    http.IncomingBody.finish(incoming)
    return Response(status, headers_out, bytes(data))
