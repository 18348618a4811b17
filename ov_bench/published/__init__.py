"""Published numbers of released checkpoints, as data: one YAML file per model family in this folder.

``catalog`` reads them (checkpoint keys and their spellings, rows keyed by ov-bench task and results.json
metric) and recognises a run's checkpoint from results.json's model block.
"""
