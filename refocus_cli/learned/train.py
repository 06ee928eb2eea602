"""Training the learned engine on a `refocus simulate` dataset: reconstruction plus the stacking constraint.

Each step takes a batch of source/target pairs (random crops) and, when the stacking weight is above zero, a
batch of stacking groups: the model refocuses the scene's all-in-focus image onto each frame's focus plane, and
the loss adds the frames' reconstruction and `stacking_weight` times the stacking constraint (the predictions
blended by the in-focus masks against the composite). A share `few_step_share` of the pair batches trains the
few-step sampler's path (the target noised to a random timestep, the model predicting the clean image); the
rest train the one-step path. After each epoch (a pass's worth of pair batches) the validation split's PSNR
is measured on whole images, a line is added to `log.jsonl`, and a checkpoint is written: the pipeline in
diffusers' layout (`OUT/pipeline/`) and the optimiser, step and random state (`OUT/state.pt`), both replaced
atomically. `resume` continues from them (and further, with a larger `epochs`).

A model with the physics prior (the default) gets each item's physics render from the datasets, rendered once
on the whole image and cropped with it (`learned.data`); it learns a correction to the physics engine.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import ConcatDataset

from refocus_cli.errors import InputError, SettingsError
from refocus_cli.io.atomic import atomic_folder, atomic_output
from refocus_cli.learned.data import PairDataset, StackDataset
from refocus_cli.learned.losses import reconstruction_loss, stacking_loss
from refocus_cli.learned.model import RefocusModel
from refocus_cli.learned.pipeline import RefocusPipeline, autocast_for, load_pipeline
from refocus_cli.metrics import psnr

PIPELINE_FOLDER = "pipeline"
STATE_FILE = "state.pt"
LOG_FILE = "log.jsonl"

Progress = Callable[[dict[str, Any]], None]
"""Called with each epoch's log record."""


@dataclass(frozen=True)
class TrainRequest:
    """A training run.

    Attributes:
        data: `refocus simulate` dataset folders (their splits are joined).
        out: the run's folder (checkpoint, log).
        epochs: passes over the training pairs.
        batch_size: pairs per step (and stacking groups per step, at most this many).
        crop_px: side of the random square crops trained on.
        learning_rate: AdamW's.
        stacking_weight: the stacking constraint's weight (0 trains without it).
        stack_batch: stacking groups per step (each one image per frame).
        few_step_share: share of pair batches that train the few-step sampler's path.
        model_config: RefocusModel's settings (a new run only).
        seed: decides initial weights, crops, batches and noise.
        device: "cpu" or "cuda" (bfloat16 autocast on CUDA).
        resume: continue the run in `out`.
    """

    data: tuple[Path, ...]
    out: Path
    epochs: int = 10
    batch_size: int = 8
    crop_px: int = 96
    learning_rate: float = 2e-4
    stacking_weight: float = 0.5
    stack_batch: int = 4
    few_step_share: float = 0.25
    model_config: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    device: str = "cpu"
    resume: bool = False


@dataclass(frozen=True)
class TrainResult:
    """The log of every epoch (this run's and a resumed run's), the steps and the seconds this run took."""

    out: Path
    history: list[dict[str, Any]]
    steps: int
    seconds: float


