"""EXIF for an image we made: the camera settings it was rendered with, in the tags `lens.camera_from_exif`
reads back (FNumber, FocalLength, FocalLengthIn35mmFilm for the sensor width, SubjectDistance for the focus
distance), and what made it (Software, ImageDescription)."""

from __future__ import annotations

from PIL import Image, TiffImagePlugin

from refocus_cli.lens import FULL_FRAME_WIDTH_MM, CameraSettings

EXIF_IFD = 0x8769
IMAGE_DESCRIPTION, SOFTWARE = 0x010E, 0x0131
F_NUMBER, FOCAL_LENGTH, SUBJECT_DISTANCE, FOCAL_LENGTH_35MM = 0x829D, 0x920A, 0x9206, 0xA405
MAX_DESCRIPTION_CHARS = 2000
GENERATED_BY = "refocus generate"
"""EXIF Software of the images `refocus generate` writes: `refocus image` reads their lens back by default."""


def camera_exif(camera: CameraSettings, *, software: str, description: str | None = None) -> bytes:
    """EXIF bytes ("Exif\\0\\0" + TIFF structure, as `io.images.write_image` takes them).

    The description is kept to printable ASCII (EXIF's ASCII type), shortened to `MAX_DESCRIPTION_CHARS`.

    >>> raw = camera_exif(CameraSettings(2.8, 50.0, 24.0, 3.5), software="refocus")
    >>> raw[:6]
    b'Exif\\x00\\x00'
    """
    exif = Image.Exif()
    exif[SOFTWARE] = software
    if description:
        text = description.encode("ascii", "replace").decode("ascii")
        exif[IMAGE_DESCRIPTION] = "".join(c if c.isprintable() else " " for c in text)[:MAX_DESCRIPTION_CHARS]
    tags = exif.get_ifd(EXIF_IFD)
    tags[F_NUMBER] = TiffImagePlugin.IFDRational(round(camera.f_number, 2))
    tags[FOCAL_LENGTH] = TiffImagePlugin.IFDRational(round(camera.focal_length_mm, 2))
    tags[SUBJECT_DISTANCE] = TiffImagePlugin.IFDRational(round(camera.focus_distance_m, 3))
    tags[FOCAL_LENGTH_35MM] = round(camera.focal_length_mm * FULL_FRAME_WIDTH_MM / camera.sensor_width_mm)
    return exif.tobytes()
