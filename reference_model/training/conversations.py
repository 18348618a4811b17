"""LLaVA conversation records and their ChatML tokenization with training targets.

A record (the LLaVA / LLaVA-OneVision JSON format)::

    {"id": "...", "image": "a.jpg" | ["a.jpg", "b.jpg"] | absent, "video": "v.mp4" | absent,
     "conversations": [{"from": "human", "value": "<image>\\nWhat is this?"}, {"from": "gpt", "value": "A cat."}]}

Tokenization follows the evaluation prompt exactly (``reference_model.processor.chatml``, the
``qwen_1_5`` template with the system prompt) so a model sees at evaluation the prefix it was trained
on. Targets are the assistant turns' text and the ``<|im_end|>`` that closes each of them; the system
turn, user turns, assistant headers and the newline after ``<|im_end|>`` are -100.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..processor import IMAGE_PLACEHOLDER, SYSTEM_PROMPT, VIDEO_PLACEHOLDER

IGNORE_INDEX = -100
_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}
_PLACEHOLDER_RE = re.compile(f"({re.escape(IMAGE_PLACEHOLDER)}|{re.escape(VIDEO_PLACEHOLDER)})")


class RecordError(ValueError):
    """A record that cannot be trained on (bad roles, placeholder/media mismatch ...)."""


@dataclass
class Turn:
    role: str  # "user" | "assistant"
    text: str


@dataclass
class ConversationRecord:
    id: str
    turns: list[Turn]
    images: list[str] = field(
        default_factory=list
    )  # paths as written in the JSON (relative to the media dir)
    video: str | None = None
    system: str = SYSTEM_PROMPT

    @property
    def modality(self) -> str:
        if self.video is not None:
            return "video"
        if len(self.images) > 1:
            return "multi_image"
        return "single_image" if self.images else "text"


def parse_record(raw: dict, index: int = 0) -> ConversationRecord:
    """One JSON record -> ConversationRecord with placeholders normalised (see module doc)."""
    if not isinstance(raw, dict):
        raise RecordError(f"record {index}: expected an object, got {type(raw).__name__}")
    rid = str(raw.get("id", index))
    convs = raw.get("conversations")
    if not isinstance(convs, list) or not convs:
        raise RecordError(f"record {rid}: no conversations")
    image = raw.get("image")
    images = [image] if isinstance(image, str) else list(image or [])
    video = raw.get("video")
    if images and video:
        raise RecordError(f"record {rid}: has both image and video")
    if not all(isinstance(p, str) and p for p in images) or (
        video is not None and not isinstance(video, str)
    ):
        raise RecordError(f"record {rid}: media paths must be strings")

    system, turns = SYSTEM_PROMPT, []
    for i, msg in enumerate(convs):
        role = _ROLES.get(str(msg.get("from", "")).lower()) if isinstance(msg, dict) else None
        value = msg.get("value") if isinstance(msg, dict) else None
        if role is None or not isinstance(value, str):
            raise RecordError(f"record {rid}: turn {i} needs 'from' (human/gpt) and a string 'value'")
        if role == "system":
            if i != 0:
                raise RecordError(f"record {rid}: a system turn may only come first")
            system = value
            continue
        turns.append(Turn(role, value))
    if not any(t.role == "assistant" for t in turns):
        raise RecordError(f"record {rid}: no assistant (gpt) turn to train on")
    if any(_PLACEHOLDER_RE.search(t.text) for t in turns if t.role == "assistant"):
        raise RecordError(f"record {rid}: an assistant turn contains a media placeholder")

    user_turns = [t for t in turns if t.role == "user"]
    if not user_turns:
        raise RecordError(f"record {rid}: no user (human) turn")
    if video is not None:
        # LLaVA's data writes <image> for videos too; the model's video placeholder is <video>.
        for t in user_turns:
            t.text = t.text.replace(IMAGE_PLACEHOLDER, VIDEO_PLACEHOLDER)
    n_media = 1 if video is not None else len(images)
    placeholder = VIDEO_PLACEHOLDER if video is not None else IMAGE_PLACEHOLDER
    n_found = sum(t.text.count(IMAGE_PLACEHOLDER) + t.text.count(VIDEO_PLACEHOLDER) for t in user_turns)
    if n_found == 0 and n_media:
        # lmms-eval's rule (Processor.build_prompt): placeholders first, space-joined, then a newline.
        user_turns[0].text = " ".join([placeholder] * n_media) + "\n" + user_turns[0].text
    elif n_found != n_media or (video is None and VIDEO_PLACEHOLDER in "".join(t.text for t in user_turns)):
        raise RecordError(
            f"record {rid}: {n_found} placeholders for {n_media} {'video' if video else 'image'}(s)"
        )
    return ConversationRecord(rid, turns, images, video, system)


def with_time_instruction(record: ConversationRecord, instruction: str) -> ConversationRecord:
    """A copy of a video record whose first user turn reads ``<video>\n{instruction}\n{question}``, the
    user turn LLaVA-Video's evaluated path writes (lmms-eval llava_vid), so training and evaluation agree."""
    turns = [Turn(t.role, t.text) for t in record.turns]
    first = next(t for t in turns if t.role == "user" and VIDEO_PLACEHOLDER in t.text)
    rest = first.text.replace(VIDEO_PLACEHOLDER, "", 1).lstrip("\n")
    first.text = f"{VIDEO_PLACEHOLDER}\n{instruction}\n{rest}"
    return ConversationRecord(record.id, turns, list(record.images), record.video, record.system)


