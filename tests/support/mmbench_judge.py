"""MMBench's LLM judge in tests: a scripted reply to lmms-eval's matching prompt, and lmms-eval's own
judge path (its MMBench_Evaluator and requests.post) pointed at the loopback judge server, the
independent side of the parity tests."""

from __future__ import annotations

import contextlib
import random
import re
import sys
from collections.abc import Iterator
from typing import Any

from tests.support.judge_server import JudgeServer, last_user_text, pick


def mmbench_reply(request: dict[str, Any]) -> str:
    """A reply to lmms-eval's MMBench matching prompt, a function of the prompt, that lmms-eval's matcher
    reads: mostly the option the model's answer meant ("..., rather <option>"), else another option's
    letter, "E", a letter in a sentence ("... is A" is not read: "A" may be an article), or an option's
    text."""
    asked = last_user_text(request).rsplit("Example 3:", 1)[-1]
    options = re.findall(r"\n([A-D])\. (.*)", asked)
    meant = re.search(r"rather (.+)\nYour output", asked)
    k = pick(asked, 1000)
    letter, text = options[k % len(options)] if options else ("E", "E")
    for option_letter, option_text in options:
        if meant and option_text == meant.group(1).strip():
            letter, text = option_letter, option_text
    return [letter, letter, letter, f"The best match is {letter}.", text, "E"][k % 6]


@contextlib.contextmanager
def lmms_eval_judging_at(evaluator: Any, server: JudgeServer, monkeypatch: Any) -> Iterator[None]:
    """lmms-eval's MMBench evaluator ``evaluator`` (its judge client: requests.post to API_URL) talks to
    ``server``; the global RNG that its eval_result reseeds is restored afterwards."""
    import requests

    state = random.getstate()
    with monkeypatch.context() as m:
        m.setattr(sys.modules[type(evaluator).__module__], "requests", requests)  # lmms-eval's own client
        m.setattr(evaluator, "API_URL", server.url + "/chat/completions")
        m.setattr(evaluator, "API_KEY", "sk-loopback")
        try:
            yield
        finally:
            random.setstate(state)
