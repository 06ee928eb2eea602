"""Video encoders by name: what FFmpeg (through PyAV) has, and the pixel formats each takes."""

from __future__ import annotations

from refocus_cli.errors import SettingsError

MAX_CRF = 63
"""The largest constant rate factor an FFmpeg encoder takes (x264 and x265 stop at 51, VP9 and AV1 at 63)."""


def encoder_formats(codec_name: str, pix_fmt: str | None = None) -> list[str]:
    """The pixel formats the video encoder `codec_name` takes (empty when it does not say).

    Raises:
        SettingsError: an unknown encoder, one that is not for video, or `pix_fmt` it cannot take.
    """
    import av

    try:
        codec = av.Codec(codec_name, "w")
    except ValueError:
        raise SettingsError(f"unknown video encoder '{codec_name}'") from None
    if codec.type != "video":
        raise SettingsError(f"'{codec_name}' is not a video encoder")
    formats = [fmt.name for fmt in codec.video_formats or ()]
    if pix_fmt and formats and pix_fmt not in formats:
        raise SettingsError(f"{codec_name} cannot encode {pix_fmt} (it takes {', '.join(formats)})")
    return formats
