"""The fold layer: reducers, declarative and Python folds, series over a time grid, totals and persisted
fold states.

May use :mod:`eventkit.common` and :mod:`eventkit.store`.
"""
