"""The validated config: schemas and the rules every value must pass.

``validate`` holds the shared rules (``positive``, ``in_range``, ...) and turns a composed
Hydra node into a typed schema object (``validate_group``, ``validate_node``), naming the
key of anything wrong; ``optim`` holds the ``optim`` and ``schedule`` groups' schemas, packed
into the arrays the kernels take.  May import: ``runner.errors``, ``kernels`` (constants
only), OmegaConf.  Nothing here runs a task.
"""
