"""Reads for the clusters pages, by page family.

`team`: the team, workload and pod pages (and how fresh their data is); `flux`: the Flux tree.
"""
