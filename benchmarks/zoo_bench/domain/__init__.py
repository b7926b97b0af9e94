"""The domain-check benchmark: how often is a ``zoo check`` warning right?

Every zoo-trained model runs on real images with a clean target (held-out fields of the zoo's
own domains, as acquired and changed as a user's data may differ, and other modalities); each
pair's outcome (PSNR against the in-domain model and the best classic filter) is set against
the verdict and score the check gives before inference. The parts, in the order they run:
:mod:`.cases` (the images and their split), :mod:`.outcomes` (the models' outcomes),
:mod:`.numbers` (the numbers, the calibration, the ablation), :mod:`.report` (the document
and its plots); :mod:`.benchmark` runs them. docs/domain-benchmark.md describes the method
and holds the numbers; ``python scripts/bench_domain.py`` runs it.
"""
