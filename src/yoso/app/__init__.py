"""The application layer: what the entry points run, above the library (space, hw, nn, data, predictor, search).

``cli`` (config validation, typed config schemas, the task wrapper), ``pipeline`` (the single-stage search
behind ``search.py``), ``two_stage`` (the two-stage baseline behind ``two_stage.py``), ``table2`` (the paper's
Table 2 networks on the simulator), ``report`` (``python -m yoso.app.report``: the Table 2 analogue) and
``compare`` (``python -m yoso.app.compare``: the paper's Fig. 3 regressor comparison). Nothing below imports it.
"""
