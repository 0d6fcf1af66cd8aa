"""RealisDance-DiT as a native ComfyUI model: the host's Wan DiT subclassed, registered with its model detection,
loaded by its own state-dict loader and sampled by its samplers.

``wan_model.py`` and ``model_base.py`` subclass host classes, so they import ``comfy`` at module level; every call
into the host (loading, sampling) goes through ``nodes/host.py``, the adapter. Node modules import this package
lazily, inside ``execute``, so the test double never needs it.
"""