def train(request: TrainRequest, progress: Progress | None = None) -> TrainResult:
    """Train (or continue training) the learned engine.

    Raises:
        InputError: the dataset is missing, not a dataset, or has no training pairs.
        SettingsError: bad settings, or `resume` without a run in `out` (or `out` in use without it).
    """
    _check(request)
    start = time.perf_counter()
    device = torch.device(request.device)
    generator = torch.Generator().manual_seed(request.seed)
    torch.manual_seed(request.seed)
    if request.resume:
        pipeline, state = _load_checkpoint(request.out)
        generator.set_state(state["generator"])
    else:
        pipeline, state = RefocusPipeline(RefocusModel(**request.model_config), RefocusPipeline.default_scheduler()), {}
    model = pipeline.model.to(device)
    crop, prior = request.crop_px, model.physics_prior
    pairs = _joined([PairDataset(d, "train", crop_px=crop, generator=generator, prior=prior) for d in request.data])
    stacks = _joined([StackDataset(d, "train", crop_px=crop, generator=generator, prior=prior) for d in request.data])
    validation = _joined([PairDataset(d, "validation", prior=prior) for d in request.data])
    if len(pairs) == 0:
        raise InputError(request.data[0], "has no training pairs (the train splits are empty)")
    if not request.resume:
        _new_run_folder(request.out)
    optimizer = torch.optim.AdamW(model.parameters(), lr=request.learning_rate)
    if state:
        optimizer.load_state_dict(state["optimizer"])
    history: list[dict[str, Any]] = list(state.get("history", []))
    step = int(state.get("step", 0))
    steps_per_epoch = math.ceil(len(pairs) / request.batch_size)
    for epoch in range(len(history), request.epochs):
        model.train()
        sums = {"loss": 0.0, "reconstruction": 0.0, "stacking": 0.0}
        order = torch.randperm(len(pairs), generator=generator).tolist()
        for batch_start in range(0, len(order), request.batch_size):
            batch = _collate([pairs[i] for i in order[batch_start : batch_start + request.batch_size]], device)
            losses = _losses(model, pipeline, batch, stacks, request, generator, device)
            optimizer.zero_grad(set_to_none=True)
            losses["loss"].backward()
            optimizer.step()
            step += 1
            for name in sums:
                sums[name] += float(losses[name].detach()) / steps_per_epoch
        record: dict[str, Any] = {"epoch": epoch + 1, "step": step, **{k: round(v, 6) for k, v in sums.items()}}
        record["validation_psnr"] = validation_psnr(pipeline, validation, device)
        history.append(record)
        _save_checkpoint(request, pipeline, optimizer, generator, step, history)
        if progress is not None:
            progress(record)
    return TrainResult(request.out, history, step, time.perf_counter() - start)


def _check(request: TrainRequest) -> None:
    if request.epochs < 1 or request.batch_size < 1 or request.stack_batch < 1:
        raise SettingsError("--epochs, --batch-size and --stack-batch must be 1 or more")
    if request.crop_px < 16:
        raise SettingsError(f"--crop must be 16 pixels or more, got {request.crop_px}")
    if not request.learning_rate > 0:
        raise SettingsError(f"--learning-rate must be positive, got {request.learning_rate}")
    if request.stacking_weight < 0:
        raise SettingsError(f"--stacking-weight must be 0 or more, got {request.stacking_weight}")
    if not 0 <= request.few_step_share <= 1:
        raise SettingsError(f"--few-step-share must be between 0 and 1, got {request.few_step_share}")
    if not request.data:
        raise SettingsError("--data must name at least one dataset")
    for folder in request.data:
        if not folder.is_dir():
            raise InputError(folder, "no such dataset folder")


Items = ConcatDataset[dict[str, torch.Tensor]]


def _joined(datasets: list[PairDataset] | list[StackDataset]) -> Items:
    return ConcatDataset(datasets)


def _collate(items: list[dict[str, torch.Tensor]], device: torch.device) -> dict[str, torch.Tensor]:
    return {key: torch.stack([item[key] for item in items]).to(device) for key in items[0]}


