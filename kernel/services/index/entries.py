"""From an item file to what the index holds: its trust level and its searchable text.

The gate verifies each file once, as it enters the index, under the two policies that can
refuse it: a file that passes ``signed`` is level 2, one that passes only ``hash`` (unsigned,
or signed by an untrusted key) level 1, one whose hash fails level 0 (seen only under
``KIWI_VERIFY=off``); a file that cannot be read or parsed is in no engine at all. A query
asks for the level its policy needs (:func:`min_level`), a filter inside both engines, so an
item that does not verify under the current policy is never a result.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Final

from kiwi_mcp.kernel.core.items import Directive, Knowledge, Tool
from kiwi_mcp.kernel.core.spaces import LoadedItem
from kiwi_mcp.kernel.errors import IntegrityFailed, KiwiError, SignatureMissing, SignatureUntrusted
from kiwi_mcp.kernel.store.files import FileCache
from kiwi_mcp.kernel.store.settings import Settings, VerifyPolicy
from kiwi_mcp.kernel.trust.verifier import Verifier

__all__ = ["Gate", "ItemText", "Verdict", "item_text", "min_level"]

LEVELS: Final[dict[VerifyPolicy, int]] = {"signed": 2, "hash": 1, "off": 0}
_BODY_CHARS: Final = 4000


def min_level(policy: VerifyPolicy) -> int:
    """The lowest trust level a result may have under ``policy``."""
    return LEVELS[policy]


@dataclass(frozen=True, kw_only=True, slots=True)
class Verdict:
    level: int
    code: str | None = None
    reason: str | None = None


class Gate:
    """Verifies loaded items for the index (see the module docstring)."""

    def __init__(self, settings: Settings, files: FileCache) -> None:
        self._signed = Verifier(dataclasses.replace(settings, verify="signed"), files)
        self._hash = Verifier(dataclasses.replace(settings, verify="hash"), files)

    def fingerprint(self) -> str:
        """Names the trusted keys: verdicts made under other keys are stale."""
        return ",".join(sorted(self._signed.current_keys()))

    def forget(self) -> None:
        """Drop the verifiers' memos: each file is verified once as it enters the index, so
        they would only grow (by a row per file) in a long-lived process."""
        self._signed.forget_keys()
        self._hash.forget_keys()

    def check(self, loaded: LoadedItem) -> Verdict:
        try:
            self._signed.check(loaded)
            return Verdict(level=2)
        except (SignatureMissing, SignatureUntrusted) as err:
            first: KiwiError = err
        except IntegrityFailed as err:
            return Verdict(level=0, code=err.code, reason=err.message)
        except KiwiError as err:
            return Verdict(level=-1, code=err.code, reason=err.message)
        try:
            self._hash.check(loaded)
        except KiwiError as err:
            return Verdict(level=0, code=err.code, reason=err.message)
        return Verdict(level=1, code=first.code, reason=first.message)


@dataclass(frozen=True, kw_only=True, slots=True)
class ItemText:
    """The four weighted fields of SPEC §15, and the text that is embedded."""

    name: str
    description: str
    tags: str
    body: str

    def embedded(self) -> str:
        return f"{self.name}: {self.description} {self.tags} {self.body[:600]}"


def _words_of_id(item_id: str) -> str:
    return item_id.replace("/", " ").replace("_", " ").replace("-", " ").replace(".", " ")


def _params_text(schema: Any) -> str:
    props = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(props, dict):
        return ""
    parts: list[str] = []
    for name, spec in props.items():
        desc = spec.get("description", "") if isinstance(spec, dict) else ""
        parts.append(f"{_words_of_id(str(name))} {desc}")
    return " ".join(parts)


def item_text(loaded: LoadedItem) -> ItemText:
    """What of ``loaded`` is searched (never executed: the record is already parsed)."""
    item = loaded.item
    file = loaded.file
    category = file.id.rsplit("/", 1)[0] if "/" in file.id else ""
    name = f"{file.id} {_words_of_id(file.id)}"
    if isinstance(item, Tool):
        return ItemText(
            name=name,
            description=item.description,
            tags=f"{_words_of_id(category)} {item.tool_type}",
            body=_params_text(dict(item.parameters))[:_BODY_CHARS],
        )
    if isinstance(item, Directive):
        inputs = " ".join(f"{i.name} {i.description}" for i in item.inputs)
        return ItemText(
            name=f"{name} {item.name}",
            description=item.description,
            tags=f"{_words_of_id(category)} {item.category}",
            body=f"{inputs} {item.process}"[:_BODY_CHARS],
        )
    assert isinstance(item, Knowledge)
    return ItemText(
        name=name,
        description=item.title,
        tags=" ".join([_words_of_id(category), item.category, item.entry_type, *item.tags]),
        body=item.body[:_BODY_CHARS],
    )


def description_of(loaded: LoadedItem) -> str:
    item = loaded.item
    return item.title if isinstance(item, Knowledge) else item.description
