"""Sample data beside the top of the house: the generated bank domain, the NYC flights data set and the demo.

May use every layer; nothing in the layers imports it (the demo drives the report, not the other way round).
"""
