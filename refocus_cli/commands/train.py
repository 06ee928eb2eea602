"""`refocus train`: train the learned engine on a `refocus simulate` dataset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from refocus_cli.commands.limits import (
    BATCH_SIZE,
    CHANNELS,
    CROP_PX,
    EPOCHS,
    LEVELS,
    STACK_BATCH,
    check_range,
    check_ranges,
    in_help,
)
from refocus_cli.io.run_paths import RunPaths, check_run_paths
from refocus_cli.modes import Device

DATA, MODEL, RUNTIME = "Data", "Model and loss", "Runtime"


def train_command(
    data: Annotated[
        list[Path],
        typer.Option(
            help="A dataset made by `refocus simulate`; repeat to join several.", metavar="DIR", rich_help_panel=DATA
        ),
    ],
    out: Annotated[Path, typer.Option(help="The run's folder: checkpoint and log.", rich_help_panel=DATA)],
    epochs: Annotated[
        int, typer.Option(help=f"Passes over the training pairs{in_help(EPOCHS)}.", rich_help_panel=DATA)
    ] = 10,
    batch_size: Annotated[int, typer.Option(help=f"Pairs per step{in_help(BATCH_SIZE)}.", rich_help_panel=DATA)] = 8,
    crop: Annotated[
        int, typer.Option(help=f"Side of the random square crops{in_help(CROP_PX)}.", rich_help_panel=DATA)
    ] = 96,
    learning_rate: Annotated[float, typer.Option(help="AdamW's learning rate.", rich_help_panel=MODEL)] = 2e-4,
    stacking_weight: Annotated[
        float, typer.Option(help="Weight of the stacking constraint (0: without it).", rich_help_panel=MODEL)
    ] = 0.5,
    stack_batch: Annotated[
        int,
        typer.Option(
            help=f"Stacking groups per step (one image per frame each){in_help(STACK_BATCH)}.", rich_help_panel=MODEL
        ),
    ] = 4,
    few_step_share: Annotated[
        float, typer.Option(help="Share of batches that train the few-step sampler.", rich_help_panel=MODEL)
    ] = 0.25,
    channels: Annotated[
        str,
        typer.Option(
            help=f"The UNet's channels per level, comma-separated, each {CHANNELS.text()}.", rich_help_panel=MODEL
        ),
    ] = "32,64,128",
    seed: Annotated[int, typer.Option(help="Decides weights, crops, batches and noise.", rich_help_panel=RUNTIME)] = 0,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run in --out.", rich_help_panel=RUNTIME)
    ] = False,
    device: Annotated[Device, typer.Option(help="Where to train.", rich_help_panel=RUNTIME)] = Device.auto,
    json_lines: Annotated[
        bool, typer.Option("--json", help="Print each epoch's record as a JSON line.", rich_help_panel=RUNTIME)
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress or messages.", rich_help_panel=RUNTIME)
    ] = False,
) -> None:
    """Train the learned refocus engine: reconstruction plus DiffCamera's stacking constraint, validation PSNR
    each epoch, a checkpoint (diffusers layout) each epoch that --resume continues."""
    check_ranges(
        {
            "--epochs": (epochs, EPOCHS),
            "--batch-size": (batch_size, BATCH_SIZE),
            "--crop": (crop, CROP_PX),
            "--stack-batch": (stack_batch, STACK_BATCH),
        }
    )
    check_run_paths(RunPaths(read_folders=tuple(data), fill_folders=(out,)), overwrite=False)
    from refocus_cli.devices import resolve_device
    from refocus_cli.errors import SettingsError
    from refocus_cli.learned.train import TrainRequest, train

    try:
        block_out_channels = [int(value) for value in channels.split(",")]
    except ValueError:
        raise SettingsError(f"--channels must be whole numbers separated by commas, got {channels!r}") from None
    check_range("--channels: the number of levels", len(block_out_channels), LEVELS)
    for value in block_out_channels:
        check_range("--channels: each value", value, CHANNELS)
    request = TrainRequest(
        data=tuple(data),
        out=out,
        epochs=epochs,
        batch_size=batch_size,
        crop_px=crop,
        learning_rate=learning_rate,
        stacking_weight=stacking_weight,
        stack_batch=stack_batch,
        few_step_share=few_step_share,
        model_config={"block_out_channels": block_out_channels, "norm_num_groups": 8},
        seed=seed,
        device=resolve_device(device.value).type,
        resume=resume,
    )

    def report(record: dict[str, Any]) -> None:
        if json_lines:
            typer.echo(json.dumps(record))
        elif not quiet:
            psnr = record["validation_psnr"]
            typer.echo(
                f"epoch {record['epoch']}: loss {record['loss']:.4f} (reconstruction {record['reconstruction']:.4f}, "
                f"stacking {record['stacking']:.4f}), validation {'-' if psnr is None else f'{psnr:.2f} dB'}",
                err=True,
            )

    result = train(request, report)
    if not quiet and not json_lines:
        typer.echo(f"wrote {out / 'pipeline'} ({result.steps} steps, {result.seconds:.0f} s)", err=True)
