"""corelm: run Llama and Mistral models on the CPU from one compact package file.

The seed's stateful API (as coremltools' MLModel)::

    import numpy as np, corelm
    model = corelm.Model.load("model.clm")
    state = model.make_state()
    ids = np.array([model.tokenizer.encode("Once upon a time")], dtype=np.int32)
    mask = np.triu(np.full((1, 1, ids.shape[1], ids.shape[1]), -np.inf), k=1).astype(np.float16)
    logits = model.predict({"inputIds": ids, "causalMask": mask}, state=state)["logits"]

and the high-level one::

    print(corelm.generate(model, "Once upon a time", max_new_tokens=64))
    for piece in corelm.generate(model, "Hello", stream=True, chat=True):
        print(piece, end="", flush=True)

See docs/python.md.
"""

from ._corelm import (  # noqa: F401  (re-exported)
    Error,
    Generation,
    Model,
    State,
    Tokenizer,
    convert,
    quant_names,
)
from ._generate import generate
from ._tokenizer import BatchEncoding, install_tokenizer_methods
from .coreml import MLModel

install_tokenizer_methods(Tokenizer)
Model.generate = lambda self, prompt, **kwargs: generate(self, prompt, **kwargs)
Model.generate.__doc__ = "model.generate(prompt, **kwargs) is corelm.generate(model, prompt, **kwargs)."

__version__ = "0.1.0"

__all__ = [
    "BatchEncoding",
    "Error",
    "Generation",
    "MLModel",
    "Model",
    "State",
    "Tokenizer",
    "convert",
    "generate",
    "quant_names",
]
