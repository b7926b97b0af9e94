"""What the zoo trains: each model's data (loaders and held-out split), settings and card.

``MODELS`` are published by scripts/train_models.py; ``EXPERIMENTS`` were trained and not
published (docs/models.md says why). Images are read from ../shared/data, never copied.
The data loaders are in scripts/train_data.py.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from zoo.train.loop import TrainConfig  # noqa: E402
from zoo_bench.training.data import (  # noqa: E402
    GIGADB_REPO_NOTE,
    GIGADB_TRAIN_ROWS,
    NUCLEI_TRAIN_ROWS,
    Pair,
    load_actin,
    load_actin_pairs,
    load_fibsem,
    load_flim,
    load_flim_pairs,
    load_hipsc,
    load_mito_pairs,
    load_nuclei,
    load_nuclei_pairs,
    load_w2s,
)

N2V_CITE = {
    "text": "Krull, Buchholz, Jug. Noise2Void - learning denoising from single noisy images. "
    "CVPR 2019.",
    "doi": "10.1109/CVPR.2019.00223",
}
N2V2_CITE = {
    "text": "Höck et al. N2V2 - Fixing Noise2Void checkerboard artifacts with modified sampling "
    "strategies and a tweaked network architecture. ECCV Workshops 2022.",
    "doi": "10.1007/978-3-031-25069-9_33",
}
STRUCTN2V_CITE = {
    "text": "Broaddus, Krull, Weigert, Schmidt, Myers. Removing structured noise with "
    "self-supervised blind-spot networks. ISBI 2020.",
    "doi": "10.1109/ISBI45749.2020.9098336",
}
CARE_CITE = {
    "text": "Weigert et al. Content-aware image restoration: pushing the limits of fluorescence "
    "microscopy. Nature Methods 2018.",
    "doi": "10.1038/s41592-018-0216-7",
}
INSTANT_REPO = "ND-HowardGroup/Instant-Image-Denoising @ c885aee8ad"


@dataclass
class ModelSpec:
    """One of the zoo's own models: data, training settings and card."""

    id: str
    description: str
    config: TrainConfig
    load: Callable[[], tuple[list[np.ndarray], list[np.ndarray] | None, list[Pair]]]
    card: dict[str, Any]
    heldout_label: str
    cite: list[dict[str, str]]
    tags: list[str] = field(default_factory=list)
    note: str = ""
    """Why an experiment was not published (docs/models.md)."""


# -- the models -------------------------------------------------------------------------

STEPS = 800

NUCLEI_DOMAIN = {
    "modality": "widefield",
    "dimensionality": 2,
    "channels": 1,
    "dtype": "uint16",
    "structures": ["nuclei"],
    "sample": "migrating cells with fluorescent nuclei (nucleus tracking data)",
}
NUCLEI_SOURCE = {
    "license": "GPL-3.0 (repository)",
    "source": f"nucleus tracking data set (cell migration, high and low SNR) via {INSTANT_REPO}",
    "n_images": 1,
    "image_shape": [NUCLEI_TRAIN_ROWS, 1024],
}
NUCLEI_USE = (
    "Denoise low-light widefield fluorescence images of nuclei recorded like the "
    "nucleus-tracking data (16-bit camera frames)."
)
NUCLEI_LIMITS = [
    "trained on one field: the held-out region is another part of the same field, not an "
    "independent acquisition",
    "the high-SNR reference is saturated in places; saturated pixels were left out when "
    "mapping it onto the low-SNR grey values",
]

