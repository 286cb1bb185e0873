"""A Whisper model of our own making for the tests: random weights, tiny dimensions, no download.

No real Whisper model can be had here, so the whisper engine's plumbing is tested on this one: it
loads as faster-whisper loads any converted model (CTranslate2's ``model.bin``, ``config.json``,
``vocabulary.json`` and a Hugging Face ``tokenizer.json``) and decodes real audio through the real
runtime, but what it says is made up: "a" repeated (see ``build``). Built in a tenth of a second
from numpy, CTranslate2's model specification and the ``tokenizers`` library (all come with
faster-whisper, no torch), so the tests build it afresh (1.2 MB) instead of committing one.

The vocabulary: the 256 byte-level symbols (any text encodes), then the special tokens
faster-whisper's tokenizer and CTranslate2's decoder look up by name. It has fewer than 51865
entries, so CTranslate2 takes the model for an English-only one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

N_MELS = 80  # faster-whisper's feature extractor without a preprocessor_config.json
SPECIALS = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|translate|>", "<|transcribe|>",
            "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>"]


def _byte_symbols() -> list[str]:
    """The byte-level alphabet of ``tokenizers``' ByteLevel pre-tokenizer, in byte order."""
    from tokenizers import pre_tokenizers  # noqa: PLC0415

    alphabet = set(pre_tokenizers.ByteLevel.alphabet())
    shown = [b for b in range(256) if chr(b) in alphabet]
    out, extra = {}, 0
    for b in range(256):
        if b in shown:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + extra)
            extra += 1
    return [out[b] for b in range(256)]


def _tokenizer(tokens: list[str], path: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers  # noqa: PLC0415

    symbols = tokens[:256]
    tokenizer = Tokenizer(models.BPE(vocab={s: i for i, s in enumerate(symbols)}, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(tokens[256:])
    tokenizer.save(str(path))


def build(out: Path, width: int = 64, layers: int = 1, heads: int = 2, seed: int = 0) -> Path:
    """Writes the model into the new directory ``out`` and returns it."""
    from ctranslate2.converters.converter import Converter  # noqa: PLC0415
    from ctranslate2.specs import whisper_spec  # noqa: PLC0415

    tokens = _byte_symbols() + SPECIALS
    rng = np.random.default_rng(seed)

    def fill(shape: tuple[int, ...], scale: float = 0.1) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    spec = whisper_spec.WhisperSpec(layers, heads, layers, heads)
    d, ff = width, 4 * width
    shapes = {"conv1/weight": (d, N_MELS, 3), "conv2/weight": (d, d, 3), "embeddings/weight": (len(tokens), d),
              "projection/weight": (len(tokens), d), "ffn/linear_0/weight": (ff, d), "ffn/linear_1/weight": (d, ff)}
    for name in spec.variables():
        if not name.endswith(("weight", "gamma", "beta")):
            continue
        value: np.ndarray
        if name.endswith("gamma"):
            value = np.ones(d, np.float32)
        elif name.endswith("beta"):
            value = np.zeros(d, np.float32)
        else:
            key = next((k for k in shapes if name.endswith(k)), None)
            if key is not None:
                value = fill(shapes[key])
            elif "self_attention/linear_0" in name:
                value = fill((3 * d, d))  # query, key and value fused
            elif "attention/linear_1" in name and "self_attention" not in name:
                value = fill((2 * d, d))  # cross attention: key and value of the audio fused
            else:
                value = fill((d, d))
        layer = spec
        *scopes, leaf = name.split("/")
        for scope in scopes:
            base, _, index = scope.rpartition("_")
            layer = getattr(layer, base)[int(index)] if index.isdigit() and hasattr(layer, base) \
                else getattr(layer, scope)
        setattr(layer, leaf, value)
    # Whisper's 30 s window: 1500 audio positions after the strided convolution; 448 text positions.
    spec.encoder.position_encodings.encodings = fill((1500, d))
    spec.decoder.position_encodings.encodings = fill((448, d))
    # Its one habit: "a", again and again. Random weights alone might end every phrase at once or
    # not, seed by seed; this way every phrase gives text, as long as the engine's token bound allows.
    bias = np.zeros(len(tokens), np.float32)
    bias[tokens.index("a")] = 30.0
    spec.decoder.projection.bias = bias
    spec.register_vocabulary(tokens)
    spec.config.suppress_ids = []
    spec.config.suppress_ids_begin = [tokens.index("<|endoftext|>")]
    spec.config.lang_ids = [tokens.index("<|en|>")]
    spec.config.alignment_heads = [(0, h) for h in range(heads)]

    class _Ours(Converter):
        def _load(self) -> whisper_spec.WhisperSpec:
            return spec

    _Ours().convert(str(out))
    _tokenizer(tokens, out / "tokenizer.json")
    return out
