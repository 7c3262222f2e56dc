"""The semantic half's model: text in, unit vectors out (SPEC §15).

An :class:`Embedder` is all the index knows of a model, so a better bundled one can replace
:class:`WordLlamaEmbedder`. That one reads the static token table that ships inside the
``wordllama`` wheel (16 MB, 256-d) and its tokenizer file directly: nothing is fetched, and
the ``wordllama`` package itself is never imported (its loader would look for the tokenizer
in the wrong folder and fall back to the network). A text's vector is the mean of its
tokens' rows, normalised: the same numbers as ``WordLlama.embed(norm=True)``, without the
padding of a batch.
"""

from __future__ import annotations

import importlib.util
import json
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

from kiwi_mcp.kernel.errors import NotAvailable

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["Embedder", "WordLlamaEmbedder", "default_embedder"]

_WEIGHTS: Final = "weights/l2_supercat_256.safetensors"
_TOKENIZER: Final = "tokenizers/l2_supercat_tokenizer_config.json"
_DTYPES: Final = {"F16": "float16", "F32": "float32"}
#: Longer texts add little to a mean of static token vectors and cost time.
MAX_TOKENS: Final = 256


class Embedder(Protocol):
    """A model the index embeds items and queries with."""

    @property
    def name(self) -> str:
        """Names the model and its dimension: an index made with another is rebuilt."""
        ...

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """One L2-normalised row per text (a zero row for a text with no known token)."""
        ...


class WordLlamaEmbedder:
    """wordllama's bundled ``l2_supercat`` 256-d table (see the module docstring)."""

    name = "wordllama-l2_supercat-256"
    dim = 256

    def __init__(self, root: Path) -> None:
        import numpy as np
        from tokenizers import Tokenizer

        weights = root / _WEIGHTS
        try:
            with weights.open("rb") as handle:
                (size,) = struct.unpack("<Q", handle.read(8))
                header: dict[str, Any] = json.loads(handle.read(size))
            entry = header["embedding.weight"]
            rows, cols = entry["shape"]
            self._table = np.memmap(
                weights,
                dtype=_DTYPES[entry["dtype"]],
                mode="r",
                offset=8 + size + entry["data_offsets"][0],
                shape=(rows, cols),
            )
            self._tokenizer = Tokenizer.from_file(str(root / _TOKENIZER))
        except (OSError, KeyError, ValueError) as exc:
            raise NotAvailable(
                f"the embedding model in {root} cannot be read: {exc}",
                hint="Reinstall it: pip install --force-reinstall wordllama",
            ) from None
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        import numpy as np

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        encoded = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        for row, enc in enumerate(encoded):
            ids = enc.ids[:MAX_TOKENS]
            if not ids:
                continue
            vector = np.asarray(self._table[ids], dtype=np.float32).mean(axis=0)
            norm = float(np.linalg.norm(vector))
            if norm > 0:
                out[row] = vector / norm
        return out


_default: WordLlamaEmbedder | None = None


def default_embedder() -> WordLlamaEmbedder:
    """The bundled model, loaded once per process.

    Raises:
        NotAvailable: ``wordllama`` is not installed or its files are damaged.
    """
    global _default
    if _default is None:
        spec = importlib.util.find_spec("wordllama")
        if spec is None or not spec.submodule_search_locations:
            raise NotAvailable(
                "the embedding model (the wordllama package) is not installed",
                hint="pip install wordllama, or search with --mode keyword",
            )
        _default = WordLlamaEmbedder(Path(next(iter(spec.submodule_search_locations))))
    return _default
