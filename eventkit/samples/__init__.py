"""Sample data: the generated bank domain (:mod:`.bank`), the NYC flights data set (:mod:`.flights`) and the
stores built from them on disk (:mod:`.stores`).

May use :mod:`eventkit.common` and :mod:`eventkit.store`. The report may build a sample store its config asks for;
the demo (:mod:`eventkit.demo`, beside the command line at the top) drives the report, never the other way round.
Nothing in the store, fold or analysis layers imports this package.
"""
