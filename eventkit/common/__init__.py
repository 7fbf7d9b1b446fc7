"""The ground floor: errors, time parsing, SQL quoting and progress bars, used by every layer above.

Imports nothing else from eventkit.
"""
