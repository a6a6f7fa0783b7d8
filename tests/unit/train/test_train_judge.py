"""The opt-in judge reward against a real HTTP server speaking the OpenAI chat-completions API.

The server below is a small, real ``/v1/chat/completions`` endpoint (``http.server``) backed by
the project's tiny Qwen2 model (``medgrpo.train.tiny.build_tiny_model``): greedy generation, and
vLLM's ``guided_choice`` extra parameter implemented by comparing the choices' log-likelihoods.
The tiny model is untrained, so its verdicts are nonsense: these tests check the protocol (what
is sent, how replies are read), caching, timeouts, back-off and the fallback to the lexical score,
never the quality of a judgement.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from medgrpo.data.prompt import build_messages
from medgrpo.train.judge import JUDGE_SYSTEM_PROMPT, parse_verdict
from medgrpo.train.rewards import get_reward_funcs


class TinyChatServer:
    """``POST /v1/chat/completions`` served by the tiny model; records every request it answers."""

    def __init__(self, model_dir: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
        self.requests: list[dict[str, Any]] = []
        self.replies: list[str] = []
        self.delay_s = 0.0
        self._model_lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.path != "/v1/chat/completions":
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if not isinstance(body.get("model"), str) or not isinstance(body.get("messages"), list):
                    self._send(400, {"error": {"message": "model and messages are required"}})
                    return
                server.requests.append({"body": body, "authorization": self.headers.get("Authorization")})
                time.sleep(server.delay_s)
                content = server.complete(body)
                server.replies.append(content)
                self._send(
                    200,
                    {
                        "id": f"chatcmpl-{len(server.requests)}",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body["model"],
                        "choices": [
                            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                        ],
                    },
                )

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                    pass

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def complete(self, body: dict[str, Any]) -> str:
        """Greedy continuation, or the most likely of ``guided_choice`` when the request names choices."""
        torch = self.torch
        prompt = self.tokenizer.apply_chat_template(body["messages"], add_generation_prompt=True, tokenize=False)
        ids = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
        with self._model_lock, torch.no_grad():
            choices = body.get("guided_choice")
            if choices:
                scores = []
                for choice in choices:
                    target = self.tokenizer(choice, return_tensors="pt", add_special_tokens=False)["input_ids"]
                    logits = self.model(torch.cat([ids, target], dim=1)).logits[0, ids.shape[1] - 1 : -1]
                    scores.append(torch.log_softmax(logits, -1).gather(1, target[0][:, None]).sum().item())
                return str(choices[max(range(len(choices)), key=scores.__getitem__)])
            out = self.model.generate(
                ids,
                max_new_tokens=int(body.get("max_tokens") or 16),
                do_sample=False,
                pad_token_id=self.tokenizer.pad_token_id,
            )
        return str(self.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True))

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def chat_server(tiny_model: Path) -> Iterator[TinyChatServer]:
    server = TinyChatServer(tiny_model)
    yield server
    server.close()


@pytest.fixture
def server(chat_server: TinyChatServer) -> TinyChatServer:
    chat_server.requests.clear()
    chat_server.replies.clear()
    chat_server.delay_s = 0.0
    return chat_server


RECORD = {
    "id": "open-1",
    "question": "A 40-year-old woman has sudden pleuritic chest pain after a long flight. Diagnosis?",
    "answer": "Pulmonary embolism",
    "answer_type": "text",
    "meta": {},
}


def _call(judge: Any, answers: list[str], record: dict[str, Any] = RECORD) -> tuple[list[float], dict[str, float]]:
    """Call the reward as TRL does (prompts, completions, columns, log_metric); return scores and metrics."""
    metrics: dict[str, float] = {}
    n = len(answers)
    scores = judge(
        prompts=[build_messages(record)] * n,
        completions=[[{"role": "assistant", "content": f"<think>t</think><answer>{a}</answer>"}] for a in answers],
        answer=[record["answer"]] * n,
        answer_type=[record["answer_type"]] * n,
        meta=[json.dumps(record.get("meta") or {})] * n,
        options=[json.dumps(record.get("options") or {})] * n,
        log_metric=lambda name, value: metrics.__setitem__(name, value),
    )
    return scores, metrics


def _judge(server: TinyChatServer, **params: Any) -> Any:
    (judge,) = get_reward_funcs(["judge"], {"judge": {"base_url": server.base_url, "model": "tiny-judge", **params}})
    return judge


def test_request_protocol_and_nonsense_reply_falls_back(server: TinyChatServer) -> None:
    judge = _judge(server, max_tokens=6)
    scores, metrics = _call(judge, ["Pulmonary embolus"])  # one name, not an accepted one: undecided
    assert len(server.requests) == 1
    body = server.requests[0]["body"]
    assert body["model"] == "tiny-judge"
    assert (body["max_tokens"], body["temperature"], body["n"]) == (6, 0.0, 1)
    system, user = body["messages"]
    assert system == {"role": "system", "content": JUDGE_SYSTEM_PROMPT}
    assert user["role"] == "user"
    assert RECORD["question"] in user["content"]
    assert "Reference answer: Pulmonary embolism" in user["content"]
    assert "Candidate answer: Pulmonary embolus" in user["content"]
    assert server.requests[0]["authorization"] is None  # no api_key_env: no header
    # the untrained tiny model does not answer yes or no: the lexical score (0) stands
    (reply,) = server.replies
    assert parse_verdict(reply) is None, reply
    assert scores == [0.0]
    assert (metrics["judge/calls"], metrics["judge/fallbacks"], metrics["judge/cache_hits"]) == (1.0, 1.0, 0.0)
    assert metrics["answers/hedge_share"] == 0.0


def test_guided_choice_verdict_is_the_score_and_is_cached(server: TinyChatServer) -> None:
    judge = _judge(server, extra_body={"guided_choice": ["yes", "no"]})
    scores, metrics = _call(judge, ["Pulmonary embolus", "Pneumothorax"])
    assert all(r["body"]["guided_choice"] == ["yes", "no"] for r in server.requests)
    verdicts = {
        r["body"]["messages"][1]["content"].split("Candidate answer: ")[1].split("\n")[0]: reply
        for r, reply in zip(server.requests, server.replies, strict=True)
    }
    assert set(verdicts) == {"Pulmonary embolus", "Pneumothorax"}
    assert set(verdicts.values()) <= {"yes", "no"}
    assert scores == [float(verdicts["Pulmonary embolus"] == "yes"), float(verdicts["Pneumothorax"] == "yes")]
    assert (metrics["judge/calls"], metrics["judge/fallbacks"]) == (2.0, 0.0)
    # the same (question, gold, answer) again: served from the cache, no request
    again, metrics = _call(judge, ["Pulmonary embolus", "pulmonary  EMBOLUS"])
    assert len(server.requests) == 2
    assert again == [scores[0], scores[0]]
    assert (metrics["judge/calls"], metrics["judge/cache_hits"]) == (0.0, 2.0)
    assert judge.client.cached_verdicts == 2


def test_lexically_decided_answers_never_reach_the_judge(server: TinyChatServer) -> None:
    judge = _judge(server)
    scores, _ = _call(judge, ["Pulmonary embolism", "PE", "PE or pneumothorax", "not PE", ""])
    assert scores == [1.0, 1.0, 0.0, 0.0, 0.0]  # match, initials, hedge, negation, empty
    choice = {"question": "Q?", "answer": "B", "answer_type": "choice", "options": {"A": "x", "B": "y"}}
    assert _call(judge, ["y", "A"], choice)[0] == [1.0, 0.0]
    assert server.requests == []


def test_timeout_falls_back_and_a_failing_judge_is_left_alone(server: TinyChatServer) -> None:
    server.delay_s = 2.0
    judge = _judge(server, timeout_s=0.3, failure_limit=1, pause_s=60)
    started = time.monotonic()
    scores, metrics = _call(judge, ["Pulmonary embolus"])
    assert time.monotonic() - started < 1.8  # did not wait for the slow server
    assert scores == [0.0]
    assert metrics["judge/fallbacks"] == 1.0
    # after failure_limit failures the judge is paused: no request at all
    count = len(server.requests)
    scores, metrics = _call(judge, ["Pneumothorax"])
    assert (scores, metrics["judge/fallbacks"], len(server.requests)) == ([0.0], 1.0, count)


def test_unreachable_endpoint_and_api_key(server: TinyChatServer, monkeypatch: pytest.MonkeyPatch) -> None:
    (dead,) = get_reward_funcs(["judge"], {"judge": {"base_url": "http://127.0.0.1:9/v1", "model": "m"}})
    scores, metrics = _call(dead, ["Pulmonary embolus"])
    assert (scores, metrics["judge/fallbacks"]) == ([0.0], 1.0)
    monkeypatch.setenv("TEST_JUDGE_KEY", "k-123")
    judge = _judge(server, api_key_env="TEST_JUDGE_KEY")
    _call(judge, ["Pulmonary embolus"])
    assert server.requests[-1]["authorization"] == "Bearer k-123"


def test_judge_configuration_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="base_url must start with http"):
        get_reward_funcs(["judge"], {"judge": {"base_url": "vllm:8000", "model": "m"}})
    with pytest.raises(ValueError, match="timeout_s must be positive, found 0"):
        get_reward_funcs(["judge"], {"judge": {"base_url": "http://x/v1", "model": "m", "timeout_s": 0}})


@pytest.mark.parametrize(
    ("reply", "verdict"), [("yes", True), ("No.", False), (" YES ", True), ("yes, but", None), ("maybe", None)]
)
def test_parse_verdict(reply: str, verdict: bool | None) -> None:
    assert parse_verdict(reply) is verdict
