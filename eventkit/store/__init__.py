"""The store layer: the event envelope and input, the catalog, segment files, reads, writes, maintenance,
consumers and upcasting.

May use :mod:`eventkit.common` only. Nothing here knows about folds, analysis, reports or the command line.
"""
