"""Hostile metadata through the CLI: forged EXIF fields are ignored with a note; a bad aperture image, MPF index,
.npy or .pfm header is one line naming the file; tiny photos refocus. Never a traceback, never a changed input.

Each case builds its files in an input folder, runs `refocus ARGS` in-process and checks the exit code, the one
error line (or the note) and that every input file is byte for byte what it was.
"""

from __future__ import annotations

import json
import struct
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
from adversarial import assert_one_error_line, snapshot_hashes  # tests/adversarial.py
from hostile_files import (  # tests/hostile_files.py
    ASCII,
    DOUBLE,
    F_NUMBER,
    FOCAL_35MM,
    FOCAL_LENGTH,
    LONG,
    ORIENTATION,
    PHOTO_HW,
    RATIONAL,
    SHORT,
    SOFTWARE,
    SRATIONAL,
    SUBJECT_DISTANCE,
    UNDEFINED,
    camera,
    cut_short,
    grey_image,
    mpf_photo,
    nan_tiff,
    npy,
    npy_shape,
    photo,
    png_header,
    rational,
    raw_bytes,
    raw_exif,
    tiny_photo,
    with_file,
)
from PIL import Image
from typer.testing import CliRunner

from refocus_cli.cli import app

runner = CliRunner()

DEPTH = ["--depth", "{in}/depth.png", "--blur", "4"]
PHYSICAL = ["--depth", "{in}/metres.tif", "--depth-kind", "depth"]
CASES: list[tuple[str, Callable[[Path], None], list[str], int, str]] = [
    # EXIF fields of the wrong type, count or range: ignored, with a note.
    (
        "orientation-ascii",
        photo(raw_exif([(ORIENTATION, ASCII, 4, b"abc\x00")])),
        DEPTH,
        0,
        "photo.jpg: EXIF Orientation 'abc' is not 1-8; ignored",
    ),
    (
        "orientation-two-values",
        photo(raw_exif([(ORIENTATION, SHORT, 2, struct.pack("<HH", 6, 6))])),
        DEPTH,
        0,
        "photo.jpg: EXIF Orientation is malformed",
    ),
    (
        "orientation-huge",
        photo(raw_exif([(ORIENTATION, LONG, 1, struct.pack("<I", 2**31))])),
        DEPTH,
        0,
        "photo.jpg: EXIF Orientation 2147483648 is not 1-8; ignored",
    ),
    (
        "orientation-9",
        photo(raw_exif([(ORIENTATION, SHORT, 1, b"\x09\x00")])),
        DEPTH,
        0,
        "photo.jpg: EXIF Orientation 9 is not 1-8",
    ),
    (
        "orientation-rational-over-zero",
        photo(raw_exif([(ORIENTATION, RATIONAL, 1, rational(6, 0))])),
        DEPTH,
        0,
        "photo.jpg: EXIF Orientation 6/0 is not 1-8; ignored",
    ),
    (
        "fnumber-text",
        photo(camera((F_NUMBER, ASCII, 4, b"f/2\x00"))),
        DEPTH,
        0,
        "photo.jpg: EXIF FNumber 'f/2' is not a number; ignored",
    ),
    (
        "focal-length-two-values",
        photo(camera((FOCAL_LENGTH, RATIONAL, 2, rational(50, 1) + rational(85, 1)))),
        DEPTH,
        0,
        "photo.jpg: EXIF FocalLength (50.0, 85.0) is several values, not one number; ignored",
    ),
    (
        "fnumber-over-zero",
        photo(camera((F_NUMBER, RATIONAL, 1, rational(28, 0)))),
        DEPTH,
        0,
        "photo.jpg: EXIF FNumber 28/0 is not a positive number; ignored",
    ),
    (
        "focal-length-nan",
        photo(camera((FOCAL_LENGTH, DOUBLE, 1, struct.pack("<d", float("nan"))))),
        DEPTH,
        0,
        "photo.jpg: EXIF FocalLength nan is not a positive number; ignored",
    ),
    (
        "fnumber-inf",
        photo(camera((F_NUMBER, DOUBLE, 1, struct.pack("<d", float("inf"))))),
        DEPTH,
        0,
        "photo.jpg: EXIF FNumber inf is not a positive number; ignored",
    ),
    (
        "focal-length-negative",
        photo(camera((FOCAL_LENGTH, SRATIONAL, 1, rational(-50, 1, SRATIONAL)))),
        DEPTH,
        0,
        "photo.jpg: EXIF FocalLength -50/1 is not a positive number; ignored",
    ),
    (
        "focal-35mm-huge",
        photo(camera((FOCAL_35MM, LONG, 1, struct.pack("<I", 10**9)))),
        DEPTH,
        0,
        "photo.jpg: EXIF FocalLengthIn35mmFilm 1000000000 is over 100000, beyond any lens; ignored",
    ),
    (
        "subject-distance-negative",
        photo(camera((SUBJECT_DISTANCE, SRATIONAL, 1, rational(-3, 1, SRATIONAL)))),
        DEPTH,
        0,
        "photo.jpg: EXIF SubjectDistance -3/1 is not a positive number; ignored",
    ),
    (
        "software-bytes",
        photo(raw_exif([(SOFTWARE, UNDEFINED, 4, b"\xff\xfe\x00x")])),
        DEPTH,
        0,
        "photo.jpg: EXIF Software b'\\xff\\xfe\\x00x' is not text; ignored",
    ),
    (
        "software-number",
        photo(raw_exif([(SOFTWARE, SHORT, 1, b"\x05\x00")])),
        DEPTH,
        0,
        "photo.jpg: EXIF Software 5 is not text; ignored",
    ),
    (
        "exif-entry-past-its-end",
        photo(raw_exif([(0x010E, ASCII, 100, struct.pack("<I", 9999))])),  # ImageDescription: 100 bytes, nowhere
        DEPTH,
        0,
        "photo.jpg: EXIF is partly malformed",
    ),
    ("exif-not-tiff", photo(b"Exif\x00\x00XX*\x00" + bytes(16)), DEPTH, 0, "photo.jpg: EXIF is malformed"),
    # Physical mode: EXIF zeros are ignored, and what is still missing is one line naming the photo.
    (
        "physical-zero-focal-length",
        photo(camera((FOCAL_LENGTH, RATIONAL, 1, rational(0, 1)))),
        [*PHYSICAL, "--fnumber", "2"],
        1,
        "photo.jpg: physical blur needs --focal-length",
    ),
    (
        "physical-zero-fnumber",
        photo(camera((F_NUMBER, RATIONAL, 1, rational(0, 1)))),
        [*PHYSICAL, "--focal-length", "50"],
        1,
        "photo.jpg: physical blur needs --fnumber",
    ),
    (
        "physical-focal-length-beyond-focus",
        photo(camera((FOCAL_LENGTH, RATIONAL, 1, rational(90000, 1)))),
        [*PHYSICAL, "--fnumber", "2", "--focus-distance", "1"],
        1,
        "photo.jpg: --focus-distance 1.0 m must be beyond the focal length (90000.0 mm)",
    ),
    # Aperture images.
    (
        "aperture-all-black",
        with_file("black.png", grey_image((9, 9))),
        [*DEPTH, "--aperture", "{in}/black.png"],
        1,
        "black.png: aperture image is all black",
    ),
    (
        "aperture-too-wide",
        with_file("wide.png", grey_image((1100, 4), 255)),
        [*DEPTH, "--aperture", "{in}/wide.png"],
        1,
        "wide.png: aperture image is 1100x4 pixels, over the limit of 1024x1024",
    ),
    (
        "aperture-too-many-pixels",
        with_file("big.png", raw_bytes(png_header(3000, 3000))),
        [*DEPTH, "--aperture", "{in}/big.png"],
        1,
        "big.png: image has 9000000 pixels, over the limit of 1048576",
    ),
    (
        "aperture-not-an-image",
        with_file("kernel.png", raw_bytes(b"a disc, honestly")),
        [*DEPTH, "--aperture", "{in}/kernel.png"],
        1,
        "kernel.png: not an image",
    ),
    (
        "aperture-nan",
        with_file("nan.tif", nan_tiff),
        [*DEPTH, "--aperture", "{in}/nan.tif"],
        1,
        "nan.tif: unsupported mode F",
    ),
    # MPF index: one line naming the photo.
    ("mpf-count", mpf_photo(number=10**9), ["--blur", "4"], 1, "photo.jpg: corrupt MPF index: it counts 1000000000"),
    ("mpf-ifd-past", mpf_photo(ifd_offset=2**31), ["--blur", "4"], 1, "photo.jpg: corrupt MPF index: its IFD lies"),
    (
        "mpf-too-many",
        mpf_photo(listed_bytes=16 * 10**6),
        ["--blur", "4"],
        1,
        "photo.jpg: MPF index lists 1000000 images, over the limit of 64",
    ),
    (
        "mpf-entry-type",
        mpf_photo(entry_type=LONG),
        ["--blur", "4"],
        1,
        "photo.jpg: corrupt MPF index: its MPEntry list has TIFF type 4, not bytes",
    ),
    ("mpf-cut-short", cut_short(mpf_photo(), 100), ["--blur", "4"], 1, "photo.jpg: MPF image 2 (offset"),
    # Depth files whose headers lie.
    (
        "npy-huge-header",
        with_file("d.npy", npy(npy_shape("(100000, 100000)"), bytes(16))),
        ["--depth", "{in}/d.npy"],
        1,
        "d.npy: depth array has 10000000000 values, over the limit of 16777216",
    ),
    (
        "npy-truncated",
        with_file("d.npy", npy(npy_shape("(16, 24)"), bytes(16))),
        ["--depth", "{in}/d.npy"],
        1,
        "d.npy: corrupt or truncated .npy file: its header declares 3072 bytes of data, it holds 16",
    ),
    (
        "npy-pickle",
        with_file("d.npy", npy(npy_shape("(16, 24)", "|O"), bytes(3072))),
        ["--depth", "{in}/d.npy"],
        1,
        "d.npy: not a NumPy .npy array of numbers: it holds Python objects",
    ),
    (
        "npy-negative-shape",
        with_file("d.npy", npy(npy_shape("(-16, 24)"), b"")),
        ["--depth", "{in}/d.npy"],
        1,
        "d.npy: depth array has shape (-16, 24): it is empty",
    ),
    (
        "npy-text-dtype",
        with_file("d.npy", npy(npy_shape("(16, 24)", "<U4"), bytes(16 * 24 * 16))),
        ["--depth", "{in}/d.npy"],
        1,
        "d.npy: not a numeric NumPy array",
    ),
    (
        "npy-nested-header",
        with_file("d.npy", npy("[" * 3000, b"")),
        ["--depth", "{in}/d.npy"],
        1,
        "d.npy: not a NumPy .npy array (or a corrupt one)",
    ),
    (
        "pfm-huge",
        with_file("d.pfm", raw_bytes(b"Pf\n100000 100000\n-1.0\n" + bytes(16))),
        ["--depth", "{in}/d.pfm"],
        1,
        "d.pfm: PFM image has 10000000000 pixels, over the limit of 16777216",
    ),
    (
        "pfm-zero-width",
        with_file("d.pfm", raw_bytes(b"Pf\n0 16\n-1.0\n")),
        ["--depth", "{in}/d.pfm"],
        1,
        "d.pfm: PFM image is 0x16: it is empty",
    ),
    (
        "pfm-scale-not-a-number",
        with_file("d.pfm", raw_bytes(b"Pf\n24 16\n-\n" + bytes(1536))),
        ["--depth", "{in}/d.pfm"],
        1,
        "d.pfm: corrupt or truncated PFM file",
    ),
    (
        "pfm-truncated",
        with_file("d.pfm", raw_bytes(b"Pf\n24 16\n-1.0\n" + bytes(16))),
        ["--depth", "{in}/d.pfm"],
        1,
        "d.pfm: corrupt or truncated PFM file",
    ),
    (
        "png-depth-too-many-pixels",
        with_file("d.png", raw_bytes(png_header(6000, 4000))),
        ["--depth", "{in}/d.png"],
        1,
        "d.png: image has 24000000 pixels, over the limit of 16777216",
    ),
]


