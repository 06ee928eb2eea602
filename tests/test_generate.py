"""`refocus generate` end to end with a tiny random text-to-image pipeline and a tiny depth model, both built and
saved here (no network): the image is made, its EXIF carries the lens, its JPEG carries the metric depth, a
sweep keeps the scene and changes only the lens, and `refocus image` reads the lens back."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from test_depth_learned import save_depth_anything
from tiny_diffusers import tiny_unet, tiny_vae
from typer.testing import CliRunner

from refocus_cli.cli import app
from refocus_cli.depth import learned
from refocus_cli.depth.embedded import read_embedded_depth
from refocus_cli.io.images import read_image
from refocus_cli.lens import CameraSettings, physical_signed_coc_px


def save_tiny_text_to_image(folder: Path) -> Path:
    """A Stable Diffusion pipeline of random tiny parts (UNet, VAE, CLIP text encoder, a letters-only CLIP
    tokenizer built from its vocabulary), as diffusers' own tests build one."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    unet = tiny_unet(in_channels=4, sample_size=16)
    vae = tiny_vae(sample_size=32)
    scheduler = DDIMScheduler(
        beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False, set_alpha_to_one=False,
        steps_offset=1,
    )  # fmt: skip
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            projection_dim=16,
            vocab_size=64,
            max_position_embeddings=16,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        )
    )
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for letter in "abcdefghijklmnopqrstuvwxyz":
        vocab[letter] = len(vocab)
        vocab[letter + "</w>"] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=16)
    pipeline = StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )  # fmt: skip
    pipeline.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(text-to-image folder, depth model folder)."""
    root = tmp_path_factory.mktemp("generate-models")
    return save_tiny_text_to_image(root / "tiny-sd"), save_depth_anything(root / "tiny-depth")


@pytest.fixture(autouse=True)
def no_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Offline, an empty Hugging Face home, sockets that refuse."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-home" / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    learned._estimator.cache_clear()


def run_generate(models: tuple[Path, Path], out: Path, *options: str) -> dict:
    text_to_image, depth = models
    args = ["generate", "a red apple on a wooden table", "--model", str(text_to_image), "--depth-model", str(depth),
            "--size", "96x64", "--steps", "2", "-o", str(out), "--json", *options]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_generate_writes_the_image_with_its_lens_in_exif_and_its_depth_in_the_jpeg(
    models: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "apple.jpg"
    record = run_generate(
        models, out, "--fnumber", "2", "--focal-length", "85", "--save-all-in-focus", "--save-depth", "--seed", "3"
    )
    image = read_image(out)
    assert (image.width, image.height) == (96, 64) and record["size"] == [96, 64]
    [lens] = record["images"]
    assert image.camera_tags["FNumber"] == pytest.approx(2.0)
    assert image.camera_tags["FocalLength"] == pytest.approx(85.0)
    assert image.camera_tags["FocalLengthIn35mmFilm"] == pytest.approx(85.0)  # full frame: sensor 36 mm
    assert image.camera_tags["SubjectDistance"] == pytest.approx(lens["focus_distance_m"], rel=1e-3)
    assert image.software == "refocus generate"
    # the JPEG's GDepth is the metric depth written beside it
    embedded = read_embedded_depth(out, (64, 96))
    metres = np.asarray(Image.open(tmp_path / "apple-depth-m.tiff"), dtype=np.float64)
    assert embedded is not None and embedded.metric_depth_m is not None
    assert np.abs(embedded.metric_depth_m[0, 0].double().numpy() / metres - 1).max() < 1e-3
    assert metres.min() >= 1.0 - 1e-4 and metres.max() <= 100.0 + 1e-2  # the scene range of a relative model
    assert "relative depth" in " ".join(record["notes"])
    # the focus distance is the depth under the auto-focus point
    x, y = record["focus_point"]
    assert lens["focus_distance_m"] == pytest.approx(
        float(np.median(metres[int(y) - 2 : int(y) + 3, int(x) - 2 : int(x) + 3])), rel=0.05
    )
    sharp = read_image(tmp_path / "apple-all-in-focus.png").linear
    assert sharp.shape == (1, 3, 64, 96) and float((sharp - image.linear).abs().mean()) > 0.005  # the lens blurred it


def test_the_same_seed_makes_the_same_scene(models: tuple[Path, Path], tmp_path: Path) -> None:
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        run_generate(models, tmp_path / f"{name}.jpg", "--seed", seed, "--save-all-in-focus")
    a, b, c = (read_image(tmp_path / f"{n}-all-in-focus.png").linear for n in "abc")
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_a_sweep_keeps_the_scene_where_the_blur_is_under_half_a_pixel(
    models: tuple[Path, Path], tmp_path: Path
) -> None:
    """Two apertures, one scene (lossless PNG): the very same pixels wherever both circles of confusion are under
    half a pixel, except next to a blurred pixel (the renderer's anti-aliased depth edges) and within reach of
    nearer blurred pixels (whose blur spills over); different pixels where the wide aperture's is large."""
    out = tmp_path / "sweep.png"
    record = run_generate(models, out, "--sweep", "fnumber=2.8,16", "--focal-length", "85", "--save-depth")
    paths = [Path(image["output"]) for image in record["images"]]
    assert [p.name for p in paths] == ["sweep-fnumber2.8.png", "sweep-fnumber16.png"]
    assert not out.exists()
    assert len({image["focus_distance_m"] for image in record["images"]}) == 1
    metres = torch.from_numpy(np.array(Image.open(tmp_path / "sweep-depth-m.tiff"), dtype=np.float32))[None, None]
    wide, narrow = (
        physical_signed_coc_px(metres, CameraSettings(i["fnumber"], i["focal_length_mm"], i["sensor_width_mm"],
                                                      i["focus_distance_m"]), 96)
        for i in record["images"]
    )  # fmt: skip
    blurred_anywhere = ((wide.abs() >= 0.5) | (narrow.abs() >= 0.5)).float()
    nearer_blurred = ((wide >= 0.5) | (narrow >= 0.5)).float()
    reach = int(float(wide.clamp_min(0).max())) * 5 // 4 + 4
    spill = F.max_pool2d(nearer_blurred, 2 * reach + 1, stride=1, padding=reach) > 0
    edge = F.max_pool2d(blurred_anywhere, 3, stride=1, padding=1) > 0
    in_focus = ((wide.abs() < 0.5) & (narrow.abs() < 0.5) & ~spill & ~edge)[0, 0].numpy()
    blurred = (wide.abs() > 3.0)[0, 0].numpy()
    pixels = [np.asarray(Image.open(p).convert("RGB"), dtype=np.int16) for p in paths]
    difference = np.abs(pixels[0] - pixels[1]).max(axis=2)  # [H,W] codes
    assert in_focus.sum() >= 200 and blurred.sum() >= 200, (in_focus.sum(), blurred.sum())
    assert difference[in_focus].max() == 0
    assert difference[blurred].mean() > 10


def test_refocus_image_reads_the_generated_lens_back(models: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "scene.jpg"
    made = run_generate(models, out, "--fnumber", "2.8", "--focal-length", "70")["images"][0]
    again = tmp_path / "again.jpg"
    result = CliRunner().invoke(app, ["image", str(out), "-o", str(again), "--json"])
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["depth_source"] == "embedded:GDepth" and record["blur"] is None
    assert record["camera"]["f_number"] == pytest.approx(2.8)
    assert record["camera"]["focal_length_mm"] == pytest.approx(70.0)
    assert record["camera"]["focus_distance_m"] == pytest.approx(made["focus_distance_m"], rel=1e-3)
    # an explicit --blur still wins
    relative = CliRunner().invoke(app, ["image", str(out), "-o", str(tmp_path / "k.jpg"), "--blur", "4", "--json"])
    assert relative.exit_code == 0 and json.loads(relative.stdout)["blur"] == 4.0


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--sweep", "iso=100,200"], "--sweep 'iso=100,200'"),
        (["--sweep", "fnumber=2,x"], "must be numbers"),
        (["--size", "100x64"], "multiples of 16"),
        (["--steps", "0"], "--steps must be 1 or more"),
        (["--near", "5", "--far", "2"], "0 < near < far"),
        (["-o", "out.xyz"], "out.xyz"),
    ],
)
def test_bad_settings_are_one_line(
    models: tuple[Path, Path], tmp_path: Path, options: list[str], expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    text_to_image, depth = models
    result = CliRunner().invoke(
        app, ["generate", "a cat", "--model", str(text_to_image), "--depth-model", str(depth), *options]
    )
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr


def test_a_missing_model_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["generate", "a cat", "--model", "sd-turbo", "-o", str(tmp_path / "x.jpg")])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "refocus models fetch sd-turbo" in lines[0], result.stderr
    assert not (tmp_path / "x.jpg").exists()


def test_an_existing_output_fails_before_the_model_runs(models: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "taken.jpg"
    out.write_bytes(b"precious")
    text_to_image, _ = models
    result = CliRunner().invoke(app, ["generate", "a cat", "--model", str(text_to_image), "-o", str(out)])
    assert result.exit_code == 1 and "exists" in result.stderr and out.read_bytes() == b"precious"