def _losses(
    model: RefocusModel,
    pipeline: RefocusPipeline,
    batch: dict[str, torch.Tensor],
    stacks: Items,
    request: TrainRequest,
    generator: torch.Generator,
    device: torch.device,
) -> dict[str, torch.Tensor]:
    """The step's losses: the pairs' reconstruction (one-step or few-step path), and with a stacking weight,
    a batch of stacking groups' frame reconstruction and stacking constraint."""
    delta = batch["disparity"] - batch["focus"].view(-1, 1, 1, 1)
    few_step = float(torch.rand((), generator=generator)) < request.few_step_share
    with autocast_for(device):
        if few_step:
            scheduler = pipeline.scheduler
            steps = int(scheduler.config["num_train_timesteps"])
            t = torch.randint(0, steps, (delta.shape[0],), generator=generator)
            noise = torch.randn(batch["target"].shape, generator=generator).to(device)
            noisy = scheduler.add_noise(batch["target"], noise, t.to(device).int())  # type: ignore[arg-type]
            prediction = model(
                batch["image"], delta, batch["blur_k_px"], noisy=noisy, timestep=t.to(device), prior=batch.get("prior")
            )
        else:
            prediction = model(batch["image"], delta, batch["blur_k_px"], prior=batch.get("prior"))
    reconstruction = reconstruction_loss(prediction.float(), batch["target"])
    stacking = torch.zeros((), device=device)
    if request.stacking_weight > 0 and len(stacks) > 0:
        picks = torch.randint(0, len(stacks), (min(request.stack_batch, len(stacks)),), generator=generator)
        group = _collate([stacks[int(i)] for i in picks], device)
        n, f = group["frames"].shape[:2]
        image = group["image"].repeat_interleave(f, dim=0)  # [N*F,3,h,w]
        disparity = group["disparity"].repeat_interleave(f, dim=0)
        delta_f = disparity - group["focus"].reshape(-1, 1, 1, 1)
        with autocast_for(device):
            priors = group["priors"].flatten(0, 1) if "priors" in group else None  # [N*F,3,h,w]
            frames = model(image, delta_f, group["blur_k_px"].reshape(-1), prior=priors).float()
        frames = frames.view(n, f, *frames.shape[1:])
        reconstruction = 0.5 * (reconstruction + reconstruction_loss(frames, group["frames"]))
        stacking = stacking_loss(frames, group["masks"], group["composite"])
    return {
        "loss": reconstruction + request.stacking_weight * stacking,
        "reconstruction": reconstruction.detach(),
        "stacking": stacking.detach(),
    }


@torch.no_grad()
def validation_psnr(pipeline: RefocusPipeline, validation: Items, device: torch.device) -> float | None:
    """Mean PSNR (sRGB, dB) of the one-step model's outputs on the validation pairs; None without any."""
    if len(validation) == 0:
        return None
    pipeline.model.eval()
    scores = []
    for index in range(len(validation)):
        item = validation[index]
        delta = item["disparity"].unsqueeze(0).to(device) - item["focus"].to(device)
        with autocast_for(device):
            prior = item["prior"].unsqueeze(0).to(device) if "prior" in item else None
            image, k = item["image"].unsqueeze(0).to(device), item["blur_k_px"].view(1).to(device)
            out = pipeline.model(image, delta, k, prior=prior)
        predicted = ((out.float() + 1) / 2).clamp(0, 1)  # sRGB in [0, 1]
        scores.append(psnr(predicted, ((item["target"] + 1) / 2).unsqueeze(0).to(device)))
    pipeline.model.train()
    return round(sum(scores) / len(scores), 3)


def _new_run_folder(out: Path) -> None:
    if out.exists() and (out / STATE_FILE).exists():
        raise SettingsError(f"{out}: holds a training run; pass --resume to continue it, or choose a new folder")
    try:
        out.mkdir(parents=False, exist_ok=True)
    except OSError as exc:
        raise SettingsError(f"{out}: cannot make the run's folder ({exc.strerror or exc})") from exc


def _save_checkpoint(
    request: TrainRequest,
    pipeline: RefocusPipeline,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    step: int,
    history: list[dict[str, Any]],
) -> None:
    """The pipeline (diffusers layout), then the state and the log, each replaced atomically."""
    with atomic_folder(request.out / PIPELINE_FOLDER, overwrite=True) as folder:
        pipeline.save_pretrained(folder)
    state = {
        "optimizer": optimizer.state_dict(),
        "generator": generator.get_state(),
        "step": step,
        "history": history,
        "request": json.loads(json.dumps(asdict(request), default=str)),
    }
    with atomic_output(request.out / STATE_FILE, overwrite=True) as tmp:
        torch.save(state, tmp)
    with atomic_output(request.out / LOG_FILE, overwrite=True) as tmp:
        tmp.write_text("".join(json.dumps(record) + "\n" for record in history), encoding="utf-8")


def _load_checkpoint(out: Path) -> tuple[RefocusPipeline, dict[str, Any]]:
    if not (out / STATE_FILE).is_file() or not (out / PIPELINE_FOLDER).is_dir():
        raise SettingsError(f"{out}: no training run to resume (no {STATE_FILE} and {PIPELINE_FOLDER}/)")
    pipeline = load_pipeline(out / PIPELINE_FOLDER)
    state = torch.load(out / STATE_FILE, weights_only=False)
    return pipeline, state
