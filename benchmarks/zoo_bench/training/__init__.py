"""The training recipes of the zoo's own models: their data (:mod:`.data`), their recipes and
cards (:mod:`.specs`, one YAML file per model in ``models/``), and what
``scripts/train_models.py`` runs of them."""
