"""Scaling out: a job file shared between processes, and their result files merged.

- :mod:`~rtbatch.shards.partition`: which shard owns a job, from ``--shard K/N``
  or the scheduler's variables (Kubernetes, Slurm); shard result file names;
- :mod:`~rtbatch.shards.apply`: a shard applied to one run's options and jobs;
- :mod:`~rtbatch.shards.merge`: ``rtbatch merge``, the shards' files back in job-file order.

See docs/scale-out.md.
"""
