"""A small local server that speaks the OpenAI completions API (``POST /v1/completions``), for tests.

Behind it, a stand-in for the paper's gpt-3.5-turbo-instruct: a ReAct prompt (it ends with ``>``) is
answered by replaying the scripted teacher on the task the prompt shows; an ActRe prompt (it ends with
``Reason for the action:``) gets a fixed sentence naming the action. ``fail_first`` requests are
answered 500 (the client must retry); every request is recorded.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from a3t.agents.prompted import examples
from a3t.agents.teacher import teacher

ACTRE_ANSWER = "I want to see what {action} does for the task."


def _react_answer(prompt: str) -> str:
    """The scripted teacher's next line for the task after 'Here is the task.'."""
    head, task = prompt.rsplit("Here is the task.\n", 1)
    task_type = next(t for t, ex in examples().items() if ex.initial_observation in head)
    first, _, rest = task.partition("\n> ")
    goal = re.search(r"Your task is to: (.*)\.", first).group(1)
    policy = teacher(task_type, goal, first)
    action = next(policy)
    blocks = [b for b in ("> " + rest).split("\n> ") if b.strip() and b.strip() != ">"]
    for block in blocks:
        _, _, observation = block.partition("\n")
        action = policy.send(observation.strip())
    return f" {action}"


def answer(prompt: str) -> str:
    if prompt.endswith("Reason for the action:"):
        action = re.findall(r"Action: act\[(.*)\]", prompt)[-1]
        return " " + ACTRE_ANSWER.format(action=action) + "\nAction: act[next]"  # the stop string must cut it
    return _react_answer(prompt)


class FakeOpenAI:
    def __init__(self, fail_first: int = 0):
        self.fail_first, self.requests = fail_first, []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                if len(server.requests) <= server.fail_first or self.path != "/v1/completions":
                    self.send_response(500 if self.path == "/v1/completions" else 404)
                    self.end_headers()
                    return
                text = answer(body["prompt"])
                for stop in body.get("stop") or []:
                    text = text.split(stop, 1)[0]
                reply = {
                    "id": f"cmpl-{len(server.requests)}",
                    "object": "text_completion",
                    "created": 0,
                    "model": body["model"],
                    "choices": [{"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}],
                    "usage": {"prompt_tokens": len(body["prompt"].split()), "completion_tokens": len(text.split()),
                              "total_tokens": len(body["prompt"].split()) + len(text.split())},
                }  # fmt: skip
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port_url() -> str:
    """A URL nothing listens on: an endpoint that is down."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"