TINY_SIZES = [(1, 1), (1, 2), (2, 1), (3, 3), (5, 7)]  # (height, width): automatic depth, then --blur 8 at 0,0
TINY_ARGS = {"": [], "-blur": ["--blur", "8", "--focus", "0,0"]}
TINY_CASES = [(f"tiny-{w}x{h}{k}", tiny_photo((h, w)), a, 0, "") for h, w in TINY_SIZES for k, a in TINY_ARGS.items()]


def run(folder: Path, out: Path, args: list[str], photo_name: str) -> tuple[int, str, str]:
    """`refocus image PHOTO ARGS --offline -o OUT/out.png`, with {in} and {out} in ARGS replaced."""
    filled = [arg.replace("{in}", str(folder)).replace("{out}", str(out)) for arg in args]
    result = runner.invoke(app, ["image", str(folder / photo_name), *filled, "--offline", "-o", str(out / "out.png")])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("name", "build", "args", "exit_code", "expected"), [*CASES, *TINY_CASES], ids=[c[0] for c in CASES + TINY_CASES]
)
def test_hostile_input(
    tmp_path: Path, name: str, build: Callable[[Path], None], args: list[str], exit_code: int, expected: str
) -> None:
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    out.mkdir()
    build(folder)
    before = snapshot_hashes(folder)
    photo_name = "tiny.png" if name.startswith("tiny-") else "photo.jpg"
    code, stdout, stderr = run(folder, out, args, photo_name)
    assert snapshot_hashes(folder) == before  # no input changed, nothing written beside them
    assert "Traceback" not in stdout + stderr
    assert code == exit_code, stderr
    if exit_code:
        assert_one_error_line(stderr, expected)
        assert not (out / "out.png").exists()
        return
    notes = [line for line in stderr.splitlines() if line.startswith("refocus: note: ")]
    assert not expected or any(expected in note for note in notes), stderr
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the hostile photo's own EXIF
        with Image.open(folder / photo_name) as source, Image.open(out / "out.png") as written:
            assert written.size == source.size


