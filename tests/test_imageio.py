"""Reading images: axes, pixel size from metadata, overrides, and bad images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from zoo.errors import ImageError
from zoo.imageio import read_image, write_tiff


def test_ome_tiff_round_trip_keeps_pixel_size_and_metadata(tmp_path: Path) -> None:
    data = np.arange(2 * 32 * 48, dtype=np.uint16).reshape(2, 32, 48)
    path = tmp_path / "x.ome.tif"
    write_tiff(path, data, axes="zyx", pixel_size={"x": 0.1, "y": 0.1, "z": 0.5}, metadata={})
    image = read_image(path)
    assert image.axes == "zyx"
    assert image.pixel_size == pytest.approx({"x": 0.1, "y": 0.1, "z": 0.5})
    np.testing.assert_array_equal(image.data, data)


def test_imagej_tiff_pixel_size(tmp_path: Path) -> None:
    path = tmp_path / "ij.tif"
    data = np.zeros((3, 40, 50), np.uint8)
    tifffile.imwrite(
        path,
        data,
        imagej=True,
        resolution=(1 / 0.2, 1 / 0.2),
        metadata={"spacing": 1.5, "unit": "um", "axes": "ZYX"},
    )
    image = read_image(path)
    assert image.axes == "zyx"
    assert image.pixel_size == pytest.approx({"x": 0.2, "y": 0.2, "z": 1.5})


def test_real_images(shared_data: Path) -> None:
    hela = read_image(shared_data / "images" / "other" / "imagej_hela_cells_3ch.tif")
    assert hela.data.shape == (512, 672, 3) and hela.axes == "yxc"
    palette = read_image(
        shared_data / "images" / "structured_noise" / "acsn_microtubules_noisy_test3.png"
    )
    assert palette.data.ndim == 2 and palette.data.dtype == np.uint8
    fibsem = read_image(shared_data / "images" / "em" / "epfl_fibsem_testing0001.png")
    assert fibsem.data.shape == (768, 1024)
    beads = read_image(shared_data / "images" / "fluo3d" / "confocal_beads_Bead_Image1_crop.tif")
    assert beads.axes == "zyx" and beads.data.shape == (41, 150, 150)


def test_overrides(tmp_path: Path) -> None:
    path = tmp_path / "a.npy"
    np.save(path, np.zeros((4, 32, 32), np.float32))
    image = read_image(path, axes="tyx", pixel_size=0.25)
    assert image.axes == "tyx"
    assert image.pixel_size == {"y": 0.25, "x": 0.25}
    image = read_image(path, axes="zyx", pixel_size=(1.0, 0.2, 0.2))
    assert image.pixel_size == {"z": 1.0, "y": 0.2, "x": 0.2}


@pytest.mark.parametrize(
    ("name", "content", "kwargs", "match"),
    [
        ("nan.npy", np.array([[np.nan, 1.0], [1.0, 1.0]]), {}, "NaN or infinite"),
        ("inf.npy", np.full((20, 20), np.inf), {}, "NaN or infinite"),
        ("empty.npy", np.zeros((0, 5)), {}, "empty"),
        ("axes.npy", np.zeros((20, 20)), {"axes": "zyx"}, "do not fit"),
        ("noyx.npy", np.zeros((20, 20)), {"axes": "zc"}, "must include y and x"),
        ("pix.npy", np.zeros((20, 20)), {"pixel_size": -1.0}, "positive"),
        ("garbage.tif", b"not a tiff at all", {}, "cannot read"),
        ("image.bmp", b"BM", {}, "expected one of"),
    ],
)
def test_bad_images(tmp_path: Path, name: str, content, kwargs, match: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        np.save(path, content)
    with pytest.raises(ImageError, match=match):
        read_image(path, **kwargs)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no image at"):
        read_image(tmp_path / "nope.tif")


def test_ome_zarr_round_trip(tmp_path: Path) -> None:
    from zoo.omezarr import write_ome_zarr

    data = np.arange(2 * 3 * 40 * 50, dtype=np.uint16).reshape(2, 3, 40, 50)
    path = tmp_path / "img.zarr"
    pixel = {"z": 0.5, "y": 0.1, "x": 0.1}
    write_ome_zarr(path, data, axes="czyx", pixel_size=pixel, metadata={"zoo": {"k": 1}})
    image = read_image(path)
    assert image.axes == "czyx" and image.pixel_size == pixel
    np.testing.assert_array_equal(image.data, data)
    assert [p.name for p in tmp_path.iterdir()] == ["img.zarr"]  # no temporary left behind


def test_ome_zarr_without_unit_has_no_pixel_size(tmp_path: Path) -> None:
    from zoo.omezarr import write_ome_zarr

    write_ome_zarr(tmp_path / "a.zarr", np.ones((20, 20), np.float32), axes="yx",
                   pixel_size={}, metadata={})  # fmt: skip
    assert read_image(tmp_path / "a.zarr").pixel_size == {}


def test_ome_zarr_v05_is_read(tmp_path: Path) -> None:
    """NGFF 0.5: zarr v3, metadata under attributes.ome (as ome-zarr-py 0.11 writes it)."""
    import zarr

    group = zarr.open_group(str(tmp_path / "v5.zarr"), mode="w", zarr_format=3)
    group.create_array("s0", data=np.ones((1, 30, 30), np.float32))
    axes = [{"name": "z", "type": "space", "unit": "nanometer"},
            {"name": "y", "type": "space", "unit": "nanometer"},
            {"name": "x", "type": "space", "unit": "nanometer"}]  # fmt: skip
    scale = [{"type": "scale", "scale": [200.0, 65.0, 65.0]}]
    datasets = [{"path": "s0", "coordinateTransformations": scale}]
    group.attrs["ome"] = {"version": "0.5", "multiscales": [{"axes": axes, "datasets": datasets}]}
    image = read_image(tmp_path / "v5.zarr")
    assert image.axes == "zyx"
    assert image.pixel_size == pytest.approx({"z": 0.2, "y": 0.065, "x": 0.065})


def test_zarr_group_without_ome_metadata_is_refused(tmp_path: Path) -> None:
    import zarr

    group = zarr.open_group(str(tmp_path / "plain.zarr"), mode="w", zarr_format=2)
    group.create_array("0", data=np.ones((8, 8)))
    with pytest.raises(ImageError, match="without OME 'multiscales'"):
        read_image(tmp_path / "plain.zarr")


OME_WITH_INSTRUMENT = """<?xml version="1.0" encoding="UTF-8"?>
<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06">
<Instrument ID="Instrument:0"><Microscope Manufacturer="Zeiss" Model="LSM 880"/></Instrument>
<Image ID="Image:0"><InstrumentRef ID="Instrument:0"/>
<Pixels ID="Pixels:0" DimensionOrder="XYCZT" Type="uint16" SizeX="32" SizeY="24" SizeC="1"
 SizeZ="1" SizeT="1" PhysicalSizeX="0.07" PhysicalSizeY="0.07">
<Channel ID="Channel:0:0" SamplesPerPixel="1" AcquisitionMode="LaserScanningConfocalMicroscopy"/>
<TiffData IFD="0" PlaneCount="1"/></Pixels></Image></OME>"""


def test_ome_instrument_and_acquisition_mode(tmp_path: Path) -> None:
    path = tmp_path / "scope.ome.tif"
    data = np.arange(24 * 32, dtype=np.uint16).reshape(24, 32)
    tifffile.imwrite(path, data, description=OME_WITH_INSTRUMENT, metadata=None)
    image = read_image(path)
    assert image.microscope == "Zeiss LSM 880"
    assert image.modality == "confocal"
    assert image.pixel_size == pytest.approx({"y": 0.07, "x": 0.07})
