"""The analysis layer: what-if scenarios, trends over folded frames, and charts.

May use :mod:`eventkit.common`, :mod:`eventkit.store` and :mod:`eventkit.fold`.
"""
