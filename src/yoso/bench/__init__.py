"""yoso's tabular benchmark: stand-alone accuracies of architectures of a space, shipped as package data.

A table holds, for each architecture drawn from a space (cells x width x depth) and each training seed, the
validation and test accuracy of the network trained stand-alone at one budget, with the split sizes and the
hash of the config it belongs to (data, ``model.standalone``, trainer limits, space). ``python bench.py``
builds one, resumable and in slices under Hydra's launchers (docs/bench.md); :func:`lookup` reads it::

    from yoso.bench import lookup
    record = lookup(genotype)            # the default table (tables/fashion_mnist_short.json.gz)
    record.val_accuracy, record.val_n    # mean over the seeds trained, and the images it was measured on

Torch-free: the tables are JSON (gzip), the query needs only the genotype.
"""

from yoso.bench.table import (
    DEFAULT_TABLE,
    BenchRecord,
    BenchTable,
    TableRow,
    architecture_id,
    load_table,
    lookup,
    table_names,
)

__all__ = [
    "DEFAULT_TABLE",
    "BenchRecord",
    "BenchTable",
    "TableRow",
    "architecture_id",
    "load_table",
    "lookup",
    "table_names",
]
