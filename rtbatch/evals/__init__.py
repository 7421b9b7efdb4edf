"""Evaluations of a run's results: checks of each job's answer (``expect``), word
error rate against a reference, comparison of two result files.

Nothing here talks to the network or changes how a job is run or retried: each
module reads jobs and result lines and returns figures.
"""