ACTIN_DOMAIN = {
    "modality": "widefield",
    "dimensionality": 2,
    "channels": 1,
    "dtype": "uint8",
    "structures": ["actin filaments", "stress fibres"],
    "sample": "fixed bovine pulmonary artery endothelial (BPAE) cells, F-actin stain, 60× "
    "objective (GigaDB 100888)",
}
ACTIN_SOURCE = {
    "license": "GPL-3.0 (repository); the GigaDB data set is CC0",
    "source": f"{GIGADB_REPO_NOTE} (actin, 60×, low/high SNR) via {INSTANT_REPO}",
    "n_images": 1,
    "image_shape": [GIGADB_TRAIN_ROWS, 2048],
}
ACTIN_USE = (
    "Denoise low-light widefield fluorescence images of cytoskeletal filaments recorded like "
    "the GigaDB BPAE data (8-bit, 60×)."
)
FLIM_DOMAIN = {
    "modality": "two-photon",
    "dimensionality": 2,
    "channels": 1,
    "dtype": "float32",
    "structures": ["cells", "tissue section"],
    "sample": "BPAE cells, a plant tissue and a mouse kidney section",
}
FLIM_SOURCE = {
    "license": "GPL-3.0 (repository) — FMLD data set",
    "source": "FMLD (doi 10.7274/r0-18da-9m58) via "
    "ND-HowardGroup/FLIM_Denoising_using_Pretrained_CNNs @ 9b3fd7b5bc",
    "n_images": 3,
    "image_shape": [512, 512],
}
FLIM_LIMITS = [
    "trained on three images; the held-out region is the other half of one of them (the "
    "kidney), not an independent acquisition",
    "intensities are the source's float32 scale; other scales rely on the fixed "
    "normalisation and are out of domain",
    "the frame average used as reference is itself noisy, so PSNR is under-estimated for "
    "every method alike",
]

