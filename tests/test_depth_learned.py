"""Learned depth: tiny random Depth Anything and Marigold models saved with save_pretrained and loaded through
the same `estimate_depth` path as real weights; the Hub is never reached (offline, and sockets refuse)."""

from __future__ import annotations

import json
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_diffusers import tiny_unet, tiny_vae

from refocus_cli.depth import learned
from refocus_cli.depth.learned import estimate_depth
from refocus_cli.errors import DepthUnavailableError

CPU = torch.device("cpu")
DEPTH_ANYTHING_PROCESSOR = {  # as in depth-anything/Depth-Anything-V2-Small-hf, at a tiny size
    "image_processor_type": "DPTImageProcessor",
    "do_resize": True,
    "size": {"height": 28, "width": 28},
    "keep_aspect_ratio": True,
    "ensure_multiple_of": 14,
    "resample": 3,
    "do_rescale": True,
    "rescale_factor": 1 / 255,
    "do_normalize": True,
    "image_mean": [0.485, 0.456, 0.406],
    "image_std": [0.229, 0.224, 0.225],
}


def save_depth_anything(folder: Path, **config: object) -> Path:
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    backbone = Dinov2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        patch_size=14,
        image_size=28,
        out_indices=[1, 2],
        reshape_hidden_states=False,
    )
    torch.manual_seed(0)
    model = DepthAnythingForDepthEstimation(
        DepthAnythingConfig(
            backbone_config=backbone,
            reassemble_hidden_size=32,
            reassemble_factors=[2, 1],
            neck_hidden_sizes=[8, 16],
            fusion_hidden_size=8,
            head_hidden_size=4,
            **config,
        )
    )
    model.save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps(DEPTH_ANYTHING_PROCESSOR))
    return folder


def save_marigold(folder: Path) -> Path:
    from diffusers import DDIMScheduler, MarigoldDepthPipeline
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    unet = tiny_unet(in_channels=8, sample_size=8)
    vae = tiny_vae(sample_size=16)
    scheduler = DDIMScheduler(
        beta_schedule="scaled_linear",
        beta_start=0.00085,
        beta_end=0.012,
        prediction_type="v_prediction",
        timestep_spacing="trailing",
        clip_sample=False,
        set_alpha_to_one=False,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            projection_dim=16,
            vocab_size=8,
            max_position_embeddings=8,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        )
    )
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, "a</w>": 2, "a": 3}
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=8)
    pipe = MarigoldDepthPipeline(
        unet=unet,
        vae=vae,
        scheduler=scheduler,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        prediction_type="depth",
        default_denoising_steps=1,
        default_processing_resolution=16,
    )
    pipe.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread, and do not stall when other processes load the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def depth_anything_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_depth_anything(tmp_path_factory.mktemp("depth-anything"))


@pytest.fixture(scope="module")
def marigold_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_marigold(tmp_path_factory.mktemp("marigold"))


