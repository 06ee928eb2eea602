"""Whether a photo's own defocus can be read as depth: a confidence test on its measured edge blur.

Depth from defocus needs blur that is there and measured well: enough edges, a fair share of them blurred, the
blurred ones in regions where their neighbours read blurred too (a blurred region, not an isolated odd reading
beside a sharp edge, which is what texture, JPEG ringing and noise give), and a spread between the least and
the most blurred regions, so that an ordering in depth exists. `auto` takes the defocus depth only when
`defocus_confidence` passes; the measured numbers go to the note that says the decision.

The test runs on `estimate_edge_blur`'s output at its working resolution (photos longer than
`defocus.WORK_SIDE_PX` are measured on a copy that long), so windows and radii are in those pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from refocus_cli.depth.defocus import WORK_SIDE_PX, EdgeBlur

CONFIDENT = 0.5
"""Edge confidence from which an edge's blur estimate counts."""
BLURRED_PX = 2.0
"""Disc CoC radius (px, working resolution) from which an edge counts as blurred: a sharp edge, JPEG-compressed
and noisy, reads 0-1 px."""
NEIGHBOURHOOD_PX = 15
"""Side (px, working resolution) of the window whose edges are a blurred edge's neighbours."""
AGREEING = 0.6
"""A blurred edge is consistent when at least this share of the edges around it read blurred too."""
MIN_EDGE_SHARE = 0.01
"""Confident edges must make at least this share of the pixels (and number at least `MIN_EDGES`)."""
MIN_EDGES = 200
MIN_CONSISTENT_SHARE = 0.15
"""At least this share of the confident edges must be blurred and consistent."""
MIN_CONSISTENCY = 0.5
"""At least this share of the blurred edges must be consistent."""
MIN_SPREAD_PX = 3.0
"""The neighbourhood blur must spread this much (px, 90th minus 10th percentile over the edges)."""
SAMPLE = 200_000
"""Most edges the percentiles are taken over (an even subsample beyond)."""


@dataclass(frozen=True)
class DefocusConfidence:
    """The confidence test's decision and what it measured (working resolution, see the module's doc).

    Attributes:
        passed: the defocus is fit to read depth from.
        edge_share: confident edges per pixel.
        blurred_share: share of the confident edges that are blurred (>= `BLURRED_PX`).
        consistency: share of the blurred edges whose neighbours agree (>= `AGREEING` of them blurred).
        spread_px: 90th minus 10th percentile of the neighbourhood blur (px) over the confident edges.
        reason: why it failed ("" when it passed).
    """

    passed: bool
    edge_share: float
    blurred_share: float
    consistency: float
    spread_px: float
    reason: str = ""

    def summary(self) -> str:
        """The measured numbers in a short clause, and the reason when the test failed (for a note)."""
        numbers = (
            f"{100 * self.blurred_share:.0f}% of edges blurred, {100 * self.consistency:.0f}% of those consistently, "
            f"spread {self.spread_px:.1f} px"
        )
        return numbers if self.passed else f"{numbers}: {self.reason}"

    def to_record(self) -> dict[str, float | bool | str]:
        """The test as `--json` gives it."""
        return {
            "passed": self.passed,
            "edge_share": round(self.edge_share, 4),
            "blurred_share": round(self.blurred_share, 4),
            "consistency": round(self.consistency, 4),
            "spread_px": round(self.spread_px, 2),
            "reason": self.reason,
        }


def defocus_confidence(edge_blur: EdgeBlur) -> DefocusConfidence:
    """Test whether a photo's edge blur is enough, consistent and spread enough to read depth from.

    Args:
        edge_blur: `estimate_edge_blur(photo)`, [1,1,H,W] radius (px) and confidence.

    Returns:
        `DefocusConfidence` with the decision and the measured numbers.

    >>> flat = EdgeBlur(torch.zeros(1, 1, 32, 32), torch.zeros(1, 1, 32, 32))
    >>> defocus_confidence(flat).passed
    False
    """
    radius, confidence = _working_resolution(edge_blur)
    edges = confidence > CONFIDENT  # [1,1,h,w] bool
    count = int(edges.sum())
    edge_share = count / max(1, edges.numel())
    if count < MIN_EDGES or edge_share < MIN_EDGE_SHARE:
        return DefocusConfidence(False, edge_share, 0.0, 0.0, 0.0, "too few edges")
    blurred = edges & (radius >= BLURRED_PX)
    pad = NEIGHBOURHOOD_PX // 2
    edge_count = _window_sum(edges.float(), pad)  # [1,1,h,w] edges around each pixel
    blurred_around = _window_sum(blurred.float(), pad) / edge_count.clamp_min(1.0)
    local_blur = _window_sum(radius * edges, pad) / edge_count.clamp_min(1.0)  # mean radius of the edges around
    consistent = blurred & (blurred_around >= AGREEING)
    blurred_count = int(blurred.sum())
    blurred_share = blurred_count / count
    consistency = int(consistent.sum()) / max(1, blurred_count)
    values = local_blur[edges]
    values = values[:: max(1, values.numel() // SAMPLE)]
    spread = float(torch.quantile(values, 0.9) - torch.quantile(values, 0.1))
    reason = ""
    if blurred_share * consistency < MIN_CONSISTENT_SHARE:
        reason = "too few consistently blurred edges"
    elif consistency < MIN_CONSISTENCY:
        reason = "blur inconsistent between neighbouring edges"
    elif spread < MIN_SPREAD_PX:
        reason = "no spread between sharp and blurred regions"
    return DefocusConfidence(not reason, edge_share, blurred_share, consistency, spread, reason)


def _working_resolution(edge_blur: EdgeBlur) -> tuple[torch.Tensor, torch.Tensor]:
    """Radius (px) and confidence back at the resolution they were measured at (see `estimate_edge_blur`)."""
    radius, confidence = edge_blur.radius_px.float(), edge_blur.confidence.float()
    h, w = radius.shape[-2:]
    scale = min(1.0, WORK_SIDE_PX / max(h, w))
    if scale < 1:  # estimate_edge_blur scaled radii by 1 / scale and enlarged both by nearest neighbour
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        radius = F.interpolate(radius, size=size, mode="nearest") * scale
        confidence = F.interpolate(confidence, size=size, mode="nearest")
    return radius, confidence


def _window_sum(image: torch.Tensor, pad: int) -> torch.Tensor:
    """[N,1,H,W] sum over a (2 pad + 1)^2 window, zeros outside."""
    size = 2 * pad + 1
    return F.avg_pool2d(F.pad(image, (pad, pad, pad, pad)), size, stride=1) * size**2
