"""The references of the exercises, one module per notebook (``n07`` holds ``"07.1"``, ...).

They live here, not in the notebooks, so that a learner's cell never shows the expression that
its answer is compared with. :func:`course_utils.exercises.check` imports a module on first use.
"""