def test_ignored_exif_fields_are_notes_in_json(tmp_path: Path) -> None:
    exif = raw_exif([(ORIENTATION, ASCII, 4, b"abc\x00")], [(F_NUMBER, RATIONAL, 1, rational(28, 0))])
    photo(exif)(tmp_path)
    out = tmp_path / "out.png"
    depth = str(tmp_path / "depth.png")
    result = runner.invoke(app, ["image", str(tmp_path / "photo.jpg"), "--depth", depth, "--json", "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    notes = json.loads(result.stdout)["notes"]
    assert f"{tmp_path / 'photo.jpg'}: EXIF Orientation 'abc' is not 1-8; ignored" in notes
    assert f"{tmp_path / 'photo.jpg'}: EXIF FNumber 28/0 is not a positive number; ignored" in notes


def test_ignored_orientation_is_not_applied_and_reset_on_output(tmp_path: Path) -> None:
    """Orientation (6, 6) would turn the photo for Pillow's first value: ignored, the pixels stay as stored and the
    output says 1, so no viewer turns it either."""
    photo(raw_exif([(ORIENTATION, SHORT, 2, struct.pack("<HH", 6, 6))]))(tmp_path)
    out = tmp_path / "out.jpg"
    depth = str(tmp_path / "depth.png")
    result = runner.invoke(app, ["image", str(tmp_path / "photo.jpg"), "--depth", depth, "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    with Image.open(out) as written:
        assert written.size == (PHOTO_HW[1], PHOTO_HW[0]) and written.getexif().get(ORIENTATION) == 1