@pytest.fixture(autouse=True)
def no_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Offline, an empty Hugging Face home, sockets that refuse, and no model left loaded from another test."""
    from huggingface_hub import constants

    home = tmp_path / "hf-home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))  # read at import: patch it too
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    learned._estimator.cache_clear()
    yield home / "hub"
    learned._estimator.cache_clear()


@pytest.fixture
def photo() -> torch.Tensor:
    return torch.rand(1, 3, 20, 30, generator=torch.Generator().manual_seed(0))  # [1,3,H,W] linear


def check_depth(depth: learned.DepthMap, model: str) -> None:
    assert depth.disparity.shape == (1, 1, 20, 30)
    assert depth.disparity.dtype == torch.float32
    assert torch.isfinite(depth.disparity).all()
    assert depth.disparity.min() == 0.0 and depth.disparity.max() == 1.0
    assert depth.source == f"model:{model}"


def test_depth_anything_from_folder(depth_anything_dir: Path, photo: torch.Tensor) -> None:
    depth = estimate_depth(photo, str(depth_anything_dir), device=CPU, offline=True)
    check_depth(depth, str(depth_anything_dir))
    assert depth.metric_depth_m is None


def test_model_loads_once_per_process(
    depth_anything_dir: Path, photo: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[str] = []
    load = learned._load
    monkeypatch.setattr(learned, "_load", lambda location, device: loads.append(location.ref) or load(location, device))
    first = estimate_depth(photo, str(depth_anything_dir), device=CPU, offline=True)
    second = estimate_depth(photo.flip(-1), str(depth_anything_dir), device=CPU, offline=True)
    assert loads == [str(depth_anything_dir)]
    assert not torch.equal(first.disparity, second.disparity)


def test_metric_depth_anything_keeps_metres(tmp_path: Path, photo: torch.Tensor) -> None:
    folder = save_depth_anything(tmp_path / "metric", depth_estimation_type="metric", max_depth=20)
    depth = estimate_depth(photo, str(folder), device=CPU, offline=True)
    check_depth(depth, str(folder))
    assert depth.metric_depth_m is not None and depth.metric_depth_m.shape == (1, 1, 20, 30)
    inverse = 1 / depth.metric_depth_m
    expected = (inverse - inverse.min()) / (inverse.max() - inverse.min())
    torch.testing.assert_close(depth.disparity, expected)


def test_cached_hub_id_loads_offline(depth_anything_dir: Path, photo: torch.Tensor, no_network: Path) -> None:
    repo = no_network / "models--someone--tiny-depth"
    commit = "0" * 40
    shutil.copytree(depth_anything_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    depth = estimate_depth(photo, "someone/tiny-depth", device=CPU, offline=True)
    check_depth(depth, "someone/tiny-depth")


def test_partly_cached_hub_id_offline(depth_anything_dir: Path, no_network: Path) -> None:
    snapshot = no_network / "models--someone--tiny-depth" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    shutil.copy(depth_anything_dir / "config.json", snapshot)  # no weights, no preprocessor config
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("0" * 40)
    assert "cannot load it from the Hugging Face cache" in one_line_error("someone/tiny-depth")


def test_marigold_from_folder(marigold_dir: Path, photo: torch.Tensor) -> None:
    depth = estimate_depth(photo, str(marigold_dir), device=CPU, offline=True)
    check_depth(depth, str(marigold_dir))
    assert depth.metric_depth_m is None
    again = estimate_depth(photo, str(marigold_dir), device=CPU, offline=True)
    torch.testing.assert_close(again.disparity, depth.disparity)  # the default noise is seeded


def test_marigold_takes_a_generator(marigold_dir: Path, photo: torch.Tensor) -> None:
    seeded = [
        estimate_depth(photo, str(marigold_dir), device=CPU, offline=True, generator=torch.Generator().manual_seed(s))
        for s in (1, 1, 2)
    ]
    torch.testing.assert_close(seeded[0].disparity, seeded[1].disparity)
    assert not torch.equal(seeded[0].disparity, seeded[2].disparity)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda(depth_anything_dir: Path, marigold_dir: Path, photo: torch.Tensor) -> None:
    for folder in (depth_anything_dir, marigold_dir):
        depth = estimate_depth(photo, str(folder), device=torch.device("cuda"), offline=True)
        check_depth(depth, str(folder))
        assert depth.disparity.device == photo.device


def one_line_error(model: str, *, offline: bool = True) -> str:
    with pytest.raises(DepthUnavailableError) as caught:
        estimate_depth(torch.rand(1, 3, 20, 30), model, device=CPU, offline=offline)
    message = str(caught.value)
    assert "\n" not in message and model in message
    return message


def test_missing_hub_id_offline() -> None:
    message = one_line_error("someone/missing-depth")
    assert "not in the Hugging Face cache" in message and "offline" in message


def test_hub_offline_env_counts_as_offline() -> None:
    assert "offline" in one_line_error("someone/missing-depth", offline=False)


def test_missing_hub_id_without_network_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    start = time.monotonic()
    message = one_line_error("someone/missing-depth", offline=False)
    assert time.monotonic() - start < 5
    assert "could not be downloaded" in message and "hf download someone/missing-depth" in message


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({}, "neither config.json nor model_index.json"),
        ({"config.json": "{not json"}, "not readable JSON"),
        ({"config.json": '{"model_type": "bert"}'}, "not a depth model"),
        ({"model_index.json": '{"_class_name": "StableDiffusionPipeline"}'}, "StableDiffusionPipeline"),
        ({"config.json": '{"model_type": "depth_anything"}', "model.safetensors": "garbage"}, "cannot load"),
    ],
)
def test_folder_that_is_not_a_model(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    assert expected in one_line_error(str(folder))


def test_broken_weights(depth_anything_dir: Path, tmp_path: Path) -> None:
    folder = shutil.copytree(depth_anything_dir, tmp_path / "broken")
    (folder / "model.safetensors").write_bytes(b"\0" * 64)
    assert "cannot load" in one_line_error(str(folder))


@pytest.mark.parametrize("model", ["./no/such/folder", "no-such-thing"])
def test_neither_folder_nor_hub_id(model: str) -> None:
    assert "no such folder" in one_line_error(model)


def test_image_must_be_one_rgb_image(depth_anything_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"\[1,3,H,W\]"):
        estimate_depth(torch.rand(2, 3, 8, 8), str(depth_anything_dir), device=CPU, offline=True)


# ----------------------------------------------------------------------------------------------- through the CLI


def test_cli_uses_the_model_when_the_photo_has_no_depth(depth_anything_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from refocus_cli.cli import app

    photo = tmp_path / "p.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(photo)
    result = CliRunner().invoke(
        app, ["image", str(photo), "--depth-model", str(depth_anything_dir), "--json", "-o", str(tmp_path / "o.png")]
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["depth_source"] == f"model:{depth_anything_dir}" and record["notes"] == []


def test_cli_forced_model_that_is_missing_is_one_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from refocus_cli.cli import app

    photo = tmp_path / "p.png"
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(photo)
    result = CliRunner().invoke(
        app, ["image", str(photo), "--depth", "model", "--offline", "-o", str(tmp_path / "o.png")]
    )
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    default = "depth model depth-anything-v2-small (depth-anything/Depth-Anything-V2-Small-hf@5426e4f) is not in the"
    assert line.startswith(f"refocus: error: {default}")  # the registry's default, at its pinned revision
    assert "`refocus models fetch depth-anything-v2-small`" in line
    assert not (tmp_path / "o.png").exists()
