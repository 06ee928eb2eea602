"""Where depth comes from, in one order that every job uses: a depth file, depth embedded in the photo, the
learned model, the photo's own defocus (when its confidence test passes), the two-plane approximation; or one source
forced. `DepthRequest` says what to try; `check_depth_request` checks it before any pixel is read."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from refocus_cli.depth.embedded import EMBEDDED_FORMATS, read_embedded_depth
from refocus_cli.depth.models import DEFAULT_DEPTH_MODEL
from refocus_cli.depth.two_plane import two_plane_depth
from refocus_cli.devices import resolve_device
from refocus_cli.errors import DepthUnavailableError, SettingsError
from refocus_cli.focus import FocusSpec, focus_window, subject_hint
from refocus_cli.io.depth_files import DepthMap, read_depth_file

if TYPE_CHECKING:
    from refocus_cli.io.images import LoadedImage

DEPTH_SOURCES = ("auto", "file", "embedded", "model", "defocus", "two-plane")
"""Values of DepthRequest.source: `auto` tries a depth file, then depth embedded in the photo, then the
learned model, then the photo's own defocus (when its confidence test passes), then the two-plane approximation; the
others force one of them."""

_UNAVAILABLE_MODELS: dict[tuple[str, bool], str] = {}
"""Models that failed to load in this process (name, offline) -> why: a batch tries each once."""


@dataclass(frozen=True)
class DepthRequest:
    """What depth to find for one photo.

    Attributes:
        input_path: the photo (for embedded depth and for messages).
        depth_path: a depth file given by the user, or None.
        depth_kind: what the file holds: auto, depth or disparity.
        source: one of DEPTH_SOURCES (`auto` tries them in order).
        model: the learned depth model's name, Hub id or folder.
        offline: never download the model.
        device: where the model runs (auto, cpu, cuda).
    """

    input_path: Path
    depth_path: Path | None = None
    depth_kind: str = "auto"
    source: str = "auto"
    model: str = DEFAULT_DEPTH_MODEL
    offline: bool = False
    device: str = "auto"


def check_depth_request(request: DepthRequest) -> None:
    """Raise `SettingsError` for a source no photo could have (before any pixel is read)."""
    if request.source not in DEPTH_SOURCES:
        raise SettingsError(
            f"--depth source must be a file or one of {', '.join(DEPTH_SOURCES[2:])}, got {request.source!r}"
        )
    if request.source == "file" and request.depth_path is None:
        raise SettingsError("--depth file needs a depth file: pass its path with --depth")


def choose_depth(request: DepthRequest, loaded: LoadedImage, focus: FocusSpec) -> tuple[DepthMap, list[str]]:
    """The depth for an image and notes for the user: the user's file, else depth embedded in the photo, else
    the learned model's estimate, else the photo's own defocus when its confidence test passes, else an
    approximate two-plane depth built around the focus point. Falling back past the model is said in one note:
    which model is missing and how to get it, the defocus test's numbers and decision, and the depth used.

    Raises:
        RefocusError: a forced source that fails (one line saying why), or a bad depth file.
    """
    size_hw = (loaded.height, loaded.width)
    check_depth_request(request)
    source = request.source
    if request.depth_path is not None and source in ("auto", "file"):
        return read_depth_file(request.depth_path, kind=request.depth_kind, size_hw=size_hw), []
    if source in ("auto", "embedded"):
        embedded = read_embedded_depth(request.input_path, size_hw)
        if embedded is not None:
            return embedded, []
        if source == "embedded":
            raise DepthUnavailableError(
                f"{request.input_path}: holds no depth ({EMBEDDED_FORMATS}), as --depth embedded requires"
            )
    missing_model = ""
    if source in ("auto", "model"):
        try:
            return _model_depth(request, loaded), []
        except DepthUnavailableError:
            if source == "model":
                raise
            missing_model = f"{_missing_model(request.model)}; "
    focus_window(focus, request.input_path, size_hw)  # a focus outside the image fails before any work
    defocus_verdict = ""
    if source in ("auto", "defocus"):
        from refocus_cli.depth.defocus import defocus_depth, estimate_edge_blur
        from refocus_cli.depth.defocus_confidence import defocus_confidence

        edges = estimate_edge_blur(loaded.linear)
        confidence = defocus_confidence(edges)
        if source == "defocus" or confidence.passed:
            depth = defocus_depth(loaded.linear, subject_hint(focus, size_hw).point_xy, edges)
            if source == "defocus" and confidence.passed:
                return depth, []
            caveat = "" if confidence.passed else " as asked, though its test fails"
            note = f"{missing_model}depth from the photo's own defocus{caveat} ({confidence.summary()})"
            return depth, [f"{request.input_path}: {note}"]
        defocus_verdict = f"the photo's own defocus not used ({confidence.summary()}); "
    notes = []
    if source == "auto":
        notes.append(
            f"{request.input_path}: {missing_model}{defocus_verdict}so the depth is an approximation: the subject "
            "under the focus point in front of a receding background (--depth FILE gives a real one)"
        )
    return two_plane_depth(loaded.linear, subject_hint(focus, size_hw)), notes


def _missing_model(model: str) -> str:
    """A clause saying that the depth model is not here and how to get it."""
    from refocus_cli.registry import load_registry

    if model in load_registry():
        return f"depth model {model} not available (`refocus models fetch {model}` gets it)"
    return f"depth model {model} not available (`refocus models` lists those refocus can fetch)"


def _model_depth(request: DepthRequest, loaded: LoadedImage) -> DepthMap:
    """The learned estimator's depth; a model that failed once in this process is not tried again."""
    from refocus_cli.depth.learned import estimate_depth

    key = (request.model, request.offline)
    if key in _UNAVAILABLE_MODELS:
        raise DepthUnavailableError(_UNAVAILABLE_MODELS[key])
    device = resolve_device(request.device)
    try:
        depth = estimate_depth(loaded.linear.to(device), request.model, device=device, offline=request.offline)
    except DepthUnavailableError as error:
        _UNAVAILABLE_MODELS[key] = str(error)
        raise
    metric = None if depth.metric_depth_m is None else depth.metric_depth_m.cpu()
    return replace(depth, disparity=depth.disparity.cpu(), metric_depth_m=metric)
