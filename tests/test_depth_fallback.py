"""Depth with no model at hand: one note that names the missing model, how to fetch it and the fallback; the
photo's own defocus only when its confidence test passes; the subject fallback keeps the subject sharp.

The model is unavailable as everywhere in the tests (tests/conftest.py: offline, an empty cache)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from typer.testing import CliRunner

from refocus_cli.cli import app
from refocus_cli.colour import srgb_to_linear
from refocus_cli.depth.defocus import estimate_edge_blur
from refocus_cli.depth.defocus_confidence import defocus_confidence
from refocus_cli.depth.models import DEFAULT_DEPTH_MODEL
from refocus_cli.render.reference import render_reference
from refocus_cli.render.scenes import Layer, LayeredScene, random_layered_scene

skimage_data = pytest.importorskip("skimage.data")

FETCH = f"`refocus models fetch {DEFAULT_DEPTH_MODEL}`"
FACE = (slice(60, 200), slice(170, 290))  # rows, columns of her face (and hair, chin, collar) in the 512x512 photo
FLAG = (slice(0, 180), slice(0, 90))  # the flag, upper left
SHUTTLE = (slice(10, 250), slice(360, 460))  # the shuttle model, right


def _astronaut_jpeg(folder: Path) -> Path:
    """scikit-image's astronaut (a sharp studio photo, 512x512) as a JPEG, as a user would have it."""
    path = folder / "astronaut.jpg"
    Image.fromarray(skimage_data.astronaut()).save(path, quality=95)
    return path


def _linear(pixels: np.ndarray) -> torch.Tensor:
    """[H,W,3] uint8 sRGB -> [1,3,H,W] linear light."""
    return srgb_to_linear(torch.from_numpy(np.array(pixels[..., :3])).permute(2, 0, 1)[None].float() / 255)


def _refocus_json(*args: str) -> dict[str, object]:
    result = CliRunner().invoke(app, ["image", *args, "--json"])
    assert result.exit_code == 0, result.output
    record: dict[str, object] = json.loads(result.stdout)
    return record


def test_missing_model_is_one_note_naming_it_the_fetch_command_and_the_fallback(tmp_path: Path) -> None:
    photo = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(photo)
    record = _refocus_json(str(photo), "-o", str(tmp_path / "o.png"))
    (note,) = record["notes"]  # type: ignore[misc]
    assert record["depth_source"] == "approximate:two-plane"
    assert f"depth model {DEFAULT_DEPTH_MODEL} not available ({FETCH} gets it)" in note
    assert "the photo's own defocus not used (" in note and "so the depth is an approximation: the subject" in note
    terminal = CliRunner().invoke(app, ["image", str(photo), "-o", str(tmp_path / "t.png")])
    assert terminal.exit_code == 0 and terminal.stderr.count(FETCH) == 1, terminal.stderr


def test_a_model_that_is_here_gives_no_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from refocus_cli.depth import choose
    from refocus_cli.io.depth_files import DepthMap

    def model_depth(request: choose.DepthRequest, loaded: object) -> DepthMap:
        return DepthMap(torch.full((1, 1, 48, 64), 0.5), None, "model")

    monkeypatch.setattr(choose, "_model_depth", model_depth)
    photo = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(photo)
    record = _refocus_json(str(photo), "-o", str(tmp_path / "o.png"))
    assert record["depth_source"] == "model" and record["notes"] == []


def test_the_confidence_test_declines_a_sharp_photo(tmp_path: Path) -> None:
    with Image.open(_astronaut_jpeg(tmp_path)) as image:
        linear = _linear(np.asarray(image))
    confidence = defocus_confidence(estimate_edge_blur(linear))
    assert not confidence.passed and confidence.reason
    assert confidence.blurred_share * confidence.consistency < 0.15


def test_the_confidence_test_takes_a_defocused_photo() -> None:
    """A layered scene textured with photos (their detail survives blur, as a photo's does; the procedural
    textures are finer than the blur and vanish), focused on its nearest layer with K = 16."""
    generator = torch.Generator().manual_seed(1)
    scene = random_layered_scene((160, 224), generator=generator, min_layers=3, max_layers=3)
    photos = [_linear(picture()) for picture in (skimage_data.astronaut, skimage_data.chelsea, skimage_data.coffee)]
    layers = tuple(
        Layer(F.interpolate(photos[i % 3], size=(160, 224), mode="area") * layer.alpha, layer.alpha, layer.disparity)
        for i, layer in enumerate(scene.layers)
    )
    defocused = render_reference(LayeredScene(layers), layers[0].disparity, 16.0, generator=generator, samples=256)
    confidence = defocus_confidence(estimate_edge_blur(defocused))
    assert confidence.passed, confidence
    assert defocus_confidence(estimate_edge_blur(LayeredScene(layers).pinhole_image())).passed is False


def test_the_design_cards_call_keeps_the_astronaut_sharp_and_blurs_what_is_behind(tmp_path: Path) -> None:
    photo, out = _astronaut_jpeg(tmp_path), tmp_path / "out.png"
    record = _refocus_json(str(photo), "--focus", "320,240", "--blur", "8", "-o", str(out))
    assert record["depth_source"] == "approximate:two-plane"
    assert FETCH in record["notes"][0]  # type: ignore[index]
    with Image.open(photo) as before_image, Image.open(out) as after_image:
        before, after = np.asarray(before_image, np.float64), np.asarray(after_image, np.float64)

    def change(box: tuple[slice, slice]) -> float:
        return float(np.abs(after[box] - before[box]).mean())

    assert change(FACE) <= 3.0
    assert change(FLAG) >= 4.0 and change(SHUTTLE) >= 4.0
