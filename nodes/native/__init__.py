"""RealisDance-DiT as a native ComfyUI model: the host's Wan DiT subclassed, registered with its model detection,
loaded by its own state-dict loader and sampled by its samplers.

``wan_model.py`` and ``model_base.py`` subclass host classes, which they get (like every call into the host:
loading, sampling) from ``nodes/host.py``, the one module that imports ComfyUI. Node modules import this package
lazily, inside ``execute``, so the test double never needs it.
"""