MODELS: list[ModelSpec] = [
    ModelSpec(
        id="care-nuclei-widefield",
        description="CARE denoiser for low-SNR widefield fluorescence images of migrating "
        "cell nuclei (16-bit camera frames), trained on low/high-SNR pairs.",
        config=TrainConfig(method="care", steps=800, seed=5),
        load=load_nuclei_pairs,
        heldout_label="held-out bottom 256 rows of the field (256×1024) vs the high-SNR frame",
        cite=[CARE_CITE],
        tags=["widefield", "fluorescence", "nuclei"],
        card={
            "domain": NUCLEI_DOMAIN,
            "noise": {"type": "poisson-gaussian"},
            "training_data": {
                "description": "Rows 0-767 of one 1024×1024 low-SNR 16-bit widefield frame of "
                "migrating cell nuclei, paired with the same rows of the high-SNR frame of the "
                "same field (mapped onto the low-SNR grey values by a least-squares line, "
                "saturated pixels left out). Rows 768-1023 were held out.",
                **NUCLEI_SOURCE,
                "acquisition": "low-SNR input, high-SNR acquisition of the same field as target",
            },
            "validation": {
                "intended_use": NUCLEI_USE,
                "limitations": [
                    *NUCLEI_LIMITS,
                    "CARE learns the target's look: structures absent from the training field "
                    "may be rendered as nuclei-like blobs",
                ],
            },
        },
    ),
    ModelSpec(
        id="n2v2-fibsem-em",
        description="N2V2 denoiser for FIB-SEM slices of brain tissue (EPFL CA1 hippocampus, "
        "8-bit).",
        config=TrainConfig(method="n2v2", steps=STEPS, seed=4),
        load=load_fibsem,
        heldout_label="held-out slice testing0002 (768×1024, central 512×512): no clean "
        "target; self-supervised (Noise2Self) comparison",
        cite=[N2V2_CITE, N2V_CITE],
        tags=["electron-microscopy", "FIB-SEM"],
        card={
            "domain": {
                "modality": "FIB-SEM",
                "dimensionality": 2,
                "channels": 1,
                "dtype": "uint8",
                "structures": ["neurites", "mitochondria", "synapses", "membranes"],
                "pixel_size": {"x": 5.0, "y": 5.0, "unit": "nm"},
                "sample": "mouse CA1 hippocampus (EPFL FIB-SEM data set, Lucchi et al.)",
            },
            "noise": {"type": "unknown"},
            "training_data": {
                "description": "One 768×1024 FIB-SEM slice (EPFL testing0001, channel 0 of "
                "the grey+alpha PNG), self-supervised. Its noise is pixel-independent "
                "(lag-1 correlation ≈ 0).",
                "license": "MIT (repository) — EPFL CA1 hippocampus data (Lucchi et al.)",
                "source": "EPFL CA1 hippocampus FIB-SEM (Lucchi et al. 2012) via zhixuhao/unet "
                "(refs/pull/242/head) @ 06680f01ad",
                "n_images": 1,
                "image_shape": [768, 1024],
            },
            "validation": {
                "intended_use": "Denoise FIB-SEM slices of resin-embedded brain tissue at "
                "about 5 nm pixels.",
                "limitations": [
                    "no clean target exists: validation is self-supervised (Noise2Self), "
                    "which ranks denoisers by their true MSE only for pixel-independent noise",
                    "trained on one slice; the held-out slice is a neighbour in the same volume",
                    "ssTEM or SEM at other doses or pixel sizes is out of domain",
                ],
            },
        },
    ),
    ModelSpec(
        id="care-actin-widefield",
        description="CARE denoiser for low-SNR widefield fluorescence images of F-actin in "
        "BPAE cells (60× objective, 8-bit), trained on low/high-SNR pairs.",
        config=TrainConfig(method="care", steps=STEPS, seed=8),
        load=load_actin_pairs,
        heldout_label="held-out bottom 512 rows of the field (central 512×1024) vs the "
        "high-SNR acquisition",
        cite=[CARE_CITE],
        tags=["widefield", "fluorescence", "actin"],
        card={
            "domain": ACTIN_DOMAIN,
            "noise": {"type": "poisson-gaussian"},
            "training_data": {
                "description": "Rows 0-1535 of one 2048×2048 low-SNR widefield image of "
                "F-actin in BPAE cells, paired with the same rows of the high-SNR acquisition "
                "of the same field (mapped onto the low-SNR grey values by a least-squares "
                "line, saturated pixels left out). Rows 1536-2047 were held out.",
                **ACTIN_SOURCE,
                "acquisition": "low-SNR input, high-SNR acquisition of the same field as target",
            },
            "validation": {
                "intended_use": ACTIN_USE,
                "limitations": [
                    "trained on one field: the held-out region is another part of the same "
                    "field, not an independent acquisition",
                    "CARE learns the target's look: structures absent from the training field "
                    "may be rendered as filaments",
                    "other magnifications change the apparent structure size: out of domain",
                ],
            },
        },
    ),
    ModelSpec(
        id="care-mito-widefield",
        description="CARE denoiser for low-SNR widefield fluorescence images of mitochondria "
        "in BPAE cells (20× objective, 8-bit), trained on low/high-SNR pairs.",
        config=TrainConfig(method="care", steps=STEPS, seed=10),
        load=load_mito_pairs,
        heldout_label="held-out bottom 512 rows of the field (central 512×1024) vs the "
        "high-SNR acquisition",
        cite=[CARE_CITE],
        tags=["widefield", "fluorescence", "mitochondria"],
        card={
            "domain": {
                "modality": "widefield",
                "dimensionality": 2,
                "channels": 1,
                "dtype": "uint8",
                "structures": ["mitochondria"],
                "sample": "fixed bovine pulmonary artery endothelial (BPAE) cells, "
                "mitochondria stain, 20× objective (GigaDB 100888)",
            },
            "noise": {"type": "poisson-gaussian"},
            "training_data": {
                "description": "Rows 0-1535 of one 2048×2048 low-SNR widefield image of "
                "mitochondria in BPAE cells at 20×, paired with the same rows of the high-SNR "
                "acquisition of the same field (mapped onto the low-SNR grey values by a "
                "least-squares line, saturated pixels left out). Rows 1536-2047 were held out.",
                **ACTIN_SOURCE,
                "source": f"{GIGADB_REPO_NOTE} (mito, 20×, low/high SNR) via {INSTANT_REPO}",
                "acquisition": "low-SNR input, high-SNR acquisition of the same field as target",
            },
            "validation": {
                "intended_use": "Denoise low-light widefield fluorescence images of "
                "mitochondria recorded like the GigaDB BPAE data (8-bit, 20×).",
                "limitations": [
                    "trained on one field: the held-out region is another part of the same "
                    "field, not an independent acquisition",
                    "CARE learns the target's look: structures absent from the training field "
                    "may be rendered as mitochondria",
                    "other magnifications change the apparent structure size: out of domain",
                ],
            },
        },
    ),
]


