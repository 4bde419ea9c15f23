"""Built-in benchmarks, one folder each: task YAML(s), the benchmark's own code and its README.

A folder's code is imported only when one of its tasks is loaded (see ``mmlens.core.task``).
"""
