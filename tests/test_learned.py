"""The learned engine: a tiny model trains on a tiny simulated dataset and its loss falls; a stopped run
resumes to the same weights; save/load gives identical output; the stacking loss is zero exactly for a
perfect prediction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from refocus_cli.cli import app
from refocus_cli.learned.losses import stacking_loss
from refocus_cli.learned.model import RefocusModel
from refocus_cli.learned.pipeline import RefocusPipeline
from refocus_cli.learned.train import TrainRequest, load_pipeline, train
from refocus_cli.stack.stacking import blend_stack, in_focus_masks

TINY = {"block_out_channels": [8, 16], "norm_num_groups": 4}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("learned")
    settings = folder / "tiny.toml"
    settings.write_text("[scene]\nsize = [40, 40]\n[stack]\nframes = 3\n[render]\nmax_aperture_samples = 32\n")
    out = folder / "data"
    args = ["simulate", "--source", "procedural", "--out", str(out), "--count", "20", "--config", str(settings)]
    result = CliRunner().invoke(app, [*args, "--workers", "1", "--quiet"])
    assert result.exit_code == 0, result.stderr
    return out


def tiny_request(dataset: Path, out: Path, epochs: int, **changes: object) -> TrainRequest:
    values: dict[str, object] = {"epochs": epochs, "batch_size": 4, "crop_px": 32, "learning_rate": 2e-3}
    values.update(changes)
    return TrainRequest(data=dataset, out=out, model_config=TINY, **values)  # type: ignore[arg-type]


def test_stacking_loss_is_zero_for_the_true_frames_and_positive_otherwise() -> None:
    generator = torch.Generator().manual_seed(0)
    frames = torch.rand(2, 3, 3, 16, 16, generator=generator)
    disparity = torch.rand(2, 1, 16, 16, generator=generator)
    masks = in_focus_masks(disparity, torch.tensor([0.8, 0.5, 0.2]))
    composite = blend_stack(frames, masks)
    assert float(stacking_loss(frames, masks, composite)) == 0.0
    wrong = frames.clone()
    wrong[:, 1] += 0.1
    assert float(stacking_loss(wrong, masks, composite)) > 0.0


def test_a_tiny_model_trains_and_its_loss_falls(dataset: Path, tmp_path: Path) -> None:
    result = train(tiny_request(dataset, tmp_path / "run", epochs=6))
    losses = [record["loss"] for record in result.history]
    assert len(losses) == 6 and losses[-1] < 0.8 * losses[0], losses
    assert all(record["validation_psnr"] is not None for record in result.history)
    assert result.history[-1]["stacking"] > 0
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert log == result.history


def test_a_stopped_run_resumes_to_the_same_weights(dataset: Path, tmp_path: Path) -> None:
    straight = train(tiny_request(dataset, tmp_path / "straight", epochs=3, few_step_share=0.5))
    train(tiny_request(dataset, tmp_path / "stopped", epochs=1, few_step_share=0.5))
    resumed = train(tiny_request(dataset, tmp_path / "stopped", epochs=3, few_step_share=0.5, resume=True))
    assert resumed.history == straight.history
    a = load_pipeline(tmp_path / "straight" / "pipeline").model.state_dict()
    b = load_pipeline(tmp_path / "stopped" / "pipeline").model.state_dict()
    assert all(torch.equal(a[name], b[name]) for name in a)


def test_save_and_load_give_identical_output(tmp_path: Path) -> None:
    torch.manual_seed(0)
    pipeline = RefocusPipeline(RefocusModel(**TINY), RefocusPipeline.default_scheduler())
    image, disparity = torch.rand(1, 3, 30, 44), torch.rand(1, 1, 30, 44)
    before = pipeline(image, disparity, 0.4, 12.0).images
    pipeline.save_pretrained(tmp_path / "saved")
    after = load_pipeline(tmp_path / "saved")(image, disparity, 0.4, 12.0).images
    assert before.shape == (1, 3, 30, 44) and torch.equal(before, after)
    few = load_pipeline(tmp_path / "saved")(image, disparity, 0.4, 12.0, num_inference_steps=3,
                                             generator=torch.Generator().manual_seed(1)).images  # fmt: skip
    assert few.shape == before.shape and bool((few >= 0).all())
