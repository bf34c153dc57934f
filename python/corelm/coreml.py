"""coremltools' MLModel surface over corelm.Model, for scripts written against Core ML (as the
seed's generate.py): change ``from coremltools.models import MLModel`` to
``from corelm.coreml import MLModel`` and the rest runs as it was::

    model = MLModel("model.clm")
    name = model.get_spec().description.metadata.userDefined["co.huggingface.exporters.name"]
    state = model.make_state()
    logits = model.predict(data={"inputIds": ids, "causalMask": mask}, state=state)["logits"]
"""

from types import SimpleNamespace
from typing import Any, Dict, Optional

from ._corelm import Model, State


class MLModel:
    """A corelm.Model under coremltools' names. `.model` is the corelm.Model itself (with its
    tokenizer)."""

    def __init__(self, model: Any, **kwargs: Any) -> None:
        # coremltools' compute_units and similar options have no meaning here.
        self.model: Model = model if isinstance(model, Model) else Model.load(str(model))

    @property
    def user_defined_metadata(self) -> Dict[str, str]:
        return self.model.user_defined_metadata

    @property
    def short_description(self) -> str:
        return f"{self.model.config['architectures'][0]} ({self.model.info['quantization']})"

    def get_spec(self) -> SimpleNamespace:
        """The parts of a Core ML spec that scripts read: description.metadata.userDefined."""
        metadata = SimpleNamespace(userDefined=dict(self.user_defined_metadata),
                                   shortDescription=self.short_description)
        return SimpleNamespace(description=SimpleNamespace(metadata=metadata))

    def make_state(self, **kwargs: Any) -> State:
        return self.model.make_state(**kwargs)

    def predict(self, data: Dict[str, Any], state: Optional[State] = None) -> Dict[str, Any]:
        return self.model.predict(data, state=state)

    def __repr__(self) -> str:
        return f"MLModel({self.model!r})"
