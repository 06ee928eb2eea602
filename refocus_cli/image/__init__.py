"""The image job: refocus one photo file (`refocus_image_file`), the pipe `refocus image` runs per input."""

from refocus_cli.image.pipeline import refocus_image_file
from refocus_cli.image.request import ImageRequest, ImageResult

__all__ = ["ImageRequest", "ImageResult", "refocus_image_file"]
