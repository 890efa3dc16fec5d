"""An OpenAI-compatible completions endpoint (the paper's gpt-3.5-turbo-instruct, or e.g. a vLLM server)
as the round-0 teacher and as ActRe: retries with backoff (the ``openai`` client's own), a request
budget, and an answer cache on disk so that a rerun does not pay twice."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from a3t.io import A3TError
from a3t.settings import add_setting


class Endpoint:
    """``complete(prompt)`` -> the completion text (greedy), from the cache or from the server."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str = "OPENAI_API_KEY",
        cache: str | Path | None = None,
        max_requests: int = 10_000,
        retries: int = 5,
        timeout: float = 60.0,
        max_tokens: int = 100,
    ):
        import openai  # imported here: the embedded default never needs it

        if not base_url or not model:
            raise A3TError("endpoint: base_url and model must both be set")
        self.base_url, self.model, self.max_tokens = base_url, model, max_tokens
        self.client = openai.OpenAI(
            base_url=base_url, api_key=os.environ.get(api_key_env) or "EMPTY", max_retries=retries, timeout=timeout
        )
        self._errors = (openai.APIConnectionError, openai.APIStatusError)
        self.max_requests, self.requests, self.cache_hits = max_requests, 0, 0
        self.cache_path = Path(cache) if cache else None
        self._cache: dict[str, str] = self._load_cache() if self.cache_path else {}
        self._lock = threading.Lock()

    def _key(self, prompt: str, stop: list[str]) -> str:
        blob = json.dumps([self.model, prompt, stop, self.max_tokens], ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()

    def _load_cache(self) -> dict[str, str]:
        out = {}
        if self.cache_path.is_file():
            for line in self.cache_path.read_text(encoding="utf-8").splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:  # a line cut by a kill: that answer is simply asked again
                    continue
                out[record["key"]] = record["text"]
        return out

    def _remember(self, key: str, text: str) -> None:
        self._cache[key] = text
        if self.cache_path:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.cache_path, "a", encoding="utf-8") as f:  # one short append per answer
                f.write(json.dumps({"key": key, "text": text}, ensure_ascii=False) + "\n")

    def complete(self, prompt: str, stop: list[str] | None = None) -> str:
        stop = stop or ["\n"]
        key = self._key(prompt, stop)
        with self._lock:
            if key in self._cache:
                self.cache_hits += 1
                return self._cache[key]
            if self.requests >= self.max_requests:
                raise A3TError(f"endpoint {self.base_url}: request budget of {self.max_requests} spent")
            self.requests += 1
        try:
            response = self.client.completions.create(
                model=self.model, prompt=prompt, max_tokens=self.max_tokens, temperature=0.0, stop=stop
            )
        except self._errors as err:
            raise A3TError(f"endpoint {self.base_url} ({self.model}) failed after retries: {err}") from None
        text = response.choices[0].text
        with self._lock:
            self._remember(key, text)
        return text

    def complete_all(self, prompts: list[str], stop: list[str] | None = None, threads: int = 8) -> list[str]:
        """:meth:`complete` for each prompt, ``threads`` requests in flight at once, answers in order."""
        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(lambda prompt: self.complete(prompt, stop), prompts))

    def stats(self) -> dict[str, int]:
        return {"requests": self.requests, "cache_hits": self.cache_hits}


def add_endpoint_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("endpoint (an OpenAI-compatible completions server)")
    flags = {"base_url": "--endpoint-url", "api_key_env": "--endpoint-key-env"}
    for key in ("base_url", "model", "api_key_env", "cache", "max_requests", "retries", "timeout"):
        flag = flags.get(key, "--endpoint-" + key.replace("_", "-"))
        add_setting(g, f"endpoint.{key}", flag, dest=flag[2:].replace("-", "_"))


def endpoint_from_args(args: argparse.Namespace) -> Endpoint:
    return Endpoint(
        args.endpoint_url,
        args.endpoint_model,
        args.endpoint_key_env,
        args.endpoint_cache or None,
        args.endpoint_max_requests,
        args.endpoint_retries,
        args.endpoint_timeout,
    )
