"""Generation overrides: ``--max-new-tokens``, ``--temperature``, ``--top-p``, ``--system-prompt`` and
``--gen-args k=v`` (or a run config's ``generation:``), applied to a task's own parts.

They change the task's declared inferencer (a validated copy with the new fields) and, for the system
prompt, its instruction, before any transform adapts them: the task version hash (so the run id)
covers the changed parts, and the generation settings are in every request's key, so a run with
another setting never reuses the answers of the first. A ``--gen-args`` key that is a field of the
task's inferencer sets that field (``max_new_tokens``, ``stop``, ``seed``, ``answer_max_new_tokens``,
...); any other key is a chat-template keyword argument (``enable_thinking=false``), passed to the
backend with each generation request (``hf``: ``apply_chat_template``; ``openai``: the request's
``chat_template_kwargs``, as vLLM and SGLang read it). A setting the task's inferencer does not have
(a temperature on a likelihood ranking) is one error naming the option. ``--video-frames``,
``--video-sampling``, ``--video-fps`` and ``--video-decoder`` set a video task's frame settings
(mmlens.media.instruction.with_frame_options); tasks without video are left as they are."""

from __future__ import annotations

import difflib
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mmlens.core import parts
from mmlens.core.errors import ConfigError

# The dedicated options and the inferencer field each sets.
OPTION_FIELDS = {"max_new_tokens": "--max-new-tokens", "temperature": "--temperature", "top_p": "--top-p"}
TEMPLATE_KWARGS_FIELD = "chat_template_kwargs"

P = TypeVar("P", bound=parts.Part)


class GenerationOverrides(BaseModel):
    """What a run changes in how its tasks generate (None: the task's own setting)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_new_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    system_prompt: str | None = None
    # --video-frames, ...: the frame settings of a video task's instruction (mmlens.media.instruction)
    video_frames: int | None = Field(default=None, ge=0)
    video_sampling: str | None = None
    video_fps: float | None = Field(default=None, gt=0.0)
    video_decoder: str | None = None
    # --gen-args: inferencer fields, or chat-template keyword arguments
    args: dict[str, Any] = Field(default_factory=dict)

    def given(self) -> dict[str, Any]:
        """The overrides as recorded in provenance (``generation_overrides``): only what was set."""
        data: dict[str, Any] = {
            key: value
            for key, value in self.model_dump(mode="json", exclude={"args"}).items()
            if value is not None
        }
        data.update(self.args)
        return data

    def __bool__(self) -> bool:
        return bool(self.given())

    def merged(self, other: GenerationOverrides) -> GenerationOverrides:
        """These overrides with ``other``'s set values on top (the command line over a config file)."""
        given = other.model_dump(exclude={"args"})
        fields = {key: value for key, value in given.items() if value is not None}
        return self.model_copy(update={**fields, "args": {**self.args, **other.args}})

    def apply(
        self,
        task_name: str,
        inferencer: parts.Inferencer,
        instruction: parts.Instruction,
        kinds: tuple[str, str],
        video_task: bool = False,
    ) -> tuple[parts.Inferencer, parts.Instruction]:
        """The task's inferencer and instruction with these overrides (validated copies); ``kinds``
        are their type names in the task file, for messages; ``video_task``: the task is tagged
        ``video`` (its frames must then be the instruction's for the --video-* options to apply)."""
        updates = self._inferencer_fields(task_name, inferencer, kinds[0])
        instruction = self._instruction(task_name, instruction, kinds[1], video_task)
        return _with_fields(task_name, inferencer, updates), instruction

    def _inferencer_fields(self, task_name: str, inferencer: parts.Inferencer, kind: str) -> dict[str, Any]:
        cls = type(inferencer)
        fields = set(cls.model_fields)
        updates: dict[str, Any] = {}
        for field, option in OPTION_FIELDS.items():
            value = getattr(self, field)
            if value is None:
                continue
            if field not in fields:
                raise ConfigError(
                    f"{option}: task {task_name}'s inferencer {kind} has no {field} ({_fields(cls)}); "
                    "generation options apply to tasks that generate"
                )
            updates[field] = value
        template_kwargs: dict[str, Any] = {}
        for key, value in self.args.items():
            if key in fields and key != TEMPLATE_KWARGS_FIELD:
                updates[key] = value
                continue
            if TEMPLATE_KWARGS_FIELD not in fields:
                raise ConfigError(
                    f"--gen-args {key}: task {task_name}'s inferencer {kind} has no {key} and takes no "
                    f"chat-template arguments ({_fields(cls)})"
                )
            close = difflib.get_close_matches(key, sorted(fields | set(OPTION_FIELDS)), n=1, cutoff=0.8)
            if close:
                raise ConfigError(
                    f"--gen-args {key}: not a field of task {task_name}'s inferencer {kind} "
                    f"(did you mean {close[0]!r}?); a chat-template argument must not look like one"
                )
            template_kwargs[key] = value
        if template_kwargs:
            current = dict(getattr(inferencer, TEMPLATE_KWARGS_FIELD) or {})
            updates[TEMPLATE_KWARGS_FIELD] = {**current, **template_kwargs}
        return updates

    def _instruction(
        self, task_name: str, instruction: parts.Instruction, kind: str, video_task: bool = False
    ) -> parts.Instruction:
        from mmlens.media.instruction import FRAME_OPTIONS, with_frame_options

        frames = {option: getattr(self, option) for option in FRAME_OPTIONS}
        instruction = with_frame_options(task_name, instruction, frames, video_task)
        if self.system_prompt is None:
            return instruction
        cls = type(instruction)
        if "system" not in cls.model_fields:
            raise ConfigError(f"--system-prompt: task {task_name}'s instruction {kind} has no system prompt")
        return _with_fields(task_name, instruction, {"system": self.system_prompt})


def _fields(cls: type[parts.Part]) -> str:
    names = ", ".join(sorted(cls.model_fields))
    return f"its settings: {names}" if names else "it has no settings"


def _with_fields(task_name: str, part: P, updates: dict[str, Any]) -> P:
    """``part`` with ``updates``, validated as its own type validates its fields."""
    if not updates:
        return part
    cls = type(part)
    values = {name: getattr(part, name) for name in cls.model_fields}
    try:
        return cls.model_validate({**values, **updates})
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in item['loc'])}: {item['msg']}" for item in error.errors()
        )
        raise ConfigError(f"task {task_name}: generation override {problems}") from None