@dataclass
class TokenizedConversation:
    input_ids: list[int]
    labels: list[int]


class ConversationTokenizer:
    """ChatML ids + labels; each placeholder becomes a run of its visual-token count."""

    def __init__(self, tokenizer, image_token_id: int, video_token_id: int):
        self.tokenizer = tokenizer
        self.image_id, self.video_id = image_token_id, video_token_id
        self._cache: dict[str, list[int]] = {}

    def _ids(self, text: str) -> list[int]:
        if not text:
            return []
        hit = self._cache.get(text)
        if hit is None:
            hit = self.tokenizer(text, add_special_tokens=False).input_ids
            if len(self._cache) < 256:  # headers and the system prompt repeat in every record
                self._cache[text] = hit
        return hit

    def _user_ids(self, text: str, image_counts, video_counts) -> list[int]:
        ids: list[int] = []
        for part in _PLACEHOLDER_RE.split(text):
            if part == IMAGE_PLACEHOLDER:
                ids += [self.image_id] * next(image_counts)
            elif part == VIDEO_PLACEHOLDER:
                ids += [self.video_id] * next(video_counts)
            else:
                ids += self._ids(part)
        return ids

    def __call__(
        self,
        record: ConversationRecord,
        image_token_counts: Sequence[int] = (),
        video_token_counts: Sequence[int] = (),
    ) -> TokenizedConversation:
        images, videos = iter(image_token_counts), iter(video_token_counts)
        ids = list(self._ids(f"<|im_start|>system\n{record.system}<|im_end|>\n"))
        labels = [IGNORE_INDEX] * len(ids)
        for turn in record.turns:
            if turn.role == "user":
                seg = (
                    self._ids("<|im_start|>user\n")
                    + self._user_ids(turn.text, images, videos)
                    + self._ids("<|im_end|>\n")
                )
                ids += seg
                labels += [IGNORE_INDEX] * len(seg)
            else:
                header, body, tail = (
                    self._ids("<|im_start|>assistant\n"),
                    self._ids(turn.text + "<|im_end|>"),
                    self._ids("\n"),
                )
                ids += header + body + tail
                labels += [IGNORE_INDEX] * len(header) + body + [IGNORE_INDEX] * len(tail)
        return TokenizedConversation(ids, labels)
