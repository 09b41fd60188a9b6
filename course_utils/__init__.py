"""course_utils: the helper package of *Embeddings, hands-on*.

One module per concern: ``models`` (model registry), ``datasets`` (dataset registry),
``similarity``, ``metrics``, ``exercises``. Importing the package has no side effects and
does not import PyTorch; the heavy modules load what they need when they are called.
"""
from .exercises import check
from .reproducibility import set_seed

__version__ = "0.1.0"
__all__ = ["check", "set_seed", "__version__"]