EXPERIMENTS: list[ModelSpec] = [
    # Tried and not published: on their held-out images these did not beat the best-sigma
    # Gaussian filter (docs/models.md gives the numbers). Build one with
    # --only ID --no-publish.
    ModelSpec(
        id="care-flim-two-photon",
        description="CARE denoiser for single-frame two-photon point-scanning intensity "
        "images (FLIM intensity channel), trained on 1-frame / frame-average pairs.",
        config=TrainConfig(method="care", steps=STEPS, seed=9),
        load=load_flim_pairs,
        heldout_label="held-out bottom half of the mouse kidney section (256×512) vs its "
        "5-frame average",
        cite=[CARE_CITE],
        tags=["two-photon", "FLIM"],
        note="CARE on the frame averages stayed below the noisy input (36.4 dB against 36.6; "
        "the Gaussian filter reaches 38.8) after its best checkpoint at step 300, as the "
        "StructN2V did: the 5-frame average target is itself noisy and carries the same "
        "scan-line-correlated noise, and two training images were too little. A first run "
        "that also took the plant image (whose 10-frame average does not register with its "
        "single frame) reached only 28.6 dB.",
        card={
            "domain": FLIM_DOMAIN,
            "noise": {"type": "structured"},
            "training_data": {
                "description": "Two single-frame two-photon FLIM intensity images (BPAE "
                "cells 512×512, rows 0-255 of a mouse kidney section 256×512), float32 as "
                "stored by the source (tiny arbitrary scale), each paired with the 5-frame "
                "average of the same field mapped onto its grey values by a least-squares "
                "line. Noise correlated along x (lag-1 ≈ 0.5). Rows 256-511 of the kidney "
                "were held out.",
                **FLIM_SOURCE,
                "n_images": 2,
                "acquisition": "800 nm two-photon excitation, 1 frame (input) vs frame average",
            },
            "validation": {
                "intended_use": "Denoise single-frame two-photon (point-scanning) intensity "
                "images of cells and tissue sections recorded like the FMLD data.",
                "limitations": [
                    *FLIM_LIMITS,
                    "CARE learns the target's look: structures absent from the three training "
                    "images may be rendered wrongly",
                ],
            },
        },
    ),
    ModelSpec(
        id="n2v-actin-widefield",
        description="Noise2Void denoiser for low-SNR widefield fluorescence images of F-actin "
        "in BPAE cells (60× objective, 8-bit).",
        config=TrainConfig(method="n2v", steps=1200, seed=7),
        load=load_actin,
        heldout_label="held-out bottom 512 rows of the field (central 512×1024) vs the "
        "high-SNR acquisition",
        cite=[N2V_CITE],
        tags=["widefield", "fluorescence", "actin"],
        note="Trained for 1200 CPU steps, the blind-spot network stayed 3.5 dB below the "
        "best-sigma Gaussian filter (27.3 dB against 30.8; its output, blurred again, still "
        "reached only 28.5 dB): a Noise2Void gradient comes from 1.5 % of the pixels, and this "
        "budget was far from enough. CARE on the same field's pairs is published instead "
        "(`care-actin-widefield`).",
        card={
            "domain": ACTIN_DOMAIN,
            "noise": {"type": "poisson-gaussian"},
            "training_data": {
                "description": "Rows 0-1535 of one 2048×2048 low-SNR widefield image of "
                "F-actin in BPAE cells (self-supervised: noisy image only). Its noise is "
                "close to pixel-independent (lag-1 correlation 0.06). Rows 1536-2047 were "
                "held out and compared with the high-SNR acquisition of the same field.",
                **ACTIN_SOURCE,
                "acquisition": "low-SNR acquisition of a low/high SNR pair",
            },
            "validation": {
                "intended_use": ACTIN_USE,
                "limitations": [
                    "trained on one field: the held-out region is another part of the same "
                    "field, not an independent acquisition",
                    "N2V assumes pixel-independent noise; correlated camera noise is kept",
                    "other magnifications change the apparent structure size: out of domain",
                ],
            },
        },
    ),
    ModelSpec(
        id="structn2v-flim-two-photon",
        description="StructN2V denoiser for two-photon point-scanning intensity images "
        "whose noise is correlated along the scan lines (FLIM intensity channel).",
        config=TrainConfig(method="structn2v", struct_axis="x", struct_span=5, steps=STEPS, seed=3),
        load=load_flim,
        heldout_label="held-out bottom half of the mouse kidney section (256×512) vs its "
        "5-frame average",
        cite=[STRUCTN2V_CITE, N2V_CITE],
        tags=["two-photon", "FLIM", "structured-noise"],
        note="It came out below the noisy input itself (34.2 dB against 36.6; the Gaussian "
        "filter reaches 38.8), both when trained on BPAE and plant alone (33.9 against 37.9 "
        "on the whole kidney image, where the kidney's contrast is 4-10× theirs) and with "
        "half of the kidney added to the training images. The 1×5 StructN2V mask and these "
        "float32 frames need a closer look before a two-photon model enters the zoo.",
        card={
            "domain": FLIM_DOMAIN,
            "noise": {"type": "structured"},
            "training_data": {
                "description": "Three single-frame two-photon FLIM intensity images (BPAE "
                "cells 512×512, plant top layer 260×260, rows 0-255 of a mouse kidney section "
                "256×512), float32 as stored by the source (tiny arbitrary scale). Noise "
                "correlated along x (lag-1 ≈ 0.5), hence StructN2V with a horizontal 1×5 "
                "mask. Rows 256-511 of the kidney were held out.",
                **FLIM_SOURCE,
                "acquisition": "800 nm two-photon excitation, 1 frame",
            },
            "validation": {
                "intended_use": "Denoise single-frame two-photon (point-scanning) intensity "
                "images with scan-line-correlated noise.",
                "limitations": FLIM_LIMITS,
            },
        },
    ),
    ModelSpec(
        id="n2v-hipsc-spinning-disk",
        description="Noise2Void denoiser for spinning-disk confocal slices of human iPS cells "
        "(Allen Institute, BBBC034), 16-bit.",
        config=TrainConfig(method="n2v", steps=STEPS, seed=6),
        load=load_hipsc,
        heldout_label="held-out bottom 256 rows of the slice (256×1024): no clean target; "
        "self-supervised (Noise2Self) comparison",
        cite=[N2V_CITE],
        tags=["spinning-disk", "confocal", "fluorescence"],
        note="On the held-out rows the network's self-supervised MSE at its blind spots "
        "(1484) stayed above the J-invariant Gaussian filter's (1389, best sigma): trained "
        "for 800 CPU steps on one slice, it learnt less than a blur of this smooth, "
        "shot-noise-limited image, so it is not in the zoo.",
        card={
            "domain": {
                "modality": "spinning-disk",
                "dimensionality": 2,
                "channels": 1,
                "dtype": "uint16",
                "structures": ["cell membranes", "hiPSC colony"],
                "sample": "human induced pluripotent stem cells (Allen Cell Collection, BBBC034)",
            },
            "noise": {"type": "poisson-gaussian"},
            "training_data": {
                "description": "Rows 0-767 of one 1024×1024 z-slice (channel 0) of a 3D "
                "spinning-disk stack of hiPSCs, self-supervised. Its noise is "
                "pixel-independent (lag-1 correlation ≈ 0) and shot-noise dominated.",
                "license": "BBBC034 (Broad Bioimage Benchmark Collection; licence as stated by "
                "BBBC, believed CC0) via a BSD-3-Clause repository",
                "source": "BBBC034 v1 (Allen Institute for Cell Science) via "
                "clEsperanto/pyclesperanto_prototype @ 85cf858196",
                "n_images": 1,
                "image_shape": [768, 1024],
            },
            "validation": {
                "intended_use": "Denoise single spinning-disk confocal slices of cultured "
                "cells recorded like the Allen hiPSC data (16-bit).",
                "limitations": [
                    "no clean target exists: validation is self-supervised (Noise2Self)",
                    "trained on one slice; the held-out region is another part of it",
                    "a 2D model: it denoises each slice of a stack on its own",
                ],
            },
        },
    ),
    ModelSpec(
        id="n2v-nuclei-widefield",
        description="Noise2Void denoiser for low-SNR widefield fluorescence images of "
        "migrating cell nuclei (16-bit camera frames).",
        config=TrainConfig(method="n2v", steps=STEPS, seed=2),
        load=load_nuclei,
        heldout_label="held-out bottom 256 rows of the field (256×1024) vs the high-SNR frame",
        cite=[N2V_CITE],
        tags=["widefield", "fluorescence", "nuclei"],
        note="On this extremely noisy field (SNR about -16 dB) the high-SNR reference is "
        "smooth (best Gaussian sigma about 5 px) and a blind-spot network trained for a CPU "
        "budget on one field only matched the Gaussian; CARE on the same pairs is published "
        "instead (`care-nuclei-widefield`).",
        card={
            "domain": NUCLEI_DOMAIN,
            "noise": {"type": "poisson-gaussian"},
            "training_data": {
                "description": "Rows 0-767 of one 1024×1024 low-SNR 16-bit widefield frame of "
                "migrating cell nuclei (self-supervised: noisy image only). Rows 768-1023 were "
                "held out and compared with the high-SNR frame of the same field.",
                **NUCLEI_SOURCE,
                "acquisition": "low-SNR acquisition of a high/low SNR pair",
            },
            "validation": {
                "intended_use": NUCLEI_USE,
                "limitations": [
                    *NUCLEI_LIMITS,
                    "N2V assumes pixel-independent noise; correlated camera noise is kept",
                ],
            },
        },
    ),
    ModelSpec(
        id="care-w2s-widefield",
        description="CARE denoiser for single-frame widefield fluorescence (W2S), trained on "
        "1-frame / 400-frame-average pairs.",
        config=TrainConfig(method="care", steps=STEPS, seed=1),
        load=load_w2s,
        heldout_label="held-out W2S fields 042_1, 044_0 (2 images, 512×512)",
        cite=[CARE_CITE],
        tags=["widefield", "fluorescence"],
        note="W2S's widefield images are smooth at this sampling (best Gaussian sigma 1.5-3 "
        "px) and four training fields with a CPU budget were not enough for the network to "
        "learn more than a blur.",
        card={
            "domain": {
                "modality": "widefield",
                "dimensionality": 2,
                "channels": 1,
                "dtype": "uint8",
                "structures": ["fluorescently labelled cell structures (W2S fields)"],
                "sample": "fixed cells of the W2S data set (Zhou et al. 2020), one channel",
            },
            "noise": {"type": "poisson-gaussian"},
            "training_data": {
                "description": "4 W2S fields (010_0, 020_1, 031_2, 035_1): single widefield "
                "frames paired with the 400-frame average of the same field, 512×512, 8-bit. "
                "Each source image was rescaled separately; the averages were mapped onto the "
                "noisy frames' grey values by a least-squares line before training.",
                "license": "GPL-3.0 (repository) — W2S data (Zhou et al. 2020)",
                "source": f"W2S (Zhou et al., ECCV Workshops 2020) via {INSTANT_REPO}",
                "n_images": 4,
                "image_shape": [512, 512],
                "acquisition": "1 frame (input) vs average of 400 frames (target)",
            },
            "validation": {
                "intended_use": "Denoise single widefield fluorescence frames of cells with "
                "photon noise like W2S's (8-bit, rescaled).",
                "limitations": [
                    "trained on 4 fields of one data set; other microscopes, stains or "
                    "exposures are out of domain",
                    "CARE learns the target's look: structures absent from W2S may be "
                    "rendered wrongly",
                    f"small CPU budget ({STEPS} steps of 16 patches of 64×64)",
                ],
            },
        },
    ),
]
